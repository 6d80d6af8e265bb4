//! Access tokens: the claims GoTrue puts in them, signing (HS256 with the project secret, or an
//! ES256 or RS256 key from a JWK set), verification of incoming bearer tokens, and the public JWK set
//! served at `/.well-known/jwks.json`.
//!
//! Verification accepts HS256 with the secret and every configured asymmetric key, picked by
//! the header's `kid`; anything else — including `alg: none` — is refused.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::JwtConfig;
use crate::Error;

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

/// How tokens are signed.
enum Signing {
    Secret(EncodingKey),
    Asymmetric {
        alg: Algorithm,
        kid: String,
        key: EncodingKey,
    },
}

/// A key incoming tokens may be signed with.
struct Verifying {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Signing and verification keys, built once from the configuration.
pub struct Keys {
    signing: Signing,
    verifying: Vec<Verifying>,
    /// Public JWKs served at `/.well-known/jwks.json`.
    public: Vec<Value>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Keys from the configuration: the HS256 secret, plus any JWKs in `jwt.keys`.
    pub fn from_config(jwt: &JwtConfig) -> Result<Keys, Error> {
        if jwt.secret.is_empty() {
            return Err(Error::Config("the JWT secret is empty".into()));
        }
        let mut keys = Keys {
            signing: Signing::Secret(EncodingKey::from_secret(jwt.secret.as_bytes())),
            verifying: vec![Verifying {
                kid: None,
                alg: Algorithm::HS256,
                key: DecodingKey::from_secret(jwt.secret.as_bytes()),
            }],
            public: Vec::new(),
        };
        if let Some(text) = &jwt.keys {
            let parsed: Value = serde_json::from_str(text)
                .map_err(|e| Error::Config(format!("GOTRUE_JWT_KEYS: {e}")))?;
            let list = match parsed {
                Value::Array(a) => a,
                Value::Object(mut o) => match o.remove("keys") {
                    Some(Value::Array(a)) => a,
                    _ => vec![Value::Object(o)],
                },
                _ => return Err(Error::Config("GOTRUE_JWT_KEYS: not a JWK set".into())),
            };
            let mut signer = None;
            for jwk in list {
                keys.add_jwk(&jwk, &mut signer)?;
            }
            if let Some(s) = signer {
                keys.signing = s;
            }
        }
        Ok(keys)
    }

    fn add_jwk(&mut self, jwk: &Value, signer: &mut Option<Signing>) -> Result<(), Error> {
        let field = |k: &str| jwk.get(k).and_then(Value::as_str);
        let kid = field("kid").map(str::to_string);
        match (field("kty"), field("crv")) {
            (Some("EC"), Some("P-256")) => {
                let bad = |e: String| Error::Config(format!("GOTRUE_JWT_KEYS: EC key: {e}"));
                let x = field("x").ok_or_else(|| bad("missing x".into()))?;
                let y = field("y").ok_or_else(|| bad("missing y".into()))?;
                let kid = kid.ok_or_else(|| bad("missing kid".into()))?;
                self.verifying.push(Verifying {
                    kid: Some(kid.clone()),
                    alg: Algorithm::ES256,
                    key: DecodingKey::from_ec_components(x, y).map_err(|e| bad(e.to_string()))?,
                });
                self.public.push(serde_json::json!({
                    "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid,
                    "alg": "ES256", "use": "sig", "key_ops": ["verify"],
                }));
                if field("d").is_some() && signer.is_none() {
                    use p256::pkcs8::EncodePrivateKey;
                    // Only the key's own members: the parser refuses `kid`, `alg` and friends.
                    let bare = serde_json::json!({
                        "kty": "EC", "crv": "P-256", "x": x, "y": y, "d": field("d"),
                    });
                    let secret = p256::SecretKey::from_jwk_str(&bare.to_string())
                        .map_err(|e| bad(format!("private key: {e}")))?;
                    let der = secret.to_pkcs8_der().map_err(|e| bad(e.to_string()))?;
                    *signer = Some(Signing::Asymmetric {
                        alg: Algorithm::ES256,
                        kid,
                        key: EncodingKey::from_ec_der(der.as_bytes()),
                    });
                }
                Ok(())
            }
            (Some("RSA"), _) => {
                let bad = |e: String| Error::Config(format!("GOTRUE_JWT_KEYS: RSA key: {e}"));
                let n = field("n").ok_or_else(|| bad("missing n".into()))?;
                let e = field("e").ok_or_else(|| bad("missing e".into()))?;
                let kid = kid.ok_or_else(|| bad("missing kid".into()))?;
                self.verifying.push(Verifying {
                    kid: Some(kid.clone()),
                    alg: Algorithm::RS256,
                    key: DecodingKey::from_rsa_components(n, e).map_err(|e| bad(e.to_string()))?,
                });
                self.public.push(serde_json::json!({
                    "kty": "RSA", "n": n, "e": e, "kid": kid,
                    "alg": "RS256", "use": "sig", "key_ops": ["verify"],
                }));
                if field("d").is_some() && signer.is_none() {
                    use rsa::pkcs1::EncodeRsaPrivateKey;
                    let int = |k: &str| -> Result<rsa::BigUint, Error> {
                        let text = field(k).ok_or_else(|| bad(format!("missing {k}")))?;
                        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(text.trim_end_matches('='))
                            .map_err(|e| bad(format!("{k}: {e}")))?;
                        Ok(rsa::BigUint::from_bytes_be(&bytes))
                    };
                    let key = rsa::RsaPrivateKey::from_components(
                        int("n")?,
                        int("e")?,
                        int("d")?,
                        vec![int("p")?, int("q")?],
                    )
                    .map_err(|e| bad(e.to_string()))?;
                    let der = key.to_pkcs1_der().map_err(|e| bad(e.to_string()))?;
                    *signer = Some(Signing::Asymmetric {
                        alg: Algorithm::RS256,
                        kid,
                        key: EncodingKey::from_rsa_der(der.as_bytes()),
                    });
                }
                Ok(())
            }
            (Some("oct"), _) => Ok(()),
            (kty, _) => Err(Error::Config(format!(
                "GOTRUE_JWT_KEYS: unsupported key type {kty:?} (EC P-256 and RSA are supported)"
            ))),
        }
    }

