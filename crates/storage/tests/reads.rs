//! Object reads as storage-api answers them: `GET`/`HEAD /object/{bucket}/…` and
//! `GET /object/info/…` look the bucket up first (`Bucket not found` when it is missing), read a
//! public bucket's objects whatever the caller's policies, and take a missing or invalid token
//! as an unauthenticated caller, who reads public buckets only; the `authenticated` forms still
//! require a valid token, and renders and signing still ask the caller's policies alone.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

/// `method path` with an optional `Authorization` header.
async fn call(
    env: &Env,
    method: reqwest::Method,
    path: &str,
    auth: Option<&str>,
) -> reqwest::Response {
    let mut req = env.http.request(method, env.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.expect("request")
}

async fn get(env: &Env, path: &str, auth: Option<&str>) -> reqwest::Response {
    call(env, reqwest::Method::GET, path, auth).await
}

async fn setup() -> Env {
    let env = Env::start().await;
    let r = env
        .post_json(
            service(),
            "/bucket",
            &json!({"name": "pub", "public": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    put_text(&env, "pub", "dir/a.txt", b"open").await;
    put_text(
        &env,
        "user-files",
        &format!("{ALICE}/secret.txt"),
        b"closed",
    )
    .await;
    env
}

#[tokio::test]
async fn public_buckets_are_read_by_any_caller_on_every_object_route() {
    let env = setup().await;
    let anon = anon();
    let bob = user(BOB);
    // The fixture's policies let no one but owners read `storage.objects`; a public bucket's
    // objects are served all the same, to the anon key, another user, no token or a bad one.
    for auth in [
        Some(anon.as_str()),
        Some(bob.as_str()),
        None,
        Some("Bearer not.a.jwt"),
    ] {
        let r = get(&env, "/object/pub/dir/a.txt", auth).await;
        assert_eq!(r.status(), 200, "{auth:?}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"open");
        let r = call(&env, reqwest::Method::HEAD, "/object/pub/dir/a.txt", auth).await;
        assert_eq!(r.status(), 200, "{auth:?}");
        assert_eq!(r.headers()["content-length"], "4");
        let r = get(&env, "/object/info/pub/dir/a.txt", auth).await;
        assert_eq!(r.status(), 200, "{auth:?}");
        let info: Value = r.json().await.unwrap();
        assert_eq!(info["name"], "dir/a.txt");
        assert_eq!(info["bucket_id"], "pub");
        assert_eq!(info["size"], 4);
        // Uploaded without user metadata: `metadata` is null, as storage-api answers.
        assert_eq!(info["metadata"], Value::Null);
        assert_eq!(info["content_type"], "text/plain");
    }
    for auth in [&anon, &bob] {
        let r = get(&env, "/object/authenticated/pub/dir/a.txt", Some(auth)).await;
        assert_eq!(r.status(), 200);
        let r = get(&env, "/object/info/authenticated/pub/dir/a.txt", Some(auth)).await;
        assert_eq!(r.status(), 200);
    }
    // A missing object of a public bucket is still `Object not found`.
    let body = expect_error(
        get(&env, "/object/pub/dir/none.txt", Some(&anon)).await,
        "404",
    )
    .await;
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["message"], "Object not found");
}

#[tokio::test]
async fn private_buckets_keep_their_policies_and_hide_from_unauthenticated_callers() {
    let env = setup().await;
    let path = format!("/object/user-files/{ALICE}/secret.txt");
    // Its owner reads it; the anon key and another user are told it does not exist.
    let r = get(&env, &path, Some(&user(ALICE))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"closed");
    for auth in [anon(), user(BOB)] {
        let body = expect_error(get(&env, &path, Some(&auth)).await, "404").await;
        assert_eq!(body["code"], "NoSuchKey");
        let info = format!("/object/info/user-files/{ALICE}/secret.txt");
        let body = expect_error(get(&env, &info, Some(&auth)).await, "404").await;
        assert_eq!(body["code"], "NoSuchKey");
    }
    // Without a (valid) token the caller is unauthenticated: the private bucket is not found.
    for auth in [None, Some("Bearer not.a.jwt")] {
        let body = expect_error(get(&env, &path, auth).await, "404").await;
        assert_eq!(body["code"], "NoSuchBucket", "{auth:?}");
        assert_eq!(body["error"], "Bucket not found");
        assert_eq!(body["message"], "Bucket not found");
        let r = call(&env, reqwest::Method::HEAD, &path, auth).await;
        assert_eq!(r.status(), 400);
    }
    // The `authenticated` form requires a valid token.
    let auth_path = format!("/object/authenticated/user-files/{ALICE}/secret.txt");
    let body = expect_error(get(&env, &auth_path, None).await, "403").await;
    assert_eq!(body["code"], "AccessDenied");
    assert_eq!(body["error"], "Unauthorized");
    assert_eq!(body["message"], "Invalid Compact JWS");
    // An expired session is refused in storage-api's words.
    let expired = format!(
        "Bearer {}",
        jwt(json!({"sub": ALICE, "role": "authenticated", "exp": 1000}))
    );
    let body = expect_error(get(&env, &auth_path, Some(&expired)).await, "403").await;
    assert_eq!(body["message"], "\"exp\" claim timestamp check failed");
    let body = expect_error(get(&env, &auth_path, Some("Bearer not.a.jwt")).await, "403").await;
    assert_eq!(body["code"], "AccessDenied");
}

#[tokio::test]
async fn reads_from_a_missing_bucket_say_bucket_not_found() {
    let env = setup().await;
    let svc = service();
    for path in [
        "/object/nope/a.txt",
        "/object/authenticated/nope/a.txt",
        "/object/info/nope/a.txt",
        "/object/info/authenticated/nope/a.txt",
        "/object/public/nope/a.txt",
        "/object/info/public/nope/a.txt",
    ] {
        let body = expect_error(get(&env, path, Some(&svc)).await, "404").await;
        assert_eq!(body["code"], "NoSuchBucket", "{path}");
        assert_eq!(body["message"], "Bucket not found", "{path}");
    }
    let r = call(
        &env,
        reqwest::Method::HEAD,
        "/object/nope/a.txt",
        Some(&svc),
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn signing_still_asks_the_callers_policies_in_a_public_bucket() {
    let env = setup().await;
    // Reading a public object needs no policy, but signing a URL for it does, as in
    // storage-api: the anon key has no select policy on `storage.objects`.
    let r = env
        .post_json(
            anon(),
            "/object/sign/pub/dir/a.txt",
            &json!({"expiresIn": 60}),
        )
        .await;
    let body = expect_error(r, "404").await;
    assert_eq!(body["code"], "NoSuchKey");
    let r = env
        .post_json(
            service(),
            "/object/sign/pub/dir/a.txt",
            &json!({"expiresIn": 60}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn served_headers_keep_pages_inert_and_signed_downloads_expire() {
    let env = setup().await;
    let r = env
        .http
        .post(env.url("/object/pub/page.html"))
        .header("authorization", service())
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "max-age=60")
        .body("<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Stored as sent, served as plain text and not for indexing, as storage-api serves it.
    let info: Value = get(&env, "/object/info/pub/page.html", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["content_type"], "text/html; charset=utf-8");
    for path in ["/object/public/pub/page.html", "/object/pub/page.html"] {
        let r = get(&env, path, None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(r.headers()["x-robots-tag"], "none");
        assert_eq!(r.headers()["cache-control"], "max-age=60");
    }
    // A signed download says when its token expires instead of the object's caching.
    let signed: Value = env
        .post_json(
            service(),
            "/object/sign/pub/page.html",
            &json!({"expiresIn": 120}),
        )
        .await
        .json()
        .await
        .unwrap();
    let r = get(&env, signed["signedURL"].as_str().unwrap(), None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("cache-control").is_none());
    let expires = httpdate::parse_http_date(r.headers()["expires"].to_str().unwrap()).unwrap();
    let ahead = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs();
    assert!((100..=121).contains(&ahead), "{ahead}");
}
