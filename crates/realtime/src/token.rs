//! Access tokens, verified by the project's keys (`basalt_identity`). A token must carry `role`
//! and `exp`; its claims become the security context (`role` + `request.jwt.claims`) that
//! Postgres checks policies with.

use std::sync::Arc;

use basalt_identity::Keys;

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
    /// Well formed, but signed by none of the project's keys.
    #[error("Failed to validate JWT signature")]
    Signature,
}

impl TokenError {
    /// The reason a `phx_join` with this token is refused with: the message behind its error
    /// code, as Supabase Realtime replies.
    pub fn join_reason(&self) -> String {
        let code = match self {
            TokenError::Expired(_) | TokenError::MissingClaims => "InvalidJWTToken",
            TokenError::Invalid => "MalformedJWT",
            TokenError::Signature => "JwtSignatureError",
        };
        format!("{code}: {self}")
    }

    /// The message of the `system` error that closes a channel whose refreshed token was
    /// refused (a bad signature is named by its bare error atom there, as Supabase Realtime
    /// does).
    pub fn shutdown_message(&self) -> String {
        match self {
            TokenError::Signature => ":signature_error".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Verify a token's signature and time claims, and read its role, expiry and claims.
pub fn verify(token: &str, keys: &Keys) -> Result<Token, TokenError> {
    let claims = keys.verify(token).map_err(|e| match e {
        basalt_identity::TokenError::Expired { ago } => TokenError::Expired(ago),
        basalt_identity::TokenError::Signature => TokenError::Signature,
        _ => TokenError::Invalid,
    })?;
    let (Some(role), Some(exp)) = (claims.role(), claims.exp()) else {
        return Err(TokenError::MissingClaims);
    };
    Ok(Token {
        role: role.to_owned(),
        exp,
        claims: claims.json_arc(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::{json, Value};

    fn keys(secret: &str) -> Keys {
        Keys::from_secret(secret)
    }

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
            &keys("secret"),
        )
        .unwrap();
        assert_eq!(t.role, "authenticated");
        assert!(t.claims.contains("\"sub\":\"u1\""));
    }

    #[test]
    fn refuses_bad_tokens() {
        let good = json!({"role":"anon","exp":now()+60});
        assert_eq!(
            verify(&sign(good), &keys("other")),
            Err(TokenError::Signature)
        );
        assert_eq!(
            verify("not.a.jwt", &keys("secret")),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(&sign(json!({"role":"anon"})), &keys("secret")),
            Err(TokenError::MissingClaims)
        );
        assert_eq!(
            verify(&sign(json!({"exp":now()+60})), &keys("secret")),
            Err(TokenError::MissingClaims)
        );
        assert!(matches!(
            verify(&sign(json!({"role":"anon","exp":now()-10})), &keys("secret")),
            Err(TokenError::Expired(n)) if n >= 10
        ));
    }
}
