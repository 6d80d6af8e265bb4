//! basalt-realtime: Supabase Realtime for supabase-js's `channel(...)`, unchanged. A WebSocket at
//! `/websocket` speaks Phoenix channels (`vsn` 1.0.0 and 2.0.0 framing, binary user broadcasts)
//! with broadcast (`self`/`ack`), presence (`presence_state`/`presence_diff`) and
//! `postgres_changes`; `/api/broadcast` publishes over HTTP. Row changes come from the WAL: each
//! node owns a logical replication slot read with the built-in `pgoutput` plugin from the
//! `supabase_realtime` publication and decoded in-process ([`pgoutput`]). Subscribers are grouped
//! by security context (role + JWT claims); for every batch of committed changes and every table
//! in it, each context runs one cached, pipelined key lookup as that role with those claims, so
//! Postgres' RLS policies decide who sees which row and the cost grows with contexts, not
//! subscribers ([`cdc`], [`rls`]). `record` and `old_record` carry typed JSON, each value as
//! Supabase Realtime writes it for its column type ([`typed`]). **Delivery**: a commit is confirmed
//! to the slot only after its changes were handed to every subscribed socket; after a lost
//! connection (a Postgres restart) the stream resumes from the confirmed position and commits this
//! node already delivered are skipped, so a connected subscriber receives every committed change
//! exactly once ([`replication`]). Private channels are authorised by RLS policies on
//! `realtime.messages` ([`authz`]); rows inserted there (`realtime.send`,
//! `realtime.broadcast_changes`) are broadcast. **Several nodes** against one database: each node
//! has its own slot, so each sees every change and database broadcast; client broadcasts and
//! presence cross to the other nodes as logical decoding messages through those same slots; nodes
//! heartbeat in `realtime.basalt_nodes`, and the slot of a node silent for `node_timeout` is
//! dropped so that nobody holds WAL for it, while a running node keeps confirming its slot even
//! when nobody subscribes ([`node`]). Like supabase/realtime, visibility is decided by looking the
//! row's key up when the batch is checked: a row changed again or deleted before that is judged by
//! its newer state, and deletes (whose row is gone) go, key only when RLS is on, to contexts whose
//! role may select from the table. Tokens are verified by `basalt_identity` ([`token`]), with the
//! platform's keys under `basalt start`.

pub mod authz;
pub mod cdc;
pub mod config;
pub mod filter;
pub mod http;
pub mod hub;
pub mod limits;
pub mod node;
pub mod pgoutput;
pub mod phash;
pub mod phoenix;
pub mod replay;
pub mod replication;
pub mod rls;
pub mod socket;
pub mod subscription;
pub mod token;
pub mod typed;

use std::sync::Arc;

use axum::routing::{get, post};

pub use config::Config;

/// Errors building the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
}

/// Everything a running node shares between its sockets and background tasks.
pub struct State {
    pub config: Config,
    /// The keys callers' tokens are verified with.
    pub keys: std::sync::Arc<basalt_identity::Keys>,
    pub hub: hub::Hub,
    pub pool: deadpool_postgres::Pool,
    /// The project's rate limits and connected users.
    pub limits: Arc<limits::Limits>,
    /// Why this node streams no row changes (its database role lacks the REPLICATION
    /// privilege); `postgres_changes` subscriptions are refused with this message.
    pub replication_off: Option<String>,
    /// This node created its slot once already.
    pub(crate) slot_created: std::sync::atomic::AtomicBool,
    /// Transactions streamed again after a reconnection and skipped as already delivered.
    pub(crate) skipped: std::sync::atomic::AtomicU64,
    relay_tx: tokio::sync::mpsc::UnboundedSender<hub::Relay>,
}

impl State {
    /// How many transactions were streamed again after a reconnection and skipped because this
    /// node had already delivered them.
    pub fn skipped_commits(&self) -> u64 {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Send something to the other nodes.
    pub fn relay(&self, r: hub::Relay) {
        let _ = self.relay_tx.send(r);
    }
}

/// A running node's background tasks. Dropping it stops them; [`Node::shutdown`] also drops the
/// node's replication slot and registration so that it holds no WAL.
pub struct Node {
    pub state: Arc<State>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Keep the tasks running for the life of the process.
    pub fn detach(mut self) {
        self.tasks.clear();
    }

