//! Resumable uploads over TUS, as tus-js-client drives them against `/upload/resumable`.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use base64::Engine;
use common::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn metadata(bucket: &str, object: &str, ct: &str) -> String {
    format!(
        "bucketName {},objectName {},contentType {},cacheControl {}",
        b64(bucket),
        b64(object),
        b64(ct),
        b64("3600")
    )
}

async fn create(env: &Env, auth: &str, object: &str, len: usize) -> reqwest::Response {
    env.http
        .post(env.url("/upload/resumable"))
        .header("authorization", auth)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", len.to_string())
        .header(
            "upload-metadata",
            metadata("user-files", object, "text/plain"),
        )
        .send()
        .await
        .expect("create")
}

async fn patch(
    env: &Env,
    auth: &str,
    location: &str,
    offset: usize,
    data: &[u8],
) -> reqwest::Response {
    env.http
        .patch(env.url(location))
        .header("authorization", auth)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .expect("patch")
}

#[tokio::test]
async fn resumable_upload_in_chunks() {
    let env = Env::start().await;
    let alice = user(ALICE);
    let data: Vec<u8> = (0..700_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let object = format!("{ALICE}/big.txt");
    let r = create(&env, &alice, &object, data.len()).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["tus-resumable"], "1.0.0");
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(location.starts_with("/upload/resumable/"), "{location}");

    let r = patch(&env, &alice, &location, 0, &data[..300_000]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "300000");
    // Nothing is visible before the last byte.
    assert_eq!(env.count_objects().await, 0);

    // A wrong offset is a conflict; HEAD tells where to resume.
    let r = patch(&env, &alice, &location, 10, &data[10..20]).await;
    assert_eq!(r.status(), 409);
    let r = env
        .http
        .head(env.url(&location))
        .header("authorization", &alice)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["upload-offset"], "300000");
    assert_eq!(r.headers()["upload-length"], "700000");
    // Another user cannot see or continue it.
    let r = env
        .http
        .head(env.url(&location))
        .header("authorization", user(BOB))
        .send()
        .await
        .expect("head as bob");
    assert_eq!(r.status(), 404);

    let r = patch(&env, &alice, &location, 300_000, &data[300_000..]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "700000");
    assert_eq!(env.count_objects().await, 1);
    let r = env
        .http
        .get(env.url(&format!("/object/user-files/{object}")))
        .header("authorization", &alice)
        .send()
        .await
        .expect("download");
    assert_eq!(r.headers()["cache-control"], "max-age=3600");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), &data[..]);
    // Chunks are gone: only the object's bytes remain.
    assert_eq!(env.files().len(), 1, "files: {:?}", env.files());
}

#[tokio::test]
async fn resumable_upload_checks_policies_and_limits_up_front() {
    let env = Env::start().await;
    // Refusals come in the TUS server's form: the status itself and a plain-text message.
    let r = create(&env, &user(BOB), &format!("{ALICE}/nope.txt"), 10).await;
    expect_tus_error(r, 403, "new row violates row-level security policy").await;
    // The bucket allows 50 MB.
    let r = create(&env, &user(ALICE), &format!("{ALICE}/huge.txt"), 60_000_000).await;
    expect_tus_error(r, 413, "Maximum size exceeded\n").await;
    let r = env
        .http
        .post(env.url("/upload/resumable"))
        .header("authorization", service())
        .header("upload-length", "10")
        .header("upload-metadata", metadata("nope", "a.txt", "text/plain"))
        .send()
        .await
        .expect("create");
    expect_tus_error(r, 404, "Bucket not found").await;
    // A caller without a valid token is refused before the TUS server, in JSON.
    let r = create(&env, "Bearer not.a.jwt", &format!("{ALICE}/x.txt"), 10).await;
    let body = expect_error(r, "403").await;
    assert_eq!(body["code"], "AccessDenied");
    let r = env
        .http
        .post(env.url("/upload/resumable"))
        .header("authorization", user(ALICE))
        .header("upload-length", "10")
        .header(
            "upload-metadata",
            metadata(
                "user-files",
                &format!("{ALICE}/x.exe"),
                "application/x-msdownload",
            ),
        )
        .send()
        .await
        .expect("create");
    expect_tus_error(
        r,
        415,
        "mime type application/x-msdownload is not supported",
    )
    .await;
    assert!(env.files().is_empty());
}

#[tokio::test]
async fn creation_with_upload_and_termination() {
    let env = Env::start().await;
    let alice = user(ALICE);
    let r = env
        .http
        .post(env.url("/upload/resumable"))
        .header("authorization", &alice)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "5")
        .header(
            "upload-metadata",
            metadata("user-files", &format!("{ALICE}/one.txt"), "text/plain"),
        )
        .header("content-type", "application/offset+octet-stream")
        .body("hello")
        .send()
        .await
        .expect("create with upload");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["upload-offset"], "5");
    assert_eq!(env.count_objects().await, 1);

    let r = create(&env, &alice, &format!("{ALICE}/two.txt"), 10).await;
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert_eq!(
        patch(&env, &alice, &location, 0, b"12345").await.status(),
        204
    );
    let r = env
        .http
        .delete(env.url(&location))
        .header("authorization", &alice)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .expect("terminate");
    assert_eq!(r.status(), 204);
    let r = patch(&env, &alice, &location, 5, b"67890").await;
    expect_tus_error(r, 404, "The file for this url was not found\n").await;
    assert_eq!(env.count_objects().await, 1);
    assert_eq!(env.files().len(), 1, "files: {:?}", env.files());
}
