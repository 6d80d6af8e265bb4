//! The accept loop and the panic layer under hostile or unlucky clients: connections that
//! never finish their headers, handlers that panic, more connections than the cap, a shutdown
//! with a request in flight, WebSocket upgrades and the peer address services extract.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use basalt_gateway::{serve_with, ServeOptions};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Log lines written while a test runs (on the test's current-thread runtime).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Capture this thread's log events until the guard drops.
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(router: Router, opts: ServeOptions) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let done = tokio::spawn(serve_with(listener, router, shutdown, opts));
        Server {
            addr,
            stop: Some(stop),
            done,
        }
    }

    /// Ask for a graceful shutdown; the returned handle completes when `serve_with` returns.
    fn shutdown(&mut self) -> &mut tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        &mut self.done
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }
}

fn opts(header_read_timeout: Duration, max_connections: usize) -> ServeOptions {
    ServeOptions {
        header_read_timeout,
        max_connections,
        ..ServeOptions::default()
    }
}

fn hello() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

/// Send one request on `conn` and read the response head and body (the body is short and
/// the request asks the server to close, or the body is read by `Content-Length`).
async fn get_on(conn: &mut TcpStream, path: &str, close: bool) -> String {
    let connection = if close { "close" } else { "keep-alive" };
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: {connection}\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn until_closed(conn: &mut TcpStream, limit: Duration) -> (String, Instant) {
    let mut out = Vec::new();
    tokio::time::timeout(limit, conn.read_to_end(&mut out))
        .await
        .expect("the server closes the connection in time")
        .expect("read");
    (String::from_utf8_lossy(&out).into_owned(), Instant::now())
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(400);
    let server = Server::start(hello(), opts(timeout, 1000)).await;

    // Half a header line, then nothing; and many such clients at once.
    let start = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut c = server.connect().await;
        c.write_all(b"GET / HTTP/1.1\r\nHost: te")
            .await
            .expect("write");
        slow.push(c);
    }
    // A connection that sends nothing at all.
    let mut silent = server.connect().await;
    for c in slow.iter_mut().chain([&mut silent]) {
        let (sent, closed) = until_closed(c, Duration::from_secs(10)).await;
        assert!(
            closed - start >= timeout - Duration::from_millis(50),
            "closed after {:?}",
            closed - start
        );
        assert!(!sent.contains("200 OK"), "{sent}");
    }

    // A keep-alive connection idle after a complete request is closed as well.
    let mut idle = server.connect().await;
    let answer = get_on(&mut idle, "/", false).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let idle_since = Instant::now();
    let (_, closed) = until_closed(&mut idle, Duration::from_secs(10)).await;
    assert!(closed - idle_since >= timeout - Duration::from_millis(50));

    // A client that is merely slow, within the timeout, is served.
    let mut ok = server.connect().await;
    ok.write_all(b"GET / HTTP/1.1\r\nHo").await.expect("write");
    tokio::time::sleep(timeout / 4).await;
    let answer = get_on_rest(&mut ok, b"st: test\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Finish a request whose beginning was already sent and read the whole response.
async fn get_on_rest(conn: &mut TcpStream, rest: &[u8]) -> String {
    conn.write_all(rest).await.expect("write");
    until_closed(conn, Duration::from_secs(10)).await.0
}

async fn boom() -> &'static str {
    panic!("handler exploded")
}

#[tokio::test]
async fn a_panicking_handler_answers_json_500_and_the_server_keeps_serving() {
    let (logs, _guard) = Logs::capture();
    let service = Router::new()
        .route("/boom", get(boom))
        .route("/fine", get(|| async { "fine" }));
    let keys = basalt_gateway::ApiKeys::new(Arc::new(basalt_identity::Keys::from_secret(
        "super-secret-jwt-token-with-at-least-32-characters",
    )));
    let app = basalt_gateway::compose(
        keys,
        vec![basalt_gateway::Mount {
            prefix: "/svc",
            router: service,
            needs_apikey: false,
            hide_query_key: false,
            open_paths: &[],
            own_cors: false,
        }],
        Arc::new(Vec::new),
    );
    let server = Server::start(app, ServeOptions::default()).await;

    let mut conn = server.connect().await;
    let answer = get_on(&mut conn, "/svc/boom", false).await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    let json: serde_json::Value = serde_json::from_str(body).expect("json body");
    assert_eq!(json["code"], 500);
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("request id header")
        .trim()
        .to_string();
    let logged = logs.text();
    let line = logged
        .lines()
        .find(|l| l.contains("request handler panicked"))
        .unwrap_or_else(|| panic!("panic not logged: {logged}"));
    assert!(
        line.contains(&id),
        "log line lacks the request id {id}: {line}"
    );
    assert!(line.contains("handler exploded"), "{line}");

    // Same connection, then a new one: both still served.
    let again = get_on(&mut conn, "/svc/fine", false).await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    let mut other = server.connect().await;
    let answer = get_on(&mut other, "/svc/fine", true).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn the_connection_cap_holds_extra_connections_until_one_closes() {
    let (logs, _guard) = Logs::capture();
    let server = Server::start(hello(), opts(Duration::from_secs(30), 2)).await;

    let mut first = server.connect().await;
    let answer = get_on(&mut first, "/", false).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _second = server.connect().await;

    // The third connection completes its TCP handshake (listen backlog) but is not served.
    let mut third = server.connect().await;
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    let logged = logs.text();
    assert_eq!(
        logged.matches("connection limit reached").count(),
        1,
        "{logged}"
    );
    assert!(logged.contains("2 connections are open"), "{logged}");

    // Closing one admits it.
    drop(first);
    let (answer, _) = until_closed(&mut third, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_stops_accepting() {
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let started_tx = Arc::new(Mutex::new(Some(started_tx)));
    let slow = Router::new().route(
        "/slow",
        get(move || {
            let started = started_tx.lock().expect("lock").take();
            async move {
                if let Some(s) = started {
                    let _ = s.send(());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }
        }),
    );
    let mut server = Server::start(slow, ServeOptions::default()).await;
    let mut conn = server.connect().await;
    conn.write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    started_rx.await.expect("request started");
    let done = server.shutdown();

    let (answer, _) = until_closed(&mut conn, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("done"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .expect("serve returns after draining")
        .expect("join")
        .expect("serve");
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn websocket_upgrades_and_peer_addresses_work() {
    let app = Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket: WebSocket| async move {
                    while let Some(Ok(Message::Text(t))) = socket.recv().await {
                        if socket
                            .send(Message::Text(format!("echo {t}").into()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                })
            }),
        );
    // A short header timeout must not cut an upgraded connection.
    let server = Server::start(app, opts(Duration::from_millis(300), 10)).await;

    let mut conn = server.connect().await;
    let local = conn.local_addr().expect("local addr");
    let answer = get_on(&mut conn, "/peer", true).await;
    assert!(answer.ends_with(&local.to_string()), "{answer}");

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .expect("websocket handshake");
    for i in 0..2 {
        ws.send(tokio_tungstenite::tungstenite::Message::text(format!(
            "hi {i}"
        )))
        .await
        .expect("send");
        let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("reply in time")
            .expect("open")
            .expect("frame");
        assert_eq!(
            reply.into_text().expect("text").as_str(),
            format!("echo hi {i}")
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

fn echo_ws() -> Router {
    Router::new().route(
        "/ws",
        get(|ws: WebSocketUpgrade| async move {
            ws.on_upgrade(|mut socket: WebSocket| async move {
                while let Some(Ok(Message::Text(t))) = socket.recv().await {
                    if socket.send(Message::Text(t)).await.is_err() {
                        break;
                    }
                }
            })
        }),
    )
}

#[tokio::test]
async fn shutdown_waits_for_open_websockets_until_they_close() {
    let mut server = Server::start(echo_ws(), ServeOptions::default()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .expect("websocket handshake");
    let started = Instant::now();
    let done = server.shutdown();
    // The socket still works while the server drains.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!done.is_finished(), "serve returned with a WebSocket open");
    ws.send(tokio_tungstenite::tungstenite::Message::text("still here"))
        .await
        .expect("send");
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("reply in time")
        .expect("open")
        .expect("frame");
    assert_eq!(reply.into_text().expect("text").as_str(), "still here");
    ws.close(None).await.expect("close");
    drop(ws);
    tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .expect("serve returns once the socket closed")
        .expect("join")
        .expect("serve");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn shutdown_gives_up_on_websockets_after_the_drain_timeout() {
    let opts = ServeOptions {
        drain_timeout: Duration::from_millis(400),
        ..ServeOptions::default()
    };
    let mut server = Server::start(echo_ws(), opts).await;
    let (_ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .expect("websocket handshake");
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("serve returns at the drain deadline")
        .expect("join")
        .expect("serve");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
}

#[test]
fn release_builds_unwind_on_panic() {
    // With `panic = "abort"` one panicking request would take the whole process down.
    let manifest = include_str!("../../../Cargo.toml");
    let settings: Vec<&str> = manifest
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| l.replace(' ', "").starts_with("panic="))
        .collect();
    assert!(
        settings.iter().all(|l| !l.contains("abort")),
        "{settings:?}"
    );
}

#[tokio::test]
async fn a_5xx_is_logged_with_its_request_id_by_a_service_alone() {
    let (logs, _guard) = Logs::capture();
    let service = Router::new().route(
        "/down",
        get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
    );
    let server = Server::start(basalt_gateway::observe(service), ServeOptions::default()).await;
    let mut conn = server.connect().await;
    let answer = get_on(&mut conn, "/down", true).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // A service alone does not echo the id (its upstream does not), but logs it.
    assert!(
        !answer.to_ascii_lowercase().contains("x-request-id"),
        "{answer}"
    );
    let logged = logs.text();
    let line = logged
        .lines()
        .find(|l| l.contains("server error answered"))
        .unwrap_or_else(|| panic!("5xx not logged: {logged}"));
    assert!(line.contains("ERROR") && line.contains("503"), "{line}");
    let id = line
        .split("id=")
        .nth(1)
        .and_then(|r| r.split([' ', '}', ':']).next())
        .unwrap_or("");
    assert_eq!(id.len(), 36, "a request id in {line}");
}
