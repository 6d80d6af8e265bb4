//! Refresh tokens: rotation, GoTrue's reuse interval and reuse detection (a token used again
//! after the interval revokes every token of its session), the rotation switch, what a refresh
//! records, and a database without basalt's refresh function.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

async fn refresh(a: &Auth, token: &str) -> Res {
    a.post(
        "/token?grant_type=refresh_token",
        json!({"refresh_token": token}),
    )
    .await
}

fn rt(r: &Res) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["refresh_token"].as_str().unwrap().to_string()
}

fn session_of(body: &Value) -> String {
    claims_of(body["access_token"].as_str().unwrap())["session_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn reuse_after_the_interval_revokes_every_token_of_the_session() {
    let a = start(|c| c.refresh.reuse_interval = 1).await;
    let s = a.signup("reuse@example.com", "long-enough").await.body;
    let session = session_of(&s);
    let rt0 = s["refresh_token"].as_str().unwrap().to_string();
    let rt1 = rt(&refresh(&a, &rt0).await);
    let rt2 = rt(&refresh(&a, &rt1).await);
    // A second session of the same user, which must survive.
    let other = a.sign_in("reuse@example.com", "long-enough").await.body;
    let other_rt = other["refresh_token"].as_str().unwrap().to_string();

    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let reuse = refresh(&a, &rt0).await;
    assert_eq!(reuse.status, 400, "{}", reuse.body);
    assert_eq!(reuse.body["code"], "refresh_token_already_used");
    assert_eq!(reuse.body["message"], "Invalid Refresh Token: Already Used");

    // Every token of the session is revoked, the newest too, and stays so: its revocation is
    // fresh (within the interval), yet it does not bring the session back.
    let db = a.db.client().await;
    let live: i64 = db
        .query_one(
            "SELECT count(*) FROM auth.refresh_tokens WHERE session_id = $1::text::uuid \
             AND revoked = false",
            &[&session],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0);
    for token in [&rt2, &rt1, &rt0, &rt2] {
        let r = refresh(&a, token).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["code"], "refresh_token_already_used");
    }
    // The user's other session is untouched.
    let r = refresh(&a, &other_rt).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(session_of(&r.body), session);
}

