//! HTTP endpoints: the WebSocket upgrade and the broadcast API supabase-js falls back to
//! (`POST /api/broadcast`) or calls explicitly (`POST /api/broadcast/{topic}/events/{event}`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::authz;
use crate::hub::{Broadcast, TopicKey};
use crate::phoenix::{BroadcastBody, Vsn};
use crate::token::{self, Token};
use crate::State;

/// Why an HTTP request was refused; answered as `{"error": "..."}` with a fitting status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("API key is missing")]
    MissingKey,
    #[error(transparent)]
    Token(#[from] token::TokenError),
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("You do not have permissions to broadcast to this Channel topic: {0}")]
    Forbidden(String),
    #[error("could not authorise the broadcast: {0}")]
    Unavailable(#[from] authz::AuthzError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::MissingKey | ApiError::Token(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The API key of a request: `apikey` query parameter, `apikey` or `x-api-key` header.
fn api_key<'a>(q: &'a HashMap<String, String>, headers: &'a HeaderMap) -> Option<&'a str> {
    q.get("apikey")
        .map(String::as_str)
        .or_else(|| header(headers, "apikey"))
        .or_else(|| header(headers, "x-api-key"))
        .filter(|k| !k.is_empty())
}

/// `GET /websocket`.
pub async fn websocket(
    AxState(state): AxState<Arc<State>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let key = api_key(&q, &headers).ok_or(ApiError::MissingKey)?;
    let token = token::verify(key, &state.keys)?;
    let vsn = Vsn::parse(q.get("vsn").map(String::as_str));
    // Clients send little; a small read buffer saves zeroing 128 KiB per read.
    Ok(ws
        .read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| crate::socket::run(state, socket, vsn, token)))
}

/// The token a broadcast request acts with: the Bearer token, else the API key.
fn request_token(
    state: &State,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Token, ApiError> {
    let bearer = header(headers, "authorization")
        .and_then(basalt_identity::bearer)
        .filter(|t| !t.starts_with("sb_") && !t.is_empty());
    let raw = bearer
        .or_else(|| api_key(q, headers))
        .ok_or(ApiError::MissingKey)?;
    Ok(token::verify(raw, &state.keys)?)
}

async fn publish(
    state: &State,
    token: &Token,
    topic: &str,
    private: bool,
    msg: Broadcast,
) -> Result<(), ApiError> {
    if topic.is_empty() {
        return Err(ApiError::BadRequest("topic is required"));
    }
    if private
        && !authz::check(&state.pool, token, topic)
            .await?
            .broadcast_write
    {
        return Err(ApiError::Forbidden(topic.to_owned()));
    }
    let key = TopicKey {
        topic: format!("realtime:{topic}"),
        private,
    };
    state.hub.broadcast(&key, None, &msg, false);
    Ok(())
}

/// `POST /api/broadcast` with `{"messages":[{topic, event, payload, private}]}`.
pub async fn broadcast(
    AxState(state): AxState<Arc<State>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let token = request_token(&state, &q, &headers)?;
    let v: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::BadRequest("body must be JSON"))?;
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .ok_or(ApiError::BadRequest("body must be {\"messages\": [...]}"))?;
    for m in messages {
        let topic = m.get("topic").and_then(Value::as_str).unwrap_or("");
        let topic = topic.strip_prefix("realtime:").unwrap_or(topic);
        let event = m
            .get("event")
            .and_then(Value::as_str)
            .ok_or(ApiError::BadRequest("each message needs an event"))?;
        let private = m.get("private").and_then(Value::as_bool).unwrap_or(false);
        let payload = m.get("payload").cloned().unwrap_or(json!({}));
        let msg = Broadcast {
            event: event.to_owned(),
            body: BroadcastBody::Json(payload.to_string()),
            meta: None,
        };
        publish(&state, &token, topic, private, msg).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/broadcast/{topic}/events/{event}` with the raw payload as body.
pub async fn broadcast_event(
    AxState(state): AxState<Arc<State>>,
    Path((topic, event)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let token = request_token(&state, &q, &headers)?;
    let private = q.get("private").map(|p| p == "true").unwrap_or(false);
    let binary = header(&headers, "content-type")
        .map(|c| c.starts_with("application/octet-stream"))
        .unwrap_or(false);
    let body = if binary {
        BroadcastBody::Binary(body)
    } else if body.is_empty() {
        BroadcastBody::Json("{}".to_owned())
    } else {
        let text = std::str::from_utf8(&body)
            .ok()
            .filter(|s| serde_json::from_str::<Value>(s).is_ok())
            .ok_or(ApiError::BadRequest("body must be JSON"))?;
        BroadcastBody::Json(text.to_owned())
    };
    let topic = topic.strip_prefix("realtime:").unwrap_or(&topic).to_owned();
    let msg = Broadcast {
        event,
        body,
        meta: None,
    };
    publish(&state, &token, &topic, private, msg).await?;
    Ok(StatusCode::ACCEPTED)
}
