//! MFA with TOTP: `POST /factors` (enroll), `POST /factors/{id}/challenge`,
//! `POST /factors/{id}/verify` (raises the session to `aal2` and answers with new tokens) and
//! `DELETE /factors/{id}` (unenroll).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{authenticate, Authed, Body, Client};
use crate::ratelimit::{self, Limit};
use crate::sessions::{self, method};
use crate::state::AppState;
use crate::totp;

/// The body of `POST /factors`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EnrollParams {
    pub factor_type: Option<String>,
    pub friendly_name: Option<String>,
    pub issuer: Option<String>,
    pub phone: Option<String>,
}

async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    db: &impl GenericClient,
) -> Result<Authed, ApiError> {
    let authed = authenticate(state, headers, db).await?;
    if authed.user.is_anonymous {
        return Err(ApiError::AnonymousForbidden);
    }
    Ok(authed)
}

async fn verified_factors(db: &impl GenericClient, user_id: Uuid) -> Result<i64, ApiError> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM auth.mfa_factors WHERE user_id = $1 AND status = 'verified'",
            &[&user_id],
        )
        .await?
        .get(0))
}

pub async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(p): Body<EnrollParams>,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let authed = signed_in(&state, &headers, &tx).await?;
    match p.factor_type.as_deref().unwrap_or("") {
        "totp" => {}
        "phone" => {
            return Err(ApiError::MfaDisabled {
                code: "mfa_phone_enroll_not_enabled",
                message: "MFA enroll is disabled for Phone",
            })
        }
        "webauthn" => {
            return Err(ApiError::MfaDisabled {
                code: "mfa_webauthn_enroll_not_enabled",
                message: "MFA enroll is disabled for WebAuthn",
            })
        }
        _ => {
            return Err(ApiError::Validation(
                "factor_type needs to be totp, phone, or webauthn".into(),
            ))
        }
    }
    if !config.mfa.totp_enroll_enabled {
        return Err(ApiError::MfaDisabled {
            code: "mfa_totp_enroll_not_enabled",
            message: "MFA enroll is disabled for TOTP",
        });
    }
    let user = &authed.user;
    // Unverified factors never challenged are forgotten after five minutes.
    tx.execute(
        "DELETE FROM auth.mfa_factors f WHERE f.user_id = $1 AND f.status <> 'verified' \
           AND NOT EXISTS (SELECT 1 FROM auth.mfa_challenges c WHERE c.factor_id = f.id) \
           AND f.created_at + interval '300 seconds' < now()",
        &[&user.id],
    )
    .await?;
    // Checked in Supabase Auth's order; an empty name is a name too.
    let friendly = p.friendly_name.unwrap_or_default();
    let taken = tx
        .query_opt(
            "SELECT 1 FROM auth.mfa_factors WHERE user_id = $1 AND coalesce(friendly_name, '') = $2",
            &[&user.id, &friendly],
        )
        .await?
        .is_some();
    if taken {
        return Err(ApiError::FactorNameConflict(friendly));
    }
    let total: i64 = tx
        .query_one(
            "SELECT count(*) FROM auth.mfa_factors WHERE user_id = $1",
            &[&user.id],
        )
        .await?
        .get(0);
    if total as usize >= config.mfa.max_enrolled_factors {
        return Err(ApiError::TooManyFactors);
    }
    if verified_factors(&tx, user.id).await? > 0 && authed.aal() != "aal2" {
        return Err(ApiError::InsufficientAal {
            status: 403,
            message: "AAL2 required to enroll a new factor",
        });
    }
    let issuer = p.issuer.filter(|i| !i.is_empty()).unwrap_or_else(|| {
        url::Url::parse(&config.site_url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| {
                    u.port()
                        .map(|p| format!("{h}:{p}"))
                        .unwrap_or(h.to_string())
                })
            })
            .unwrap_or_else(|| "basalt".into())
    });
    let account = if user.email.is_empty() {
        &user.phone
    } else {
        &user.email
    };
    let secret = totp::new_secret();
    let uri = totp::uri(&issuer, account, &secret);
    let svg = totp::qr_svg(&uri).ok_or_else(|| ApiError::internal("QR code", "URI too long"))?;
    let id = Uuid::new_v4();
    tx.execute(
        "INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, \
           created_at, updated_at, secret) VALUES ($1, $2, $3, 'totp', 'unverified', now(), now(), $4)",
        &[&id, &user.id, &friendly, &secret],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({
        "id": id.to_string(),
        "type": "totp",
        "friendly_name": friendly,
        "totp": {"qr_code": svg, "secret": secret, "uri": uri},
    }))
    .into_response())
}

/// The user's factor `id`, or `mfa_factor_not_found`.
async fn factor(
    db: &impl GenericClient,
    user_id: Uuid,
    id: &str,
) -> Result<(Uuid, String, String), ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::Coded {
        status: 404,
        code: "validation_failed",
        message: "factor_id must be an UUID".into(),
    })?;
    let row = db
        .query_opt(
            "SELECT status::text, coalesce(secret, '') FROM auth.mfa_factors \
             WHERE id = $1 AND user_id = $2 FOR UPDATE",
            &[&id, &user_id],
        )
        .await?
        .ok_or(ApiError::FactorNotFound)?;
    Ok((id, row.get(0), row.get(1)))
}

