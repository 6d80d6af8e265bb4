//! The request flow: parse → plan → build SQL → execute in one transaction → respond. One axum
//! handler serves every path below the mount point.

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
use crate::error::ApiError;
use crate::mutate::{self, OnConflict};
use crate::plan::{Planner, ReadPlan, Source};
use crate::request::{
    self, Count, Media, Prefer, Producer, QueryParams, Resolution, Return, Target,
};
use crate::rpc::{self, Args};
use crate::schema::{Qi, SchemaCache};
use crate::sql::{self, BodyShape, ReadOptions, Sql, GUC_COLUMNS};

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

/// Everything about the HTTP request the flow needs.
struct Ctx<'a> {
    app: &'a App,
    method: Method,
    headers: &'a HeaderMap,
    path: String,
    query: String,
    body: Bytes,
    schema: String,
    profile_echo: Option<String>,
    identity: Identity,
    prefer: Prefer,
    cache: Arc<SchemaCache>,
}

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
    let body = match axum::body::to_bytes(body, 256 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return ApiError::body("Empty or invalid json").into_response(),
    };
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
    body: Bytes,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let target = request::parse_target(&path)?;
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
    let t = Instant::now();
    let (schema, profile_echo) = match target {
        Target::Root => (app.config.schemas[0].clone(), None),
        _ => request::resolve_schema(&app.config, &method, &parts.headers)?,
    };
    let prefer = Prefer::parse(&parts.headers);
    if prefer.strict && !prefer.invalid.is_empty() {
        return Err(ApiError::new(
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
        )
        .with_details(format!(
            "Invalid preferences: {}",
            prefer.invalid.join(", ")
        )));
    }
    timing.parse = ms(t);
    let ctx = Ctx {
        app,
        method: method.clone(),
        headers: &parts.headers,
        path,
        query,
        body,
        schema,
        profile_echo,
        identity,
        prefer,
        cache: app.cache(),
    };
    let mut resp = match (&target, &method) {
        (Target::Root, &Method::OPTIONS) => allow_response("OPTIONS,GET,HEAD"),
        (Target::Root, &Method::GET) | (Target::Root, &Method::HEAD) => root(&ctx, timing).await?,
        (Target::Root, _) => {
            return Err(ApiError::new(
                405,
                "PGRST117",
                format!("Unsupported HTTP method: {method}"),
            ))
        }
        (Target::Relation(name), &Method::OPTIONS) => {
            let rel = ctx.cache.relations.get(&Qi::new(&ctx.schema, name));
            let allow = match rel {
                Some(r) if r.is_view => {
                    let mut m = vec!["OPTIONS", "GET", "HEAD"];
                    if r.insertable {
                        m.push("POST");
                    }
                    if r.updatable {
                        m.extend(["PUT", "PATCH"]);
                    }
                    if r.deletable {
                        m.push("DELETE");
                    }
                    m.join(",")
                }
                Some(_) => "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE".to_string(),
                None => return Err(ApiError::table_not_found(&ctx.schema, name)),
            };
            allow_response(&allow)
        }
        (Target::Relation(name), &Method::GET) | (Target::Relation(name), &Method::HEAD) => {
            read(&ctx, name, timing).await?
        }
        (Target::Relation(name), &Method::POST) => insert(&ctx, name, timing).await?,
        (Target::Relation(name), &Method::PATCH) => update(&ctx, name, timing).await?,
        (Target::Relation(name), &Method::PUT) => put(&ctx, name, timing).await?,
        (Target::Relation(name), &Method::DELETE) => delete(&ctx, name, timing).await?,
        (Target::Relation(_), m) => {
            return Err(ApiError::new(
                405,
                "PGRST117",
                format!("Unsupported HTTP method: {m}"),
            ))
        }
        (Target::Rpc(_), &Method::OPTIONS) => allow_response("OPTIONS,GET,HEAD,POST"),
        (Target::Rpc(name), &Method::GET)
        | (Target::Rpc(name), &Method::HEAD)
        | (Target::Rpc(name), &Method::POST) => call(&ctx, name, timing).await?,
        (Target::Rpc(_), m) => {
            return Err(ApiError::new(
                405,
                "PGRST101",
                format!("Cannot use the {m} method on RPC"),
            ))
        }
    };
    if let Some(p) = &ctx.profile_echo {
        if let Ok(v) = HeaderValue::from_str(p) {
            resp.headers_mut()
                .insert(HeaderName::from_static("content-profile"), v);
        }
    }
    Ok(resp)
}

