//! The signed-in user's own endpoints: `GET /user`, `PUT /user` (metadata, password, email
//! change), `POST /logout` and `GET /reauthenticate`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{authenticate, redirect_target, Authed, Body, Client, Query};
use crate::mail::Kind;
use crate::onetime::{self, Slot};
use crate::ratelimit::{self, Limit};
use crate::state::AppState;
use crate::users::{self, User};
use crate::{audit, crypto, flow, password};

pub async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let db = state.pool.get().await?;
    let authed = authenticate(&state, &headers, &**db).await?;
    Ok(Json(users::to_json(&**db, &authed.user).await?).into_response())
}

/// The body of `PUT /user`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateParams {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<String>,
    pub nonce: Option<String>,
    pub data: Option<Value>,
    pub app_metadata: Option<Value>,
    pub channel: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

pub async fn update_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    query: Query,
    Body(p): Body<UpdateParams>,
) -> Result<Response, ApiError> {
    ratelimit::check(&state, Limit::Otp, client.ip).await?;
    let config = &state.config;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let authed = authenticate(&state, &headers, &tx).await?;
    let user = users::by_id_for_update(&tx, authed.user.id)
        .await?
        .ok_or(ApiError::JwtUserNotFound)?;
    if p.app_metadata.is_some() {
        return Err(ApiError::Coded {
            status: 403,
            code: "not_admin",
            message: "Updating app_metadata requires admin privileges".into(),
        });
    }
    let email = p.email.filter(|e| !e.trim().is_empty());
    let new_password = p.password.filter(|pw| !pw.is_empty());
    if (email.is_some() || new_password.is_some()) && authed.aal() != "aal2" {
        let verified: i64 = tx
            .query_one(
                "SELECT count(*) FROM auth.mfa_factors WHERE user_id = $1 AND status = 'verified'",
                &[&user.id],
            )
            .await?
            .get(0);
        if verified > 0 {
            return Err(ApiError::InsufficientAal {
                status: 401,
                message:
                    "AAL2 session is required to update email or password when MFA is enabled.",
            });
        }
    }
    if let Some(ph) = p.phone.as_deref().filter(|ph| !ph.is_empty()) {
        let ph = users::validate_phone(ph)?;
        if ph != user.phone {
            if !config.phone_enabled {
                return Err(ApiError::PhoneProviderDisabled {
                    status: 422,
                    message: "Phone logins are disabled",
                });
            }
            if users::by_phone(&tx, &ph).await?.is_some() {
                return Err(ApiError::PhoneExists);
            }
            if config.sms.autoconfirm {
                apply_phone_change(&tx, &user, &ph).await?;
            } else {
                tx.execute(
                    "UPDATE auth.users SET phone_change = $2, updated_at = now() WHERE id = $1",
                    &[&user.id, &ph],
                )
                .await?;
                let channel = onetime::channel(&state, p.channel.as_deref())?;
                onetime::send_sms(&state, &tx, &user, Slot::PhoneChange, &ph, channel).await?;
            }
        }
    }
    let challenge = flow::challenge(
        p.code_challenge_method.as_deref(),
        p.code_challenge.as_deref(),
    )?;
    if let Some(data) = p.data {
        let patch = crate::api::signup::metadata(Some(data))?;
        let merged = users::merge_metadata(&user.user_metadata, &patch);
        tx.execute(
            "UPDATE auth.users SET raw_user_meta_data = $2, updated_at = now() WHERE id = $1",
            &[&user.id, &merged],
        )
        .await?;
    }
    if let Some(pw) = new_password {
        if user.is_anonymous && user.email.is_empty() && user.phone.is_empty() {
            return Err(ApiError::Unprocessable(
                "Updating password of an anonymous user without an email or phone is not allowed"
                    .into(),
            ));
        }
        password::check_strength(&config.password, &pw)?;
        if config.secure_password_change {
            check_nonce(&state, &tx, &authed, &user, p.nonce.as_deref()).await?;
        }
        let old = user.encrypted_password.clone();
        let candidate = pw.clone();
        let same = tokio::task::spawn_blocking(move || crypto::verify_password(&candidate, &old))
            .await
            .map_err(|e| ApiError::internal("password check task", e))?;
        if same {
            return Err(ApiError::SamePassword);
        }
        let hashed = crate::api::signup::hash(pw).await?;
        // Other sessions of the user end with the old password, as do its emailed tokens.
        users::set_password(&tx, user.id, &hashed, authed.session_id).await?;
        audit::record(
            &tx,
            &user,
            audit::Action::UpdatedPassword,
            client.ip,
            json!({}),
        )
        .await?;
    }
    if let Some(e) = email {
        let e = users::validate_email(&e)?;
        if e != user.email {
            if let Some(other) = users::by_email(&tx, &e).await? {
                if other.id != user.id {
                    return Err(ApiError::EmailExists);
                }
            }
            // Autoconfirm lets an anonymous user take an address at once (much like signing
            // up); a permanent user always confirms a new address by email.
            if config.mailer.autoconfirm && user.is_anonymous {
                apply_email_change(&tx, &user, &e).await?;
            } else {
                let redirect = redirect_target(config, query.get("redirect_to"));
                if let Some(c) = &challenge {
                    flow::create(&tx, user.id, crate::sessions::method::EMAIL_CHANGE, c).await?;
                }
                send_email_change(&state, &tx, user.id, &e, &redirect).await?;
            }
        }
    }
    let user = users::by_id(&tx, user.id)
        .await?
        .ok_or(ApiError::JwtUserNotFound)?;
    let body = users::to_json(&tx, &user).await?;
    tx.commit().await?;
    Ok(Json(body).into_response())
}

