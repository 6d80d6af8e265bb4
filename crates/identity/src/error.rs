//! Why a token or a key was refused. Each service maps [`TokenError`] to its own wire format.

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three dot-separated parts.
    #[error("Expected 3 parts in JWT; got {0}")]
    Parts(usize),
    /// A part is not base64url JSON, or the header names no known algorithm.
    #[error("JWT is malformed")]
    Malformed,
    /// No configured key has the token's algorithm (and `kid`): `alg: none` lands here.
    #[error("No suitable key or wrong key type")]
    NoKey,
    /// The signature does not match any candidate key.
    #[error("JWT cryptographic operation failed")]
    Signature,
    /// `exp`, `nbf` or `iat` is not a number.
    #[error("The JWT '{0}' claim must be a number")]
    ClaimType(&'static str),
    /// `aud` is neither a string nor an array of strings.
    #[error("The JWT 'aud' claim must be a string or an array of strings")]
    AudienceType,
    /// The claims are not a JSON object.
    #[error("The JWT claims must be an object")]
    NotObject,
    /// Past `exp` (by `ago` seconds).
    #[error("JWT expired")]
    Expired { ago: i64 },
    /// Before `nbf`.
    #[error("JWT not yet valid")]
    NotYetValid,
    /// `iat` in the future.
    #[error("JWT issued at future")]
    IssuedInFuture,
    /// The configured audience is not in `aud`.
    #[error("JWT not in audience")]
    Audience,
}

impl TokenError {
    /// Whether the token was well signed but its claims refused it (expiry, audience, types).
    pub fn is_claims(&self) -> bool {
        matches!(
            self,
            TokenError::ClaimType(_)
                | TokenError::AudienceType
                | TokenError::NotObject
                | TokenError::Expired { .. }
                | TokenError::NotYetValid
                | TokenError::IssuedInFuture
                | TokenError::Audience
        )
    }
}

/// Why a key set could not be built (a configuration error, reported at start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);
