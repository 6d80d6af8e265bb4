//! Emailed sign-in and recovery: `POST /otp` (magic link and code), `POST /magiclink`,
//! `POST /recover` and `POST /resend`. Recovery and resending do not tell whether an address is
//! registered: unknown addresses give the same `{}` as a sent message; asking again within the
//! per-user interval is 429 `over_email_send_rate_limit` ("For security purposes, you can only
//! request this after N seconds."). Sign-in codes for an unknown address make a user, unless the request says not to
//! (`create_user: false`: 422 `otp_disabled`) or sign-ups are off (422 `signup_disabled`), as
//! supabase-js's `signInWithOtp({ options: { shouldCreateUser } })` expects.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{redirect_target, Body, Client, Query};
use crate::mail::Kind;
use crate::onetime::{self, Slot};
use crate::ratelimit::{self, Limit};
use crate::sessions::method;
use crate::state::AppState;
use crate::users::{self, NewUser};
use crate::{audit, flow};

/// The body of `/otp`, `/magiclink`, `/recover` and `/resend`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct OtpParams {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub data: Option<Value>,
    pub create_user: bool,
    pub channel: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

impl Default for OtpParams {
    fn default() -> Self {
        OtpParams {
            email: None,
            phone: None,
            data: None,
            create_user: true,
            channel: None,
            kind: None,
            code_challenge: None,
            code_challenge_method: None,
        }
    }
}

fn phone_unsupported() -> ApiError {
    ApiError::PhoneProviderDisabled {
        status: 400,
        message: "Unsupported phone provider",
    }
}

pub async fn otp(
    State(state): State<AppState>,
    client: Client,
    query: Query,
    Body(p): Body<OtpParams>,
) -> Result<Response, ApiError> {
    ratelimit::check(&state, Limit::Otp, client.ip).await?;
    let has_phone = p.phone.as_deref().is_some_and(|ph| !ph.is_empty());
    let has_email = p.email.as_deref().is_some_and(|e| !e.is_empty());
    if has_email && has_phone {
        return Err(ApiError::Validation(
            "Only an email address or phone number should be provided".into(),
        ));
    }
    if has_email && p.channel.as_deref().is_some_and(|c| !c.is_empty()) {
        return Err(ApiError::Validation(
            "Channel should only be specified with Phone OTP".into(),
        ));
    }
    if !p.create_user && !is_registered(&state, &p).await? {
        return Err(ApiError::Coded {
            status: 422,
            code: "otp_disabled",
            message: "Signups not allowed for otp".into(),
        });
    }
    match (has_email, has_phone) {
        (false, true) => phone_otp(&state, p).await,
        (true, false) => magic(&state, &query, p).await,
        _ => Err(ApiError::Validation(
            "One of email or phone must be set".into(),
        )),
    }
}

/// Whether the address or number of a sign-in request belongs to a user (one that is not
/// well-formed belongs to nobody).
async fn is_registered(state: &AppState, p: &OtpParams) -> Result<bool, ApiError> {
    let db = state.pool.get().await?;
    if let Some(e) = p.email.as_deref().filter(|e| !e.is_empty()) {
        return Ok(match users::validate_email(e) {
            Ok(e) => users::by_email(&**db, &e).await?.is_some(),
            Err(_) => false,
        });
    }
    if let Some(ph) = p.phone.as_deref().filter(|ph| !ph.is_empty()) {
        return Ok(match users::validate_phone(ph) {
            Ok(ph) => users::by_phone(&**db, &ph).await?.is_some(),
            Err(_) => false,
        });
    }
    Ok(true)
}

