//! Talking to providers: the token endpoint, JSON user endpoints, OpenID discovery documents and
//! JWK sets (both cached for ten minutes, a JWK set fetched again when a token names a key it
//! does not have), and ID token verification.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// How long discovery documents and JWK sets are reused.
const CACHE_TTL: Duration = Duration::from_secs(600);

/// Why a call to a provider failed (logged; the client sees a generic message).
pub type CallError = String;

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("basalt-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

/// A response body as JSON; form-encoded bodies (GitHub's token endpoint without `Accept`)
/// become an object of strings.
fn parse_body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        Value::Object(
            form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        )
    })
}

/// POST a form to a token endpoint; the token response.
pub async fn token_request(
    url: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Result<Value, CallError> {
    let mut req = http()
        .post(url)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        );
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = res.status();
    let text = res.text().await.map_err(|e| format!("{url}: {e}"))?;
    let body = parse_body(&text);
    if !status.is_success() || body.get("error").is_some_and(|e| !e.is_null()) {
        return Err(format!("{url}: {status}: {text}"));
    }
    if body.get("access_token").and_then(Value::as_str).is_none() {
        return Err(format!("{url}: no access_token in {text}"));
    }
    Ok(body)
}

/// GET a JSON document, with a bearer token and extra headers.
pub async fn get_json(
    url: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Value, CallError> {
    let mut req = http().get(url).header("accept", "application/json");
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = res.status();
    let text = res.text().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{url}: not JSON: {e}"))
}

type Cache = Mutex<HashMap<String, (Instant, Value)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// A JSON document from the cache, or fetched (`fresh` skips the cache).
async fn cached_json(url: &str, fresh: bool) -> Result<Value, CallError> {
    if !fresh {
        let hit = cache()
            .lock()
            .ok()
            .and_then(|c| c.get(url).filter(|(t, _)| t.elapsed() < CACHE_TTL).cloned());
        if let Some((_, v)) = hit {
            return Ok(v);
        }
    }
    let v = get_json(url, None, &[]).await?;
    if let Ok(mut c) = cache().lock() {
        c.insert(url.to_string(), (Instant::now(), v.clone()));
    }
    Ok(v)
}

/// The OpenID discovery document of an issuer.
pub async fn discover(issuer: &str) -> Result<Value, CallError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    cached_json(&url, false).await
}

/// Which issuers an ID token may come from.
#[derive(Debug, Clone)]
pub enum IssuerRule {
    Exact(String),
    /// Any issuer with this prefix (Azure's multi-tenant endpoint).
    Prefix(String),
}

impl IssuerRule {
    fn allows(&self, iss: &str) -> bool {
        match self {
            IssuerRule::Exact(e) => e.trim_end_matches('/') == iss.trim_end_matches('/'),
            IssuerRule::Prefix(p) => iss.starts_with(p.as_str()),
        }
    }
}

/// Verify an ID token's signature against the JWK set at `jwks_url`, its issuer and expiry;
/// returns its claims. The audience and nonce are the caller's to check.
pub async fn verify_id_token(
    token: &str,
    jwks_url: &str,
    issuer: &IssuerRule,
) -> Result<Map<String, Value>, CallError> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err("symmetric ID token signatures are not accepted".into());
    }
    let mut key = None;
    for fresh in [false, true] {
        let set = cached_json(jwks_url, fresh).await?;
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(set).map_err(|e| format!("{jwks_url}: {e}"))?;
        let found = match &header.kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        if found.is_some() {
            key = found;
            break;
        }
    }
    let jwk = key.ok_or_else(|| format!("no key {:?} in {jwks_url}", header.kid))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("key: {e}"))?;
    let mut v = Validation::new(header.alg);
    v.leeway = 0;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v)
        .map_err(|e| format!("token: {e}"))?;
    let iss = data.claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if !issuer.allows(iss) {
        return Err(format!("issuer {iss:?} not accepted ({issuer:?})"));
    }
    Ok(data.claims)
}

/// The `iss` of a token, unverified (to pick the provider by issuer).
pub fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

/// Whether `at_hash` matches an access token (left half of its SHA-256, base64url).
pub fn at_hash_matches(at_hash: &str, access_token: &str) -> bool {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    let half = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    crate::crypto::constant_time_eq(half.as_bytes(), at_hash.as_bytes())
}
