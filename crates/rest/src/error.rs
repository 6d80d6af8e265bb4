//! Errors of the REST API and their HTTP form: PostgREST's `{code, message, details, hint}`
//! JSON with the status PostgREST uses. Every failure a request can meet becomes an [`ApiError`];
//! [`ApiError::into_response`] is the one place they turn into HTTP.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use basalt_pg::wire::{self, DbError};
use serde_json::{json, Value};

/// The error codes basalt answers itself (PostgREST's `PGRST…` codes, plus the one SQLSTATE
/// it raises without Postgres), each with its usual status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// PGRST000: The database could not be reached.
    DbConnection,
    /// PGRST001: The connection to the database failed mid-request.
    DbClient,
    /// PGRST003: No pooled connection came free in time.
    PoolTimeout,
    /// PGRST100: The query string does not parse.
    Parse,
    /// PGRST101: A function was called with a method other than GET or POST.
    RpcMethod,
    /// PGRST102: The request body is not what the request needs.
    InvalidBody,
    /// PGRST103: The requested range cannot be satisfied.
    InvalidRange,
    /// PGRST105: PUT used where it cannot upsert.
    InvalidPut,
    /// PGRST106: The profile names a schema that is not exposed.
    UnacceptableSchema,
    /// PGRST107: No representation matches the Accept or Content-Type header.
    MediaType,
    /// PGRST108: A filter or order names a resource the select does not embed.
    NotEmbedded,
    /// PGRST111: `response.headers` is not a JSON array of objects.
    ResponseHeaders,
    /// PGRST112: `response.status` is not a valid status code.
    ResponseStatus,
    /// PGRST114: PUT with limit or offset.
    PutLimit,
    /// PGRST115: PUT whose filters do not match the payload's primary key.
    PutPrimaryKey,
    /// PGRST116: A singular response was asked for and the result is not one row.
    Singular,
    /// PGRST117: The HTTP method is not supported on this resource.
    UnsupportedMethod,
    /// PGRST118: Ordering by a related resource that is not to-one.
    RelatedOrder,
    /// PGRST120: An embedded resource filter is not valid.
    EmbeddedFilter,
    /// PGRST121: `RAISE SQLSTATE 'PGRST'` carried JSON that does not parse.
    RaisePgrst,
    /// PGRST122: `Prefer: handling=strict` with invalid preferences.
    InvalidPreferences,
    /// PGRST123: Aggregate functions are disabled.
    AggregatesDisabled,
    /// PGRST124: More rows affected than `Prefer: max-affected` allows.
    MaxAffected,
    /// PGRST125: The resource path is not valid.
    InvalidPath,
    /// PGRST126: The OpenAPI root is disabled.
    OpenApiDisabled,
    /// PGRST127: A feature basalt does not implement (as PostgREST does not).
    NotImplemented,
    /// PGRST128: limit/offset on PATCH or DELETE of a view.
    LimitOnView,
    /// PGRST200: No relationship between the tables in the schema cache.
    NoRelationship,
    /// PGRST201: More than one relationship matches the embed.
    AmbiguousRelationship,
    /// PGRST202: No function matches the name and arguments.
    NoFunction,
    /// PGRST203: More than one function overload matches.
    AmbiguousFunction,
    /// PGRST204: A column is not in the schema cache.
    NoColumn,
    /// PGRST205: A table is not in the schema cache.
    NoTable,
    /// PGRST300: A token was sent and no key is configured.
    NoJwtSecret,
    /// PGRST301: The token does not verify.
    InvalidJwt,
    /// PGRST302: No token and no anonymous role.
    AnonDisabled,
    /// PGRST303: The token's claims refuse it (expired, audience, …).
    JwtClaims,
    /// 21000: UPDATE or DELETE without a filter on a table that requires one.
    SafeUpdate,
}

