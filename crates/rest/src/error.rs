//! Errors of the REST API and their HTTP form: PostgREST's `{code, message, details, hint}`
//! JSON with the status PostgREST uses. Every failure a request can meet becomes an [`ApiError`];
//! [`ApiError::into_response`] is the one place they turn into HTTP.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use basalt_pg::wire::{self, DbError};
use serde_json::{json, Value};

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
    /// Extra response headers (e.g. `WWW-Authenticate`).
    pub headers: Vec<(String, String)>,
    /// A body that replaces the standard one (`RAISE SQLSTATE 'PGRST'`).
    pub body: Option<Value>,
    /// A custom HTTP reason phrase (`status_text` of `RAISE SQLSTATE 'PGRST'`).
    pub reason: Option<String>,
}

impl ApiError {
    /// An error with a code, status and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_string(),
            message: message.into(),
            details: None,
            hint: None,
            headers: Vec::new(),
            body: None,
            reason: None,
        }
    }
    pub fn details(&self) -> Option<String> {
        self.details.clone()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn code(&self) -> &str {
        &self.code
    }
    /// Attach details.
    pub fn with_details(mut self, d: impl Into<String>) -> ApiError {
        self.details = Some(d.into());
        self
    }
    /// Attach a hint.
    pub fn with_hint(mut self, h: impl Into<String>) -> ApiError {
        self.hint = Some(h.into());
        self
    }
    /// PGRST100: the query string does not parse.
    pub fn parse(message: String, details: String) -> ApiError {
        ApiError::new(400, "PGRST100", message).with_details(details)
    }
    /// PGRST102: bad request body.
    pub fn body(message: &str) -> ApiError {
        ApiError::new(400, "PGRST102", message)
    }
    /// An internal failure the client cannot fix.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "PGRST000", message)
    }
    /// PGRST205: unknown table.
    pub fn table_not_found(schema: &str, table: &str) -> ApiError {
        ApiError::new(
            404,
            "PGRST205",
            format!("Could not find the table '{schema}.{table}' in the schema cache"),
        )
    }
    /// PGRST204: unknown column.
    pub fn column_not_found(table: &str, column: &str) -> ApiError {
        ApiError::new(
            400,
            "PGRST204",
            format!("Could not find the '{column}' column of '{table}' in the schema cache"),
        )
    }

    /// Map a database error. `authenticated` tells 42501 apart: 401 for the anonymous role, 403
    /// for a role that came from a JWT.
    pub fn from_db(e: &DbError, authenticated: bool) -> ApiError {
        let code = e.code.as_str();
        if code == "PGRST" {
            return raise_pgrst(e);
        }
        let status = if let Some(rest) = code.strip_prefix("PT") {
            rest.parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s))
                .unwrap_or(500)
        } else if code == "21000" {
            if e.message.ends_with("requires a WHERE clause") {
                400
            } else {
                500
            }
        } else {
            status_for_sqlstate(code, authenticated)
        };
        let mut err = ApiError::new(status, code, e.message.as_str());
        err.details = e.detail.clone();
        err.hint = e.hint.clone();
        if status == 401 {
            err.headers
                .push(("WWW-Authenticate".into(), "Bearer".into()));
        }
        err
    }

    /// Map a driver error (connection trouble or a database error).
    pub fn from_pg(e: &tokio_postgres::Error, authenticated: bool) -> ApiError {
        match e.as_db_error() {
            Some(db) => ApiError::from_db(
                &DbError {
                    severity: db.severity().to_string(),
                    code: db.code().code().to_string(),
                    message: db.message().to_string(),
                    detail: db.detail().map(str::to_string),
                    hint: db.hint().map(str::to_string),
                },
                authenticated,
            ),
            None => {
                if e.is_closed() {
                    ApiError::new(
                        503,
                        "PGRST001",
                        "Database client error. Retrying the connection.",
                    )
                    .with_details(e.to_string())
                } else {
                    ApiError::new(503, "PGRST000", "Database connection error")
                        .with_details(e.to_string())
                }
            }
        }
    }

    /// Map an error of the request connection (a database error, or connection trouble).
    pub fn from_wire(e: &wire::Error, authenticated: bool) -> ApiError {
        match e {
            wire::Error::Db(db) => ApiError::from_db(db, authenticated),
            wire::Error::Io(_) | wire::Error::Protocol(_) => ApiError::new(
                503,
                "PGRST001",
                "Database client error. Retrying the connection.",
            )
            .with_details(e.to_string()),
            wire::Error::Config(_) => ApiError::new(503, "PGRST000", "Database connection error")
                .with_details(e.to_string()),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        if let Some(b) = &self.body {
            return b.clone();
        }
        json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        })
    }
}