    /// Stop the tasks, end this node's replication session and drop its slot and registration.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        let db = |e: tokio_postgres::Error| Error::Database(e.to_string());
        let client = basalt_pg::pool::connect(&self.state.config.db_url)
            .await
            .map_err(db)?;
        let slot = self.state.config.slot_name();
        for _ in 0..100 {
            client
                .query(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                     WHERE slot_name = $1 AND active_pid IS NOT NULL",
                    &[&slot],
                )
                .await
                .map_err(db)?;
            let dropped = client
                .query(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                     WHERE slot_name = $1 AND NOT active",
                    &[&slot],
                )
                .await;
            let left = client
                .query_opt(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                    &[&slot],
                )
                .await
                .map_err(db)?;
            if dropped.is_ok() && left.is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        client
            .execute(
                "DELETE FROM realtime.basalt_nodes WHERE id = $1",
                &[&self.state.config.node_id],
            )
            .await
            .map_err(db)?;
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Start a node: register it, create its replication slot (so that every change committed after
/// this returns is delivered), spawn its WAL reader, relay and heartbeat tasks. Returns the
/// routes (see [`router`]) and the node's handle.
pub async fn start(config: Config) -> Result<(axum::Router, Node), Error> {
    config.validate()?;
    let pool = basalt_pg::pool::build(&config.db_url, config.pool_size)
        .map_err(|e| Error::Database(e.to_string()))?;
    let (relay_tx, relay_rx) = tokio::sync::mpsc::unbounded_channel();
    let keys = config.keys.clone().unwrap_or_else(|| {
        std::sync::Arc::new(basalt_identity::Keys::from_secret(&config.jwt_secret))
    });
    let replication_off = replication_privilege(&pool).await?;
    if let Some(why) = &replication_off {
        tracing::warn!("realtime: {why}; postgres_changes subscriptions are refused until then");
    }
    let limits = Arc::new(limits::Limits::new(&config));
    let state = Arc::new(State {
        replication_off,
        keys,
        hub: hub::Hub::new(config.node_id.clone(), relay_tx.clone()).with_limits(limits.clone()),
        limits,
        config,
        pool,
        slot_created: std::sync::atomic::AtomicBool::new(false),
        skipped: std::sync::atomic::AtomicU64::new(0),
        relay_tx,
    });
    node::beat(&state).await.map_err(Error::Database)?;
    let mut tasks = vec![
        tokio::spawn(node::emitter(state.clone(), relay_rx)),
        tokio::spawn(node::heartbeat(state.clone())),
    ];
    if state.replication_off.is_none() {
        replication::ensure_slot(&state)
            .await
            .map_err(|e| Error::Database(e.to_string()))?;
        tasks.push(tokio::spawn(replication::Reader::new(state.clone()).run()));
    }
    let router = axum::Router::new()
        .route("/websocket", get(http::websocket))
        .route("/api/broadcast", post(http::broadcast))
        .route(
            "/api/broadcast/{topic}/events/{event}",
            post(http::broadcast_event),
        )
        .with_state(state.clone());
    Ok((router, Node { state, tasks }))
}

/// `None` when the database role may stream the WAL (REPLICATION or superuser), otherwise what
/// is missing and the statement a DBA runs to grant it.
async fn replication_privilege(pool: &deadpool_postgres::Pool) -> Result<Option<String>, Error> {
    let client = pool
        .get()
        .await
        .map_err(|e| Error::Database(e.to_string()))?;
    let row = client
        .query_one(
            "SELECT current_user::text, rolsuper OR rolreplication FROM pg_roles
             WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| Error::Database(basalt_pg::pool::describe(&e)))?;
    let (user, allowed): (String, bool) = (row.get(0), row.get(1));
    Ok((!allowed).then(|| {
        format!(
            "the database role {} has no REPLICATION privilege, so row changes cannot be \
             streamed; a DBA runs: ALTER ROLE {} REPLICATION;",
            basalt_pg::quote_ident(&user),
            basalt_pg::quote_ident(&user)
        )
    }))
}

/// The service's routes, relative to its mount point: `/websocket`, `/api/broadcast`,
/// `/api/broadcast/{topic}/events/{event}`. The node's background tasks run for the life of the
/// process.
pub async fn router(config: Config) -> Result<axum::Router, Error> {
    let (router, node) = start(config).await?;
    node.detach();
    Ok(router)
}
