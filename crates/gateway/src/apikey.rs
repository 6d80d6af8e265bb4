//! The `apikey` check of the Supabase gateway: a request must carry the project's anon or
//! service key (a JWT signed with the project secret) in the `apikey` header or query parameter.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// What counts as a valid API key. Keys already verified are remembered (by their text, until
/// their `exp`): a project has a handful of keys, sent with every request.
#[derive(Clone)]
pub struct ApiKeys {
    key: Arc<DecodingKey>,
    verified: Arc<RwLock<HashMap<String, Option<u64>>>>,
}

/// Verified keys remembered at most; the memory is cleared when it is full.
const REMEMBERED: usize = 1024;

impl ApiKeys {
    /// Keys signed (HS256) with `jwt_secret`.
    pub fn new(jwt_secret: &str) -> ApiKeys {
        ApiKeys {
            key: Arc::new(DecodingKey::from_secret(jwt_secret.as_bytes())),
            verified: Arc::default(),
        }
    }

    /// Whether `key` is a JWT signed with the project secret and not expired.
    pub fn valid(&self, key: &str) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if let Some(exp) = self.verified.read().get(key) {
            return exp.is_none_or(|e| e > now);
        }
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(key, &self.key, &v) else {
            return false;
        };
        let exp = data.claims.get("exp").and_then(|e| e.as_u64());
        let mut verified = self.verified.write();
        if verified.len() >= REMEMBERED {
            verified.clear();
        }
        verified.insert(key.to_string(), exp);
        true
    }
}

fn from_query(query: &str) -> Option<String> {
    form_pairs(query)
        .find(|(k, _)| k == "apikey")
        .map(|(_, v)| v)
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        Some((dec(k), dec(v)))
    })
}

fn reject(msg: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "message": msg })),
    )
        .into_response()
}

/// Wrap `router` so requests without a valid key are refused, except preflights and `open`.
pub fn guard(router: Router, keys: ApiKeys, open: &'static [&'static str]) -> Router {
    // As a fallback service, so that the check also covers paths the service does not route.
    Router::new()
        .fallback_service(router)
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let keys = keys.clone();
                async move {
                    if req.method() == axum::http::Method::OPTIONS
                        || open.iter().any(|p| req.uri().path().starts_with(p))
                    {
                        return next.run(req).await;
                    }
                    let key = req
                        .headers()
                        .get("apikey")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                        .or_else(|| req.uri().query().and_then(from_query));
                    match key {
                        None => reject("No API key found in request"),
                        Some(k) if keys.valid(k.trim()) => next.run(req).await,
                        Some(_) => reject("Invalid API key"),
                    }
                }
            },
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_key_is_found_and_decoded() {
        assert_eq!(from_query("a=1&apikey=x%2By").as_deref(), Some("x+y"));
        assert_eq!(from_query("a=1"), None);
    }

    #[test]
    fn only_keys_signed_with_the_secret_pass() {
        let keys = ApiKeys::new("super-secret-jwt-token-with-at-least-32-characters-long");
        let good = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"role": "anon", "iss": "supabase-demo"}),
            &jsonwebtoken::EncodingKey::from_secret(
                b"super-secret-jwt-token-with-at-least-32-characters-long",
            ),
        )
        .unwrap();
        assert!(keys.valid(&good));
        assert!(keys.valid(&good), "a remembered key stays valid");
        assert!(!keys.valid("not-a-jwt"));
        assert!(
            !keys.valid("not-a-jwt"),
            "a refused key is not remembered as valid"
        );
        let other = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"role": "anon"}),
            &jsonwebtoken::EncodingKey::from_secret(b"another-secret"),
        )
        .unwrap();
        assert!(!keys.valid(&other));
    }

    #[test]
    fn a_remembered_key_expires() {
        let keys = ApiKeys::new("super-secret-jwt-token-with-at-least-32-characters-long");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let key = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"role": "anon", "exp": now + 3600}),
            &jsonwebtoken::EncodingKey::from_secret(
                b"super-secret-jwt-token-with-at-least-32-characters-long",
            ),
        )
        .unwrap();
        assert!(keys.valid(&key));
        // The remembered expiry, moved into the past, refuses the key.
        keys.verified.write().insert(key.clone(), Some(now - 1));
        assert!(!keys.valid(&key));
    }
}
