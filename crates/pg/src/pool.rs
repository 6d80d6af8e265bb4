//! Connection pools. Every service builds its pool here so that pool sizing and connection
//! settings stay the same everywhere. TLS comes from the connection string ([`crate::tls`]).

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

/// Errors building a pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("invalid database URL: {0}")]
    Url(#[from] tokio_postgres::Error),
    #[error("database TLS settings: {0}")]
    Tls(String),
    #[error("could not build the connection pool: {0}")]
    Build(String),
}

/// A pool of `size` connections to `url` (a `postgresql://` URL or a libpq key/value string,
/// with libpq's `sslmode`, `sslrootcert`, `sslcert` and `sslkey`).
pub fn build(url: &str, size: usize) -> Result<Pool, PoolError> {
    let db = crate::tls::parse(url)?;
    db.tls.check().map_err(PoolError::Tls)?;
    let pg = db.pg.clone();
    let mgr = Manager::from_connect(
        pg,
        db,
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
    let (client, conn) = connect_raw(url).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "postgres connection closed");
        }
    });
    Ok(client)
}

/// One connection and its driver, not spawned (for listeners that read notifications from it).
pub async fn connect_raw(
    url: &str,
) -> Result<(tokio_postgres::Client, crate::tls::Connection), tokio_postgres::Error> {
    crate::tls::parse(url)?.connect().await
}

/// An error in full: tokio-postgres' own text is only its kind ("db error", "error performing
/// TLS handshake"); what happened is in its sources (the server's message, the refused
/// certificate).
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
