//! What a call can end in besides the function's own response, each mapped to HTTP in one
//! place: the statuses Supabase documents for edge functions, with a JSON body naming the cause.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A call that did not get the function's own response.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// No such function (no entry file, not a valid name, or `enabled = false`).
    #[error("Function not found")]
    NotFound,
    /// No Deno to run functions with.
    #[error("{}", crate::deno::HOW_TO_GET_DENO)]
    NoDeno,
    /// The module threw at import, did not parse, or never called `Deno.serve`.
    #[error("function failed to start: {0}")]
    Boot(String),
    /// The call ran past the wall-clock limit.
    #[error("function did not finish within the wall-clock limit of {0:?}")]
    WallClock(std::time::Duration),
    /// The worker hit its memory limit.
    #[error("function exceeded its memory limit of {0} MiB")]
    Memory(u64),
    /// The worker died while serving the call (crash, killed from outside).
    #[error("function worker exited while serving the call: {0}")]
    Crashed(String),
    /// The worker could not be reached although it is running.
    #[error("function worker unreachable: {0}")]
    Unreachable(String),
}

impl EdgeError {
    /// Status and code (Supabase's names where it has one).
    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            EdgeError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            EdgeError::NoDeno => (StatusCode::SERVICE_UNAVAILABLE, "NO_RUNTIME"),
            EdgeError::Boot(_) => (StatusCode::SERVICE_UNAVAILABLE, "BOOT_ERROR"),
            EdgeError::WallClock(_) => (StatusCode::GATEWAY_TIMEOUT, "WALL_CLOCK_LIMIT"),
            EdgeError::Memory(_) => (resource_limit(), "WORKER_LIMIT"),
            EdgeError::Crashed(_) => (StatusCode::INTERNAL_SERVER_ERROR, "WORKER_ERROR"),
            EdgeError::Unreachable(_) => (StatusCode::BAD_GATEWAY, "RELAY_ERROR"),
        }
    }

    /// Whether supabase-js should see a relay failure (`FunctionsRelayError`) rather than the
    /// function's own error.
    fn relay_error(&self) -> bool {
        matches!(self, EdgeError::NoDeno | EdgeError::Unreachable(_))
    }
}

/// 546, Supabase's "resource limit" status (not a registered HTTP status).
fn resource_limit() -> StatusCode {
    StatusCode::from_u16(546).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        let relay = self.relay_error();
        let mut resp = (
            status,
            axum::Json(serde_json::json!({"code": code, "message": self.to_string()})),
        )
            .into_response();
        if relay {
            resp.headers_mut()
                .insert("x-relay-error", HeaderValue::from_static("true"));
        }
        resp
    }
}
