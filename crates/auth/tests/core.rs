//! The core supabase-js flows against a real database: sign-up, password sign-in, refresh with
//! rotation, the user endpoints, logout, settings, health and the admin users API.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn signup_with_autoconfirm_returns_a_session_and_the_user() {
    let a = start(|_| {}).await;
    let r = a
        .post(
            "/signup",
            json!({"email": "Ann@Example.com", "password": "secret123", "data": {"name": "Ann"}, "gotrue_meta_security": {}, "code_challenge": null, "code_challenge_method": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["token_type"], "bearer");
    assert_eq!(b["expires_in"], 3600);
    assert!(b["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    assert!(b["refresh_token"].as_str().unwrap().len() >= 12);
    let user = &b["user"];
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["aud"], "authenticated");
    assert_eq!(user["role"], "authenticated");
    assert_eq!(user["user_metadata"]["name"], "Ann");
    assert_eq!(
        user["app_metadata"],
        json!({"provider": "email", "providers": ["email"]})
    );
    assert_eq!(user["identities"][0]["provider"], "email");
    assert_eq!(
        user["identities"][0]["identity_data"]["email_verified"],
        true
    );
    assert!(user["email_confirmed_at"].is_string());
    assert_eq!(user["is_anonymous"], false);

    let claims = claims_of(b["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(claims["aud"], "authenticated");
    assert_eq!(claims["aal"], "aal1");
    assert_eq!(claims["email"], "ann@example.com");
    assert_eq!(claims["amr"][0]["method"], "password");
    assert_eq!(claims["iss"], "http://127.0.0.1:54321/auth/v1");
    assert_eq!(claims["is_anonymous"], false);
    assert!(claims["session_id"].is_string());

    let me = a.get_as("/user", b["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], user["id"]);

    // Signing up again is refused while autoconfirm is on.
    let again = a.signup("ann@example.com", "secret123").await;
    assert_eq!(again.status, 422);
    assert_eq!(again.body["code"], "user_already_exists");
}

#[tokio::test]
async fn password_sign_in_and_wrong_passwords() {
    let a = start(|_| {}).await;
    assert_eq!(
        a.signup("bob@example.com", "correct-horse").await.status,
        200
    );
    let ok = a.sign_in("BOB@example.com", "correct-horse").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body["access_token"].is_string());
    assert!(ok.body["user"]["last_sign_in_at"].is_string());
    assert!(ok.body.get("weak_password").is_none());

    let bad = a.sign_in("bob@example.com", "wrong-horse").await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body,
        json!({"code": "invalid_credentials", "message": "Invalid login credentials"})
    );
    assert_eq!(
        bad.headers.get("x-supabase-api-version").unwrap(),
        "2024-01-01"
    );
    // The audit trail has the sign-up and the sign-ins, in GoTrue's payload shape.
    let db = a.db.client().await;
    let actions: Vec<String> = db
        .query(
            "SELECT payload ->> 'action' FROM auth.audit_log_entries \
             WHERE payload ->> 'actor_username' = 'bob@example.com' ORDER BY created_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(actions, vec!["user_signedup", "login", "login"]);
    let unknown = a.sign_in("nobody@example.com", "whatever").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["code"], "invalid_credentials");

    // Without the version header: the older error shape.
    let res = a
        .http
        .post(format!("{}/token?grant_type=password", a.server.url))
        .json(&json!({"email": "bob@example.com", "password": "nope-nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("x-supabase-api-version").is_none());
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"})
    );
}

#[tokio::test]
async fn weak_passwords_and_bad_signups() {
    let a = start(|c| c.password.min_length = 8).await;
    let weak = a.signup("c@example.com", "short").await;
    assert_eq!(weak.status, 422);
    assert_eq!(weak.body["code"], "weak_password");
    assert_eq!(weak.body["weak_password"]["reasons"], json!(["length"]));
    assert_eq!(
        weak.body["message"],
        "Password should be at least 8 characters."
    );
    let long = a.signup("c@example.com", &"x".repeat(73)).await;
    assert_eq!(long.status, 400);
    assert_eq!(long.body["code"], "validation_failed");
    let bad_email = a.signup("not-an-email", "long-enough").await;
    assert_eq!(bad_email.status, 400);
    assert_eq!(bad_email.body["code"], "validation_failed");
    let no_password = a.post("/signup", json!({"email": "d@example.com"})).await;
    assert_eq!(no_password.status, 400);
    assert_eq!(
        no_password.body["message"],
        "Signup requires a valid password"
    );
    let phone = a
        .post(
            "/signup",
            json!({"phone": "+15555550100", "password": "long-enough", "channel": "sms"}),
        )
        .await;
    assert_eq!(phone.status, 400);
    assert_eq!(phone.body["code"], "phone_provider_disabled");
}

#[tokio::test]
async fn signups_can_be_disabled() {
    let a = start(|c| c.disable_signup = true).await;
    let r = a.signup("e@example.com", "long-enough").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["code"], "signup_disabled");
    let s = a.get_as("/settings", &a.anon.clone()).await;
    assert_eq!(s.body["disable_signup"], true);
    // Codes and links for an unknown address would sign up: refused alike.
    for path in ["/otp", "/magiclink"] {
        let r = a.post(path, json!({"email": "new@example.com"})).await;
        assert_eq!(r.status, 422, "{path}");
        assert_eq!(r.body["code"], "signup_disabled");
    }
}

#[tokio::test]
async fn refresh_rotates_and_tolerates_a_quick_retry() {
    let a = start(|_| {}).await;
    let s = a.signup("f@example.com", "long-enough").await.body;
    let rt0 = s["refresh_token"].as_str().unwrap().to_string();
    let r1 = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": rt0}),
        )
        .await;
    assert_eq!(r1.status, 200, "{}", r1.body);
    let rt1 = r1.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt0, rt1);
    assert_eq!(
        claims_of(r1.body["access_token"].as_str().unwrap())["session_id"],
        claims_of(s["access_token"].as_str().unwrap())["session_id"]
    );
    // A second tab refreshing with the old token within the reuse interval gets the same child.
    let again = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": rt0}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["refresh_token"], rt1.as_str());
    // The child keeps working.
    let r2 = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": rt1}),
        )
        .await;
    assert_eq!(r2.status, 200);
    let malformed = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": "nope"}),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["code"], "validation_failed");
    assert_eq!(malformed.body["message"], "Refresh token is not valid");
    let missing = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": "abcdefghij12"}),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["code"], "refresh_token_not_found");
    assert_eq!(
        missing.body["message"],
        "Invalid Refresh Token: Refresh Token Not Found"
    );
}

#[tokio::test]
async fn refresh_token_reuse_past_the_interval_revokes_the_session() {
    let a = start(|c| c.refresh.reuse_interval = 0).await;
    let s = a.signup("g@example.com", "long-enough").await.body;
    let rt0 = s["refresh_token"].as_str().unwrap().to_string();
    let r1 = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": rt0}),
        )
        .await;
    let rt1 = r1.body["refresh_token"].as_str().unwrap().to_string();
    let reuse = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": rt0}),
        )
        .await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.body["code"], "refresh_token_already_used");
    // The whole family is gone: the legitimate child no longer works either.
    let child = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": rt1}),
        )
        .await;
    assert_eq!(child.status, 400);
    assert_eq!(child.body["code"], "refresh_token_already_used");
}

