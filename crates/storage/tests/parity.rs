//! Corner cases where basalt answers exactly as storage-api does: request validation of the list
//! body, the TUS `OPTIONS` answer, and the destination bucket's limits on a move.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn list_without_prefix_is_refused_as_request_validation() {
    let env = Env::start().await;
    put_text(&env, "user-files", "a.txt", b"x").await;
    for (auth, body) in [
        (service(), json!({})),
        (service(), json!({"limit": 10, "offset": 0})),
        // Validation precedes authentication: even a caller without a token gets it.
        (String::new(), json!({"search": "a"})),
    ] {
        let mut req = env
            .http
            .post(env.url("/object/list/user-files"))
            .json(&body);
        if !auth.is_empty() {
            req = req.header("authorization", &auth);
        }
        let r = req.send().await.expect("list");
        assert_eq!(r.status(), 400, "{body}");
        let got: Value = r.json().await.expect("json");
        assert_eq!(
            got,
            json!({
                "statusCode": "400",
                "code": "InvalidRequest",
                "error": "Error",
                "message": "body must have required property 'prefix'",
            }),
            "{body}"
        );
    }
    // With a prefix (as supabase-js and supabase-py always send it) the listing works.
    let r = env
        .post_json(
            &service(),
            "/object/list/user-files",
            &json!({"prefix": ""}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let names: Vec<Value> = r.json::<Vec<Value>>().await.expect("json");
    assert!(names.iter().any(|o| o["name"] == "a.txt"), "{names:?}");
}
