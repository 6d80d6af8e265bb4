//! The response to a write: 201/200/204, `Content-Range`, `Location` for `return=headers-only`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{apply_gucs, body_response, content_range, empty, explain_response, set};
use crate::action::{MutateAction, Mutation};
use crate::db::Outcome;
use crate::error::ApiError;
use crate::main_statement::MainRow;
use crate::request::Return;

pub(super) fn respond(a: &MutateAction<'_>, out: Outcome) -> Result<Response, ApiError> {
    if let Some(p) = out.plan {
        return Ok(explain_response(&a.media, p));
    }
    let row = out.row;
    let status = status(a, &row);
    let mut resp = if a.ret == Return::Representation {
        body_response(status, &a.media, row.body.clone().unwrap_or_default())
    } else {
        empty(status)
    };
    // As PostgREST: updates say the range of rows they touched, inserts and deletes
    // `*/total`, a single-row PUT nothing.
    let total = a.count.then_some(row.page);
    match &a.mutation {
        Mutation::Put { .. } => {}
        Mutation::Update { .. } => set(
            &mut resp,
            "content-range",
            &content_range(0, row.page, total),
        ),
        Mutation::Insert { .. } | Mutation::Delete => {
            let t = total.map_or_else(|| "*".to_string(), |t| t.to_string());
            set(&mut resp, "content-range", &format!("*/{t}"))
        }
    }
    if let Some(loc) = row.location.as_deref().and_then(|l| location(a, l)) {
        set(&mut resp, "location", &loc);
    }
    if let Some(p) = &a.applied {
        set(&mut resp, "preference-applied", p);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}

/// 201 for rows created (200 for a merge that only updated), 200 with a representation, else
/// 204; a `PUT` without a representation has nothing to show.
fn status(a: &MutateAction<'_>, row: &MainRow) -> StatusCode {
    let put = matches!(a.mutation, Mutation::Put { .. });
    if put && a.ret != Return::Representation {
        StatusCode::NO_CONTENT
    } else if a.inserts() {
        let created = if a.track_inserts {
            row.inserted.unwrap_or(0) > 0 || !a.merge
        } else {
            a.created
        };
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        }
    } else if a.ret == Return::Representation {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    }
}

/// `/rel?pk=eq.v…` from the inserted row's primary key (`{"pk": v}` as the statement gave it).
fn location(a: &MutateAction<'_>, key: &str) -> Option<String> {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(key) else {
        return None;
    };
    let q: Vec<String> = a
        .rel
        .pk
        .iter()
        .map(|k| {
            let v = match m.get(k) {
                // A key column left null (a view over an outer join): `is.null`, as PostgREST.
                None | Some(Value::Null) => return format!("{k}=is.null"),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            let v = percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC);
            format!("{k}=eq.{v}")
        })
        .collect();
    Some(format!("/{}?{}", a.rel.qi.name, q.join("&")))
}
