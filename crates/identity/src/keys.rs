//! The project's keys: the HS secret and JWK sets (RSA and EC P-256, with or without their
//! private half), as verification keys, the signing key, and the public JWK set.

use std::collections::HashMap;

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

use crate::error::KeyError;

const HS: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const RSA: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
const PEM_ALGS: &[Algorithm] = &[
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

/// One key incoming tokens may be signed with.
pub(crate) struct VerifyKey {
    pub(crate) kid: Option<String>,
    pub(crate) algs: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
}

/// How this project signs tokens.
struct Signer {
    alg: Algorithm,
    kid: Option<String>,
    key: EncodingKey,
}

/// The keys of a project, built once and shared by every service.
pub struct Keys {
    pub(crate) verifying: Vec<VerifyKey>,
    signer: Option<Signer>,
    public: Vec<Value>,
    /// Audience a token must name in `aud`, when set.
    pub(crate) audience: Option<String>,
    /// Tokens already verified, by their text (see `verify.rs`).
    pub(crate) cache: Mutex<HashMap<Box<str>, crate::Claims>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("verifying", &self.verifying.len())
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Keys {
    fn empty() -> Keys {
        Keys {
            verifying: Vec::new(),
            signer: None,
            public: Vec::new(),
            audience: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Keys of the HS secret alone: tokens are signed HS256 with it, and HS256/384/512 verify.
    pub fn from_secret(secret: &str) -> Keys {
        Keys::from_secret_bytes(secret.as_bytes())
    }

    fn from_secret_bytes(secret: &[u8]) -> Keys {
        let mut k = Keys::empty();
        k.verifying.push(VerifyKey {
            kid: None,
            algs: HS.to_vec(),
            key: DecodingKey::from_secret(secret),
        });
        k.signer = Some(Signer {
            alg: Algorithm::HS256,
            kid: None,
            key: EncodingKey::from_secret(secret),
        });
        k
    }

    /// A project's keys: the HS secret, plus the JWK set of `[auth] signing_keys_path` (GoTrue's
    /// `GOTRUE_JWT_KEYS`) when there is one, whose first private key then signs.
    pub fn for_project(secret: &str, jwk_set: Option<&str>) -> Result<Keys, KeyError> {
        let mut keys = Keys::from_secret(secret);
        if let Some(text) = jwk_set {
            keys.add_jwk_set(text)?;
        }
        Ok(keys)
    }

    /// Keys as PostgREST's `jwt-secret` gives them: a JWK or JWK set (JSON), a PEM public key,
    /// or a secret (base64-encoded when `base64` is set).
    pub fn from_postgrest_secret(secret: &str, base64: bool) -> Result<Keys, KeyError> {
        let trimmed = secret.trim();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let mut k = Keys::empty();
            k.add_jwk_set(trimmed)?;
            return Ok(k);
        }
        if trimmed.contains("-----BEGIN") {
            let key = DecodingKey::from_rsa_pem(trimmed.as_bytes())
                .or_else(|_| DecodingKey::from_ec_pem(trimmed.as_bytes()))
                .map_err(|e| KeyError(format!("PEM key: {e}")))?;
            let mut k = Keys::empty();
            k.verifying.push(VerifyKey {
                kid: None,
                algs: PEM_ALGS.to_vec(),
                key,
            });
            return Ok(k);
        }
        if base64 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(trimmed)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
                .map_err(|e| KeyError(format!("base64 secret: {e}")))?;
            return Ok(Keys::from_secret_bytes(&bytes));
        }
        Ok(Keys::from_secret(secret))
    }

    /// Require tokens to name `audience` in `aud`.
    pub fn with_audience(mut self, audience: Option<String>) -> Keys {
        self.audience = audience;
        self
    }

    /// Add a JWK set: a JSON array of JWKs, `{"keys": [...]}`, or one JWK. Every key verifies
    /// (picked by `kid`, so old and new keys both work while keys rotate); the first key with a
    /// private half becomes the signing key; public halves are published by [`Keys::jwks`].
    pub fn add_jwk_set(&mut self, text: &str) -> Result<(), KeyError> {
        let parsed: Value =
            serde_json::from_str(text).map_err(|e| KeyError(format!("JWK set: {e}")))?;
        let list = match parsed {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("keys") {
                Some(Value::Array(a)) => a,
                Some(_) => return Err(KeyError("JWK set: `keys` is not an array".into())),
                None => vec![Value::Object(o)],
            },
            _ => return Err(KeyError("JWK set: not a JSON object or array".into())),
        };
        let mut signer = None;
        for jwk in &list {
            self.add_jwk(jwk, &mut signer)?;
        }
        if signer.is_some() {
            self.signer = signer;
        }
        Ok(())
    }

    fn add_jwk(&mut self, jwk: &Value, signer: &mut Option<Signer>) -> Result<(), KeyError> {
        let field = |k: &str| jwk.get(k).and_then(Value::as_str);
        let kid = field("kid").map(str::to_string);
        let name = kid.clone().unwrap_or_else(|| "without kid".into());
        let bad = |e: String| KeyError(format!("JWK {name}: {e}"));
        // Only the public members: the parser refuses unknown private ones on some key types.
        let public = public_half(jwk);
        let parsed: Jwk = serde_json::from_value(public.clone()).map_err(|e| bad(e.to_string()))?;
        let key = DecodingKey::from_jwk(&parsed).map_err(|e| bad(e.to_string()))?;
        let named = field("alg").and_then(|a| a.parse::<Algorithm>().ok());
        let algs = match (&parsed.algorithm, field("crv")) {
            (AlgorithmParameters::OctetKey(_), _) => HS.to_vec(),
            (AlgorithmParameters::RSA(_), _) => RSA.to_vec(),
            (AlgorithmParameters::EllipticCurve(_), Some("P-256")) => vec![Algorithm::ES256],
            (AlgorithmParameters::EllipticCurve(_), Some("P-384")) => vec![Algorithm::ES384],
            (AlgorithmParameters::OctetKeyPair(_), _) => vec![Algorithm::EdDSA],
            (_, crv) => return Err(bad(format!("unsupported key (curve {crv:?})"))),
        };
        let algs = match named {
            Some(a) if algs.contains(&a) => vec![a],
            Some(a) => return Err(bad(format!("alg {a:?} does not fit the key type"))),
            None => algs,
        };
        self.verifying.push(VerifyKey {
            kid: kid.clone(),
            algs: algs.clone(),
            key,
        });
        if field("kty") != Some("oct") {
            self.public
                .push(published(&public, kid.as_deref(), algs[0]));
        }
        if field("d").is_some() && signer.is_none() {
            *signer = Some(private_signer(jwk, kid, algs[0]).map_err(bad)?);
        }
        Ok(())
    }

    /// The public keys, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        serde_json::json!({ "keys": self.public })
    }

    /// Whether tokens are signed with an asymmetric key.
    pub fn signs_asymmetric(&self) -> bool {
        self.signer.as_ref().is_some_and(|s| !HS.contains(&s.alg))
    }

    /// Sign claims into a JWT with the project's signing key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let s = self
            .signer
            .as_ref()
            .ok_or_else(|| KeyError("no signing key is configured".into()))?;
        let mut header = Header::new(s.alg);
        header.kid = s.kid.clone();
        jsonwebtoken::encode(&header, claims, &s.key).map_err(|e| KeyError(e.to_string()))
    }
}

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

