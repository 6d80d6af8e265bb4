//! basalt-identity: who is calling, decided in one place for every service.
//!
//! A request's identity flows one way: the service takes the token from the request
//! ([`bearer`] for `Authorization`, the raw value for `apikey`), [`Keys::verify`] checks its
//! signature against the project's keys (the HS secret, plus any JWK set: RS256/ES256 keys picked
//! by `kid`, several at once while keys rotate) and its time claims under one clock policy
//! (exact `exp`, [`LEEWAY_SECS`] on `nbf`/`iat`), and returns [`Claims`]. The service turns a refusal ([`TokenError`]) into
//! its own wire format and hands the claims to Postgres, where row-level security decides.
//!
//! The same [`Keys`] sign tokens (auth's access tokens) and publish the public half of the
//! asymmetric keys as a JWK set (`/auth/v1/.well-known/jwks.json`). Under `basalt start` one
//! `Keys` value is built from `[auth] jwt_secret` and `[auth] signing_keys_path` and shared by
//! every service; a standalone service builds its own from its upstream's variables.

mod claims;
mod error;
mod keys;
mod verify;

pub use claims::{bearer, Claims};
pub use error::{KeyError, TokenError};
pub use keys::Keys;

/// The one clock policy, applied by every service alike: a token expires exactly at `exp` (as
/// GoTrue has it: a refreshed session never overlaps an expired token), and `nbf`/`iat` may be
/// up to this many seconds in the future (the issuing node's clock may run a little ahead).
pub const LEEWAY_SECS: i64 = 5;

/// A secret derived from the project secret for one purpose (`label`): HMAC-SHA256 of the label
/// keyed with the secret. Every node with the same project secret derives the same value, and
/// the value says nothing about the secret or about values for other labels.
pub fn derive(secret: &str, label: &str) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes a key of any length, so this never fails.
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The statement that makes the rest of a transaction run as a role with a token's claims:
/// `$1` the role, `$2` the claims as JSON text.
pub const SET_ROLE_SQL: &str =
    "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)";
