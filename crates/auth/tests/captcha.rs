//! CAPTCHA protection (hCaptcha, Turnstile) against a local fake `siteverify` endpoint: which
//! requests need `gotrue_meta_security.captcha_token`, what the verifier receives, GoTrue's
//! answers for a missing or refused token, the admin bypass, and `[auth.captcha]` from
//! config.toml.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;
mod fakehttp;

use basalt_auth::captcha::CaptchaConfig;
use common::*;
use fakehttp::Seen;
use serde_json::{json, Value};

async fn protected(provider: &str) -> (Auth, fakehttp::Fake) {
    let fake = fakehttp::start(|s: &Seen| {
        if s.field("response") == "good-token" && s.field("secret") == "0xSECRET" {
            (200, json!({"success": true, "hostname": "localhost"}))
        } else {
            (
                200,
                json!({"success": false, "error-codes": ["invalid-input-response"]}),
            )
        }
    })
    .await;
    let verify_url = Some(format!("{}/siteverify", fake.url));
    let provider = provider.to_string();
    let a = start(move |c| {
        c.anonymous_enabled = true;
        c.rate_limit_header = Some("X-Forwarded-For".into());
        c.captcha = Some(CaptchaConfig {
            provider,
            secret: " 0xSECRET ".into(),
            verify_url,
            timeout: std::time::Duration::from_secs(5),
        });
    })
    .await;
    (a, fake)
}

fn with_token(mut body: Value, token: &str) -> Value {
    body["gotrue_meta_security"] = json!({"captcha_token": token});
    body
}

fn refused(r: &Res, why: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["code"], "captcha_failed");
    assert_eq!(
        r.body["message"],
        format!("captcha protection: request disallowed ({why})")
    );
}

#[tokio::test]
async fn sign_up_and_sign_in_need_a_verified_token() {
    let (a, fake) = protected("hcaptcha").await;
    let creds = json!({"email": "cap@example.com", "password": "long-enough"});
    refused(
        &a.post("/signup", creds.clone()).await,
        "no captcha_token found",
    );
    refused(
        &a.post("/signup", with_token(creds.clone(), "   ")).await,
        "no captcha_token found",
    );
    refused(
        &a.post("/signup", with_token(creds.clone(), "bad-token"))
            .await,
        "invalid-input-response",
    );
    // From a client behind the trusted proxy, whose address the verifier gets.
    let ok = a
        .http
        .post(format!("{}/signup", a.server.url))
        .header("apikey", &a.anon)
        .header("x-forwarded-for", "203.0.113.7")
        .json(&with_token(creds.clone(), "good-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // What the verifier received: the trimmed secret, the token and the client's address.
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "a missing token is refused without asking");
    let s = &seen[1];
    assert_eq!(s.method, "POST");
    assert_eq!(s.path, "/siteverify");
    assert_eq!(
        s.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(s.field("secret"), "0xSECRET");
    assert_eq!(s.field("response"), "good-token");
    assert_eq!(s.field("remoteip"), "203.0.113.7", "{s:?}");

    // Password sign-in: refused without, accepted with.
    let path = "/token?grant_type=password";
    refused(&a.post(path, creds.clone()).await, "no captcha_token found");
    let s = a.post(path, with_token(creds.clone(), "good-token")).await;
    assert_eq!(s.status, 200, "{}", s.body);
    // The refresh grant is not protected.
    let r = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": s.body["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn otp_and_anonymous_sign_in_are_protected() {
    let (a, _fake) = protected("turnstile").await;
    let otp = json!({"email": "otp@example.com", "create_user": true});
    refused(&a.post("/otp", otp.clone()).await, "no captcha_token found");
    let r = a.post("/otp", with_token(otp, "good-token")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    refused(
        &a.post("/magiclink", json!({"email": "otp@example.com"}))
            .await,
        "no captcha_token found",
    );
    refused(
        &a.post("/recover", json!({"email": "otp@example.com"}))
            .await,
        "no captcha_token found",
    );

    // Anonymous sign-in is a sign-up without email or phone.
    refused(
        &a.post("/signup", json!({"data": {}})).await,
        "no captcha_token found",
    );
    let anon = a
        .post("/signup", with_token(json!({"data": {}}), "good-token"))
        .await;
    assert_eq!(anon.status, 200, "{}", anon.body);
    assert_eq!(anon.body["user"]["is_anonymous"], true);
    // Unprotected routes are untouched.
    let settings = a.get_as("/settings", &a.anon.clone()).await;
    assert_eq!(settings.status, 200);
}

#[tokio::test]
async fn admin_tokens_skip_the_check_and_a_dead_verifier_is_a_server_error() {
    let (a, fake) = protected("hcaptcha").await;
    let service = a.service.clone();
    let r = a
        .call(
            reqwest::Method::POST,
            "/signup",
            &service,
            Some(json!({"email": "admin-made@example.com", "password": "long-enough"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(fake.seen().is_empty());

    // A verifier that cannot be reached.
    let dead = start(|c| {
        c.captcha = Some(CaptchaConfig {
            provider: "hcaptcha".into(),
            secret: "s".into(),
            verify_url: Some("http://127.0.0.1:9/siteverify".into()),
            timeout: std::time::Duration::from_secs(2),
        });
    })
    .await;
    let r = dead
        .post(
            "/signup",
            with_token(
                json!({"email": "x@example.com", "password": "long-enough"}),
                "any",
            ),
        )
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
}

#[test]
fn captcha_from_config_toml_and_variables() {
    let project = basalt_config::load(
        "[auth.captcha]\nenabled = true\nprovider = \"turnstile\"\nsecret = \"0xABC\"\n",
    )
    .unwrap();
    let c = basalt_auth::Config::from_project(&project.auth, "http://127.0.0.1:54321/auth/v1");
    let cap = c.captcha.unwrap();
    assert_eq!(cap.provider, "turnstile");
    assert_eq!(cap.secret, "0xABC");
    assert_eq!(
        cap.url().unwrap(),
        "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    );
    let off = basalt_config::load("[auth.captcha]\nenabled = false\nsecret = \"x\"\n").unwrap();
    assert!(
        basalt_auth::Config::from_project(&off.auth, "http://x/auth/v1")
            .captcha
            .is_none()
    );
    let vars: std::collections::HashMap<&str, &str> = [
        ("DATABASE_URL", "postgres://x@localhost/db"),
        ("GOTRUE_JWT_SECRET", "s"),
        ("GOTRUE_SECURITY_CAPTCHA_ENABLED", "true"),
        ("GOTRUE_SECURITY_CAPTCHA_SECRET", "0xDEF"),
    ]
    .into_iter()
    .collect();
    let c = basalt_auth::Config::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    let cap = c.captcha.unwrap();
    assert_eq!(cap.provider, "hcaptcha");
    assert_eq!(cap.url().unwrap(), "https://hcaptcha.com/siteverify");
}
