//! The response to a read: 200 or 206 with `Content-Range`, 416 past the end.

use axum::http::StatusCode;
use axum::response::Response;

use super::{apply_gucs, body_response, bytes_response, content_range, explain_response, set};
use crate::action::ReadAction;
use crate::db::Outcome;
use crate::error::ApiError;
use crate::request::Count;

pub(super) fn respond(a: &ReadAction, out: Outcome) -> Result<Response, ApiError> {
    if let Some(h) = &a.custom {
        return custom(&h.media, out);
    }
    if let Some(p) = out.plan {
        return Ok(explain_response(&a.media, p));
    }
    let row = out.row;
    let total = match a.count {
        Some(Count::Planned) => out.planned,
        Some(Count::Estimated) => estimated_count(row.total, out.planned, a.max_rows),
        _ => row.total,
    };
    let offset = a.plan.offset;
    super::out_of_bounds(offset, total, a.applied.as_ref()).map_err(|mut e| {
        e.headers
            .push(("Content-Location".into(), a.location.clone()));
        e
    })?;
    let status = super::page_status(row.page, total);
    let mut resp = body_response(status, &a.media, row.body.clone().unwrap_or_default());
    set(
        &mut resp,
        "content-range",
        &content_range(offset, row.page, total),
    );
    set(&mut resp, "content-location", &a.location);
    if let Some(p) = &a.applied {
        set(&mut resp, "preference-applied", p);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}

/// A body a custom media handler's aggregate rendered: 200 with the handler's media type.
pub(super) fn custom(media: &str, out: Outcome) -> Result<Response, ApiError> {
    // A `*/*` handler names no type: bytes, unless its SQL sets `Content-Type`.
    let ct = crate::request::handler_content_type(media);
    let mut resp = bytes_response(&ct, out.row.bytes.clone().unwrap_or_default());
    *resp.status_mut() = StatusCode::OK;
    apply_gucs(&mut resp, &out.row)?;
    Ok(resp)
}

/// `count=estimated`: the exact count while it stays within max-rows, otherwise the larger of it
/// and the planner's estimate (without max-rows, always the larger of the two).
fn estimated_count(exact: Option<i64>, planned: Option<i64>, max_rows: Option<i64>) -> Option<i64> {
    match (exact, max_rows) {
        (Some(e), Some(m)) if e <= m => Some(e),
        (Some(e), _) => Some(planned.map_or(e, |p| p.max(e))),
        (None, _) => planned,
    }
}

#[cfg(test)]
mod tests {
    use super::estimated_count;

    #[test]
    fn estimated_count_is_exact_below_max_rows() {
        assert_eq!(estimated_count(Some(5), Some(900), Some(10)), Some(5));
        assert_eq!(estimated_count(Some(11), Some(900), Some(10)), Some(900));
        assert_eq!(estimated_count(Some(11), Some(3), Some(10)), Some(11));
        assert_eq!(estimated_count(Some(7), Some(9), None), Some(9));
        assert_eq!(estimated_count(Some(7), None, None), Some(7));
    }
}
