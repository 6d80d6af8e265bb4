//! The WAL reader of one node: a logical replication slot of its own, read with the `pgoutput`
//! plugin from the `supabase_realtime` publication (row changes) and
//! `supabase_realtime_messages_publication` (broadcasts from the database), plus logical messages
//! from other nodes.
//!
//! Delivery guarantee: the slot's confirmed position is raised to a commit's end only after every
//! change of that commit was handed to every subscribed socket. After a lost connection (a
//! Postgres restart), the stream resumes from the confirmed position, so nothing committed is
//! skipped; transactions at or below the highest commit this node already delivered are dropped,
//! so a connected subscriber receives each change exactly once. (The skip matters: before
//! Postgres 17 a logical slot's confirmed position is not always saved at shutdown, so after a
//! restart — and always after a crash — the stream starts again before what was delivered.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent};
use serde_json::Value;

use crate::cdc::{self, Change, Index, RelInfo};
use crate::filter::EventKind;
use crate::hub::{Broadcast, TopicKey};
use crate::node;
use crate::pgoutput::{self, Cell, PgOutput};
use crate::phoenix::BroadcastBody;
use crate::typed;
use crate::State;

/// Publication that carries `realtime.messages`.
pub const MESSAGES_PUBLICATION: &str = "supabase_realtime_messages_publication";

/// Why a replication session ended.
#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    #[error("replication: {0}")]
    Wire(#[from] pgwire_replication::PgWireError),
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("decoding: {0}")]
    Decode(#[from] pgoutput::DecodeError),
    #[error("connection string: {0}")]
    Url(String),
    #[error("replication connection: {0}")]
    Tls(String),
    #[error("the replication stream ended")]
    Ended,
}

/// Create this node's slot when it does not exist yet.
pub async fn ensure_slot(state: &State) -> Result<(), ReplError> {
    let client = state.pool.get().await?;
    let slot = state.config.slot_name();
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await?
        .is_some();
    let had_slot = state
        .slot_created
        .swap(true, std::sync::atomic::Ordering::SeqCst);
    if !exists {
        client
            .query(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
                &[&slot],
            )
            .await?;
        if had_slot {
            // The slot was dropped while this node was away (it was silent for longer than
            // `node_timeout`): changes committed meanwhile were not kept for it.
            tracing::warn!(%slot, "replication slot was gone and was created again; changes committed while it was missing are not delivered");
        } else {
            tracing::info!(%slot, "created replication slot");
        }
    }
    Ok(())
}

/// The replication client's settings. Over TCP with TLS (any `sslmode` but `disable`), the
/// client is pointed at a private tunnel that speaks TLS to the server with basalt's own
/// settings ([`basalt_pg::tls::Tunnel`]: certificates checked and client certificates offered as
/// for every other connection); the tunnel must live as long as the session.
async fn replication_config(
    state: &State,
) -> Result<(ReplicationConfig, Option<basalt_pg::tls::Tunnel>), ReplError> {
    let db = basalt_pg::tls::parse(&state.config.db_url)
        .map_err(|e| ReplError::Url(basalt_pg::pool::describe(&e)))?;
    let pg = &db.pg;
    let mut host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "127.0.0.1".into(),
    };
    let mut port = pg.get_ports().first().copied().unwrap_or(5432);
    let mut tunnel = None;
    if pg.get_ssl_mode() != tokio_postgres::config::SslMode::Disable {
        match basalt_pg::tls::Tunnel::open(&db).await {
            Ok(t) => {
                host = t.dir().display().to_string();
                port = t.port;
                tunnel = Some(t);
            }
            // prefer/allow: a failed TLS attempt falls back to a plain connection, as libpq.
            Err(e) if db.tls.mode().falls_back() => {
                tracing::debug!(error = %e, "replication over TLS failed; trying without");
            }
            Err(e) => return Err(ReplError::Tls(e.to_string())),
        }
    }
    let user = pg.get_user().unwrap_or("postgres").to_owned();
    let password = pg
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let db = pg.get_dbname().unwrap_or(&user).to_owned();
    let publications = vec![
        state.config.publication.clone(),
        MESSAGES_PUBLICATION.to_owned(),
    ];
    let config = ReplicationConfig::new(
        host,
        user,
        password,
        db,
        state.config.slot_name(),
        publications,
    )
    .with_port(port)
    .with_status_interval(Duration::from_millis(500))
    .with_wakeup_interval(Duration::from_secs(1))
    .with_application_name(format!("basalt-realtime-{}", state.config.node_id));
    Ok((config, tunnel))
}