#[tokio::test]
async fn update_user_metadata_password_and_email() {
    let a = start(|_| {}).await;
    let s = a.signup("h@example.com", "first-password").await.body;
    let token = s["access_token"].as_str().unwrap().to_string();
    let r = a
        .call(Method::PUT, "/user", &token, Some(json!({"data": {"name": "H", "drop": null}, "code_challenge": null, "code_challenge_method": null})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user_metadata"], json!({"name": "H"}));

    let same = a
        .call(
            Method::PUT,
            "/user",
            &token,
            Some(json!({"password": "first-password"})),
        )
        .await;
    assert_eq!(same.status, 422);
    assert_eq!(same.body["code"], "same_password");
    let weak = a
        .call(Method::PUT, "/user", &token, Some(json!({"password": "x"})))
        .await;
    assert_eq!(weak.body["code"], "weak_password");
    let pw = a
        .call(
            Method::PUT,
            "/user",
            &token,
            Some(json!({"password": "second-password"})),
        )
        .await;
    assert_eq!(pw.status, 200);
    assert_eq!(
        a.sign_in("h@example.com", "first-password").await.status,
        400
    );
    assert_eq!(
        a.sign_in("h@example.com", "second-password").await.status,
        200
    );

    // Even with autoconfirm, a permanent user's new address waits for its confirmation.
    let em = a
        .call(
            Method::PUT,
            "/user",
            &token,
            Some(json!({"email": "h2@example.com"})),
        )
        .await;
    assert_eq!(em.status, 200, "{}", em.body);
    assert_eq!(em.body["email"], "h@example.com");
    assert_eq!(em.body["new_email"], "h2@example.com");
    assert_eq!(
        a.sign_in("h2@example.com", "second-password").await.status,
        400
    );
    // Taken addresses are refused.
    a.signup("taken@example.com", "long-enough").await;
    let taken = a
        .call(
            Method::PUT,
            "/user",
            &token,
            Some(json!({"email": "taken@example.com"})),
        )
        .await;
    assert_eq!(taken.status, 422);
    assert_eq!(taken.body["code"], "email_exists");
    let admin_only = a
        .call(
            Method::PUT,
            "/user",
            &token,
            Some(json!({"app_metadata": {"role": "x"}})),
        )
        .await;
    assert_eq!(admin_only.status, 403);
    assert_eq!(admin_only.body["code"], "not_admin");
    assert_eq!(
        admin_only.body["message"],
        "Updating app_metadata requires admin privileges"
    );
}

#[tokio::test]
async fn logout_scopes() {
    let a = start(|_| {}).await;
    a.signup("i@example.com", "long-enough").await;
    let s1 = a.sign_in("i@example.com", "long-enough").await.body;
    let s2 = a.sign_in("i@example.com", "long-enough").await.body;
    let s3 = a.sign_in("i@example.com", "long-enough").await.body;
    let t = |s: &serde_json::Value| s["access_token"].as_str().unwrap().to_string();
    let bad = a
        .call(Method::POST, "/logout?scope=everything", &t(&s1), None)
        .await;
    assert_eq!(bad.status, 400);
    // others: s1 stays, s2 and s3 go.
    let r = a
        .call(Method::POST, "/logout?scope=others", &t(&s1), None)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(a.get_as("/user", &t(&s1)).await.status, 200);
    let gone = a.get_as("/user", &t(&s2)).await;
    assert_eq!(gone.status, 403);
    assert_eq!(gone.body["code"], "session_not_found");
    let refresh3 = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": s3["refresh_token"]}),
        )
        .await;
    assert_eq!(refresh3.status, 400);
    // local: only s1's session.
    let s4 = a.sign_in("i@example.com", "long-enough").await.body;
    assert_eq!(
        a.call(Method::POST, "/logout?scope=local", &t(&s1), None)
            .await
            .status,
        204
    );
    assert_eq!(a.get_as("/user", &t(&s1)).await.status, 403);
    assert_eq!(a.get_as("/user", &t(&s4)).await.status, 200);
    // global (default): everything.
    let s5 = a.sign_in("i@example.com", "long-enough").await.body;
    assert_eq!(
        a.call(Method::POST, "/logout", &t(&s4), None).await.status,
        204
    );
    assert_eq!(a.get_as("/user", &t(&s5)).await.status, 403);
}

#[tokio::test]
async fn settings_health_and_unknown_paths() {
    let a = start(|c| c.anonymous_enabled = true).await;
    let anon = a.anon.clone();
    let s = a.get_as("/settings", &anon).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["external"]["email"], true);
    assert_eq!(s.body["external"]["anonymous_users"], true);
    assert_eq!(s.body["external"]["github"], false);
    assert_eq!(s.body["mailer_autoconfirm"], true);
    let h = a.get_as("/health", &anon).await;
    assert_eq!(h.status, 200);
    assert!(h.body["version"].is_string());
    let nf = a.get_as("/nope", &anon).await;
    assert_eq!(nf.status, 404);
    assert_eq!(nf.body["code"], "not_found");
    let m = a.call(Method::DELETE, "/signup", &anon, None).await;
    assert_eq!(m.status, 405);
    let jwks = a.get_as("/.well-known/jwks.json", &anon).await;
    assert_eq!(jwks.body, json!({"keys": []}));
    let oidc = a.get_as("/.well-known/openid-configuration", &anon).await;
    assert_eq!(oidc.body["issuer"], "http://127.0.0.1:54321/auth/v1");
    assert_eq!(
        oidc.body["jwks_uri"],
        "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json"
    );
    let cb = a.get_as("/callback?code=x", &anon).await;
    assert_eq!(cb.status, 302, "GoTrue redirects callbacks with 302 Found");
    assert!(cb
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("error_code=bad_oauth_callback"));
    let user = a.signup("links@example.com", "long-enough").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let link = a
        .get_as("/user/identities/authorize?provider=github", &user)
        .await;
    assert_eq!(link.status, 404);
    assert_eq!(link.body["code"], "manual_linking_disabled");
    assert_eq!(
        a.get_as("/user/identities/authorize", &anon).await.status,
        403
    );
    let oauth = a.get_as("/authorize?provider=github", &anon).await;
    assert_eq!(oauth.status, 400);
    assert_eq!(oauth.body["code"], "validation_failed");
}

