//! Sessions and their tokens: starting a session (row in `auth.sessions`, first refresh token,
//! the `amr` entry), building the access token and the session JSON, and refresh-token rotation
//! with GoTrue's reuse interval — a rotated token used again within the interval gets the
//! session's current token; used again later, every token of the session is revoked.

use chrono::Utc;
use serde_json::{json, Value};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::crypto;
use crate::error::ApiError;
use crate::extract::Client;
use crate::jwt::{AccessClaims, AmrEntry};
use crate::state::AppState;
use crate::users::{self, User};

/// Length of refresh tokens.
pub const REFRESH_TOKEN_LEN: usize = 32;

/// Authentication methods, as they appear in the `amr` claim.
pub mod method {
    pub const PASSWORD: &str = "password";
    pub const OTP: &str = "otp";
    pub const MAGICLINK: &str = "magiclink";
    pub const RECOVERY: &str = "recovery";
    pub const INVITE: &str = "invite";
    pub const EMAIL_SIGNUP: &str = "email/signup";
    pub const EMAIL_CHANGE: &str = "email_change";
    pub const ANONYMOUS: &str = "anonymous";
    pub const TOTP: &str = "totp";
    pub const TOKEN_REFRESH: &str = "token_refresh";
}

/// Start a session for `user` signed in by `method`; returns the session JSON.
pub async fn start(
    state: &AppState,
    db: &impl GenericClient,
    user: &User,
    method: &str,
    client: &Client,
) -> Result<Value, ApiError> {
    let session_id = Uuid::new_v4();
    let timebox = state.config.refresh.timebox.map(|t| t.as_secs_f64());
    db.execute(
        "INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip, not_after) \
         VALUES ($1, $2, now(), now(), 'aal1', $3, $4, now() + make_interval(secs => $5))",
        &[&session_id, &user.id, &client.user_agent, &client.ip, &timebox],
    )
    .await?;
    add_amr(db, session_id, method).await?;
    let token = insert_refresh_token(db, user.id, session_id, None).await?;
    db.execute(
        "UPDATE auth.users SET last_sign_in_at = now(), updated_at = now() WHERE id = $1",
        &[&user.id],
    )
    .await?;
    db.execute(
        "UPDATE auth.identities SET last_sign_in_at = now() WHERE user_id = $1",
        &[&user.id],
    )
    .await?;
    crate::audit::record(
        db,
        user,
        crate::audit::Action::Login,
        client.ip,
        json!({"provider": provider_of(user), "method": method}),
    )
    .await?;
    respond(state, db, user.id, session_id, &token, method).await
}

/// The provider a user signs in with, for the audit trail.
fn provider_of(user: &User) -> &str {
    user.app_metadata
        .get("provider")
        .and_then(Value::as_str)
        .unwrap_or(if user.is_anonymous {
            "anonymous"
        } else {
            "email"
        })
}

/// Record that the session was authenticated by `method` now.
pub async fn add_amr(
    db: &impl GenericClient,
    session_id: Uuid,
    method: &str,
) -> Result<(), ApiError> {
    db.execute(
        "INSERT INTO auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method) \
         VALUES (gen_random_uuid(), $1, now(), now(), $2) \
         ON CONFLICT (session_id, authentication_method) DO UPDATE SET updated_at = now()",
        &[&session_id, &method],
    )
    .await?;
    Ok(())
}

/// Insert a refresh token of a session (with `parent`, the token it replaces).
pub async fn insert_refresh_token(
    db: &impl GenericClient,
    user_id: Uuid,
    session_id: Uuid,
    parent: Option<&str>,
) -> Result<String, ApiError> {
    let token = crypto::random_token(REFRESH_TOKEN_LEN);
    db.execute(
        "INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, \
           updated_at, parent, session_id) \
         VALUES ('00000000-0000-0000-0000-000000000000', $1, $2, false, now(), now(), $3, $4)",
        &[&token, &user_id.to_string(), &parent, &session_id],
    )
    .await?;
    Ok(token)
}

