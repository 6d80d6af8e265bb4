//! Signed URL tokens are scoped as storage-api scopes them: a signed download (or render) URL's
//! token cannot upload, and a signed upload URL's token cannot download, even at the same
//! path; each is refused with `InvalidSignature` "Token is not scoped for …".
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

fn token_of(url: &str) -> String {
    url.split("token=").nth(1).unwrap().to_string()
}

#[tokio::test]
async fn download_and_upload_tokens_only_do_what_they_were_issued_for() {
    let env = Env::start().await;
    let svc = service();
    let path = format!("{ALICE}/doc.txt");
    let r = env
        .http
        .post(env.url(&format!("/object/user-files/{path}")))
        .header("authorization", user(ALICE))
        .header("content-type", "text/plain")
        .body("alice's words")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A download token for the object.
    let signed: Value = env
        .post_json(
            user(ALICE),
            format!("/object/sign/user-files/{path}"),
            &json!({"expiresIn": 600}),
        )
        .await
        .json()
        .await
        .unwrap();
    let download = token_of(signed["signedURL"].as_str().unwrap());
    let r = env
        .http
        .get(env.url(&format!("/object/sign/user-files/{path}?token={download}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "alice's words");
    // It does not upload: not over the object, nor at its name once the object is gone.
    let put = |token: String| {
        env.http
            .put(env.url(&format!(
                "/object/upload/sign/user-files/{path}?token={token}"
            )))
            .header("content-type", "text/plain")
            .header("x-upsert", "true")
            .body("forged")
            .send()
    };
    let body = expect_error(put(download.clone()).await.unwrap(), "400").await;
    assert_eq!(body["code"], "InvalidSignature");
    assert_eq!(body["message"], "Token is not scoped for upload");
    let r = env
        .http
        .delete(env.url(&format!("/object/user-files/{path}")))
        .header("authorization", user(ALICE))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = expect_error(put(download).await.unwrap(), "400").await;
    assert_eq!(body["message"], "Token is not scoped for upload");
    assert_eq!(env.count_objects().await, 0);

    // An upload token uploads, and does not download what it wrote.
    let signed: Value = env
        .post_json(
            &svc,
            format!("/object/upload/sign/user-files/{path}"),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let upload = signed["token"].as_str().unwrap().to_string();
    let r = env
        .http
        .put(env.url(&format!(
            "/object/upload/sign/user-files/{path}?token={upload}"
        )))
        .header("content-type", "text/plain")
        .body("uploaded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = env
        .http
        .get(env.url(&format!("/object/sign/user-files/{path}?token={upload}")))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, "400").await;
    assert_eq!(body["code"], "InvalidSignature");
    assert_eq!(body["message"], "Token is not scoped for download");
    // A token for another name is an invalid signature.
    let r = env
        .http
        .put(env.url(&format!(
            "/object/upload/sign/user-files/{ALICE}/other.txt?token={upload}"
        )))
        .header("content-type", "text/plain")
        .body("elsewhere")
        .send()
        .await
        .unwrap();
    let body = expect_error(r, "400").await;
    assert_eq!(body["code"], "InvalidSignature");
    assert_eq!(body["message"], "Invalid signature");
    assert_eq!(env.count_objects().await, 1);
}
