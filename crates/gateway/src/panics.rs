//! The answer to a request whose handler panicked: the panic is logged (inside the request's
//! span, so with its id) and the client gets a JSON 500; the connection and the process carry
//! on.

use std::any::Any;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The panic's message, when it has one of the usual payload types.
fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// [`tower_http::catch_panic::ResponseForPanic`] for the gateway.
pub(crate) fn internal_error(payload: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(panic = %message(payload.as_ref()), "request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({
            "code": 500,
            "error": "internal_server_error",
            "message": "Internal server error: the request failed unexpectedly; the server log has details under its x-request-id",
        })),
    )
        .into_response()
}
