//! Verifying a token: its signature against the candidate keys, then its claims under the one
//! clock policy. A verified token is remembered by its text, so a client sending the same token
//! with every request costs one signature check; its time claims are checked again on each use.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::{Claims, Keys, TokenError, LEEWAY_SECS};

/// Verified tokens remembered at most; the memory is emptied when full.
const REMEMBERED: usize = 10_000;

/// Seconds since the epoch.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Keys {
    /// Verify a token's signature and claims, returning the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, now())
    }

    /// [`Keys::verify`] as of `t` (seconds since the epoch).
    pub fn verify_at(&self, token: &str, t: f64) -> Result<Claims, TokenError> {
        let token = token.trim();
        let cached = self.cache.lock().get(token).cloned();
        if let Some(claims) = cached {
            check_times(claims.map(), t)?;
            return Ok(claims);
        }
        let map = self.verify_signature(token)?;
        check_claims(&map, self.audience.as_deref(), t)?;
        let claims = Claims::new(map);
        let mut cache = self.cache.lock();
        if cache.len() >= REMEMBERED {
            cache.clear();
        }
        cache.insert(token.into(), claims.clone());
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Map<String, Value>, TokenError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [head, body, signature] = parts[..] else {
            return Err(TokenError::Parts(parts.len()));
        };
        let header = decode_part(head)?;
        let alg: Algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .ok_or(TokenError::Malformed)?;
        let kid = header.get("kid").and_then(Value::as_str);
        let message = &token[..head.len() + 1 + body.len()];
        let mut tried = false;
        for k in &self.verifying {
            if !k.algs.contains(&alg) {
                continue;
            }
            if let (Some(have), Some(want)) = (&k.kid, kid) {
                if have != want {
                    continue;
                }
            }
            tried = true;
            if jsonwebtoken::crypto::verify(signature, message.as_bytes(), &k.key, alg)
                .unwrap_or(false)
            {
                return match decode_part(body)? {
                    Value::Object(m) => Ok(m),
                    _ => Err(TokenError::NotObject),
                };
            }
        }
        Err(if tried {
            TokenError::Signature
        } else {
            TokenError::NoKey
        })
    }
}

fn decode_part(part: &str) -> Result<Value, TokenError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// The time claims: `exp` exactly, `nbf` and `iat` with [`LEEWAY_SECS`] of clock difference.
fn check_times(claims: &Map<String, Value>, t: f64) -> Result<(), TokenError> {
    let leeway = LEEWAY_SECS as f64;
    let number = |key: &'static str| match claims.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(TokenError::ClaimType(key)),
    };
    let (exp, nbf, iat) = (number("exp")?, number("nbf")?, number("iat")?);
    if let Some(exp) = exp {
        if t >= exp {
            return Err(TokenError::Expired {
                ago: (t - exp) as i64,
            });
        }
    }
    if nbf.is_some_and(|nbf| t + leeway < nbf) {
        return Err(TokenError::NotYetValid);
    }
    if iat.is_some_and(|iat| t + leeway < iat) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(())
}

