//! basalt-bench: the baselines basalt's benchmarks are measured against, in the same run. `sql`
//! drives Postgres directly through tokio-postgres with the statements a REST request needs
//! (begin, role and claims, the query, commit — pipelined in one round trip) at a given
//! concurrency: the ceiling no HTTP layer can beat. `bcrypt` measures the password-hash ceiling.
//! `jwt` mints the tokens the HTTP workloads send. `forward` is the edge function benchmark's
//! floor: a proxy that only forwards, to a function served by Deno alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

mod forward;
use rand::Rng;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one workload's SQL straight against Postgres; prints JSON {rps, p50_ms, p99_ms, n}.
    Sql {
        #[arg(long)]
        url: String,
        #[arg(long)]
        workload: String,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Role to run as (`authenticated` or `anon`).
        #[arg(long, default_value = "authenticated")]
        role: String,
        /// JWT claims JSON for `request.jwt.claims`.
        #[arg(long, default_value = "{}")]
        claims: String,
        /// Number of rows of `items` (ids 1..=rows).
        #[arg(long, default_value_t = 100_000)]
        rows: i64,
        /// Stop after this many operations in total (W2); otherwise run for `seconds`.
        #[arg(long)]
        count: Option<u64>,
    },
    /// The password-hash ceiling: one cost-10 bcrypt hash alone (best of 3), then every core
    /// hashing for `seconds`; prints JSON {hash_ms, parallel_hash_ms, cores, ceiling_per_s}.
    /// The ceiling is what all cores hash together: what sign-ins could reach if a sign-in were
    /// nothing but its hash (cores / time of one hash, with the cores as busy as under load).
    Bcrypt {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// The refresh grant's statement (`basalt_auth::sessions::refresh_sql`, prepared) straight to
    /// Postgres: each connection rotates its own refresh token, as many as `tokens` (comma
    /// separated, one chain per token), for `seconds`; prints JSON {rps, p50_ms, p99_ms, n}.
    Refresh {
        #[arg(long)]
        url: String,
        #[arg(long)]
        tokens: String,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// The edge function benchmark's floor: forward HTTP/1.1 from `127.0.0.1:port` to the
    /// server on unix socket `socket` and do nothing else (see `forward.rs`).
    Forward {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        socket: std::path::PathBuf,
    },
    /// Print an HS256 JWT for `claims` signed with `secret`.
    Jwt {
        #[arg(long)]
        secret: String,
        #[arg(long)]
        claims: String,
    },
}

/// The SQL of each workload: what basalt's REST layer runs for the matching HTTP request.
fn workload_sql(name: &str) -> anyhow::Result<&'static str> {
    Ok(match name {
        "r1" => "SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT * FROM public.items WHERE id = $1) t",
        "r2" => "SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT * FROM public.items WHERE category = ($1::bigint % 100)::int ORDER BY id DESC LIMIT 25) t",
        "r3" => "SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT p.*, coalesce((SELECT json_agg(c) FROM public.children c WHERE c.parent_id = p.id), '[]') AS children FROM public.parents p WHERE p.id = ($1::bigint % 10000) + 1) t",
        "w1" => "INSERT INTO public.events (kind, payload) VALUES ('bench', json_build_object('n', $1::bigint)::jsonb)",
        "w3" => "UPDATE public.items SET price = price + 1 WHERE id = $1",
        other => anyhow::bail!("unknown workload {other}"),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Sql {
            url,
            workload,
            connections,
            seconds,
            role,
            claims,
            rows,
            count,
        } => {
            let sql = workload_sql(&workload)?;
            let report = run_sql(
                &url,
                sql,
                connections,
                Duration::from_secs_f64(seconds),
                &role,
                &claims,
                rows,
                count,
            )
            .await?;
            println!("{report}");
        }
        Cmd::Bcrypt { seconds } => {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let t = Instant::now();
                bcrypt::hash("correct horse battery staple", 10)?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            let start = Instant::now();
            let deadline = start + Duration::from_secs_f64(seconds);
            let threads: Vec<_> = (0..cores)
                .map(|_| {
                    std::thread::spawn(move || {
                        let mut n = 0u64;
                        while Instant::now() < deadline {
                            if bcrypt::hash("correct horse battery staple", 10).is_ok() {
                                n += 1;
                            }
                        }
                        n
                    })
                })
                .collect();
            let hashes: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
            let elapsed = start.elapsed().as_secs_f64();
            let per_s = hashes as f64 / elapsed;
            println!(
                "{}",
                serde_json::json!({
                    "hash_ms": best * 1000.0,
                    "parallel_hash_ms": cores as f64 * 1000.0 / per_s.max(f64::MIN_POSITIVE),
                    "cores": cores,
                    "ceiling_per_s": per_s,
                })
            );
        }
        Cmd::Refresh {
            url,
            tokens,
            seconds,
        } => {
            let tokens: Vec<String> = tokens.split(',').map(str::to_string).collect();
            println!(
                "{}",
                run_refresh(&url, tokens, Duration::from_secs_f64(seconds)).await?
            );
        }
        Cmd::Forward { port, socket } => forward::run(port, socket).await?,
        Cmd::Jwt { secret, claims } => {
            let claims: serde_json::Value = serde_json::from_str(&claims)?;
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
            )?;
            println!("{token}");
        }
    }
    Ok(())
}

