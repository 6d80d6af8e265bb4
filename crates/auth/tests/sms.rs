//! Phone sign-in with codes texted through each SMS provider GoTrue supports (Twilio, Twilio
//! Verify, MessageBird, Vonage, Textlocal), against a local fake of the provider's HTTP API:
//! the request it receives (path, credentials, form fields, the message with the code), then a
//! full sign-in with that code. Also: the template, the per-user interval, a provider's refusal,
//! and `[auth.sms.<provider>]` from config.toml.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;
mod fakehttp;

use basalt_auth::sms::{Provider, ProviderConfig};
use common::*;
use fakehttp::Seen;
use serde_json::{json, Value};

const PHONE: &str = "15555550123";

async fn with_provider(fake: &fakehttp::Fake, provider: Provider) -> Auth {
    let api_url = Some(fake.url.clone());
    start(move |c| {
        c.phone_enabled = true;
        c.sms.max_frequency = std::time::Duration::ZERO;
        c.sms.provider = Some(ProviderConfig { provider, api_url });
    })
    .await
}

/// Ask for a code by `/otp`, then sign in with `code`; returns the session.
async fn sign_in_with(a: &Auth, code: &str) -> Value {
    let v = a
        .post(
            "/verify",
            json!({"phone": format!("+{PHONE}"), "token": code, "type": "sms"}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(
        claims_of(v.body["access_token"].as_str().unwrap())["phone"],
        PHONE
    );
    assert!(v.body["user"]["phone_confirmed_at"].is_string());
    v.body
}

async fn request_code(a: &Auth) {
    let r = a
        .post(
            "/otp",
            json!({"phone": format!("+{PHONE}"), "create_user": true, "channel": "sms"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The code in a message rendered from the default template.
fn code_in(message: &str) -> String {
    let code = message.strip_prefix("Your code is ").unwrap();
    assert_eq!(code.len(), 6, "{message}");
    assert!(code.chars().all(|c| c.is_ascii_digit()));
    code.to_string()
}

#[tokio::test]
async fn twilio_sends_the_code_and_it_signs_in() {
    let fake = fakehttp::start(|s: &Seen| {
        (
            201,
            json!({"sid": "SM123", "status": "queued", "to": s.field("To")}),
        )
    })
    .await;
    let a = with_provider(
        &fake,
        Provider::Twilio {
            account_sid: "AC123".into(),
            auth_token: "twilio-token".into(),
            message_service_sid: "MG456".into(),
            content_sid: None,
        },
    )
    .await;
    request_code(&a).await;
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.path, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(s.basic_auth(), "AC123:twilio-token");
    assert_eq!(
        s.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(s.field("To"), "+15555550123");
    assert_eq!(s.field("From"), "MG456");
    assert_eq!(s.field("Channel"), "sms");
    let code = code_in(s.field("Body"));
    // Nothing went to the development mailbox.
    assert!(a.mail(PHONE).await.is_empty());
    let wrong = a
        .post(
            "/verify",
            json!({"phone": format!("+{PHONE}"), "token": "000000", "type": "sms"}),
        )
        .await;
    assert_eq!(wrong.status, 403);
    sign_in_with(&a, &code).await;

    // Asked for over WhatsApp: Twilio gets a WhatsApp message.
    let r = a
        .post(
            "/otp",
            json!({"phone": format!("+{PHONE}"), "channel": "whatsapp"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The provider's message id comes back, as supabase-js's `messageId`.
    assert_eq!(r.body["message_id"], "SM123");
    let seen = fake.seen();
    let w = seen.last().unwrap();
    assert_eq!(w.field("To"), "whatsapp:+15555550123");
    assert_eq!(w.field("Channel"), "whatsapp");
    sign_in_with(&a, &code_in(w.field("Body"))).await;
}

#[tokio::test]
async fn twilio_verify_makes_and_checks_the_code() {
    let fake = fakehttp::start(|s: &Seen| {
        if s.path.ends_with("/VerificationCheck") {
            let ok = s.field("Code") == "246810";
            (
                200,
                json!({"status": if ok { "approved" } else { "pending" }, "valid": ok}),
            )
        } else {
            (201, json!({"sid": "VE1", "status": "pending"}))
        }
    })
    .await;
    let a = with_provider(
        &fake,
        Provider::TwilioVerify {
            account_sid: "AC9".into(),
            auth_token: "verify-token".into(),
            message_service_sid: "VA7".into(),
        },
    )
    .await;
    request_code(&a).await;
    let s = &fake.seen()[0];
    assert_eq!(s.path, "/v2/Services/VA7/Verifications");
    assert_eq!(s.basic_auth(), "AC9:verify-token");
    assert_eq!(s.field("To"), "+15555550123");
    assert_eq!(s.field("Channel"), "sms");
    assert!(
        !s.form.contains_key("Body"),
        "Verify writes its own message"
    );

    let wrong = a
        .post(
            "/verify",
            json!({"phone": format!("+{PHONE}"), "token": "111111", "type": "sms"}),
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert_eq!(wrong.body["code"], "otp_expired");
    sign_in_with(&a, "246810").await;
    let checks: Vec<Seen> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/v2/Services/VA7/VerificationCheck")
        .collect();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[1].field("To"), "+15555550123");
    assert_eq!(checks[1].field("Code"), "246810");
    assert_eq!(checks[1].basic_auth(), "AC9:verify-token");
}

#[tokio::test]
async fn messagebird_sends_the_code_and_it_signs_in() {
    let fake = fakehttp::start(|_: &Seen| {
        (
            201,
            json!({"id": "mb-1", "recipients": {"totalSentCount": 1}}),
        )
    })
    .await;
    let a = with_provider(
        &fake,
        Provider::Messagebird {
            access_key: "live_key".into(),
            originator: "Basalt".into(),
        },
    )
    .await;
    request_code(&a).await;
    let s = &fake.seen()[0];
    assert_eq!(s.path, "/messages");
    assert_eq!(s.header("authorization"), "AccessKey live_key");
    assert_eq!(s.field("originator"), "Basalt");
    assert_eq!(s.field("recipients"), PHONE);
    assert_eq!(s.field("type"), "sms");
    assert_eq!(s.field("datacoding"), "unicode");
    let code = code_in(s.field("body"));
    sign_in_with(&a, &code).await;
}

#[tokio::test]
async fn vonage_sends_the_code_and_it_signs_in() {
    let fake = fakehttp::start(|_: &Seen| {
        (
            200,
            json!({"message-count": "1", "messages": [{"message-id": "v-1", "status": "0"}]}),
        )
    })
    .await;
    let a = with_provider(
        &fake,
        Provider::Vonage {
            api_key: "vkey".into(),
            api_secret: "vsecret".into(),
            from: "Basalt".into(),
        },
    )
    .await;
    request_code(&a).await;
    let s = &fake.seen()[0];
    assert_eq!(s.path, "/sms/json");
    assert_eq!(s.field("api_key"), "vkey");
    assert_eq!(s.field("api_secret"), "vsecret");
    assert_eq!(s.field("from"), "Basalt");
    assert_eq!(s.field("to"), PHONE);
    assert!(
        !s.form.contains_key("type"),
        "ASCII text is not sent as unicode"
    );
    let code = code_in(s.field("text"));
    sign_in_with(&a, &code).await;
}

#[tokio::test]
async fn textlocal_sends_the_code_and_it_signs_in() {
    let fake = fakehttp::start(|_: &Seen| {
        (
            200,
            json!({"status": "success", "messages": [{"id": "tl-1", "recipient": 15555550123u64}]}),
        )
    })
    .await;
    let a = with_provider(
        &fake,
        Provider::Textlocal {
            api_key: "tl-key".into(),
            sender: "BASALT".into(),
        },
    )
    .await;
    request_code(&a).await;
    let s = &fake.seen()[0];
    assert_eq!(s.path, "/send");
    assert_eq!(s.field("apikey"), "tl-key");
    assert_eq!(s.field("sender"), "BASALT");
    assert_eq!(s.field("numbers"), PHONE);
    let code = code_in(s.field("message"));
    sign_in_with(&a, &code).await;
}

#[tokio::test]
async fn template_interval_and_refusals() {
    let fake = fakehttp::start(|s: &Seen| {
        if s.field("to") == "15555550999" {
            (
                200,
                json!({"messages": [{"message-id": "v-9", "status": "4", "error-text": "Bad Credentials"}]}),
            )
        } else {
            (200, json!({"messages": [{"message-id": "v-2", "status": "0"}]}))
        }
    })
    .await;
    let api_url = Some(fake.url.clone());
    let a = start(move |c| {
        c.phone_enabled = true;
        c.sms.template = "Código {{ .Code }} — válido 1 min".into();
        c.sms.max_frequency = std::time::Duration::from_secs(60);
        c.sms.provider = Some(ProviderConfig {
            provider: Provider::Vonage {
                api_key: "k".into(),
                api_secret: "s".into(),
                from: "Basalt".into(),
            },
            api_url,
        });
    })
    .await;
    // Sign-up by phone texts the confirmation code with the project's template.
    let r = a
        .post(
            "/signup",
            json!({"phone": format!("+{PHONE}"), "password": "long-enough"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = &fake.seen()[0];
    assert_eq!(s.field("type"), "unicode");
    let text = s.field("text");
    let code = text
        .strip_prefix("Código ")
        .and_then(|t| t.strip_suffix(" — válido 1 min"))
        .unwrap();
    assert_eq!(code.len(), 6);
    // Again at once: refused by the per-user interval, nothing sent.
    let again = a
        .post(
            "/resend",
            json!({"phone": format!("+{PHONE}"), "type": "sms"}),
        )
        .await;
    assert_eq!(again.status, 429, "{}", again.body);
    assert_eq!(again.body["code"], "over_sms_send_rate_limit");
    assert_eq!(fake.seen().len(), 1);
    sign_in_with(&a, code).await;

    // The provider refuses: GoTrue's 422 sms_send_failed with the provider's words.
    let r = a
        .post(
            "/signup",
            json!({"phone": "+15555550999", "password": "long-enough"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["code"], "sms_send_failed");
    let message = r.body["msg"]
        .as_str()
        .or(r.body["message"].as_str())
        .unwrap();
    assert!(
        message.starts_with("Error sending confirmation OTP to provider:"),
        "{message}"
    );
    assert!(message.contains("Bad Credentials"), "{message}");
    // The failed sign-up left no user behind.
    let db = a.db.client().await;
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM auth.users WHERE phone = '15555550999'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn test_numbers_are_not_texted() {
    let fake = fakehttp::start(|_: &Seen| (201, json!({"sid": "SM1", "status": "queued"}))).await;
    let api_url = Some(fake.url.clone());
    let a = start(move |c| {
        c.phone_enabled = true;
        c.sms.test_otp.insert(PHONE.into(), "424242".into());
        c.sms.provider = Some(ProviderConfig {
            provider: Provider::TwilioVerify {
                account_sid: "AC".into(),
                auth_token: "t".into(),
                message_service_sid: "VA".into(),
            },
            api_url,
        });
    })
    .await;
    request_code(&a).await;
    sign_in_with(&a, "424242").await;
    assert!(fake.seen().is_empty());
}

#[test]
fn providers_from_config_toml() {
    let project = basalt_config::load(
        r#"
[auth.sms]
enable_signup = true
template = "Code: {{ .Code }}"
max_frequency = "10s"
[auth.sms.twilio]
enabled = false
account_sid = "ACx"
[auth.sms.messagebird]
enabled = true
originator = "Basalt"
access_key = "mb-key"
api_url = "http://127.0.0.1:9/mb"
"#,
    )
    .unwrap();
    let c = basalt_auth::Config::from_project(&project.auth, "http://127.0.0.1:54321/auth/v1");
    assert_eq!(c.sms.template, "Code: {{ .Code }}");
    assert_eq!(c.sms.max_frequency, std::time::Duration::from_secs(10));
    assert_eq!(
        c.sms.provider,
        Some(ProviderConfig {
            provider: Provider::Messagebird {
                access_key: "mb-key".into(),
                originator: "Basalt".into(),
            },
            api_url: Some("http://127.0.0.1:9/mb".into()),
        })
    );
    // The CLI's defaults: no provider (development mailbox), GoTrue's template, 5 s.
    let local = basalt_auth::Config::from_project(&Default::default(), "http://x/auth/v1");
    assert!(local.sms.provider.is_none());
    assert_eq!(local.sms.template, "Your code is {{ .Code }}");
    assert_eq!(local.sms.max_frequency, std::time::Duration::from_secs(5));
    // GoTrue's variables.
    let vars: std::collections::HashMap<&str, &str> = [
        ("DATABASE_URL", "postgres://x@localhost/db"),
        ("GOTRUE_JWT_SECRET", "s"),
        ("GOTRUE_SMS_PROVIDER", "twilio"),
        ("GOTRUE_SMS_TWILIO_ACCOUNT_SID", "AC1"),
        ("GOTRUE_SMS_TWILIO_AUTH_TOKEN", "tok"),
        ("GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID", "MG1"),
        ("GOTRUE_SMS_TWILIO_API_URL", "http://127.0.0.1:9"),
    ]
    .into_iter()
    .collect();
    let c = basalt_auth::Config::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    let p = c.sms.provider.unwrap();
    assert_eq!(p.provider.name(), "twilio");
    assert_eq!(p.api_url.as_deref(), Some("http://127.0.0.1:9"));
    let missing = basalt_auth::Config::from_vars(|k| match k {
        "GOTRUE_SMS_TWILIO_AUTH_TOKEN" => None,
        k => vars.get(k).map(|v| v.to_string()),
    });
    assert!(missing.unwrap_err().to_string().contains("auth_token"));
}
