//! basalt-rest: the PostgREST-compatible data API (`/rest/v1`). A request flows through five
//! stages, each a value handed to the next (as PostgREST's `ApiRequest` → `Plan.hs` →
//! `Query.hs` → `Response.hs`):
//!
//! 1. **parse** ([`request`], [`grammar`]): the method, path, query string and headers become
//!    one [`request::ApiRequest`] (action, schema, `Prefer`, query parameters), once.
//! 2. **plan** ([`action`], with [`plan`] for read trees and [`schema`] for the cache): a pure
//!    function turns it into an [`action::ActionPlan`] — `Read`, `Mutate`, `Call` or `Info` —
//!    holding the read tree, payload, media type, count and how the transaction ends.
//! 3. **build SQL** ([`statement`], with [`sql`], [`mutate`], [`rpc`]): a pure function turns the
//!    plan into a [`db::Job`] whose main statement answers one row of the columns in
//!    [`main_statement`]; values are bind parameters only.
//! 4. **execute** ([`db`]): one transaction under the caller's role with the request GUCs set,
//!    committed or rolled back as the plan's [`action::TxPlan`] decides on the main row.
//! 5. **respond** ([`respond`]): a pure function turns the plan and that row into the HTTP
//!    response: status (200/201/204/206, 416 past the end), `Content-Range`, `Location`,
//!    `Content-Location`, `Preference-Applied`, `Content-Type`, the body Postgres rendered, and
//!    `response.headers`/`response.status` set by SQL.
//!
//! [`handler`] is the HTTP edge running these stages (plus CORS, `Server-Timing` and `GET /`,
//! the OpenAPI document of [`openapi`] or the root function). Security lives in Postgres: the
//! role switch and `request.jwt.claims` let RLS decide. Tokens are verified by
//! `basalt_identity` ([`auth`] maps its refusals to PostgREST's errors); error codes live in
//! [`error::Code`]. Configured by PostgREST's `PGRST_*` variables standalone, or by the typed
//! `[api]` section (`basalt_config`) and the platform's keys under `basalt start` ([`config`]).

// `ApiError` carries the whole PostgREST error (code, message, details, hint, headers); it is
// returned on the cold path only, so its size is not worth boxing.
#![allow(clippy::result_large_err)]

pub mod action;
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
pub mod replicas;
pub mod request;
pub mod respond;
pub mod rpc;
pub mod schema;
pub mod settings;
pub mod sql;
pub mod statement;
pub mod view_targets;

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
