//! Operating `basalt start`: `/metrics` (requests by service and route, pools, realtime
//! sockets), liveness and readiness, JSON logs, and a graceful shutdown that lets a slow request
//! in flight finish.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_json_logs_and_a_graceful_shutdown() {
    let db = basalt_testkit::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sb = dir.path().join("supabase");
    std::fs::create_dir_all(sb.join("migrations")).unwrap();
    std::fs::write(sb.join("config.toml"), "project_id = \"ops\"\n").unwrap();
    std::fs::write(
        sb.join("migrations/20240101000000_slow.sql"),
        "create table public.items (id int primary key);
         grant select on public.items to anon;
         create function public.slow() returns int language sql
           as 'select pg_sleep(1); select 7';
         grant execute on function public.slow() to anon;",
    )
    .unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["start", "--project", dir.path().to_str().unwrap()])
        .args(["--port", &port.to_string(), "--db-url", &db.url])
        .env("BASALT_LOG", "info")
        .env("BASALT_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("service_role key") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(90)).expect("banner");
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(".basalt/status.json")).unwrap())
            .unwrap();
    let anon = status["anon_key"].as_str().unwrap().to_owned();
    let api = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    for path in ["/health/live", "/health/ready", "/health"] {
        let r = http.get(format!("{api}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    for _ in 0..3 {
        let r = http
            .get(format!("{api}/rest/v1/items"))
            .header("apikey", &anon)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let text = http
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
    assert!(
        text.lines().any(|l| l
            .starts_with("basalt_http_requests_total{service=\"rest\",route=\"/rest/v1/")
            && l.contains("status=\"200\"")
            && l.ends_with(" 3")),
        "{text}"
    );
    assert!(
        has("basalt_http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(has("basalt_db_pool_connections{pool=\"wire-"), "{text}");
    assert!(has("basalt_db_pool_in_use{pool=\"general-"), "{text}");
    assert!(has("basalt_realtime_sockets 0"), "{text}");

    // A slow request in flight when SIGTERM arrives is answered; then basalt exits cleanly.
    let slow = tokio::spawn({
        let http = http.clone();
        let url = format!("{api}/rest/v1/rpc/slow");
        let anon = anon.clone();
        async move {
            let r = http
                .post(url)
                .header("apikey", &anon)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (code, body) = slow.await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, "7");
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    // A new connection is refused once basalt is gone.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    // Logs were JSON objects, one a line.
    let err = stderr.join().unwrap();
    let ready = err
        .lines()
        .find(|l| l.contains("\"ready\""))
        .unwrap_or_else(|| panic!("no ready line in:\n{err}"));
    let v: serde_json::Value = serde_json::from_str(ready).unwrap();
    assert_eq!(v["level"], "INFO", "{ready}");
    assert_eq!(v["fields"]["message"], "ready", "{ready}");
    assert!(v["timestamp"].is_string(), "{ready}");
}