    /// The public keys, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        serde_json::json!({ "keys": self.public })
    }

    /// Sign claims into a JWT.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        match &self.signing {
            Signing::Secret(key) => {
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key)
            }
            Signing::Asymmetric { alg, kid, key } => {
                let mut header = Header::new(*alg);
                header.kid = Some(kid.clone());
                jsonwebtoken::encode(&header, claims, key)
            }
        }
    }

    /// Verify a JWT's signature and expiry, returning its claims.
    pub fn verify(&self, token: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let key = self
            .verifying
            .iter()
            .find(|k| k.alg == header.alg && (k.kid.is_none() || k.kid == header.kid))
            .ok_or_else(|| format!("signing method {:?} is invalid", header.alg))?;
        let mut v = Validation::new(key.alg);
        v.validate_aud = false;
        v.leeway = 0;
        v.required_spec_claims.clear();
        let data =
            jsonwebtoken::decode::<Value>(token, &key.key, &v).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "token has invalid claims: token is expired".to_string()
                }
                _ => e.to_string(),
            })?;
        if !data.claims.is_object() {
            return Err("claims are not an object".into());
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn config(keys: Option<String>) -> JwtConfig {
        JwtConfig {
            secret: "super-secret-jwt-token-with-at-least-32-characters-long".into(),
            exp: 3600,
            aud: "authenticated".into(),
            issuer: "http://localhost/auth/v1".into(),
            admin_roles: vec!["service_role".into()],
            keys,
        }
    }

    fn claims(exp: i64) -> Value {
        serde_json::json!({"sub": "u", "role": "authenticated", "exp": exp})
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn hs256_round_trip() {
        let keys = Keys::from_config(&config(None)).unwrap();
        let t = keys.sign(&claims(now() + 60)).unwrap();
        assert_eq!(keys.verify(&t).unwrap()["sub"], "u");
        assert_eq!(keys.jwks(), serde_json::json!({"keys": []}));
    }

    #[test]
    fn expired_tampered_and_unsigned_tokens_fail() {
        let keys = Keys::from_config(&config(None)).unwrap();
        let expired = keys.sign(&claims(now() - 10)).unwrap();
        assert!(keys.verify(&expired).unwrap_err().contains("expired"));

        let good = keys.sign(&claims(now() + 60)).unwrap();
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        parts[1] = b64.encode(
            serde_json::json!({"sub": "u", "role": "service_role", "exp": now() + 60}).to_string(),
        );
        assert!(keys.verify(&parts.join(".")).is_err());

        let none_header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(claims(now() + 60).to_string());
        assert!(keys.verify(&format!("{none_header}.{body}.")).is_err());
        assert!(keys.verify("garbage").is_err());

        let other = Keys::from_config(&JwtConfig {
            secret: "another-secret-another-secret-another".into(),
            ..config(None)
        })
        .unwrap();
        assert!(keys
            .verify(&other.sign(&claims(now() + 60)).unwrap())
            .is_err());
    }

    #[test]
    fn es256_keys_sign_and_publish() {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let mut jwk: Value = serde_json::from_str(&secret.to_jwk_string()).unwrap();
        jwk["kid"] = "key-1".into();
        let keys = Keys::from_config(&config(Some(format!("[{jwk}]")))).unwrap();
        let t = keys.sign(&claims(now() + 60)).unwrap();
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("key-1"));
        assert_eq!(keys.verify(&t).unwrap()["sub"], "u");
        let jwks = keys.jwks();
        assert_eq!(jwks["keys"][0]["kid"], "key-1");
        assert!(jwks["keys"][0].get("d").is_none());
        // Tokens signed with the legacy secret are still accepted.
        let legacy = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(now() + 60),
            &EncodingKey::from_secret(config(None).secret.as_bytes()),
        )
        .unwrap();
        assert!(keys.verify(&legacy).is_ok());
    }

    #[test]
    fn rs256_keys_sign_and_publish() {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let b = |n: &rsa::BigUint| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n.to_bytes_be())
        };
        let jwk = serde_json::json!({
            "kty": "RSA", "kid": "rsa-1", "n": b(key.n()), "e": b(key.e()), "d": b(key.d()),
            "p": b(&key.primes()[0]), "q": b(&key.primes()[1]),
        });
        let keys = Keys::from_config(&config(Some(format!("[{jwk}]")))).unwrap();
        let t = keys.sign(&claims(now() + 60)).unwrap();
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("rsa-1"));
        assert_eq!(keys.verify(&t).unwrap()["sub"], "u");
        let published = &keys.jwks()["keys"][0];
        assert_eq!(published["alg"], "RS256");
        assert!(published.get("d").is_none() && published.get("p").is_none());
    }

    #[test]
    fn bad_key_sets_are_configuration_errors() {
        assert!(Keys::from_config(&config(Some("not json".into()))).is_err());
        assert!(Keys::from_config(&config(Some(r#"[{"kty":"RSA"}]"#.into()))).is_err());
        assert!(
            Keys::from_config(&config(Some(r#"[{"kty":"OKP","crv":"Ed25519"}]"#.into()))).is_err()
        );
        assert!(Keys::from_config(&JwtConfig {
            secret: String::new(),
            ..config(None)
        })
        .is_err());
    }
}
