//! Delivery across a Postgres restart, on a private cluster (the shared test cluster must not be
//! restarted under other tests): rows are committed continuously while Postgres is stopped and
//! started again; afterwards the subscriber has received every committed row exactly once.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use basalt_pg::cluster::{Cluster, ClusterConfig};
use common::*;
use serde_json::json;

const ROWS: i64 = 400;

fn cluster_config(root: &std::path::Path, port: u16) -> ClusterConfig {
    ClusterConfig {
        data_dir: root.join("data"),
        socket_dir: root.join("sock"),
        port,
        listen_address: "127.0.0.1".into(),
        password: "restart-test".into(),
        settings: vec![("shared_buffers".into(), "32MB".into())],
        run_as_user: None,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Insert rows 0..ROWS one transaction each, reconnecting and retrying through the outage.
/// A retried row that already exists was committed before its reply was lost.
async fn writer(url: String, written: Arc<AtomicI64>, paused: Arc<AtomicBool>) {
    let mut client: Option<tokio_postgres::Client> = None;
    let mut i = 0;
    while i < ROWS {
        if paused.load(Ordering::SeqCst) && i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if client.as_ref().map(|c| c.is_closed()).unwrap_or(true) {
            client = basalt_pg::pool::connect(&url).await.ok();
            if client.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        let Some(c) = client.as_ref() else { continue };
        match c
            .execute(
                "INSERT INTO public.events (id, body) VALUES ($1, $2)",
                &[&i, &format!("row {i}")],
            )
            .await
        {
            Ok(_) => {
                i += 1;
                written.store(i, Ordering::SeqCst);
            }
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                i += 1;
                written.store(i, Ordering::SeqCst);
            }
            Err(_) => {
                client = None;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

/// How Postgres goes down.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// `pg_ctl stop -m fast`-like: SIGINT, shutdown checkpoint.
    Fast,
    /// The postmaster is killed (SIGKILL): crash recovery on start, the slot's confirmed position
    /// may go back, and already delivered transactions are streamed again.
    Crash,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_arrives_exactly_once_across_a_postgres_restart() {
    restart(Stop::Fast).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_arrives_exactly_once_across_a_postgres_crash() {
    restart(Stop::Crash).await;
}

/// Start the cluster, retrying while a crashed server's processes are still going away.
fn start_cluster(cfg: ClusterConfig) -> Cluster {
    let mut last = None;
    for _ in 0..50 {
        match Cluster::start(cfg.clone()) {
            Ok(c) => return c,
            Err(e) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    panic!("start private cluster: {last:?}");
}

/// Removes the private cluster's directory, also when the test fails.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn restart(stop: Stop) {
    let root =
        std::env::temp_dir().join(format!("basalt-rt-restart-{}-{stop:?}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let _cleanup = TempDir(root.clone());
    std::fs::create_dir_all(&root).unwrap();
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = cluster_config(&root, free_port());
    let c2 = cfg.clone();
    let mut cluster = tokio::task::spawn_blocking(move || start_cluster(c2))
        .await
        .unwrap();
    let url = cluster.socket_url("postgres");
    {
        let mut c = basalt_pg::pool::connect(&url).await.unwrap();
        basalt_pg::platform::apply(&mut c).await.unwrap();
        c.batch_execute(
            "CREATE TABLE public.events (id bigint PRIMARY KEY, body text);
             ALTER TABLE public.events ENABLE ROW LEVEL SECURITY;
             CREATE POLICY see_all ON public.events FOR SELECT TO authenticated USING (true);
             GRANT ALL ON public.events TO authenticated;
             ALTER PUBLICATION supabase_realtime ADD TABLE public.events;",
        )
        .await
        .unwrap();
    }
    let rt = Served::start(&url).await;
    let mut sub = Client::connect(&rt.ws_url(&anon())).await;
    sub.join(
        "events",
        json!({"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "events"}]}),
        Some(&user("00000000-0000-0000-0000-000000000001")),
    )
    .await;
    assert!(sub
        .wait_for(Duration::from_secs(5), |f| f.event() == Some("system"))
        .await
        .is_some());

    let written = Arc::new(AtomicI64::new(0));
    let paused = Arc::new(AtomicBool::new(false));
    let w = tokio::spawn(writer(url.clone(), written.clone(), paused.clone()));

    // Restart Postgres while rows flow.
    while written.load(Ordering::SeqCst) < ROWS / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before_stop = written.load(Ordering::SeqCst);
    let cfg2 = cfg.clone();
    let data_dir = cfg.data_dir.clone();
    cluster = tokio::task::spawn_blocking(move || {
        if let Stop::Crash = stop {
            let pid: i32 = std::fs::read_to_string(data_dir.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
                .expect("postmaster pid");
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .expect("kill postmaster");
        }
        // Reaps the killed postmaster, or shuts a live one down fast.
        cluster.stop();
        drop(cluster);
        start_cluster(cfg2)
    })
    .await
    .unwrap();
    let after_start = written.load(Ordering::SeqCst);
    w.await.unwrap();

    // Every committed row arrives, each exactly once.
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while (counts.len() as i64) < ROWS && tokio::time::Instant::now() < deadline {
        for f in sub
            .collect("postgres_changes", Duration::from_millis(500))
            .await
        {
            let id: i64 = f.payload()["data"]["record"]["id"].as_i64().unwrap();
            *counts.entry(id).or_default() += 1;
        }
    }
    // and nothing more arrives afterwards
    for f in sub
        .collect("postgres_changes", Duration::from_secs(2))
        .await
    {
        let id: i64 = f.payload()["data"]["record"]["id"].as_i64().unwrap();
        *counts.entry(id).or_default() += 1;
    }
    let committed: Vec<i64> = basalt_pg::pool::connect(&url)
        .await
        .unwrap()
        .query("SELECT id FROM public.events ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(committed.len() as i64, ROWS);
    let missing: Vec<i64> = committed
        .iter()
        .filter(|i| !counts.contains_key(i))
        .copied()
        .collect();
    let dup: Vec<(i64, usize)> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(i, n)| (*i, *n))
        .collect();
    assert!(missing.is_empty(), "missing after restart: {missing:?}");
    assert!(dup.is_empty(), "delivered more than once: {dup:?}");
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), committed);
    let redelivered = rt
        .node
        .as_ref()
        .map(|n| n.state.skipped_commits())
        .unwrap_or(0);
    eprintln!(
        "{stop:?} restart at row {before_stop}..{after_start}: {} rows committed, each delivered \
         once; {redelivered} already delivered transactions were streamed again and skipped",
        committed.len()
    );
    rt.stop().await;
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