fn allow_response(allow: &str) -> Response {
    let mut r = Response::new(Body::from(""));
    if let Ok(v) = HeaderValue::from_str(allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

impl Ctx<'_> {
    fn settings(&self, read_only: bool) -> TxSettings {
        let mut search_path = vec![self.schema.clone()];
        for s in &self.app.config.extra_search_path {
            if !search_path.contains(s) {
                search_path.push(s.clone());
            }
        }
        let auth = self.app.config.auth_configured;
        let mut headers = Map::new();
        let mut cookies = Map::new();
        if auth {
            for (k, v) in self.headers {
                if let Ok(v) = v.to_str() {
                    let k = k.as_str().to_ascii_lowercase();
                    if k == "cookie" {
                        for c in v.split(';') {
                            if let Some((a, b)) = c.trim().split_once('=') {
                                cookies.insert(a.to_string(), Value::String(b.to_string()));
                            }
                        }
                        continue;
                    }
                    headers.insert(k, Value::String(v.to_string()));
                }
            }
        }
        TxSettings {
            identity: auth.then(|| self.identity.clone()),
            search_path,
            method: self.method.to_string(),
            path: self.path.clone(),
            headers,
            cookies,
            timezone: self.prefer.timezone.clone(),
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
                    400,
                    "PGRST124",
                    "Query result exceeds max-affected preference constraint",
                )
                .with_details(format!("The query affects {} rows", row.page)));
            }
        }
        Ok(self.commits())
    }

    /// Whether the transaction commits, given `Prefer: tx=`.
    fn commits(&self) -> bool {
        match self.app.config.tx_end {
            TxEnd::Commit => true,
            TxEnd::Rollback => false,
            TxEnd::CommitAllowOverride => self.prefer.tx_commit.unwrap_or(true),
            TxEnd::RollbackAllowOverride => self.prefer.tx_commit.unwrap_or(false),
        }
    }

    fn tx_applied(&self) -> bool {
        matches!(
            self.app.config.tx_end,
            TxEnd::CommitAllowOverride | TxEnd::RollbackAllowOverride
        ) && self.prefer.tx_commit.is_some()
    }

    fn media(&self, producer: Producer) -> Result<Media, ApiError> {
        let accept = self
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        request::negotiate(accept, producer, self.app.config.plan_enabled)
    }

    fn query_params(&self, rpc: bool) -> Result<QueryParams, ApiError> {
        request::parse_query(&request::query_pairs(&self.query), rpc)
    }

    /// `Preference-Applied` for the tokens that took effect.
    fn applied(&self, resolution: bool, ret: bool, count: bool, extra: bool) -> Option<String> {
        let p = &self.prefer;
        let mut out = Vec::new();
        if p.single_object {
            out.push("params=single-object".to_string());
        }
        if resolution {
            match p.resolution {
                Some(Resolution::MergeDuplicates) => out.push("resolution=merge-duplicates".into()),
                Some(Resolution::IgnoreDuplicates) => {
                    out.push("resolution=ignore-duplicates".into())
                }
                None => {}
            }
        }
        if p.missing_default && resolution {
            out.push("missing=default".into());
        }
        if ret {
            match p.return_ {
                Some(Return::Representation) => out.push("return=representation".into()),
                Some(Return::Minimal) => out.push("return=minimal".into()),
                Some(Return::HeadersOnly) => out.push("return=headers-only".into()),
                None => {}
            }
        }
        if count {
            match p.count {
                Some(Count::Exact) => out.push("count=exact".into()),
                Some(Count::Planned) => out.push("count=planned".into()),
                Some(Count::Estimated) => out.push("count=estimated".into()),
                None => {}
            }
        }
        if self.tx_applied() {
            out.push(
                if self.commits() {
                    "tx=commit"
                } else {
                    "tx=rollback"
                }
                .into(),
            );
        }
        if extra {
            if p.strict {
                out.push("handling=strict".into());
            } else if p.lenient {
                out.push("handling=lenient".into());
            }
        }
        if let Some(tz) = &p.timezone {
            out.push(format!("timezone={tz}"));
        }
        if extra {
            if let Some(n) = p.max_affected {
                if p.strict {
                    out.push(format!("max-affected={n}"));
                }
            }
        }
        (!out.is_empty()).then(|| out.join(", "))
    }
}