#[tokio::test]
async fn reuse_within_the_interval_gets_the_current_token() {
    let a = start(|c| c.refresh.reuse_interval = 30).await;
    let s = a.signup("within@example.com", "long-enough").await.body;
    let rt0 = s["refresh_token"].as_str().unwrap().to_string();
    let first = refresh(&a, &rt0).await;
    let rt1 = rt(&first);
    // The client lost the answer and retries: the same pair of session and refresh token.
    let again = refresh(&a, &rt0).await;
    assert_eq!(rt(&again), rt1);
    assert_eq!(session_of(&again.body), session_of(&s));
    let me = a
        .get_as("/user", again.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    // The current token still rotates; then the first one, two generations back but within
    // the interval, gets a token of the same session too (GoTrue's swap).
    let rt2 = rt(&refresh(&a, &rt1).await);
    let late = refresh(&a, &rt0).await;
    let forked = rt(&late);
    assert_ne!(forked, rt2);
    assert_eq!(session_of(&late.body), session_of(&s));
}

#[tokio::test]
async fn without_rotation_reuse_fails_but_the_session_lives() {
    let a = start(|c| {
        c.refresh.reuse_interval = 0;
        c.refresh.rotation_enabled = false;
    })
    .await;
    let s = a.signup("norot@example.com", "long-enough").await.body;
    let rt0 = s["refresh_token"].as_str().unwrap().to_string();
    let rt1 = rt(&refresh(&a, &rt0).await);
    let reuse = refresh(&a, &rt0).await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.body["code"], "refresh_token_already_used");
    let r = refresh(&a, &rt1).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn refresh_records_and_answers_as_before() {
    let a = start(|_| {}).await;
    let s = a.signup("rec@example.com", "long-enough").await.body;
    let token = s["access_token"].as_str().unwrap().to_string();
    // An MFA factor shows in the refreshed user (unverified factors are listed too).
    let f = a
        .call(
            reqwest::Method::POST,
            "/factors",
            &token,
            Some(json!({"factor_type": "totp", "friendly_name": "phone app"})),
        )
        .await;
    assert_eq!(f.status, 200, "{}", f.body);
    let session = session_of(&s);
    let db = a.db.client().await;
    db.execute(
        "UPDATE auth.users SET last_sign_in_at = now() - interval '1 hour' \
         WHERE email = 'rec@example.com'",
        &[],
    )
    .await
    .unwrap();
    let r = a
        .http
        .post(format!("{}/token?grant_type=refresh_token", a.server.url))
        .header("apikey", &a.anon)
        .header("user-agent", "refresh-test/1.0")
        .json(&json!({"refresh_token": s["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["session_id"], session.as_str());
    assert_eq!(claims["aal"], "aal1");
    assert_eq!(claims["amr"][0]["method"], "password");
    assert_eq!(claims["email"], "rec@example.com");
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(body["expires_at"], claims["exp"]);
    // The user JSON as /user gives it (bar last_sign_in_at, which the refresh moved).
    let user = body["user"].clone();
    let me = a
        .get_as("/user", body["access_token"].as_str().unwrap())
        .await
        .body;
    assert_eq!(user, me);
    assert_eq!(user["identities"][0]["provider"], "email");
    assert_eq!(user["factors"][0]["friendly_name"], "phone app");
    assert_eq!(user["factors"][0]["status"], "unverified");
    let row = db
        .query_one(
            "SELECT u.last_sign_in_at > now() - interval '1 minute', s.refreshed_at IS NOT NULL, \
               s.user_agent, \
               (SELECT count(*) FROM auth.audit_log_entries \
                 WHERE payload ->> 'action' = 'token_refreshed' \
                   AND payload ->> 'actor_id' = u.id::text) \
             FROM auth.users u JOIN auth.sessions s ON s.user_id = u.id \
             WHERE s.id = $1::text::uuid",
            &[&session],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "last_sign_in_at moves on refresh");
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Option<String>>(2).unwrap(), "refresh-test/1.0");
    assert_eq!(row.get::<_, i64>(3), 1);

    // Banned users and expired sessions are refused as before.
    db.execute(
        "UPDATE auth.users SET banned_until = now() + interval '1 day' \
         WHERE email = 'rec@example.com'",
        &[],
    )
    .await
    .unwrap();
    let banned = refresh(&a, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(banned.status, 400);
    assert_eq!(banned.body["code"], "user_banned");
    let empty = refresh(&a, "").await;
    assert_eq!(empty.body["code"], "validation_failed");
    assert_eq!(empty.body["message"], "Refresh token is not valid");
}

#[tokio::test]
async fn a_database_without_the_refresh_function_still_refreshes() {
    let a = start(|c| c.refresh.reuse_interval = 0).await;
    let db = a.db.client().await;
    db.batch_execute("DROP FUNCTION auth.refresh_grant")
        .await
        .unwrap();
    let s = a.signup("nofn@example.com", "long-enough").await.body;
    let rt0 = s["refresh_token"].as_str().unwrap().to_string();
    let rt1 = rt(&refresh(&a, &rt0).await);
    let rt2 = rt(&refresh(&a, &rt1).await);
    let reuse = refresh(&a, &rt0).await;
    assert_eq!(reuse.body["code"], "refresh_token_already_used");
    let newest = refresh(&a, &rt2).await;
    assert_eq!(newest.body["code"], "refresh_token_already_used");
}

#[tokio::test]
async fn refreshes_count_against_the_token_limit_and_a_refused_one_changes_nothing() {
    let a = start(|c| c.rate_limits.token_refresh = 2).await;
    let s = a.signup("limit@example.com", "long-enough").await.body;
    let rt1 = rt(&refresh(&a, s["refresh_token"].as_str().unwrap()).await);
    let rt2 = rt(&refresh(&a, &rt1).await);
    let over = refresh(&a, &rt2).await;
    assert_eq!(over.status, 429, "{}", over.body);
    assert_eq!(over.body["code"], "over_request_rate_limit");
    // Rolled back: the token was not rotated and no child was made.
    let db = a.db.client().await;
    let row = db
        .query_one(
            "SELECT revoked, (SELECT count(*) FROM auth.refresh_tokens c WHERE c.parent = t.token) \
             FROM auth.refresh_tokens t WHERE token = $1",
            &[&rt2],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i64>(1), 0);
}
