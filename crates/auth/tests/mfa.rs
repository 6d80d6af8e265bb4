//! MFA with TOTP: enroll, challenge, verify raising the session to `aal2`, what `aal2` guards,
//! unenroll, the admin factor endpoints, and asymmetric signing keys.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use basalt_auth::totp;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn token(s: &Value) -> String {
    s["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn totp_enroll_challenge_verify_raises_aal() {
    let a = start(|_| {}).await;
    let s = a.signup("mfa@example.com", "long-enough").await.body;
    let t1 = token(&s);
    let e = a
        .call(Method::POST, "/factors", &t1, Some(json!({"friendly_name": "phone app", "factor_type": "totp", "issuer": "Basalt Test"})))
        .await;
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.body["type"], "totp");
    assert_eq!(e.body["friendly_name"], "phone app");
    let factor = e.body["id"].as_str().unwrap().to_string();
    let secret = e.body["totp"]["secret"].as_str().unwrap().to_string();
    assert!(e.body["totp"]["qr_code"].as_str().unwrap().contains("<svg"));
    let uri = e.body["totp"]["uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Basalt%20Test:mfa%40example%2Ecom?"));
    assert!(uri.contains(&format!("secret={secret}")));
    let dup = a
        .call(
            Method::POST,
            "/factors",
            &t1,
            Some(json!({"friendly_name": "phone app", "factor_type": "totp"})),
        )
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.body["code"], "mfa_factor_name_conflict");
    let me = a.get_as("/user", &t1).await;
    assert_eq!(me.body["factors"][0]["status"], "unverified");

    let c = a
        .call(
            Method::POST,
            &format!("/factors/{factor}/challenge"),
            &t1,
            Some(json!({"factorId": factor})),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.body["type"], "totp");
    assert!(c.body["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    let challenge = c.body["id"].as_str().unwrap().to_string();

    let wrong = a
        .call(
            Method::POST,
            &format!("/factors/{factor}/verify"),
            &t1,
            Some(json!({"challenge_id": challenge, "code": "000000"})),
        )
        .await;
    // One in a million that 000000 is the current code; the assertion names it.
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert_eq!(wrong.body["code"], "mfa_verification_failed");

    let code = totp::code_at(&secret, chrono::Utc::now().timestamp()).unwrap();
    let v = a
        .call(
            Method::POST,
            &format!("/factors/{factor}/verify"),
            &t1,
            Some(json!({"challenge_id": challenge, "code": code})),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    let t2 = token(&v.body);
    let claims = claims_of(&t2);
    assert_eq!(claims["aal"], "aal2");
    let methods: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert!(
        methods.contains(&"totp") && methods.contains(&"password"),
        "{methods:?}"
    );
    assert_eq!(v.body["user"]["factors"][0]["status"], "verified");
    // A used challenge cannot be used again.
    let replay = a
        .call(
            Method::POST,
            &format!("/factors/{factor}/verify"),
            &t2,
            Some(json!({"challenge_id": challenge, "code": code})),
        )
        .await;
    assert_eq!(replay.status, 422);
    assert_eq!(replay.body["code"], "mfa_ip_address_mismatch");
    // A challenge nobody asked for.
    let unknown = a
        .call(
            Method::POST,
            &format!("/factors/{factor}/verify"),
            &t2,
            Some(json!({"challenge_id": "00000000-0000-4000-8000-000000000000", "code": code})),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.body["code"], "mfa_factor_not_found");
    assert_eq!(
        unknown.body["message"],
        "MFA factor with the provided challenge ID not found"
    );

    // Refreshing keeps aal2.
    let r = a
        .post(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": v.body["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(claims_of(&token(&r.body))["aal"], "aal2");

    // A new password sign-in is aal1 and may not change the password or enroll more.
    let fresh = token(&a.sign_in("mfa@example.com", "long-enough").await.body);
    assert_eq!(claims_of(&fresh)["aal"], "aal1");
    let pw = a
        .call(
            Method::PUT,
            "/user",
            &fresh,
            Some(json!({"password": "other-password"})),
        )
        .await;
    assert_eq!(pw.status, 401);
    assert_eq!(pw.body["code"], "insufficient_aal");
    let more = a
        .call(
            Method::POST,
            "/factors",
            &fresh,
            Some(json!({"factor_type": "totp"})),
        )
        .await;
    assert_eq!(more.status, 403);
    assert_eq!(more.body["code"], "insufficient_aal");
    let un = a
        .call(Method::DELETE, &format!("/factors/{factor}"), &fresh, None)
        .await;
    assert_eq!(un.status, 422);
    assert_eq!(un.body["code"], "insufficient_aal");
    assert_eq!(
        un.body["message"],
        "AAL2 required to unenroll verified factor"
    );
    let odd = a
        .call(Method::DELETE, "/factors/not-a-factor", &fresh, None)
        .await;
    assert_eq!(
        (odd.status, odd.body["code"].as_str()),
        (404, Some("validation_failed"))
    );

    // Admin view of the factors.
    let service = a.service.clone();
    let uid = s["user"]["id"].as_str().unwrap();
    let list = a
        .get_as(&format!("/admin/users/{uid}/factors"), &service)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body[0]["id"], factor.as_str());

    let t3 = token(&r.body);
    let un = a
        .call(Method::DELETE, &format!("/factors/{factor}"), &t3, None)
        .await;
    assert_eq!(un.status, 200, "{}", un.body);
    assert_eq!(un.body, json!({"id": factor}));
    let me = a.get_as("/user", &fresh).await;
    assert!(me.body.get("factors").is_none());
    let gone = a
        .call(
            Method::POST,
            &format!("/factors/{factor}/challenge"),
            &fresh,
            Some(json!({})),
        )
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["code"], "mfa_factor_not_found");
}

#[tokio::test]
async fn expired_challenges_and_disabled_enrollment() {
    let a = start(|c| c.mfa.challenge_expiry = 0).await;
    let t = token(&a.signup("exp@example.com", "long-enough").await.body);
    let e = a
        .call(
            Method::POST,
            "/factors",
            &t,
            Some(json!({"factor_type": "totp"})),
        )
        .await;
    let factor = e.body["id"].as_str().unwrap().to_string();
    let secret = e.body["totp"]["secret"].as_str().unwrap().to_string();
    let c = a
        .call(
            Method::POST,
            &format!("/factors/{factor}/challenge"),
            &t,
            Some(json!({})),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let code = totp::code_at(&secret, chrono::Utc::now().timestamp()).unwrap();
    let v = a
        .call(
            Method::POST,
            &format!("/factors/{factor}/verify"),
            &t,
            Some(json!({"challenge_id": c.body["id"], "code": code})),
        )
        .await;
    assert_eq!(v.status, 422);
    assert_eq!(v.body["code"], "mfa_challenge_expired");
    let bad = a
        .call(
            Method::POST,
            "/factors",
            &t,
            Some(json!({"factor_type": "sms"})),
        )
        .await;
    assert_eq!(bad.status, 400);

    let off = start(|c| c.mfa.totp_enroll_enabled = false).await;
    let t = token(&off.signup("off@example.com", "long-enough").await.body);
    let e = off
        .call(
            Method::POST,
            "/factors",
            &t,
            Some(json!({"factor_type": "totp"})),
        )
        .await;
    assert_eq!(e.status, 422);
    assert_eq!(e.body["code"], "mfa_totp_enroll_not_enabled");
}

#[tokio::test]
async fn es256_signing_keys_and_jwks() {
    let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let mut jwk: Value = serde_json::from_str(&secret.to_jwk_string()).unwrap();
    jwk["kid"] = json!("test-key");
    let a = start(|c| {
        let set = json!({"keys": [jwk]}).to_string();
        let keys = basalt_identity::Keys::for_project(&c.jwt.secret, Some(&set)).unwrap();
        c.jwt.keys = Some(std::sync::Arc::new(keys));
    })
    .await;
    let anon = a.anon.clone();
    let jwks = a.get_as("/.well-known/jwks.json", &anon).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.body["keys"][0]["kid"], "test-key");
    assert_eq!(jwks.body["keys"][0]["alg"], "ES256");
    assert!(jwks.body["keys"][0].get("d").is_none());
    let s = a.signup("es@example.com", "long-enough").await.body;
    let t = token(&s);
    let header = jsonwebtoken::decode_header(&t).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("test-key"));
    // Verify with the published key alone, as another service would.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.body.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["authenticated"]);
    let data = jsonwebtoken::decode::<Value>(&t, &key, &validation).unwrap();
    assert_eq!(data.claims["email"], "es@example.com");
    assert_eq!(a.get_as("/user", &t).await.status, 200);
    // The service key (HS256 with the secret) still works for the admin API.
    let service = a.service.clone();
    assert_eq!(a.get_as("/admin/users", &service).await.status, 200);
}
