//! The running service: configuration, pool, JWT keys and the schema cache, plus the listener
//! that reloads the cache on `NOTIFY pgrst, 'reload schema'` (sent by basalt's DDL event trigger).

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures::StreamExt;
use parking_lot::RwLock;
use tokio_postgres::AsyncMessage;

use crate::auth::Verifier;
use crate::config::Config;
use crate::db::Generations;
use crate::schema::SchemaCache;
use crate::Error;

/// Connections for everything but requests.
const GENERAL_POOL: usize = 2;

/// Shared state of the service.
pub struct App {
    pub config: Config,
    /// Request connections: one pipeline per request (see `basalt_pg::wire`).
    pub wire: basalt_pg::wire::Pool,
    /// A few general connections for the schema cache and the OpenAPI document.
    pub pool: Pool,
    pub verifier: Option<Verifier>,
    pub gens: Arc<Generations>,
    /// Read replicas (empty without any): read-only transactions run on one in rotation.
    pub replicas: Arc<crate::replicas::Replicas>,
    cache: RwLock<Arc<SchemaCache>>,
}

impl App {
    /// Connect, load the schema cache and start the reload listener.
    pub async fn start(config: Config) -> Result<Arc<App>, Error> {
        let verifier = Verifier::from_config(&config)?;
        let wire = basalt_pg::wire::pool_for_callers(&config.db_uri, config.pool_size)
            .map_err(|e| Error::Config(e.to_string()))?;
        let pool = basalt_pg::pool::build_for_callers(&config.db_uri, GENERAL_POOL, None)
            .map_err(|e| Error::Config(e.to_string()))?;
        let cache = load(&pool, &config.schemas).await?;
        let replicas = Arc::new(crate::replicas::Replicas::new(
            &config.read_replicas,
            config.pool_size,
            config.replica_max_lag,
        )?);
        if !replicas.members.is_empty() {
            tokio::spawn(crate::replicas::check(
                Arc::downgrade(&replicas),
                pool.clone(),
            ));
        }
        let app = Arc::new(App {
            replicas,
            config,
            wire,
            pool,
            verifier,
            gens: Arc::new(Generations::default()),
            cache: RwLock::new(Arc::new(cache)),
        });
        // The service answers only once it listens: DDL from then on is never missed.
        let (ready, listening) = tokio::sync::oneshot::channel();
        tokio::spawn(listen(Arc::downgrade(&app), ready));
        if tokio::time::timeout(Duration::from_secs(10), listening)
            .await
            .is_err()
        {
            tracing::warn!("schema listener not connected yet; schema reloads wait for it");
        }
        Ok(app)
    }

    /// The current schema cache.
    pub fn cache(&self) -> Arc<SchemaCache> {
        self.cache.read().clone()
    }

    /// Reload the schema cache now.
    pub async fn reload(&self) -> Result<(), Error> {
        let cache = load(&self.pool, &self.config.schemas).await?;
        *self.cache.write() = Arc::new(cache);
        self.gens
            .current
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

async fn load(pool: &Pool, schemas: &[String]) -> Result<SchemaCache, Error> {
    let client = pool
        .get()
        .await
        .map_err(|e| Error::Database(e.to_string()))?;
    SchemaCache::load(&client, schemas)
        .await
        .map_err(|e| Error::Database(e.to_string()))
}

/// LISTEN on `pgrst`; reload on `reload schema` (or an empty payload). Reconnects on failure,
/// and reloads after reconnecting (the DDL of the gap went unheard). `ready` is told when the
/// first LISTEN is in place.
async fn listen(app: std::sync::Weak<App>, ready: tokio::sync::oneshot::Sender<()>) {
    let mut ready = Some(ready);
    loop {
        let Some(url) = app.upgrade().map(|a| a.config.db_uri.clone()) else {
            return;
        };
        match basalt_pg::pool::connect_raw(&url).await {
            Ok((client, mut conn)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    let mut stream = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
                    while let Some(msg) = stream.next().await {
                        match msg {
                            Ok(AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_string()).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
                if client.batch_execute("LISTEN pgrst").await.is_ok() {
                    match ready.take() {
                        Some(r) => {
                            let _ = r.send(());
                        }
                        None => {
                            let Some(a) = app.upgrade() else { return };
                            if let Err(e) = a.reload().await {
                                tracing::warn!(error = %e, "schema cache reload failed");
                            }
                        }
                    }
                    while let Some(payload) = rx.recv().await {
                        if payload.is_empty() || payload == "reload schema" {
                            // Coalesce bursts of notifications (one DDL script, many events).
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            while rx.try_recv().is_ok() {}
                            let Some(a) = app.upgrade() else { return };
                            if let Err(e) = a.reload().await {
                                tracing::warn!(error = %e, "schema cache reload failed");
                            }
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::debug!(error = %e, "schema listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
