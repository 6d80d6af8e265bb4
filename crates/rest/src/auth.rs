//! JWT verification and the database role a request runs as. Tokens are verified once and
//! cached (keyed by the token text) until their `exp`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::config::{ClaimStep, Config};
use crate::error::ApiError;

/// Keys that verify tokens.
pub struct Verifier {
    keys: Vec<(Option<String>, DecodingKey, Vec<Algorithm>)>,
    aud: Option<String>,
    role_claim: Vec<ClaimStep>,
    cache: Mutex<HashMap<String, Verified>>,
}

/// A verified token's claims, their JSON text and expiry (seconds since the epoch), as cached.
type Verified = (Arc<Map<String, Value>>, Arc<str>, Option<f64>);

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

const HS: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const ASYM: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn jwt_error(code: &str, message: &str) -> ApiError {
    let mut e = ApiError::new(401, code, message);
    e.headers.push((
        "WWW-Authenticate".into(),
        format!("Bearer error=\"invalid_token\", error_description=\"{message}\""),
    ));
    e
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Verifier {
    /// Build the key set from the configuration (`None` when no secret is configured).
    pub fn from_config(c: &Config) -> Result<Option<Verifier>, crate::Error> {
        let Some(secret) = &c.jwt_secret else {
            return Ok(None);
        };
        let bad = |e: String| crate::Error::Config(format!("PGRST_JWT_SECRET: {e}"));
        let mut keys = Vec::new();
        let trimmed = secret.trim();
        if trimmed.starts_with('{') {
            let v: Value = serde_json::from_str(trimmed).map_err(|e| bad(e.to_string()))?;
            let jwks: Vec<Jwk> = if v.get("keys").is_some() {
                serde_json::from_value::<JwkSet>(v)
                    .map_err(|e| bad(e.to_string()))?
                    .keys
            } else {
                vec![serde_json::from_value::<Jwk>(v).map_err(|e| bad(e.to_string()))?]
            };
            for jwk in jwks {
                let kid = jwk.common.key_id.clone();
                if let Ok(k) = DecodingKey::from_jwk(&jwk) {
                    let algs = match &jwk.algorithm {
                        jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_) => HS.to_vec(),
                        _ => ASYM.to_vec(),
                    };
                    keys.push((kid, k, algs));
                }
            }
        } else if trimmed.contains("-----BEGIN") {
            let k = DecodingKey::from_rsa_pem(trimmed.as_bytes())
                .or_else(|_| DecodingKey::from_ec_pem(trimmed.as_bytes()))
                .map_err(|e| bad(e.to_string()))?;
            keys.push((None, k, ASYM.to_vec()));
        } else if c.jwt_secret_is_base64 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(trimmed)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
                .map_err(|e| bad(e.to_string()))?;
            keys.push((None, DecodingKey::from_secret(&bytes), HS.to_vec()));
        } else {
            keys.push((
                None,
                DecodingKey::from_secret(secret.as_bytes()),
                HS.to_vec(),
            ));
        }
        Ok(Some(Verifier {
            keys,
            aud: c.jwt_aud.clone(),
            role_claim: c.role_claim.clone(),
            cache: Mutex::new(HashMap::new()),
        }))
    }

    /// Verify a token and return its claims, as a map and as JSON text.
    pub fn verify(&self, token: &str) -> Result<(Arc<Map<String, Value>>, Arc<str>), ApiError> {
        let t = now();
        if let Some((claims, text, exp)) = self.cache.lock().get(token) {
            if exp.map(|e| e > t).unwrap_or(true) {
                return Ok((claims.clone(), text.clone()));
            }
        }
        let claims = self.verify_uncached(token, t)?;
        let exp = claims.get("exp").and_then(Value::as_f64);
        let text: Arc<str> = Value::Object(claims.clone()).to_string().into();
        let claims = Arc::new(claims);
        let mut cache = self.cache.lock();
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(token.to_string(), (claims.clone(), text.clone(), exp));
        Ok((claims, text))
    }

    fn verify_uncached(&self, token: &str, t: f64) -> Result<Map<String, Value>, ApiError> {
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(jwt_error(
                "PGRST301",
                &format!("Expected 3 parts in JWT; got {}", parts.len()),
            ));
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let decode_part = |p: &str| -> Result<Value, ApiError> {
            let bytes = b64
                .decode(p.trim_end_matches('='))
                .map_err(|_| jwt_error("PGRST301", "JWT cryptographic operation failed"))?;
            serde_json::from_slice(&bytes)
                .map_err(|_| jwt_error("PGRST301", "JWT cryptographic operation failed"))
        };
        let header = decode_part(parts[0])?;
        let alg: Algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| jwt_error("PGRST301", "JWT cryptographic operation failed"))?;
        let kid = header.get("kid").and_then(Value::as_str);
        let message = format!("{}.{}", parts[0], parts[1]);
        let mut ok = false;
        let mut tried = false;
        for (key_id, key, algs) in &self.keys {
            if !algs.contains(&alg) {
                continue;
            }
            if let (Some(k), Some(want)) = (key_id, kid) {
                if k != want {
                    continue;
                }
            }
            tried = true;
            if jsonwebtoken::crypto::verify(parts[2], message.as_bytes(), key, alg).unwrap_or(false)
            {
                ok = true;
                break;
            }
        }
        if !tried {
            return Err(jwt_error("PGRST301", "No suitable key or wrong key type"));
        }
        if !ok {
            return Err(jwt_error("PGRST301", "JWT cryptographic operation failed"));
        }
        let Value::Object(claims) = decode_part(parts[1])? else {
            return Err(jwt_error("PGRST301", "JWT cryptographic operation failed"));
        };
        validate_claims(&claims, self.aud.as_deref(), t)?;
        Ok(claims)
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

