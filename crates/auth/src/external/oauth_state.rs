//! The `state` parameter of a sign-in: an HS256 token, signed with a key derived from the
//! project's JWT secret (so it is never a valid access token), that names the flow row in
//! `auth.flow_state`, the provider, where the browser goes back to and, when linking, the
//! user. It expires with the flow; the row makes it single-use (deleted, or marked with its
//! user, when the provider comes back).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// What a `state` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateClaims {
    /// The flow row (`auth.flow_state.id`).
    pub flow: Uuid,
    /// The provider's name.
    pub provider: String,
    /// Where the browser returns to (already checked against the allow list).
    pub referrer: String,
    /// The user an identity is being linked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Uuid>,
    /// Whether the client runs PKCE (`?code=` instead of tokens in the fragment).
    pub pkce: bool,
    pub exp: i64,
}

/// Why a `state` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    Expired,
    Invalid,
}

fn key(secret: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(b"basalt-auth external provider state v1");
    mac.finalize().into_bytes().to_vec()
}

/// Sign a state.
pub fn sign(secret: &str, claims: &StateClaims) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(&key(secret)),
    )
    .unwrap_or_default()
}

/// Check a state's signature and expiry (exactly at `exp`, no leeway).
pub fn verify(secret: &str, state: &str) -> Result<StateClaims, StateError> {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.leeway = 0;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp"]);
    match jsonwebtoken::decode::<StateClaims>(
        state,
        &jsonwebtoken::DecodingKey::from_secret(&key(secret)),
        &v,
    ) {
        Ok(d) => Ok(d.claims),
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
            Err(StateError::Expired)
        }
        Err(_) => Err(StateError::Invalid),
    }
}
