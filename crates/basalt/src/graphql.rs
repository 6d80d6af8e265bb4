//! `basalt graphql`: the GraphQL API alone (`/graphql/v1`), against any Postgres. Its schemas
//! and keys come from the project directory as under `basalt start` (`[api] schemas`, the JWT
//! secret of `--jwt-secret`, `$BASALT_JWT_SECRET`, `[auth] jwt_secret` or the local default, the
//! JWK set of `[auth] signing_keys_path`); a directory without `supabase/config.toml` means the
//! defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use crate::project::{Project, CLI_LOCAL_SECRET};

#[derive(clap::Args)]
pub struct GraphqlArgs {
    /// The project directory (its `supabase/config.toml`, when there is one).
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// The database: a login that may `SET ROLE` to the roles tokens name (`authenticator`).
    #[arg(long, env = "BASALT_DB_URL")]
    db_url: String,
    #[arg(long, default_value_t = 5002)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// The JWT secret tokens are signed with (default: the project's).
    #[arg(long)]
    jwt_secret: Option<String>,
    /// The exposed schemas, comma-separated (default: the project's `[api] schemas`).
    #[arg(long, value_delimiter = ',')]
    schemas: Vec<String>,
    /// `schema.function` run at the start of each request's transaction, as REST's pre-request.
    #[arg(long)]
    pre_request: Option<String>,
    /// Database connections.
    #[arg(long, default_value_t = 10)]
    pool: usize,
}

impl GraphqlArgs {
    /// The address to listen on and the service's configuration.
    pub fn config(self) -> anyhow::Result<(SocketAddr, basalt_graphql::Config)> {
        let project = Project::load(&self.project)?;
        let secret = match self.jwt_secret.filter(|s| !s.is_empty()) {
            Some(s) => s,
            None => project.jwt_secret()?,
        };
        if secret == CLI_LOCAL_SECRET && !self.host.is_loopback() {
            anyhow::bail!(
                "the local default JWT secret is public: give --jwt-secret (or [auth] jwt_secret) \
                 to listen on {}",
                self.host
            );
        }
        let keys = Arc::new(project.keys(&secret)?);
        let mut config =
            basalt_graphql::Config::from_project(&project.config.api, self.db_url, keys);
        if !self.schemas.is_empty() {
            config.schemas = self.schemas;
        }
        config.pre_request = self.pre_request.filter(|s| !s.is_empty());
        config.pool_size = self.pool.max(1);
        Ok((SocketAddr::new(self.host, self.port), config))
    }
}

/// The routes `basalt graphql` serves: GraphQL at `/graphql/v1`, as behind Supabase's gateway.
pub async fn router(config: basalt_graphql::Config) -> anyhow::Result<axum::Router> {
    let routes = basalt_graphql::router(config).await?;
    Ok(axum::Router::new().nest("/graphql/v1", routes))
}
