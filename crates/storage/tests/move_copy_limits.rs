//! Copying an object into another bucket obeys that bucket's allowed MIME types and file size
//! limit, as an upload there would. A move is not held to them, as in Supabase Storage.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

async fn put(env: &Env, auth: &str, path: &str, ct: &str, data: Vec<u8>) {
    let r = env
        .http
        .post(env.url(&format!("/object/{path}")))
        .header("authorization", auth)
        .header("content-type", ct)
        .body(data)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200, "{path}");
}

/// A service with a bucket `open` without limits and a bucket `images` that takes images of at
/// most 1000 bytes; with the service role's token.
async fn two_buckets() -> (Env, String) {
    let env = Env::start().await;
    let svc = service();
    for b in [
        json!({"name": "open"}),
        json!({"name": "images", "file_size_limit": 1000, "allowed_mime_types": ["image/*"]}),
    ] {
        assert_eq!(env.post_json(&svc, "/bucket", &b).await.status(), 200);
    }
    (env, svc)
}

#[tokio::test]
async fn copy_obeys_the_destination_buckets_limits() {
    let (env, svc) = two_buckets().await;
    put(
        &env,
        &svc,
        "open/a.txt",
        "text/plain",
        b"plain text".to_vec(),
    )
    .await;
    put(&env, &svc, "open/big.png", "image/png", vec![7u8; 5000]).await;
    put(&env, &svc, "open/small.png", "image/png", vec![7u8; 500]).await;

    for (src, status) in [("a.txt", "415"), ("big.png", "413")] {
        let body = json!({"bucketId": "open", "sourceKey": src,
                          "destinationBucket": "images", "destinationKey": src});
        let r = env.post_json(&svc, "/object/copy", &body).await;
        expect_error(r, status).await;
    }
    assert_eq!(
        env.sql(
            "SELECT string_agg(bucket_id || '/' || name, ',' ORDER BY name) FROM storage.objects"
        )
        .await,
        ["open/a.txt,open/big.png,open/small.png"]
    );

    for op in ["copy", "move"] {
        let body = json!({"bucketId": "open", "sourceKey": "small.png",
                          "destinationBucket": "images", "destinationKey": format!("{op}.png")});
        let r = env.post_json(&svc, format!("/object/{op}"), &body).await;
        assert_eq!(r.status(), 200, "{op}");
    }
    assert_eq!(
        env.sql("SELECT string_agg(name, ',' ORDER BY name) FROM storage.objects WHERE bucket_id = 'images'")
            .await,
        ["copy.png,move.png"]
    );
}

/// As in Supabase Storage, a move is held to the caller's policies only, not to the destination
/// bucket's limits.
#[tokio::test]
async fn move_into_another_bucket_ignores_its_limits() {
    let (env, svc) = two_buckets().await;
    put_text(&env, "open", "a.txt", b"plain text").await;
    let big = vec![7u8; 5000];
    put(&env, &svc, "open/big.png", "image/png", big.clone()).await;

    // A text file into an image-only bucket, a 5000-byte file into a 1000-byte bucket: moved.
    for name in ["a.txt", "big.png"] {
        let body = json!({"bucketId": "open", "sourceKey": name,
                          "destinationBucket": "images", "destinationKey": format!("m/{name}")});
        let r = env.post_json(&svc, "/object/move", &body).await;
        assert_eq!(r.status(), 200, "{name}");
        let got: Value = r.json().await.expect("json");
        assert_eq!(got["message"], "Successfully moved", "{name}");
    }
    assert_eq!(
        env.sql(
            "SELECT string_agg(bucket_id || '/' || name, ',' ORDER BY name) FROM storage.objects"
        )
        .await,
        ["images/m/a.txt,images/m/big.png"]
    );
    for (name, bytes) in [("a.txt", b"plain text".to_vec()), ("big.png", big)] {
        let r = env.get(&svc, format!("/object/images/m/{name}")).await;
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.bytes().await.expect("bytes").to_vec(), bytes, "{name}");
    }
    // The destination bucket must still exist.
    let body = json!({"bucketId": "images", "sourceKey": "m/a.txt",
                      "destinationBucket": "nowhere", "destinationKey": "a.txt"});
    expect_error(env.post_json(&svc, "/object/move", &body).await, "404").await;
}
