//! Hostile and broken input: bad tokens of every kind, malformed and oversized bodies, rate
//! limits. Each gets GoTrue's status and error code, never a 500.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use base64::Engine;
use common::*;
use reqwest::Method;
use serde_json::json;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let a = start(|_| {}).await;
    let s = a.signup("tok@example.com", "long-enough").await.body;
    let good = s["access_token"].as_str().unwrap().to_string();
    let claims = claims_of(&good);

    let no_header = a
        .http
        .get(format!("{}/user", a.server.url))
        .header("x-supabase-api-version", "2024-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), 401);
    let body: serde_json::Value = no_header.json().await.unwrap();
    assert_eq!(body["code"], "no_authorization");

    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 60);
    let r = a.get_as("/user", &sign(&expired)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["code"], "bad_jwt");
    assert!(r.body["message"].as_str().unwrap().contains("expired"));

    // Payload swapped for one claiming another role, signature kept.
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims.clone();
    forged["role"] = json!("service_role");
    let tampered = format!("{}.{}.{}", parts[0], b64(&forged.to_string()), parts[2]);
    let r = a.get_as("/user", &tampered).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["code"], "bad_jwt");
    let r = a.get_as("/admin/users", &tampered).await;
    assert_eq!(r.status, 403);

    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&forged.to_string())
    );
    let r = a.get_as("/user", &none).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["code"], "bad_jwt");
    let r = a.get_as("/admin/users", &none).await;
    assert_eq!(r.status, 403);

    let other_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &forged,
        &jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-of-sufficient-length"),
    )
    .unwrap();
    assert_eq!(a.get_as("/admin/users", &other_secret).await.status, 403);

    // The anon key is a valid JWT without a user.
    let anon = a.anon.clone();
    let r = a.get_as("/user", &anon).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["code"], "bad_jwt");
    assert_eq!(a.get_as("/user", "garbage").await.body["code"], "bad_jwt");

    // A token whose user is gone.
    let service = a.service.clone();
    let id = s["user"]["id"].as_str().unwrap();
    a.call(
        Method::DELETE,
        &format!("/admin/users/{id}"),
        &service,
        None,
    )
    .await;
    let r = a.get_as("/user", &good).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["code"], "user_not_found");
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let a = start(|_| {}).await;
    let raw = |body: Vec<u8>| {
        a.http
            .post(format!("{}/signup", a.server.url))
            .header("content-type", "application/json")
            .header("x-supabase-api-version", "2024-01-01")
            .body(body)
            .send()
    };
    let r = raw(b"{not json".to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_json");

    let r = raw(br#"{"email": 5, "password": "x"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_json");

    let r = raw(br#"{"email": "a@b.co", "password": "long-enough", "data": "str"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let big = format!(
        r#"{{"email": "a@b.co", "password": "long-enough", "data": {{"x": "{}"}}}}"#,
        "a".repeat(2 << 20)
    );
    let r = raw(big.into_bytes()).await.unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "request_entity_too_large");
    assert_eq!(
        body["message"],
        "Request body too large (max 1048576 bytes)"
    );

    let grant = a.post("/token?grant_type=magic", json!({})).await;
    assert_eq!(grant.status, 400);
    assert_eq!(grant.body["code"], "invalid_credentials");
    let no_grant = a.post("/token", json!({})).await;
    assert_eq!(no_grant.status, 400);
    let verify = a.post("/verify", json!({"type": "signup"})).await;
    assert_eq!(verify.status, 400);
    assert_eq!(verify.body["code"], "validation_failed");
    let verify_type = a
        .post("/verify", json!({"type": "bogus", "token_hash": "x"}))
        .await;
    assert_eq!(verify_type.status, 400);
    let unicode = a.signup("ünï@exämple.com", "long-enough").await;
    assert!(
        unicode.status == 200 || unicode.status == 400,
        "{}",
        unicode.status
    );
}