/// The session JSON for a session and its current refresh token.
pub async fn respond(
    state: &AppState,
    db: &impl GenericClient,
    user_id: Uuid,
    session_id: Uuid,
    refresh_token: &str,
    method: &str,
) -> Result<Value, ApiError> {
    let user = users::by_id(db, user_id)
        .await?
        .ok_or(ApiError::JwtUserNotFound)?;
    let (access_token, expires_at) = access_token(state, db, &user, session_id, method).await?;
    Ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": state.config.jwt.exp,
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": users::to_json(db, &user).await?,
    }))
}

/// The claims of an access token for `user` in `session_id`.
pub async fn claims(
    state: &AppState,
    db: &impl GenericClient,
    user: &User,
    session_id: Uuid,
) -> Result<AccessClaims, ApiError> {
    let aal: String = db
        .query_opt(
            "SELECT coalesce(aal::text, 'aal1') FROM auth.sessions WHERE id = $1",
            &[&session_id],
        )
        .await?
        .map(|r| r.get(0))
        .ok_or(ApiError::SessionNotFound)?;
    let amr = db
        .query(
            "SELECT authentication_method, extract(epoch FROM updated_at)::bigint \
             FROM auth.mfa_amr_claims WHERE session_id = $1 ORDER BY updated_at DESC",
            &[&session_id],
        )
        .await?
        .iter()
        .map(|r| AmrEntry {
            method: r.get(0),
            timestamp: r.get(1),
        })
        .collect();
    let now = Utc::now().timestamp();
    let cfg = &state.config.jwt;
    Ok(AccessClaims {
        iss: cfg.issuer.clone(),
        sub: user.id.to_string(),
        aud: if user.aud.is_empty() {
            cfg.aud.clone()
        } else {
            user.aud.clone()
        },
        exp: now + cfg.exp,
        iat: now,
        email: user.email.clone(),
        phone: user.phone.clone(),
        app_metadata: user.app_metadata.clone(),
        user_metadata: user.user_metadata.clone(),
        role: user.role_or_default().to_string(),
        aal,
        amr,
        session_id: session_id.to_string(),
        is_anonymous: user.is_anonymous,
    })
}

/// A signed access token and its expiry (unix seconds), after the custom access token hook
/// when one is configured.
pub async fn access_token(
    state: &AppState,
    db: &impl GenericClient,
    user: &User,
    session_id: Uuid,
    method: &str,
) -> Result<(String, i64), ApiError> {
    let base = claims(state, db, user, session_id).await?;
    let claims =
        serde_json::to_value(&base).map_err(|e| ApiError::internal("serialising claims", e))?;
    let claims = match &state.access_token_hook {
        Some(f) => crate::hooks::custom_access_token(db, f, &base.sub, claims, method).await?,
        None => claims,
    };
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or(base.exp);
    let token = state
        .keys
        .sign(&claims)
        .map_err(|e| ApiError::internal("signing the access token", e))?;
    Ok((token, exp))
}

/// What a refresh attempt came to.
pub enum Refreshed {
    /// A new session JSON.
    Session(Value),
    /// The token was reused past the interval: the session's tokens were revoked (to be
    /// committed) and the request fails.
    Revoked,
}

