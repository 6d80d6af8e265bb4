//! Who a request runs as: the bearer token is verified by the project's keys
//! (`basalt_identity::Keys`, shared with every service under `basalt start`, or built from
//! `PGRST_JWT_SECRET` standalone), its role read at the configured claim path, and refusals
//! answered in PostgREST's words.

use std::sync::Arc;

use basalt_identity::{Keys, TokenError};
use serde_json::{Map, Value};

use crate::config::{ClaimStep, Config};
use crate::error::{ApiError, Code};

/// Keys that verify tokens, and where the role claim is.
pub struct Verifier {
    keys: Arc<Keys>,
    role_claim: Vec<ClaimStep>,
}

/// The outcome of authentication.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Role to switch to (`None`: stay the connecting role).
    pub role: Option<String>,
    /// Claims as JSON text for `request.jwt.claims`.
    pub claims: Arc<str>,
    /// Whether the role came from a JWT (42501 → 403 rather than 401).
    pub authenticated: bool,
}

fn jwt_error(code: Code, message: &str) -> ApiError {
    let mut e = ApiError::new(code, message);
    e.headers.push((
        "WWW-Authenticate".into(),
        format!("Bearer error=\"invalid_token\", error_description=\"{message}\""),
    ));
    e
}

/// No token, and no anonymous role to fall back to.
fn anon_disabled() -> ApiError {
    let mut e = ApiError::new(Code::AnonDisabled, "Anonymous access is disabled");
    e.headers.push(("WWW-Authenticate".into(), "Bearer".into()));
    e
}

/// PostgREST's answer to a refused token: PGRST303 for claims, PGRST301 for the rest, in
/// PostgREST's words (an unsigned `alg: none` token and a signature no key verifies each have
/// their own).
fn refusal(e: TokenError, token: &str) -> ApiError {
    if unsecured(token) {
        return jwt_error(Code::InvalidJwt, "Wrong or unsupported encoding algorithm")
            .with_details("JWT is unsecured but expected 'alg' was not 'none'");
    }
    match e {
        TokenError::Signature => jwt_error(Code::InvalidJwt, "No suitable key or wrong key type")
            .with_details("None of the keys was able to decode the JWT"),
        TokenError::Malformed | TokenError::NotObject => {
            jwt_error(Code::InvalidJwt, "JWT cryptographic operation failed")
        }
        e if e.is_claims() => jwt_error(Code::JwtClaims, &e.to_string()),
        e => jwt_error(Code::InvalidJwt, &e.to_string()),
    }
}

/// Whether the token's header says `"alg": "none"` (a token without a signature).
fn unsecured(token: &str) -> bool {
    use base64::Engine;
    let Some(header) = token.split('.').next() else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_string))
        .is_some_and(|alg| alg.eq_ignore_ascii_case("none"))
}

impl Verifier {
    /// The keys of the configuration: the platform's, or `jwt_secret` read as PostgREST reads
    /// it (`None` when neither is configured).
    pub fn from_config(c: &Config) -> Result<Option<Verifier>, crate::Error> {
        let keys = match (&c.keys, &c.jwt_secret) {
            (Some(keys), _) => keys.clone(),
            (None, Some(secret)) => Arc::new(
                Keys::from_postgrest_secret(secret, c.jwt_secret_is_base64)
                    .map_err(|e| crate::Error::Config(format!("PGRST_JWT_SECRET: {e}")))?
                    .with_audience(c.jwt_aud.clone()),
            ),
            (None, None) => return Ok(None),
        };
        Ok(Some(Verifier {
            keys,
            role_claim: c.role_claim.clone(),
        }))
    }

    /// Verify a token and return its claims.
    pub fn verify(&self, token: &str) -> Result<basalt_identity::Claims, ApiError> {
        self.keys.verify(token).map_err(|e| refusal(e, token))
    }

    /// The role named by the configured claim path.
    pub fn role_of(&self, claims: &Map<String, Value>) -> Option<String> {
        role_from_claims(claims, &self.role_claim)
    }
}

