//! The floor of the edge function benchmark: a proxy that does nothing but forward. It accepts
//! HTTP/1.1 on a TCP port and sends every request, as it came, to a server on a unix socket
//! (Deno serving the same function), over kept-alive connections, streaming the answer back. No
//! routing, no token check, no limits: what any design pays for keeping a function in a process
//! of its own, one hop away, on this machine. basalt's own throughput is read against it.

use std::path::PathBuf;

use basalt_edge::SocketConnector;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Serve on `127.0.0.1:port` until killed, forwarding to `socket`.
pub async fn run(port: u16, socket: PathBuf) -> anyhow::Result<()> {
    let client: Client<SocketConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(SocketConnector::new(socket));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening");
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let client = client.clone();
        tokio::spawn(async move {
            let forward = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let client = client.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                    parts.uri = format!("http://localhost{path}")
                        .parse()
                        .unwrap_or_default();
                    client
                        .request(hyper::Request::from_parts(parts, body))
                        .await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), forward)
                .await;
        });
    }
}
