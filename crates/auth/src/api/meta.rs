//! Endpoints about the service itself: `GET /health`, `GET /settings`,
//! `GET /.well-known/jwks.json`, and the development mailbox `GET /basalt/mail`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{require_admin, Query};
use crate::state::AppState;

pub async fn health() -> Response {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "name": "basalt-auth",
        "description": "basalt's GoTrue-compatible auth API",
    }))
    .into_response()
}

pub async fn settings(State(state): State<AppState>) -> Response {
    let c = &state.config;
    let mut external = serde_json::Map::new();
    for provider in [
        "apple",
        "azure",
        "bitbucket",
        "discord",
        "facebook",
        "snapchat",
        "figma",
        "fly",
        "github",
        "gitlab",
        "google",
        "keycloak",
        "kakao",
        "linkedin",
        "linkedin_oidc",
        "notion",
        "spotify",
        "slack",
        "slack_oidc",
        "workos",
        "twitch",
        "twitter",
        "zoom",
    ] {
        external.insert(provider.into(), false.into());
    }
    for provider in crate::external::enabled(c) {
        external.insert(provider, true.into());
    }
    external.insert("email".into(), c.email_enabled.into());
    external.insert("phone".into(), c.phone_enabled.into());
    external.insert("anonymous_users".into(), c.anonymous_enabled.into());
    Json(json!({
        "external": external,
        "disable_signup": c.disable_signup,
        "mailer_autoconfirm": c.mailer.autoconfirm,
        "phone_autoconfirm": c.sms.autoconfirm,
        "sms_provider": state.sms.as_ref().map_or("", |s| s.provider().name()),
        "saml_enabled": false,
        "saml_private_key_next_configured": false,
        "passkeys_enabled": false,
    }))
    .into_response()
}

/// `POST /sso`, `/sso/saml/*`: single sign-on through SAML identity providers is not offered,
/// which clients learn as 404 `saml_provider_disabled`.
pub async fn saml_disabled() -> ApiError {
    ApiError::Coded {
        status: 404,
        code: "saml_provider_disabled",
        message: "SAML 2.0 is disabled".into(),
    }
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    Json(state.keys.jwks()).into_response()
}

/// The development mailbox, newest first (`?email=` filters by recipient, `?limit=` caps).
pub async fn mailbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let db = state.pool.get().await?;
    let db: &tokio_postgres::Client = &db;
    let messages = crate::mail::list(db, query.get("email"), limit).await?;
    Ok(Json(json!({ "messages": messages })).into_response())
}

/// Empty the development mailbox (`?email=` only that recipient's messages).
pub async fn clear_mailbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let db = state.pool.get().await?;
    let db: &tokio_postgres::Client = &db;
    db.execute(
        "DELETE FROM auth.mail WHERE $1::text IS NULL OR lower(recipient) = lower($1)",
        &[&query.get("email")],
    )
    .await?;
    Ok(Json(json!({})).into_response())
}

/// OpenID discovery: where the keys and endpoints are.
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let base = &state.config.external_url;
    Json(json!({
        "issuer": state.config.jwt.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/user"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "HS256"],
    }))
    .into_response()
}
