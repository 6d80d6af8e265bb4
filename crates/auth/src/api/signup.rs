//! `POST /signup`: email or phone with a password, or — with neither — an anonymous sign-in.
//! With autoconfirm the answer is a session; otherwise a confirmation email goes out and the
//! answer is the bare user.
//!
//! **A sign-up for an address (or phone) that is registered but not confirmed** leaves the row
//! as it is and sends the confirmation again, as GoTrue does: whoever signs up has not shown
//! that the address is theirs, so neither their password nor their metadata is stored. GoTrue
//! keeps the earlier password, so someone who pre-registers another person's address can sign
//! in with their own password once the owner confirms. basalt goes one step further: when the
//! new password does not match the stored one, there are two claims on the address and neither
//! is better than the other, so the stored password is cleared. The owner who confirms gets a
//! session and sets a password from it (or through a recovery); a repeated sign-up with the
//! same password (a retry) keeps it.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{redirect_target, Body, Client, Query};
use crate::mail::Kind;
use crate::onetime::{self, Slot};
use crate::ratelimit::{self, Limit};
use crate::sessions::{self, method};
use crate::state::AppState;
use crate::users::{self, NewUser};
use crate::{audit, flow, password};

/// The body of `POST /signup`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignupParams {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<String>,
    pub data: Option<Value>,
    pub channel: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// User metadata from a request's `data`: an object, or nothing.
pub fn metadata(data: Option<Value>) -> Result<Value, ApiError> {
    match data {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(ApiError::BadJson("data must be a JSON object".into())),
    }
}

/// Hash a password off the async threads.
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || crate::crypto::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal("password hashing task", e))?
        .map_err(|e| ApiError::internal("password hashing", e))
}

/// Whether `password` matches the stored `hash`, checked off the async threads.
async fn matches(password: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || crate::crypto::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal("password check task", e))
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

pub async fn signup(
    State(state): State<AppState>,
    client: Client,
    query: Query,
    Body(p): Body<SignupParams>,
) -> Result<Response, ApiError> {
    let email = non_empty(p.email);
    let phone = non_empty(p.phone);
    if email.is_none() && phone.is_none() {
        if !state.config.anonymous_enabled {
            return Err(ApiError::AnonymousDisabled);
        }
        ratelimit::check(&state, Limit::Anonymous, client.ip).await?;
        return anonymous(state, client, metadata(p.data)?).await;
    }
    ratelimit::check(&state, Limit::Otp, client.ip).await?;
    let config = &state.config;
    if config.disable_signup {
        return Err(ApiError::SignupDisabled);
    }
    let password = p.password.unwrap_or_default();
    if password.is_empty() {
        return Err(ApiError::Validation(
            "Signup requires a valid password".into(),
        ));
    }
    password::check_strength(&config.password, &password)?;
    let challenge = flow::challenge(
        p.code_challenge_method.as_deref(),
        p.code_challenge.as_deref(),
    )?;
    let data = metadata(p.data)?;
    // Codes for a phone sign-up go over the channel asked for (text by default).
    let channel = match &phone {
        Some(_) => onetime::channel(&state, p.channel.as_deref())?,
        None => "sms",
    };
    let (email, phone) = match (email, phone) {
        (Some(e), None) => {
            if !config.email_enabled {
                return Err(ApiError::EmailProviderDisabled {
                    status: 400,
                    message: "Email signups are disabled",
                });
            }
            (Some(users::validate_email(&e)?), None)
        }
        (None, Some(ph)) => {
            if !config.phone_enabled {
                return Err(ApiError::PhoneProviderDisabled {
                    status: 400,
                    message: "Phone signups are disabled",
                });
            }
            if challenge.is_some() {
                return Err(ApiError::Validation(
                    "PKCE not supported for phone signups".into(),
                ));
            }
            (None, Some(users::validate_phone(&ph)?))
        }
        _ => {
            return Err(ApiError::Validation(
                "Only an email address or phone number should be provided on signup.".into(),
            ))
        }
    };
    let redirect = redirect_target(config, query.get("redirect_to"));
    let hashed = hash(password.clone()).await?;

    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let existing = match (&email, &phone) {
        (Some(e), _) => users::by_email(&tx, e).await?,
        (_, Some(ph)) => users::by_phone(&tx, ph).await?,
        _ => None,
    };
    let provider = if email.is_some() { "email" } else { "phone" };
    if let Some(user) = existing {
        let confirmed = if email.is_some() {
            user.email_confirmed_at.is_some()
        } else {
            user.phone_confirmed_at.is_some()
        };
        if confirmed {
            tx.commit().await?;
            // Either kind of autoconfirm makes a repeated sign-up an error rather than a
            // look-alike answer (the Supabase CLI's default config autoconfirms phones).
            if config.mailer.autoconfirm || config.sms.autoconfirm {
                return Err(ApiError::UserAlreadyExists);
            }
            return Ok(Json(obfuscated(
                &user.aud,
                (email.as_deref(), phone.as_deref()),
                provider,
                &data,
            ))
            .into_response());
        }
        // Unconfirmed: send the confirmation again; the claimed identity is not trusted enough
        // to set anything on the row. A password other than the stored one means two claims
        // on the address: the stored one stops working (see the module doc).
        if !matches(password, user.encrypted_password.clone()).await? {
            tx.execute(
                "UPDATE auth.users SET encrypted_password = '', updated_at = now() WHERE id = $1",
                &[&user.id],
            )
            .await?;
        }
        let body = confirm(
            &state,
            &tx,
            &user,
            (email.as_deref(), phone.as_deref().map(|ph| (ph, channel))),
            challenge.as_ref(),
            &redirect,
        )
        .await?;
        tx.commit().await?;
        return Ok(Json(body).into_response());
    }
    let confirmed_now = email.is_some() && config.mailer.autoconfirm;
    let phone_confirmed_now = phone.is_some() && config.sms.autoconfirm;
    let user = users::insert(
        &tx,
        NewUser {
            email: email.as_deref(),
            phone: phone.as_deref(),
            app_metadata: json!({"provider": provider, "providers": [provider]}),
            confirmed: confirmed_now,
            phone_confirmed: phone_confirmed_now,
            ..NewUser::email(&config.jwt.aud, "", &hashed, data)
        },
    )
    .await?;
    audit::record(
        &tx,
        &user,
        audit::Action::SignedUp,
        client.ip,
        json!({"provider": provider}),
    )
    .await?;
    if confirmed_now || phone_confirmed_now {
        if confirmed_now {
            users::mark_email_verified(&tx, user.id).await?;
        }
        let session = sessions::start(&state, &tx, &user, method::PASSWORD, &client).await?;
        tx.commit().await?;
        return Ok(Json(session).into_response());
    }
    let body = confirm(
        &state,
        &tx,
        &user,
        (email.as_deref(), phone.as_deref().map(|ph| (ph, channel))),
        challenge.as_ref(),
        &redirect,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(body).into_response())
}