#[tokio::test]
async fn request_rate_limits_per_address() {
    let a = start(|c| {
        c.rate_limits.otp = 2;
        c.rate_limits.token_refresh = 3;
        c.rate_limit_header = Some("X-Forwarded-For".into());
    })
    .await;
    assert_eq!(a.signup("r1@example.com", "long-enough").await.status, 200);
    assert_eq!(a.signup("r2@example.com", "long-enough").await.status, 200);
    let over = a.signup("r3@example.com", "long-enough").await;
    assert_eq!(over.status, 429);
    assert_eq!(
        over.body,
        json!({"code": "over_request_rate_limit", "message": "Request rate limit reached"})
    );
    // Another client address has its own budget.
    let other = a
        .http
        .post(format!("{}/signup", a.server.url))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "r4@example.com", "password": "long-enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);

    for _ in 0..3 {
        assert_eq!(a.sign_in("r1@example.com", "long-enough").await.status, 200);
    }
    let over = a.sign_in("r1@example.com", "long-enough").await;
    assert_eq!(over.status, 429);
    assert_eq!(over.body["code"], "over_request_rate_limit");
    // Without a trusted header configured, a client cannot pick its own address.
    let b = start(|c| c.rate_limits.otp = 1).await;
    assert_eq!(b.signup("s1@example.com", "long-enough").await.status, 200);
    let spoofed = b
        .http
        .post(format!("{}/signup", b.server.url))
        .header("x-forwarded-for", "198.51.100.1")
        .json(&json!({"email": "s2@example.com", "password": "long-enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);
    // The counters live in Postgres, shared by every node.
    let db = a.db.client().await;
    let rows = db
        .query("SELECT key FROM auth.rate_limits ORDER BY key", &[])
        .await
        .unwrap();
    assert!(rows
        .iter()
        .any(|r| r.get::<_, String>(0).starts_with("token:")));
}

#[tokio::test]
async fn anonymous_sign_ins() {
    let off = start(|_| {}).await;
    let r = off
        .post("/signup", json!({"data": {}, "gotrue_meta_security": {}}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["code"], "anonymous_provider_disabled");

    let a = start(|c| c.anonymous_enabled = true).await;
    let r = a
        .post(
            "/signup",
            json!({"data": {"theme": "dark"}, "gotrue_meta_security": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["is_anonymous"], true);
    assert_eq!(r.body["user"]["app_metadata"], json!({}));
    assert_eq!(r.body["user"]["user_metadata"]["theme"], "dark");
    assert_eq!(r.body["user"]["email"], "");
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let claims = claims_of(&token);
    assert_eq!(claims["is_anonymous"], true);
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(claims["amr"][0]["method"], "anonymous");
    // Refresh works for anonymous sessions too.
    let rt = r.body["refresh_token"].clone();
    assert_eq!(
        a.post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": rt})
        )
        .await
        .status,
        200
    );
    // No password without an address; no MFA.
    let pw = a
        .call(
            Method::PUT,
            "/user",
            &token,
            Some(json!({"password": "long-enough"})),
        )
        .await;
    assert_eq!(pw.status, 422);
    let mfa = a
        .call(
            Method::POST,
            "/factors",
            &token,
            Some(json!({"factor_type": "totp"})),
        )
        .await;
    assert_eq!(mfa.status, 403);
    // Linking an email makes the user permanent (autoconfirm).
    let up = a
        .call(
            Method::PUT,
            "/user",
            &token,
            Some(json!({"email": "anon@example.com"})),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body["is_anonymous"], false);
    assert_eq!(up.body["email"], "anon@example.com");
    let pw = a
        .call(
            Method::PUT,
            "/user",
            &token,
            Some(json!({"password": "long-enough"})),
        )
        .await;
    assert_eq!(pw.status, 200, "{}", pw.body);
    assert_eq!(
        a.sign_in("anon@example.com", "long-enough").await.status,
        200
    );
}