#[tokio::test]
async fn admin_users_api() {
    let a = start(|_| {}).await;
    let service = a.service.clone();
    let anon = a.anon.clone();
    // Not for the anon key or users.
    let denied = a.get_as("/admin/users", &anon).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["code"], "not_admin");
    let user_token = a.signup("j@example.com", "long-enough").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(a.get_as("/admin/users", &user_token).await.status, 403);

    let created = a
        .call(
            Method::POST,
            "/admin/users",
            &service,
            Some(json!({"email": "k@example.com", "password": "long-enough", "email_confirm": true, "user_metadata": {"a": 1}, "app_metadata": {"plan": "pro"}})),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["user_metadata"], json!({"a": 1}));
    assert_eq!(created.body["app_metadata"]["plan"], "pro");
    assert_eq!(created.body["app_metadata"]["provider"], "email");
    assert_eq!(a.sign_in("k@example.com", "long-enough").await.status, 200);
    let dup = a
        .call(
            Method::POST,
            "/admin/users",
            &service,
            Some(json!({"email": "k@example.com"})),
        )
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.body["code"], "email_exists");
    for n in 0..3 {
        a.call(
            Method::POST,
            "/admin/users",
            &service,
            Some(json!({"email": format!("p{n}@example.com")})),
        )
        .await;
    }

    let page = a.get_as("/admin/users?page=1&per_page=2", &service).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["aud"], "authenticated");
    assert_eq!(page.body["users"].as_array().unwrap().len(), 2);
    assert_eq!(page.headers.get("x-total-count").unwrap(), "5");
    assert_eq!(
        page.headers.get("link").unwrap(),
        "</admin/users?page=2&per_page=2>; rel=\"next\", </admin/users?page=3&per_page=2>; rel=\"last\""
    );
    // supabase-js sends empty parameters when none are given.
    let empty = a.get_as("/admin/users?page=&per_page=", &service).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["users"].as_array().unwrap().len(), 5);

    let got = a.get_as(&format!("/admin/users/{id}"), &service).await;
    assert_eq!(got.body["email"], "k@example.com");
    let bad_id = a.get_as("/admin/users/not-a-uuid", &service).await;
    assert_eq!(bad_id.status, 404);
    assert_eq!(bad_id.body["code"], "validation_failed");
    let missing = a
        .get_as(&format!("/admin/users/{}", uuid::Uuid::new_v4()), &service)
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], "user_not_found");

    let updated = a
        .call(
            Method::PUT,
            &format!("/admin/users/{id}"),
            &service,
            Some(json!({"app_metadata": {"role": "x"}, "user_metadata": {"b": 2}, "password": "another-password", "ban_duration": "24h"})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["app_metadata"]["role"], "x");
    assert_eq!(updated.body["user_metadata"], json!({"a": 1, "b": 2}));
    assert!(updated.body["banned_until"].is_string());
    let banned = a.sign_in("k@example.com", "another-password").await;
    assert_eq!(banned.status, 400);
    assert_eq!(banned.body["code"], "user_banned");
    a.call(
        Method::PUT,
        &format!("/admin/users/{id}"),
        &service,
        Some(json!({"ban_duration": "none"})),
    )
    .await;
    assert_eq!(
        a.sign_in("k@example.com", "another-password").await.status,
        200
    );

    // Soft delete: the row stays for foreign keys, the address (obfuscated) and sign-in go.
    let soft = a
        .call(Method::POST, "/admin/users", &service, Some(json!({"email": "soft@example.com", "password": "long-enough", "email_confirm": true})))
        .await;
    let soft_id = soft.body["id"].as_str().unwrap().to_string();
    let r = a
        .call(
            Method::DELETE,
            &format!("/admin/users/{soft_id}"),
            &service,
            Some(json!({"should_soft_delete": true})),
        )
        .await;
    assert_eq!(r.status, 200);
    let kept = a.get_as(&format!("/admin/users/{soft_id}"), &service).await;
    assert!(kept.body["deleted_at"].is_string());
    // Its address is kept obfuscated (a 43-character hash), no longer an address.
    let kept_email = kept.body["email"].as_str().unwrap();
    assert_eq!(kept_email.len(), 43, "{kept_email}");
    assert!(!kept_email.contains('@'));
    assert_eq!(
        a.sign_in("soft@example.com", "long-enough").await.status,
        400
    );
    // The address is free again.
    assert_eq!(
        a.signup("soft@example.com", "long-enough").await.status,
        200
    );
    let del = a
        .call(
            Method::DELETE,
            &format!("/admin/users/{id}"),
            &service,
            Some(json!({"should_soft_delete": false})),
        )
        .await;
    assert_eq!(del.status, 200);
    assert_eq!(del.body, json!({}));
    assert_eq!(
        a.get_as(&format!("/admin/users/{id}"), &service)
            .await
            .status,
        404
    );
    assert_eq!(
        a.sign_in("k@example.com", "another-password").await.status,
        400
    );
}

