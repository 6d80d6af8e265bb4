//! Read replicas: read-only transactions (GET and HEAD reads, calls of stable or immutable
//! functions) run on a streaming replica when one is in rotation; every other transaction runs
//! on the primary. Each request is one transaction, so a request that writes never reads from a
//! replica.
//!
//! A checker measures every replica each [`CHECK_EVERY`]: it samples the primary's flushed WAL
//! position (`pg_current_wal_flush_lsn()`) with the time it was taken, then reads the replica's
//! replayed position (`pg_last_wal_replay_lsn()`). The replica's lag is the age of the newest
//! sample it has replayed: 0 when it has everything the primary had at this check, however long
//! the primary has been idle (where `pg_last_xact_replay_timestamp()` would grow without bound),
//! and no clock comparison between machines. A replica whose lag exceeds the bound, or that does
//! not answer, leaves the rotation and returns once a check finds it caught up again. A request
//! that fails on a replica for a connection reason (the replica went down between checks, or
//! cancelled the query for a recovery conflict) takes the replica out and runs on the primary;
//! one that finds a relation or function missing (created on the primary, in the schema cache,
//! not replayed yet) runs on the primary, the replica staying in rotation.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

/// How often each replica is checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The lag bound when none is configured.
pub const DEFAULT_MAX_LAG: Duration = Duration::from_secs(10);

/// One replica.
pub struct Replica {
    /// The URL as configured, without its password (for logs).
    pub name: String,
    url: String,
    pub wire: basalt_pg::wire::Pool,
    in_rotation: AtomicBool,
}

impl Replica {
    pub fn in_rotation(&self) -> bool {
        self.in_rotation.load(Ordering::Relaxed)
    }

    /// Put the replica in or out of rotation, saying so when that changes.
    fn set(&self, on: bool, why: &str) {
        if self.in_rotation.swap(on, Ordering::Relaxed) != on {
            if on {
                tracing::info!(replica = %self.name, "read replica back in rotation");
            } else {
                tracing::warn!(replica = %self.name, why, "read replica out of rotation");
            }
        }
    }

    /// Take the replica out after a request failed on it; the checker puts it back.
    pub fn failed(&self, why: &str) {
        self.set(false, why);
    }
}

/// The replicas of a service.
pub struct Replicas {
    pub members: Vec<Arc<Replica>>,
    pub max_lag: Duration,
    next: AtomicUsize,
}

impl Replicas {
    /// Pools for `urls` (connections open on first use). Out of rotation until checked.
    pub fn new(
        urls: &[String],
        pool_size: usize,
        max_lag: Duration,
    ) -> Result<Replicas, crate::Error> {
        let members = urls
            .iter()
            .map(|url| {
                let wire = basalt_pg::wire::pool_for_callers(url, pool_size)
                    .map_err(|e| crate::Error::Config(format!("read replica: {e}")))?;
                Ok(Arc::new(Replica {
                    name: redact(url),
                    url: url.clone(),
                    wire,
                    in_rotation: AtomicBool::new(false),
                }))
            })
            .collect::<Result<Vec<_>, crate::Error>>()?;
        Ok(Replicas {
            members,
            max_lag,
            next: AtomicUsize::new(0),
        })
    }

    /// The next replica in rotation (round robin), if any.
    pub fn pick(&self) -> Option<&Arc<Replica>> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.members[(start + i) % n])
            .find(|r| r.in_rotation())
    }
}

/// Whether an error from a replica says the replica, not the request, failed: the request
/// then runs on the primary. Connection and pool errors (`PGRST000`, `PGRST001`, `PGRST003`),
/// a server shutting down or starting (`57P0x`), connection exceptions (`08xxx`) and
/// cancellations for a recovery conflict (`40001`).
pub fn replica_failure(code: &str) -> bool {
    matches!(code, "PGRST000" | "PGRST001" | "PGRST003" | "40001")
        || code.starts_with("57P")
        || code.starts_with("08")
}

