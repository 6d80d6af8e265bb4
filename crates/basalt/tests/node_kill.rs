//! Three `basalt start --db-url` nodes on one database under a steady REST load spread across
//! them: one node is killed with SIGKILL mid-load. Requests sent to the surviving nodes never fail,
//! during the kill or after it, and a client that retries a failed request on another node always
//! succeeds; every write acknowledged by any node is in the database.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, keys, Basalt};
use serde_json::json;

const NODES_SECRET: &str = "node-kill-test-secret-with-at-least-32-characters";

#[derive(Default)]
struct Counts {
    /// Requests answered 2xx, per node.
    ok: [AtomicU64; 3],
    /// Requests that failed (connection error or non-2xx), per node.
    failed: [AtomicU64; 3],
    /// Failed requests retried on another node, and how many of those retries succeeded.
    retried: AtomicU64,
    retried_ok: AtomicU64,
    /// Inserts acknowledged (by the first node tried or the retry).
    inserted: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_node_mid_load_fails_no_request_to_the_others() {
    let db = basalt_testkit::fresh_db().await;
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| {
            common::project(&[(
                "20240101000000_hits.sql",
                "create table public.hits (id bigserial primary key, worker int not null);
                 grant all on public.hits to anon, authenticated, service_role;
                 grant usage on sequence public.hits_id_seq to anon, authenticated, service_role;",
            )])
        })
        .collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes: Vec<Option<Basalt>> = dirs
        .iter()
        .zip(&ports)
        .map(|(d, p)| {
            Some(common::start(
                d.path(),
                *p,
                &db.url,
                &[("BASALT_JWT_SECRET", NODES_SECRET)],
            ))
        })
        .collect();
    let (_, service) = keys(dirs[0].path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));

    // Six clients, each sending to the nodes in turn: a GET, then an INSERT.
    let mut workers = Vec::new();
    for w in 0..6usize {
        let (http, service, counts, stop, ports) = (
            http.clone(),
            service.clone(),
            counts.clone(),
            stop.clone(),
            ports.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let node = i % 3;
                i += 1;
                let write = i % 2 == 0;
                let send = |n: usize| {
                    let url = format!("http://127.0.0.1:{}/rest/v1/hits", ports[n]);
                    let req = if write {
                        http.post(url).json(&json!({ "worker": w }))
                    } else {
                        http.get(format!("{url}?select=id&limit=1"))
                    };
                    req.header("apikey", &service)
                        .header("Authorization", format!("Bearer {service}"))
                        .send()
                };
                match send(node).await {
                    Ok(r) if r.status().is_success() => {
                        counts.ok[node].fetch_add(1, Ordering::Relaxed);
                        if write {
                            counts.inserted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    other => {
                        counts.failed[node].fetch_add(1, Ordering::Relaxed);
                        if node != 0 {
                            // Only requests to the killed node may fail.
                            let what = match other {
                                Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap()),
                                Err(e) => e.to_string(),
                            };
                            panic!("a request to surviving node {node} failed: {what}");
                        }
                        // Retry on another node: it must succeed.
                        counts.retried.fetch_add(1, Ordering::Relaxed);
                        let r = send(1 + w % 2).await.unwrap();
                        assert!(r.status().is_success(), "retry: {}", r.status());
                        counts.retried_ok.fetch_add(1, Ordering::Relaxed);
                        if write {
                            counts.inserted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }

    // Load for 2 s, SIGKILL node 0, load for 3 s more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<u64> = counts
        .ok
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let mut victim = nodes[0].take().unwrap();
    let pid = victim.child.id();
    let t = Instant::now();
    // SIGKILL: no graceful shutdown, connections to Postgres and clients cut mid-request.
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    let kill_took = t.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let ok: Vec<u64> = counts
        .ok
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let failed: Vec<u64> = counts
        .failed
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let (retried, retried_ok) = (
        counts.retried.load(Ordering::Relaxed),
        counts.retried_ok.load(Ordering::Relaxed),
    );
    eprintln!(
        "SIGKILLed node 0 (pid {pid}, reaped in {kill_took:?}); ok before the kill {before:?}, ok in all {ok:?}, \
         failed {failed:?}, retried {retried} (ok {retried_ok})"
    );
    assert!(
        before.iter().all(|n| *n > 20),
        "load reached every node: {before:?}"
    );
    // The surviving nodes served requests after the kill, and none failed.
    assert!(
        ok[1] > before[1] + 20 && ok[2] > before[2] + 20,
        "{before:?} {ok:?}"
    );
    assert_eq!(failed[1] + failed[2], 0);
    // Requests to the dead node failed, and each was retried on another node with success.
    assert!(failed[0] > 0, "requests to the killed node fail");
    assert_eq!(retried, failed[0]);
    assert_eq!(retried_ok, retried);

    // Every acknowledged insert is in the database (a request cut by the kill may have committed
    // without its answer arriving, so there may be more rows, never fewer).
    let rows: i64 = db
        .client()
        .await
        .query_one("select count(*) from public.hits", &[])
        .await
        .unwrap()
        .get(0);
    let inserted = counts.inserted.load(Ordering::Relaxed) as i64;
    assert!(rows >= inserted, "rows {rows} < acknowledged {inserted}");
    assert!(rows <= inserted + 6, "rows {rows}, acknowledged {inserted}");

    // The killed node's sessions are gone from the server, the survivors still answer.
    drop(victim);
    for p in &ports[1..] {
        let r = http
            .get(format!("http://127.0.0.1:{p}/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    drop(nodes);
}