/// Start (or restart) a change of the user's address to `new_email`: a confirmation to the new
/// address and, with secure email change, one to the current address, each a fresh token;
/// refused within the per-user interval.
pub async fn send_email_change(
    state: &AppState,
    tx: &impl GenericClient,
    user_id: uuid::Uuid,
    new_email: &str,
    redirect: &str,
) -> Result<(), ApiError> {
    let user = users::by_id(tx, user_id)
        .await?
        .ok_or(ApiError::JwtUserNotFound)?;
    onetime::check_frequency(state, Slot::EmailChangeNew.sent_at(&user))?;
    tx.execute(
        "UPDATE auth.users SET email_change = $2, email_change_confirm_status = 0, \
           email_change_token_current = '', updated_at = now() WHERE id = $1",
        &[&user_id, &new_email],
    )
    .await?;
    let user = users::by_id(tx, user_id)
        .await?
        .ok_or(ApiError::JwtUserNotFound)?;
    onetime::deliver(
        state,
        tx,
        &user,
        Slot::EmailChangeNew,
        Kind::EmailChange,
        new_email,
        redirect,
    )
    .await?;
    if state.config.mailer.secure_email_change && !user.email.is_empty() {
        onetime::deliver(
            state,
            tx,
            &user,
            Slot::EmailChangeCurrent,
            Kind::EmailChange,
            &user.email,
            redirect,
        )
        .await?;
    }
    Ok(())
}

/// Check the reauthentication nonce a password change needs when the session is not fresh.
async fn check_nonce(
    state: &AppState,
    db: &impl GenericClient,
    authed: &Authed,
    user: &User,
    nonce: Option<&str>,
) -> Result<(), ApiError> {
    let fresh = match authed.session_id {
        Some(sid) => db
            .query_opt(
                "SELECT created_at > now() - interval '24 hours' FROM auth.sessions WHERE id = $1",
                &[&sid],
            )
            .await?
            .and_then(|r| r.get::<_, Option<bool>>(0))
            .unwrap_or(false),
        None => false,
    };
    if fresh && nonce.is_none() {
        return Ok(());
    }
    let nonce = nonce
        .filter(|n| !n.is_empty())
        .ok_or(ApiError::ReauthenticationNeeded)?;
    let address = if user.email.is_empty() {
        &user.phone
    } else {
        &user.email
    };
    let expected = crypto::token_hash(address, nonce);
    let stored = Slot::Reauthentication.hash_of(user);
    if stored.is_empty()
        || !crypto::constant_time_eq(stored.as_bytes(), expected.as_bytes())
        || onetime::expired(state, Slot::Reauthentication.sent_at(user))
    {
        return Err(ApiError::ReauthenticationInvalid);
    }
    onetime::clear(db, user.id, Slot::Reauthentication).await
}

