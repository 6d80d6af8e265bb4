//! A resumable upload belongs to whoever created it, by role and subject: another caller who
//! learns its id can neither see its offset, append to it, nor terminate it — including when
//! the creator used the anon key and has no subject at all.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use base64::Engine;
use common::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn create(env: &Env, auth: &str, bucket: &str, object: &str, len: usize) -> String {
    let r = env
        .http
        .post(env.url("/upload/resumable"))
        .header("authorization", auth)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", len.to_string())
        .header(
            "upload-metadata",
            format!(
                "bucketName {},objectName {},contentType {}",
                b64(bucket),
                b64(object),
                b64("text/plain")
            ),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string()
}

async fn tus(
    env: &Env,
    method: reqwest::Method,
    auth: &str,
    location: &str,
    offset: usize,
    data: &[u8],
) -> reqwest::Response {
    env.http
        .request(method, env.url(location))
        .header("authorization", auth)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .expect("tus request")
}

/// Every way of touching `location` as `auth` is refused as if the upload did not exist.
async fn refused(env: &Env, auth: &str, location: &str, offset: usize) {
    for m in [
        reqwest::Method::HEAD,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        let r = tus(env, m.clone(), auth, location, offset, b"xx").await;
        assert_eq!(r.status(), 404, "{m} answers like a missing upload");
        if m != reqwest::Method::HEAD {
            expect_tus_error(r, 404, "The file for this url was not found\n").await;
        }
    }
}

fn token(claims: serde_json::Value) -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    let mut claims = claims;
    claims["exp"] = exp.into();
    format!("Bearer {}", jwt(claims))
}

#[tokio::test]
async fn only_the_creator_continues_a_resumable_upload() {
    let env = Env::start().await;
    env.db
        .client()
        .await
        .batch_execute(
            "INSERT INTO storage.buckets (id, name) VALUES ('drop', 'drop');
             CREATE POLICY anon_drop ON storage.objects FOR INSERT TO anon
               WITH CHECK (bucket_id = 'drop');",
        )
        .await
        .expect("bucket");

    // An anonymous upload: no subject, so the role is all that tells its creator apart.
    let anon_key = anon();
    let location = create(&env, &anon_key, "drop", "inbox/a.txt", 4).await;
    assert_eq!(
        tus(&env, reqwest::Method::PATCH, &anon_key, &location, 0, b"ab")
            .await
            .status(),
        204
    );
    for other in [
        service(),
        token(serde_json::json!({"role": "authenticated"})),
        user(BOB),
    ] {
        refused(&env, &other, &location, 2).await;
    }
    let r = tus(&env, reqwest::Method::PATCH, &anon_key, &location, 2, b"cd").await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "4");
    assert_eq!(
        env.sql("SELECT name FROM storage.objects WHERE bucket_id = 'drop'")
            .await,
        ["inbox/a.txt"]
    );

    // A user's upload: the same subject under another role is someone else.
    let alice = user(ALICE);
    let location = create(&env, &alice, "user-files", &format!("{ALICE}/b.txt"), 4).await;
    let impostor = token(serde_json::json!({"role": "service_role", "sub": ALICE}));
    refused(&env, &impostor, &location, 0).await;
    let r = tus(&env, reqwest::Method::PATCH, &alice, &location, 0, b"abcd").await;
    assert_eq!(r.status(), 204);
    assert_eq!(env.count_objects().await, 2);
}