/// PostgREST's SQLSTATE → HTTP status table.
pub fn status_for_sqlstate(code: &str, authenticated: bool) -> u16 {
    match code {
        "23503" | "23505" => 409,
        "25006" => 405,
        "42883" | "42P01" => 404,
        "42P17" => 500,
        "42501" => {
            if authenticated {
                403
            } else {
                401
            }
        }
        "53400" => 500,
        "57014" => 500,
        "P0001" => 400,
        _ => {
            let class = &code[..code.len().min(2)];
            match class {
                "08" => 503,
                "09" => 500,
                "0L" | "0P" => 403,
                "23" => 400,
                "25" => 500,
                "28" => 403,
                "2D" => 500,
                "38" | "39" | "3B" => 500,
                "40" => 500,
                "53" => 503,
                "54" => 500,
                "55" => 500,
                "57" => 500,
                "58" => 500,
                "F0" | "HV" | "XX" => 500,
                "P0" => 500,
                _ => 400,
            }
        }
    }
}

/// `RAISE SQLSTATE 'PGRST' USING message = '{json}', detail = '{"status":…,"headers":…}'`.
fn raise_pgrst(e: &DbError) -> ApiError {
    let parse_hint = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
    let bad = |details: String| {
        ApiError::new(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
        )
        .with_details(details)
        .with_hint(parse_hint)
    };
    let body: Value = match serde_json::from_str::<Value>(&e.message) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad(format!("Invalid JSON value for MESSAGE: '{}'", e.message)),
    };
    let Some(detail) = e.detail.as_deref() else {
        return bad("DETAIL is missing in the RAISE statement".into());
    };
    let detail: Value = match serde_json::from_str::<Value>(detail) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad(format!("Invalid JSON value for DETAIL: '{detail}'")),
    };
    let status = detail
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(500);
    let mut err = ApiError::new(status, "PGRST", "");
    let b = json!({
        "code": body.get("code").cloned().unwrap_or(Value::Null),
        "message": body.get("message").cloned().unwrap_or(Value::Null),
        "details": body.get("details").cloned().unwrap_or(Value::Null),
        "hint": body.get("hint").cloned().unwrap_or(Value::Null),
    });
    err.body = Some(b);
    err.reason = detail
        .get("status_text")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(Value::Object(h)) = detail.get("headers") {
        for (k, v) in h {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            err.headers.push((k.clone(), v));
        }
    }
    err
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.to_json().to_string();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if self.code.starts_with("PGRST") && self.body.is_none() {
            if let Ok(v) = HeaderValue::from_str(&format!("PostgREST; error={}", self.code)) {
                headers.insert(HeaderName::from_static("proxy-status"), v);
            }
        }
        for (k, v) in &self.headers {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
                headers.append(n, v);
            }
        }
        let mut resp = (self.status, headers, body).into_response();
        if let Some(reason) = self.reason {
            if let Ok(r) = hyper::ext::ReasonPhrase::try_from(reason.into_bytes()) {
                resp.extensions_mut().insert(r);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_for_sqlstate("23505", false), 409);
        assert_eq!(status_for_sqlstate("42501", false), 401);
        assert_eq!(status_for_sqlstate("42501", true), 403);
        assert_eq!(status_for_sqlstate("22P02", true), 400);
        assert_eq!(status_for_sqlstate("XX000", true), 500);
        assert_eq!(status_for_sqlstate("08006", true), 503);
    }

    #[test]
    fn body_shape() {
        let e = ApiError::new(404, "PGRST205", "x").with_hint("h");
        assert_eq!(
            e.to_json(),
            json!({"code":"PGRST205","message":"x","details":null,"hint":"h"})
        );
    }
}
