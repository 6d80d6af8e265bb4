//! basalt-gateway: the front door that Supabase's Kong container is in a hosted stack. It mounts
//! each service under its prefix (`/rest/v1`, `/auth/v1`, …), checks the `apikey` the way the
//! Supabase gateway does, answers CORS, tags every request with an `x-request-id` that appears in
//! the logs (and a service run alone gets the same ids and 5xx logging through [`observe`]),
//! answers unknown paths with a JSON 404, serves `/metrics` for Prometheus ([`metrics`]) and
//! serves with a graceful shutdown. API keys are
//! verified by `basalt_identity`, like every token. It knows
//! nothing about the services themselves, so any of them can also run alone behind it.

mod apikey;
pub mod metrics;
mod panics;
mod server;

use std::future::Future;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

pub use apikey::ApiKeys;
pub use server::{serve_with, ServeOptions};

/// One service mounted behind the gateway.
pub struct Mount {
    /// Path prefix, e.g. `/rest/v1`.
    pub prefix: &'static str,
    pub router: Router,
    /// Whether requests need a valid `apikey` (header or query parameter).
    pub needs_apikey: bool,
    /// Remove a valid `apikey` query parameter before the service sees it (the REST API would
    /// read it as a filter; realtime reads it as the caller's key).
    pub hide_query_key: bool,
    /// Paths under the prefix that are open even when `needs_apikey` (browser redirects).
    pub open_paths: &'static [&'static str],
    /// The service answers CORS itself, preflights included (edge functions do, as on
    /// Supabase); the gateway's CORS layer stays off its routes.
    pub own_cors: bool,
}

/// The request id header, set when absent and echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What `/health` asks before answering: the parts of the stack that are not serving, each as
/// its name (`"database"`) and why. Empty when everything is up.
pub type Readiness = std::sync::Arc<dyn Fn() -> Vec<(&'static str, String)> + Send + Sync>;

/// Compose the services into one application; `/health` reports `ready`, `/metrics` the
/// requests of every service ([`metrics`]).
pub fn compose(keys: ApiKeys, mounts: Vec<Mount>, ready: Readiness) -> Router {
    let metrics = metrics::Metrics::new();
    let scrape = metrics.clone();
    let ready2 = ready.clone();
    let mut app = Router::new()
        .route(
            "/health",
            axum::routing::get(move || std::future::ready(health(&ready))),
        )
        // Readiness (the database answers) under its Kubernetes-style name, and liveness: the
        // process serves HTTP, whatever the database does (a restart would not help it).
        .route(
            "/health/ready",
            axum::routing::get(move || std::future::ready(health(&ready2))),
        )
        .route(
            "/health/live",
            axum::routing::get(|| async { Json(serde_json::json!({ "status": "alive" })) }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || std::future::ready(metrics::answer(&scrape))),
        );
    let mut own_cors = Router::new();
    let prefixes: Vec<&'static str> = mounts.iter().map(|m| m.prefix).collect();
    for m in mounts {
        let service = m.prefix.trim_start_matches('/');
        let service: &'static str = service.split('/').next().unwrap_or(service);
        let m = Mount {
            router: m.router.layer(axum::middleware::from_fn_with_state(
                (metrics.clone(), service, m.prefix),
                metrics::track,
            )),
            ..m
        };
        let router = if m.needs_apikey {
            m.router.layer(apikey::Guard::new(
                keys.clone(),
                m.open_paths,
                m.hide_query_key,
            ))
        } else {
            m.router
        };
        if m.own_cors {
            own_cors = own_cors.nest(m.prefix, router);
        } else {
            app = app.nest(m.prefix, router);
        }
    }
    // Supabase's opaque keys become the JWTs they stand for before any service sees them.
    let translate = tower::util::MapRequestLayer::new(move |req| keys.translate(req));
    let routed = with_request_ids(
        own_cors
            .merge(app.fallback(not_found).layer(cors()))
            .layer(translate),
        true,
    );
    // Rewritten before routing (a layer on the router itself runs after the route is chosen).
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .map_request(move |req| service_root(&prefixes, req))
            .service(routed),
    )
}

/// `/rest/v1/` is the same resource as `/rest/v1` (the REST API's root, its OpenAPI document),
/// as behind Supabase's gateway; a nested router only matches the form without the slash.
fn service_root(prefixes: &[&str], mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() < path.len() && prefixes.contains(&trimmed) {
        let rewritten = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rewritten.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// What a service run alone wraps its routes in: a request id on every request (set when
/// absent; not echoed, as the upstream servers do not), a log span carrying it, every 5xx
/// logged at error level with it, and a panic turned into a logged JSON 500. The whole stack
/// ([`compose`]) also echoes the id on every response, as Supabase's gateway does.
pub fn observe(router: Router) -> Router {
    with_request_ids(router, false)
}

fn with_request_ids(router: Router, echo: bool) -> Router {
    // Inside the trace span, so the panic is logged with the request id; inside the
    // propagation, so the 500 carries `x-request-id` too.
    let router = router.layer(CatchPanicLayer::custom(panics::internal_error));
    let router = if echo {
        router.layer(PropagateRequestIdLayer::new(REQUEST_ID))
    } else {
        router
    };
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_response(
                    |resp: &axum::http::Response<axum::body::Body>,
                     latency: Duration,
                     _: &tracing::Span| {
                        if resp.status().is_server_error() {
                            tracing::error!(
                                status = resp.status().as_u16(),
                                ms = latency.as_millis() as u64,
                                "server error answered"
                            );
                        }
                    },
                ),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds::new()))
}