#[tokio::test]
async fn users_made_by_other_tools_sign_in() {
    let a = start(|_| {}).await;
    let db = a.db.client().await;
    let id = uuid::Uuid::new_v4();
    // As Supabase seed files make them: pgcrypto's bcrypt, NULLs where GoTrue has defaults.
    db.execute(
        "INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, \
           email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at) \
         VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', \
           'seeded@example.com', extensions.crypt('seeded-password', extensions.gen_salt('bf')), \
           now(), '{\"provider\":\"email\",\"providers\":[\"email\"]}', '{}', now(), now())",
        &[&id],
    )
    .await
    .unwrap();
    // And one with a fixed $2a$ hash from the OpenBSD test vectors.
    db.execute(
        "INSERT INTO auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, created_at, updated_at) \
         VALUES (gen_random_uuid(), 'authenticated', 'authenticated', 'vector@example.com', \
           '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', now(), now(), now())",
        &[],
    )
    .await
    .unwrap();
    let r = a.sign_in("seeded@example.com", "seeded-password").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["id"], id.to_string());
    assert_eq!(r.body["user"]["identities"], json!([]));
    let v = a.sign_in("vector@example.com", "U*U").await;
    assert_eq!(v.status, 200, "{}", v.body);
    // A weak (short) password still signs in, with the warning supabase-js shows.
    assert_eq!(v.body["weak_password"]["reasons"], json!(["length"]));
    assert_eq!(a.sign_in("seeded@example.com", "wrong").await.status, 400);
}

