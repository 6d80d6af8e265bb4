//! Corner cases where basalt answers exactly as storage-api does: request validation of the list
//! body and the TUS `OPTIONS` answer. (A move ignoring the destination bucket's limits:
//! `move_copy_limits.rs`.)
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

#[tokio::test]
async fn tus_options_answers_204_with_limits_and_cors_headers() {
    let env = Env::start_with(|c| c.file_size_limit = 5 * 1024 * 1024).await;
    for path in [
        "/upload/resumable",
        "/upload/resumable/",
        "/upload/resumable/sign",
        "/upload/resumable/some-upload-id",
    ] {
        // No token and no Tus-Resumable: OPTIONS is answered for anyone.
        let r = env
            .http
            .request(reqwest::Method::OPTIONS, env.url(path))
            .header("origin", "https://app.example")
            .send()
            .await
            .expect("options");
        assert_eq!(r.status(), 204, "{path}");
        let h = r.headers();
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(get("tus-resumable"), "1.0.0", "{path}");
        assert_eq!(get("tus-version"), "1.0.0", "{path}");
        assert_eq!(
            get("tus-extension"),
            "creation,creation-with-upload,termination",
            "{path}"
        );
        assert_eq!(get("tus-max-size"), "5242880", "{path}");
        assert_eq!(
            get("access-control-allow-methods"),
            "POST, HEAD, PATCH, OPTIONS, DELETE",
            "{path}"
        );
        let allowed = get("access-control-allow-headers");
        for name in [
            "Authorization",
            "Tus-Resumable",
            "Upload-Length",
            "Upload-Metadata",
            "Upload-Offset",
            "X-Upsert",
            "ApiKey",
            "x-signature",
        ] {
            assert!(
                allowed.split(", ").any(|a| a == name),
                "{path}: {name} in {allowed}"
            );
        }
        assert_eq!(get("access-control-max-age"), "86400", "{path}");
        assert_eq!(get("access-control-allow-origin"), "*", "{path}");
        assert!(
            get("access-control-expose-headers").contains("Upload-Offset"),
            "{path}"
        );
        assert_eq!(r.bytes().await.expect("body").len(), 0, "{path}");
    }
}