/// Time claims, then the audience when one is required.
fn check_claims(claims: &Map<String, Value>, aud: Option<&str>, t: f64) -> Result<(), TokenError> {
    check_times(claims, t)?;
    let named: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().ok_or(TokenError::AudienceType))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(TokenError::AudienceType),
    };
    match aud {
        Some(want) if !named.is_empty() && !named.contains(&want) => Err(TokenError::Audience),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

    fn hs(claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("sign")
    }

    fn t() -> f64 {
        now()
    }

    #[test]
    fn hs256_round_trip_and_forgery() {
        let keys = Keys::from_secret(SECRET);
        let token = keys
            .sign(&json!({"role": "authenticated", "sub": "u", "exp": t() as i64 + 60}))
            .expect("sign");
        assert_eq!(
            keys.verify(&token).expect("ok").role(),
            Some("authenticated")
        );
        let other = Keys::from_secret("another-secret-another-secret-another");
        assert_eq!(
            other.verify(&token).expect_err("foreign"),
            TokenError::Signature
        );
        assert_eq!(keys.verify("a.b").expect_err("parts"), TokenError::Parts(2));
        assert_eq!(
            keys.verify("garbage").expect_err("parts"),
            TokenError::Parts(1)
        );
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(json!({"role": "service_role"}).to_string())
        );
        assert!(keys.verify(&none).is_err());
        // A tampered body with the original signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = b64.encode(json!({"role": "service_role"}).to_string());
        assert_eq!(
            keys.verify(&parts.join(".")).expect_err("tampered"),
            TokenError::Signature
        );
    }

    #[test]
    fn one_clock_policy() {
        let keys = Keys::from_secret(SECRET);
        let now = t();
        let expired = hs(json!({"exp": now as i64 - 10}));
        assert!(matches!(keys.verify(&expired), Err(TokenError::Expired { ago }) if ago >= 10));
        // `exp` is exact; `nbf` and `iat` a few seconds ahead are tolerated.
        assert!(matches!(
            keys.verify(&hs(json!({"exp": now as i64 - 1}))),
            Err(TokenError::Expired { .. })
        ));
        assert!(keys.verify(&hs(json!({"exp": now as i64 + 2}))).is_ok());
        assert!(keys
            .verify(&hs(json!({"iat": now as i64 + 2, "nbf": now as i64 + 2})))
            .is_ok());
        assert_eq!(
            keys.verify(&hs(json!({"nbf": now as i64 + 60})))
                .expect_err("nbf"),
            TokenError::NotYetValid
        );
        assert_eq!(
            keys.verify(&hs(json!({"iat": now as i64 + 60})))
                .expect_err("iat"),
            TokenError::IssuedInFuture
        );
        assert_eq!(
            keys.verify(&hs(json!({"exp": "soon"}))).expect_err("type"),
            TokenError::ClaimType("exp")
        );
        // A remembered token still expires.
        let soon = hs(json!({"exp": now as i64 + 20}));
        assert!(keys.verify_at(&soon, now).is_ok());
        assert!(matches!(
            keys.verify_at(&soon, now + 60.0),
            Err(TokenError::Expired { .. })
        ));
    }

    #[test]
    fn audience() {
        let keys = Keys::from_secret(SECRET).with_audience(Some("b".into()));
        assert!(keys.verify(&hs(json!({"aud": ["a", "b"]}))).is_ok());
        assert_eq!(
            keys.verify(&hs(json!({"aud": "a"}))).expect_err("aud"),
            TokenError::Audience
        );
        assert_eq!(
            keys.verify(&hs(json!({"aud": {"x": 1}})))
                .expect_err("aud type"),
            TokenError::AudienceType
        );
    }

    fn es256_jwk(kid: &str) -> Value {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let mut jwk: Value = serde_json::from_str(&secret.to_jwk_string()).expect("jwk");
        jwk["kid"] = kid.into();
        jwk
    }

    #[test]
    fn es256_signing_publishing_and_rotation() {
        let old = es256_jwk("old");
        let new = es256_jwk("new");
        let mut before = Keys::from_secret(SECRET);
        before.add_jwk_set(&json!([old]).to_string()).expect("set");
        let old_token = before
            .sign(&json!({"sub": "u", "exp": t() as i64 + 60}))
            .expect("sign");
        let header = jsonwebtoken::decode_header(&old_token).expect("header");
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("old"));
        // Rotation: the new key signs, the old one still verifies.
        let mut after = Keys::from_secret(SECRET);
        after
            .add_jwk_set(&json!({"keys": [new, public_half(&old)]}).to_string())
            .expect("set");
        assert!(after.verify(&old_token).is_ok());
        let new_token = after
            .sign(&json!({"sub": "u", "exp": t() as i64 + 60}))
            .expect("sign");
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .expect("h")
                .kid
                .as_deref(),
            Some("new")
        );
        assert!(after.verify(&new_token).is_ok());
        // Unknown key: refused.
        let stranger = {
            let mut k = Keys::from_secret(SECRET);
            k.add_jwk_set(&json!([es256_jwk("new")]).to_string())
                .expect("set");
            k.sign(&json!({"sub": "u"})).expect("sign")
        };
        assert_eq!(
            after.verify(&stranger).expect_err("stranger"),
            TokenError::Signature
        );
        let jwks = after.jwks();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
        assert!(jwks["keys"][0].get("d").is_none());
        assert_eq!(jwks["keys"][0]["alg"], "ES256");
        // The HS secret still verifies.
        assert!(after.verify(&hs(json!({"sub": "u"}))).is_ok());
    }

    fn public_half(v: &Value) -> Value {
        crate::keys::tests_public_half(v)
    }

    #[test]
    fn rs256_keys() {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("rsa");
        let b = |n: &rsa::BigUint| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n.to_bytes_be())
        };
        let jwk = json!({
            "kty": "RSA", "kid": "rsa-1", "n": b(key.n()), "e": b(key.e()), "d": b(key.d()),
            "p": b(&key.primes()[0]), "q": b(&key.primes()[1]),
        });
        let mut keys = Keys::from_secret(SECRET);
        keys.add_jwk_set(&json!([jwk]).to_string()).expect("set");
        let token = keys.sign(&json!({"sub": "u"})).expect("sign");
        assert_eq!(
            jsonwebtoken::decode_header(&token).expect("h").alg,
            Algorithm::RS256
        );
        assert!(keys.verify(&token).is_ok());
        let published = &keys.jwks()["keys"][0];
        assert_eq!(published["alg"], "RS256");
        assert!(published.get("d").is_none() && published.get("p").is_none());
        // A verifier holding only the public JWK set accepts it.
        let verifier = Keys::from_postgrest_secret(&keys.jwks().to_string(), false).expect("pub");
        assert!(verifier.verify(&token).is_ok());
    }

    #[test]
    fn bad_key_sets_are_errors() {
        let mut k = Keys::from_secret(SECRET);
        assert!(k.add_jwk_set("not json").is_err());
        assert!(k.add_jwk_set(r#"[{"kty":"RSA"}]"#).is_err());
        assert!(k.add_jwk_set(r#"{"keys": 1}"#).is_err());
    }
}
