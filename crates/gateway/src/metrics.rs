//! `/metrics`: what the API port serves to Prometheus, in its text exposition (OpenMetrics).
//!
//! The gateway counts every request of every mounted service by service, route template (the
//! path as the service declared it, e.g. `/auth/v1/admin/users/{user_id}`, so that ids do not
//! make new series; `/rest/v1/{*path}` for a service that routes by itself), method and status, and times it into a latency histogram; it knows how many
//! requests are in flight and how many sockets are open (WebSockets included). Other parts of the
//! process add their own gauges with [`add_collector`] (database pools, realtime sockets, queue
//! depths): each collector writes its lines when `/metrics` is read, so nothing is sampled in
//! between.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    service: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The gateway's request metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    in_flight: Family<ServiceLabels, Gauge>,
}

/// Latency buckets in seconds: 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("basalt");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(histogram);
        let in_flight = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by service, route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by service and route template",
            latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now, by service",
            in_flight.clone(),
        );
        Arc::new(Metrics {
            registry,
            requests,
            latency,
            in_flight,
        })
    }

    /// The exposition text: the gateway's metrics, the open sockets, then every collector's.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let open = OPEN_CONNECTIONS.load(Ordering::Relaxed);
        out.push_str(&format!(
            "# HELP basalt_http_connections_open Sockets open on the API port (WebSockets included).\n\
             # TYPE basalt_http_connections_open gauge\n\
             basalt_http_connections_open {open}\n"
        ));
        for c in collectors().lock().iter() {
            c(&mut out);
        }
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}

/// Sockets open on the API port; kept by the accept loop.
pub(crate) static OPEN_CONNECTIONS: AtomicI64 = AtomicI64::new(0);

type Collector = Box<dyn Fn(&mut String) + Send + Sync>;

fn collectors() -> &'static Mutex<Vec<Collector>> {
    static C: OnceLock<Mutex<Vec<Collector>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(Vec::new()))
}

/// Add lines to every `/metrics` answer: `f` appends complete metric families (`# HELP`,
/// `# TYPE`, samples), each name starting with `basalt_`.
pub fn add_collector(f: impl Fn(&mut String) + Send + Sync + 'static) {
    collectors().lock().push(Box::new(f));
}

/// One gauge family, written for a collector: `name` with `help` and `(labels, value)` samples,
/// labels as `key="value"` pairs.
pub fn write_gauge(
    out: &mut String,
    name: &str,
    help: &str,
    samples: &[(Vec<(&str, String)>, f64)],
) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
    for (labels, v) in samples {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        if labels.is_empty() {
            out.push_str(&format!("{name} {v}\n"));
        } else {
            out.push_str(&format!("{name}{{{}}} {v}\n", labels.join(",")));
        }
    }
}

/// The middleware that counts and times one service's requests.
pub(crate) async fn track(
    State((metrics, service, prefix)): State<(Arc<Metrics>, &'static str, &'static str)>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        // A service that routes by itself (a fallback) has no template: its prefix stands for
        // every path, so that ids in paths never make new series.
        .map_or_else(|| format!("{prefix}/{{*path}}"), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let service_labels = ServiceLabels {
        service: service.to_owned(),
    };
    metrics.in_flight.get_or_create(&service_labels).inc();
    // Decremented however the request ends (a client that goes away drops this future).
    let _in_flight = InFlight(&metrics, service_labels);
    let started = Instant::now();
    let response = next.run(req).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            service: service.to_owned(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            service: service.to_owned(),
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

struct InFlight<'a>(&'a Metrics, ServiceLabels);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.get_or_create(&self.1).dec();
    }
}

/// `GET /metrics`.
pub(crate) fn answer(metrics: &Metrics) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
