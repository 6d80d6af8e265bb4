//! `POST /object/copy` as storage-api answers it: the new row with `Id` and `Key`; the copy
//! takes the source's metadata, or with `copyMetadata: false` its own `metadata`
//! (`cacheControl`, `mimetype`, each kept from the source when not given) and `x-metadata`.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

async fn info(env: &Env, name: &str) -> Value {
    env.http
        .get(env.url(&format!("/object/info/user-files/{name}")))
        .header("authorization", service())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn copies_take_the_sources_metadata_or_their_own() {
    let env = Env::start().await;
    let user_md = base64::engine::general_purpose::STANDARD.encode(br#"{"from":"source"}"#);
    let r = env
        .http
        .post(env.url("/object/user-files/src.txt"))
        .header("authorization", service())
        .header("content-type", "text/plain")
        .header("cache-control", "max-age=60")
        .header("x-metadata", user_md)
        .body("copy me")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = env
        .post_json(
            service(),
            "/object/copy",
            &json!({"bucketId": "user-files", "sourceKey": "src.txt", "destinationKey": "same.txt"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let copied: Value = r.json().await.unwrap();
    assert_eq!(copied["Key"], "user-files/same.txt");
    assert_eq!(copied["Id"], copied["id"]);
    assert_eq!(copied["name"], "same.txt");
    assert_eq!(copied["bucket_id"], "user-files");
    assert_eq!(copied["metadata"]["mimetype"], "text/plain");
    assert_eq!(copied["user_metadata"], json!({"from": "source"}));
    let same = info(&env, "same.txt").await;
    assert_eq!(same["cache_control"], "max-age=60");
    assert_eq!(same["metadata"], json!({"from": "source"}));

    let own_md = base64::engine::general_purpose::STANDARD.encode(br#"{"from":"request"}"#);
    let r = env
        .http
        .post(env.url("/object/copy"))
        .header("authorization", service())
        .header("x-metadata", own_md)
        .json(&json!({"bucketId": "user-files", "sourceKey": "src.txt", "destinationKey": "own.csv",
            "copyMetadata": false, "metadata": {"cacheControl": "max-age=5", "mimetype": "text/csv"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let own = info(&env, "own.csv").await;
    assert_eq!(own["content_type"], "text/csv");
    assert_eq!(own["cache_control"], "max-age=5");
    assert_eq!(own["metadata"], json!({"from": "request"}));
    assert_eq!(own["size"], 7);
    let r = env
        .http
        .get(env.url("/object/user-files/own.csv"))
        .header("authorization", service())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv");
    assert_eq!(r.text().await.unwrap(), "copy me");

    // Not copying metadata and giving none keeps the type and caching, but no user metadata.
    let r = env
        .post_json(
            service(),
            "/object/copy",
            &json!({"bucketId": "user-files", "sourceKey": "src.txt", "destinationKey": "bare.txt",
                "copyMetadata": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let bare = info(&env, "bare.txt").await;
    assert_eq!(bare["content_type"], "text/plain");
    assert_eq!(bare["cache_control"], "max-age=60");
    assert_eq!(bare["metadata"], Value::Null);
}