/// Check `exp`, `nbf`, `iat` and `aud` the way PostgREST does (with 30 s of clock skew).
pub fn validate_claims(
    claims: &Map<String, Value>,
    aud: Option<&str>,
    t: f64,
) -> Result<(), ApiError> {
    const SKEW: f64 = 30.0;
    for key in ["exp", "nbf", "iat"] {
        if let Some(v) = claims.get(key) {
            if !v.is_number() {
                return Err(jwt_error(
                    "PGRST303",
                    &format!("The JWT '{key}' claim must be a number"),
                ));
            }
        }
    }
    if let Some(exp) = claims.get("exp").and_then(Value::as_f64) {
        if t - SKEW >= exp {
            return Err(jwt_error("PGRST303", "JWT expired"));
        }
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64) {
        if t + SKEW < nbf {
            return Err(jwt_error("PGRST303", "JWT not yet valid"));
        }
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_f64) {
        if t + SKEW < iat {
            return Err(jwt_error("PGRST303", "JWT issued at future"));
        }
    }
    let aud_claim = match claims.get("aud") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Some(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>(),
        ),
        Some(_) => {
            return Err(jwt_error(
                "PGRST303",
                "The JWT 'aud' claim must be a string or an array of strings",
            ))
        }
    };
    if let (Some(want), Some(got)) = (aud, aud_claim) {
        if !got.iter().any(|a| a == want) {
            return Err(jwt_error("PGRST303", "JWT not in audience"));
        }
    }
    Ok(())
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
    let token = authorization.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    match token {
        Some(token) if !token.is_empty() => {
            let Some(v) = verifier else {
                return Err(ApiError::new(500, "PGRST300", "Server lacks JWT secret"));
            };
            let (claims, text) = v.verify(token)?;
            match v.role_of(&claims) {
                Some(role) => Ok(Identity {
                    authenticated: Some(&role) != config.anon_role.as_ref(),
                    role: Some(role),
                    claims: text,
                }),
                None => match &config.anon_role {
                    Some(anon) => {
                        let mut claims = (*claims).clone();
                        claims.insert("role".into(), Value::String(anon.clone()));
                        Ok(Identity {
                            role: Some(anon.clone()),
                            claims: Value::Object(claims).to_string().into(),
                            authenticated: false,
                        })
                    }
                    None => Err(ApiError::new(
                        401,
                        "PGRST302",
                        "Anonymous access is disabled",
                    )),
                },
            }
        }
        _ => match &config.anon_role {
            Some(anon) => Ok(Identity {
                role: Some(anon.clone()),
                claims: format!("{{\"role\":{}}}", Value::String(anon.clone())).into(),
                authenticated: false,
            }),
            None => Err(ApiError::new(
                401,
                "PGRST302",
                "Anonymous access is disabled",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn claim_checks() {
        let t = 1_000_000.0;
        assert!(validate_claims(&claims(json!({"exp": t + 100.0})), None, t).is_ok());
        assert_eq!(
            validate_claims(&claims(json!({"exp": t - 100.0})), None, t)
                .expect_err("expired")
                .message,
            "JWT expired"
        );
        assert_eq!(
            validate_claims(&claims(json!({"exp": "x"})), None, t)
                .expect_err("bad")
                .message,
            "The JWT 'exp' claim must be a number"
        );
        assert!(validate_claims(&claims(json!({"aud": ["a", "b"]})), Some("b"), t).is_ok());
        assert!(validate_claims(&claims(json!({"aud": "a"})), Some("b"), t).is_err());
        assert!(validate_claims(&claims(json!({"aud": {"x": 1}})), None, t).is_err());
    }

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
        let forged = format!("{}x", token);
        assert_eq!(
            authenticate(&config, Some(&v), Some(&format!("Bearer {forged}")))
                .expect_err("sig")
                .code,
            "PGRST301"
        );
    }
}
