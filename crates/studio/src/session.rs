//! Signing in, the session cookie, CSRF tokens and the sign-in rate limit.
//!
//! The cookie is `basalt_studio=s1.<expiry>.<id>.<signature>`: a random 128-bit id, an expiry
//! (Unix seconds) and an HMAC-SHA-256 over both with the session key. Nothing is stored on the
//! server, so every node that knows the project's JWT secret and the password accepts it; the
//! key is derived from both, so a new password ends every session. The CSRF token is an HMAC of
//! the id under a second key, returned by sign-in and `/api/session`; the page sends it in
//! `x-csrf-token` on every call that is not a GET.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::Shared;

/// Name of the session cookie.
pub const COOKIE: &str = "basalt_studio";
/// Header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
        m.update(b"\x00");
    }
    m.finalize().into_bytes().into()
}

/// The keys of a project's dashboard.
pub struct Keys {
    root: [u8; 32],
    session: [u8; 32],
    csrf: [u8; 32],
    /// HMAC of the password under `root`; a candidate's HMAC is compared with it (equal
    /// lengths, constant time).
    password: [u8; 32],
}

impl Keys {
    pub fn derive(jwt_secret: &str, password: &str) -> Keys {
        let root = mac(
            jwt_secret.as_bytes(),
            &[b"basalt-studio", password.as_bytes()],
        );
        Keys {
            root,
            session: mac(&root, &[b"session"]),
            csrf: mac(&root, &[b"csrf"]),
            password: mac(&root, &[b"password", password.as_bytes()]),
        }
    }

    pub fn password_matches(&self, candidate: &str) -> bool {
        let got = mac(&self.root, &[b"password", candidate.as_bytes()]);
        bool::from(self.password.ct_eq(&got))
    }

    /// A new session cookie value, valid for [`SESSION_TTL`] from `now`.
    pub fn new_session(&self, now: u64) -> (String, String) {
        let id: [u8; 16] = rand::random();
        let id = B64.encode(id);
        let exp = now + SESSION_TTL.as_secs();
        let body = format!("s1.{exp}.{id}");
        let sig = B64.encode(mac(&self.session, &[body.as_bytes()]));
        let csrf = self.csrf_for(&id);
        (format!("{body}.{sig}"), csrf)
    }

    /// The session id of a cookie value whose signature holds and which has not expired.
    pub fn verify(&self, cookie: &str, now: u64) -> Option<String> {
        let (body, sig) = cookie.rsplit_once('.')?;
        let mut parts = body.split('.');
        let (Some("s1"), Some(exp), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let sig = B64.decode(sig).ok()?;
        let want = mac(&self.session, &[body.as_bytes()]);
        if !bool::from(want.as_slice().ct_eq(sig.as_slice())) {
            return None;
        }
        (exp.parse::<u64>().ok()? > now).then(|| id.to_string())
    }

    pub fn csrf_for(&self, id: &str) -> String {
        B64.encode(mac(&self.csrf, &[id.as_bytes()]))
    }

    fn csrf_matches(&self, id: &str, token: &str) -> bool {
        bool::from(self.csrf_for(id).as_bytes().ct_eq(token.as_bytes()))
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How many failed sign-ins are allowed per minute.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From one client address.
    pub per_client: u32,
    /// From all clients together (a distributed guess is slowed down too).
    pub total: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_client: 5,
            total: 60,
        }
    }
}

const WINDOW: Duration = Duration::from_secs(60);

/// Failed sign-ins per client address within fixed one-minute windows (per node).
pub struct Limiter {
    limits: Limits,
    state: parking_lot::Mutex<LimiterState>,
}

#[derive(Default)]
struct LimiterState {
    clients: HashMap<IpAddr, (Instant, u32)>,
    total: Option<(Instant, u32)>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            state: Default::default(),
        }
    }

    /// `Err(seconds to wait)` when `ip` (or everyone) has used up the failures of this window.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let s = self.state.lock();
        let blocked = |entry: Option<&(Instant, u32)>, limit: u32| {
            entry
                .filter(|(start, n)| now.duration_since(*start) < WINDOW && *n >= limit)
                .map(|(start, _)| (WINDOW - now.duration_since(*start)).as_secs().max(1))
        };
        if let Some(wait) = blocked(s.clients.get(&ip), self.limits.per_client) {
            return Err(wait);
        }
        if let Some(wait) = blocked(s.total.as_ref(), self.limits.total) {
            return Err(wait);
        }
        Ok(())
    }

    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut s = self.state.lock();
        if s.clients.len() > 10_000 {
            s.clients
                .retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let bump = |entry: &mut (Instant, u32)| {
            if now.duration_since(entry.0) >= WINDOW {
                *entry = (now, 0);
            }
            entry.1 += 1;
        };
        bump(s.clients.entry(ip).or_insert((now, 0)));
        bump(s.total.get_or_insert((now, 0)));
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.state.lock().clients.remove(&ip);
    }
}

