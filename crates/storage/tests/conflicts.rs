//! Writes refused because something already exists, answered as storage-api answers them:
//! HTTP 400, `statusCode` 409, `error` `Duplicate`, `message` "The resource already exists", and
//! a `code` naming what exists: `KeyAlreadyExists` (upload, copy, signed upload),
//! `BucketAlreadyExists` (bucket create), `ResourceAlreadyExists` (a move onto an object).
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

async fn upload(env: &Env, path: &str, upsert: bool) -> reqwest::Response {
    env.http
        .post(env.url(&format!("/object/box/{path}")))
        .header("authorization", service())
        .header("content-type", "text/plain")
        .header("x-upsert", upsert.to_string())
        .body("bytes")
        .send()
        .await
        .expect("upload")
}

async fn duplicate(r: reqwest::Response, code: &str) {
    let body: Value = expect_error(r, "409").await;
    assert_eq!(
        body,
        json!({"statusCode": "409", "code": code, "error": "Duplicate",
               "message": "The resource already exists"})
    );
}

#[tokio::test]
async fn each_duplicate_names_what_exists() {
    let env = Env::start().await;
    let svc = service();
    let r = env
        .post_json(&svc, "/bucket", &json!({"name": "box"}))
        .await;
    assert_eq!(r.status(), 200);
    duplicate(
        env.post_json(&svc, "/bucket", &json!({"name": "box"}))
            .await,
        "BucketAlreadyExists",
    )
    .await;
    duplicate(
        env.post_json(&svc, "/bucket", &json!({"id": "box", "name": "other"}))
            .await,
        "BucketAlreadyExists",
    )
    .await;

    // A bucket whose id and name differ is answered with its name.
    let r = env
        .post_json(&svc, "/bucket", &json!({"id": "box2", "name": "Box Two"}))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"name": "Box Two"}));

    assert_eq!(upload(&env, "a.txt", false).await.status(), 200);
    assert_eq!(upload(&env, "b.txt", false).await.status(), 200);
    duplicate(upload(&env, "a.txt", false).await, "KeyAlreadyExists").await;
    assert_eq!(upload(&env, "a.txt", true).await.status(), 200);

    let names = json!({"bucketId": "box", "sourceKey": "a.txt", "destinationKey": "b.txt"});
    duplicate(
        env.post_json(&svc, "/object/copy", &names).await,
        "KeyAlreadyExists",
    )
    .await;
    duplicate(
        env.post_json(&svc, "/object/move", &names).await,
        "ResourceAlreadyExists",
    )
    .await;
    duplicate(
        env.post_json(&svc, "/object/upload/sign/box/a.txt", &json!({}))
            .await,
        "KeyAlreadyExists",
    )
    .await;
    // Nothing was changed by the refusals.
    assert_eq!(env.count_objects().await, 2);
    assert_eq!(
        env.sql("SELECT count(*) FROM storage.buckets WHERE id = 'box'")
            .await,
        vec!["1"]
    );
}
