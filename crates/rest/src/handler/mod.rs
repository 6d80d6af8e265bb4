//! The request flow: parse → plan → build SQL → execute in one transaction → respond. One axum
//! handler serves every path below the mount point.

mod call;
mod read;
mod response;
mod root;
mod write;

use call::*;
use read::*;
use response::*;
use root::*;
use write::*;

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::app::App;
use crate::auth::{self, Identity};
use crate::config::{Cors, OpenApiMode, TxEnd};
use crate::db::{self, Job, MainRow, TxSettings};
use crate::error::{ApiError, Code};
use crate::main_statement::MainSelect;
use crate::mutate::{self, OnConflict};
use crate::plan::{Planner, ReadPlan, Source};
use crate::request::{
    self, Action, ApiRequest, Count, Media, Producer, QueryParams, Resolution, Return, Target,
};
use crate::rpc::{self, Args};
use crate::schema::{Qi, SchemaCache};
use crate::sql::{self, BodyShape, ReadOptions, Sql};

/// Durations for `Server-Timing`.
#[derive(Default)]
struct Timing {
    jwt: f64,
    parse: f64,
    plan: Option<f64>,
    transaction: Option<f64>,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Everything about the HTTP request the flow needs: the parsed request, its headers and body,
/// who is calling, and the schema cache the plan is made against.
struct Ctx<'a> {
    app: &'a App,
    req: ApiRequest,
    headers: &'a HeaderMap,
    body: Bytes,
    identity: Identity,
    cache: Arc<SchemaCache>,
}

/// The largest request body read.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// The axum entry point.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let trace = app.config.trace_header.as_ref().and_then(|h| {
        parts
            .headers
            .get(h.as_str())
            .map(|v| (h.clone(), v.clone()))
    });
    let mut timing = Timing::default();
    let is_head = parts.method == Method::HEAD;
    let mut resp = match process(&app, &parts, body, &mut timing).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let h = resp.headers_mut();
    if app.config.server_timing {
        let mut s = format!("jwt;dur={:.1}, parse;dur={:.1}", timing.jwt, timing.parse);
        if let Some(p) = timing.plan {
            s.push_str(&format!(", plan;dur={p:.1}"));
        }
        if let Some(t) = timing.transaction {
            s.push_str(&format!(", transaction;dur={t:.1}"));
        }
        s.push_str(&format!(", response;dur={:.1}", ms(started)));
        if let Ok(v) = HeaderValue::from_str(&s) {
            h.insert(HeaderName::from_static("server-timing"), v);
        }
    }
    if let Some((name, v)) = trace {
        if let Ok(n) = HeaderName::try_from(name.as_str()) {
            h.insert(n, v);
        }
    }
    if let Some(o) = origin {
        cors_headers(&app.config.cors, &o, h, false);
    }
    if is_head {
        let (parts, _) = resp.into_parts();
        let empty = futures::stream::empty::<Result<Bytes, std::convert::Infallible>>();
        let mut r = Response::from_parts(parts, Body::from_stream(empty));
        r.headers_mut().remove(header::CONTENT_LENGTH);
        return r;
    }
    resp
}

fn cors_headers(cors: &Cors, origin: &str, h: &mut HeaderMap, preflight: bool) {
    let allow = match cors {
        Cors::Off => return,
        Cors::AnyOrigin => "*".to_string(),
        Cors::Origins(list) => {
            if list.iter().any(|o| o == origin) {
                origin.to_string()
            } else {
                return;
            }
        }
    };
    let set = |h: &mut HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(HeaderName::from_static(k), v);
        }
    };
    set(h, "access-control-allow-origin", &allow);
    if allow != "*" {
        set(h, "access-control-allow-credentials", "true");
    }
    if preflight {
        set(
            h,
            "access-control-allow-methods",
            "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD",
        );
        set(
            h,
            "access-control-allow-headers",
            "Authorization, Content-Type, Accept, Accept-Language, Content-Language, Prefer, Range, Range-Unit, Accept-Profile, Content-Profile, apikey, x-client-info",
        );
        set(h, "access-control-max-age", "86400");
    } else {
        set(
            h,
            "access-control-expose-headers",
            "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit",
        );
    }
}

