//! Bodies by media type: the text the statement rendered (JSON, CSV, GeoJSON), `EXPLAIN` output.

use crate::request::Media;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A response with `body` (already rendered for `media` by the statement).
pub fn body_response(status: StatusCode, media: &Media, body: String) -> Response {
    let mut r = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(&media.content_type()) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// The `EXPLAIN` output asked for with `application/vnd.pgrst.plan`.
pub fn explain_response(media: &Media, plan: String) -> Response {
    let mut r = (StatusCode::OK, plan).into_response();
    if let Ok(v) = HeaderValue::from_str(&media.content_type()) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}
