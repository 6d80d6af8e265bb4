//! basalt-rest: the PostgREST-compatible data API (`/rest/v1`). A request flows parse
//! ([`request`], [`grammar`]) → plan against the schema cache ([`plan`], [`schema`]) → SQL with
//! bind parameters only ([`sql`], [`mutate`], [`rpc`]) → one transaction under the caller's role
//! with the request GUCs set ([`db`]) → a response whose JSON body Postgres rendered
//! ([`handler`]). Security lives in Postgres: the role switch and `request.jwt.claims` let RLS
//! decide. Tokens are verified by `basalt_identity` ([`auth`] maps its refusals to PostgREST's
//! errors); error codes live in [`error::Code`]; the main statement's columns in
//! [`main_statement`]. Configured by PostgREST's `PGRST_*` variables standalone, or by the typed
//! `[api]` section (`basalt_config`) and the platform's keys under `basalt start` ([`config`]).

// `ApiError` carries the whole PostgREST error (code, message, details, hint, headers); it is
// returned on the cold path only, so its size is not worth boxing.
#![allow(clippy::result_large_err)]

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod grammar;
pub mod handler;
pub mod main_statement;
pub mod mutate;
pub mod openapi;
pub mod plan;
pub mod request;
pub mod rpc;
pub mod schema;
pub mod settings;
pub mod sql;

pub use config::Config;

/// Errors building the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
}

/// The service's routes, relative to its mount point.
pub async fn router(config: Config) -> Result<axum::Router, Error> {
    let app = app::App::start(config).await?;
    // Every path goes to the one handler: as the fallback, so no route is matched and no path
    // parameter is extracted per request.
    Ok(axum::Router::new()
        .fallback(handler::handle)
        .with_state(app))
}
