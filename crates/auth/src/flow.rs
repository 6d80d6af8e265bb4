//! PKCE flow state (`auth.flow_state`): a code challenge stored when an email flow starts, the
//! auth code handed to the browser when the link is followed, and its exchange for a session
//! at `/token?grant_type=pkce`.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::crypto;
use crate::error::ApiError;

/// Seconds an issued auth code stays valid.
pub const AUTH_CODE_LIFETIME: i64 = 300;

/// A validated challenge: method (`s256` or `plain`) and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub method: String,
    pub value: String,
}

/// Check the `code_challenge` / `code_challenge_method` pair of a request; `None` when the
/// request is not a PKCE flow.
pub fn challenge(method: Option<&str>, value: Option<&str>) -> Result<Option<Challenge>, ApiError> {
    let method = method.filter(|m| !m.is_empty());
    let value = value.filter(|v| !v.is_empty());
    match (method, value) {
        (None, None) => Ok(None),
        (Some(m), Some(v)) => {
            let m = m.to_ascii_lowercase();
            if m != "s256" && m != "plain" {
                return Err(ApiError::Validation(format!(
                    "code challenge method not supported: {m}"
                )));
            }
            let ok_chars = v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'));
            if v.len() < 43 || v.len() > 128 || !ok_chars {
                return Err(ApiError::Validation(
                    "code challenge has to be between 43 and 128 characters and only contain \
                     alphanumeric characters, '-', '.', '_' and '~'"
                        .into(),
                ));
            }
            Ok(Some(Challenge {
                method: m,
                value: v.to_string(),
            }))
        }
        _ => Err(ApiError::Validation(
            "PKCE flow requires code_challenge_method and code_challenge".into(),
        )),
    }
}

/// Store a flow for `user_id` authenticated by `method` (e.g. `email/signup`, `magiclink`).
pub async fn create(
    db: &impl GenericClient,
    user_id: Uuid,
    method: &str,
    c: &Challenge,
) -> Result<(), ApiError> {
    db.execute(
        "INSERT INTO auth.flow_state (id, user_id, auth_code, code_challenge_method, \
           code_challenge, provider_type, authentication_method, created_at, updated_at) \
         VALUES (gen_random_uuid(), $1, $2, $3::text::auth.code_challenge_method, $4, 'email', $5, now(), now())",
        &[&user_id, &Uuid::new_v4().to_string(), &c.method, &c.value, &method],
    )
    .await?;
    Ok(())
}

/// Prefix of email tokens that continue a PKCE flow: the link's token carries it, so a followed
/// link knows its flow (errors go into the redirect's query too) before any lookup.
pub const TOKEN_PREFIX: &str = "pkce_";

/// Whether a PKCE flow for `user_id` was started in the current transaction (the email being
/// sent continues it).
pub async fn started_now(db: &impl GenericClient, user_id: Uuid) -> Result<bool, ApiError> {
    Ok(db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM auth.flow_state WHERE user_id = $1 \
               AND created_at = now() AND auth_code_issued_at IS NULL)",
            &[&user_id],
        )
        .await?
        .get(0))
}

/// The auth code of the user's newest flow for `method` started within `max_age`, marked
/// issued now.
pub async fn issue_code(
    db: &impl GenericClient,
    user_id: Uuid,
    method: &str,
    max_age: std::time::Duration,
) -> Result<Option<String>, ApiError> {
    Ok(db
        .query_opt(
            "UPDATE auth.flow_state SET auth_code_issued_at = now(), updated_at = now() \
             WHERE id = (SELECT id FROM auth.flow_state WHERE user_id = $1 \
                           AND authentication_method = $2 \
                           AND created_at > now() - make_interval(secs => $3) \
                         ORDER BY created_at DESC LIMIT 1) \
             RETURNING auth_code",
            &[&user_id, &method, &max_age.as_secs_f64()],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Exchange an auth code and its verifier: returns the user and the authentication method.
pub async fn exchange(
    db: &impl GenericClient,
    auth_code: &str,
    verifier: &str,
) -> Result<(Uuid, String), ApiError> {
    if auth_code.is_empty() || verifier.is_empty() {
        return Err(ApiError::Validation(
            "invalid request: both auth code and code verifier should be non-empty".into(),
        ));
    }
    let row = db
        .query_opt(
            "SELECT id, user_id, code_challenge_method::text, code_challenge, \
               authentication_method, \
               coalesce(auth_code_issued_at, created_at) + make_interval(secs => $2) < now() \
             FROM auth.flow_state WHERE auth_code = $1 FOR UPDATE",
            &[&auth_code, &(AUTH_CODE_LIFETIME as f64)],
        )
        .await?
        .ok_or(ApiError::FlowStateNotFound {
            status: 404,
            message: "invalid flow state, no valid flow state found",
        })?;
    let id: Uuid = row.get(0);
    if row.get::<_, Option<bool>>(5).unwrap_or(true) {
        db.execute("DELETE FROM auth.flow_state WHERE id = $1", &[&id])
            .await?;
        return Err(ApiError::FlowStateExpired);
    }
    let method: String = row.get(2);
    let challenge: String = row.get(3);
    if !crypto::pkce_matches(&method, &challenge, verifier) {
        return Err(ApiError::BadCodeVerifier);
    }
    let user_id: Uuid = row
        .get::<_, Option<Uuid>>(1)
        .ok_or(ApiError::FlowStateNotFound {
            status: 404,
            message: "invalid flow state, no valid flow state found",
        })?;
    db.execute("DELETE FROM auth.flow_state WHERE id = $1", &[&id])
        .await?;
    Ok((user_id, row.get(4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_validation() {
        assert_eq!(challenge(None, None), Ok(None));
        assert_eq!(challenge(Some(""), Some("")), Ok(None));
        let v = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            challenge(Some("S256"), Some(v)).unwrap().unwrap().method,
            "s256"
        );
        assert!(challenge(Some("s256"), None).is_err());
        assert!(challenge(Some("md5"), Some(v)).is_err());
        assert!(challenge(Some("s256"), Some("short")).is_err());
    }
}
