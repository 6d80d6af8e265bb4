//! Access tokens: HS256 JWTs signed with the project secret. A token must carry `role` and `exp`;
//! its claims become the security context (`role` + `request.jwt.claims`) that Postgres checks
//! policies with.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// A verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The Postgres role to check policies as.
    pub role: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// The claims as JSON text (what `request.jwt.claims` is set to).
    pub claims: Arc<str>,
}

/// Why a token was refused (messages as supabase/realtime words them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Token has expired {0} seconds ago")]
    Expired(i64),
    #[error("The token provided is not a valid JWT")]
    Invalid,
    #[error("Fields `role` and `exp` are required in JWT")]
    MissingClaims,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Verify a token's signature and read its role, expiry and claims.
pub fn verify(token: &str, secret: &str) -> Result<Token, TokenError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Value>(
        token.trim(),
        &DecodingKey::from_secret(secret.as_bytes()),
        &v,
    )
    .map_err(|_| TokenError::Invalid)?;
    let claims = data.claims;
    let role = claims.get("role").and_then(Value::as_str);
    let exp = claims
        .get("exp")
        .and_then(|e| e.as_i64().or_else(|| e.as_f64().map(|f| f as i64)));
    let (Some(role), Some(exp)) = (role, exp) else {
        return Err(TokenError::MissingClaims);
    };
    if role.is_empty() {
        return Err(TokenError::MissingClaims);
    }
    let n = now();
    if exp <= n {
        return Err(TokenError::Expired(n - exp));
    }
    Ok(Token {
        role: role.to_owned(),
        exp,
        claims: claims.to_string().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn sign(claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap()
    }

    #[test]
    fn accepts_valid_tokens() {
        let t = verify(
            &sign(json!({"role":"authenticated","sub":"u1","exp":now()+60})),
            "secret",
        )
        .unwrap();
        assert_eq!(t.role, "authenticated");
        assert!(t.claims.contains("\"sub\":\"u1\""));
    }

    #[test]
    fn refuses_bad_tokens() {
        let good = json!({"role":"anon","exp":now()+60});
        assert_eq!(verify(&sign(good), "other"), Err(TokenError::Invalid));
        assert_eq!(verify("not.a.jwt", "secret"), Err(TokenError::Invalid));
        assert_eq!(
            verify(&sign(json!({"role":"anon"})), "secret"),
            Err(TokenError::MissingClaims)
        );
        assert_eq!(
            verify(&sign(json!({"exp":now()+60})), "secret"),
            Err(TokenError::MissingClaims)
        );
        assert!(matches!(
            verify(&sign(json!({"role":"anon","exp":now()-5})), "secret"),
            Err(TokenError::Expired(n)) if n >= 5
        ));
    }
}