/// Make `new_email` the user's address, confirmed, with an email identity; an anonymous user
/// becomes a permanent one.
pub async fn apply_email_change(
    db: &impl GenericClient,
    user: &User,
    new_email: &str,
) -> Result<(), ApiError> {
    db.execute(
        "UPDATE auth.users SET email = $2, email_confirmed_at = coalesce(email_confirmed_at, now()), \
           email_change = '', email_change_token_new = '', email_change_token_current = '', \
           email_change_confirm_status = 0, is_anonymous = false, updated_at = now(), \
           raw_app_meta_data = CASE WHEN coalesce(raw_app_meta_data ->> 'provider', '') = '' \
             THEN coalesce(raw_app_meta_data, '{}'::jsonb) || '{\"provider\": \"email\", \"providers\": [\"email\"]}'::jsonb \
             ELSE raw_app_meta_data END \
         WHERE id = $1",
        &[&user.id, &new_email],
    )
    .await
    .map_err(|e| {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            ApiError::EmailExists
        } else {
            ApiError::from(e)
        }
    })?;
    let updated = db
        .execute(
            "UPDATE auth.identities SET identity_data = identity_data || \
               jsonb_build_object('email', $2::text, 'email_verified', true), updated_at = now() \
             WHERE user_id = $1 AND provider = 'email'",
            &[&user.id, &new_email],
        )
        .await?;
    if updated == 0 {
        let fresh = users::by_id(db, user.id)
            .await?
            .ok_or(ApiError::JwtUserNotFound)?;
        users::insert_identity(
            db,
            &fresh,
            "email",
            &user.id.to_string(),
            Some(new_email),
            None,
        )
        .await?;
        users::mark_email_verified(db, user.id).await?;
    }
    for slot in [Slot::EmailChangeNew, Slot::EmailChangeCurrent] {
        onetime::clear(db, user.id, slot).await?;
    }
    Ok(())
}

/// Make `new_phone` the user's number, confirmed, with a phone identity.
pub async fn apply_phone_change(
    db: &impl GenericClient,
    user: &User,
    new_phone: &str,
) -> Result<(), ApiError> {
    db.execute(
        "UPDATE auth.users SET phone = $2, phone_confirmed_at = now(), phone_change = '', \
           phone_change_token = '', is_anonymous = false, updated_at = now() WHERE id = $1",
        &[&user.id, &new_phone],
    )
    .await
    .map_err(|e| {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            ApiError::PhoneExists
        } else {
            ApiError::from(e)
        }
    })?;
    let updated = db
        .execute(
            "UPDATE auth.identities SET identity_data = identity_data || \
               jsonb_build_object('phone', $2::text, 'phone_verified', true), updated_at = now() \
             WHERE user_id = $1 AND provider = 'phone'",
            &[&user.id, &new_phone],
        )
        .await?;
    if updated == 0 {
        users::insert_identity(
            db,
            user,
            "phone",
            &user.id.to_string(),
            None,
            Some(new_phone),
        )
        .await?;
    }
    onetime::clear(db, user.id, Slot::PhoneChange).await
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    query: Query,
) -> Result<Response, ApiError> {
    let scope = query.get("scope").unwrap_or("global");
    if !matches!(scope, "global" | "local" | "others") {
        return Err(ApiError::Validation(format!(
            "Unsupported logout scope {scope:?}"
        )));
    }
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let authed = authenticate(&state, &headers, &tx).await?;
    let user_id: Uuid = authed.user.id;
    match (scope, authed.session_id) {
        ("local", Some(sid)) => {
            tx.execute("DELETE FROM auth.sessions WHERE id = $1", &[&sid])
                .await?;
        }
        ("others", Some(sid)) => {
            tx.execute(
                "DELETE FROM auth.sessions WHERE user_id = $1 AND id <> $2",
                &[&user_id, &sid],
            )
            .await?;
        }
        _ => {
            tx.execute("DELETE FROM auth.sessions WHERE user_id = $1", &[&user_id])
                .await?;
        }
    }
    audit::record(
        &tx,
        &authed.user,
        audit::Action::Logout,
        client.ip,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn reauthenticate(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let authed = authenticate(&state, &headers, &tx).await?;
    let user = authed.user;
    if user.email.is_empty() && user.phone.is_empty() {
        return Err(ApiError::Validation(
            "Reauthentication requires the user to have an email or a phone number".into(),
        ));
    }
    // `message_id` when a text goes through an SMS provider.
    let mut answer = json!({});
    if !user.email.is_empty() {
        if user.email_confirmed_at.is_none() {
            return Err(ApiError::Coded {
                status: 422,
                code: "email_not_confirmed",
                message: "Please verify your email first.".into(),
            });
        }
        let site = state.config.site_url.clone();
        onetime::send(
            &state,
            &tx,
            &user,
            Slot::Reauthentication,
            Kind::Reauthentication,
            &user.email,
            &site,
        )
        .await?;
    } else {
        if user.phone_confirmed_at.is_none() {
            return Err(ApiError::Coded {
                status: 422,
                code: "phone_not_confirmed",
                message: "Please verify your phone first.".into(),
            });
        }
        let phone = user.phone.clone();
        let sent =
            onetime::send_sms(&state, &tx, &user, Slot::Reauthentication, &phone, "sms").await?;
        if let Some(id) = sent {
            answer["message_id"] = id.into();
        }
    }
    tx.commit().await?;
    Ok(Json(answer).into_response())
}
