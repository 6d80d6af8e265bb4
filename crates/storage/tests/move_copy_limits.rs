//! Moving or copying an object into another bucket obeys that bucket's allowed MIME types and
//! file size limit, as an upload there would.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::json;

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

#[tokio::test]
async fn move_and_copy_obey_the_destination_buckets_limits() {
    let env = Env::start().await;
    let svc = service();
    for b in [
        json!({"name": "open"}),
        json!({"name": "images", "file_size_limit": 1000, "allowed_mime_types": ["image/*"]}),
    ] {
        assert_eq!(env.post_json(&svc, "/bucket", &b).await.status(), 200);
    }
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

    for op in ["copy", "move"] {
        for (src, status) in [("a.txt", "415"), ("big.png", "413")] {
            let body = json!({"bucketId": "open", "sourceKey": src,
                              "destinationBucket": "images", "destinationKey": src});
            let r = env.post_json(&svc, format!("/object/{op}"), &body).await;
            expect_error(r, status).await;
        }
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
