//! `/api/backups`: the Backups page. `GET` lists the repository's backups and the project's
//! branches, `POST` takes a full backup now. The work is the host's ([`Backups`], implemented by
//! `basalt start` over pgBackRest); it runs on a blocking thread, since it drives a command
//! line. Without a host (a `--db-url` database, a branch) the page says backups are off here.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;

use crate::session::error;
use crate::Shared;

/// What the Backups page asks of the running stack.
pub trait Backups: Send + Sync + 'static {
    /// `{"enabled": bool, "repository": "…", "backups": [{label, kind, size, repo_size,
    /// started, stopped, …}], "branches": [{name, size, running}]}`.
    fn list(&self) -> Result<serde_json::Value, String>;
    /// Take a full backup now; the backup taken.
    fn take(&self) -> Result<serde_json::Value, String>;
}

async fn on_host(
    state: &Shared,
    f: fn(&dyn Backups) -> Result<serde_json::Value, String>,
) -> Response {
    let Some(host) = state.config.backups.clone() else {
        return Json(serde_json::json!({
            "enabled": false,
            "available": false,
            "backups": [],
            "branches": [],
        }))
        .into_response();
    };
    let run = tokio::task::spawn_blocking(move || f(host.as_ref())).await;
    match run {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

pub async fn list(State(state): State<Shared>) -> Response {
    on_host(&state, |h| h.list()).await
}

pub async fn take(State(state): State<Shared>) -> Response {
    if state.config.backups.is_none() {
        return error(
            StatusCode::CONFLICT,
            "backups are served by `basalt start` on its embedded database only",
        );
    }
    on_host(&state, |h| h.take()).await
}

/// A host shared with the router.
pub type Host = Arc<dyn Backups>;
