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
    builder(url, size, None)?
        .build()
        .map_err(|e| PoolError::Build(e.to_string()))
        .inspect(|pool| register("general", pool))
}

/// A pool like [`build`] whose connections serve requests as their callers: each becomes an
/// `authenticator` session before first use (see [`crate::caller`]), then takes `session_role`
/// as its current role when one is given: also the role `RESET ROLE` and `SET LOCAL ROLE TO
/// DEFAULT` return to (it is set at startup, unless the URL's `options` already set a role).
pub fn build_for_callers(
    url: &str,
    size: usize,
    session_role: Option<&str>,
) -> Result<Pool, PoolError> {
    let assume = crate::caller::assume_sql(session_role);
    builder(url, size, session_role)?
        .post_create(deadpool_postgres::Hook::async_fn(move |client, _| {
            let assume = assume.clone();
            Box::pin(async move {
                let failed = |e: tokio_postgres::Error| {
                    deadpool_postgres::HookError::Message(
                        format!("taking the authenticator session: {}", describe(&e)).into(),
                    )
                };
                client.batch_execute(&assume).await.map_err(failed)?;
                let row = client
                    .query_one(crate::caller::SESSION_USER_SQL, &[])
                    .await
                    .map_err(failed)?;
                crate::caller::note_session_user(row.get(0));
                Ok(())
            })
        }))
        .build()
        .map_err(|e| PoolError::Build(e.to_string()))
        .inspect(|pool| register("general", pool))
}

fn builder(
    url: &str,
    size: usize,
    session_role: Option<&str>,
) -> Result<deadpool_postgres::PoolBuilder, PoolError> {
    let mut db = crate::tls::parse(url)?;
    if let Some(role) = session_role {
        let options = db.pg.get_options().unwrap_or_default();
        if !options.contains("role=") {
            let options = format!("{options} -c role={role}");
            db.pg.options(options.trim_start());
        }
    }
    db.tls.check().map_err(PoolError::Tls)?;
    let pg = db.pg.clone();
    let mgr = Manager::from_connect(
        pg,
        db,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(mgr).max_size(size.max(1)))
}

/// How full one live pool is (for `/metrics`).
#[derive(Debug, Clone)]
pub struct PoolStat {
    /// `general` (tokio-postgres, [`build`]) or `wire` ([`crate::wire::pool`]).
    pub kind: &'static str,
    /// Numbered in the order the process built its pools.
    pub id: u64,
    pub status: deadpool::Status,
}

struct Registered {
    kind: &'static str,
    id: u64,
    /// `None` once the pool is dropped.
    status: Box<dyn Fn() -> Option<deadpool::Status> + Send + Sync>,
    close: Box<dyn Fn() + Send + Sync>,
}

fn registry() -> &'static std::sync::Mutex<Vec<Registered>> {
    static R: std::sync::OnceLock<std::sync::Mutex<Vec<Registered>>> = std::sync::OnceLock::new();
    R.get_or_init(Default::default)
}

/// Remember a pool (weakly: a dropped pool is forgotten) for [`stats`] and [`close_all`].
pub(crate) fn register<M: deadpool::managed::Manager + 'static>(
    kind: &'static str,
    pool: &deadpool::managed::Pool<M>,
) {
    static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (a, b) = (pool.weak(), pool.weak());
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    r.retain(|p| (p.status)().is_some());
    r.push(Registered {
        kind,
        id,
        status: Box::new(move || a.upgrade().map(|p| p.status())),
        close: Box::new(move || {
            if let Some(p) = b.upgrade() {
                p.close();
            }
        }),
    });
}

/// Every live pool of the process and how full it is.
pub fn stats() -> Vec<PoolStat> {
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    r.iter()
        .filter_map(|p| {
            (p.status)().map(|status| PoolStat {
                kind: p.kind,
                id: p.id,
                status,
            })
        })
        .collect()
}

/// Close every pool of the process (at shutdown, after the last request): idle connections are
/// closed now, and those in use when they are given back.
pub fn close_all() {
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    for p in r.iter() {
        (p.close)();
    }
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
