//! basalt-graphql: the pg_graphql-compatible GraphQL API (`/graphql/v1`). A request flows:
//! identity from the bearer token (`basalt_identity`, as REST: the token's `role`, else `anon`)
//! → the schema reflected for that role ([`catalog`] read under the role's privileges,
//! [`model`] named as pg_graphql names things, cached per role and dropped on
//! `NOTIFY pgrst, 'reload schema'`) → parse and validate with async-graphql's dynamic schema
//! ([`gql`], which also answers introspection) → the whole operation translated into SQL
//! ([`translate`]: one statement for a query, one per mutation field) → run on one pipelined
//! connection as the role with `request.jwt.claims` set, so row-level security decides
//! ([`app`]) → `{"data": ...}` or `{"errors": [{"message": ...}]}` with HTTP 200 ([`http`]).

pub mod app;
pub mod catalog;
pub mod gql;
pub mod http;
pub mod model;
pub mod names;
pub mod translate;

use std::sync::Arc;

/// How the service connects and whom it trusts.
#[derive(Clone)]
pub struct Config {
    /// Connection string (a login that may `SET ROLE` to the token roles: `authenticator`).
    pub db_uri: String,
    /// The exposed schemas (pg_graphql reflects these).
    pub schemas: Vec<String>,
    /// Added to the search path after the exposed schemas.
    pub extra_search_path: Vec<String>,
    /// The role of requests without a token.
    pub anon_role: String,
    /// The keys that verify tokens.
    pub keys: Arc<basalt_identity::Keys>,
    pub pool_size: usize,
    /// `schema.function` called at the start of every request's transaction (after the
    /// settings), as REST's `db-pre-request`.
    pub pre_request: Option<String>,
}

impl Config {
    /// As `basalt start` runs it: the project's `[api]` schemas, logged in as `authenticator`
    /// like REST.
    pub fn from_platform(platform: &basalt_pg::Platform) -> Config {
        let db_uri = platform.caller_url(&platform.db_url);
        Config::from_project(&platform.config.api, db_uri, platform.keys.clone())
    }

    /// From a project's `[api]` section (its schemas without `graphql_public` and `storage`, its
    /// extra search path), connecting to `db_uri` and trusting `keys`: what `basalt start` and
    /// the standalone `basalt graphql` share.
    pub fn from_project(
        api: &basalt_config::ApiConfig,
        db_uri: String,
        keys: Arc<basalt_identity::Keys>,
    ) -> Config {
        let mut schemas: Vec<String> = if api.schemas.is_empty() {
            basalt_config::ApiConfig::default().schemas
        } else {
            api.schemas.clone()
        };
        schemas.retain(|s| s != "graphql_public" && s != "storage");
        if schemas.is_empty() {
            schemas.push("public".into());
        }
        Config {
            db_uri,
            schemas,
            extra_search_path: api.extra_search_path.clone(),
            anon_role: "anon".into(),
            keys,
            pool_size: 8,
            pre_request: None,
        }
    }
}

/// Errors building the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
}

/// The service's routes, relative to its mount point (`/graphql/v1`).
pub async fn router(config: Config) -> Result<axum::Router, Error> {
    let app = app::App::start(config).await?;
    Ok(http::routes(app))
}