/// Exchange a refresh token for a new session JSON, rotating it.
pub async fn refresh(
    state: &AppState,
    db: &impl GenericClient,
    token: &str,
) -> Result<Refreshed, ApiError> {
    let row = db
        .query_opt(
            "SELECT id, user_id, revoked, session_id, \
               extract(epoch FROM (now() - updated_at))::float8 \
             FROM auth.refresh_tokens WHERE token = $1 FOR UPDATE",
            &[&token],
        )
        .await?
        .ok_or(ApiError::RefreshTokenNotFound)?;
    let token_id: i64 = row.get(0);
    let user_id = row
        .get::<_, Option<String>>(1)
        .and_then(|s| Uuid::parse_str(&s).ok())
        .ok_or(ApiError::RefreshTokenNotFound)?;
    let revoked = row.get::<_, Option<bool>>(2).unwrap_or(false);
    let session_id: Uuid = row
        .get::<_, Option<Uuid>>(3)
        .ok_or(ApiError::RefreshTokenNotFound)?;
    let age: f64 = row.get(4);
    // One refresh at a time per session.
    let inactivity = state
        .config
        .refresh
        .inactivity_timeout
        .map(|t| t.as_secs_f64());
    let session = db
        .query_opt(
            "SELECT coalesce(not_after < now(), false) OR coalesce( \
               coalesce(refreshed_at AT TIME ZONE 'UTC', created_at) \
                 + make_interval(secs => $2) < now(), false) \
             FROM auth.sessions WHERE id = $1 FOR UPDATE",
            &[&session_id, &inactivity],
        )
        .await?
        .ok_or(ApiError::RefreshTokenNotFound)?;
    if session.get::<_, bool>(0) {
        return Err(ApiError::SessionExpired);
    }
    let user = users::by_id(db, user_id)
        .await?
        .ok_or(ApiError::RefreshTokenNotFound)?;
    if user.is_banned() {
        return Err(ApiError::UserBanned { status: 400 });
    }
    if revoked && state.config.refresh.rotation_enabled {
        // The session's newest live token, if it was made from this one, is what the client
        // failed to store: hand it out again.
        let active = db
            .query_opt(
                "SELECT token, parent FROM auth.refresh_tokens \
                 WHERE session_id = $1 AND revoked = false ORDER BY id DESC LIMIT 1",
                &[&session_id],
            )
            .await?;
        if let Some(active) = active {
            let parent: Option<String> = active.get(1);
            if parent.as_deref() == Some(token) && age < state.config.refresh.reuse_interval as f64
            {
                let current: String = active.get(0);
                touch_session(db, session_id).await?;
                return Ok(Refreshed::Session(
                    respond(
                        state,
                        db,
                        user_id,
                        session_id,
                        &current,
                        method::TOKEN_REFRESH,
                    )
                    .await?,
                ));
            }
        }
        if age >= state.config.refresh.reuse_interval as f64 {
            db.execute(
                "UPDATE auth.refresh_tokens SET revoked = true, updated_at = now() \
                 WHERE session_id = $1 AND revoked = false",
                &[&session_id],
            )
            .await?;
            tracing::warn!(%session_id, "refresh token reused past the reuse interval; session revoked");
            return Ok(Refreshed::Revoked);
        }
    }
    if state.config.refresh.rotation_enabled || !revoked {
        db.execute(
            "UPDATE auth.refresh_tokens SET revoked = true, updated_at = now() WHERE id = $1",
            &[&token_id],
        )
        .await?;
    }
    let next = insert_refresh_token(db, user_id, session_id, Some(token)).await?;
    touch_session(db, session_id).await?;
    crate::audit::record(
        db,
        &user,
        crate::audit::Action::TokenRefreshed,
        None,
        json!({}),
    )
    .await?;
    Ok(Refreshed::Session(
        respond(state, db, user_id, session_id, &next, method::TOKEN_REFRESH).await?,
    ))
}

async fn touch_session(db: &impl GenericClient, session_id: Uuid) -> Result<(), ApiError> {
    db.execute(
        "UPDATE auth.sessions SET refreshed_at = now() AT TIME ZONE 'UTC', updated_at = now() \
         WHERE id = $1",
        &[&session_id],
    )
    .await?;
    Ok(())
}

/// Replace the session's refresh tokens with a new one (after its assurance level changed by
/// `method`).
pub async fn reissue(
    state: &AppState,
    db: &impl GenericClient,
    user_id: Uuid,
    session_id: Uuid,
    method: &str,
) -> Result<Value, ApiError> {
    db.execute(
        "UPDATE auth.refresh_tokens SET revoked = true, updated_at = now() \
         WHERE session_id = $1 AND revoked = false",
        &[&session_id],
    )
    .await?;
    let token = insert_refresh_token(db, user_id, session_id, None).await?;
    respond(state, db, user_id, session_id, &token, method).await
}
