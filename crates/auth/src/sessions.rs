//! Sessions and their tokens: starting a session (row in `auth.sessions`, first refresh token,
//! the `amr` entry), building the access token and the session JSON, and refresh-token rotation
//! with GoTrue's reuse interval — a rotated token used again within the interval gets the
//! session's current token; used again later, every token of the session is revoked. A refresh
//! is one prepared statement calling the platform function `auth.refresh_grant`.

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
    Ok(claims_of(state, user, session_id, aal, amr))
}

/// The claims of an access token for `user` in a session at level `aal` authenticated by `amr`.
fn claims_of(
    state: &AppState,
    user: &User,
    session_id: Uuid,
    aal: String,
    amr: Vec<AmrEntry>,
) -> AccessClaims {
    let now = Utc::now().timestamp();
    let cfg = &state.config.jwt;
    AccessClaims {
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
    }
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
    sign(state, db, base, method).await
}

/// Sign `base` (reshaped by the custom access token hook, which alone uses `db`).
async fn sign(
    state: &AppState,
    db: &impl GenericClient,
    base: AccessClaims,
    method: &str,
) -> Result<(String, i64), ApiError> {
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

/// The platform function doing a refresh in one call (`crates/pg/sql/052_auth_refresh.sql`).
const REFRESH_FUNCTION: &str = "auth.refresh_grant";

/// The statement running a refresh through `function`: the user row's columns first (as
/// [`User::from_row`] reads them), then outcome, refresh token, session, aal, amr, identities
/// and factors.
fn refresh_statement(function: &str) -> String {
    let user: Vec<String> = users::USER_COLUMNS
        .split(',')
        .map(|c| format!("(r.u).{}", c.trim()))
        .collect();
    format!(
        "SELECT {}, r.outcome, r.refresh_token, r.session_id, r.aal, r.amr, r.identities, \
           r.factors \
         FROM {function}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) r",
        user.join(", ")
    )
}

/// The statements of a refresh, built once: through the platform function, and through a
/// copy of it in the connection's temporary schema for a database without the platform part.
static STATEMENTS: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
    (
        refresh_statement(REFRESH_FUNCTION),
        refresh_statement("pg_temp.auth_refresh"),
    )
});

/// The statement a refresh runs, with its ten parameters: token, new token, rotation, reuse
/// interval (s), inactivity timeout (s, nullable), user agent, IP address, rate-limit key, limit
/// (0: none) and window (s). `basalt-bench refresh` sends it straight to Postgres as the
/// baseline of the refresh benchmark.
pub fn refresh_sql() -> &'static str {
    &STATEMENTS.0
}