fn public_half(jwk: &Value) -> Value {
    let mut v = jwk.clone();
    if let Some(o) = v.as_object_mut() {
        for m in PRIVATE_MEMBERS {
            o.remove(*m);
        }
        o.remove("key_ops");
    }
    v
}

/// The JWK as published: public members, `kid`, `alg`, `use: sig`, `key_ops: [verify]`.
fn published(public: &Value, kid: Option<&str>, alg: Algorithm) -> Value {
    let mut v = public.clone();
    if let Some(o) = v.as_object_mut() {
        if let Some(kid) = kid {
            o.insert("kid".into(), kid.into());
        }
        o.insert("alg".into(), format!("{alg:?}").into());
        o.insert("use".into(), "sig".into());
        o.insert("key_ops".into(), serde_json::json!(["verify"]));
    }
    v
}

fn private_signer(jwk: &Value, kid: Option<String>, alg: Algorithm) -> Result<Signer, String> {
    let field = |k: &str| jwk.get(k).and_then(Value::as_str);
    let key = match field("kty") {
        Some("EC") if alg == Algorithm::ES256 => {
            use p256::pkcs8::EncodePrivateKey;
            let bare = serde_json::json!({
                "kty": "EC", "crv": "P-256", "x": field("x"), "y": field("y"), "d": field("d"),
            });
            let secret = p256::SecretKey::from_jwk_str(&bare.to_string())
                .map_err(|e| format!("private key: {e}"))?;
            let der = secret.to_pkcs8_der().map_err(|e| e.to_string())?;
            EncodingKey::from_ec_der(der.as_bytes())
        }
        Some("RSA") => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let int = |k: &str| -> Result<rsa::BigUint, String> {
                let text = field(k).ok_or_else(|| format!("missing {k}"))?;
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text.trim_end_matches('='))
                    .map_err(|e| format!("{k}: {e}"))?;
                Ok(rsa::BigUint::from_bytes_be(&bytes))
            };
            let key = rsa::RsaPrivateKey::from_components(
                int("n")?,
                int("e")?,
                int("d")?,
                vec![int("p")?, int("q")?],
            )
            .map_err(|e| e.to_string())?;
            let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
            EncodingKey::from_rsa_der(der.as_bytes())
        }
        other => return Err(format!("cannot sign with a {other:?} key")),
    };
    Ok(Signer { alg, kid, key })
}

#[cfg(test)]
pub(crate) fn tests_public_half(jwk: &Value) -> Value {
    public_half(jwk)
}
