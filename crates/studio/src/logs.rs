//! `GET /api/logs`: the API requests this node answered lately, for the Logs page. A ring buffer
//! in memory ([`RequestLog`], the last [`CAPACITY`] requests) is fed by a middleware `basalt
//! start` puts around the whole API ([`RequestLog::record`]): method, path (without the query,
//! which may carry keys), status, the request id the gateway echoes, and the time to the
//! response's head (a streamed body's transfer is not counted). It is per node and lost on
//! restart; `?after=<seq>` returns only newer entries, so the page can follow.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use parking_lot::Mutex;

use crate::Shared;

/// How many requests the log keeps.
pub const CAPACITY: usize = 2000;

/// One answered request.
#[derive(Clone, serde::Serialize)]
pub struct Entry {
    /// Increasing number within this node's log.
    pub seq: u64,
    /// When it arrived, Unix milliseconds.
    pub time: u64,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Milliseconds to the response's head.
    pub ms: f64,
    pub request_id: String,
}

#[derive(Default)]
struct Ring {
    next: u64,
    entries: VecDeque<Entry>,
}

/// The last [`CAPACITY`] API requests of this node.
#[derive(Clone, Default)]
pub struct RequestLog(Arc<Mutex<Ring>>);

impl RequestLog {
    pub fn new() -> RequestLog {
        RequestLog::default()
    }

    /// `router` with every request it answers written to this log.
    pub fn record(&self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), track))
    }

    fn push(&self, mut e: Entry) {
        let mut ring = self.0.lock();
        ring.next += 1;
        e.seq = ring.next;
        if ring.entries.len() == CAPACITY {
            ring.entries.pop_front();
        }
        ring.entries.push_back(e);
    }

    /// Entries after `seq`, oldest first, at most `limit` (the newest ones).
    pub fn since(&self, seq: u64, limit: usize) -> Vec<Entry> {
        let ring = self.0.lock();
        let newer = ring.entries.iter().filter(|e| e.seq > seq);
        let n = newer.clone().count();
        newer.skip(n.saturating_sub(limit)).cloned().collect()
    }
}

async fn track(State(log): State<RequestLog>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    log.push(Entry {
        seq: 0,
        time,
        method,
        path,
        status: resp.status().as_u16(),
        ms: started.elapsed().as_secs_f64() * 1000.0,
        request_id,
    });
    resp
}

pub async fn list(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let after = q.get("after").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
        .min(CAPACITY);
    let Some(log) = &state.config.requests else {
        return Json(serde_json::json!({ "enabled": false, "entries": [] })).into_response();
    };
    Json(serde_json::json!({ "enabled": true, "entries": log.since(after, limit) })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry {
            seq: 0,
            time: 0,
            method: "GET".into(),
            path: path.into(),
            status: 200,
            ms: 1.0,
            request_id: String::new(),
        }
    }

    #[test]
    fn keeps_the_newest_and_answers_after_a_sequence_number() {
        let log = RequestLog::new();
        for i in 0..CAPACITY + 5 {
            log.push(entry(&format!("/{i}")));
        }
        let all = log.since(0, CAPACITY);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].seq, 6);
        assert_eq!(all.last().map(|e| e.seq), Some(CAPACITY as u64 + 5));
        let tail = log.since(CAPACITY as u64 + 3, 10);
        assert_eq!(
            tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [CAPACITY as u64 + 4, CAPACITY as u64 + 5]
        );
        assert_eq!(log.since(0, 3).len(), 3);
        assert_eq!(log.since(0, 3)[2].path, format!("/{}", CAPACITY + 4));
    }
}
