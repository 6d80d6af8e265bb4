//! Access tokens: the claims GoTrue puts in them, and GoTrue's wording of a refused token.
//! Signing, verification and the published JWK set are `basalt_identity::Keys`, shared with
//! every other service.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of the `amr` claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmrEntry {
    pub method: String,
    pub timestamp: i64,
}

/// The claims of an access token, in GoTrue's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub email: String,
    pub phone: String,
    pub app_metadata: Value,
    pub user_metadata: Value,
    pub role: String,
    pub aal: String,
    pub amr: Vec<AmrEntry>,
    pub session_id: String,
    pub is_anonymous: bool,
}

/// GoTrue's words for a refused bearer token (`bad_jwt`).
pub fn refusal(e: &basalt_identity::TokenError) -> String {
    use basalt_identity::TokenError;
    let why = match e {
        TokenError::Expired { .. } => "token has invalid claims: token is expired".to_string(),
        TokenError::NotYetValid => "token has invalid claims: token is not valid yet".to_string(),
        TokenError::IssuedInFuture => {
            "token has invalid claims: token used before issued".to_string()
        }
        TokenError::Parts(_) => {
            "token is malformed: token contains an invalid number of segments".to_string()
        }
        TokenError::Malformed => "token is malformed".to_string(),
        TokenError::Signature => "token signature is invalid: signature is invalid".to_string(),
        other => other.to_string(),
    };
    format!("invalid JWT: unable to parse or verify signature, {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_identity::TokenError;

    #[test]
    fn refusals_in_supabase_auth_words() {
        assert_eq!(
            refusal(&TokenError::Parts(1)),
            "invalid JWT: unable to parse or verify signature, token is malformed: token contains an invalid number of segments"
        );
        assert_eq!(
            refusal(&TokenError::Signature),
            "invalid JWT: unable to parse or verify signature, token signature is invalid: signature is invalid"
        );
        assert_eq!(
            refusal(&TokenError::Expired { ago: 5 }),
            "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired"
        );
    }
}
