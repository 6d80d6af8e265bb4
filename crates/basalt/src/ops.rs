//! Operations: what `/metrics` shows beyond the gateway's request counts, readiness of a
//! database basalt does not supervise, logs as JSON, and closing the pools at shutdown.

use std::time::Duration;

/// Log lines as JSON objects (one a line) when `BASALT_LOG_FORMAT=json`.
pub fn json_logs() -> bool {
    std::env::var("BASALT_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
}

/// Add the process's gauges to `/metrics`: every database pool (connections open, in use,
/// waiting, maximum) and the realtime sockets being served.
pub fn install_metrics() {
    use basalt_gateway::metrics::write_gauge;
    basalt_gateway::metrics::add_collector(|out| {
        let pools = basalt_pg::pool::stats();
        let labels = |p: &basalt_pg::pool::PoolStat| vec![("pool", format!("{}-{}", p.kind, p.id))];
        let family = |f: &dyn Fn(&basalt_pg::pool::PoolStat) -> usize| -> Vec<_> {
            pools.iter().map(|p| (labels(p), f(p) as f64)).collect()
        };
        write_gauge(
            out,
            "basalt_db_pool_connections",
            "Connections a database pool holds open.",
            &family(&|p| p.status.size),
        );
        write_gauge(
            out,
            "basalt_db_pool_in_use",
            "Connections of a database pool serving a request now.",
            &family(&|p| p.status.size.saturating_sub(p.status.available)),
        );
        write_gauge(
            out,
            "basalt_db_pool_waiting",
            "Requests waiting for a connection of a database pool.",
            &family(&|p| p.status.waiting),
        );
        write_gauge(
            out,
            "basalt_db_pool_max",
            "Most connections a database pool may open.",
            &family(&|p| p.status.max_size),
        );
        #[cfg(feature = "realtime")]
        write_gauge(
            out,
            "basalt_realtime_sockets",
            "Realtime WebSockets open.",
            &[(
                Vec::new(),
                basalt_realtime::socket::OPEN_SOCKETS.load(std::sync::atomic::Ordering::Relaxed)
                    as f64,
            )],
        );
    });
}

/// Readiness of a database basalt does not supervise (`--db-url`): a `SELECT 1` every 2 s (5 s
/// to answer); `/health` answers 503 naming the error while it fails.
pub fn db_readiness(url: &str) -> basalt_gateway::Readiness {
    let (tx, rx) = tokio::sync::watch::channel(None::<String>);
    let url = url.to_owned();
    tokio::spawn(async move {
        let mut client: Option<tokio_postgres::Client> = None;
        loop {
            let check = async {
                if client.as_ref().is_none_or(|c| c.is_closed()) {
                    client = Some(
                        basalt_pg::pool::connect(&url)
                            .await
                            .map_err(|e| basalt_pg::pool::describe(&e))?,
                    );
                }
                match &client {
                    Some(c) => c
                        .simple_query("SELECT 1")
                        .await
                        .map(drop)
                        .map_err(|e| basalt_pg::pool::describe(&e)),
                    None => Ok(()),
                }
            };
            let down = match tokio::time::timeout(Duration::from_secs(5), check).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("no answer within 5 s".to_string()),
            };
            if down.is_some() {
                client = None;
            }
            if tx.send(down).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    std::sync::Arc::new(move || match &*rx.borrow() {
        None => Vec::new(),
        Some(why) => vec![("database", why.clone())],
    })
}
