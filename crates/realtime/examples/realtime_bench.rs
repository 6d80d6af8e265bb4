//! Realtime benchmark: N WebSocket subscribers in K security contexts receive `postgres_changes`
//! for M inserted rows per second through RLS; reports deliveries per second and the latency
//! from commit (the `commit_timestamp` of each change) to the client, p50/p99.
//!
//! Runs a private Postgres cluster and one realtime node in this process, and the subscribers
//! in this process too (they share the machine's cores with the server).
//!
//! Usage: `bench [N:K:M ...] [--seconds S]` (default: a fixed set of scenarios).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use basalt_pg::cluster::{Cluster, ClusterConfig};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Ws;

const SECRET: &str = "realtime-benchmark-secret-at-least-32-chars";

#[derive(Clone, Copy)]
struct Scenario {
    subscribers: usize,
    contexts: usize,
    rate: usize,
}

struct Outcome {
    s: Scenario,
    rows: u64,
    expected: u64,
    delivered: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn token(i: usize) -> String {
    let exp = basalt_realtime::token::now() + 3600;
    let sub = format!("00000000-0000-0000-0000-{:012}", i);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"role": "authenticated", "sub": sub, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

/// Microseconds since the Unix epoch of a `commit_timestamp` inside a frame.
fn commit_micros(frame: &str) -> Option<i64> {
    let at = frame.find("\"commit_timestamp\":\"")? + 20;
    let end = at + frame[at..].find('"')?;
    let t = chrono::DateTime::parse_from_rfc3339(&frame[at..end]).ok()?;
    Some(t.timestamp_micros())
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

async fn run(url: &str, s: Scenario, seconds: u64) -> Outcome {
    let admin = basalt_pg::pool::connect(url).await.expect("connect");
    admin
        .batch_execute("TRUNCATE public.bench")
        .await
        .expect("truncate");
    let config = basalt_realtime::Config {
        db_url: url.to_owned(),
        jwt_secret: SECRET.into(),
        pool_size: 8,
        // The bench measures throughput, not the project's rate limits.
        max_concurrent_users: usize::MAX,
        max_events_per_second: u64::MAX,
        max_joins_per_second: u64::MAX,
        ..basalt_realtime::Config::default()
    };
    let (router, node) = basalt_realtime::start(config).await.expect("start node");
    let server = basalt_testkit::serve(router).await;
    let anon = {
        let exp = basalt_realtime::token::now() + 3600;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({"role": "anon", "exp": exp}),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("sign")
    };
    let ws_url = format!("ws://{}/websocket?apikey={anon}&vsn=2.0.0", server.addr);

    let delivered = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(parking_lot::Mutex::new(Vec::<u32>::new()));
    let last = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut readers = Vec::new();
    let mut ready = Vec::new();
    for chunk in (0..s.subscribers).collect::<Vec<_>>().chunks(50) {
        let mut joins = Vec::new();
        for &i in chunk {
            let ws_url = ws_url.clone();
            let tok = token(i % s.contexts);
            joins.push(tokio::spawn(async move {
                let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                    .read_buffer_size(16 * 1024);
                let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&ws_url, Some(cfg), false)
                    .await
                    .expect("ws");
                let join = json!(["1", "1", format!("realtime:bench-{i}"), "phx_join", {
                    "config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "bench"}]},
                    "access_token": tok}]);
                ws.send(Ws::Text(join.to_string().into())).await.expect("join");
                loop {
                    match ws.next().await {
                        Some(Ok(Ws::Text(t))) if t.as_str().contains("Subscribed to PostgreSQL") => break,
                        Some(Ok(_)) => {}
                        _ => panic!("subscriber {i} closed before subscribing"),
                    }
                }
                ws
            }));
        }
        for j in joins {
            ready.push(j.await.expect("subscriber"));
        }
    }
    for mut ws in ready {
        let delivered = delivered.clone();
        let latencies = latencies.clone();
        let last = last.clone();
        readers.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while let Some(Ok(m)) = ws.next().await {
                if let Ws::Text(t) = m {
                    let t = t.as_str();
                    if t.contains("\"postgres_changes\"") {
                        if let Some(c) = commit_micros(t) {
                            local.push(((now_micros() - c).max(0) / 10) as u32);
                        }
                        delivered.fetch_add(1, Ordering::Relaxed);
                        last.store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
                        if local.len() >= 256 {
                            latencies.lock().append(&mut local);
                        }
                    }
                }
            }
            latencies.lock().append(&mut local);
        }));
    }

    // Writer: up to 100 multi-row inserts per second, M rows per second in all.
    let tps = s.rate.clamp(1, 100);
    let per_tick = (s.rate / tps).max(1) as i64;
    let ticks = seconds * tps as u64;
    let writer = basalt_pg::pool::connect(url).await.expect("writer");
    writer
        .batch_execute("SET synchronous_commit = off")
        .await
        .expect("set");
    let owner = "00000000-0000-0000-0000-000000000000";
    let t0 = Instant::now();
    let write_start = start.elapsed().as_micros() as u64;
    let mut rows = 0u64;
    let mut interval = tokio::time::interval(Duration::from_micros(1_000_000 / tps as u64));
    for _ in 0..ticks {
        interval.tick().await;
        writer
            .execute(
                "INSERT INTO public.bench (owner, body) SELECT $1::text::uuid, 'payload ' || g FROM generate_series(1, $2::int8) g",
                &[&owner, &per_tick],
            )
            .await
            .expect("insert");
        rows += per_tick as u64;
    }
    let expected = rows * s.subscribers as u64;
    let deadline = t0 + Duration::from_secs(seconds + 60);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for r in &readers {
        r.abort();
    }
    for r in readers {
        let _ = r.await;
    }
    let total = delivered.load(Ordering::Relaxed);
    let window = (last.load(Ordering::Relaxed).saturating_sub(write_start)) as f64 / 1e6;
    let mut lat = std::mem::take(&mut *latencies.lock());
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 100.0
        }
    };
    drop(server);
    node.shutdown().await.expect("shutdown");
    Outcome {
        s,
        rows,
        expected,
        delivered: total,
        seconds: window,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 10u64;
    if let Some(i) = args.iter().position(|a| a == "--seconds") {
        seconds = args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(seconds);
        args.drain(i..(i + 2).min(args.len()));
    }
    let mut scenarios: Vec<Scenario> = args
        .iter()
        .filter_map(|a| {
            let p: Vec<usize> = a.split(':').filter_map(|x| x.parse().ok()).collect();
            (p.len() == 3 && p[1] > 0).then(|| Scenario {
                subscribers: p[0],
                contexts: p[1],
                rate: p[2],
            })
        })
        .collect();
    if scenarios.is_empty() {
        scenarios = vec![
            Scenario {
                subscribers: 100,
                contexts: 1,
                rate: 200,
            },
            Scenario {
                subscribers: 500,
                contexts: 10,
                rate: 100,
            },
            Scenario {
                subscribers: 1000,
                contexts: 100,
                rate: 50,
            },
            Scenario {
                subscribers: 1000,
                contexts: 1000,
                rate: 50,
            },
        ];
    }
    let root = std::env::temp_dir().join(format!("basalt-rt-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("tmp dir");
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut cluster = Cluster::start(ClusterConfig {
        data_dir: root.join("data"),
        socket_dir: root.join("sock"),
        port,
        listen_address: "127.0.0.1".into(),
        password: "bench".into(),
        settings: vec![
            ("wal_writer_delay".into(), "10ms".into()),
            ("shared_buffers".into(), "256MB".into()),
        ],
        run_as_user: None,
    })
    .expect("start postgres");
    let url = cluster.socket_url("postgres");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let outcomes = rt.block_on(async {
        let mut c = basalt_pg::pool::connect(&url).await.expect("connect");
        basalt_pg::platform::apply(&mut c).await.expect("platform");
        c.batch_execute(
            "CREATE TABLE public.bench (id bigserial PRIMARY KEY, owner uuid NOT NULL,
                                        shared boolean NOT NULL DEFAULT true, body text);
             ALTER TABLE public.bench ENABLE ROW LEVEL SECURITY;
             CREATE POLICY bench_read ON public.bench FOR SELECT TO authenticated
               USING (shared OR owner = auth.uid());
             GRANT SELECT ON public.bench TO authenticated;
             ALTER PUBLICATION supabase_realtime ADD TABLE public.bench;",
        )
        .await
        .expect("schema");
        let mut out = Vec::new();
        for s in &scenarios {
            eprintln!(
                "running N={} K={} M={}/s for {seconds}s ...",
                s.subscribers, s.contexts, s.rate
            );
            out.push(run(&url, *s, seconds).await);
        }
        out
    });
    cluster.stop();
    let _ = std::fs::remove_dir_all(&root);
    println!("| subscribers N | contexts K | changes/s M | rows | deliveries (expected) | deliveries/s | p50 commit→client | p99 commit→client |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in &outcomes {
        println!(
            "| {} | {} | {} | {} | {} ({}) | {:.0} | {:.1} ms | {:.1} ms |",
            o.s.subscribers,
            o.s.contexts,
            o.s.rate,
            o.rows,
            o.delivered,
            o.expected,
            o.delivered as f64 / o.seconds.max(1e-6),
            o.p50_ms,
            o.p99_ms
        );
    }
    println!();
    println!("Supabase publishes at most 3,000–4,000 deliveries/s for postgres_changes with RLS.");
}
