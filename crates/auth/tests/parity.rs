//! Details supabase-js and supabase-py users see: what the admin API accepts when creating
//! users, where a followed email link puts its session or its error (fragment, query, the `sb`
//! marker), links of PKCE flows (and of lost flow states), email changes under autoconfirm and
//! by the admin API, soft deletes, and the fields of `GET /settings`.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Split a redirect into the part before `#` and the fragment's parameters.
fn fragment_of(location: &str) -> (String, std::collections::HashMap<String, String>) {
    let (base, frag) = location.split_once('#').unwrap_or((location, ""));
    (base.to_string(), params(frag))
}

/// The `token` parameter of an email link.
fn token_of(link: &str) -> String {
    params(link.split_once('?').unwrap().1)["token"].clone()
}

#[tokio::test]
async fn admin_created_users_skip_the_password_rules() {
    let a = start(|_| {}).await;
    let service = a.service.clone();

    // An admin may give a user any password; the user still signs in with it (and is told
    // it is weak, as at every sign-in).
    let made = a
        .admin_post(
            "/admin/users",
            json!({"email": "short@example.com", "password": "1", "email_confirm": true}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let signed = a.sign_in("short@example.com", "1").await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(signed.body["weak_password"]["reasons"], json!(["length"]));

    // Neither address nor phone.
    let none = a
        .admin_post("/admin/users", json!({"password": "whatever"}))
        .await;
    none.assert_error(
        400,
        "validation_failed",
        Some("Cannot create a user without either an email or phone"),
    );

    // A password and a hash at once.
    let both = a
        .admin_post(
            "/admin/users",
            json!({"email": "both@example.com", "password": "long-enough",
               "password_hash": "$2a$10$abcdefghijklmnopqrstuu7B2Wv0jdX6yq2mYVmKqYQ0JfFQm7zyK"}),
        )
        .await;
    assert_eq!(both.status, 400);
    assert_eq!(
        both.body["message"],
        "Only a password or a password hash should be provided"
    );

    // A taken phone number, in the admin API's words.
    let first = a
        .admin_post("/admin/users", json!({"phone": "+15550001111"}))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = a
        .admin_post("/admin/users", json!({"phone": "+15550001111"}))
        .await;
    again.assert_error(
        422,
        "phone_exists",
        Some("Phone number already registered by another user"),
    );

    // Ids that are not ids.
    let r = a
        .call(Method::GET, "/admin/users/not-a-uuid", &service, None)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("validation_failed"))
    );
    assert_eq!(r.body["message"], "user_id must be an UUID");
    let nil = a
        .admin_post(
            "/admin/users",
            json!({"email": "nil@example.com", "id": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_eq!(
        (nil.status, nil.body["message"].as_str()),
        (400, Some("ID cannot be a nil uuid"))
    );
    let bad = a
        .admin_post(
            "/admin/users",
            json!({"email": "bad@example.com", "id": "x"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["message"].as_str()),
        (400, Some("ID must conform to the uuid v4 format"))
    );

    // Updating a password through the admin API does check it.
    let id = made.body["id"].as_str().unwrap();
    let weak = a
        .call(
            Method::PUT,
            &format!("/admin/users/{id}"),
            &service,
            Some(json!({"password": "2"})),
        )
        .await;
    weak.assert_error(422, "weak_password", None);
    assert_eq!(weak.body["weak_password"]["reasons"], json!(["length"]));
}

#[tokio::test]
async fn followed_links_put_sessions_and_errors_in_the_fragment() {
    let a = start(|c| c.mailer.autoconfirm = false).await;
    let anon = a.anon.clone();
    let r = a
        .post(
            "/signup?redirect_to=http%3A%2F%2Flocalhost%3A3000%2Fcb%3Fnext%3D%252Fhome",
            json!({"email": "imp@example.com", "password": "long-enough"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let link = link_of(&a.mail("imp@example.com").await[0]);
    assert!(!token_of(&link).starts_with("pkce_"), "{link}");

    // Success: the session in the fragment, with the `sb` marker; the query as it was.
    let (base, f) = fragment_of(&a.follow(&link).await);
    assert_eq!(base, "http://localhost:3000/cb?next=%2Fhome");
    assert_eq!(f["type"], "signup");
    assert_eq!(f.get("sb").map(String::as_str), Some(""));
    assert_eq!(a.get_as("/user", &f["access_token"]).await.status, 200);

    // Used again: the error in the fragment only (an implicit flow), query untouched.
    let (base, f) = fragment_of(&a.follow(&link).await);
    assert_eq!(base, "http://localhost:3000/cb?next=%2Fhome");
    assert_eq!(f["error"], "access_denied");
    assert_eq!(f["error_code"], "otp_expired");
    assert_eq!(
        f["error_description"],
        "Email link is invalid or has expired"
    );
    assert_eq!(f.get("sb").map(String::as_str), Some(""));

    // A token hash nobody holds is refused as a link is.
    let r = a
        .post("/verify", json!({"type": "signup", "token_hash": "abc"}))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("otp_expired"))
    );
    assert_eq!(r.body["message"], "Email link is invalid or has expired");
    let r = a
        .post("/verify", json!({"type": "sms", "token_hash": "abc"}))
        .await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (400, Some("Invalid email verification type"))
    );

    // A token hash is verified alone.
    let r = a
        .post(
            "/verify",
            json!({"type": "email", "token_hash": "abc", "email": "imp@example.com"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Only the token_hash and type should be provided"
    );

    // A link without a type or a token is refused outright, in JSON.
    for (path, message) in [
        ("/verify?token=abc", "Verify requires a verification type"),
        (
            "/verify?type=signup",
            "Verify requires a token or a token hash",
        ),
    ] {
        let r = a.get_as(path, &anon).await;
        r.assert_error(400, "validation_failed", None);
        assert_eq!(r.body["message"], message);
    }
}

#[tokio::test]
async fn pkce_links_carry_the_flow_marker_and_errors_in_the_query() {
    let a = start(|c| c.mailer.autoconfirm = false).await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let signup = |email: &'static str| {
        a.post(
            "/signup",
            json!({"email": email, "password": "long-enough",
                   "code_challenge": challenge, "code_challenge_method": "s256"}),
        )
    };
    assert_eq!(signup("pk@example.com").await.status, 200);
    let link = link_of(&a.mail("pk@example.com").await[0]);
    let token = token_of(&link);
    assert!(token.starts_with("pkce_"), "{link}");
    assert_eq!(a.confirmation_token("pk@example.com").await, token);

    // The link leads to `?code=`, which the verifier exchanges.
    let location = a.follow(&link).await;
    assert!(!location.contains('#'), "{location}");
    let code = params(location.split_once('?').unwrap().1)["code"].clone();
    let s = a
        .post(
            "/token?grant_type=pkce",
            json!({"auth_code": code, "code_verifier": verifier}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.body);

    // Followed again: the error in the query (for a server-side callback) and the fragment.
    let location = a.follow(&link).await;
    let (base, f) = fragment_of(&location);
    let q = params(base.split_once('?').unwrap().1);
    for p in [&q, &f] {
        assert_eq!(p["error"], "access_denied", "{location}");
        assert_eq!(p["error_code"], "otp_expired");
        assert_eq!(
            p["error_description"],
            "Email link is invalid or has expired"
        );
    }
    assert!(!q.contains_key("sb"));

    // An auth code left too long is refused as expired.
    assert_eq!(signup("pk3@example.com").await.status, 200);
    let late = a
        .follow(&link_of(&a.mail("pk3@example.com").await[0]))
        .await;
    let late_code = params(late.split_once('?').unwrap().1)["code"].clone();
    a.db.client()
        .await
        .execute(
            "UPDATE auth.flow_state SET auth_code_issued_at = now() - interval '1 hour' \
             WHERE auth_code = $1",
            &[&late_code],
        )
        .await
        .unwrap();
    let r = a
        .post(
            "/token?grant_type=pkce",
            json!({"auth_code": late_code, "code_verifier": verifier}),
        )
        .await;
    r.assert_error(
        422,
        "flow_state_expired",
        Some("invalid flow state, flow state has expired"),
    );

    // The emailed code of a PKCE sign-up verifies too.
    assert_eq!(signup("pk2@example.com").await.status, 200);
    let otp = a.otp("pk2@example.com").await;
    let v = a
        .post(
            "/verify",
            json!({"type": "email", "email": "pk2@example.com", "token": otp}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["user"]["email"], "pk2@example.com");
}

#[tokio::test]
async fn refused_tokens_are_worded_as_supabase_auth_words_them() {
    let a = start(|_| {}).await;
    let garbage = a.get_as("/user", "garbage").await;
    garbage.assert_error(403, "bad_jwt", Some("invalid JWT: unable to parse or verify signature, token is malformed: token contains an invalid number of segments"));
    let session = a.signup("sig@example.com", "long-enough").await.body;
    let token = session["access_token"].as_str().unwrap();
    let forged = format!("{}.c2lnbmF0dXJl", token.rsplit_once('.').unwrap().0);
    let bad = a.get_as("/user", &forged).await;
    assert_eq!(bad.status, 403);
    assert_eq!(
        bad.body["message"],
        "invalid JWT: unable to parse or verify signature, token signature is invalid: signature is invalid"
    );
}

#[tokio::test]
async fn reauthentication_by_text_and_its_refusals() {
    let a = start(|c| {
        c.phone_enabled = true;
        c.sms.autoconfirm = true;
        c.secure_password_change = true;
        c.anonymous_enabled = true;
    })
    .await;
    let s = a
        .post(
            "/signup",
            json!({"phone": "+15555550142", "password": "long-enough"}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    let token = s.body["access_token"].as_str().unwrap().to_string();

    // A phone user's nonce comes by text message.
    let r = a.get_as("/reauthenticate", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({}));
    let nonce = a.otp("15555550142").await;
    let wrong = a
        .update_user(
            &token,
            json!({"password": "next-password", "nonce": "000000"}),
        )
        .await;
    wrong.assert_error(
        422,
        "reauthentication_not_valid",
        Some("Nonce has expired or is invalid"),
    );
    let ok = a
        .update_user(&token, json!({"password": "next-password", "nonce": nonce}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Nobody to send a nonce to.
    let anon = a.post("/signup", json!({})).await.body;
    let r = a
        .get_as("/reauthenticate", anon["access_token"].as_str().unwrap())
        .await;
    r.assert_error(
        400,
        "validation_failed",
        Some("Reauthentication requires the user to have an email or a phone number"),
    );

    // An address not confirmed yet.
    let service = a.service.clone();
    let made = a
        .call(
            Method::POST,
            "/admin/users",
            &service,
            Some(json!({"email": "unconfirmed@example.com", "password": "long-enough"})),
        )
        .await;
    let now = chrono::Utc::now().timestamp();
    let forged = sign(&json!({"sub": made.body["id"], "role": "authenticated",
        "aud": "authenticated", "exp": now + 600, "iat": now}));
    let r = a.get_as("/reauthenticate", &forged).await;
    r.assert_error(422, "email_not_confirmed", None);
    assert_eq!(r.body["message"], "Please verify your email first.");
}

#[tokio::test]
async fn weak_password_reasons_and_words() {
    let a = start(|c| {
        c.password.min_length = 8;
        c.password.required_characters = vec![
            "abcdefghijklmnopqrstuvwxyz".into(),
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ".into(),
            "0123456789".into(),
        ];
    })
    .await;
    let r = a.signup("pw@example.com", "short").await;
    r.assert_error(422, "weak_password", None);
    assert_eq!(
        r.body["weak_password"]["reasons"],
        json!(["length", "characters"])
    );
    assert_eq!(
        r.body["message"],
        "Password should be at least 8 characters. Password should contain at least one \
         character of each: abcdefghijklmnopqrstuvwxyz, ABCDEFGHIJKLMNOPQRSTUVWXYZ, 0123456789."
    );
    assert_eq!(a.signup("pw@example.com", "Good-Pass1").await.status, 200);
}

#[tokio::test]
async fn resending_an_email_change_mails_both_addresses_again() {
    let a = start(|_| {}).await;
    let token = a.signed_up("cur@example.com", "long-enough").await;
    let r = a
        .update_user(&token, json!({"email": "next@example.com"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first_current = link_of(&a.mail("cur@example.com").await[0]);
    let again = a
        .post(
            "/resend",
            json!({"type": "email_change", "email": "cur@example.com"}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    let to_current = a.mail("cur@example.com").await;
    let to_new = a.mail("next@example.com").await;
    assert_eq!((to_current.len(), to_new.len()), (2, 2));
    // The first links are spent by the new ones.
    let (_, f) = fragment_of(&a.follow(&first_current).await);
    assert_eq!(f["error_code"], "otp_expired");
    // Under autoconfirm one of the new links completes the change.
    let (_, f) = fragment_of(&a.follow(&link_of(&to_current[0])).await);
    assert!(f.contains_key("access_token"), "{f:?}");
    let me = a.get_as("/user", &token).await;
    assert_eq!(me.body["email"], "next@example.com");
}

#[tokio::test]
async fn wallet_sign_in_is_a_disabled_provider() {
    let a = start(|_| {}).await;
    let r = a
        .post(
            "/token?grant_type=web3",
            json!({"chain": "solana", "message": "m", "signature": "s"}),
        )
        .await;
    r.assert_error(
        422,
        "web3_provider_disabled",
        Some("Web3 provider is disabled"),
    );
}

#[tokio::test]
async fn saml_single_sign_on_is_disabled() {
    let a = start(|_| {}).await;
    let r = a.post("/sso", json!({"domain": "example.com"})).await;
    r.assert_error(404, "saml_provider_disabled", Some("SAML 2.0 is disabled"));
    let anon = a.anon.clone();
    let m = a.get_as("/sso/saml/metadata", &anon).await;
    m.assert_error(404, "saml_provider_disabled", None);
}

#[tokio::test]
async fn asking_again_too_soon_is_429_for_recovery_and_codes() {
    let a = start(|c| c.mailer.max_frequency = std::time::Duration::from_secs(60)).await;
    a.signed_up("soon@example.com", "long-enough").await;
    for path in ["/recover", "/otp", "/magiclink"] {
        let first_time = path == "/recover";
        let r = a.post(path, json!({"email": "soon@example.com"})).await;
        if first_time {
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            continue;
        }
        // Magic links and recovery share one per-user interval.
        r.assert_error(429, "over_email_send_rate_limit", None);
        let message = r.body["message"].as_str().unwrap();
        assert!(
            message.starts_with("For security purposes, you can only request this after "),
            "{message}"
        );
    }
    assert_eq!(a.mail("soon@example.com").await.len(), 1);
    let again = a
        .post("/recover", json!({"email": "soon@example.com"}))
        .await;
    assert_eq!(again.status, 429);

    // Without an address.
    let r = a.post("/recover", json!({})).await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (400, Some("Password recovery requires an email"))
    );
    let r = a.post("/magiclink", json!({})).await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (422, Some("Password recovery requires an email"))
    );
}

#[tokio::test]
async fn a_repeated_sign_up_is_an_error_under_either_autoconfirm() {
    // Email confirmations on, phone confirmations off (the Supabase CLI's default for phones).
    let a = start(|c| {
        c.mailer.autoconfirm = false;
        c.sms.autoconfirm = true;
    })
    .await;
    let service = a.service.clone();
    let made = a
        .call(
            Method::POST,
            "/admin/users",
            &service,
            Some(json!({"email": "twice@example.com", "password": "long-enough", "email_confirm": true})),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let again = a.signup("twice@example.com", "long-enough").await;
    again.assert_error(422, "user_already_exists", Some("User already registered"));
}

#[tokio::test]
async fn under_autoconfirm_a_code_for_a_new_address_is_a_magic_link() {
    let a = start(|_| {}).await;
    let r = a.post("/otp", json!({"email": "fresh@example.com"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mail = a.mail("fresh@example.com").await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["type"], "magiclink");
    let (_, f) = fragment_of(&a.follow(&link_of(&mail[0])).await);
    assert_eq!(f["type"], "magiclink");
    let me = a.get_as("/user", &f["access_token"]).await;
    assert!(me.body["email_confirmed_at"].is_string());
}

#[tokio::test]
async fn generated_links_as_the_admin_api_makes_them() {
    let a = start(|c| c.mailer.secure_email_change = false).await;
    let service = a.service.clone();
    let link = |body: Value| {
        let service = service.clone();
        let a = &a;
        async move {
            a.call(Method::POST, "/admin/generate_link", &service, Some(body))
                .await
        }
    };

    // A magic link for an unknown address signs the user up: a sign-up link.
    let r = link(json!({"type": "magiclink", "email": "gl-new@example.com"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["verification_type"], "signup");
    assert_eq!(r.body["email"], "gl-new@example.com");
    let action = r.body["action_link"].as_str().unwrap().to_string();
    assert!(action.contains("type=signup"), "{action}");
    let (_, f) = fragment_of(&a.follow(&action).await);
    assert_eq!(f["type"], "signup");

    // A sign-up link for a new address needs a password ...
    let r = link(json!({"type": "signup", "email": "gl-pw@example.com"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["message"], "Signup requires a valid password");
    // ... but not for an address waiting for its confirmation.
    let r = link(json!({"type": "invite", "email": "gl-wait@example.com"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = link(json!({"type": "signup", "email": "gl-wait@example.com", "data": {"k": 1}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user_metadata"]["k"], 1);

    // The current address's link exists only with secure email change.
    let r = link(
        json!({"type": "email_change_current", "email": "gl-wait@example.com",
                        "new_email": "gl-other@example.com"}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Enable secure email change to generate link for current email"
    );
    let r = link(json!({"type": "bogus", "email": "gl-wait@example.com"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Invalid email action link type requested: bogus"
    );
}

#[tokio::test]
async fn a_new_password_ends_sessions_and_voids_emailed_links() {
    let a = start(|_| {}).await;
    let s = a.signup("pwreset@example.com", "long-enough").await.body;
    let token = s["access_token"].as_str().unwrap().to_string();
    let id = s["user"]["id"].as_str().unwrap().to_string();

    // The user changes it: a pending recovery link dies, this session lives on.
    let other = a.sign_in("pwreset@example.com", "long-enough").await.body;
    assert_eq!(
        a.post("/recover", json!({"email": "pwreset@example.com"}))
            .await
            .status,
        200
    );
    let recovery = link_of(&a.mail("pwreset@example.com").await[0]);
    let r = a
        .update_user(&token, json!({"password": "second-password"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.get_as("/user", &token).await.status, 200);
    let gone = a
        .get_as("/user", other["access_token"].as_str().unwrap())
        .await;
    assert_eq!(gone.body["code"], "session_not_found");
    let (_, f) = fragment_of(&a.follow(&recovery).await);
    assert_eq!(f["error_code"], "otp_expired");

    // The admin sets one: every session ends.
    let service = a.service.clone();
    let r = a
        .call(
            Method::PUT,
            &format!("/admin/users/{id}"),
            &service,
            Some(json!({"password": "third-password"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = a.get_as("/user", &token).await;
    after.assert_error(403, "session_not_found", None);
    assert_eq!(
        a.sign_in("pwreset@example.com", "third-password")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn message_channels_are_checked() {
    let a = start(|c| c.phone_enabled = true).await;
    // WhatsApp needs Twilio; none is configured here.
    for (path, body) in [
        (
            "/otp",
            json!({"phone": "+15555550188", "channel": "whatsapp"}),
        ),
        (
            "/signup",
            json!({"phone": "+15555550188", "password": "long-enough", "channel": "whatsapp"}),
        ),
        (
            "/otp",
            json!({"phone": "+15555550188", "channel": "pigeon"}),
        ),
    ] {
        let r = a.post(path, body).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid channel, supported values are 'sms' or 'whatsapp'."),
            "{}",
            r.body
        );
    }
    let r = a
        .post("/otp", json!({"email": "ch@example.com", "channel": "sms"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Channel should only be specified with Phone OTP"
    );
    // Text messages need nothing more.
    let r = a
        .post("/otp", json!({"phone": "+15555550188", "channel": "sms"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn admin_user_list_sorting_and_links() {
    let a = start(|_| {}).await;
    let service = a.service.clone();
    for n in 1..=3 {
        a.signed_up(&format!("list{n}@example.com"), "long-enough")
            .await;
    }
    let asc = a
        .get_as("/admin/users?sort=created_at%20asc&per_page=2", &service)
        .await;
    assert_eq!(asc.status, 200, "{}", asc.body);
    assert_eq!(asc.body["users"][0]["email"], "list1@example.com");
    assert_eq!(
        asc.headers.get("link").unwrap(),
        "</admin/users?page=2&per_page=2&sort=created_at+asc>; rel=\"next\", \
         </admin/users?page=2&per_page=2&sort=created_at+asc>; rel=\"last\""
    );
    let desc = a.get_as("/admin/users", &service).await;
    assert_eq!(desc.body["users"][0]["email"], "list3@example.com");
    assert_eq!(
        desc.headers.get("link").unwrap(),
        "</admin/users?page=1>; rel=\"last\""
    );
    let bad = a.get_as("/admin/users?sort=email", &service).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body["message"],
        "Bad Sort Parameters: bad field for sort 'email'"
    );
    let bad = a.get_as("/admin/users?per_page=abc", &service).await;
    assert_eq!(
        bad.body["message"],
        "Bad Pagination Parameters: strconv.ParseUint: parsing \"abc\": invalid syntax"
    );
}

#[tokio::test]
async fn a_ban_refuses_tokens_and_lifting_it_restores_them() {
    let a = start(|_| {}).await;
    let s = a.signup("banned@example.com", "long-enough").await.body;
    let token = s["access_token"].as_str().unwrap().to_string();
    let refresh = s["refresh_token"].as_str().unwrap().to_string();
    let id = s["user"]["id"].as_str().unwrap().to_string();
    let service = a.service.clone();
    let ban = |duration: &'static str| {
        let (a, service, id) = (&a, service.clone(), id.clone());
        async move {
            a.call(
                Method::PUT,
                &format!("/admin/users/{id}"),
                &service,
                Some(json!({"ban_duration": duration})),
            )
            .await
        }
    };
    assert_eq!(ban("24h").await.status, 200);
    let me = a.get_as("/user", &token).await;
    me.assert_error(403, "user_banned", Some("User is banned"));
    let r = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("user_banned"))
    );
    // Lifted: the same session works again.
    assert_eq!(ban("none").await.status, 200);
    assert_eq!(a.get_as("/user", &token).await.status, 200);

    // A session id that is not one.
    let now = chrono::Utc::now().timestamp();
    let odd = sign(
        &json!({"sub": id, "role": "authenticated", "aud": "authenticated",
        "exp": now + 600, "session_id": "nope"}),
    );
    let r = a.get_as("/user", &odd).await;
    r.assert_error(
        403,
        "bad_jwt",
        Some("invalid claim: session_id claim must be a UUID"),
    );
}

#[tokio::test]
async fn a_second_unnamed_factor_conflicts_with_the_first() {
    let a = start(|_| {}).await;
    let token = a.signed_up("mfa2@example.com", "long-enough").await;
    let enroll = |body: Value| {
        let (a, token) = (&a, token.clone());
        async move { a.call(Method::POST, "/factors", &token, Some(body)).await }
    };
    let first = enroll(json!({"factor_type": "totp"})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["friendly_name"], "");
    let second = enroll(json!({"factor_type": "totp"})).await;
    second.assert_error(
        422,
        "mfa_factor_name_conflict",
        Some("A factor with the friendly name \"\" for this user already exists"),
    );
    let named = enroll(json!({"factor_type": "totp", "friendly_name": "phone"})).await;
    assert_eq!(named.status, 200, "{}", named.body);
}

#[tokio::test]
async fn resend_checks_its_parameters_and_resends_number_changes() {
    let a = start(|c| {
        c.phone_enabled = true;
        c.sms.max_frequency = std::time::Duration::ZERO;
    })
    .await;
    for (body, message) in [
        (
            json!({"type": "signup"}),
            "Type provided requires an email address",
        ),
        (
            json!({"type": "sms"}),
            "Type provided requires a phone number",
        ),
        (
            json!({"type": "signup", "email": "r@example.com", "phone": "+15555550160"}),
            "Only an email address or phone number should be provided.",
        ),
        (
            json!({"type": "email_change"}),
            "Missing email address or phone number",
        ),
    ] {
        let r = a.post("/resend", body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body["message"], message, "{body}");
    }

    // A phone user changing number: the code for the new number is sent again.
    let s = a
        .post(
            "/signup",
            json!({"phone": "+15555550160", "password": "long-enough"}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    let code = a.otp("15555550160").await;
    let v = a
        .post(
            "/verify",
            json!({"phone": "+15555550160", "token": code, "type": "sms"}),
        )
        .await;
    let token = v.body["access_token"].as_str().unwrap().to_string();
    let r = a
        .update_user(&token, json!({"phone": "+15555550161"}))
        .await;
    assert_eq!(r.body["new_phone"], "15555550161", "{}", r.body);
    let r = a
        .post(
            "/resend",
            json!({"type": "phone_change", "phone": "+15555550160"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let texts = a.mail("15555550161").await;
    assert_eq!(texts.len(), 2);
    let v = a
        .post(
            "/verify",
            json!({"phone": "+15555550161", "token": texts[0]["otp"], "type": "phone_change"}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["user"]["phone"], "15555550161");
}

#[tokio::test]
async fn settings_have_every_field() {
    let a = start(|_| {}).await;
    let anon = a.anon.clone();
    let s = a.get_as("/settings", &anon).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["external"]["snapchat"], false);
    // Exactly the providers Supabase Auth lists.
    let mut names: Vec<&str> = s.body["external"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            "anonymous_users",
            "apple",
            "azure",
            "bitbucket",
            "discord",
            "email",
            "facebook",
            "figma",
            "fly",
            "github",
            "gitlab",
            "google",
            "kakao",
            "keycloak",
            "linkedin",
            "linkedin_oidc",
            "notion",
            "phone",
            "slack",
            "slack_oidc",
            "snapchat",
            "spotify",
            "twitch",
            "twitter",
            "workos",
            "zoom"
        ]
    );
    assert_eq!(s.body["saml_enabled"], false);
    assert_eq!(s.body["saml_private_key_next_configured"], false);
    assert_eq!(s.body["passkeys_enabled"], false);
    assert_eq!(s.body["sms_provider"], "");
}

#[tokio::test]
async fn with_autoconfirm_only_anonymous_users_change_address_at_once() {
    let a = start(|c| c.anonymous_enabled = true).await;
    let session = a.signup("perm@example.com", "long-enough").await.body;
    let token = session["access_token"].as_str().unwrap().to_string();
    let change = |token: String, email: &'static str| {
        let a = &a;
        async move { a.update_user(&token, json!({"email": email})).await }
    };

    // A permanent user: the change waits for a confirmation, sent to both addresses.
    let r = change(token.clone(), "perm2@example.com").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["email"], "perm@example.com");
    assert_eq!(r.body["new_email"], "perm2@example.com");
    assert!(r.body["email_change_sent_at"].is_string());
    let to_new = a.mail("perm2@example.com").await;
    assert_eq!(to_new.len(), 1);
    assert_eq!(to_new[0]["type"], "email_change");
    assert_eq!(a.mail("perm@example.com").await.len(), 1);
    // Under autoconfirm one confirmation completes it.
    let (_, f) = fragment_of(&a.follow(&link_of(&to_new[0])).await);
    assert!(f.contains_key("access_token"), "{f:?}");
    let me = a.get_as("/user", &token).await;
    assert_eq!(me.body["email"], "perm2@example.com");
    assert!(
        me.body.get("new_email").is_none_or(Value::is_null),
        "{}",
        me.body
    );

    // An anonymous user: the address is theirs at once, and they are anonymous no more.
    let anon = a.post("/signup", json!({})).await.body;
    let anon_token = anon["access_token"].as_str().unwrap().to_string();
    let r = change(anon_token, "was-anon@example.com").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["email"], "was-anon@example.com");
    assert_eq!(r.body["is_anonymous"], false);
    assert!(a.mail("was-anon@example.com").await.is_empty());
}

#[tokio::test]
async fn a_pkce_link_whose_flow_state_is_gone_signs_nobody_in() {
    let a = start(|c| c.mailer.autoconfirm = false).await;
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let r = a
        .post(
            "/signup",
            json!({"email": "gone@example.com", "password": "long-enough",
                   "code_challenge": challenge, "code_challenge_method": "s256"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let link = link_of(&a.mail("gone@example.com").await[0]);
    assert!(token_of(&link).starts_with("pkce_"), "{link}");
    let db = a.db.client().await;
    db.execute(
        "DELETE FROM auth.flow_state WHERE user_id = \
           (SELECT id FROM auth.users WHERE email = 'gone@example.com')",
        &[],
    )
    .await
    .unwrap();

    // The browser is sent back with the error (query and fragment), not with a session.
    let location = a.follow(&link).await;
    let (base, f) = fragment_of(&location);
    let q = params(base.split_once('?').unwrap().1);
    for p in [&q, &f] {
        assert_eq!(p["error"], "invalid_request", "{location}");
        assert_eq!(p["error_code"], "flow_state_not_found");
        assert_eq!(
            p["error_description"],
            "No associated flow state found. 422: No valid flow state found for user."
        );
    }
    assert!(!q.contains_key("code") && !f.contains_key("access_token"));

    // Nothing was verified and no session exists.
    let row = db
        .query_one(
            "SELECT email_confirmed_at IS NULL, confirmation_token, \
               (SELECT count(*) FROM auth.sessions s WHERE s.user_id = u.id) \
             FROM auth.users u WHERE email = 'gone@example.com'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, String>(1), token_of(&link));
    assert_eq!(row.get::<_, i64>(2), 0);
}

#[tokio::test]
async fn an_admin_email_change_confirms_only_when_told() {
    let a = start(|c| c.mailer.autoconfirm = false).await;
    let service = a.service.clone();
    let created = a
        .admin_post(
            "/admin/users",
            json!({"email": "before@example.com", "password": "long-enough"}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body["email_confirmed_at"].is_null());
    let path = format!("/admin/users/{}", created.body["id"].as_str().unwrap());

    // A new address without `email_confirm` stays unconfirmed, unverified, and unmailed.
    let r = a
        .call(
            Method::PUT,
            &path,
            &service,
            Some(json!({"email": "after@example.com"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["email"], "after@example.com");
    assert!(r.body["email_confirmed_at"].is_null(), "{}", r.body);
    assert!(r.body["confirmed_at"].is_null(), "{}", r.body);
    let identity = &r.body["identities"][0];
    assert_eq!(identity["identity_data"]["email"], "after@example.com");
    assert_eq!(identity["identity_data"]["email_verified"], false);
    assert!(a.mail("after@example.com").await.is_empty());
    let refused = a.sign_in("after@example.com", "long-enough").await;
    refused.assert_error(400, "email_not_confirmed", None);

    // With `email_confirm: true` the new address is confirmed and verified.
    let r = a
        .call(
            Method::PUT,
            &path,
            &service,
            Some(json!({"email": "third@example.com", "email_confirm": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["email_confirmed_at"].is_string(), "{}", r.body);
    let identity = &r.body["identities"][0];
    assert_eq!(identity["identity_data"]["email"], "third@example.com");
    assert_eq!(identity["identity_data"]["email_verified"], true);
    assert_eq!(
        a.sign_in("third@example.com", "long-enough").await.status,
        200
    );
}

/// base64url (unpadded) of the SHA-256 of `user_id` followed by `value`.
fn obfuscated(user_id: &str, value: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{user_id}{value}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

#[tokio::test]
async fn a_soft_deleted_user_keeps_obfuscated_addresses() {
    let a = start(|_| {}).await;
    let service = a.service.clone();
    let created = a
        .admin_post(
            "/admin/users",
            json!({"email": "soft@example.com", "phone": "15551234567", "password": "long-enough",
                   "email_confirm": true, "user_metadata": {"name": "Soft"}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        a.sign_in("soft@example.com", "long-enough").await.status,
        200
    );
    let path = format!("/admin/users/{id}");
    let soft_delete = || {
        a.call(
            Method::DELETE,
            &path,
            &service,
            Some(json!({"should_soft_delete": true})),
        )
    };
    let r = soft_delete().await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({}));

    let db = a.db.client().await;
    let uid: uuid::Uuid = id.parse().unwrap();
    let row = db
        .query_one(
            "SELECT email, phone, email_change, phone_change, encrypted_password IS NULL, \
               raw_user_meta_data, deleted_at IS NOT NULL, \
               (SELECT count(*) FROM auth.sessions s WHERE s.user_id = u.id) \
             FROM auth.users u WHERE id = $1",
            &[&uid],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), obfuscated(&id, "soft@example.com"));
    assert_eq!(
        row.get::<_, String>(1),
        obfuscated(&id, "15551234567")[..15]
    );
    assert_eq!(row.get::<_, String>(2), obfuscated(&id, ""));
    assert_eq!(row.get::<_, String>(3), obfuscated(&id, "")[..15]);
    assert!(row.get::<_, bool>(4));
    assert_eq!(row.get::<_, Value>(5), json!({}));
    assert!(row.get::<_, bool>(6));
    assert_eq!(row.get::<_, i64>(7), 0);

    // Identities stay, emptied, under obfuscated provider ids.
    let ids = db
        .query(
            "SELECT provider, provider_id, identity_data FROM auth.identities \
             WHERE user_id = $1 ORDER BY provider",
            &[&uid],
        )
        .await
        .unwrap();
    assert!(!ids.is_empty());
    for i in &ids {
        let provider: String = i.get(0);
        assert_eq!(i.get::<_, Value>(2), json!({}));
        assert_eq!(
            i.get::<_, String>(1),
            obfuscated(&id, &format!("{provider}:{id}"))
        );
    }

    // The address is free again, and a second soft delete changes nothing.
    assert_eq!(
        a.sign_in("soft@example.com", "long-enough").await.status,
        400
    );
    assert_eq!(
        a.signup("soft@example.com", "long-enough").await.status,
        200
    );
    let again = soft_delete().await;
    assert_eq!(again.status, 200, "{}", again.body);
    let email: String = db
        .query_one("SELECT email FROM auth.users WHERE id = $1", &[&uid])
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, obfuscated(&id, "soft@example.com"));
}
