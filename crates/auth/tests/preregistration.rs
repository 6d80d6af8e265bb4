//! Pre-registration takeover: someone signs up with another person's address and a password
//! of their own, and waits for the owner to confirm it. A repeated sign-up of an unconfirmed
//! address leaves the row as it is (as GoTrue does), but a password that does not match the
//! stored one shows two claims on the address, so the stored password stops working and the
//! mailbox owner ends up with an account nobody else can sign in to.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_pre_registered_password_does_not_survive_a_conflicting_sign_up() {
    let a = start(|c| c.mailer.autoconfirm = false).await;
    let victim = "victim@example.com";
    assert_eq!(a.signup(victim, "attacker-chose-this").await.status, 200);
    let again = a.signup(victim, "victim-chose-this").await;
    assert_eq!(again.status, 200, "{}", again.body);

    // The owner confirms with the code from their mailbox and is signed in.
    let mail = a.mail(victim).await;
    let confirmed = a
        .post(
            "/verify",
            json!({"email": victim, "token": mail[0]["otp"], "type": "signup"}),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(confirmed.body["access_token"].is_string());

    // Neither claimed password opens the account: the attacker's is gone, and the second
    // claim was not trusted to set one (the owner sets one from the session or a recovery).
    for password in ["attacker-chose-this", "victim-chose-this"] {
        let r = a.sign_in(victim, password).await;
        assert_eq!(r.status, 400, "{password}: {}", r.body);
        assert_eq!(r.body["code"], "invalid_credentials", "{password}");
    }
    let token = confirmed.body["access_token"].as_str().unwrap().to_string();
    let set = a
        .call(
            reqwest::Method::PUT,
            "/user",
            &token,
            Some(json!({"password": "owner-sets-this"})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(a.sign_in(victim, "owner-sets-this").await.status, 200);
}

#[tokio::test]
async fn a_repeated_sign_up_with_the_same_password_only_resends() {
    let a = start(|c| c.mailer.autoconfirm = false).await;
    let who = "retry@example.com";
    a.signup(who, "same-password").await;
    assert_eq!(a.signup(who, "same-password").await.status, 200);
    let mail = a.mail(who).await;
    assert_eq!(mail.len(), 2);
    let r = a
        .post(
            "/verify",
            json!({"email": who, "token": mail[0]["otp"], "type": "signup"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.sign_in(who, "same-password").await.status, 200);
}