/// A transaction being read.
struct Tx {
    commit_time: i64,
    xid: u32,
    changes: Vec<Change>,
    broadcasts: Vec<(TopicKey, Broadcast)>,
    relays: Vec<bytes::Bytes>,
}

/// The reader's memory across sessions.
pub struct Reader {
    state: Arc<State>,
    /// End LSN of the last commit handed to sockets.
    delivered: u64,
    index: Arc<Index>,
    index_version: u64,
    types: HashMap<u32, String>,
}

impl Reader {
    /// A reader for `state`.
    pub fn new(state: Arc<State>) -> Reader {
        Reader {
            state,
            delivered: 0,
            index: Arc::new(Index::default()),
            index_version: u64::MAX,
            types: HashMap::new(),
        }
    }

    /// Read forever, reconnecting with backoff.
    pub async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.session().await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, "realtime replication interrupted; reconnecting");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    fn refresh_index(&mut self) {
        let v = self.state.hub.cdc_version();
        if v != self.index_version {
            self.index = Arc::new(Index::new(self.state.hub.cdc_snapshot()));
            self.index_version = v;
        }
    }

    async fn session(&mut self) -> Result<(), ReplError> {
        ensure_slot(&self.state).await?;
        let (config, _tunnel) = replication_config(&self.state).await?;
        let mut client = ReplicationClient::connect(config).await?;
        let mut relations: HashMap<u32, Arc<RelInfo>> = HashMap::new();
        let mut open: Option<Tx> = None;
        let mut batch: Vec<Tx> = Vec::new();
        let mut batch_end: u64 = 0;
        let max_batch = self.state.config.max_batch;
        loop {
            // Block for the next event only when nothing is waiting to be delivered.
            let ev = if batch.is_empty() {
                client.recv().await?
            } else {
                match client.recv().now_or_never() {
                    Some(r) => r?,
                    None => {
                        self.flush(&mut batch).await;
                        self.delivered = self.delivered.max(batch_end);
                        client.update_applied_lsn(Lsn::from_u64(batch_end));
                        continue;
                    }
                }
            };
            let Some(ev) = ev else {
                return Err(ReplError::Ended);
            };
            match ev {
                ReplicationEvent::Begin {
                    commit_time_micros,
                    xid,
                    ..
                } => {
                    open = Some(Tx {
                        commit_time: commit_time_micros,
                        xid,
                        changes: Vec::new(),
                        broadcasts: Vec::new(),
                        relays: Vec::new(),
                    });
                }
                ReplicationEvent::XLogData { data, .. } => {
                    let msg = pgoutput::decode(&data)?;
                    self.on_change(msg, &mut relations, open.as_mut()).await?;
                }
                ReplicationEvent::Message {
                    transactional,
                    prefix,
                    content,
                    ..
                } => {
                    if prefix == node::PREFIX {
                        match (transactional, open.as_mut()) {
                            (true, Some(tx)) => tx.relays.push(content),
                            _ => node::apply(&self.state, &content),
                        }
                    }
                }
                ReplicationEvent::Commit { end_lsn, .. } => {
                    let Some(tx) = open.take() else { continue };
                    let end = end_lsn.as_u64();
                    if end <= self.delivered {
                        // Already delivered before the stream was resumed.
                        self.state
                            .skipped
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        client.update_applied_lsn(end_lsn);
                        continue;
                    }
                    batch_end = end;
                    let n: usize = batch.iter().map(|t| t.changes.len()).sum();
                    batch.push(tx);
                    if n >= max_batch {
                        self.flush(&mut batch).await;
                        self.delivered = self.delivered.max(batch_end);
                        client.update_applied_lsn(end_lsn);
                    }
                }
                ReplicationEvent::KeepAlive { wal_end, .. } => {
                    if open.is_none() && batch.is_empty() && wal_end.as_u64() > self.delivered {
                        client.update_applied_lsn(wal_end);
                    }
                }
                ReplicationEvent::StoppedAt { .. } => return Ok(()),
            }
        }
    }

    /// Deliver a batch of committed transactions; retries until Postgres answers, since a
    /// change may only be confirmed once it was handed to its subscribers.
    async fn flush(&mut self, batch: &mut Vec<Tx>) {
        self.refresh_index();
        let mut changes = Vec::new();
        for tx in batch.iter_mut() {
            changes.append(&mut tx.changes);
        }
        let mut wait = Duration::from_millis(50);
        loop {
            match cdc::deliver(&self.state.pool, &self.index, &changes).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "visibility check failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                    self.refresh_index();
                }
            }
        }
        for tx in batch.drain(..) {
            for (key, msg) in tx.broadcasts {
                // Over the project's message rate a database broadcast is dropped.
                let events = &self.state.limits.events;
                if events.triggered() {
                    tracing::warn!(
                        "realtime: too many messages per second; database broadcast dropped"
                    );
                    continue;
                }
                events.add(1);
                self.state.hub.broadcast(&key, None, &msg, true);
            }
            for r in tx.relays {
                node::apply(&self.state, &r);
            }
        }
    }

    async fn on_change(
        &mut self,
        msg: PgOutput,
        relations: &mut HashMap<u32, Arc<RelInfo>>,
        tx: Option<&mut Tx>,
    ) -> Result<(), ReplError> {
        match msg {
            PgOutput::Relation(r) => {
                let info = self.describe(&r).await?;
                relations.insert(r.id, Arc::new(info));
            }
            PgOutput::Type { oid, name, .. } => {
                self.types.insert(oid, name);
            }
            PgOutput::Insert { rel, new } => {
                let (Some(tx), Some(info)) = (tx, relations.get(&rel)) else {
                    return Ok(());
                };
                if info.schema == "realtime" && info.name == "messages" {
                    if let Some(b) = message_broadcast(info, &new) {
                        tx.broadcasts.push(b);
                    }
                    return Ok(());
                }
                tx.changes.push(Change {
                    rel: info.clone(),
                    kind: EventKind::Insert,
                    new: Some(new),
                    old: None,
                    commit_time: tx.commit_time,
                    xid: tx.xid,
                });
            }
            PgOutput::Update { rel, old, new } => {
                let (Some(tx), Some(info)) = (tx, relations.get(&rel)) else {
                    return Ok(());
                };
                if info.schema == "realtime" && info.name == "messages" {
                    return Ok(());
                }
                tx.changes.push(Change {
                    rel: info.clone(),
                    kind: EventKind::Update,
                    new: Some(new),
                    old,
                    commit_time: tx.commit_time,
                    xid: tx.xid,
                });
            }
            PgOutput::Delete { rel, old } => {
                let (Some(tx), Some(info)) = (tx, relations.get(&rel)) else {
                    return Ok(());
                };
                if info.schema == "realtime" && info.name == "messages" {
                    return Ok(());
                }
                tx.changes.push(Change {
                    rel: info.clone(),
                    kind: EventKind::Delete,
                    new: None,
                    old: Some(old),
                    commit_time: tx.commit_time,
                    xid: tx.xid,
                });
            }
            PgOutput::Truncate { .. } | PgOutput::Origin | PgOutput::Other(_) => {}
        }
        Ok(())
    }

    /// Column type names, primary key and RLS flag of a relation.
    async fn describe(&mut self, r: &pgoutput::Relation) -> Result<RelInfo, ReplError> {
        let client = self.state.pool.get().await?;
        let unknown: Vec<u32> = r
            .columns
            .iter()
            .map(|c| c.type_oid)
            .filter(|o| !self.types.contains_key(o))
            .collect();
        if !unknown.is_empty() {
            for row in client
                .query(
                    "SELECT oid, typname::text FROM pg_type WHERE oid = ANY($1)",
                    &[&unknown],
                )
                .await?
            {
                self.types.insert(row.get(0), row.get(1));
            }
        }
        let meta = client
            .query_opt(
                "SELECT c.relrowsecurity,
                        coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum)
                                  FROM pg_index i JOIN pg_attribute a
                                    ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                                  WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
                 FROM pg_class c WHERE c.oid = $1",
                &[&r.id],
            )
            .await?;
        let (rls, pk): (bool, Vec<String>) = match meta {
            Some(row) => (row.get(0), row.get(1)),
            None => (true, Vec::new()),
        };
        let columns: Vec<(String, String)> = r
            .columns
            .iter()
            .map(|c| {
                let t = self
                    .types
                    .get(&c.type_oid)
                    .cloned()
                    .unwrap_or_else(|| c.type_oid.to_string());
                (c.name.clone(), t)
            })
            .collect();
        let oids: Vec<u32> = r.columns.iter().map(|c| c.type_oid).collect();
        let resolved = typed::resolve(&client, &oids).await?;
        let json_types = oids
            .iter()
            .map(|o| resolved.get(o).cloned().unwrap_or_default())
            .collect();
        let full_identity = r.replica_identity == b'f';
        let mut key: Vec<usize> = pk
            .iter()
            .filter_map(|k| r.columns.iter().position(|c| &c.name == k))
            .collect();
        if key.is_empty() && !full_identity {
            key = r
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.key)
                .map(|(i, _)| i)
                .collect();
        }
        Ok(RelInfo {
            id: r.id,
            schema: r.schema.clone(),
            name: r.name.clone(),
            columns,
            json_types,
            key,
            full_identity,
            rls,
        })
    }
}

