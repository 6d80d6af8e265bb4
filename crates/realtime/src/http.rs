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
    /// Messages that do not validate: `{"errors": <this>}` with 422, per field as Supabase
    /// Realtime lists them.
    #[error("invalid messages")]
    Invalid(Value),
    /// A socket refused by the project's limits: 429 `{"error": …}`.
    #[error("{0}")]
    TooManySockets(&'static str),
    /// A broadcast over the project's message rate: 429 `{"message": …}`.
    #[error("{0}")]
    RateLimited(&'static str),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::MissingKey | ApiError::Token(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManySockets(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RateLimited(m) => {
                return (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "message": m })))
                    .into_response()
            }
            ApiError::Invalid(errors) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({ "errors": errors })),
                )
                    .into_response()
            }
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
    let limits = &state.limits;
    if limits.users() >= limits.max_users {
        return Err(ApiError::TooManySockets("Too many connected users"));
    }
    if limits.joins.triggered() {
        return Err(ApiError::TooManySockets("Too many joins per second"));
    }
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
    let events = &state.limits.events;
    if events.avg() >= events.limit() as f64 {
        return Err(ApiError::RateLimited("You have exceeded your rate limit"));
    }
    if private
        && !authz::check(&state.pool, token, topic)
            .await?
            .broadcast_write
    {
        return Err(ApiError::Forbidden(topic.to_owned()));
    }
    deliver(state, topic, private, &msg);
    Ok(())
}

/// Hand a broadcast to the subscribers of `topic` (the channel name without `realtime:`).
fn deliver(state: &State, topic: &str, private: bool, msg: &Broadcast) {
    state.limits.events.add(1);
    let key = TopicKey {
        topic: format!("realtime:{topic}"),
        private,
    };
    state.hub.broadcast(&key, None, msg, false);
}

/// One message of a batch, validated.
struct BatchMessage {
    topic: String,
    event: String,
    private: bool,
    payload: Value,
    id: Option<String>,
}

/// Validate one message of a batch: `Ok`, or its errors per field (`can't be blank` for a
/// missing or empty field, `is invalid` for one of the wrong type, a payload over `max_bytes`).
fn batch_message(
    m: &Value,
    max_bytes: usize,
) -> Result<BatchMessage, serde_json::Map<String, Value>> {
    let mut errors = serde_json::Map::new();
    let Some(o) = m.as_object() else {
        return Err(errors);
    };
    let mut string = |k: &str| match o.get(k) {
        None | Some(Value::Null) => {
            errors.insert(k.into(), json!(["can't be blank"]));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.insert(k.into(), json!(["can't be blank"]));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.insert(k.into(), json!(["is invalid"]));
            None
        }
    };
    let topic = string("topic");
    let event = string("event");
    let id = match o.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let payload = match o.get("payload") {
        None | Some(Value::Null) => {
            errors.insert("payload".into(), json!(["can't be blank"]));
            None
        }
        Some(p @ Value::Object(_)) if p.to_string().len() > max_bytes => {
            errors.insert(
                "payload".into(),
                json!(["Payload size exceeds tenant limit"]),
            );
            None
        }
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(_) => {
            errors.insert("payload".into(), json!(["is invalid"]));
            None
        }
    };
    let private = match o.get("private") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.insert("private".into(), json!(["is invalid"]));
            false
        }
    };
    match (topic, event, payload) {
        (Some(topic), Some(event), Some(payload)) if errors.is_empty() => Ok(BatchMessage {
            topic,
            event,
            private,
            payload,
            id,
        }),
        _ => Err(errors),
    }
}

/// `POST /api/broadcast` with `{"messages":[{topic, event, payload, private}]}`: every message
/// is validated first (422 with the errors of each, nothing sent); private messages go only to
/// topics the caller may write to (others are dropped, the answer is still 202).
pub async fn broadcast(
    AxState(state): AxState<Arc<State>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let token = request_token(&state, &q, &headers)?;
    let v: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::BadRequest("body must be JSON"))?;
    let messages = match v.get("messages") {
        None | Some(Value::Null) => {
            return Err(ApiError::Invalid(json!({"messages": ["can't be blank"]})))
        }
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::Invalid(json!({"messages": ["can't be blank"]})))
        }
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ApiError::Invalid(json!({"messages": ["is invalid"]}))),
    };
    let max = state.config.max_broadcast_bytes;
    let checked: Vec<_> = messages.iter().map(|m| batch_message(m, max)).collect();
    if checked.iter().any(Result::is_err) {
        let errors: Vec<Value> = checked
            .into_iter()
            .map(|c| Value::Object(c.err().unwrap_or_default()))
            .collect();
        return Err(ApiError::Invalid(json!({ "messages": errors })));
    }
    let events = &state.limits.events;
    let rate = events.avg();
    if rate > events.limit() as f64 {
        return Err(ApiError::RateLimited("You have exceeded your rate limit"));
    }
    if checked.len() as f64 + rate > events.limit() as f64 {
        return Err(ApiError::RateLimited(
            "Too many messages to broadcast, please reduce the batch size",
        ));
    }
    let mut writable: HashMap<String, bool> = HashMap::new();
    for m in checked.into_iter().flatten() {
        let topic = m.topic.strip_prefix("realtime:").unwrap_or(&m.topic);
        if m.private {
            let may = match writable.get(topic) {
                Some(w) => *w,
                None => {
                    let w = authz::check(&state.pool, &token, topic)
                        .await?
                        .broadcast_write;
                    writable.insert(topic.to_owned(), w);
                    w
                }
            };
            if !may {
                continue;
            }
        }
        let msg = Broadcast {
            event: m.event,
            body: BroadcastBody::Json(m.payload.to_string()),
            meta: m.id.map(|id| json!({ "id": id }).to_string()),
            text: true,
        };
        deliver(&state, topic, m.private, &msg);
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
        text: false,
    };
    publish(&state, &token, &topic, private, msg).await?;
    Ok(StatusCode::ACCEPTED)
}
