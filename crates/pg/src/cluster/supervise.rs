//! Supervision of the embedded cluster: a thread watches the server process, and when it exits
//! (killed, crashed, stopped by hand) brings it back with [`Cluster::recover`] — taking over a
//! postmaster someone restarted on the data directory, or starting a new one (crash recovery,
//! same settings) — retrying until it accepts connections. While the server runs it is probed
//! every second, so a server restarting itself after a backend crash is reported too.
//!
//! What the supervisor sees is published as a [`DbHealth`] on a `watch` channel (for `/health`)
//! and logged step by step. Pools need nothing from it: broken connections are discarded when
//! taken (see `wire` and `pool`) and new ones are made once the server is back.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Cluster, Recovered};

/// How often the server process is looked at.
const POLL: Duration = Duration::from_millis(50);
/// How often a running server is asked whether it accepts connections.
const PROBE: Duration = Duration::from_secs(1);
/// After a clean exit (someone stopped the server), how long to wait for whoever stopped it to
/// start it again (`pg_ctl restart`) before starting it ourselves.
const GRACE: Duration = Duration::from_secs(3);

/// The database as the supervisor last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbHealth {
    /// Accepting connections.
    Up,
    /// Not serving; the reason, for people.
    Down(String),
}

/// A supervised cluster. [`Supervisor::stop`] stops the supervision and then the server.
pub struct Supervisor {
    stop: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
    health: watch::Receiver<DbHealth>,
}

impl Supervisor {
    /// Supervise `cluster` (running) from a thread of its own.
    pub fn start(cluster: Cluster) -> Supervisor {
        let (stop, stop_rx) = mpsc::channel();
        let (tx, health) = watch::channel(DbHealth::Up);
        let thread = std::thread::Builder::new()
            .name("pg-supervisor".into())
            .spawn(move || watch_over(cluster, stop_rx, tx))
            .ok();
        if thread.is_none() {
            tracing::error!("could not start the postgres supervisor thread");
        }
        Supervisor {
            stop,
            thread,
            health,
        }
    }

    /// The database's health, updated as it changes.
    pub fn health(&self) -> watch::Receiver<DbHealth> {
        self.health.clone()
    }

    /// Stop supervising, then stop the server (fast shutdown). Blocks until it is down.
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sleep for `d` unless a stop is requested meanwhile (then `true`).
fn stopped(stop: &mpsc::Receiver<()>, d: Duration) -> bool {
    !matches!(stop.recv_timeout(d), Err(mpsc::RecvTimeoutError::Timeout))
}

fn watch_over(mut cluster: Cluster, stop: mpsc::Receiver<()>, health: watch::Sender<DbHealth>) {
    let set = |h: DbHealth| {
        health.send_if_modified(|cur| {
            let changed = *cur != h;
            *cur = h;
            changed
        });
    };
    let mut probed = Instant::now();
    loop {
        if stopped(&stop, POLL) {
            break;
        }
        let Some(why) = cluster.exited() else {
            if probed.elapsed() >= PROBE {
                probed = Instant::now();
                if cluster.ready() {
                    if *health.borrow() != DbHealth::Up {
                        tracing::info!("postgres accepts connections again");
                    }
                    set(DbHealth::Up);
                } else {
                    if *health.borrow() == DbHealth::Up {
                        tracing::warn!("postgres is running but does not accept connections");
                    }
                    set(DbHealth::Down(
                        "postgres is running but does not accept connections (recovering)".into(),
                    ));
                }
            }
            continue;
        };
        let down_at = Instant::now();
        tracing::error!(reason = %why, "postgres is down; restarting it");
        set(DbHealth::Down(format!("{why}; restarting")));
        // A signal or an error code means nobody is going to start it again; a clean exit may
        // be a restart by hand, whose new server is then taken over.
        let grace = if why.clean { GRACE } else { Duration::ZERO };
        let mut attempt = 0u32;
        let mut backoff = Duration::from_millis(100);
        loop {
            attempt += 1;
            match cluster.recover(grace) {
                Ok(how) => {
                    let ms = down_at.elapsed().as_millis();
                    match how {
                        Recovered::Started => tracing::warn!(
                            pid = cluster.pid().unwrap_or(0),
                            ms,
                            attempt,
                            "postgres restarted (crash recovery done) and accepts connections"
                        ),
                        Recovered::Adopted(pid) => tracing::warn!(
                            pid,
                            ms,
                            "postgres was restarted by someone else; took it over"
                        ),
                    }
                    set(DbHealth::Up);
                    probed = Instant::now();
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "postgres restart failed; retrying");
                    set(DbHealth::Down(format!(
                        "{why}; restart attempt {attempt} failed: {e}"
                    )));
                }
            }
            if stopped(&stop, backoff) {
                cluster.stop();
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
    cluster.stop();
}
