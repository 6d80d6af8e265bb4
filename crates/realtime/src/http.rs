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

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
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
) -> Response {
    let Some(key) = api_key(&q, &headers) else {
        return error(StatusCode::UNAUTHORIZED, "API key is missing");
    };
    let token = match token::verify(key, &state.config.jwt_secret) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::UNAUTHORIZED, e.to_string()),
    };
    let vsn = Vsn::parse(q.get("vsn").map(String::as_str));
    // Clients send little; a small read buffer saves zeroing 128 KiB per read.
    ws.read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| crate::socket::run(state, socket, vsn, token))
}

/// The token a broadcast request acts with: the Bearer token, else the API key.
fn request_token(
    state: &State,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Token, Response> {
    let bearer = header(headers, "authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .filter(|t| !t.starts_with("sb_") && !t.is_empty());
    let raw = bearer
        .or_else(|| api_key(q, headers))
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "API key is missing"))?;
    token::verify(raw, &state.config.jwt_secret)
        .map_err(|e| error(StatusCode::UNAUTHORIZED, e.to_string()))
}

async fn publish(
    state: &State,
    token: &Token,
    topic: &str,
    private: bool,
    msg: Broadcast,
) -> Result<(), Response> {
    if topic.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "topic is required"));
    }
    if private {
        let perms = authz::check(&state.pool, token, topic).await.map_err(|e| {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("could not authorise the broadcast: {e}"),
            )
        })?;
        if !perms.broadcast_write {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!("You do not have permissions to broadcast to this Channel topic: {topic}"),
            ));
        }
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
) -> Response {
    let token = match request_token(&state, &q, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body must be JSON");
    };
    let Some(messages) = v.get("messages").and_then(Value::as_array) else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be {\"messages\": [...]}",
        );
    };
    for m in messages {
        let topic = m.get("topic").and_then(Value::as_str).unwrap_or("");
        let topic = topic.strip_prefix("realtime:").unwrap_or(topic);
        let Some(event) = m.get("event").and_then(Value::as_str) else {
            return error(StatusCode::BAD_REQUEST, "each message needs an event");
        };
        let private = m.get("private").and_then(Value::as_bool).unwrap_or(false);
        let payload = m.get("payload").cloned().unwrap_or(json!({}));
        let msg = Broadcast {
            event: event.to_owned(),
            body: BroadcastBody::Json(payload.to_string()),
            meta: None,
        };
        if let Err(r) = publish(&state, &token, topic, private, msg).await {
            return r;
        }
    }
    StatusCode::ACCEPTED.into_response()
}

/// `POST /api/broadcast/{topic}/events/{event}` with the raw payload as body.
pub async fn broadcast_event(
    AxState(state): AxState<Arc<State>>,
    Path((topic, event)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match request_token(&state, &q, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let private = q.get("private").map(|p| p == "true").unwrap_or(false);
    let binary = header(&headers, "content-type")
        .map(|c| c.starts_with("application/octet-stream"))
        .unwrap_or(false);
    let body = if binary {
        BroadcastBody::Binary(body)
    } else {
        let text = if body.is_empty() {
            "{}".to_owned()
        } else {
            match std::str::from_utf8(&body)
                .ok()
                .filter(|s| serde_json::from_str::<Value>(s).is_ok())
            {
                Some(s) => s.to_owned(),
                None => return error(StatusCode::BAD_REQUEST, "body must be JSON"),
            }
        };
        BroadcastBody::Json(text)
    };
    let topic = topic.strip_prefix("realtime:").unwrap_or(&topic).to_owned();
    let msg = Broadcast {
        event,
        body,
        meta: None,
    };
    match publish(&state, &token, &topic, private, msg).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(r) => r,
    }
}
