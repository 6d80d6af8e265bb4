//! The dashboard's files, embedded in the binary.

use axum::extract::{Path, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue, StatusCode};

use crate::Shared;

/// Every file under `assets/`: its name and contents.
const FILES: &[(&str, &str)] = &[
    ("index.html", include_str!("../assets/index.html")),
    ("style.css", include_str!("../assets/style.css")),
    ("app.js", include_str!("../assets/app.js")),
    ("ui.js", include_str!("../assets/ui.js")),
    ("tables.js", include_str!("../assets/tables.js")),
    ("sql.js", include_str!("../assets/sql.js")),
    ("users.js", include_str!("../assets/users.js")),
    ("storage.js", include_str!("../assets/storage.js")),
    ("database.js", include_str!("../assets/database.js")),
    ("backups.js", include_str!("../assets/backups.js")),
    ("realtime.js", include_str!("../assets/realtime.js")),
    ("advisors.js", include_str!("../assets/advisors.js")),
    ("logs.js", include_str!("../assets/logs.js")),
    ("apidocs.js", include_str!("../assets/apidocs.js")),
    ("favicon.svg", include_str!("../assets/favicon.svg")),
];

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => (
            [
                (header::CONTENT_TYPE, content_type(n)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { file("index.html") }))
        .route(
            "/assets/{name}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
        .route("/favicon.ico", get(|| async { file("favicon.svg") }))
}

/// A strict Content-Security-Policy (own scripts and styles only) and the usual hardening
/// headers on every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}
