//! The respond stage: an [`ActionPlan`] and the row its main statement answered become the
//! HTTP response (status, `Content-Range`, `Location`, `Content-Location`,
//! `Preference-Applied`, `Content-Type`, the body, and what SQL set in `response.headers` and
//! `response.status`), as PostgREST's `Response.hs`. Pure: unit-tested without a database.

mod body;
mod call;
mod gucs;
mod read;
#[cfg(test)]
mod tests;
mod write;

pub use body::{body_response, explain_response};
pub use gucs::apply_gucs;

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::action::ActionPlan;
use crate::db::Outcome;
use crate::error::{ApiError, Code};

/// The response to `plan`, given what its statements answered (`None` for a plan answered
/// without the database).
pub fn respond(plan: &ActionPlan<'_>, out: Option<Outcome>) -> Result<Response, ApiError> {
    let out = match (plan, out) {
        (ActionPlan::Info(i), _) => return Ok(allow_response(&i.allow)),
        (_, Some(out)) => out,
        (_, None) => return Err(ApiError::internal("the statement answered nothing")),
    };
    match plan {
        ActionPlan::Read(a) => read::respond(a, out),
        ActionPlan::Mutate(a) => write::respond(a, out),
        ActionPlan::Call(a) => call::respond(a, out),
        ActionPlan::Info(_) => unreachable!("answered above"),
    }
}

/// An `OPTIONS` answer: `Allow`, and `Access-Control-Allow-Origin: *` whatever the origin (the
/// methods a resource allows are no secret), as PostgREST answers it.
fn allow_response(allow: &str) -> Response {
    let mut r = Response::new(Body::from(""));
    if let Ok(v) = HeaderValue::from_str(allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// The `Vary` of every answered response (errors and CORS preflights have none): the request
/// headers that change the answer. A `Vary` the database set is kept instead.
pub fn default_vary(headers: &mut axum::http::HeaderMap) {
    if !headers.contains_key(header::VARY) {
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Prefer, Range"),
        );
    }
}

/// Set a header (values that are not valid header text are left out).
pub fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

/// `Content-Range` of `page` rows from `offset`, out of `total` when counted.
pub fn content_range(offset: i64, page: i64, total: Option<i64>) -> String {
    let t = total.map(|t| t.to_string()).unwrap_or_else(|| "*".into());
    if page <= 0 {
        format!("*/{t}")
    } else {
        format!("{}-{}/{t}", offset, offset + page - 1)
    }
}

/// 206 when the page holds fewer rows than the count, else 200.
fn page_status(page: i64, total: Option<i64>) -> StatusCode {
    match total {
        Some(t) if page < t => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    }
}

/// PGRST103 when the requested offset lies past the end of the `total` rows counted (an offset
/// equal to the total is an empty page, not an error). The error keeps the `Content-Range`
/// (`*/total`) and the `Preference-Applied` the page would have had.
fn out_of_bounds(
    offset: i64,
    total: Option<i64>,
    applied: Option<&String>,
) -> Result<(), ApiError> {
    match total {
        Some(t) if offset > t => {
            let mut e = ApiError::new(Code::InvalidRange, "Requested range not satisfiable")
                .with_details(format!(
                    "An offset of {offset} was requested, but there are only {t} rows."
                ));
            e.headers.push(("Content-Range".into(), format!("*/{t}")));
            if let Some(p) = applied {
                e.headers.push(("Preference-Applied".into(), p.clone()));
            }
            Err(e)
        }
        _ => Ok(()),
    }
}

/// PGRST116: a singular response over `n` rows.
pub fn singular_error(n: i64) -> ApiError {
    ApiError::new(
        Code::Singular,
        "Cannot coerce the result to a single JSON object",
    )
    .with_details(format!("The result contains {n} rows"))
}

/// A status with an empty body (no `Content-Type`).
fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// A response whose body is the raw bytes a statement produced.
fn bytes_response(content_type: &str, bytes: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(bytes));
    set(&mut r, "content-type", content_type);
    r
}
