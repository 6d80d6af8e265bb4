//! Writes into another user's folder answer the same whether the object there exists or not:
//! the caller's policies are asked before the object's existence decides anything, so a refused
//! caller cannot use uploads, updates, copies, moves or signed upload URLs to probe names.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

/// Status and body of a response.
async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

async fn write(
    env: &Env,
    auth: &str,
    method: reqwest::Method,
    path: &str,
    upsert: bool,
) -> (u16, Value) {
    let r = env
        .http
        .request(method, env.url(&format!("/object/user-files/{path}")))
        .header("authorization", auth)
        .header("content-type", "text/plain")
        .header("x-upsert", if upsert { "true" } else { "false" })
        .body("bob was here")
        .send()
        .await
        .expect("write");
    answer(r).await
}

async fn move_or_copy(
    env: &Env,
    auth: &str,
    op: &str,
    from: &str,
    to: &str,
    upsert: bool,
) -> (u16, Value) {
    let r = env
        .http
        .post(env.url(&format!("/object/{op}")))
        .header("authorization", auth)
        .header("x-upsert", if upsert { "true" } else { "false" })
        .json(&json!({"bucketId": "user-files", "sourceKey": from, "destinationKey": to}))
        .send()
        .await
        .expect("move/copy");
    answer(r).await
}

#[tokio::test]
async fn writes_into_another_users_folder_do_not_reveal_what_exists_there() {
    let env = Env::start().await;
    let alice = user(ALICE);
    let bob = user(BOB);
    let exists = format!("{ALICE}/exists.txt");
    let missing = format!("{ALICE}/missing.txt");
    let r = env
        .http
        .post(env.url(&format!("/object/user-files/{exists}")))
        .header("authorization", &alice)
        .header("content-type", "text/plain")
        .body("alice's")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    let own = format!("{BOB}/own.txt");
    assert_eq!(
        write(&env, &bob, reqwest::Method::POST, &own, false)
            .await
            .0,
        200
    );

    let refused = |(status, body): &(u16, Value)| {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(body["statusCode"], "403", "{body}");
    };
    for (what, method, upsert) in [
        ("create", reqwest::Method::POST, false),
        ("upsert", reqwest::Method::POST, true),
        ("update", reqwest::Method::PUT, false),
    ] {
        let a = write(&env, &bob, method.clone(), &exists, upsert).await;
        let b = write(&env, &bob, method, &missing, upsert).await;
        assert_eq!(a, b, "{what}: existing and missing objects answer alike");
        refused(&a);
    }
    for (op, upsert) in [("copy", false), ("copy", true), ("move", false)] {
        let a = move_or_copy(&env, &bob, op, &own, &exists, upsert).await;
        let b = move_or_copy(&env, &bob, op, &own, &missing, upsert).await;
        assert_eq!(
            a, b,
            "{op} (upsert {upsert}): existing and missing destinations answer alike"
        );
        refused(&a);
    }
    for upsert in [false, true] {
        let sign = |path: String| {
            env.http
                .post(env.url(&format!("/object/upload/sign/user-files/{path}")))
                .header("authorization", &bob)
                .header("x-upsert", if upsert { "true" } else { "false" })
                .send()
        };
        let a = answer(sign(exists.clone()).await.expect("sign")).await;
        let b = answer(sign(missing.clone()).await.expect("sign")).await;
        assert_eq!(a, b, "signed upload URL (upsert {upsert})");
        refused(&a);
    }

    // Nothing of Alice's changed, nothing was created, and Bob's own file stayed put.
    assert_eq!(
        env.sql("SELECT string_agg(name, ',' ORDER BY name) FROM storage.objects")
            .await,
        [format!("{exists},{own}")]
    );
    let r = env
        .http
        .get(env.url(&format!("/object/user-files/{exists}")))
        .header("authorization", &alice)
        .send()
        .await
        .expect("download");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"alice's");

    // The owner still gets the precise answers.
    let (_, dup) = write(&env, &alice, reqwest::Method::POST, &exists, false).await;
    assert_eq!(dup["statusCode"], "409", "{dup}");
    // `PUT` creates a missing object, as storage-api's does.
    let (status, created) = write(&env, &alice, reqwest::Method::PUT, &missing, false).await;
    assert_eq!(status, 200, "{created}");
    let (_, dup) = move_or_copy(&env, &alice, "copy", &exists, &exists, false).await;
    assert_eq!(dup["statusCode"], "409", "{dup}");
}
