//! Operating `basalt start`: `/metrics` (requests by service and route, pools, realtime
//! sockets), liveness and readiness, JSON logs, and a graceful shutdown that lets a slow request
//! in flight finish.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_json_logs_and_a_graceful_shutdown() {
    let db = basalt_testkit::fresh_db().await;
    let dir = common::project(&[(
        "20240101000000_slow.sql",
        "create table public.items (id int primary key);
         grant select on public.items to anon;
         create function public.slow() returns int language sql
           as 'select pg_sleep(1); select 7';
         grant execute on function public.slow() to anon;",
    )]);
    let port = common::free_port();
    let mut basalt = common::start(
        dir.path(),
        port,
        &db.url,
        &[("BASALT_LOG", "info"), ("BASALT_LOG_FORMAT", "json")],
    );
    let (anon, _) = common::keys(dir.path());
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
        nix::unistd::Pid::from_raw(basalt.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (code, body) = slow.await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, "7");
    let exit = tokio::task::spawn_blocking(move || {
        let exit = basalt.child.wait().unwrap();
        (exit, basalt.stderr())
    })
    .await
    .unwrap();
    let (exit, err) = exit;
    assert!(exit.success(), "{exit}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    // A new connection is refused once basalt is gone.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    // Logs were JSON objects, one a line.
    let ready = err
        .lines()
        .find(|l| l.contains("\"ready\""))
        .unwrap_or_else(|| panic!("no ready line in:\n{err}"));
    let v: serde_json::Value = serde_json::from_str(ready).unwrap();
    assert_eq!(v["level"], "INFO", "{ready}");
    assert_eq!(v["fields"]["message"], "ready", "{ready}");
    assert!(v["timestamp"].is_string(), "{ready}");
}
