//! `response.headers` and `response.status` as SQL set them.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::error::{ApiError, Code};
use crate::main_statement::MainRow;

/// Apply `response.headers` / `response.status` set by SQL: a header named there replaces the
/// response's (`Set-Cookie` adds), the status replaces the response's status.
pub fn apply_gucs(resp: &mut Response, row: &MainRow) -> Result<(), ApiError> {
    if let Some(h) = &row.headers {
        let bad = || {
            ApiError::new(Code::ResponseHeaders, "response.headers guc must be a JSON array composed of objects with a single key and a string value",
            )
        };
        let v: Value = serde_json::from_str(h).map_err(|_| bad())?;
        let arr = v.as_array().ok_or_else(bad)?;
        let mut replaced: Vec<String> = Vec::new();
        for item in arr {
            let obj = item.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
            for (k, v) in obj {
                let v = v.as_str().ok_or_else(bad)?;
                let name = HeaderName::try_from(k.as_str()).map_err(|_| bad())?;
                let value = HeaderValue::from_str(v).map_err(|_| bad())?;
                if name == header::SET_COOKIE {
                    resp.headers_mut().append(name, value);
                } else {
                    if !replaced.contains(&k.to_ascii_lowercase()) {
                        resp.headers_mut().remove(&name);
                        replaced.push(k.to_ascii_lowercase());
                    }
                    resp.headers_mut().append(name, value);
                }
            }
        }
    }
    if let Some(s) = &row.status {
        let bad = || {
            ApiError::new(
                Code::ResponseStatus,
                "response.status guc must be a valid status code",
            )
        };
        let code: u16 = s.trim().parse().map_err(|_| bad())?;
        *resp.status_mut() = StatusCode::from_u16(code).map_err(|_| bad())?;
    }
    Ok(())
}