/// A JSON error body `{"message": …}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "message": message }))).into_response()
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// A browser's `Origin` (or `Referer` when it sends none) names another site than the one it
/// asks: a cross-site request.
fn cross_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match (from, host) {
        (None, _) => false,
        (Some(from), Some(host)) => {
            let rest = from.split_once("://").map(|(_, r)| r).unwrap_or("null");
            rest.split('/').next() != Some(host)
        }
        (Some(_), None) => true,
    }
}

fn client_ip(req_ext: &http::Extensions) -> IpAddr {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Every `/api` route but sign-in: a valid session, and for anything but GET/HEAD the CSRF
/// token of that session and no foreign `Origin`.
pub async fn guard(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let Some(id) = cookie_value(req.headers()).and_then(|c| state.keys.verify(c, now())) else {
        return error(StatusCode::UNAUTHORIZED, "sign in to basalt Studio first");
    };
    // A WebSocket is opened with a GET, and browsers send the cookie cross-origin on it unless
    // SameSite stops them: upgrades are held to the same origin too.
    let upgrade = req.headers().contains_key(header::UPGRADE);
    if upgrade && cross_origin(req.headers()) {
        return error(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        if cross_origin(req.headers()) {
            return error(StatusCode::FORBIDDEN, "cross-origin request refused");
        }
        let token = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !state.keys.csrf_matches(&id, token) {
            return error(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
        }
    }
    next.run(req).await
}

#[derive(serde::Deserialize)]
pub struct Login {
    password: String,
}

fn session_cookie(value: &str, max_age: u64) -> HeaderValue {
    let text = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `POST /api/login {"password"}`: sets the session cookie and answers the CSRF token.
pub async fn login(State(state): State<Shared>, req: Request) -> Response {
    let ip = client_ip(req.extensions());
    if cross_origin(req.headers()) {
        return error(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send JSON");
    }
    if let Err(wait) = state.limiter.check(ip, Instant::now()) {
        tracing::warn!(%ip, "studio sign-in rate limited");
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many wrong passwords; try again in {wait} s"),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    let body = match axum::body::to_bytes(req.into_body(), 64 * 1024).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::BAD_REQUEST, "body too large"),
    };
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected {\"password\": …}");
    };
    if !state.keys.password_matches(&login.password) {
        state.limiter.failed(ip, Instant::now());
        tracing::warn!(%ip, "studio sign-in with a wrong password");
        return error(StatusCode::UNAUTHORIZED, "wrong password");
    }
    state.limiter.succeeded(ip);
    let (cookie, csrf) = state.keys.new_session(now());
    tracing::info!(%ip, "studio sign-in");
    let mut r = Json(serde_json::json!({ "csrf": csrf })).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&cookie, SESSION_TTL.as_secs()),
    );
    r
}

/// `POST /api/logout`: clears the cookie.
pub async fn logout() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    r
}

/// `GET /api/session`: the CSRF token of the current session, `null` without one (a 200
/// either way, so the sign-in page loads without an error in the console).
pub async fn current(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let csrf = cookie_value(&headers)
        .and_then(|c| state.keys.verify(c, now()))
        .map(|id| state.keys.csrf_for(&id));
    Json(serde_json::json!({ "csrf": csrf })).into_response()
}

/// `GET /api/meta`: what the API page shows.
pub async fn meta(State(state): State<Shared>) -> Response {
    let c = &state.config;
    Json(serde_json::json!({
        "api_url": c.api_url,
        "anon_key": c.anon_key,
        "schemas": c.schemas,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_verify_until_they_expire_and_only_with_their_key() {
        let k = Keys::derive("secret", "pw");
        let (cookie, csrf) = k.new_session(1000);
        let id = k.verify(&cookie, 1001).expect("valid");
        assert!(k.csrf_matches(&id, &csrf));
        assert!(!k.csrf_matches(&id, "x"));
        assert!(k.verify(&cookie, 1000 + SESSION_TTL.as_secs()).is_none());
        assert!(Keys::derive("secret", "other")
            .verify(&cookie, 1001)
            .is_none());
        let forged = cookie.replacen("s1.", "s1.9", 1);
        assert!(k.verify(&forged, 1001).is_none());
        assert!(k.password_matches("pw") && !k.password_matches("pw "));
    }

    #[test]
    fn failures_are_limited_per_client_and_in_total() {
        let l = Limiter::new(Limits {
            per_client: 2,
            total: 3,
        });
        let t = Instant::now();
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        l.failed(a, t);
        assert!(l.check(a, t).is_ok());
        l.failed(a, t);
        assert!(l.check(a, t).is_err());
        assert!(l.check(b, t).is_ok());
        l.failed(b, t);
        assert!(l.check(b, t).is_err(), "total reached");
        assert!(l.check(a, t + WINDOW).is_ok(), "a new window");
    }

    #[test]
    fn cross_origin_requests_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:54323"));
        assert!(!cross_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:54323"),
        );
        assert!(!cross_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(cross_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(cross_origin(&h));
    }
}
