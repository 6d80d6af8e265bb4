//! The response to a function call: 204 for void (or `return=minimal`), raw bytes for
//! octet-stream/text results, otherwise JSON with `Content-Range`.

use axum::http::StatusCode;
use axum::response::Response;

use super::{
    apply_gucs, body_response, bytes_response, content_range, empty, explain_response, page_status,
    set,
};
use crate::action::CallAction;
use crate::db::Outcome;
use crate::error::ApiError;

pub(super) fn respond(a: &CallAction, out: Outcome) -> Result<Response, ApiError> {
    if let Some(h) = &a.custom {
        return super::read::custom(&h.media, out);
    }
    if let Some(p) = out.plan {
        return Ok(explain_response(&a.media, p));
    }
    let row = out.row;
    let mut resp = if a.routine.returns_void || (a.minimal && !a.raw_body) {
        empty(StatusCode::NO_CONTENT)
    } else if a.raw_body {
        bytes_response(
            &a.media.content_type(),
            row.bytes.clone().unwrap_or_default(),
        )
    } else {
        super::out_of_bounds(a.offset(), row.total, a.applied.as_ref())?;
        let status = page_status(row.page, row.total);
        let mut r = body_response(status, &a.media, row.body.clone().unwrap_or_default());
        set(
            &mut r,
            "content-range",
            &content_range(a.offset(), row.page, row.total),
        );
        r
    };
    if let Some(p) = &a.applied {
        set(&mut resp, "preference-applied", p);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}
