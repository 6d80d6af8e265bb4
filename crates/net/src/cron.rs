//! The seconds scheduler: runs the `cron.job` rows whose schedule is `'N seconds'` (pg_cron
//! 1.4 skips them), each at every multiple of N seconds of the database clock, on whichever
//! node first inserts `(jobid, due)` into `net._cron_tick`; records each run in
//! `cron.job_run_details`. A run that is missed while no node is up is not made up later (as
//! with cron). A job whose previous run is still going on this node skips the tick.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{watch, Notify};

use crate::Error;

/// Longest sleep between looks at `cron.job` (changes also wake the scheduler by NOTIFY).
const POLL: Duration = Duration::from_secs(5);
/// Without pg_cron (no `cron.job`), look again this rarely.
const ABSENT_POLL: Duration = Duration::from_secs(30);

/// One seconds job.
#[derive(Debug, Clone)]
struct Job {
    id: i64,
    every: i64,
    command: String,
    username: String,
}

/// Runs seconds jobs for one node.
pub struct Scheduler {
    url: String,
    pool: Pool,
    node: String,
    running: Arc<Mutex<HashSet<i64>>>,
}

impl Scheduler {
    pub fn new(db_url: &str) -> Result<Scheduler, Error> {
        Ok(Scheduler {
            url: db_url.to_string(),
            pool: basalt_pg::pool::build(db_url, 2)?,
            node: crate::node_id(),
            running: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// Schedule until `stop` turns true.
    pub async fn run(self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let mut last_tick: HashMap<i64, i64> = HashMap::new();
        let mut last_cleanup: Option<tokio::time::Instant> = None;
        while !*stop.borrow() {
            let sleep = match self.tick(&mut last_tick).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::debug!(error = %e, "cron: scheduler step failed");
                    ABSENT_POLL
                }
            };
            if last_cleanup.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                last_cleanup = Some(tokio::time::Instant::now());
                if let Ok(c) = self.pool.get().await {
                    let _ = c
                        .execute(
                            "DELETE FROM net._cron_tick WHERE due < now() - interval '1 hour'",
                            &[],
                        )
                        .await;
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Start every due run this node wins; returns how long to sleep until the next one.
    async fn tick(&self, last_tick: &mut HashMap<i64, i64>) -> Result<Duration, Error> {
        let client = self.pool.get().await?;
        let exists: bool = client
            .query_one("SELECT to_regclass('cron.job') IS NOT NULL", &[])
            .await?
            .get(0);
        if !exists {
            return Ok(ABSENT_POLL);
        }
        let rows = client
            .query(
                "SELECT jobid, net._cron_seconds(schedule)::int8, command, username,
                        (extract(epoch FROM clock_timestamp()) * 1000)::int8
                   FROM cron.job
                  WHERE active AND database = current_database()
                    AND net._cron_seconds(schedule) IS NOT NULL",
                &[],
            )
            .await?;
        let mut next = POLL;
        let mut seen = HashSet::new();
        for row in rows {
            let job = Job {
                id: row.get(0),
                every: row.get::<_, i64>(1).max(1),
                command: row.get(2),
                username: row.get(3),
            };
            seen.insert(job.id);
            let now_ms: i64 = row.get(4);
            let period_ms = job.every * 1000;
            let due_ms = now_ms - now_ms.rem_euclid(period_ms);
            let until_next =
                Duration::from_millis(u64::try_from(due_ms + period_ms - now_ms).unwrap_or(0));
            next = next.min(until_next.max(Duration::from_millis(20)));
            if last_tick.get(&job.id) == Some(&due_ms) {
                continue;
            }
            last_tick.insert(job.id, due_ms);
            if self
                .running
                .lock()
                .map(|r| r.contains(&job.id))
                .unwrap_or(true)
            {
                continue;
            }
            let won = client
                .query_opt(
                    "INSERT INTO net._cron_tick (jobid, due, node)
                     VALUES ($1, to_timestamp($2::float8 / 1000), $3)
                     ON CONFLICT DO NOTHING RETURNING 1",
                    &[&job.id, &(due_ms as f64), &self.node],
                )
                .await?
                .is_some();
            if won {
                if let Ok(mut r) = self.running.lock() {
                    r.insert(job.id);
                }
                let url = self.url.clone();
                let pool = self.pool.clone();
                let running = self.running.clone();
                tokio::spawn(async move {
                    if let Err(e) = run_job(&url, &pool, &job).await {
                        tracing::warn!(job = job.id, error = %e, "cron: could not record a run");
                    }
                    if let Ok(mut r) = running.lock() {
                        r.remove(&job.id);
                    }
                });
            }
        }
        last_tick.retain(|id, _| seen.contains(id));
        Ok(next)
    }
}

/// Run one job as its user on a connection of its own and record it as pg_cron does.
async fn run_job(url: &str, pool: &Pool, job: &Job) -> Result<(), Error> {
    let log = pool.get().await?;
    let runid: i64 = log
        .query_one(
            "INSERT INTO cron.job_run_details (jobid, database, username, command, status, start_time)
             VALUES ($1, current_database(), $2, $3, 'starting', now()) RETURNING runid",
            &[&job.id, &job.username, &job.command],
        )
        .await?
        .get(0);
    let result = async {
        let conn = basalt_pg::pool::connect(url).await?;
        let pid: i32 = conn.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        log.execute(
            "UPDATE cron.job_run_details SET status = 'running', job_pid = $2 WHERE runid = $1",
            &[&runid, &pid],
        )
        .await?;
        conn.batch_execute(&format!(
            "SET SESSION AUTHORIZATION {}",
            basalt_pg::quote_ident(&job.username)
        ))
        .await?;
        let messages = conn.simple_query(&job.command).await?;
        let rows = messages.iter().rev().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        });
        Ok::<String, tokio_postgres::Error>(match rows {
            Some(1) => "1 row".to_string(),
            Some(n) => format!("{n} rows"),
            None => "done".to_string(),
        })
    }
    .await;
    let (status, message) = match result {
        Ok(m) => ("succeeded", m),
        Err(e) => (
            "failed",
            e.as_db_error()
                .map(|d| format!("ERROR:  {}", d.message()))
                .unwrap_or_else(|| e.to_string()),
        ),
    };
    log.execute(
        "UPDATE cron.job_run_details SET status = $2, return_message = $3, end_time = now()
          WHERE runid = $1",
        &[&runid, &status, &message],
    )
    .await?;
    Ok(())
}