/// The bytes of a `bytea` in its text output (`\x` and hex digits).
fn bytea(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.strip_prefix("\\x")?).ok()
}

/// A row of `realtime.messages` as the broadcast it stands for.
fn message_broadcast(info: &RelInfo, row: &[Cell]) -> Option<(TopicKey, Broadcast)> {
    let get = |name: &str| {
        info.columns
            .iter()
            .position(|(n, _)| n == name)
            .and_then(|i| row.get(i))
            .and_then(Cell::as_text)
    };
    if get("extension") != Some("broadcast") {
        return None;
    }
    let topic = get("topic")?;
    let private = matches!(get("private"), Some("t"));
    let event = get("event").unwrap_or("").to_owned();
    // Bytes (realtime.send_binary) before JSON; a row with neither is no broadcast.
    let body = match (get("binary_payload"), get("payload")) {
        (Some(hex), _) => BroadcastBody::Binary(bytea(hex)?.into()),
        (None, Some(payload)) => {
            // jsonb text: valid JSON by construction, but check anyway.
            serde_json::from_str::<Value>(payload).ok()?;
            BroadcastBody::Json(payload.to_owned())
        }
        (None, None) => return None,
    };
    let meta = get("id").map(|id| serde_json::json!({"id": id}).to_string());
    Some((
        TopicKey {
            topic: format!("realtime:{topic}"),
            private,
        },
        Broadcast {
            event,
            body,
            meta,
            text: false,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bytea_text() {
        assert_eq!(bytea("\\x00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(bytea("\\x"), Some(vec![]));
        assert_eq!(bytea("\\x0"), None);
        assert_eq!(bytea("\\xzz"), None);
        assert_eq!(bytea("00"), None);
    }
}