/// One chain of refreshes per token, each on its own connection, until `duration` is over.
async fn run_refresh(
    url: &str,
    tokens: Vec<String>,
    duration: Duration,
) -> anyhow::Result<serde_json::Value> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut token in tokens {
        let client = basalt_pg::pool::connect(url).await?;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let statement = client.prepare(basalt_auth::sessions::refresh_sql()).await?;
            let ip: std::net::IpAddr = [127, 0, 0, 1].into();
            let (agent, key) = (
                Some("basalt-bench".to_string()),
                "token:127.0.0.1".to_string(),
            );
            let (rotation, reuse, inactivity) = (true, 10.0f64, None::<f64>);
            let (limit, window) = (1_000_000i32, 300.0f64);
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let next = format!("{:032x}", rand::random::<u128>());
                let t = Instant::now();
                let row = client
                    .query_one(
                        &statement,
                        &[
                            &token,
                            &next,
                            &rotation,
                            &reuse,
                            &inactivity,
                            &agent,
                            &Some(ip),
                            &key,
                            &limit,
                            &window,
                        ],
                    )
                    .await?;
                latencies.push(t.elapsed());
                let outcome: String = row.try_get("outcome")?;
                anyhow::ensure!(outcome == "ok", "refresh answered {outcome}");
                token = row.try_get("refresh_token")?;
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    report(tasks, start).await
}

/// The latencies of every task.
type Tasks = Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>>>;

/// {n, seconds, rps, p50_ms, p99_ms} of a run's tasks, started at `start`.
async fn report(tasks: Tasks, start: Instant) -> anyhow::Result<serde_json::Value> {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(serde_json::json!({
        "n": all.len(),
        "seconds": elapsed,
        "rps": all.len() as f64 / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }))
}

#[allow(clippy::too_many_arguments)]
async fn run_sql(
    url: &str,
    sql: &str,
    connections: usize,
    duration: Duration,
    role: &str,
    claims: &str,
    rows: i64,
    count: Option<u64>,
) -> anyhow::Result<serde_json::Value> {
    let stop = Arc::new(AtomicBool::new(false));
    let remaining = Arc::new(std::sync::atomic::AtomicI64::new(
        count.map(|c| c as i64).unwrap_or(i64::MAX),
    ));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = basalt_pg::pool::connect(url).await?;
        let (stop, remaining) = (stop.clone(), remaining.clone());
        let (sql, role, claims) = (sql.to_string(), role.to_string(), claims.to_string());
        tasks.push(tokio::spawn(async move {
            let setup = client
                .prepare("SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)")
                .await?;
            let query = client.prepare(&sql).await?;
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) && remaining.fetch_sub(1, Ordering::Relaxed) > 0 {
                let id: i64 = rand::thread_rng().gen_range(1..=rows);
                let t = Instant::now();
                // One round trip: the four messages are pipelined on the connection.
                let setup_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&role, &claims];
                let query_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
                let (b, s, q, c) = futures::join!(
                    client.batch_execute("BEGIN"),
                    client.query(&setup, &setup_params),
                    client.query(&query, &query_params),
                    client.batch_execute("COMMIT"),
                );
                b?;
                s?;
                q?;
                c?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    if count.is_none() {
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
    }
    report(tasks, start).await
}
