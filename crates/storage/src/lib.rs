//! basalt-storage: a Supabase-compatible `/storage/v1` — buckets, objects, signed URLs and
//! resumable (TUS) uploads as supabase-js's `storage.*` uses them — over a local directory or an
//! S3-compatible bucket (through `object_store`). Object metadata lives in `storage.buckets` and
//! `storage.objects`; every read and write of it runs in one transaction as the caller's role
//! with the JWT claims set, so the project's RLS policies decide access exactly as in Supabase
//! (the service role bypasses them). Bytes stream in both directions with a bounded buffer, size
//! and MIME limits are enforced while streaming, and an upload becomes visible only when its
//! bytes are durable and its row committed: bytes go to a fresh key named by the object's
//! version, and the row pointing at them commits last. An upload that does not fit (the
//! filesystem is full, a quota exhausted) answers 507 `InsufficientStorage` and keeps neither
//! bytes nor row. Leftovers of crashes are swept on start.
//! Nodes keep no state of their own, so several can share one database and one S3 bucket
//! (beyond the render cache, a bounded local directory of derived images).
//! With `[storage.image_transformation] enabled = true` (standalone:
//! `IMAGE_TRANSFORMATION_ENABLED`) `/render/image/{authenticated,public,sign}/…` serves resized
//! images (`render`): the same read path and RLS as a download, decoding under a pixel limit on
//! a bounded blocking pool, results cached by object version and options.
//! Callers' tokens are verified by `basalt_identity` (`auth`); under `basalt start` the service
//! is built from the typed `[storage]` section (`basalt_config`, `config`).

pub mod api;
mod app;
mod auth;
mod blob;
mod buckets;
mod config;
mod db;
mod download;
mod error;
mod limits;
mod list;
mod list_v2;
mod objects;
mod render;
mod route;
mod signed;
mod sweep;
mod tus;
mod upload;

pub use config::{Backend, BucketSeed, Config, S3Config};
pub use error::{ApiError, Existing};
pub use render::ImageConfig;

/// Errors building the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
}

/// The service's routes, relative to its mount point. Connects to the database, opens the byte
/// store, creates the buckets declared in the configuration and starts the sweep of leftovers.
pub async fn router(config: Config) -> Result<axum::Router, Error> {
    app::build(config).await
}

/// Removes bytes no committed object references and unfinished resumable uploads, once. Runs on
/// start by itself; exposed for tools and tests.
pub async fn sweep_once(config: &Config) -> Result<sweep::SweepReport, Error> {
    let state = app::State::connect(config.clone())?;
    Ok(sweep::run(&state).await)
}

pub use sweep::SweepReport;
