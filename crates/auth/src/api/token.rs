//! `POST /token?grant_type=…`: `password`, `refresh_token` (with rotation) and `pkce`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{Body, Client, Query};
use crate::ratelimit::{self, Limit};
use crate::sessions::{self, method};
use crate::state::AppState;
use crate::{crypto, flow, password, users};

/// The body of any grant; each grant reads its own fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenParams {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
    pub auth_code: Option<String>,
    pub code_verifier: Option<String>,
}

pub async fn token(
    State(state): State<AppState>,
    client: Client,
    query: Query,
    Body(p): Body<TokenParams>,
) -> Result<Response, ApiError> {
    let grant = query.get("grant_type").unwrap_or("");
    if grant == "web3" {
        // Sign-in with a Solana or Ethereum wallet is a provider basalt does not offer.
        return Err(ApiError::Coded {
            status: 422,
            code: "web3_provider_disabled",
            message: "Web3 provider is disabled".into(),
        });
    }
    if !matches!(grant, "password" | "refresh_token" | "pkce") {
        return Err(ApiError::UnsupportedGrant);
    }
    // The refresh grant counts itself, in its one statement.
    if grant != "refresh_token" {
        ratelimit::check(&state, Limit::Token, client.ip).await?;
    }
    let body = match grant {
        "password" => password_grant(&state, &client, p).await?,
        "refresh_token" => refresh_grant(&state, &client, p).await?,
        _ => pkce_grant(&state, &client, p).await?,
    };
    Ok(Json(body).into_response())
}

async fn password_grant(
    state: &AppState,
    client: &Client,
    p: TokenParams,
) -> Result<Value, ApiError> {
    let config = &state.config;
    let email = p.email.filter(|e| !e.trim().is_empty());
    let phone = p.phone.filter(|e| !e.trim().is_empty());
    let pass = p.password.unwrap_or_default();
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let by_email = email.is_some();
    let user = match (email, phone) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Validation(
                "Only an email address or phone number should be provided on login.".into(),
            ))
        }
        (Some(e), None) => {
            if !config.email_enabled {
                return Err(ApiError::EmailProviderDisabled {
                    status: 422,
                    message: "Email logins are disabled",
                });
            }
            users::by_email(&tx, e.trim()).await?
        }
        (None, Some(ph)) => {
            if !config.phone_enabled {
                return Err(ApiError::PhoneProviderDisabled {
                    status: 422,
                    message: "Phone logins are disabled",
                });
            }
            match users::validate_phone(&ph) {
                Ok(ph) => users::by_phone(&tx, &ph).await?,
                Err(_) => None,
            }
        }
        (None, None) => {
            return Err(ApiError::Validation("missing email or phone".into()));
        }
    };
    // Compare against a hash even when the user is unknown, so both take as long.
    let hash = user
        .as_ref()
        .map(|u| u.encrypted_password.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| crypto::dummy_hash().to_string());
    let candidate = pass.clone();
    let matches = tokio::task::spawn_blocking(move || crypto::verify_password(&candidate, &hash))
        .await
        .map_err(|e| ApiError::internal("password check task", e))?;
    let user = match user {
        Some(u) if matches && !u.encrypted_password.is_empty() && u.deleted_at.is_none() => u,
        _ => return Err(ApiError::InvalidCredentials),
    };
    if user.is_banned() {
        return Err(ApiError::UserBanned { status: 400 });
    }
    if by_email && user.email_confirmed_at.is_none() {
        return Err(ApiError::EmailNotConfirmed);
    }
    if !by_email && user.phone_confirmed_at.is_none() {
        return Err(ApiError::PhoneNotConfirmed);
    }
    let mut session = sessions::start(state, &tx, &user, method::PASSWORD, client).await?;
    tx.commit().await?;
    if let Err(ApiError::WeakPassword { message, reasons }) =
        password::check_strength(&config.password, &pass)
    {
        session["weak_password"] = json!({ "reasons": reasons, "message": message });
    }
    Ok(session)
}

async fn refresh_grant(
    state: &AppState,
    client: &Client,
    p: TokenParams,
) -> Result<Value, ApiError> {
    let token = p.refresh_token.unwrap_or_default();
    if !plausible_refresh_token(&token) {
        return Err(ApiError::Validation("Refresh token is not valid".into()));
    }
    sessions::refresh(state, &token, client).await
}

/// Whether a refresh token has a shape one can have: at least 12 characters, and exactly 12
/// only as the lowercase letters and digits of the classic format. Anything else is refused
/// before it is looked up.
fn plausible_refresh_token(token: &str) -> bool {
    match token.len() {
        0..=11 => false,
        12 => token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        _ => true,
    }
}

async fn pkce_grant(state: &AppState, client: &Client, p: TokenParams) -> Result<Value, ApiError> {
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let exchanged = flow::exchange(
        &tx,
        p.auth_code.as_deref().unwrap_or(""),
        p.code_verifier.as_deref().unwrap_or(""),
    )
    .await;
    let (user_id, auth_method) = match exchanged {
        Ok(v) => v,
        Err(e @ ApiError::FlowStateExpired) => {
            // The expired flow was deleted; keep that.
            tx.commit().await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let user = users::by_id(&tx, user_id)
        .await?
        .ok_or(ApiError::UserNotFound("User not found"))?;
    if user.is_banned() {
        return Err(ApiError::UserBanned { status: 400 });
    }
    let session = sessions::start(state, &tx, &user, &auth_method, client).await?;
    tx.commit().await?;
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::plausible_refresh_token;

    #[test]
    fn refresh_token_shapes() {
        assert!(!plausible_refresh_token(""));
        assert!(!plausible_refresh_token("not-a-token"));
        assert!(plausible_refresh_token("abcdefghij12"));
        assert!(!plausible_refresh_token("ABCDEFGHIJ12"));
        assert!(plausible_refresh_token("xKrvTGaKqCNVMphU7RvWfAmEbI3q1LP5"));
    }
}