/// Request ids in UUID form: a random per-process half and a counter. Unique across nodes
/// without a random draw (a syscall) per request.
#[derive(Clone)]
struct RequestIds {
    node: u64,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> RequestIds {
        let node = uuid::Uuid::new_v4().as_u64_pair().0;
        RequestIds {
            node,
            next: Default::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = uuid::Uuid::from_u64_pair(self.node, n)
            .hyphenated()
            .to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// CORS as Supabase's gateway answers it: any origin, the headers supabase-js sends.
pub fn cors() -> CorsLayer {
    let allow = [
        "authorization",
        "apikey",
        "x-client-info",
        "content-type",
        "accept",
        "accept-profile",
        "content-profile",
        "prefer",
        "range",
        "range-unit",
        "x-upsert",
        "x-metadata",
        "cache-control",
        "x-supabase-api-version",
        "x-retry-count",
        "x-region",
        "x-request-id",
        "if-none-match",
        "tus-resumable",
        "upload-length",
        "upload-offset",
        "upload-metadata",
        "x-signature",
        "x-source",
    ];
    let expose = [
        "content-range",
        "x-total-count",
        "link",
        "x-supabase-api-version",
        "x-relay-error",
        "content-type",
        "location",
        "content-length",
        "etag",
        "x-request-id",
        "preference-applied",
        "upload-offset",
        "upload-length",
        "tus-resumable",
    ];
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ])
        .allow_headers(allow.map(HeaderName::from_static))
        .expose_headers(expose.map(HeaderName::from_static))
        .max_age(Duration::from_secs(86400))
}

/// `200 {"status": "ok", …}` when every part is up, otherwise `503 {"status": "unavailable",
/// "down": {part: reason}, …}`.
fn health(ready: &Readiness) -> axum::response::Response {
    let down = ready();
    let version = env!("CARGO_PKG_VERSION");
    if down.is_empty() {
        return Json(serde_json::json!({ "status": "ok", "name": "basalt", "version": version }))
            .into_response();
    }
    let down: serde_json::Map<String, serde_json::Value> = down
        .into_iter()
        .map(|(part, why)| (part.to_string(), why.into()))
        .collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({
            "status": "unavailable", "name": "basalt", "version": version, "down": down
        })),
    )
        .into_response()
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "message": "no Route matched with those values" })),
    )
}

/// Serve until `shutdown` completes, then stop accepting and drain in-flight requests, with
/// the default [`ServeOptions`] (30 s header read timeout, 10,000 connections).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ServeOptions::default()).await
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled, so a signal that arrives while the server is still
/// starting is not lost (nor does it kill the process with its default action).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(int) => {},
            _ = wait(term) => {},
        }
    }
}

/// A header value from a static string (for services building responses).
pub fn hv(s: &'static str) -> HeaderValue {
    HeaderValue::from_static(s)
}

#[cfg(test)]
mod health_tests {
    use super::*;

    async fn body(r: axum::response::Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[tokio::test]
    async fn health_names_the_part_that_is_down() {
        let up: Readiness = std::sync::Arc::new(Vec::new);
        let r = health(&up);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body(r).await["status"], "ok");

        let down: Readiness =
            std::sync::Arc::new(|| vec![("database", "postgres was killed".to_string())]);
        let r = health(&down);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let b = body(r).await;
        assert_eq!(b["status"], "unavailable");
        assert_eq!(b["down"]["database"], "postgres was killed");
    }

    #[tokio::test]
    async fn liveness_holds_while_the_database_is_down() {
        use tower::ServiceExt;
        let keys = ApiKeys::new(std::sync::Arc::new(basalt_identity::Keys::from_secret(
            "super-secret-jwt-token-with-at-least-32-characters",
        )));
        let down: Readiness =
            std::sync::Arc::new(|| vec![("database", "connection refused".to_string())]);
        let app = compose(keys, Vec::new(), down);
        let get = |path: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(
                    axum::http::Request::get(path)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap()
                .status()
            }
        };
        assert_eq!(get("/health/live").await, StatusCode::OK);
        assert_eq!(get("/health/ready").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get("/health").await, StatusCode::SERVICE_UNAVAILABLE);
    }
}