pub async fn challenge(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    ratelimit::check(&state, Limit::Mfa, client.ip).await?;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let authed = signed_in(&state, &headers, &tx).await?;
    let (factor_id, _, _) = factor(&tx, authed.user.id, &id).await?;
    let challenge_id = Uuid::new_v4();
    let ip = client
        .ip
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    tx.execute(
        "INSERT INTO auth.mfa_challenges (id, factor_id, created_at, ip_address) VALUES ($1, $2, now(), $3)",
        &[&challenge_id, &factor_id, &ip],
    )
    .await?;
    tx.execute(
        "UPDATE auth.mfa_factors SET last_challenged_at = clock_timestamp(), updated_at = now() WHERE id = $1",
        &[&factor_id],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({
        "id": challenge_id.to_string(),
        "type": "totp",
        "expires_at": Utc::now().timestamp() + state.config.mfa.challenge_expiry,
    }))
    .into_response())
}

/// The body of `POST /factors/{id}/verify`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VerifyParams {
    pub challenge_id: Option<String>,
    pub code: Option<String>,
}

pub async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Path(id): Path<String>,
    Body(p): Body<VerifyParams>,
) -> Result<Response, ApiError> {
    ratelimit::check(&state, Limit::Mfa, client.ip).await?;
    if !state.config.mfa.totp_verify_enabled {
        return Err(ApiError::MfaDisabled {
            code: "mfa_totp_verify_not_enabled",
            message: "MFA verification is disabled for TOTP",
        });
    }
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let authed = signed_in(&state, &headers, &tx).await?;
    let session_id = authed.session_id.ok_or(ApiError::SessionNotFound)?;
    let (factor_id, _, secret) = factor(&tx, authed.user.id, &id).await?;
    let challenge_text = p.challenge_id.unwrap_or_default();
    let challenge_id = Uuid::parse_str(&challenge_text)
        .map_err(|_| ApiError::Validation("challenge_id must be a UUID".into()))?;
    let row = tx
        .query_opt(
            "SELECT verified_at IS NOT NULL, created_at + make_interval(secs => $3) < now(), \
               ip_address FROM auth.mfa_challenges WHERE id = $1 AND factor_id = $2 FOR UPDATE",
            &[
                &challenge_id,
                &factor_id,
                &(state.config.mfa.challenge_expiry as f64),
            ],
        )
        .await?
        .ok_or_else(|| ApiError::Coded {
            status: 422,
            code: "mfa_factor_not_found",
            message: "MFA factor with the provided challenge ID not found".into(),
        })?;
    let (used, expired): (bool, bool) = (row.get(0), row.get(1));
    let challenged_from: Option<std::net::IpAddr> = row.get(2);
    let here = client
        .ip
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    // A challenge answers once, from where it was asked for.
    if used || challenged_from.is_some_and(|ip| ip != here) {
        return Err(ApiError::Coded {
            status: 422,
            code: "mfa_ip_address_mismatch",
            message: "Challenge and verify IP addresses mismatch.".into(),
        });
    }
    if expired {
        tx.execute(
            "DELETE FROM auth.mfa_challenges WHERE id = $1",
            &[&challenge_id],
        )
        .await?;
        tx.commit().await?;
        return Err(ApiError::ChallengeExpired(challenge_text));
    }
    if !totp::verify(
        &secret,
        p.code.as_deref().unwrap_or(""),
        Utc::now().timestamp(),
    ) {
        return Err(ApiError::MfaVerificationFailed);
    }
    tx.execute(
        "UPDATE auth.mfa_challenges SET verified_at = now() WHERE id = $1",
        &[&challenge_id],
    )
    .await?;
    tx.execute(
        "UPDATE auth.mfa_factors SET status = 'verified', updated_at = now() WHERE id = $1",
        &[&factor_id],
    )
    .await?;
    tx.execute(
        "UPDATE auth.sessions SET aal = 'aal2', factor_id = $2, updated_at = now() WHERE id = $1",
        &[&session_id, &factor_id],
    )
    .await?;
    sessions::add_amr(&tx, session_id, method::TOTP).await?;
    let session = sessions::reissue(&state, &tx, authed.user.id, session_id, method::TOTP).await?;
    tx.commit().await?;
    Ok(Json(session).into_response())
}

pub async fn unenroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let authed = signed_in(&state, &headers, &tx).await?;
    let (factor_id, status, _) = factor(&tx, authed.user.id, &id).await?;
    if status == "verified" && authed.aal() != "aal2" {
        return Err(ApiError::InsufficientAal {
            status: 422,
            message: "AAL2 required to unenroll verified factor",
        });
    }
    tx.execute("DELETE FROM auth.mfa_factors WHERE id = $1", &[&factor_id])
        .await?;
    tx.execute(
        "UPDATE auth.sessions SET aal = 'aal1', factor_id = NULL, updated_at = now() \
         WHERE factor_id = $1",
        &[&factor_id],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({"id": factor_id.to_string()})).into_response())
}