async fn process(
    app: &Arc<App>,
    parts: &http::request::Parts,
    body: Body,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let method = &parts.method;
    let path = parts.uri.path();
    let target = request::parse_target(path)?;
    // CORS preflight.
    if method == Method::OPTIONS
        && app.config.cors != Cors::Off
        && parts.headers.contains_key("access-control-request-method")
    {
        let mut r = StatusCode::OK.into_response();
        if let Some(o) = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            cors_headers(&app.config.cors, o, r.headers_mut(), true);
        }
        return Ok(r);
    }
    let t = Instant::now();
    let authz = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let identity = auth::authenticate(&app.config, app.verifier.as_ref(), authz)?;
    timing.jwt = ms(t);
    // The body is read only for a caller the token admits: a refused request costs no memory.
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::body("Empty or invalid json"))?;
    let t = Instant::now();
    let query = parts.uri.query().unwrap_or("");
    let req = ApiRequest::for_target(&app.config, method, target, path, query, &parts.headers)?;
    timing.parse = ms(t);
    let cache = app.cache();
    let ctx = Ctx {
        app,
        req,
        headers: &parts.headers,
        body,
        identity,
        cache,
    };
    let answer = match &ctx.req.action {
        Action::Info(target) => info(&ctx, target),
        Action::Root => root(&ctx, timing).await,
        Action::Read(name) => read(&ctx, name, timing).await,
        Action::Insert(name) => insert(&ctx, name, timing).await,
        Action::Update(name) => update(&ctx, name, timing).await,
        Action::Upsert(name) => put(&ctx, name, timing).await,
        Action::Delete(name) => delete(&ctx, name, timing).await,
        Action::Call(name) => call(&ctx, name, timing).await,
    };
    let mut resp = answer.map_err(|e| strict_timezone(&ctx.req, e))?;
    if let Some(p) = &ctx.req.profile_echo {
        if let Ok(v) = HeaderValue::from_str(p) {
            resp.headers_mut()
                .insert(HeaderName::from_static("content-profile"), v);
        }
    }
    Ok(resp)
}

/// With `handling=strict`, a time zone Postgres refused (it checks `Prefer: timezone=` when the
/// transaction sets it) is an invalid preference, as PostgREST answers it.
fn strict_timezone(req: &ApiRequest, e: ApiError) -> ApiError {
    match (&req.prefer.timezone, req.prefer.strict) {
        (Some(tz), true) if e.code == "22023" && e.message.contains("\"TimeZone\"") => {
            ApiError::new(
                Code::InvalidPreferences,
                "Invalid preferences given with handling=strict",
            )
            .with_details(format!("Invalid preferences: timezone={tz}"))
        }
        _ => e,
    }
}

/// `OPTIONS`: the methods the target allows, in `Allow`, as PostgREST lists them: `PUT` only
/// where a row can be inserted and updated by its primary key; `GET` on a function only when
/// it is not volatile.
fn info(ctx: &Ctx<'_>, target: &Target) -> Result<Response, ApiError> {
    let allow = match target {
        Target::Root => "OPTIONS,GET,HEAD".to_string(),
        Target::Rpc(name) => {
            let volatile = ctx
                .cache
                .routines
                .get(&Qi::new(&ctx.req.schema, name))
                .is_none_or(|overloads| overloads.iter().any(|r| r.is_volatile()));
            if volatile {
                "OPTIONS,POST"
            } else {
                "OPTIONS,GET,HEAD,POST"
            }
            .to_string()
        }
        Target::Relation(name) => {
            let Some(r) = ctx.cache.relations.get(&Qi::new(&ctx.req.schema, name)) else {
                return Err(ApiError::new(
                    Code::InvalidPath,
                    "Invalid path specified in request URL",
                ));
            };
            let mut m = vec!["OPTIONS,GET,HEAD"];
            if r.insertable {
                m.push("POST");
            }
            if r.insertable && r.updatable && !r.pk.is_empty() {
                m.push("PUT");
            }
            if r.updatable {
                m.push("PATCH");
            }
            if r.deletable {
                m.push("DELETE");
            }
            m.join(",")
        }
    };
    Ok(allow_response(&allow))
}