/// Apply `response.headers` / `response.status` set by SQL.
fn apply_gucs(resp: &mut Response, row: &MainRow) -> Result<(), ApiError> {
    if let Some(h) = &row.headers {
        let bad = || {
            ApiError::new(
                500,
                "PGRST111",
                "response.headers guc must be a JSON array composed of objects with a single key and a string value",
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
        let code: u16 = s.trim().parse().map_err(|_| {
            ApiError::new(
                500,
                "PGRST112",
                "response.status guc must be a valid status code",
            )
        })?;
        *resp.status_mut() = StatusCode::from_u16(code).map_err(|_| {
            ApiError::new(
                500,
                "PGRST112",
                "response.status guc must be a valid status code",
            )
        })?;
    }
    Ok(())
}

fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

fn content_range(offset: i64, page: i64, total: Option<i64>) -> String {
    let t = total.map(|t| t.to_string()).unwrap_or_else(|| "*".into());
    if page <= 0 {
        format!("*/{t}")
    } else {
        format!("{}-{}/{t}", offset, offset + page - 1)
    }
}

/// The main SELECT over `_postgrest_t` rows.
fn main_select(
    total: &str,
    body: &str,
    location: &str,
    inserted: &str,
    from: &str,
    with: &str,
) -> String {
    format!(
        "{with}SELECT {total}::int8 AS \"total\", pg_catalog.count(\"_postgrest_t\")::int8 AS \"page_total\", {body} AS \"body\", {GUC_COLUMNS}, {location}::text AS \"location\", {inserted}::int8 AS \"inserted\", NULL::bytea AS \"body_bytes\" FROM ({from}) AS \"_postgrest_t\""
    )
}

/// A custom media handler (aggregate) the `Accept` header asks for on `rel`: the first accepted
/// type that has one, unless a built-in type is accepted before it.
fn custom_handler(ctx: &Ctx<'_>, rel: Option<&Qi>) -> Option<crate::schema::MediaHandler> {
    if ctx.cache.media_handlers.is_empty() {
        return None;
    }
    let accept = ctx
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    for item in accept.split(',') {
        let ty = item
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let mut found: Vec<&crate::schema::MediaHandler> = ctx
            .cache
            .media_handlers
            .iter()
            .filter(|h| h.media == ty && (h.target.is_none() || h.target.as_ref() == rel))
            .collect();
        found.sort_by_key(|h| h.target.is_none());
        if let Some(h) = found.first() {
            return Some((*h).clone());
        }
        if request::negotiate(Some(&ty), Producer::Relation, ctx.app.config.plan_enabled).is_ok() {
            return None;
        }
    }
    None
}

/// Run a read whose rows a custom aggregate renders; the body is the aggregate's value.
async fn custom_media(
    ctx: &Ctx<'_>,
    handler: &crate::schema::MediaHandler,
    mut plan: ReadPlan,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    plan.items = vec![crate::plan::Item::WholeRow];
    let mut sql = Sql::default();
    let from = sql::read_sql(&mut sql, &ctx.cache, &plan, None, ReadOptions::default());
    let value = format!(
        "{}(\"_postgrest_t\".\"pgrst_row\")",
        sql::qi(&handler.aggregate)
    );
    let bytes = match handler.base.as_str() {
        "jsonb" => format!("jsonb_send({value}::jsonb)"),
        "bytea" => format!("{value}::bytea"),
        _ => format!("convert_to({value}::text, 'UTF8')"),
    };
    sql.text = format!(
        "SELECT NULL::int8, pg_catalog.count(*)::int8, NULL::text, {GUC_COLUMNS}, NULL::text, NULL::int8, {bytes} FROM ({from}) AS \"_postgrest_t\""
    );
    let job = Job {
        main: sql,
        planned: None,
        explain: None,
    };
    let t = Instant::now();
    let out = db::run(
        &ctx.app.pool,
        &ctx.app.gens,
        &ctx.settings(true),
        &job,
        ctx.identity.authenticated,
        |row, _| ctx.decide(row, false, None),
    )
    .await?;
    timing.transaction = Some(ms(t));
    let mut resp = (StatusCode::OK, out.row.bytes.clone().unwrap_or_default()).into_response();
    let ct = if handler.media == "application/json" {
        "application/json; charset=utf-8".to_string()
    } else {
        handler.media.clone()
    };
    set(&mut resp, "content-type", &ct);
    apply_gucs(&mut resp, &out.row)?;
    Ok(resp)
}

/// The body expression for `media` (GeoJSON needs PostGIS).
fn body_for(ctx: &Ctx<'_>, media: &Media) -> Result<String, ApiError> {
    match media {
        Media::GeoJson => {
            let Some(schema) = &ctx.cache.postgis else {
                return Err(ApiError::new(
                    406,
                    "PGRST107",
                    "None of these media types are available: application/geo+json",
                ));
            };
            Ok(format!(
                "json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg({}.st_asgeojson(\"_postgrest_t\")::json), '[]'))::text",
                sql::ident(schema)
            ))
        }
        _ => Ok(sql::body_expr(shape_of(media)).to_string()),
    }
}

fn shape_of(media: &Media) -> BodyShape {
    match media {
        Media::Object { strip_nulls } => BodyShape::Object {
            strip_nulls: *strip_nulls,
        },
        Media::ArrayStripped => BodyShape::ArrayStripped,
        Media::Plan { for_media, .. } if for_media.contains("object") => {
            BodyShape::Object { strip_nulls: false }
        }
        _ => BodyShape::Array,
    }
}

fn singular_error(n: i64) -> ApiError {
    ApiError::new(
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
    )
    .with_details(format!("The result contains {n} rows"))
}

/// Render a JSON array body as CSV.
fn json_to_csv(body: &str) -> String {
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

fn body_response(status: StatusCode, media: &Media, body: String) -> Response {
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

fn explain_response(media: &Media, plan: String) -> Response {
    let mut r = (StatusCode::OK, plan).into_response();
    if let Ok(v) = HeaderValue::from_str(&media.content_type()) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn plan_job(media: &Media) -> Option<(bool, Vec<String>)> {
    match media {
        Media::Plan { json, options, .. } => Some((*json, options.clone())),
        _ => None,
    }
}

async fn read(ctx: &Ctx<'_>, name: &str, timing: &mut Timing) -> Result<Response, ApiError> {
    let t = Instant::now();
    // An unacceptable media type is reported before an unknown relation, unless a custom
    // handler of the relation produces it.
    let media = ctx.media(Producer::Relation);
    let rel = match Planner::new(&ctx.cache, &ctx.schema, false).relation(name) {
        Ok(r) => r.qi.clone(),
        Err(e) => {
            media?;
            return Err(e);
        }
    };
    let custom = custom_handler(ctx, Some(&rel));
    let media = match (media, &custom) {
        (Ok(m), _) => m,
        (Err(_), Some(_)) => Media::Json,
        (Err(e), None) => return Err(e),
    };
    let mut q = ctx.query_params(false)?;
    let range = request::parse_range(ctx.headers)?;
    if let Some((from, to)) = range {
        q.offset.retain(|(p, _)| !p.is_empty());
        q.limit.retain(|(p, _)| !p.is_empty());
        q.offset.push((vec![], from));
        if let Some(to) = to {
            q.limit.push((vec![], to - from + 1));
        }
    }
    let mut planner = Planner::new(&ctx.cache, &ctx.schema, ctx.app.config.aggregates_enabled);
    let plan = planner.read(Source::Relation(rel.clone()), Some(rel.clone()), &q, true)?;
    if let Some(h) = custom {
        return custom_media(ctx, &h, plan, timing).await;
    }
    let max_rows = ctx.app.config.max_rows_for(&ctx.schema);
    let mut sql = Sql::default();
    let from = sql::read_sql(
        &mut sql,
        &ctx.cache,
        &plan,
        None,
        ReadOptions {
            max_rows,
            ..Default::default()
        },
    );
    let total = match ctx.prefer.count {
        Some(Count::Exact) | Some(Count::Estimated) => {
            let inner = sql::read_sql(
                &mut sql,
                &ctx.cache,
                &plan,
                None,
                ReadOptions {
                    skip_paging: true,
                    ..Default::default()
                },
            );
            format!("(SELECT pg_catalog.count(*) FROM ({inner}) AS \"pgrst_c\")")
        }
        _ => "NULL".to_string(),
    };
    let body = body_for(ctx, &media)?;
    sql.text = main_select(&total, &body, "NULL", "NULL", &from, "");
    let planned = if ctx.prefer.count == Some(Count::Planned) {
        let mut p = Sql::default();
        let inner = sql::read_sql(
            &mut p,
            &ctx.cache,
            &plan,
            None,
            ReadOptions {
                skip_paging: true,
                ..Default::default()
            },
        );
        p.text = format!("EXPLAIN (FORMAT JSON) {inner}");
        Some(p)
    } else {
        None
    };
    timing.plan = Some(ms(t));
    let job = Job {
        main: sql,
        planned,
        explain: plan_job(&media),
    };
    let t = Instant::now();
    let singular = media.is_singular();
    let out = db::run(
        &ctx.app.pool,
        &ctx.app.gens,
        &ctx.settings(true),
        &job,
        ctx.identity.authenticated,
        |row, _| ctx.decide(row, singular, None),
    )
    .await?;
    timing.transaction = Some(ms(t));
    if let Some(p) = out.plan {
        return Ok(explain_response(&media, p));
    }
    let row = out.row;
    let total = match ctx.prefer.count {
        Some(Count::Planned) => out.planned,
        _ => row.total,
    };
    let offset = plan.offset;
    if let Some(t) = total {
        if offset > 0 && offset >= t && row.page == 0 {
            let mut e = ApiError::new(416, "PGRST103", "Requested range not satisfiable")
                .with_details(format!(
                    "An offset of {offset} was requested, but there are only {t} rows."
                ));
            e.headers.push(("Content-Range".into(), format!("*/{t}")));
            return Err(e);
        }
    }
    let status = match total {
        Some(t) if row.page < t => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    };
    let mut resp = body_response(status, &media, row.body.clone().unwrap_or_default());
    set(
        &mut resp,
        "content-range",
        &content_range(offset, row.page, total),
    );
    let mut pairs = request::query_pairs(&ctx.query);
    pairs.sort();
    let loc = if pairs.is_empty() {
        format!("/{name}")
    } else {
        format!(
            "/{name}?{}",
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        )
    };
    set(&mut resp, "content-location", &loc);
    if let Some(a) = ctx.applied(false, false, true, false) {
        set(&mut resp, "preference-applied", &a);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}

/// Parse the request body as rows for `rel`.
fn payload(ctx: &Ctx<'_>, q: &QueryParams) -> Result<mutate::Payload, ApiError> {
    let ct = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if ct.starts_with("text/csv") {
        mutate::csv_payload(&ctx.body, q.columns.as_deref())
    } else {
        mutate::json_payload(&ctx.body, q.columns.as_deref())
    }
}

/// Shared tail of every write: render the response read from `pgrst_source`.
struct WriteSpec<'a> {
    cte: String,
    sql: Sql,
    plan: &'a ReadPlan,
    rel_name: &'a str,
    pk: Vec<String>,
    /// Status when at least one row was inserted / otherwise.
    created: bool,
    track_inserts: bool,
    resolution_applied: bool,
    is_insert: bool,
}

async fn write(
    ctx: &Ctx<'_>,
    spec: WriteSpec<'_>,
    timing: &mut Timing,
    t0: Instant,
) -> Result<Response, ApiError> {
    let media = ctx.media(Producer::Relation)?;
    let ret = ctx.prefer.return_.unwrap_or(Return::Minimal);
    let mut sql = spec.sql;
    let from = sql::read_sql(
        &mut sql,
        &ctx.cache,
        spec.plan,
        None,
        ReadOptions {
            skip_conds: true,
            skip_paging: true,
            max_rows: None,
        },
    );
    let body = if ret == Return::Representation {
        body_for(ctx, &media)?
    } else {
        "NULL".to_string()
    };
    let location = if ret == Return::HeadersOnly && !spec.pk.is_empty() && spec.is_insert {
        let cols: Vec<String> = spec.pk.iter().map(|c| sql::ident(c)).collect();
        format!("(SELECT row_to_json(\"pgrst_l\")::text FROM (SELECT {} FROM \"pgrst_source\" LIMIT 1) AS \"pgrst_l\")", cols.join(", "))
    } else {
        "NULL".into()
    };
    let inserted = if spec.track_inserts {
        "(SELECT pg_catalog.count(*) FROM \"pgrst_source\" WHERE \"pgrst_ins\")".to_string()
    } else {
        "NULL".into()
    };
    let _ = from;
    // Re-render the read from the CTE with the relation's alias.
    let mut read_sql_text = String::new();
    {
        let mut p = spec.plan.clone();
        p.source = Source::Cte("pgrst_source".into());
        read_sql_text.push_str(&sql::read_sql(
            &mut sql,
            &ctx.cache,
            &p,
            None,
            ReadOptions {
                skip_conds: true,
                skip_paging: true,
                max_rows: None,
            },
        ));
    }
    sql.text = main_select(
        "NULL",
        &body,
        &location,
        &inserted,
        &read_sql_text,
        &format!("WITH {} ", spec.cte),
    );
    timing.plan = Some(ms(t0));
    let job = Job {
        main: sql,
        planned: None,
        explain: plan_job(&media),
    };
    let t = Instant::now();
    let singular = media.is_singular();
    let strict_max = if ctx.prefer.strict {
        ctx.prefer.max_affected
    } else {
        None
    };
    let out = db::run(
        &ctx.app.pool,
        &ctx.app.gens,
        &ctx.settings(false),
        &job,
        ctx.identity.authenticated,
        |row, _| ctx.decide(row, singular, strict_max),
    )
    .await?;
    timing.transaction = Some(ms(t));
    if let Some(p) = out.plan {
        return Ok(explain_response(&media, p));
    }
    let row = out.row;
    let status = if spec.is_insert {
        if spec.track_inserts {
            if row.inserted.unwrap_or(0) > 0 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            }
        } else if spec.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        }
    } else if ret == Return::Representation {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    };
    let mut resp = if ret == Return::Representation {
        body_response(status, &media, row.body.clone().unwrap_or_default())
    } else if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = status;
        r
    };
    let total = match ctx.prefer.count {
        Some(_) => format!("*/{}", row.page),
        None => "*/*".to_string(),
    };
    if spec.is_insert || ret != Return::Representation {
        set(&mut resp, "content-range", &total);
    } else {
        let cr = if ctx.prefer.count.is_some() {
            format!("*/{}", row.page)
        } else {
            content_range(0, row.page, None)
        };
        set(&mut resp, "content-range", &cr);
    }
    if let Some(loc) = &row.location {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(loc) {
            let q: Vec<String> = spec
                .pk
                .iter()
                .map(|k| {
                    let v = match m.get(k) {
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                        None => "null".into(),
                    };
                    format!(
                        "{k}=eq.{}",
                        percent_encoding::utf8_percent_encode(
                            &v,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )
                })
                .collect();
            set(
                &mut resp,
                "location",
                &format!("/{}?{}", spec.rel_name, q.join("&")),
            );
        }
    }
    if let Some(a) = ctx.applied(spec.resolution_applied, true, true, true) {
        set(&mut resp, "preference-applied", &a);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}

async fn insert(ctx: &Ctx<'_>, name: &str, timing: &mut Timing) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let planner0 = Planner::new(&ctx.cache, &ctx.schema, false);
    let rel = planner0.relation(name)?;
    let q = ctx.query_params(false)?;
    if let Some(cols) = &q.columns {
        mutate::check_columns(rel, cols)?;
    }
    let payload = payload(ctx, &q)?;
    if q.columns.is_none() {
        mutate::check_columns(rel, &payload.columns)?;
    }
    let on_conflict = match ctx.prefer.resolution {
        Some(res) => {
            let cols = q.on_conflict.clone().unwrap_or_else(|| rel.pk.clone());
            (!cols.is_empty()).then_some(OnConflict {
                columns: cols,
                resolution: res,
            })
        }
        None => None,
    };
    let track = on_conflict.is_some() && !rel.is_view && payload.rows > 0;
    let mut sql = Sql::default();
    let cte = mutate::insert_cte(
        &mut sql,
        rel,
        &payload,
        ctx.prefer.missing_default,
        on_conflict.as_ref(),
        track,
    );
    let mut planner = Planner::new(&ctx.cache, &ctx.schema, ctx.app.config.aggregates_enabled);
    let plan = planner.read(
        Source::Cte("pgrst_source".into()),
        Some(rel.qi.clone()),
        &q,
        true,
    )?;
    let created = payload.rows > 0 || on_conflict.is_none();
    write(
        ctx,
        WriteSpec {
            cte,
            sql,
            plan: &plan,
            rel_name: name,
            pk: rel.pk.clone(),
            created,
            track_inserts: track,
            resolution_applied: on_conflict.is_some() || ctx.prefer.missing_default,
            is_insert: true,
        },
        timing,
        t0,
    )
    .await
}

fn safe_update_check(
    ctx: &Ctx<'_>,
    name: &str,
    q: &QueryParams,
    verb: &str,
) -> Result<(), ApiError> {
    if ctx.app.config.safe_update_tables.iter().any(|t| t == name) && !q.has_filters {
        return Err(ApiError::new(
            400,
            "21000",
            format!("{verb} requires a WHERE clause"),
        ));
    }
    Ok(())
}

async fn update(ctx: &Ctx<'_>, name: &str, timing: &mut Timing) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let rel = Planner::new(&ctx.cache, &ctx.schema, false).relation(name)?;
    let q = ctx.query_params(false)?;
    safe_update_check(ctx, name, &q, "UPDATE")?;
    let mut payload = payload(ctx, &q)?;
    if payload.rows > 1 {
        payload.values.truncate(1);
    }
    mutate::check_columns(rel, &payload.columns)?;
    filtered_write(ctx, rel, &q, timing, t0, |sql, plan, w| {
        mutate::update_cte(sql, rel, &payload, plan, w)
    })
    .await
}

/// PATCH and DELETE: the top-level filters select the rows, `cte` writes them.
async fn filtered_write(
    ctx: &Ctx<'_>,
    rel: &crate::schema::Relation,
    q: &QueryParams,
    timing: &mut Timing,
    t0: Instant,
    cte: impl FnOnce(&mut Sql, &ReadPlan, &str) -> String,
) -> Result<Response, ApiError> {
    let mut planner = Planner::new(&ctx.cache, &ctx.schema, ctx.app.config.aggregates_enabled);
    let plan = planner.read(
        Source::Relation(rel.qi.clone()),
        Some(rel.qi.clone()),
        q,
        true,
    )?;
    if (plan.limit.is_some() || plan.offset > 0) && rel.is_view {
        return Err(ApiError::new(
            400,
            "PGRST128",
            "limit/offset on PATCH or DELETE needs a table",
        ));
    }
    let mut sql = Sql::default();
    let w = sql::write_where_sql(&mut sql, &plan, &rel.qi);
    let cte = cte(&mut sql, &plan, &w);
    write(
        ctx,
        WriteSpec {
            cte,
            sql,
            plan: &plan,
            rel_name: &rel.qi.name,
            pk: rel.pk.clone(),
            created: false,
            track_inserts: false,
            resolution_applied: false,
            is_insert: false,
        },
        timing,
        t0,
    )
    .await
}

async fn delete(ctx: &Ctx<'_>, name: &str, timing: &mut Timing) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let rel = Planner::new(&ctx.cache, &ctx.schema, false).relation(name)?;
    let q = ctx.query_params(false)?;
    safe_update_check(ctx, name, &q, "DELETE")?;
    filtered_write(ctx, rel, &q, timing, t0, |_, _, w| {
        mutate::delete_cte(rel, w)
    })
    .await
}

async fn put(ctx: &Ctx<'_>, name: &str, timing: &mut Timing) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let rel = Planner::new(&ctx.cache, &ctx.schema, false).relation(name)?;
    let q = ctx.query_params(false)?;
    if !q.limit.is_empty() || !q.offset.is_empty() {
        return Err(ApiError::new(
            400,
            "PGRST114",
            "limit/offset querystring parameters are not allowed for PUT",
        ));
    }
    let mut planner = Planner::new(&ctx.cache, &ctx.schema, ctx.app.config.aggregates_enabled);
    let plan = planner.read(
        Source::Cte("pgrst_source".into()),
        Some(rel.qi.clone()),
        &q,
        true,
    )?;
    let pk_vals = if rel.pk.is_empty() || !q.logic.is_empty() {
        None
    } else {
        mutate::pk_eq_values(&plan.conds, &rel.pk)
    };
    let Some(pk_vals) = pk_vals else {
        return Err(ApiError::new(
            405,
            "PGRST105",
            "Filters must include all and only primary key columns with 'eq' operators",
        ));
    };
    let payload = payload(ctx, &q)?;
    if payload.rows != 1 {
        return Err(ApiError::new(
            400,
            "PGRST116",
            "PUT payload must contain a single row",
        ));
    }
    mutate::check_columns(rel, &payload.columns)?;
    for (col, v) in &pk_vals {
        let given = payload.values[0]
            .get(col)
            .and_then(mutate::json_scalar_text);
        if given.as_deref() != Some(v.as_str()) {
            return Err(ApiError::new(
                400,
                "PGRST115",
                "Payload values do not match URL in primary key column(s)",
            ));
        }
    }
    let oc = OnConflict {
        columns: rel.pk.clone(),
        resolution: Resolution::MergeDuplicates,
    };
    let track = !rel.is_view;
    let mut sql = Sql::default();
    let cte = mutate::insert_cte(&mut sql, rel, &payload, false, Some(&oc), track);
    write(
        ctx,
        WriteSpec {
            cte,
            sql,
            plan: &plan,
            rel_name: name,
            pk: rel.pk.clone(),
            created: true,
            track_inserts: track,
            resolution_applied: false,
            is_insert: true,
        },
        timing,
        t0,
    )
    .await
}

async fn call(ctx: &Ctx<'_>, name: &str, timing: &mut Timing) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let is_get = ctx.method == Method::GET || ctx.method == Method::HEAD;
    let mut q = ctx.query_params(true)?;
    let ct = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let args = if is_get {
        let qi = Qi::new(&ctx.schema, name);
        let names: Vec<String> = ctx
            .cache
            .routines
            .get(&qi)
            .map(|rs| {
                rs.iter()
                    .flat_map(|r| r.params.iter().map(|p| p.name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let pairs: Vec<(String, Value)> = q
            .raw
            .iter()
            .filter(|(k, _)| names.contains(k) || !looks_like_filter(&q, k))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Args::Named(pairs)
    } else if ct.starts_with("application/octet-stream")
        || ct.starts_with("text/plain")
        || ct.starts_with("application/xml")
    {
        Args::Raw(ctx.body.to_vec())
    } else if ctx.body.iter().all(u8::is_ascii_whitespace) {
        Args::Named(Vec::new())
    } else {
        let v: Value = serde_json::from_slice(&ctx.body)
            .map_err(|_| ApiError::body("Empty or invalid json"))?;
        let v = match v {
            Value::Array(a) => a.into_iter().next().unwrap_or(Value::Object(Map::new())),
            other => other,
        };
        if ctx.prefer.single_object {
            Args::Single(v)
        } else {
            match v {
                Value::Object(m) => Args::Named(m.into_iter().collect()),
                other => Args::Single(other),
            }
        }
    };
    let call = rpc::resolve(&ctx.cache, &ctx.schema, name, &args, !is_get)?;
    let routine = call.routine.clone();
    // GET: query keys naming arguments are arguments, the rest filter the result; POST: the
    // arguments came in the body, so every key filters.
    let arg_names: Vec<String> = if is_get {
        call.args.iter().map(|(n, _, _)| n.clone()).collect()
    } else {
        Vec::new()
    };
    q.filters.clear();
    request::rpc_filters(&mut q, &arg_names)?;
    let producer = Producer::Rpc {
        bytea: routine.return_type == "bytea",
        text: routine.return_type == "text",
    };
    let custom = if routine.returns_set
        && (routine.returns_composite || routine.return_relation.is_some())
    {
        custom_handler(ctx, routine.return_relation.as_ref())
    } else {
        None
    };
    let media = match (ctx.media(producer), &custom) {
        (Ok(m), _) => m,
        (Err(_), Some(_)) => Media::Json,
        (Err(e), None) => return Err(e),
    };
    let source = Source::Function {
        routine: routine.qi.clone(),
        args: call.args.clone(),
    };
    let table_like = routine.returns_composite || routine.return_relation.is_some();
    let mut sql = Sql::default();
    let mut offset = 0;
    let (from, body, total) = if table_like {
        let mut planner = Planner::new(&ctx.cache, &ctx.schema, ctx.app.config.aggregates_enabled);
        let mut plan = planner.read(source, routine.return_relation.clone(), &q, true)?;
        plan.alias = routine.qi.name.clone();
        if let Some(h) = &custom {
            return custom_media(ctx, h, plan, timing).await;
        }
        offset = plan.offset;
        let max_rows = ctx.app.config.max_rows_for(&ctx.schema);
        let from = sql::read_sql(
            &mut sql,
            &ctx.cache,
            &plan,
            None,
            ReadOptions {
                max_rows,
                ..Default::default()
            },
        );
        let total = match ctx.prefer.count {
            Some(_) => {
                let inner = sql::read_sql(
                    &mut sql,
                    &ctx.cache,
                    &plan,
                    None,
                    ReadOptions {
                        skip_paging: true,
                        ..Default::default()
                    },
                );
                format!("(SELECT pg_catalog.count(*) FROM ({inner}) AS \"pgrst_c\")")
            }
            None => "NULL".into(),
        };
        let body = if !routine.returns_set && !media.is_singular() && media != Media::GeoJson {
            // A single composite: the object itself (or null).
            "coalesce((json_agg(\"_postgrest_t\")->0)::text, 'null')".to_string()
        } else {
            body_for(ctx, &media)?
        };
        (from, body, total)
    } else {
        let call_sql = sql::call_sql(&mut sql, &routine.qi, &call.args);
        let from = if routine.returns_set {
            format!("SELECT \"pgrst_v\" AS \"pgrst_scalar\" FROM {call_sql} AS \"pgrst_v\"")
        } else {
            format!("SELECT {call_sql} AS \"pgrst_scalar\"")
        };
        let body = if routine.returns_void {
            "NULL".to_string()
        } else if routine.returns_set {
            "coalesce(json_agg(\"_postgrest_t\".\"pgrst_scalar\"), '[]')::text".to_string()
        } else {
            "(json_agg(\"_postgrest_t\".\"pgrst_scalar\")->0)::text".to_string()
        };
        let total = if ctx.prefer.count.is_some() {
            "pg_catalog.count(*)".to_string()
        } else {
            "NULL".into()
        };
        (from, body, total)
    };
    let raw_body = matches!(media, Media::OctetStream | Media::TextPlain) && !table_like;
    sql.text = if raw_body {
        format!(
            "SELECT NULL::int8, pg_catalog.count(*)::int8, NULL::text, {GUC_COLUMNS}, NULL::text, NULL::int8, (array_agg(\"_postgrest_t\".\"pgrst_scalar\"))[1]::bytea FROM ({from}) AS \"_postgrest_t\""
        )
    } else {
        main_select(&total, &body, "NULL", "NULL", &from, "")
    };
    if raw_body && routine.return_type == "text" {
        sql.text = sql.text.replace("[1]::bytea", "[1]::text::bytea");
    }
    timing.plan = Some(ms(t0));
    let job = Job {
        main: sql,
        planned: None,
        explain: plan_job(&media),
    };
    let t = Instant::now();
    let singular = media.is_singular();
    let strict_max = if ctx.prefer.strict {
        ctx.prefer.max_affected
    } else {
        None
    };
    let read_only = is_get || !routine.is_volatile();
    let out = db::run(
        &ctx.app.pool,
        &ctx.app.gens,
        &ctx.settings(read_only),
        &job,
        ctx.identity.authenticated,
        |row, _| ctx.decide(row, singular, strict_max),
    )
    .await
    .map_err(|e| {
        if e.code == "25006" {
            let mut e = e;
            e.status = StatusCode::METHOD_NOT_ALLOWED;
            e
        } else {
            e
        }
    })?;
    timing.transaction = Some(ms(t));
    if let Some(p) = out.plan {
        return Ok(explain_response(&media, p));
    }
    let row = out.row;
    let mut resp = if routine.returns_void {
        StatusCode::NO_CONTENT.into_response()
    } else if raw_body {
        let mut r = (StatusCode::OK, row.bytes.clone().unwrap_or_default()).into_response();
        if let Ok(v) = HeaderValue::from_str(&media.content_type()) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    } else if ctx.prefer.return_ == Some(Return::Minimal) && !is_get {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let total = row.total;
        let status = match total {
            Some(t) if row.page < t => StatusCode::PARTIAL_CONTENT,
            _ => StatusCode::OK,
        };
        let mut r = body_response(status, &media, row.body.clone().unwrap_or_default());
        set(
            &mut r,
            "content-range",
            &content_range(offset, row.page, total),
        );
        r
    };
    if let Some(a) = ctx.applied(false, false, true, true) {
        set(&mut resp, "preference-applied", &a);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}

/// A GET parameter whose value parses as a filter and is not a parameter name is a filter.
fn looks_like_filter(q: &QueryParams, key: &str) -> bool {
    q.raw
        .iter()
        .filter(|(k, _)| k == key)
        .all(|(_, v)| crate::grammar::parse_op_expr(v).is_ok())
}

async fn root(ctx: &Ctx<'_>, timing: &mut Timing) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let media = ctx.media(Producer::Root)?;
    if let Some(spec) = &ctx.app.config.root_spec {
        let qi = Qi::new(&ctx.schema, spec);
        let mut sql = Sql::default();
        sql.text = main_select(
            "NULL",
            "(array_agg(\"_postgrest_t\".\"pgrst_scalar\"))[1]::text",
            "NULL",
            "NULL",
            &format!("SELECT {}() AS \"pgrst_scalar\"", sql::qi(&qi)),
            "",
        );
        timing.plan = Some(ms(t0));
        let job = Job {
            main: sql,
            planned: None,
            explain: None,
        };
        let t = Instant::now();
        let out = db::run(
            &ctx.app.pool,
            &ctx.app.gens,
            &ctx.settings(true),
            &job,
            ctx.identity.authenticated,
            |_, _| Ok(ctx.commits()),
        )
        .await?;
        timing.transaction = Some(ms(t));
        return Ok(body_response(
            StatusCode::OK,
            &media,
            out.row.body.unwrap_or_default(),
        ));
    }
    if ctx.app.config.openapi_mode == OpenApiMode::Disabled {
        return Err(ApiError::new(
            404,
            "PGRST126",
            "Root endpoint metadata is disabled",
        ));
    }
    timing.plan = Some(ms(t0));
    let t = Instant::now();
    let doc = crate::openapi::document(
        ctx.app,
        &ctx.cache,
        &ctx.schema,
        &ctx.settings(true),
        ctx.identity.authenticated,
    )
    .await?;
    timing.transaction = Some(ms(t));
    let media = if media == Media::OpenApi
        && ctx
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(|a| a.contains("application/json"))
            .unwrap_or(false)
        && !ctx
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(|a| a.contains("openapi"))
            .unwrap_or(false)
    {
        Media::Json
    } else {
        media
    };
    Ok(body_response(StatusCode::OK, &media, doc))
}