/// A sign-in code by text message; a new number gets a user when `create_user` allows.
async fn phone_otp(state: &AppState, p: OtpParams) -> Result<Response, ApiError> {
    let config = &state.config;
    if !config.phone_enabled {
        return Err(phone_unsupported());
    }
    let phone = users::validate_phone(p.phone.as_deref().unwrap_or(""))?;
    let channel = onetime::channel(state, p.channel.as_deref())?;
    let data = crate::api::signup::metadata(p.data)?;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let user = match users::by_phone(&tx, &phone).await? {
        Some(u) => u,
        None => {
            if config.disable_signup {
                return Err(ApiError::SignupDisabled);
            }
            if !p.create_user {
                return Ok(Json(json!({})).into_response());
            }
            users::insert(
                &tx,
                NewUser {
                    email: None,
                    phone: Some(&phone),
                    app_metadata: json!({"provider": "phone", "providers": ["phone"]}),
                    ..NewUser::email(&config.jwt.aud, "", "", data)
                },
            )
            .await?
        }
    };
    let mut answer = json!({});
    if !user.is_banned() {
        if let Some(id) =
            onetime::send_sms(state, &tx, &user, Slot::Confirmation, &phone, channel).await?
        {
            answer["message_id"] = id.into();
        }
    }
    tx.commit().await?;
    Ok(Json(answer).into_response())
}

pub async fn magiclink(
    State(state): State<AppState>,
    client: Client,
    query: Query,
    Body(mut p): Body<OtpParams>,
) -> Result<Response, ApiError> {
    ratelimit::check(&state, Limit::Otp, client.ip).await?;
    if p.email.as_deref().unwrap_or("").is_empty() {
        // Supabase Auth's words for this endpoint, recovery's included.
        return Err(ApiError::Unprocessable(
            "Password recovery requires an email".into(),
        ));
    }
    p.create_user = true;
    magic(&state, &query, p).await
}

async fn magic(state: &AppState, query: &Query, p: OtpParams) -> Result<Response, ApiError> {
    let config = &state.config;
    if !config.email_enabled {
        return Err(ApiError::EmailProviderDisabled {
            status: 422,
            message: "Email logins are disabled",
        });
    }
    let email = users::validate_email(p.email.as_deref().unwrap_or(""))?;
    let challenge = flow::challenge(
        p.code_challenge_method.as_deref(),
        p.code_challenge.as_deref(),
    )?;
    let data = crate::api::signup::metadata(p.data)?;
    let redirect = redirect_target(config, query.get("redirect_to"));
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let user = match users::by_email(&tx, &email).await? {
        Some(u) => u,
        None => {
            if config.disable_signup {
                return Err(ApiError::SignupDisabled);
            }
            if !p.create_user {
                return Ok(Json(json!({})).into_response());
            }
            // Under autoconfirm the new user is confirmed at once and gets a magic link;
            // otherwise the confirmation email signs them in.
            let confirmed = config.mailer.autoconfirm;
            let user = users::insert(
                &tx,
                NewUser {
                    confirmed,
                    ..NewUser::email(&config.jwt.aud, &email, "", data)
                },
            )
            .await?;
            if confirmed {
                users::mark_email_verified(&tx, user.id).await?;
            }
            user
        }
    };
    if user.is_banned() {
        return Ok(Json(json!({})).into_response());
    }
    let sent = if user.is_confirmed() {
        if let Some(c) = &challenge {
            flow::create(&tx, user.id, method::MAGICLINK, c).await?;
        }
        onetime::send(
            state,
            &tx,
            &user,
            Slot::Recovery,
            Kind::MagicLink,
            &email,
            &redirect,
        )
        .await
        .map(drop)
    } else {
        if let Some(c) = &challenge {
            flow::create(&tx, user.id, method::EMAIL_SIGNUP, c).await?;
        }
        onetime::send(
            state,
            &tx,
            &user,
            Slot::Confirmation,
            Kind::Confirmation,
            &email,
            &redirect,
        )
        .await
        .map(drop)
    };
    sent?;
    tx.commit().await?;
    Ok(Json(json!({})).into_response())
}

