//! `/metrics`: requests counted by service, route template, method and status, timed into a
//! histogram, requests in flight, open sockets, and the lines other parts add.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;

fn rest() -> basalt_gateway::Mount {
    basalt_gateway::Mount {
        prefix: "/rest/v1",
        router: Router::new()
            .route("/{table}", get(|| async { "[]" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            ),
        needs_apikey: false,
        hide_query_key: false,
        open_paths: &[],
        own_cors: false,
    }
}

async fn body(app: &Router, path: &str) -> (StatusCode, String) {
    let r = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(b.to_vec()).unwrap())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_timed() {
    let keys = basalt_gateway::ApiKeys::new(Arc::new(basalt_identity::Keys::from_secret(
        "super-secret-jwt-token-with-at-least-32-characters",
    )));
    let app = basalt_gateway::compose(keys, vec![rest()], Arc::new(Vec::new));
    basalt_gateway::metrics::add_collector(|out| {
        basalt_gateway::metrics::write_gauge(
            out,
            "basalt_test_queue_depth",
            "A test collector.",
            &[(vec![("queue", "q\"1".to_string())], 3.0)],
        )
    });
    for t in ["items", "orders", "items"] {
        assert_eq!(body(&app, &format!("/rest/v1/{t}")).await.0, StatusCode::OK);
    }
    // A slow request is in flight while /metrics is read.
    let slow = tokio::spawn({
        let app = app.clone();
        async move { body(&app, "/rest/v1/slow").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, text) = body(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        r#"basalt_http_requests_total{service="rest",route="/rest/v1/{table}",method="GET",status="200"} 3"#,
        r#"basalt_http_request_duration_seconds_count{service="rest",route="/rest/v1/{table}"} 3"#,
        r#"basalt_http_requests_in_flight{service="rest"} 1"#,
        "# TYPE basalt_http_connections_open gauge",
        r#"basalt_test_queue_depth{queue="q\"1"} 3"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
    }
    assert!(
        text.lines().any(
            |l| l.starts_with("basalt_http_request_duration_seconds_bucket{")
                && l.contains("le=\"+Inf\"")
                && l.contains("route=\"/rest/v1/{table}\"")
                && l.ends_with(" 3")
        ),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(slow.await.unwrap().1, "done");
    let (_, text) = body(&app, "/metrics").await;
    assert!(
        text.contains(r#"basalt_http_requests_in_flight{service="rest"} 0"#),
        "{text}"
    );
    assert!(text.contains(
        r#"basalt_http_requests_total{service="rest",route="/rest/v1/slow",method="GET",status="200"} 1"#
    ));
}
