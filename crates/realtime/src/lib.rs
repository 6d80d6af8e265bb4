//! basalt-realtime: Supabase Realtime for supabase-js's `channel(...)`, unchanged. A WebSocket at
//! `/websocket` speaks Phoenix channels (`vsn` 1.0.0 and 2.0.0 framing, binary user broadcasts)
//! with broadcast (`self`/`ack`), presence (`presence_state`/`presence_diff`) and
//! `postgres_changes`; `/api/broadcast` publishes over HTTP. Row changes come from the WAL: each
//! node owns a logical replication slot read with the built-in `pgoutput` plugin from the
//! `supabase_realtime` publication and decoded in-process ([`pgoutput`]). Subscribers are grouped
//! by security context (role + JWT claims) and every batch of changes is checked per table and
//! context in one query as that role with those claims, so Postgres' RLS policies decide who sees
//! what ([`cdc`]). A commit is confirmed to the slot only after it was handed to every socket,
//! and the stream resumes from there after a Postgres restart ([`replication`]). Private channels
//! are authorised by RLS policies on `realtime.messages` ([`authz`]); rows inserted there
//! (`realtime.send`, `realtime.broadcast_changes`) are broadcast. **Several nodes** against one
//! database: each node has its own slot, so each sees every change and database broadcast; client
//! broadcasts and presence cross to the other nodes as logical decoding messages through those
//! same slots; nodes heartbeat in `realtime.basalt_nodes`, and the slot of a node that is gone is
//! dropped so that it holds no WAL ([`node`]).

pub mod authz;
pub mod cdc;
pub mod config;
pub mod filter;
pub mod http;
pub mod hub;
pub mod node;
pub mod pgoutput;
pub mod phoenix;
pub mod replication;
pub mod socket;
pub mod token;

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
    pub hub: hub::Hub,
    pub pool: deadpool_postgres::Pool,
    relay_tx: tokio::sync::mpsc::UnboundedSender<hub::Relay>,
}

impl State {
    /// Send something to the other nodes.
    pub fn relay(&self, r: hub::Relay) {
        let _ = self.relay_tx.send(r);
    }
}

/// Start a node: register it, create its replication slot (so that every change committed after
/// this returns is delivered), spawn its WAL reader, relay and heartbeat tasks, and return the
/// routes relative to the mount point: `/websocket`, `/api/broadcast`,
/// `/api/broadcast/{topic}/events/{event}`.
pub async fn router(config: Config) -> Result<axum::Router, Error> {
    config.validate()?;
    let pool = basalt_pg::pool::build(&config.db_url, config.pool_size)
        .map_err(|e| Error::Database(e.to_string()))?;
    let (relay_tx, relay_rx) = tokio::sync::mpsc::unbounded_channel();
    let state = Arc::new(State {
        hub: hub::Hub::new(config.node_id.clone(), relay_tx.clone()),
        config,
        pool,
        relay_tx,
    });
    node::beat(&state).await.map_err(Error::Database)?;
    replication::ensure_slot(&state)
        .await
        .map_err(|e| Error::Database(e.to_string()))?;
    tokio::spawn(replication::Reader::new(state.clone()).run());
    tokio::spawn(node::emitter(state.clone(), relay_rx));
    tokio::spawn(node::heartbeat(state.clone()));
    Ok(axum::Router::new()
        .route("/websocket", get(http::websocket))
        .route("/api/broadcast", post(http::broadcast))
        .route(
            "/api/broadcast/{topic}/events/{event}",
            post(http::broadcast_event),
        )
        .with_state(state))
}
