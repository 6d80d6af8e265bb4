//! Bodies by media type: JSON as Postgres rendered it, CSV from it, `EXPLAIN` output.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::request::Media;

/// A response with `body` rendered for `media`.
pub fn body_response(status: StatusCode, media: &Media, body: String) -> Response {
    let body = match media {
        Media::Csv => json_to_csv(&body),
        _ => body,
    };
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

/// Render a JSON array body as CSV.
pub fn json_to_csv(body: &str) -> String {
    let rows: Vec<Map<String, Value>> = serde_json::from_str(body).unwrap_or_default();
    let Some(first) = rows.first() else {
        return String::new();
    };
    let cols: Vec<String> = first.keys().cloned().collect();
    let esc = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = cols.iter().map(|c| esc(c)).collect::<Vec<_>>().join(",");
    for r in &rows {
        out.push('\n');
        let line: Vec<String> = cols
            .iter()
            .map(|c| match r.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => esc(s),
                Some(v) => esc(&v.to_string()),
            })
            .collect();
        out.push_str(&line.join(","));
    }
    out
}
