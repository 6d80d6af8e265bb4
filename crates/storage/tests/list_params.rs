//! Negative and garbage paging and sorting parameters of the list endpoints are refused with a
//! 400 in storage-api's error format, never a 500.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

async fn bad_request(r: reqwest::Response, what: &str) -> Value {
    assert_eq!(r.status(), 400, "{what}");
    let body = expect_error(r, "400").await;
    assert_eq!(body["code"], "InvalidRequest", "{what}: {body}");
    body
}

#[tokio::test]
async fn list_buckets_refuses_bad_paging_and_sorting() {
    let env = Env::start().await;
    let svc = service();
    for q in [
        "limit=-1",
        "limit=0",
        "limit=abc",
        "limit=99999999999999999999",
        "offset=-1",
        "offset=1.5",
        "sortColumn=owner",
        "sortOrder=sideways",
    ] {
        let r = env
            .http
            .get(env.url(&format!("/bucket?{q}")))
            .header("authorization", &svc)
            .send()
            .await
            .expect("list buckets");
        let body = bad_request(r, q).await;
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("querystring/"),
            "{q}: {body}"
        );
    }
    let r = env
        .http
        .get(env.url("/bucket?limit=1&offset=0&sortColumn=name&sortOrder=desc"))
        .header("authorization", &svc)
        .send()
        .await
        .expect("list buckets");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>()
            .await
            .expect("json")
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn list_objects_refuses_bad_paging_and_sorting() {
    let env = Env::start().await;
    let svc = service();
    for body in [
        json!({"prefix": "", "limit": -1}),
        json!({"prefix": "", "limit": 0}),
        json!({"prefix": "", "limit": "abc"}),
        json!({"prefix": "", "offset": -1}),
        json!({"prefix": "", "offset": 1.5}),
        json!({"prefix": "", "sortBy": "name"}),
        json!({"prefix": "", "sortBy": {"column": "owner"}}),
        json!({"prefix": "", "sortBy": {"column": "name", "order": "sideways"}}),
    ] {
        let r = env.post_json(&svc, "/object/list/user-files", &body).await;
        bad_request(r, &body.to_string()).await;
    }
    for body in [
        json!({"prefix": "", "limit": -1}),
        json!({"prefix": "", "limit": 0}),
        json!({"prefix": "", "limit": "many"}),
        json!({"prefix": "", "cursor": 3}),
    ] {
        let r = env
            .post_json(&svc, "/object/list-v2/user-files", &body)
            .await;
        bad_request(r, &body.to_string()).await;
    }
    let r = env
        .post_json(
            &svc,
            "/object/list/user-files",
            &json!({"prefix": "", "limit": 5, "offset": 0}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = env
        .post_json(
            &svc,
            "/object/list-v2/user-files",
            &json!({"prefix": "", "limit": 5}),
        )
        .await;
    assert_eq!(r.status(), 200);
}
