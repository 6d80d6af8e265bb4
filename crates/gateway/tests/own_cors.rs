//! A mount that answers CORS itself (edge functions) sees its preflights; every other mount's
//! preflight is answered by the gateway.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::routing::any;
use axum::Router;
use tower::ServiceExt;

fn mount(prefix: &'static str, own_cors: bool) -> basalt_gateway::Mount {
    basalt_gateway::Mount {
        prefix,
        router: Router::new().fallback(any(|| async { ([("x-answered-by", "service")], "svc") })),
        needs_apikey: false,
        hide_query_key: false,
        open_paths: &[],
        own_cors,
    }
}

fn preflight(path: &str) -> Request<Body> {
    Request::builder()
        .method("OPTIONS")
        .uri(path)
        .header("origin", "http://app.test")
        .header("access-control-request-method", "POST")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_mount_with_its_own_cors_answers_its_preflights() {
    let keys = basalt_gateway::ApiKeys::new(Arc::new(basalt_identity::Keys::from_secret(
        "super-secret-jwt-token-with-at-least-32-characters",
    )));
    let app = basalt_gateway::compose(
        keys,
        vec![mount("/functions/v1", true), mount("/rest/v1", false)],
        Arc::new(Vec::new),
    );
    let own = app
        .clone()
        .oneshot(preflight("/functions/v1/hello"))
        .await
        .unwrap();
    assert_eq!(own.headers()["x-answered-by"], "service");
    assert!(own.headers().get("access-control-allow-origin").is_none());
    let gw = app
        .clone()
        .oneshot(preflight("/rest/v1/items"))
        .await
        .unwrap();
    assert!(gw.headers().get("x-answered-by").is_none());
    assert_eq!(
        gw.headers()["access-control-allow-origin"],
        "http://app.test"
    );
    let missing = app.oneshot(preflight("/nowhere")).await.unwrap();
    assert_eq!(
        missing.headers()["access-control-allow-origin"],
        "http://app.test"
    );
}
