//! The accept loop: HTTP/1.1 over TCP with the limits a public listener needs.
//!
//! - **Header read timeout.** A client has [`ServeOptions::header_read_timeout`] to send a
//!   request's head (request line and headers). The same clock runs while a keep-alive
//!   connection waits for its next request, so it is the idle keep-alive timeout too: a
//!   connection that sends nothing, or half a header line, is closed when it expires.
//! - **Connection cap.** At most [`ServeOptions::max_connections`] sockets are open at once,
//!   upgraded ones (WebSockets) included. At the cap the loop stops accepting, so further
//!   clients wait in the kernel's listen backlog until a connection closes, and one warning
//!   says so (at most once a minute).
//! - **Graceful shutdown.** When the shutdown future completes the listener is closed, every
//!   connection finishes its in-flight request and closes, and [`serve_with`] returns once
//!   they have, upgraded ones (WebSockets) included, or once
//!   [`ServeOptions::drain_timeout`] has passed, whichever comes first; what is still open then
//!   is said in one line and closed when the process exits.
//!
//! Each request carries [`axum::extract::ConnectInfo`]`<SocketAddr>` of its peer, and
//! connections accept HTTP upgrades (`Upgrade: websocket`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// Limits of the accept loop; [`Default`] gives the production values.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a client may take to send a request head, and how long an idle keep-alive
    /// connection is kept waiting for the next one. Default 30 s.
    pub header_read_timeout: Duration,
    /// Most sockets open at once (at least 1). Default 10,000.
    pub max_connections: usize,
    /// How long a shutdown waits for in-flight requests and open WebSockets. Default 5 s.
    pub drain_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// How often the "connection limit reached" warning may repeat.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Serve `router` on `listener` with `opts` until `shutdown` completes, then drain.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    opts: ServeOptions,
) -> io::Result<()> {
    // A semaphore holds at most `Semaphore::MAX_PERMITS` permits.
    let cap = opts.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(cap));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    // Connections watch `stop`; each holds a clone of `alive`, so `alive_rx` ends when all
    // of them have.
    let (stop, _) = watch::channel(false);
    let (alive, mut alive_rx) = mpsc::channel::<()>(1);
    let mut shutdown = pin!(shutdown);
    let mut last_warning: Option<Instant> = None;

    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if last_warning.is_none_or(|t| t.elapsed() >= CAP_WARNING_EVERY) {
                    last_warning = Some(Instant::now());
                    tracing::warn!(
                        max_connections = cap,
                        "connection limit reached: {cap} connections are open; new \
                         connections wait in the listen backlog until one closes"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break, // never closed
                    },
                    _ = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::error!(error = %e, "accept failed; retrying in 1 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = &mut shutdown => break,
                    }
                }
            },
            _ = &mut shutdown => break,
        };
        // Responses are written whole by hyper: send them at once rather than waiting for the
        // client's delayed ACK (Nagle), which would add 40 ms to small bodies written in parts.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let conn = Connection {
            http: http.clone(),
            router: router.clone(),
            stop: stop.subscribe(),
            alive: alive.clone(),
        };
        tokio::spawn(conn.run(stream, peer, slot));
    }

    drop(listener);
    stop.send_replace(true);
    drop(alive);
    // Every open socket holds a sender; `recv` yields `None` once all have closed.
    if tokio::time::timeout(opts.drain_timeout, alive_rx.recv())
        .await
        .is_err()
    {
        let open = cap - slots.available_permits();
        tracing::warn!(
            open,
            "shutdown: {open} connections (WebSockets or slow requests) still open after {:?}; \
             they are closed with the process",
            opts.drain_timeout
        );
    }
    Ok(())
}

/// Accept errors that concern one connection only; the next accept may succeed at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What one connection task needs.
struct Connection {
    http: Arc<hyper::server::conn::http1::Builder>,
    router: Router,
    stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr, slot: OwnedSemaphorePermit) {
        let service = self
            .router
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        crate::metrics::OPEN_CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let io = Counted {
            io: TokioIo::new(stream),
            _slot: slot,
            _alive: self.alive.clone(),
        };
        let conn = self
            .http
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
        let mut conn = pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            _ = stopped(&mut self.stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Completes once the server stops (or is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A socket that holds its connection slot, and keeps a shutdown waiting, for as long as it
/// lives, upgraded or not.
struct Counted<T> {
    io: T,
    _slot: OwnedSemaphorePermit,
    _alive: mpsc::Sender<()>,
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        crate::metrics::OPEN_CONNECTIONS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl<T: Read + Unpin> Read for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}