/// Look up the role claim.
pub fn role_from_claims(claims: &Map<String, Value>, path: &[ClaimStep]) -> Option<String> {
    let mut cur = claims.get(match path.first()? {
        ClaimStep::Key(k) => k.as_str(),
        ClaimStep::Index(_) => return None,
    })?;
    for step in &path[1..] {
        cur = match step {
            ClaimStep::Key(k) => cur.get(k)?,
            ClaimStep::Index(i) => cur.get(*i)?,
        };
    }
    cur.as_str().map(str::to_string)
}

/// Resolve the identity of a request from its `Authorization` header.
pub fn authenticate(
    config: &Config,
    verifier: Option<&Verifier>,
    authorization: Option<&str>,
) -> Result<Identity, ApiError> {
    if !config.auth_configured {
        return Ok(Identity {
            role: None,
            claims: "{}".into(),
            authenticated: false,
        });
    }
    // `Authorization: Bearer` with nothing after it.
    if authorization.is_some_and(|h| {
        let h = h.trim();
        h.len() == 6 && h.eq_ignore_ascii_case("bearer")
    }) {
        return Err(jwt_error(
            Code::InvalidJwt,
            "Empty JWT is sent in Authorization header",
        ));
    }
    match authorization.and_then(basalt_identity::bearer) {
        Some(token) => {
            let Some(v) = verifier else {
                return Err(ApiError::new(Code::NoJwtSecret, "Server lacks JWT secret"));
            };
            let verified = v.verify(token)?;
            match v.role_of(verified.map()) {
                Some(role) => Ok(Identity {
                    authenticated: Some(&role) != config.anon_role.as_ref(),
                    role: Some(role),
                    claims: verified.json_arc(),
                }),
                None => match &config.anon_role {
                    Some(anon) => {
                        let mut claims = verified.map().clone();
                        claims.insert("role".into(), Value::String(anon.clone()));
                        Ok(Identity {
                            role: Some(anon.clone()),
                            claims: Value::Object(claims).to_string().into(),
                            authenticated: false,
                        })
                    }
                    None => Err(anon_disabled()),
                },
            }
        }
        _ => match &config.anon_role {
            Some(anon) => Ok(Identity {
                role: Some(anon.clone()),
                claims: format!("{{\"role\":{}}}", Value::String(anon.clone())).into(),
                authenticated: false,
            }),
            None => Err(anon_disabled()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verifies_hs256_and_maps_role() {
        let secret = "reallyreallyreallyreallyverysafe";
        let config = Config {
            jwt_secret: Some(secret.into()),
            anon_role: Some("anon".into()),
            auth_configured: true,
            ..Config::default()
        };
        let v = Verifier::from_config(&config)
            .expect("config")
            .expect("verifier");
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({"role": "author", "sub": "x"}),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign");
        let id = authenticate(&config, Some(&v), Some(&format!("bearer {token}"))).expect("ok");
        assert_eq!(id.role.as_deref(), Some("author"));
        assert!(id.authenticated);
        let anon = authenticate(&config, Some(&v), None).expect("anon");
        assert_eq!(anon.role.as_deref(), Some("anon"));
        let bad = authenticate(&config, Some(&v), Some("Bearer a.b")).expect_err("parts");
        assert_eq!(bad.message, "Expected 3 parts in JWT; got 2");
        let other_key = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({}),
            &jsonwebtoken::EncodingKey::from_secret(b"wrong secret"),
        )
        .expect("sign");
        let e =
            authenticate(&config, Some(&v), Some(&format!("Bearer {other_key}"))).expect_err("sig");
        assert_eq!(
            (e.code.as_str(), e.message.as_str(), e.details.as_deref()),
            (
                "PGRST301",
                "No suitable key or wrong key type",
                Some("None of the keys was able to decode the JWT")
            )
        );
        // `{"typ":"JWT","alg":"none"}.{}.<anything>`
        let none = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.c2ln";
        let e = authenticate(&config, Some(&v), Some(&format!("Bearer {none}"))).expect_err("none");
        assert_eq!(e.message, "Wrong or unsupported encoding algorithm");
        assert_eq!(
            e.details.as_deref(),
            Some("JWT is unsecured but expected 'alg' was not 'none'")
        );
        let garbage = "Bearer quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah";
        let e = authenticate(&config, Some(&v), Some(garbage)).expect_err("garbage");
        assert_eq!(e.message, "JWT cryptographic operation failed");
    }
}
