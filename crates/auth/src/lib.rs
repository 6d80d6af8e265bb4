//! basalt-auth: placeholder until the service lands. See the issue tracker.

/// Configuration of the auth service.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Address to listen on when running standalone.
    pub listen: Option<std::net::SocketAddr>,
}

/// Errors building the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
}

impl Config {
    /// Configuration from the upstream container's environment variables.
    pub fn from_env() -> Result<Config, Error> {
        Ok(Config::default())
    }

    /// Configuration under `basalt start`.
    pub fn from_platform(_platform: &basalt_pg::Platform) -> Config {
        Config::default()
    }
}

/// The service's routes, relative to its mount point.
pub async fn router(_config: Config) -> Result<axum::Router, Error> {
    Ok(axum::Router::new())
}