#[tokio::test]
async fn access_tokens_make_auth_uid_work_under_rls() {
    let a = start(|_| {}).await;
    let s = a.signup("rls@example.com", "long-enough").await.body;
    let token = s["access_token"].as_str().unwrap();
    let user_id = s["user"]["id"].as_str().unwrap();
    let mut db = a.db.client().await;
    db.batch_execute(
        "CREATE TABLE public.notes (id serial PRIMARY KEY, owner uuid NOT NULL, body text);
         ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON public.notes USING (owner = auth.uid());
         GRANT ALL ON public.notes TO authenticated;",
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO public.notes (owner, body) VALUES ($1::text::uuid, 'mine'), (gen_random_uuid(), 'theirs')",
        &[&user_id],
    )
    .await
    .unwrap();
    // What the REST layer does with a verified token: role and claims for the transaction.
    let claims = claims_of(token);
    let tx = db.transaction().await.unwrap();
    tx.execute(
        "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
        &[&claims["role"].as_str().unwrap(), &claims.to_string()],
    )
    .await
    .unwrap();
    let uid: String = tx
        .query_one("SELECT auth.uid()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(uid, user_id);
    let role: String = tx
        .query_one("SELECT auth.role()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(role, "authenticated");
    let rows = tx
        .query("SELECT body FROM public.notes", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "mine");
}

#[tokio::test]
async fn sessions_end_at_their_timebox_and_after_inactivity() {
    let a = start(|c| c.refresh.timebox = Some(std::time::Duration::from_secs(1))).await;
    let s = a.signup("tb@example.com", "long-enough").await.body;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": s["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "session_expired");
    assert_eq!(r.body["message"], "Invalid Refresh Token: Session Expired");

    let b = start(|c| c.refresh.inactivity_timeout = Some(std::time::Duration::from_secs(1))).await;
    let s = b.signup("idle@example.com", "long-enough").await.body;
    let r = b
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": s["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let idle = b
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": r.body["refresh_token"]}),
        )
        .await;
    assert_eq!(idle.status, 400);
    assert_eq!(idle.body["code"], "session_expired");
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_get_one_child() {
    let a = start(|_| {}).await;
    let s = a.signup("tabs@example.com", "long-enough").await.body;
    let body = json!({"refresh_token": s["refresh_token"]});
    let (r1, r2, r3) = tokio::join!(
        a.post("/token?grant_type=refresh_token", body.clone()),
        a.post("/token?grant_type=refresh_token", body.clone()),
        a.post("/token?grant_type=refresh_token", body.clone()),
    );
    for r in [&r1, &r2, &r3] {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(r1.body["refresh_token"], r2.body["refresh_token"]);
    assert_eq!(r2.body["refresh_token"], r3.body["refresh_token"]);
    let db = a.db.client().await;
    let live: i64 = db
        .query_one(
            "SELECT count(*) FROM auth.refresh_tokens WHERE revoked = false",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 1);
}

#[tokio::test]
async fn triggers_on_auth_users_see_new_users() {
    let a = start(|_| {}).await;
    let db = a.db.client().await;
    // The profile pattern most Supabase projects use.
    db.batch_execute(
        "CREATE TABLE public.profiles (id uuid PRIMARY KEY REFERENCES auth.users ON DELETE CASCADE,
           email text, full_name text);
         CREATE FUNCTION public.handle_new_user() RETURNS trigger
         LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
         BEGIN
           INSERT INTO public.profiles (id, email, full_name)
           VALUES (new.id, new.email, new.raw_user_meta_data ->> 'full_name');
           RETURN new;
         END $$;
         CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
           FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();",
    )
    .await
    .unwrap();
    let s = a
        .post("/signup", json!({"email": "prof@example.com", "password": "long-enough", "data": {"full_name": "Pro File"}}))
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    let row = db
        .query_one("SELECT email, full_name FROM public.profiles", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "prof@example.com");
    assert_eq!(row.get::<_, String>(1), "Pro File");
    // Deleting the user cascades to the profile.
    let service = a.service.clone();
    let id = s.body["user"]["id"].as_str().unwrap();
    a.call(
        Method::DELETE,
        &format!("/admin/users/{id}"),
        &service,
        None,
    )
    .await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM public.profiles", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn custom_access_token_hook_adds_claims_and_can_refuse() {
    let a = start(|c| {
        c.access_token_hook = Some("pg-functions://postgres/public/custom_access_token_hook".into())
    })
    .await;
    let db = a.db.client().await;
    // As the Supabase RBAC guide writes it: the hook runs as supabase_auth_admin.
    db.batch_execute(
        "CREATE TABLE public.user_roles (user_id uuid PRIMARY KEY, role text NOT NULL);
         GRANT SELECT ON public.user_roles TO supabase_auth_admin;
         CREATE FUNCTION public.custom_access_token_hook(event jsonb) RETURNS jsonb
         LANGUAGE plpgsql STABLE AS $$
         DECLARE claims jsonb; r text;
         BEGIN
           IF event #>> '{claims,email}' = 'blocked@example.com' THEN
             RETURN jsonb_build_object('error', jsonb_build_object('http_code', 403, 'message', 'Blocked by policy'));
           END IF;
           SELECT role INTO r FROM public.user_roles WHERE user_id = (event ->> 'user_id')::uuid;
           claims := event -> 'claims';
           claims := jsonb_set(claims, '{user_role}', coalesce(to_jsonb(r), 'null'::jsonb));
           claims := jsonb_set(claims, '{auth_method}', to_jsonb(event ->> 'authentication_method'));
           RETURN jsonb_build_object('claims', claims);
         END $$;
         GRANT EXECUTE ON FUNCTION public.custom_access_token_hook TO supabase_auth_admin;
         REVOKE EXECUTE ON FUNCTION public.custom_access_token_hook FROM authenticated, anon, public;",
    )
    .await
    .unwrap();
    let s = a.signup("hooked@example.com", "long-enough").await;
    assert_eq!(s.status, 200, "{}", s.body);
    let claims = claims_of(s.body["access_token"].as_str().unwrap());
    assert_eq!(claims["user_role"], serde_json::Value::Null);
    assert_eq!(claims["auth_method"], "password");
    db.execute(
        "INSERT INTO public.user_roles VALUES ($1::text::uuid, 'admin')",
        &[&s.body["user"]["id"].as_str().unwrap()],
    )
    .await
    .unwrap();
    let r = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": s.body["refresh_token"]}),
        )
        .await;
    let claims = claims_of(r.body["access_token"].as_str().unwrap());
    assert_eq!(claims["user_role"], "admin");
    assert_eq!(claims["auth_method"], "token_refresh");

    let blocked = a.signup("blocked@example.com", "long-enough").await;
    assert_eq!(blocked.status, 403);
    assert_eq!(blocked.body["message"], "Blocked by policy");
    // The refused sign-up left nothing behind.
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM auth.users WHERE email = 'blocked@example.com'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn standalone_from_gotrue_variables_on_an_empty_database() {
    let cluster = tokio::task::spawn_blocking(basalt_testkit::cluster)
        .await
        .unwrap()
        .clone();
    let name = format!("auth_standalone_{}", std::process::id());
    let admin = basalt_pg::pool::connect(&cluster.url("postgres"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0"))
        .await
        .unwrap();
    let url = cluster.url(&name);
    let vars: std::collections::HashMap<&str, String> = [
        ("GOTRUE_DB_DATABASE_URL", url.clone()),
        ("GOTRUE_JWT_SECRET", SECRET.to_string()),
        ("API_EXTERNAL_URL", "http://auth.test".to_string()),
        ("GOTRUE_SITE_URL", "http://app.test".to_string()),
        ("GOTRUE_MAILER_AUTOCONFIRM", "true".to_string()),
        ("GOTRUE_JWT_EXP", "120".to_string()),
    ]
    .into_iter()
    .collect();
    let config = basalt_auth::Config::from_vars(|k| vars.get(k).cloned()).unwrap();
    assert!(config.install_schema);
    let server = basalt_testkit::serve(basalt_auth::router(config).await.unwrap()).await;
    let res = reqwest::Client::new()
        .post(format!("{}/signup", server.url))
        .json(&json!({"email": "alone@example.com", "password": "long-enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 120);
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["iss"],
        "http://auth.test"
    );
    drop(server);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}
