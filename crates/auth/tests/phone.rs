//! Phone sign-up and sign-in with texted codes. Without an SMS provider (tests/sms.rs has them)
//! codes land in the development mailbox (recipient = the number); test numbers have fixed codes.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn phone_signup_confirmed_by_texted_code() {
    let a = start(|c| c.phone_enabled = true).await;
    let r = a
        .post(
            "/signup",
            json!({"phone": "+1 555 555 0100", "password": "long-enough", "channel": "sms"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("access_token").is_none());
    assert_eq!(r.body["phone"], "15555550100");
    let early = a
        .post(
            "/token?grant_type=password",
            json!({"phone": "+15555550100", "password": "long-enough"}),
        )
        .await;
    assert_eq!(early.status, 400);
    assert_eq!(early.body["code"], "phone_not_confirmed");

    let sms = &a.mail("15555550100").await[0];
    assert_eq!(sms["type"], "sms");
    let code = sms["otp"].as_str().unwrap();
    assert_eq!(sms["html"], format!("Your code is {code}"));
    let wrong = a
        .post(
            "/verify",
            json!({"phone": "+15555550100", "token": "000000", "type": "sms"}),
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.body["code"], "otp_expired");
    let v = a
        .post(
            "/verify",
            json!({"phone": "+15555550100", "token": code, "type": "sms"}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert!(v.body["user"]["phone_confirmed_at"].is_string());
    assert_eq!(
        claims_of(v.body["access_token"].as_str().unwrap())["phone"],
        "15555550100"
    );
    let s = a
        .post(
            "/token?grant_type=password",
            json!({"phone": "+15555550100", "password": "long-enough"}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
}

#[tokio::test]
async fn phone_otp_sign_in_and_test_numbers() {
    let a = start(|c| {
        c.phone_enabled = true;
        c.sms.test_otp.insert("15555550199".into(), "424242".into());
    })
    .await;
    let r = a
        .post(
            "/otp",
            json!({"phone": "+15555550123", "data": {}, "create_user": true, "channel": "sms"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let code = a.otp("15555550123").await;
    let v = a
        .post(
            "/verify",
            json!({"phone": "+15555550123", "token": code, "type": "sms"}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["user"]["app_metadata"]["provider"], "phone");

    // A test number: fixed code, nothing sent.
    let r = a
        .post(
            "/otp",
            json!({"phone": "+15555550199", "create_user": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(a.mail("15555550199").await.is_empty());
    let v = a
        .post(
            "/verify",
            json!({"phone": "15555550199", "token": "424242", "type": "sms"}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    // Unknown numbers without create_user: refused, no user, no text.
    let refused = a
        .post(
            "/otp",
            json!({"phone": "+15555550177", "create_user": false}),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["code"], "otp_disabled");
    assert!(a.mail("15555550177").await.is_empty());
    let resend = a
        .post("/resend", json!({"phone": "+15555550123", "type": "sms"}))
        .await;
    assert_eq!(resend.status, 200);

    let off = start(|_| {}).await;
    let r = off.post("/otp", json!({"phone": "+15555550123"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "phone_provider_disabled");
    let both = off
        .post(
            "/otp",
            json!({"phone": "+15555550123", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(both.status, 400);
    assert_eq!(both.body["code"], "validation_failed");
}

#[tokio::test]
async fn phone_signup_with_sms_autoconfirm_signs_in_at_once() {
    let a = start(|c| {
        c.phone_enabled = true;
        c.sms.autoconfirm = true;
    })
    .await;
    let r = a
        .post(
            "/signup",
            json!({"phone": "+15555550111", "password": "long-enough"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["access_token"].is_string());
    assert_eq!(r.body["user"]["identities"][0]["provider"], "phone");
    let again = a
        .post(
            "/signup",
            json!({"phone": "+15555550111", "password": "long-enough"}),
        )
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(again.body["code"], "user_already_exists");
}

#[tokio::test]
async fn phone_change_confirmed_by_code_to_the_new_number() {
    let a = start(|c| c.phone_enabled = true).await;
    let s = a.signup("ph@example.com", "long-enough").await.body;
    let token = s["access_token"].as_str().unwrap().to_string();
    let r = a
        .call(
            reqwest::Method::PUT,
            "/user",
            &token,
            Some(json!({"phone": "+15555550142"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["new_phone"], "15555550142");
    assert_eq!(r.body["phone"], "");
    let code = a.otp("15555550142").await;
    let v = a
        .post(
            "/verify",
            json!({"phone": "+15555550142", "token": code, "type": "phone_change"}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["user"]["phone"], "15555550142");
    assert!(v.body["user"].get("new_phone").is_none());
    let providers: Vec<&str> = v.body["user"]["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, vec!["email", "phone"]);
    let s = a
        .post(
            "/token?grant_type=password",
            json!({"phone": "+15555550142", "password": "long-enough"}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    // A number in use is refused.
    let other = a.signup("ph2@example.com", "long-enough").await.body;
    let t2 = other["access_token"].as_str().unwrap();
    let taken = a
        .call(
            reqwest::Method::PUT,
            "/user",
            t2,
            Some(json!({"phone": "+15555550142"})),
        )
        .await;
    assert_eq!(taken.status, 422);
    assert_eq!(taken.body["code"], "phone_exists");
}
