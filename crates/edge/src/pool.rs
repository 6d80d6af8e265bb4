//! The bounded pool of workers: one slot per function that has been called, holding its
//! current worker (started on first call, reused while its files are unchanged, replaced after
//! a crash or an edit), a semaphore bounding its concurrent calls, and a sweeper that retires
//! idle workers. At most `max_workers` workers live; starting one more retires the least
//! recently used idle one.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::layout::FunctionSpec;
use crate::settings::{Limits, Settings};
use crate::worker::{BootFailure, Launch, Worker};

/// One function's place in the pool.
pub(crate) struct Slot {
    /// Bounds the function's concurrent calls (`max_concurrent`).
    pub permits: Arc<Semaphore>,
    /// The current worker; the async lock makes concurrent first calls share one boot.
    current: tokio::sync::Mutex<Option<Arc<Worker>>>,
    /// The function's files as last resolved, with their fingerprint and when it was taken.
    pub resolved: Mutex<Option<Resolved>>,
}

/// A function's files, their fingerprint, and when the fingerprint was last taken.
#[derive(Clone)]
pub(crate) struct Resolved {
    pub spec: FunctionSpec,
    pub fingerprint: u64,
    pub checked: Instant,
}

pub(crate) struct Pool {
    limits: Limits,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Pool {
    pub(crate) fn new(limits: Limits) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            limits,
            slots: Mutex::new(HashMap::new()),
        });
        let period = (pool.limits.idle_timeout / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(10));
        tokio::spawn(sweep(Arc::downgrade(&pool), period));
        pool
    }

    /// The slot of function `name`, created on first use.
    pub(crate) fn slot(&self, name: &str) -> Arc<Slot> {
        self.slots
            .lock()
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    permits: Arc::new(Semaphore::new(self.limits.max_concurrent)),
                    current: tokio::sync::Mutex::new(None),
                    resolved: Mutex::new(None),
                })
            })
            .clone()
    }

    /// The slot of function `name` if it was called before.
    pub(crate) fn existing_slot(&self, name: &str) -> Option<Arc<Slot>> {
        self.slots.lock().get(name).cloned()
    }

    /// The function's live worker for these files, started when there is none (first call,
    /// after a crash, after its files changed).
    pub(crate) async fn worker(
        &self,
        slot: &Slot,
        launch: &Launch,
        settings: &Settings,
        spec: &FunctionSpec,
        fingerprint: u64,
    ) -> Result<Arc<Worker>, BootFailure> {
        let mut current = slot.current.lock().await;
        if let Some(w) = current.as_ref() {
            if w.alive() && w.fingerprint == fingerprint {
                return Ok(w.clone());
            }
            if w.alive() {
                tracing::info!(function = %spec.name, "files changed: starting a new worker");
            }
        }
        // The old worker (if any) retires once its last call ends.
        *current = None;
        let started = Instant::now();
        // The environment (secrets, `.env`) is read at boot only.
        let launch = Launch {
            env: settings.function_env(),
            ..launch.clone()
        };
        let w = Worker::start(&launch, spec, fingerprint).await?;
        tracing::info!(function = %spec.name, pid = w.pid, ms = started.elapsed().as_millis() as u64, "worker started");
        *current = Some(w.clone());
        drop(current);
        self.make_room(&spec.name);
        Ok(w)
    }

    /// Retire least recently used idle workers until at most `max_workers` live.
    fn make_room(&self, keep: &str) {
        let slots = self.snapshot();
        let mut live: Vec<(Instant, String, Arc<Slot>)> = Vec::new();
        let mut count = 0;
        for (name, slot) in slots {
            let Ok(cur) = slot.current.try_lock() else {
                count += 1; // starting or being replaced: counts, cannot be retired now
                continue;
            };
            if let Some(w) = cur.as_ref().filter(|w| w.alive()) {
                count += 1;
                if name != keep && w.inflight() == 0 {
                    live.push((w.last_used(), name, slot.clone()));
                }
            }
        }
        live.sort_by_key(|(t, _, _)| *t);
        for (_, name, slot) in live {
            if count <= self.limits.max_workers {
                break;
            }
            if let Ok(mut cur) = slot.current.try_lock() {
                if cur.as_ref().is_some_and(|w| w.inflight() == 0) {
                    *cur = None;
                    count -= 1;
                    tracing::info!(function = %name, "worker retired (pool full, least recently used)");
                }
            }
        }
    }

    /// The slots, copied out so no lock is held while each is looked at.
    fn snapshot(&self) -> Vec<(String, Arc<Slot>)> {
        self.slots
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Live workers, by function name (for tests and status).
    pub(crate) fn live(&self) -> Vec<(String, u32)> {
        let slots = self.snapshot();
        let mut out: Vec<(String, u32)> = slots
            .into_iter()
            .filter_map(|(name, slot)| {
                let cur = slot.current.try_lock().ok()?;
                cur.as_ref().filter(|w| w.alive()).map(|w| (name, w.pid))
            })
            .collect();
        out.sort();
        out
    }

    /// Retire every worker whose last call ended more than `idle_timeout` ago.
    fn retire_idle(&self) {
        let slots = self.snapshot();
        for (name, slot) in slots {
            let Ok(mut cur) = slot.current.try_lock() else {
                continue;
            };
            let idle = cur.as_ref().is_some_and(|w| {
                w.inflight() == 0 && w.last_used().elapsed() >= self.limits.idle_timeout
            });
            let dead = cur.as_ref().is_some_and(|w| !w.alive());
            if idle || dead {
                *cur = None;
                if idle {
                    tracing::info!(function = %name, "worker retired (idle)");
                }
            }
        }
    }
}

async fn sweep(pool: Weak<Pool>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        match pool.upgrade() {
            Some(p) => p.retire_idle(),
            None => return,
        }
    }
}
