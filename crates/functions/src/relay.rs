//! The relay: JWT check, then a streamed proxy to the function runtime.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use basalt_edge::hop_by_hop;
use futures::TryStreamExt;
use std::sync::Arc;

use crate::{Config, Error};

/// What can go wrong relaying a call, each with the gateway's status and body.
#[derive(Debug)]
enum RelayError {
    MissingAuth,
    InvalidJwt,
    /// The path names no function (not one safe segment, or `.`/`..` after it).
    NotFound,
    NoRuntime,
    Upstream(String),
}

impl IntoResponse for RelayError {
    fn into_response(self) -> Response {
        let (status, message, relay) = match self {
            RelayError::MissingAuth => (StatusCode::UNAUTHORIZED, "Missing authorization header".to_string(), false),
            RelayError::InvalidJwt => (StatusCode::UNAUTHORIZED, "Invalid JWT".to_string(), false),
            RelayError::NotFound => (StatusCode::NOT_FOUND, "Function not found".to_string(), false),
            RelayError::NoRuntime => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no edge function runtime: {} (or set [basalt] functions_url / BASALT_FUNCTIONS_URL)", basalt_edge::HOW_TO_GET_DENO),
                true,
            ),
            RelayError::Upstream(e) => (StatusCode::BAD_GATEWAY, format!("function runtime unreachable: {e}"), true),
        };
        let mut resp = (
            status,
            axum::Json(serde_json::json!({"code": status.as_u16(), "message": message})),
        )
            .into_response();
        if relay {
            resp.headers_mut()
                .insert("x-relay-error", HeaderValue::from_static("true"));
        }
        resp
    }
}

struct Relay {
    config: Config,
    client: reqwest::Client,
    keys: Arc<basalt_identity::Keys>,
    /// basalt's own runtime (when no upstream is configured and Deno was found).
    edge: Option<basalt_edge::Runtime>,
}

/// The relay's routes: every path, any method; the first segment names the function.
pub async fn router(config: Config) -> Result<axum::Router, Error> {
    // A function's redirect goes back to the caller, not followed here.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
    let keys = config
        .keys
        .clone()
        .unwrap_or_else(|| Arc::new(basalt_identity::Keys::from_secret(&config.jwt_secret)));
    let edge = match (&config.upstream, &config.edge) {
        (None, Some(settings)) => {
            let runtime = basalt_edge::Runtime::new(settings.clone())
                .map_err(|e| Error::Config(e.to_string()))?;
            if !runtime.has_deno() {
                tracing::warn!("{}", basalt_edge::HOW_TO_GET_DENO);
            }
            Some(runtime).filter(basalt_edge::Runtime::has_deno)
        }
        _ => None,
    };
    let state = Arc::new(Relay {
        config,
        client,
        keys,
        edge,
    });
    Ok(axum::Router::new().fallback(any(call)).with_state(state))
}

/// Whether the request carries a bearer JWT the project's keys verify.
fn check_jwt(relay: &Relay, headers: &HeaderMap) -> Result<(), RelayError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(basalt_identity::bearer)
        .ok_or(RelayError::MissingAuth)?;
    relay
        .keys
        .verify(token)
        .map(|_| ())
        .map_err(|_| RelayError::InvalidJwt)
}

/// A function's name and the rest of the path, both as sent (still percent-encoded, so an
/// encoded `/` or `?` stays part of its segment). The name is one slug segment; no segment of
/// the rest may be `.` or `..`, encoded or not, so a call never reaches another function or a
/// path outside the runtime's base URL.
pub(crate) fn split_path(raw: &str) -> Option<(&str, &str)> {
    let raw = raw.strip_prefix('/')?;
    let (name, rest) = match raw.find('/') {
        Some(i) => (&raw[..i], &raw[i..]),
        None => (raw, ""),
    };
    let slug = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !slug(name) {
        return None;
    }
    let dot_segment = |seg: &str| {
        let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
        decoded == "." || decoded == ".."
    };
    if rest.split('/').any(dot_segment) {
        return None;
    }
    Some((name, rest))
}

async fn call(State(relay): State<Arc<Relay>>, req: Request) -> Response {
    match forward(&relay, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn forward(relay: &Relay, req: Request) -> Result<Response, RelayError> {
    let (name, rest) = split_path(req.uri().path()).ok_or(RelayError::NotFound)?;
    // A browser's CORS preflight carries no Authorization: it reaches the function, which
    // answers it (as on Supabase).
    let preflight = req.method() == axum::http::Method::OPTIONS;
    if !preflight && relay.config.verify_jwt.get(name).copied().unwrap_or(true) {
        check_jwt(relay, req.headers())?;
    }
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    if let (None, Some(edge)) = (&relay.config.upstream, &relay.edge) {
        let path = format!("/{name}{rest}{query}");
        let name = name.to_string();
        return Ok(edge.invoke(&name, &path, req).await);
    }
    let upstream = relay
        .config
        .upstream
        .as_deref()
        .ok_or(RelayError::NoRuntime)?;
    let url = format!("{}/{name}{rest}{query}", upstream.trim_end_matches('/'));
    let (parts, body) = req.into_parts();
    let mut out = relay.client.request(parts.method, &url);
    for (k, v) in parts.headers.iter().filter(|(k, _)| !hop_by_hop(k)) {
        out = out.header(k, v);
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let answer = out
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .map_err(|e| RelayError::Upstream(e.to_string()))?;
    let mut resp = Response::builder().status(answer.status().as_u16());
    if let Some(h) = resp.headers_mut() {
        for (k, v) in answer.headers().iter().filter(|(k, _)| !hop_by_hop(k)) {
            h.append(k.clone(), v.clone());
        }
    }
    resp.body(Body::from_stream(answer.bytes_stream()))
        .map_err(|e| RelayError::Upstream(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn function_paths_stay_inside_their_function() {
        assert_eq!(split_path("/hello"), Some(("hello", "")));
        assert_eq!(split_path("/hello/a%2Fb/c"), Some(("hello", "/a%2Fb/c")));
        assert_eq!(split_path("/hello/x%3Fy"), Some(("hello", "/x%3Fy")));
        assert_eq!(split_path("/hello/../other"), None);
        assert_eq!(
            split_path("/hello/..%2Fother"),
            Some(("hello", "/..%2Fother"))
        );
        assert_eq!(split_path("/hello/%2e%2e/other"), None);
        assert_eq!(split_path("/hello/%2E/x"), None);
        assert_eq!(split_path("/..%2Fother"), None);
        assert_eq!(split_path("/a%2Fb"), None);
        assert_eq!(split_path("/"), None);
        assert_eq!(split_path(""), None);
    }
}