/// Prepare (once per connection) the refresh statement. A database the platform schema could
/// not be installed into lacks the function: the connection then gets its own temporary copy.
async fn prepare_refresh(
    conn: &deadpool_postgres::Object,
) -> Result<tokio_postgres::Statement, ApiError> {
    let missing = |e: &tokio_postgres::Error| {
        use tokio_postgres::error::SqlState;
        matches!(
            e.code(),
            Some(c) if *c == SqlState::UNDEFINED_FUNCTION || *c == SqlState::INVALID_SCHEMA_NAME
        )
    };
    let (platform, temporary) = &*STATEMENTS;
    match conn.prepare_cached(platform).await {
        Ok(s) => return Ok(s),
        Err(e) if missing(&e) => {}
        Err(e) => return Err(e.into()),
    }
    match conn.prepare_cached(temporary).await {
        Ok(s) => return Ok(s),
        Err(e) if missing(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let sql = basalt_pg::platform::PARTS
        .iter()
        .find(|(name, _)| *name == "052_auth_refresh")
        .map(|(_, sql)| sql.replace(REFRESH_FUNCTION, "pg_temp.auth_refresh"))
        .ok_or_else(|| ApiError::internal("refresh function", "platform part missing"))?;
    conn.batch_execute(&sql).await?;
    Ok(conn.prepare_cached(temporary).await?)
}

/// Exchange a refresh token for a new session JSON, rotating it, in one prepared statement
/// (plus the custom access token hook, in the same transaction, when one is configured). The
/// statement also counts the request against the token endpoint's rate limit (last, so that the
/// counter's row shared by one address's requests is held only while committing). GoTrue's reuse
/// rules are in the function: a rotated token used again within the reuse interval gets the
/// session's current token; later, every token of the session is revoked (committed) and the
/// request fails with `refresh_token_already_used`.
pub async fn refresh(state: &AppState, token: &str, client: &Client) -> Result<Value, ApiError> {
    let mut conn = state.pool.get().await?;
    let statement = prepare_refresh(&conn).await?;
    let refresh = &state.config.refresh;
    let new_token = crypto::random_token(REFRESH_TOKEN_LEN);
    let inactivity = refresh.inactivity_timeout.map(|t| t.as_secs_f64());
    let (limit_key, limit, window) =
        crate::ratelimit::counter(state, crate::ratelimit::Limit::Token, client.ip)
            .map(|(k, max, w)| (k, i32::try_from(max).unwrap_or(i32::MAX), w as f64))
            .unwrap_or_default();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
        &token,
        &new_token,
        &refresh.rotation_enabled,
        &(refresh.reuse_interval as f64),
        &inactivity,
        &client.user_agent,
        &client.ip,
        &limit_key,
        &limit,
        &window,
    ];
    // Past the rate limit the function raises BR429 and its work is rolled back.
    let limited = |e: tokio_postgres::Error| match e.code() {
        Some(c) if c.code() == "BR429" => ApiError::OverRequestRateLimit,
        _ => e.into(),
    };
    if state.access_token_hook.is_none() {
        // One statement: its own transaction, committed whatever the outcome.
        let db: &tokio_postgres::Client = &conn;
        let row = db.query_one(&statement, &params).await.map_err(limited)?;
        return refreshed(state, db, &row).await;
    }
    let tx = crate::state::begin(&mut conn).await?;
    let row = tx.query_one(&statement, &params).await.map_err(limited)?;
    match refreshed(state, &tx, &row).await {
        Ok(session) => {
            tx.commit().await?;
            Ok(session)
        }
        Err(e) => {
            if matches!(e, ApiError::RefreshTokenAlreadyUsed) {
                tx.commit().await?;
            }
            Err(e)
        }
    }
}

/// The session JSON (or the error) of a row of the refresh statement.
async fn refreshed(
    state: &AppState,
    db: &impl GenericClient,
    row: &tokio_postgres::Row,
) -> Result<Value, ApiError> {
    let at = users::USER_COLUMNS.split(',').count();
    let outcome: &str = row.get(at);
    match outcome {
        "ok" => {}
        "session_expired" => return Err(ApiError::SessionExpired),
        "banned" => return Err(ApiError::UserBanned { status: 400 }),
        "already_used" => {
            let session: Option<Uuid> = row.get(at + 2);
            tracing::warn!(
                ?session,
                "refresh token reused past the reuse interval; session revoked"
            );
            return Err(ApiError::RefreshTokenAlreadyUsed);
        }
        _ => return Err(ApiError::RefreshTokenNotFound),
    }
    let user = User::from_row(row);
    let refresh_token: String = row.get(at + 1);
    let session_id: Uuid = row.get(at + 2);
    let aal: String = row.get(at + 3);
    let amr: Vec<AmrEntry> = serde_json::from_value(row.get(at + 4))
        .map_err(|e| ApiError::internal("reading amr claims", e))?;
    let identities: Value = row.get(at + 5);
    let factors: Value = row.get(at + 6);
    let base = claims_of(state, &user, session_id, aal, amr);
    let (access_token, expires_at) = sign(state, db, base, method::TOKEN_REFRESH).await?;
    Ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": state.config.jwt.exp,
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": users::json_from_parts(&user, &identities, &factors),
    }))
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
