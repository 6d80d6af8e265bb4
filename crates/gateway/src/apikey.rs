//! The `apikey` check of the Supabase gateway: a request must carry the project's anon or
//! service key (a JWT signed with the project secret) in the `apikey` header or query parameter.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::future::{ready, Either, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

/// What counts as a valid API key: a JWT the project's keys verify (the anon or service key),
/// or one of Supabase's newer opaque keys (`sb_publishable_…`, `sb_secret_…`), which stand for
/// the anon and service role JWTs. Verified keys are remembered by the keys themselves until
/// their `exp`.
#[derive(Clone)]
pub struct ApiKeys {
    keys: Arc<basalt_identity::Keys>,
    /// Opaque key → the JWT it stands for.
    opaque: Arc<Vec<(String, String)>>,
}

impl ApiKeys {
    /// Keys verified with the project's keys.
    pub fn new(keys: Arc<basalt_identity::Keys>) -> ApiKeys {
        ApiKeys {
            keys,
            opaque: Arc::default(),
        }
    }

    /// Also accept `opaque` keys, each standing for its JWT (as Supabase's gateway swaps a
    /// publishable or secret key for the anon or service role JWT before the services see it).
    pub fn with_opaque(mut self, opaque: Vec<(String, String)>) -> ApiKeys {
        self.opaque = Arc::new(opaque);
        self
    }

    /// Whether `key` is a JWT signed with the project's keys, in force now.
    pub fn valid(&self, key: &str) -> bool {
        self.keys.verify(key).is_ok()
    }

    fn jwt_for(&self, opaque: &str) -> Option<&str> {
        self.opaque
            .iter()
            .find(|(k, _)| k == opaque)
            .map(|(_, jwt)| jwt.as_str())
    }

    /// Swap an opaque key for its JWT wherever the request carries it: the `apikey` header or
    /// query parameter, and `Authorization: Bearer` (set from the `apikey` when absent).
    pub fn translate(&self, mut req: Request) -> Request {
        if self.opaque.is_empty() {
            return req;
        }
        let header = req
            .headers()
            .get("apikey")
            .and_then(|v| v.to_str().ok())
            .and_then(|k| self.jwt_for(k))
            .map(str::to_string);
        let query = req.uri().query().and_then(from_query);
        let from_query = query
            .as_deref()
            .and_then(|k| self.jwt_for(k))
            .map(str::to_string);
        let bearer = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(basalt_identity::bearer)
            .map(|t| self.jwt_for(t).map(str::to_string).ok_or(()));
        if let Some(jwt) = &header {
            if let Ok(v) = http::HeaderValue::from_str(jwt) {
                req.headers_mut().insert("apikey", v);
            }
        }
        if let (Some(jwt), Some(opaque)) = (&from_query, &query) {
            replace_query_key(&mut req, opaque, jwt);
        }
        let authorization = match bearer {
            Some(Ok(jwt)) => Some(jwt),
            Some(Err(())) => None,
            None => header.or(from_query),
        };
        if let Some(jwt) = authorization {
            if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {jwt}")) {
                req.headers_mut().insert(http::header::AUTHORIZATION, v);
            }
        }
        req
    }
}

/// Replace the value of the `apikey` query parameter.
fn replace_query_key(req: &mut Request, old: &str, new: &str) {
    let uri = req.uri();
    let Some(query) = uri.query() else { return };
    let swapped: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some(("apikey", v))
                if percent_encoding::percent_decode_str(v).decode_utf8_lossy() == old =>
            {
                format!("apikey={new}")
            }
            _ => p.to_string(),
        })
        .collect();
    let pq = format!("{}?{}", uri.path(), swapped.join("&"));
    let mut parts = uri.clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
}

fn from_query(query: &str) -> Option<String> {
    form_pairs(query)
        .find(|(k, _)| k == "apikey")
        .map(|(_, v)| v)
}

/// Drop every `apikey` parameter from the request's query.
fn hide_query_key(req: &mut Request) {
    let uri = req.uri();
    let Some(query) = uri.query() else { return };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| p.split('=').next() != Some("apikey"))
        .collect();
    let mut pq = uri.path().to_string();
    if !kept.is_empty() {
        pq.push('?');
        pq.push_str(&kept.join("&"));
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (dec(k), dec(v))
    })
}

fn reject(msg: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "message": msg })),
    )
        .into_response()
}

/// Refuses requests without a valid key, except preflights and the `open` paths. A plain tower
/// layer (not an extra router level): it runs on every request of the services behind it,
/// including paths they do not route.
#[derive(Clone)]
pub struct Guard {
    keys: ApiKeys,
    open: &'static [&'static str],
    hide: bool,
}

impl Guard {
    /// `hide`: remove a valid key given as a query parameter from the query.
    pub fn new(keys: ApiKeys, open: &'static [&'static str], hide: bool) -> Guard {
        Guard { keys, open, hide }
    }

    /// `None` when `req` may pass, or the refusal. With `hide`, a key given as a query parameter
    /// is removed from the query (as the Supabase gateway hides credentials from the REST API).
    fn check(&self, req: &mut Request) -> Option<Response> {
        if req.method() == axum::http::Method::OPTIONS
            || self.open.iter().any(|p| req.uri().path().starts_with(p))
        {
            return None;
        }
        let header = req.headers().get("apikey").and_then(|v| v.to_str().ok());
        let valid = match header {
            Some(k) => self.keys.valid(k.trim()),
            None => match req.uri().query().and_then(from_query) {
                Some(k) => {
                    let valid = self.keys.valid(k.trim());
                    if valid && self.hide {
                        hide_query_key(req);
                    }
                    valid
                }
                None => return Some(reject("No API key found in request")),
            },
        };
        (!valid).then(|| reject("Invalid API key"))
    }
}

