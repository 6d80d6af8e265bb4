//! The delivery loop: claim what is due (as many as there are free slots), send each in its own
//! task, record the outcome or schedule a retry, sleep until woken (NOTIFY, a finished send) or
//! until the next retry/lease expiry, at most the fallback poll interval.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{watch, Notify, Semaphore};

use crate::queue::{self, Request};
use crate::send::{self, Sent};
use crate::{Error, NetConfig};

/// Longest sleep without a wake-up: the fallback poll.
const POLL: Duration = Duration::from_secs(5);
/// How often old responses are deleted.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Sends queued requests for one node.
#[derive(Clone)]
pub struct Worker {
    pool: Pool,
    http: reqwest::Client,
    config: NetConfig,
    node: Arc<str>,
}

impl Worker {
    pub fn new(pool: Pool, config: &NetConfig) -> Result<Worker, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("basalt-net/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(Worker {
            pool,
            http,
            config: config.clone(),
            node: crate::node_id().into(),
        })
    }

    /// This node's id, as written in `net._delivery.lease_owner`.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Deliver until `stop` turns true.
    pub async fn run(self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.max_in_flight.max(1)));
        let mut last_expire: Option<tokio::time::Instant> = None;
        let mut errors = 0u32;
        while !*stop.borrow() {
            let mut sleep = POLL;
            let free = slots.available_permits();
            if free > 0 {
                match queue::claim(&self.pool, free, self.config.lease_grace.0, &self.node).await {
                    Ok(claimed) => {
                        errors = 0;
                        let full = claimed.len() == free;
                        for r in claimed {
                            let Ok(permit) = slots.clone().try_acquire_owned() else {
                                break;
                            };
                            let me = self.clone();
                            let wake = wake.clone();
                            tokio::spawn(async move {
                                me.deliver(r).await;
                                drop(permit);
                                wake.notify_one();
                            });
                        }
                        if full {
                            continue;
                        }
                        if let Ok(Some(d)) = queue::next_due(&self.pool).await {
                            sleep = d.max(Duration::from_millis(10)).min(POLL);
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        if errors == 1 || errors.is_multiple_of(60) {
                            tracing::warn!(error = %e, "net: cannot claim requests");
                        }
                        sleep = Duration::from_secs(1);
                    }
                }
            }
            if last_expire.is_none_or(|t| t.elapsed() >= EXPIRE_EVERY) {
                last_expire = Some(tokio::time::Instant::now());
                if let Err(e) = queue::expire(&self.pool, self.config.ttl.0).await {
                    tracing::debug!(error = %e, "net: expiring responses failed");
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.changed() => {}
            }
        }
        // Let sends in flight finish (each is bounded by its own timeout); the caller bounds
        // the wait, and whatever is cut off is sent again after its lease expires.
        let all = u32::try_from(self.config.max_in_flight.max(1)).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
    }

    /// Send one request and record what happened. A failure to record is retried briefly;
    /// after that the lease expires and the request is sent again (at least once).
    async fn deliver(&self, r: Request) {
        let sent = send::send(&self.http, &r, self.config.max_response_bytes.0).await;
        for attempt in 0..5u32 {
            let done = match &sent {
                Sent::Retryable(o) if (r.attempt as u32) < self.config.max_attempts => {
                    let why = o
                        .error_msg
                        .clone()
                        .or_else(|| o.status_code.map(|s| format!("HTTP {s}")))
                        .unwrap_or_default();
                    queue::retry(&self.pool, r.id, self.backoff(r.attempt), &why, &self.node).await
                }
                Sent::Retryable(o) => {
                    let mut o = o.clone();
                    if let Some(msg) = o.error_msg.as_mut() {
                        msg.push_str(&format!(" (after {} attempts)", r.attempt));
                    }
                    queue::finish(&self.pool, r.id, &o).await
                }
                Sent::Final(o) => queue::finish(&self.pool, r.id, o).await,
            };
            match done {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(id = r.id, error = %e, "net: cannot record outcome");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }

    /// Delay before attempt `attempt + 1`: the configured base doubled per attempt.
    fn backoff(&self, attempt: i32) -> Duration {
        let shift = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(16);
        (self.config.retry_backoff.0 * (1u32 << shift)).min(MAX_BACKOFF)
    }
}