fn allow_response(allow: &str) -> Response {
    let mut r = Response::new(Body::from(""));
    if let Ok(v) = HeaderValue::from_str(allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

/// `request.headers` and `request.cookies` as JSON objects, written straight from the header map.
/// A name sent twice keeps its last value, as a JSON object read by Postgres does.
fn headers_json(headers: &HeaderMap) -> (String, String) {
    fn push_pair(out: &mut String, k: &str, v: &str) {
        out.push(if out.is_empty() { '{' } else { ',' });
        // Serialising a string cannot fail.
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    let mut h = String::with_capacity(512);
    let mut c = String::new();
    for (k, v) in headers {
        let Ok(v) = v.to_str() else { continue };
        if k == "cookie" {
            for pair in v.split(';') {
                if let Some((a, b)) = pair.trim().split_once('=') {
                    push_pair(&mut c, a, b);
                }
            }
            continue;
        }
        push_pair(&mut h, k.as_str(), v);
    }
    for out in [&mut h, &mut c] {
        if out.is_empty() {
            out.push('{');
        }
        out.push('}');
    }
    (h, c)
}

impl Ctx<'_> {
    fn settings(&self, read_only: bool) -> TxSettings {
        let mut search_path = vec![self.req.schema.clone()];
        for s in &self.app.config.extra_search_path {
            if !search_path.contains(s) {
                search_path.push(s.clone());
            }
        }
        let auth = self.app.config.auth_configured;
        let (headers, cookies) = if auth {
            headers_json(self.headers)
        } else {
            (String::new(), String::new())
        };
        TxSettings {
            identity: auth.then(|| self.identity.clone()),
            search_path,
            method: self.req.method.to_string(),
            path: self.req.path.clone(),
            headers,
            cookies,
            timezone: self.req.prefer.timezone.clone(),
            pre_request: if auth {
                self.app.config.pre_request.clone()
            } else {
                None
            },
            read_only,
            app_settings: self.app.config.app_settings.clone(),
        }
    }

    /// Commit or roll back once the main statement ran: singular responses need exactly one
    /// row, `handling=strict` with `max-affected` caps the rows touched.
    fn decide(
        &self,
        row: &MainRow,
        singular: bool,
        strict_max: Option<i64>,
    ) -> Result<bool, ApiError> {
        if singular && row.page != 1 {
            return Err(singular_error(row.page));
        }
        if let Some(m) = strict_max {
            if row.page > m {
                return Err(ApiError::new(
                    Code::MaxAffected,
                    "Query result exceeds max-affected preference constraint",
                )
                .with_details(format!("The query affects {} rows", row.page)));
            }
        }
        Ok(self.commits())
    }

    /// What `decide` checks on a statement's rows (singular media; strict max-affected), and
    /// the transaction's ending when there is nothing to check: it is then known before the
    /// statement runs and can join the pipeline.
    fn row_checks(&self, media: &Media) -> (bool, Option<i64>, Option<bool>) {
        let singular = media.is_singular();
        let strict_max = if self.req.prefer.strict {
            self.req.prefer.max_affected
        } else {
            None
        };
        let end = (!singular && strict_max.is_none()).then(|| self.commits());
        (singular, strict_max, end)
    }

    /// Whether the transaction commits, given `Prefer: tx=`.
    fn commits(&self) -> bool {
        match self.app.config.tx_end {
            TxEnd::Commit => true,
            TxEnd::Rollback => false,
            TxEnd::CommitAllowOverride => self.req.prefer.tx_commit.unwrap_or(true),
            TxEnd::RollbackAllowOverride => self.req.prefer.tx_commit.unwrap_or(false),
        }
    }

    fn tx_applied(&self) -> bool {
        matches!(
            self.app.config.tx_end,
            TxEnd::CommitAllowOverride | TxEnd::RollbackAllowOverride
        ) && self.req.prefer.tx_commit.is_some()
    }

    fn media(&self, producer: Producer) -> Result<Media, ApiError> {
        let accept = self
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        request::negotiate(accept, producer, self.app.config.plan_enabled)
    }

    /// The request's query parameters (PGRST100 when they do not parse).
    fn query_params(&self) -> Result<QueryParams, ApiError> {
        self.req.params().cloned()
    }

    /// `Preference-Applied` for the tokens `action` honoured.
    fn applied(&self, scope: request::PreferenceScope) -> Option<String> {
        let tx = self.tx_applied().then(|| self.commits());
        request::PreferenceApplied::new(&self.req.prefer, scope, tx).header()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_cookies_become_json_objects() {
        let mut h = HeaderMap::new();
        h.insert("x-quote", HeaderValue::from_static("a\"b\\c"));
        h.insert("cookie", HeaderValue::from_static("sid=1; theme=dark"));
        h.append("x-twice", HeaderValue::from_static("first"));
        h.append("x-twice", HeaderValue::from_static("second"));
        let (headers, cookies) = headers_json(&h);
        let headers: Value = serde_json::from_str(&headers).unwrap();
        assert_eq!(headers["x-quote"], "a\"b\\c");
        assert_eq!(headers["x-twice"], "second");
        assert!(headers.get("cookie").is_none());
        let cookies: Value = serde_json::from_str(&cookies).unwrap();
        assert_eq!(cookies, serde_json::json!({"sid": "1", "theme": "dark"}));
        assert_eq!(headers_json(&HeaderMap::new()), ("{}".into(), "{}".into()));
    }
}
