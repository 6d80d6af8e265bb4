//! A service's root answers with and without the trailing slash (`/rest/v1/` is the REST API's
//! OpenAPI document, as behind Supabase's gateway), the query string kept.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;

#[tokio::test]
async fn the_root_of_a_mount_answers_with_a_trailing_slash_too() {
    let keys = basalt_gateway::ApiKeys::new(Arc::new(basalt_identity::Keys::from_secret(
        "super-secret-jwt-token-with-at-least-32-characters",
    )));
    let rest =
        Router::new()
            .route(
                "/",
                get(|req: Request<Body>| async move {
                    format!("root {}", req.uri().query().unwrap_or(""))
                }),
            )
            .route("/items", get(|| async { "items" }));
    let app = basalt_gateway::compose(
        keys,
        vec![basalt_gateway::Mount {
            prefix: "/rest/v1",
            router: rest,
            needs_apikey: false,
            hide_query_key: false,
            open_paths: &[],
            own_cors: false,
        }],
        Arc::new(Vec::new),
    );
    for (path, want) in [
        ("/rest/v1", "root "),
        ("/rest/v1/", "root "),
        ("/rest/v1/?a=1", "root a=1"),
        ("/rest/v1/items", "items"),
    ] {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        assert_eq!(body, want.as_bytes(), "{path}");
    }
    let other = app
        .clone()
        .oneshot(Request::get("/nothing/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}
