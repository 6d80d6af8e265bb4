//! Connection pools. Every service builds its pool here so that pool sizing and connection
//! settings stay the same everywhere.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// Errors building a pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("invalid database URL: {0}")]
    Url(#[from] tokio_postgres::Error),
    #[error("could not build the connection pool: {0}")]
    Build(String),
}

/// A pool of `size` connections to `url` (a `postgresql://` URL or a libpq key/value string).
pub fn build(url: &str, size: usize) -> Result<Pool, PoolError> {
    let pg: tokio_postgres::Config = url.parse()?;
    let mgr = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr)
        .max_size(size.max(1))
        .build()
        .map_err(|e| PoolError::Build(e.to_string()))
}

/// One connection, outside any pool, with its driver task spawned.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "postgres connection closed");
        }
    });
    Ok(client)
}
