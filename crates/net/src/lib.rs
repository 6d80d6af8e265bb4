//! basalt-net: the work basalt does for SQL in the background — sending the HTTP requests SQL
//! queues (pg_net's interface, database webhooks), running pg_cron jobs on second-granularity
//! schedules, and keeping Vault's key file.
//!
//! # HTTP from SQL
//!
//! `net.http_get/http_post/http_delete` (platform SQL `crates/pg/sql/080_net.sql`) insert a row
//! into `net.http_request_queue` and return its id; a statement trigger NOTIFYs `basalt_net`,
//! which Postgres delivers only at commit (a rolled-back call leaves no row and no wake-up).
//! [`wake`] holds a LISTEN connection and wakes the [`worker`]; a slow fallback poll covers lost
//! connections and due retries. The worker claims due rows ([`queue::claim`]): claims are
//! serialised across nodes by a transaction-scoped advisory lock, and each claimed row gets a
//! lease (`net._delivery`: owner, expiry = the request's timeout + grace), so several basalt
//! nodes on one database never send a request twice while its lease lives. [`send`] performs
//! the call with the request's timeout, at most `max_in_flight` at once. The outcome is either
//! final — the queued row is deleted and the response (or `timed_out`, or the error) inserted
//! into `net._http_response` in one transaction — or, for a connection error or a 5xx with
//! attempts left, a retry due after an exponential backoff. A node killed mid-flight leaves
//! leases that expire and are claimed again: every committed request is sent at least once,
//! and, both tables being logged, nothing is lost across a Postgres restart. Responses older
//! than the TTL (`pg_net.ttl`, else `[basalt.net] ttl`) are deleted once a minute.
//!
//! # Cron
//!
//! The real pg_cron extension (preloaded by the embedded cluster) keeps `cron.job`,
//! `cron.job_run_details` and runs every standard schedule in its own background worker.
//! pg_cron 1.4 cannot parse `'10 seconds'`, so the platform SQL (`082_cron.sql`) wraps
//! `cron.schedule`, `schedule_in_database` and `alter_job`: seconds schedules go into `cron.job`
//! unparsed by pg_cron (which logs and skips them), everything else to pg_cron itself. The
//! [`cron`] scheduler runs those seconds jobs: every `N seconds` job is due at each multiple of
//! N seconds of the database clock; a node runs a due run only after inserting `(jobid, due)`
//! into `net._cron_tick` first (a primary key), so across any number of nodes one runs it.
//! Runs are recorded in `cron.job_run_details` as pg_cron does (running → succeeded/failed).
//! No cron-expression parser is needed on basalt's side: pg_cron keeps every expression it
//! understands.
//!
//! # Vault
//!
//! [`vault`] writes the 32-byte master key file (mode 0600, owned by the server's system user)
//! and records its path in `vault._key_file`; the SQL in `083_vault.sql` reads it per call
//! through a superuser-only function. The key never enters a table, a dump or a backup.

pub mod cron;
mod error;
pub mod queue;
pub mod send;
pub mod vault;
pub mod wake;
pub mod worker;

use std::time::Duration;

pub use basalt_config::NetConfig;
pub use error::Error;

/// Channel the queue trigger notifies.
pub const NET_CHANNEL: &str = "basalt_net";
/// Channel notified when `cron.job` changes.
pub const CRON_CHANNEL: &str = "basalt_cron";

/// The background tasks of one basalt node; [`Background::stop`] ends them.
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// The request worker (with its LISTEN connection) and the seconds scheduler against
    /// `db_url` (a superuser URL).
    pub fn spawn(db_url: &str, config: &NetConfig) -> Result<Background, Error> {
        let mut bg = Background::empty();
        bg.add_net(db_url, config)?;
        bg.add_cron(db_url)?;
        Ok(bg)
    }

    /// No tasks yet.
    pub fn empty() -> Background {
        Background {
            stop: tokio::sync::watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    /// Add the request worker.
    pub fn add_net(&mut self, db_url: &str, config: &NetConfig) -> Result<(), Error> {
        let worker = worker::Worker::new(basalt_pg::pool::build(db_url, 4)?, config)?;
        let (wake, stop) = self.listener(db_url, NET_CHANNEL);
        self.tasks.push(tokio::spawn(worker.run(wake, stop)));
        Ok(())
    }

    /// Add the seconds scheduler.
    pub fn add_cron(&mut self, db_url: &str) -> Result<(), Error> {
        let scheduler = cron::Scheduler::new(db_url)?;
        let (wake, stop) = self.listener(db_url, CRON_CHANNEL);
        self.tasks.push(tokio::spawn(scheduler.run(wake, stop)));
        Ok(())
    }

    /// A LISTEN task on `channel`: the wake-up it feeds and a stop signal for its consumer.
    fn listener(
        &mut self,
        db_url: &str,
        channel: &'static str,
    ) -> (
        std::sync::Arc<tokio::sync::Notify>,
        tokio::sync::watch::Receiver<bool>,
    ) {
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        self.tasks.push(tokio::spawn(wake::listen(
            db_url.to_string(),
            channel,
            wake.clone(),
            self.stop.subscribe(),
        )));
        (wake, self.stop.subscribe())
    }

    /// Stop every task. Requests in flight get up to `grace` to finish; the rest keep their
    /// leases and are sent again by whichever node claims them after expiry.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let all = futures::future::join_all(self.tasks);
        let _ = tokio::time::timeout(grace, all).await;
    }
}

/// An id for this process among the nodes sharing a database (host, pid and a random part).
pub fn node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{host}/{}/{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}