impl Code {
    /// The code as sent in the body.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::DbConnection => "PGRST000",
            Code::DbClient => "PGRST001",
            Code::PoolTimeout => "PGRST003",
            Code::Parse => "PGRST100",
            Code::RpcMethod => "PGRST101",
            Code::InvalidBody => "PGRST102",
            Code::InvalidRange => "PGRST103",
            Code::InvalidPut => "PGRST105",
            Code::UnacceptableSchema => "PGRST106",
            Code::MediaType => "PGRST107",
            Code::NotEmbedded => "PGRST108",
            Code::ResponseHeaders => "PGRST111",
            Code::ResponseStatus => "PGRST112",
            Code::PutLimit => "PGRST114",
            Code::PutPrimaryKey => "PGRST115",
            Code::Singular => "PGRST116",
            Code::UnsupportedMethod => "PGRST117",
            Code::RelatedOrder => "PGRST118",
            Code::EmbeddedFilter => "PGRST120",
            Code::RaisePgrst => "PGRST121",
            Code::InvalidPreferences => "PGRST122",
            Code::AggregatesDisabled => "PGRST123",
            Code::MaxAffected => "PGRST124",
            Code::InvalidPath => "PGRST125",
            Code::OpenApiDisabled => "PGRST126",
            Code::NotImplemented => "PGRST127",
            Code::LimitOnView => "PGRST128",
            Code::NoRelationship => "PGRST200",
            Code::AmbiguousRelationship => "PGRST201",
            Code::NoFunction => "PGRST202",
            Code::AmbiguousFunction => "PGRST203",
            Code::NoColumn => "PGRST204",
            Code::NoTable => "PGRST205",
            Code::NoJwtSecret => "PGRST300",
            Code::InvalidJwt => "PGRST301",
            Code::AnonDisabled => "PGRST302",
            Code::JwtClaims => "PGRST303",
            Code::SafeUpdate => "21000",
        }
    }

    /// The status PostgREST answers it with (a call site may override it).
    pub fn status(self) -> u16 {
        match self {
            Code::DbConnection => 503,
            Code::DbClient => 503,
            Code::PoolTimeout => 503,
            Code::Parse => 400,
            Code::RpcMethod => 405,
            Code::InvalidBody => 400,
            Code::InvalidRange => 416,
            Code::InvalidPut => 405,
            Code::UnacceptableSchema => 406,
            Code::MediaType => 406,
            Code::NotEmbedded => 400,
            Code::ResponseHeaders => 500,
            Code::ResponseStatus => 500,
            Code::PutLimit => 400,
            Code::PutPrimaryKey => 400,
            Code::Singular => 406,
            Code::UnsupportedMethod => 405,
            Code::RelatedOrder => 400,
            Code::EmbeddedFilter => 400,
            Code::RaisePgrst => 500,
            Code::InvalidPreferences => 400,
            Code::AggregatesDisabled => 400,
            Code::MaxAffected => 400,
            Code::InvalidPath => 404,
            Code::OpenApiDisabled => 404,
            Code::NotImplemented | Code::LimitOnView => 400,
            Code::NoRelationship => 400,
            Code::AmbiguousRelationship => 300,
            Code::NoFunction => 404,
            Code::AmbiguousFunction => 300,
            Code::NoColumn => 400,
            Code::NoTable => 404,
            Code::NoJwtSecret => 500,
            Code::InvalidJwt => 401,
            Code::AnonDisabled => 401,
            Code::JwtClaims => 401,
            Code::SafeUpdate => 400,
        }
    }
}

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
    /// An error of basalt's own, with the code's usual status.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError::raw(code.status(), code.as_str(), message)
    }

    /// An error with any code (a SQLSTATE passed on from Postgres) and status.
    fn raw(status: u16, code: &str, message: impl Into<String>) -> ApiError {
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
    /// Answer with another status than the code's usual one.
    pub fn with_status(mut self, status: u16) -> ApiError {
        self.status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self
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
        ApiError::new(Code::Parse, message).with_details(details)
    }
    /// PGRST102: bad request body.
    pub fn body(message: &str) -> ApiError {
        ApiError::new(Code::InvalidBody, message)
    }
    /// An internal failure the client cannot fix.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::DbConnection, message).with_status(500)
    }
    /// PGRST205: unknown table.
    pub fn table_not_found(schema: &str, table: &str) -> ApiError {
        ApiError::new(
            Code::NoTable,
            format!("Could not find the table '{schema}.{table}' in the schema cache"),
        )
    }
    /// PGRST204: unknown column.
    pub fn column_not_found(table: &str, column: &str) -> ApiError {
        ApiError::new(
            Code::NoColumn,
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
        } else if code == "22023"
            && e.message.starts_with("role")
            && e.message.ends_with("does not exist")
        {
            // A token naming a role the database does not have: a JWT error, as PostgREST 13+.
            401
        } else if code == "42883" && e.message.starts_with("function xmlagg(") {
            // An XML response asked of rows that have no XML aggregate.
            406
        } else if code == "21000" {
            if e.message.ends_with("requires a WHERE clause") {
                400
            } else {
                500
            }
        } else {
            status_for_sqlstate(code, authenticated)
        };
        let mut err = ApiError::raw(status, code, e.message.as_str());
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
                        Code::DbClient,
                        "Database client error. Retrying the connection.",
                    )
                    .with_details(e.to_string())
                } else {
                    ApiError::new(Code::DbConnection, "Database connection error")
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
                Code::DbClient,
                "Database client error. Retrying the connection.",
            )
            .with_details(e.to_string()),
            // A TLS handshake the server or its certificate refused: the connection is not
            // set up, as with a bad configuration.
            wire::Error::Config(_) | wire::Error::Tls(_) => {
                ApiError::new(Code::DbConnection, "Database connection error")
                    .with_details(e.to_string())
            }
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
        // terminating connection due to administrator command
        "57P01" => 503,
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
    const MESSAGE_HINT: &str = "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.";
    const DETAIL_HINT: &str = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
    let bad = |details: String, hint: &str| {
        ApiError::new(
            Code::RaisePgrst,
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
        )
        .with_details(details)
        .with_hint(hint)
    };
    let has = |v: &Value, keys: &[&str]| keys.iter().all(|k| v.get(k).is_some());
    let body: Value = match serde_json::from_str::<Value>(&e.message) {
        Ok(v @ Value::Object(_)) if v["code"].is_string() && v["message"].is_string() => v,
        _ => {
            return bad(
                format!("Invalid JSON value for MESSAGE: '{}'", e.message),
                MESSAGE_HINT,
            )
        }
    };
    let Some(detail) = e.detail.as_deref() else {
        return bad(
            "DETAIL is missing in the RAISE statement".into(),
            DETAIL_HINT,
        );
    };
    let detail: Value = match serde_json::from_str::<Value>(detail) {
        Ok(v @ Value::Object(_)) if has(&v, &["status", "headers"]) => v,
        _ => {
            return bad(
                format!("Invalid JSON value for DETAIL: '{detail}'"),
                DETAIL_HINT,
            )
        }
    };
    let status = detail
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(500);
    let mut err = ApiError::raw(status, "PGRST", "");
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
        // Every error names its code, as PostgREST: its own, a SQLSTATE, or the `code` a
        // function raised with `SQLSTATE 'PGRST'`.
        let code = match self.body.as_ref().and_then(|b| b.get("code")) {
            Some(Value::String(c)) => c.clone(),
            Some(Value::Null) | None => self.code.clone(),
            Some(other) => other.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&format!("PostgREST; error={code}")) {
            headers.insert(HeaderName::from_static("proxy-status"), v);
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
    fn every_error_names_its_code_in_proxy_status() {
        let proxy = |e: ApiError| {
            let r = e.into_response();
            let h = r
                .headers()
                .get("proxy-status")
                .and_then(|v| v.to_str().ok());
            h.map(str::to_string)
        };
        let own = ApiError::new(Code::InvalidPath, "Invalid path specified in request URL");
        assert_eq!(proxy(own).as_deref(), Some("PostgREST; error=PGRST125"));
        let db = DbError {
            code: "23505".into(),
            message: "duplicate key".into(),
            ..DbError::default()
        };
        let e = ApiError::from_db(&db, false);
        assert_eq!(proxy(e).as_deref(), Some("PostgREST; error=23505"));
        let raised = DbError {
            code: "PGRST".into(),
            message: r#"{"code":"123","message":"ABC"}"#.into(),
            detail: Some(r#"{"status":332,"headers":{}}"#.into()),
            ..DbError::default()
        };
        let e = ApiError::from_db(&raised, false);
        assert_eq!(proxy(e).as_deref(), Some("PostgREST; error=123"));
    }

    #[test]
    fn statuses() {
        assert_eq!(status_for_sqlstate("23505", false), 409);
        assert_eq!(status_for_sqlstate("42501", false), 401);
        assert_eq!(status_for_sqlstate("42501", true), 403);
        assert_eq!(status_for_sqlstate("22P02", true), 400);
        assert_eq!(status_for_sqlstate("XX000", true), 500);
        assert_eq!(status_for_sqlstate("08006", true), 503);
        assert_eq!(status_for_sqlstate("57P01", true), 503);
        assert_eq!(status_for_sqlstate("57014", true), 500);
    }

    #[test]
    fn body_shape() {
        let e = ApiError::new(Code::NoTable, "x").with_hint("h");
        assert_eq!(
            e.to_json(),
            json!({"code":"PGRST205","message":"x","details":null,"hint":"h"})
        );
    }

    #[test]
    fn a_token_naming_an_unknown_role_is_401() {
        let db = DbError {
            severity: "ERROR".into(),
            code: "22023".into(),
            message: "role \"nobody\" does not exist".into(),
            detail: None,
            hint: None,
        };
        let e = ApiError::from_db(&db, true);
        assert_eq!(e.status.as_u16(), 401);
        assert_eq!(e.code, "22023");
        let other = DbError {
            message: "invalid value for parameter \"TimeZone\": \"x\"".into(),
            ..db
        };
        assert_eq!(ApiError::from_db(&other, true).status.as_u16(), 400);
    }

    #[test]
    fn a_missing_xml_aggregate_is_406_other_missing_functions_404() {
        let db = DbError {
            severity: "ERROR".into(),
            code: "42883".into(),
            message: "function xmlagg(test.items) does not exist".into(),
            detail: None,
            hint: None,
        };
        assert_eq!(ApiError::from_db(&db, true).status.as_u16(), 406);
        let other = DbError {
            message: "function f(integer) does not exist".into(),
            ..db
        };
        assert_eq!(ApiError::from_db(&other, true).status.as_u16(), 404);
    }

    #[test]
    fn raised_pgrst_payloads_are_checked_as_postgrest_does() {
        let raise = |message: &str, detail: Option<&str>| {
            ApiError::from_db(
                &DbError {
                    severity: "ERROR".into(),
                    code: "PGRST".into(),
                    message: message.into(),
                    detail: detail.map(str::to_string),
                    hint: None,
                },
                true,
            )
        };
        let ok = raise(
            r#"{"code":"123","message":"ABC"}"#,
            Some(r#"{"status":404,"status_text":"My Not Found","headers":{"X-Header":"str"}}"#),
        );
        assert_eq!(ok.status.as_u16(), 404);
        assert_eq!(ok.reason.as_deref(), Some("My Not Found"));
        let e = raise("INVALID", Some(r#"{"status":404,"headers":{}}"#));
        assert_eq!(e.code, "PGRST121");
        assert_eq!(
            e.details.as_deref(),
            Some("Invalid JSON value for MESSAGE: 'INVALID'")
        );
        assert!(e
            .hint
            .as_deref()
            .is_some_and(|h| h.starts_with("MESSAGE must be")));
        let e = raise(
            r#"{"message":"no code"}"#,
            Some(r#"{"status":404,"headers":{}}"#),
        );
        assert!(e
            .hint
            .as_deref()
            .is_some_and(|h| h.starts_with("MESSAGE must be")));
        let e = raise(r#"{"code":"1","message":"m"}"#, Some("INVALID"));
        assert_eq!(
            e.details.as_deref(),
            Some("Invalid JSON value for DETAIL: 'INVALID'")
        );
        assert!(e
            .hint
            .as_deref()
            .is_some_and(|h| h.starts_with("DETAIL must be")));
        let e = raise(r#"{"code":"1","message":"m"}"#, Some(r#"{"status":404}"#));
        assert_eq!(e.code, "PGRST121", "headers are obligatory");
        let e = raise(r#"{"code":"1","message":"m"}"#, None);
        assert_eq!(
            e.details.as_deref(),
            Some("DETAIL is missing in the RAISE statement")
        );
    }
}
