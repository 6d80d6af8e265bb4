//! Resumable uploads through a signed upload URL, as Supabase serves them at
//! `/upload/resumable/sign`: the token of `createSignedUploadUrl` in `x-signature` authorises
//! every request (no `Authorization`), its owner and upsert apply, and refusals come in the
//! TUS server's plain-text form.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

/// A TUS request to `path` with `x-signature` (when given) and extra headers.
async fn tus(
    env: &Env,
    method: reqwest::Method,
    path: &str,
    signature: Option<&str>,
    headers: &[(&str, String)],
    body: &'static [u8],
) -> reqwest::Response {
    let mut req = env
        .http
        .request(method, env.url(path))
        .header("tus-resumable", "1.0.0");
    if let Some(s) = signature {
        req = req.header("x-signature", s);
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.body(body).send().await.unwrap()
}

fn creation(object: &str, len: usize) -> Vec<(&'static str, String)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        ("upload-length", len.to_string()),
        (
            "upload-metadata",
            format!(
                "bucketName {},objectName {},contentType {}",
                b64("user-files"),
                b64(object),
                b64("text/plain")
            ),
        ),
    ]
}

fn chunk(offset: usize) -> Vec<(&'static str, String)> {
    vec![
        ("upload-offset", offset.to_string()),
        ("content-type", "application/offset+octet-stream".into()),
    ]
}

async fn signed_upload_token(env: &Env, object: &str) -> String {
    let r = env
        .post_json(
            user(ALICE),
            format!("/object/upload/sign/user-files/{object}"),
            &json!({}),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    v["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}

#[tokio::test]
async fn a_signed_upload_url_drives_a_resumable_upload() {
    let env = Env::start().await;
    let object = format!("{ALICE}/signed.txt");
    let token = signed_upload_token(&env, &object).await;
    use reqwest::Method as M;

    let r = tus(
        &env,
        M::POST,
        "/upload/resumable/sign",
        Some(&token),
        &creation(&object, 10),
        b"",
    )
    .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/upload/resumable/sign/"),
        "{location}"
    );
    let r = tus(&env, M::PATCH, &location, Some(&token), &chunk(0), b"hello").await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "5");
    let r = tus(&env, M::HEAD, &location, Some(&token), &[], b"").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["upload-offset"], "5");
    // Every request needs the signature.
    let r = tus(&env, M::PATCH, &location, None, &chunk(5), b"world").await;
    expect_tus_error(r, 400, "Missing x-signature header").await;
    // The caller routes do not continue a signed upload, even for its owner.
    let caller_path = location.replace("/sign/", "/");
    let r = env
        .http
        .patch(env.url(&caller_path))
        .header("authorization", user(ALICE))
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "5")
        .header("content-type", "application/offset+octet-stream")
        .body("world")
        .send()
        .await
        .unwrap();
    expect_tus_error(r, 404, "The file for this url was not found\n").await;
    let r = tus(&env, M::PATCH, &location, Some(&token), &chunk(5), b"world").await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        env.sql(&format!(
            "SELECT owner_id FROM storage.objects WHERE name = '{object}'"
        ))
        .await,
        vec![ALICE.to_string()]
    );
    let r = env
        .http
        .get(env.url(&format!("/object/user-files/{object}")))
        .header("authorization", user(ALICE))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "helloworld");

    // Without upsert in the token, the object now existing refuses another upload.
    let r = tus(
        &env,
        M::POST,
        "/upload/resumable/sign",
        Some(&token),
        &creation(&object, 3),
        b"",
    )
    .await;
    expect_tus_error(r, 409, "The resource already exists").await;
}

#[tokio::test]
async fn signed_resumable_uploads_refuse_missing_and_foreign_tokens() {
    let env = Env::start().await;
    let object = format!("{ALICE}/refused.txt");
    use reqwest::Method as M;
    let r = tus(
        &env,
        M::POST,
        "/upload/resumable/sign",
        None,
        &creation(&object, 3),
        b"",
    )
    .await;
    expect_tus_error(r, 400, "Missing x-signature header").await;
    // A token for another object, or a download token, does not authorise it.
    let other = signed_upload_token(&env, &format!("{ALICE}/other.txt")).await;
    let r = tus(
        &env,
        M::POST,
        "/upload/resumable/sign",
        Some(&other),
        &creation(&object, 3),
        b"",
    )
    .await;
    expect_tus_error(r, 400, "Invalid signature").await;
    put_text(&env, "user-files", &format!("{ALICE}/readable.txt"), b"r").await;
    let signed: Value = env
        .post_json(
            user(ALICE),
            format!("/object/sign/user-files/{ALICE}/readable.txt"),
            &json!({"expiresIn": 60}),
        )
        .await
        .json()
        .await
        .unwrap();
    let download = signed["signedURL"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    let readable = format!("{ALICE}/readable.txt");
    let r = tus(
        &env,
        M::POST,
        "/upload/resumable/sign",
        Some(&download),
        &creation(&readable, 3),
        b"",
    )
    .await;
    expect_tus_error(r, 400, "Token is not scoped for upload").await;
    // A caller's upload is not continued through the signed routes.
    let r = env
        .http
        .post(env.url("/upload/resumable"))
        .header("authorization", user(ALICE))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "3")
        .header("upload-metadata", creation(&object, 3)[1].1.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let token = signed_upload_token(&env, &object).await;
    let signed_path = location.replace("/resumable/", "/resumable/sign/");
    let r = tus(
        &env,
        M::PATCH,
        &signed_path,
        Some(&token),
        &chunk(0),
        b"abc",
    )
    .await;
    expect_tus_error(r, 404, "The file for this url was not found\n").await;
    assert_eq!(env.count_objects().await, 1);
}
