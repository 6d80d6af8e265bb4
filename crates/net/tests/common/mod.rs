//! Shared by the tests: a local HTTP receiver that counts what it gets, and bounded waiting.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::any;
use axum::Router;

/// Every request the receiver got: (path, body).
#[derive(Clone, Default)]
pub struct Seen {
    pub calls: Arc<Mutex<Vec<(String, String)>>>,
    fails: Arc<Mutex<HashMap<String, u32>>>,
}

impl Seen {
    pub fn paths(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.0.clone())
            .collect()
    }
    pub fn bodies(&self, prefix: &str) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.0.starts_with(prefix))
            .map(|c| c.1.clone())
            .collect()
    }
    pub fn count(&self, path: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.0 == path)
            .count()
    }
}

/// `/ok/*` answers 200 with a JSON body; `/slow/{ms}/*` waits ms first; `/fail/{n}/*` answers
/// 503 to the first n calls of that path, then 200.
pub async fn receiver() -> (basalt_testkit::TestServer, Seen) {
    let seen = Seen::default();
    async fn ok(
        State(s): State<Seen>,
        Path(rest): Path<String>,
        body: Bytes,
    ) -> (StatusCode, [(&'static str, &'static str); 2], String) {
        s.calls
            .lock()
            .unwrap()
            .push((format!("/ok/{rest}"), String::from_utf8_lossy(&body).into()));
        (
            StatusCode::OK,
            [("content-type", "application/json"), ("x-test", "yes")],
            r#"{"fine":true}"#.into(),
        )
    }
    async fn slow(
        State(s): State<Seen>,
        Path((ms, rest)): Path<(u64, String)>,
        body: Bytes,
    ) -> &'static str {
        s.calls.lock().unwrap().push((
            format!("/slow/{rest}"),
            String::from_utf8_lossy(&body).into(),
        ));
        tokio::time::sleep(Duration::from_millis(ms)).await;
        "late"
    }
    async fn fail(State(s): State<Seen>, Path((n, rest)): Path<(u32, String)>) -> StatusCode {
        let path = format!("/fail/{n}/{rest}");
        s.calls.lock().unwrap().push((path.clone(), String::new()));
        let mut f = s.fails.lock().unwrap();
        let c = f.entry(path).or_insert(0);
        *c += 1;
        if *c <= n {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    }
    let app = Router::new()
        .route("/ok/{*rest}", any(ok))
        .route("/slow/{ms}/{*rest}", any(slow))
        .route("/fail/{n}/{*rest}", any(fail))
        .with_state(seen.clone());
    (basalt_testkit::serve(app).await, seen)
}

/// Poll `f` every 25 ms for at most `secs` seconds until it returns true.
pub async fn wait_until<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// A config with quick retries for tests.
pub fn config() -> basalt_net::NetConfig {
    basalt_net::NetConfig {
        retry_backoff: basalt_config::Seconds(Duration::from_millis(50)),
        lease_grace: basalt_config::Seconds(Duration::from_millis(500)),
        ..Default::default()
    }
}

/// Rows in net._http_response.
pub async fn responses(c: &tokio_postgres::Client) -> i64 {
    c.query_one("SELECT count(*) FROM net._http_response", &[])
        .await
        .unwrap()
        .get(0)
}