/// Whether an error from a replica says its catalog is behind the schema cache (loaded from the
/// primary): a relation or function created a moment ago is not replayed yet. The request then
/// runs on the primary; the replica stays in rotation (the lag bound decides about it).
pub fn schema_behind(code: &str) -> bool {
    matches!(code, "42P01" | "42883" | "3F000")
}

/// Check the replicas of `replicas` against the primary reached through `primary`, until the
/// service is dropped.
pub async fn check(replicas: Weak<Replicas>, primary: Pool) {
    // (when, the primary's flushed position then), newest last.
    let mut samples: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut clients: Vec<Option<tokio_postgres::Client>> = Vec::new();
    loop {
        let Some(rs) = replicas.upgrade() else { return };
        clients.resize_with(rs.members.len(), || None);
        match primary_lsn(&primary).await {
            Ok(lsn) => {
                samples.push_back((Instant::now(), lsn));
                // Keep what can tell a lag up to the bound, and one sample past it.
                while samples.len() > 2 && samples[1].0.elapsed() > rs.max_lag + CHECK_EVERY * 2 {
                    samples.pop_front();
                }
            }
            Err(e) => tracing::debug!(error = %e, "read replica check: primary position"),
        }
        for (r, client) in rs.members.iter().zip(clients.iter_mut()) {
            match replayed(r, client).await {
                Ok(replayed) => {
                    // The newest sample the replica has replayed: its data is at most that old.
                    let lag = samples
                        .iter()
                        .rev()
                        .find(|(_, lsn)| *lsn <= replayed)
                        .map(|(at, _)| at.elapsed());
                    match lag {
                        Some(l) if l <= rs.max_lag => r.set(true, ""),
                        Some(l) => r.set(false, &format!("lags {l:?}")),
                        None => r.set(false, "lags more than the bound"),
                    }
                }
                Err(e) => {
                    *client = None;
                    r.set(false, &format!("does not answer: {e}"));
                }
            }
        }
        drop(rs);
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

async fn primary_lsn(primary: &Pool) -> Result<u64, String> {
    let c = primary.get().await.map_err(|e| e.to_string())?;
    let row = c
        .query_one(
            "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::int8",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// The replica's replayed WAL position (its current one when it is not in recovery).
async fn replayed(r: &Replica, client: &mut Option<tokio_postgres::Client>) -> Result<u64, String> {
    if client.as_ref().is_none_or(|c| c.is_closed()) {
        let c = tokio::time::timeout(CHECK_EVERY * 3, basalt_pg::pool::connect(&r.url))
            .await
            .map_err(|_| "connection timed out".to_string())?
            .map_err(|e| basalt_pg::pool::describe(&e))?;
        *client = Some(c);
    }
    let Some(c) = client.as_ref() else {
        return Err("no connection".into());
    };
    let row = tokio::time::timeout(
        CHECK_EVERY * 3,
        c.query_one(
            "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                     ELSE pg_current_wal_flush_lsn() END - '0/0'::pg_lsn)::int8",
            &[],
        ),
    )
    .await
    .map_err(|_| "query timed out".to_string())?
    .map_err(|e| e.to_string())?;
    Ok(row.get::<_, Option<i64>>(0).unwrap_or(0) as u64)
}

/// `url` without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_logged() {
        assert_eq!(
            redact("postgres://u:secret@db:5432/app"),
            "postgres://u:***@db:5432/app"
        );
        assert_eq!(redact("postgres://u@db/app"), "postgres://u@db/app");
    }

    #[test]
    fn connection_failures_fall_back_to_the_primary() {
        for c in [
            "PGRST000", "PGRST001", "PGRST003", "57P01", "08006", "40001",
        ] {
            assert!(replica_failure(c), "{c}");
        }
        for c in ["42P01", "25006", "PGRST116", "42501"] {
            assert!(!replica_failure(c), "{c}");
        }
        assert!(schema_behind("42P01") && schema_behind("42883"));
        assert!(!schema_behind("42501") && !schema_behind("PGRST000"));
    }
}