pub async fn recover(
    State(state): State<AppState>,
    client: Client,
    query: Query,
    Body(p): Body<OtpParams>,
) -> Result<Response, ApiError> {
    ratelimit::check(&state, Limit::Otp, client.ip).await?;
    let config = &state.config;
    let email = p.email.as_deref().unwrap_or("");
    if email.is_empty() {
        return Err(ApiError::Validation(
            "Password recovery requires an email".into(),
        ));
    }
    let email = users::validate_email(email)?;
    let challenge = flow::challenge(
        p.code_challenge_method.as_deref(),
        p.code_challenge.as_deref(),
    )?;
    let redirect = redirect_target(config, query.get("redirect_to"));
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    if let Some(user) = users::by_email(&tx, &email).await? {
        if !user.is_banned() {
            if let Some(c) = &challenge {
                flow::create(&tx, user.id, method::RECOVERY, c).await?;
            }
            audit::record(
                &tx,
                &user,
                audit::Action::RecoveryRequested,
                client.ip,
                json!({}),
            )
            .await?;
            onetime::send(
                &state,
                &tx,
                &user,
                Slot::Recovery,
                Kind::Recovery,
                &email,
                &redirect,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Json(json!({})).into_response())
}

pub async fn resend(
    State(state): State<AppState>,
    client: Client,
    query: Query,
    Body(p): Body<OtpParams>,
) -> Result<Response, ApiError> {
    ratelimit::check(&state, Limit::Otp, client.ip).await?;
    let config = &state.config;
    let kind = p.kind.as_deref().unwrap_or("");
    if !matches!(kind, "signup" | "email_change" | "sms" | "phone_change") {
        return Err(ApiError::Validation(
            "Missing one of these types: signup, email_change, sms, phone_change".into(),
        ));
    }
    let given = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    let (email, phone) = (given(&p.email), given(&p.phone));
    if email.is_none() && kind == "signup" {
        return Err(ApiError::Validation(
            "Type provided requires an email address".into(),
        ));
    }
    if phone.is_none() && kind == "sms" {
        return Err(ApiError::Validation(
            "Type provided requires a phone number".into(),
        ));
    }
    let email = match (email, phone) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Validation(
                "Only an email address or phone number should be provided.".into(),
            ))
        }
        (None, None) => {
            return Err(ApiError::Validation(
                "Missing email address or phone number".into(),
            ))
        }
        (None, Some(ph)) => return resend_sms(&state, kind, &ph).await,
        (Some(e), None) => e,
    };
    if !config.email_enabled {
        return Err(ApiError::EmailProviderDisabled {
            status: 400,
            message: "Email logins are disabled",
        });
    }
    let email = users::validate_email(&email)?;
    let redirect = redirect_target(config, query.get("redirect_to"));
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    if let Some(user) = users::by_email(&tx, &email).await? {
        if kind == "signup" && !user.is_confirmed() {
            onetime::send(
                &state,
                &tx,
                &user,
                Slot::Confirmation,
                Kind::Confirmation,
                &email,
                &redirect,
            )
            .await?;
        } else if kind == "email_change" && !user.email_change.is_empty() {
            // Fresh tokens to both addresses, as when the change was asked for.
            let new_email = user.email_change.clone();
            crate::api::user::send_email_change(&state, &tx, user.id, &new_email, &redirect)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(Json(json!({})).into_response())
}

/// `resend` of a sign-up code (`sms`) or a number-change code (`phone_change`, to the new
/// number) by text message.
async fn resend_sms(state: &AppState, kind: &str, phone: &str) -> Result<Response, ApiError> {
    if !state.config.phone_enabled {
        return Err(ApiError::PhoneProviderDisabled {
            status: 400,
            message: "Phone logins are disabled",
        });
    }
    let phone = users::validate_phone(phone)?;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let mut answer = json!({});
    let sent = match users::by_phone(&tx, &phone).await? {
        Some(user) if kind == "sms" && user.phone_confirmed_at.is_none() => {
            onetime::send_sms(state, &tx, &user, Slot::Confirmation, &phone, "sms").await?
        }
        Some(user) if kind == "phone_change" && !user.phone_change.is_empty() => {
            let to = user.phone_change.clone();
            onetime::send_sms(state, &tx, &user, Slot::PhoneChange, &to, "sms").await?
        }
        _ => None,
    };
    if let Some(id) = sent {
        answer["message_id"] = id.into();
    }
    tx.commit().await?;
    Ok(Json(answer).into_response())
}
