//! The relay: JWT check, then a streamed proxy to the function runtime.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures::TryStreamExt;
use std::sync::Arc;

use crate::{Config, Error};

/// What can go wrong relaying a call, each with the gateway's status and body.
#[derive(Debug)]
enum RelayError {
    MissingAuth,
    InvalidJwt,
    NoRuntime,
    Upstream(String),
}

impl IntoResponse for RelayError {
    fn into_response(self) -> Response {
        let (status, message, relay) = match self {
            RelayError::MissingAuth => (StatusCode::UNAUTHORIZED, "Missing authorization header".to_string(), false),
            RelayError::InvalidJwt => (StatusCode::UNAUTHORIZED, "Invalid JWT".to_string(), false),
            RelayError::NoRuntime => (
                StatusCode::SERVICE_UNAVAILABLE,
                "no edge function runtime is configured: set [basalt] functions_url or BASALT_FUNCTIONS_URL".to_string(),
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
    key: jsonwebtoken::DecodingKey,
}

/// The relay's routes: `/{name}` and `/{name}/{*rest}`, any method.
pub async fn router(config: Config) -> Result<axum::Router, Error> {
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
    let key = jsonwebtoken::DecodingKey::from_secret(config.jwt_secret.as_bytes());
    let state = Arc::new(Relay {
        config,
        client,
        key,
    });
    Ok(axum::Router::new()
        .route("/{name}", any(call))
        .route("/{name}/{*rest}", any(call))
        .with_state(state))
}

/// Whether the request carries a Bearer JWT signed with the project secret.
fn check_jwt(relay: &Relay, headers: &HeaderMap) -> Result<(), RelayError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or(RelayError::MissingAuth)?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token.trim(), &relay.key, &v)
        .map(|_| ())
        .map_err(|_| RelayError::InvalidJwt)
}

/// Hop-by-hop headers are not forwarded in either direction.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "host"
            | "content-length"
    )
}

async fn call(
    State(relay): State<Arc<Relay>>,
    Path(params): Path<Vec<(String, String)>>,
    req: Request,
) -> Response {
    match forward(&relay, &params, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn forward(
    relay: &Relay,
    params: &[(String, String)],
    req: Request,
) -> Result<Response, RelayError> {
    let name = params.first().map(|(_, v)| v.as_str()).unwrap_or_default();
    if relay.config.verify_jwt.get(name).copied().unwrap_or(true) {
        check_jwt(relay, req.headers())?;
    }
    let upstream = relay
        .config
        .upstream
        .as_deref()
        .ok_or(RelayError::NoRuntime)?;
    let rest = params
        .get(1)
        .map(|(_, v)| format!("/{v}"))
        .unwrap_or_default();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
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
