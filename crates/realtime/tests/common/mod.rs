//! Shared test helpers: a realtime node on a fresh database, a Phoenix WebSocket client, JWTs.
#![allow(dead_code)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Ws;

pub const SECRET: &str = "realtime-test-secret-with-at-least-32-chars";

/// Sign an HS256 JWT with the test secret.
pub fn sign(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

pub fn now() -> i64 {
    basalt_realtime::token::now()
}

/// The anon API key.
pub fn anon() -> String {
    sign(json!({"role": "anon", "iss": "supabase", "exp": now() + 3600}))
}

/// A user token.
pub fn user(sub: &str) -> String {
    sign(json!({"role": "authenticated", "sub": sub, "aud": "authenticated", "exp": now() + 3600}))
}

/// A node config for `url`.
pub fn config(url: &str) -> basalt_realtime::Config {
    basalt_realtime::Config {
        db_url: url.to_owned(),
        jwt_secret: SECRET.into(),
        pool_size: 4,
        ..basalt_realtime::Config::default()
    }
}

/// One node serving on a free port.
pub struct Served {
    pub server: basalt_testkit::TestServer,
    pub node: Option<basalt_realtime::Node>,
}

impl Served {
    pub async fn start(url: &str) -> Served {
        Self::start_with(config(url)).await
    }

    pub async fn start_with(c: basalt_realtime::Config) -> Served {
        let (router, node) = basalt_realtime::start(c).await.expect("start realtime");
        Served {
            server: basalt_testkit::serve(router).await,
            node: Some(node),
        }
    }

    pub fn ws_url(&self, key: &str) -> String {
        format!(
            "ws://{}/websocket?apikey={}&vsn=2.0.0",
            self.server.addr, key
        )
    }

    /// Stop the node and drop its slot (the test database cannot be dropped while a slot
    /// exists).
    pub async fn stop(mut self) {
        if let Some(n) = self.node.take() {
            n.shutdown().await.expect("shutdown");
        }
    }
}

impl Drop for Served {
    /// A test that failed before `stop`: abort the node and drop its slot from another thread.
    fn drop(&mut self) {
        let Some(n) = self.node.take() else { return };
        let url = n.state.config.db_url.clone();
        let slot = n.state.config.slot_name();
        drop(n);
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(c) = basalt_pg::pool::connect(&url).await else {
                    return;
                };
                for _ in 0..100 {
                    let _ = c
                        .query(
                            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                             WHERE slot_name = $1 AND active_pid IS NOT NULL",
                            &[&slot],
                        )
                        .await;
                    let _ = c
                        .query(
                            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                             WHERE slot_name = $1 AND NOT active",
                            &[&slot],
                        )
                        .await;
                    match c
                        .query_opt(
                            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                            &[&slot],
                        )
                        .await
                    {
                        Ok(None) | Err(_) => break,
                        Ok(Some(_)) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            });
        })
        .join();
    }
}

/// A Phoenix client over tokio-tungstenite.
pub struct Client {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_ref: u64,
    /// Frames read while waiting for something else.
    pub seen: Vec<Frame>,
    /// The text of every text frame received, as sent.
    pub raw: Vec<String>,
}

/// A frame as the client decoded it.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(Value),
    Binary(Vec<u8>),
}

impl Frame {
    pub fn event(&self) -> Option<&str> {
        match self {
            Frame::Text(v) => v.get(3).and_then(Value::as_str),
            Frame::Binary(_) => Some("broadcast"),
        }
    }
    pub fn payload(&self) -> Value {
        match self {
            Frame::Text(v) => v.get(4).cloned().unwrap_or(Value::Null),
            Frame::Binary(_) => Value::Null,
        }
    }
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Client {
            ws,
            next_ref: 1,
            seen: Vec::new(),
            raw: Vec::new(),
        }
    }

    pub fn make_ref(&mut self) -> String {
        let r = self.next_ref.to_string();
        self.next_ref += 1;
        r
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Ws::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, b: Vec<u8>) {
        self.ws.send(Ws::Binary(b.into())).await.expect("send");
    }

    /// The next frame, or None after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        loop {
            let m = tokio::time::timeout(wait, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match m {
                Ws::Text(t) => {
                    self.raw.push(t.as_str().to_owned());
                    return Some(Frame::Text(serde_json::from_str(t.as_str()).ok()?));
                }
                Ws::Binary(b) => return Some(Frame::Binary(b.to_vec())),
                Ws::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Wait for a frame satisfying `pred` (others are kept in `seen`).
    pub async fn wait_for(
        &mut self,
        wait: Duration,
        pred: impl Fn(&Frame) -> bool,
    ) -> Option<Frame> {
        if let Some(i) = self.seen.iter().position(&pred) {
            return Some(self.seen.remove(i));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            let f = self.next(left).await?;
            if pred(&f) {
                return Some(f);
            }
            self.seen.push(f);
        }
    }

    /// Wait for the reply to `reference`.
    pub async fn reply(&mut self, reference: &str) -> Value {
        let r = reference.to_owned();
        let f = self
            .wait_for(Duration::from_secs(10), move |f| match f {
                Frame::Text(v) => v[3] == "phx_reply" && v[1] == r.as_str(),
                _ => false,
            })
            .await
            .expect("reply");
        f.payload()
    }

    /// Join `topic` with `config` (and optionally an access token); returns the reply payload.
    pub async fn join(&mut self, topic: &str, config: Value, token: Option<&str>) -> Value {
        let r = self.make_ref();
        let mut payload = json!({"config": config});
        if let Some(t) = token {
            payload["access_token"] = json!(t);
            payload["version"] = json!("realtime-js/2.109.0");
        }
        self.send(json!([
            r,
            r,
            format!("realtime:{topic}"),
            "phx_join",
            payload
        ]))
        .await;
        self.reply(&r).await
    }

    /// Collect every frame with `event` arriving within `wait`.
    pub async fn collect(&mut self, event: &str, wait: Duration) -> Vec<Frame> {
        let mut out: Vec<Frame> = self
            .seen
            .iter()
            .filter(|f| f.event() == Some(event))
            .cloned()
            .collect();
        self.seen.retain(|f| f.event() != Some(event));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.next(left).await {
                Some(f) if f.event() == Some(event) => out.push(f),
                Some(f) => self.seen.push(f),
                None => return out,
            }
        }
    }
}

/// `record` of postgres_changes frames.
pub fn records(frames: &[Frame]) -> Vec<Value> {
    frames
        .iter()
        .map(|f| {
            let d = &f.payload()["data"];
            if d["type"] == "DELETE" {
                d["old_record"].clone()
            } else {
                d["record"].clone()
            }
        })
        .collect()
}

/// Waits for the `system` message that confirms a channel's `postgres_changes` subscription.
pub async fn expect_subscribed(c: &mut Client) {
    let f = c
        .wait_for(Duration::from_secs(8), |f| f.event() == Some("system"))
        .await
        .expect("system message");
    assert_eq!(f.payload()["status"], "ok", "{:?}", f.payload());
}
