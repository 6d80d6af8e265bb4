//! Rate limits, counted in Postgres (`auth.rate_limits`) so that every basalt node
//! serving one database shares them: a fixed window per key, advanced by one atomic upsert.
//! Keys are a limit's name plus the client's IP address (or `global` for project-wide limits).

use tokio_postgres::GenericClient;

use crate::error::ApiError;

/// Count one hit on `key`; fails with `over` once more than `limit` hits fall in the current
/// window of `window_secs` seconds. A limit of 0 disables the check.
pub async fn hit(
    db: &impl GenericClient,
    key: &str,
    limit: u32,
    window_secs: i64,
    over: ApiError,
) -> Result<(), ApiError> {
    if limit == 0 {
        return Ok(());
    }
    let hits: i32 = db
        .query_one(
            "INSERT INTO auth.rate_limits AS r (key, window_start, hits) \
             VALUES ($1, now(), 1) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN r.window_start + make_interval(secs => $2) > now() \
                      THEN r.hits + 1 ELSE 1 END, \
               window_start = CASE WHEN r.window_start + make_interval(secs => $2) > now() \
                      THEN r.window_start ELSE now() END \
             RETURNING hits",
            &[&key, &(window_secs as f64)],
        )
        .await?
        .get(0);
    // Now and then, forget windows long past so the table stays small.
    if rand::random::<u8>() == 0 {
        db.execute(
            "DELETE FROM auth.rate_limits WHERE window_start < now() - interval '2 hours'",
            &[],
        )
        .await?;
    }
    if hits as i64 > i64::from(limit) {
        return Err(over);
    }
    Ok(())
}

/// Per-IP request limits, by the names GoTrue gives them.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// Sign-ups, OTP, magic links, recovery, resend, user updates (per 5 minutes).
    Otp,
    /// The token endpoint (per 5 minutes).
    Token,
    /// Verifications (per 5 minutes).
    Verify,
    /// Anonymous sign-ins (per hour).
    Anonymous,
    /// MFA challenges and verifications (per minute).
    Mfa,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Otp => "otp",
            Limit::Token => "token",
            Limit::Verify => "verify",
            Limit::Anonymous => "anonymous",
            Limit::Mfa => "mfa",
        }
    }

    fn window(self) -> i64 {
        match self {
            Limit::Anonymous => 3600,
            Limit::Mfa => 60,
            _ => 300,
        }
    }
}

/// Count a request from `ip` against `limit`.
pub async fn check(
    state: &crate::state::AppState,
    limit: Limit,
    ip: Option<std::net::IpAddr>,
) -> Result<(), ApiError> {
    let Some((key, max, window)) = counter(state, limit, ip) else {
        return Ok(());
    };
    let db = state.pool.get().await?;
    let db: &tokio_postgres::Client = &db;
    hit(db, &key, max, window, ApiError::OverRequestRateLimit).await
}

/// The counter a request from `ip` hits for `limit`: its key, the most hits allowed and the
/// window in seconds; `None` when limits are not counted (no counters table).
pub fn counter(
    state: &crate::state::AppState,
    limit: Limit,
    ip: Option<std::net::IpAddr>,
) -> Option<(String, u32, i64)> {
    if !state.counters {
        return None;
    }
    let r = &state.config.rate_limits;
    let max = match limit {
        Limit::Otp => r.otp,
        Limit::Token => r.token_refresh,
        Limit::Verify => r.verify,
        Limit::Anonymous => r.anonymous_users,
        Limit::Mfa => r.mfa_challenge_and_verify,
    };
    let who = ip
        .map(|i| i.to_string())
        .unwrap_or_else(|| "unknown".into());
    Some((format!("{}:{who}", limit.name()), max, limit.window()))
}

/// Count one text message against the project-wide hourly limit.
pub async fn sms_sent(
    state: &crate::state::AppState,
    db: &impl GenericClient,
) -> Result<(), ApiError> {
    if !state.counters {
        return Ok(());
    }
    hit(
        db,
        "sms_sent:global",
        state.config.rate_limits.sms_sent,
        3600,
        ApiError::OverSmsSendRateLimit,
    )
    .await
}

/// Count one email against the project-wide hourly limit, in the transaction that sends it
/// (so a failed request does not count, and no second connection is needed).
pub async fn email_sent(
    state: &crate::state::AppState,
    db: &impl GenericClient,
) -> Result<(), ApiError> {
    if !state.counters {
        return Ok(());
    }
    hit(
        db,
        "email_sent:global",
        state.config.rate_limits.email_sent,
        3600,
        ApiError::OverEmailSendRateLimit("Email rate limit exceeded".into()),
    )
    .await
}
