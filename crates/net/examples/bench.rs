//! HTTP-from-SQL benchmark (run by bench/net/run): throughput of queued requests delivered to a
//! local receiver, and commit-to-delivery latency, against a fresh test database.
//!
//!     cargo run --release -p basalt-net --example bench -- [--smoke]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::post;

type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

async fn hit(State(a): State<Arrivals>, Path(i): Path<u64>) -> &'static str {
    a.lock().map(|mut m| m.insert(i, Instant::now())).ok();
    "ok"
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (bulk, singles) = if smoke {
        (2_000u64, 100u64)
    } else {
        (50_000, 1_000)
    };
    let arrivals: Arrivals = Arc::default();
    let app = axum::Router::new()
        .route("/hit/{i}", post(hit))
        .with_state(arrivals.clone());
    let srv = basalt_testkit::serve(app).await;
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let config = basalt_net::NetConfig::default();
    let bg = basalt_net::Background::spawn(&db.url, &config).expect("worker");

    // Throughput: `bulk` requests committed in one transaction, then drained.
    let t0 = Instant::now();
    c.execute(
        "SELECT net.http_post($1 || '/hit/' || i, jsonb_build_object('i', i))
           FROM generate_series(1, $2::int8) i",
        &[&srv.url, &(bulk as i64)],
    )
    .await
    .expect("queue");
    let committed = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n: i64 = c
            .query_one("SELECT count(*) FROM net._http_response", &[])
            .await
            .expect("count")
            .get(0);
        if n as u64 >= bulk || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = t0.elapsed() - committed;
    let received = arrivals.lock().map(|m| m.len()).unwrap_or(0);

    // Latency: one request per transaction, paced, commit acknowledged -> arrival.
    let mut commits = HashMap::new();
    for i in 0..singles {
        let id = 1_000_000 + i;
        c.execute(
            "SELECT net.http_post($1)",
            &[&format!("{}/hit/{id}", srv.url)],
        )
        .await
        .expect("queue one");
        commits.insert(id, Instant::now());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lat: Vec<f64> = {
        let m = arrivals.lock().expect("arrivals");
        commits
            .iter()
            .filter_map(|(id, t)| {
                m.get(id)
                    .map(|a| a.saturating_duration_since(*t).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    lat.sort_by(|a, b| a.total_cmp(b));
    bg.stop(Duration::from_secs(5)).await;
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bulk": bulk,
            "queue_seconds": committed.as_secs_f64(),
            "drain_seconds": drained.as_secs_f64(),
            "delivered_per_second": bulk as f64 / drained.as_secs_f64(),
            "received": received,
            "singles": singles,
            "latency_samples": lat.len(),
            "latency_p50_ms": pct(&lat, 0.5),
            "latency_p99_ms": pct(&lat, 0.99),
            "max_in_flight": config.max_in_flight,
        })
    );
}