/// Send the confirmation email or text (starting the PKCE flow if asked) and answer with the
/// user.
async fn confirm(
    state: &AppState,
    tx: &tokio_postgres::Transaction<'_>,
    user: &users::User,
    (email, phone): (Option<&str>, Option<(&str, &'static str)>),
    challenge: Option<&flow::Challenge>,
    redirect: &str,
) -> Result<Value, ApiError> {
    if let Some((ph, channel)) = phone {
        onetime::send_sms(state, tx, user, Slot::Confirmation, ph, channel).await?;
    }
    if let Some(e) = email {
        if let Some(c) = challenge {
            flow::create(tx, user.id, method::EMAIL_SIGNUP, c).await?;
        }
        onetime::send(
            state,
            tx,
            user,
            Slot::Confirmation,
            Kind::Confirmation,
            e,
            redirect,
        )
        .await?;
    }
    let user = users::by_id(tx, user.id)
        .await?
        .ok_or(ApiError::JwtUserNotFound)?;
    users::to_json(tx, &user).await
}

/// What a repeated sign-up of a confirmed address sees while confirmations are on: a user that
/// looks new, so the answer does not reveal that the address is registered.
fn obfuscated(
    aud: &str,
    (email, phone): (Option<&str>, Option<&str>),
    provider: &str,
    data: &Value,
) -> Value {
    let now = users::ts(&Utc::now());
    json!({
        "id": Uuid::new_v4().to_string(),
        "aud": if aud.is_empty() { "authenticated" } else { aud },
        "role": "",
        "email": email.unwrap_or(""),
        "phone": phone.unwrap_or(""),
        "confirmation_sent_at": now,
        "app_metadata": {"provider": provider, "providers": [provider]},
        "user_metadata": data,
        "identities": [],
        "created_at": now,
        "updated_at": now,
        "is_anonymous": false,
    })
}

async fn anonymous(state: AppState, client: Client, data: Value) -> Result<Response, ApiError> {
    if state.config.disable_signup {
        return Err(ApiError::SignupDisabled);
    }
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let user = users::insert(
        &tx,
        NewUser {
            email: None,
            app_metadata: json!({}),
            is_anonymous: true,
            ..NewUser::email(&state.config.jwt.aud, "", "", data)
        },
    )
    .await?;
    audit::record(
        &tx,
        &user,
        audit::Action::SignedUp,
        client.ip,
        json!({"provider": "anonymous"}),
    )
    .await?;
    let session = sessions::start(&state, &tx, &user, method::ANONYMOUS, &client).await?;
    tx.commit().await?;
    Ok(Json(session).into_response())
}
