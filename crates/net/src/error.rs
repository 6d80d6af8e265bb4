//! Errors of the background tasks.

/// Why a background task could not start or a step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("connection pool: {0}")]
    Build(#[from] basalt_pg::pool::PoolError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("vault key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