impl<S> tower::Layer<S> for Guard {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            guard: self.clone(),
        }
    }
}

/// A service behind the [`Guard`].
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    guard: Guard,
}

impl<S> tower::Service<Request> for Guarded<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match self.guard.check(&mut req) {
            None => Either::Right(self.inner.call(req)),
            Some(refusal) => Either::Left(ready(Ok(refusal))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;

    #[test]
    fn query_key_is_found_and_decoded() {
        assert_eq!(from_query("a=1&apikey=x%2By").as_deref(), Some("x+y"));
        assert_eq!(from_query("a=1"), None);
    }

    #[tokio::test]
    async fn the_guard_covers_every_path_and_hides_a_query_key_when_asked() {
        use tower::ServiceExt;
        let secret = "super-secret-jwt-token-with-at-least-32-characters-long";
        let key = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"role": "anon"}),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        let app = |hide| {
            Router::new()
                .route(
                    "/items",
                    axum::routing::get(|uri: axum::http::Uri| async move { uri.to_string() }),
                )
                .layer(Guard::new(
                    ApiKeys::new(Arc::new(basalt_identity::Keys::from_secret(secret))),
                    &["/open"],
                    hide,
                ))
        };
        let call = |hide, uri: String| async move {
            let req = Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app(hide).oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        };
        let (s, b) = call(true, format!("/items?id=eq.1&apikey={key}")).await;
        assert_eq!((s, b.as_str()), (StatusCode::OK, "/items?id=eq.1"));
        let (s, b) = call(false, format!("/items?apikey={key}")).await;
        assert_eq!((s, b), (StatusCode::OK, format!("/items?apikey={key}")));
        assert_eq!(
            call(true, "/items".into()).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(true, "/nowhere".into()).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(true, "/items?apikey=bad".into()).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(call(true, "/open/x".into()).await.0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_query_key_is_hidden_from_the_service() {
        let mut req = Request::new(axum::body::Body::empty());
        *req.uri_mut() = "/rest/v1/items?id=eq.1&apikey=abc&select=id"
            .parse()
            .unwrap();
        hide_query_key(&mut req);
        assert_eq!(req.uri().to_string(), "/rest/v1/items?id=eq.1&select=id");
        *req.uri_mut() = "/rest/v1/items?apikey=abc".parse().unwrap();
        hide_query_key(&mut req);
        assert_eq!(req.uri().to_string(), "/rest/v1/items");
    }

    #[test]
    fn only_keys_signed_with_the_secret_pass() {
        let keys = ApiKeys::new(Arc::new(basalt_identity::Keys::from_secret(
            "super-secret-jwt-token-with-at-least-32-characters-long",
        )));
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
    fn keys_not_yet_valid_or_expired_are_refused() {
        let keys = ApiKeys::new(Arc::new(basalt_identity::Keys::from_secret(
            "super-secret-jwt-token-with-at-least-32-characters-long",
        )));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(
                    b"super-secret-jwt-token-with-at-least-32-characters-long",
                ),
            )
            .unwrap()
        };
        assert!(keys.valid(&sign(
            serde_json::json!({"role": "anon", "exp": now + 3600})
        )));
        assert!(!keys.valid(&sign(
            serde_json::json!({"role": "anon", "nbf": now + 3600})
        )));
        assert!(!keys.valid(&sign(serde_json::json!({"role": "anon", "exp": now - 10}))));
    }

    #[test]
    fn opaque_keys_become_their_jwts() {
        let keys = ApiKeys::new(Arc::new(basalt_identity::Keys::from_secret(
            "super-secret-jwt-token-with-at-least-32-characters-long",
        )))
        .with_opaque(vec![("sb_publishable_x".into(), "anon.jwt.here".into())]);
        let req = |apikey: &str, auth: Option<&str>, uri: &str| {
            let mut r = Request::builder().uri(uri).header("apikey", apikey);
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            r.body(axum::body::Body::empty()).unwrap()
        };
        // The key, and the missing Authorization, become the JWT.
        let r = keys.translate(req(
            "sb_publishable_x",
            None,
            "/rest/v1/t?apikey=sb_publishable_x&a=1",
        ));
        assert_eq!(r.headers()["apikey"], "anon.jwt.here");
        assert_eq!(r.headers()["authorization"], "Bearer anon.jwt.here");
        assert_eq!(r.uri().query(), Some("apikey=anon.jwt.here&a=1"));
        // A user's own token is kept.
        let r = keys.translate(req("sb_publishable_x", Some("Bearer user.jwt"), "/x"));
        assert_eq!(r.headers()["authorization"], "Bearer user.jwt");
        // `Authorization: Bearer <opaque key>` (as supabase-js sends it) becomes the JWT.
        let r = keys.translate(req(
            "sb_publishable_x",
            Some("Bearer sb_publishable_x"),
            "/x",
        ));
        assert_eq!(r.headers()["authorization"], "Bearer anon.jwt.here");
        // Unknown keys pass through untouched (and are refused later).
        let r = keys.translate(req("sb_publishable_y", None, "/x"));
        assert_eq!(r.headers()["apikey"], "sb_publishable_y");
        assert!(r.headers().get("authorization").is_none());
    }
}
