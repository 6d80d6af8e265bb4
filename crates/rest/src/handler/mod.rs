//! The HTTP edge of the request flow: parse ([`ApiRequest`]) → plan ([`action::plan`]) → build
//! SQL ([`statement::job`]) → execute in one transaction ([`db::run`]) → respond
//! ([`respond::respond`]). One axum handler serves every path below the mount point; `GET /`
//! (the OpenAPI document or the root function) is served by `root.rs`.

mod cors;
mod root;
mod tx_settings;

use cors::Verdict;
use root::root;

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::action::{self, ActionPlan, PlanInput, TxPlan};
use crate::app::App;
use crate::auth::{self, Identity};
use crate::db::{self, Job, Outcome};
use crate::error::{ApiError, Code};
use crate::request::{self, Action, ApiRequest};
use crate::respond;
use crate::schema::SchemaCache;
use crate::statement;

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
    let cors = cors::verdict(&app.config.cors, &parts.method, &parts.headers);
    let trace = app.config.trace_header.as_ref().and_then(|h| {
        parts
            .headers
            .get(h.as_str())
            .map(|v| (h.clone(), v.clone()))
    });
    let mut timing = Timing::default();
    let is_head = parts.method == Method::HEAD;
    let mut resp = match cors {
        // A preflight is answered before the request reaches a resource: no timing.
        Verdict::Preflight(ref headers) => {
            let mut r = StatusCode::OK.into_response();
            r.headers_mut().extend(headers.clone());
            if let Some((name, v)) = trace {
                if let Ok(n) = HeaderName::try_from(name.as_str()) {
                    r.headers_mut().insert(n, v);
                }
            }
            return r;
        }
        _ => match process(&app, &parts, body, &mut timing).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
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
    if let Verdict::Actual(cors) = cors {
        for (name, v) in &cors {
            h.append(name, v.clone());
        }
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

async fn process(
    app: &Arc<App>,
    parts: &http::request::Parts,
    body: Body,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let method = &parts.method;
    let path = parts.uri.path();
    let target = request::parse_target(path)?;
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
    let mut ctx = Ctx {
        app,
        req,
        headers: &parts.headers,
        body,
        identity,
        cache,
    };
    let mut answered = match &ctx.req.action {
        Action::Root => root(&ctx, timing).await,
        _ => answer(&ctx, timing).await,
    };
    if matches!(&answered, Err(e) if refused_timezone(&ctx.req, e)) && !ctx.req.prefer.strict {
        // Without `handling=strict` a time zone Postgres does not know is ignored, as PostgREST
        // (v14) ignores one it does not list: the request runs again (nothing ran the first time:
        // the setting failed before the statement) in the server's time zone.
        ctx.req.prefer.timezone = None;
        answered = answer(&ctx, timing).await;
    }
    let mut resp = answered.map_err(|e| strict_timezone(&ctx.req, e))?;
    respond::default_vary(resp.headers_mut());
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
        (Some(tz), true) if refused_timezone(req, &e) => ApiError::new(
            Code::InvalidPreferences,
            "Invalid preferences given with handling=strict",
        )
        .with_details(format!("Invalid preferences: timezone={tz}")),
        _ => e,
    }
}

/// Whether `e` is Postgres refusing the time zone of `Prefer: timezone=`.
fn refused_timezone(req: &ApiRequest, e: &ApiError) -> bool {
    req.prefer.timezone.is_some() && e.code == "22023" && e.message.contains("\"TimeZone\"")
}

/// Plan, build, execute and respond.
async fn answer(ctx: &Ctx<'_>, timing: &mut Timing) -> Result<Response, ApiError> {
    let t = Instant::now();
    let plan = action::plan(&ctx.input())?;
    let job = statement::job(&plan, &ctx.cache)?;
    if job.is_some() {
        // `OPTIONS` reports no plan time, as PostgREST.
        timing.plan = Some(ms(t));
    }
    let out = match (job, plan.tx()) {
        (Some(job), Some(tx)) => Some(execute(ctx, &job, tx, timing).await.map_err(|e| {
            // A volatile function called in a read-only transaction (GET): 405, as PostgREST.
            if matches!(plan, ActionPlan::Call(_)) && e.code == "25006" {
                ApiError {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    ..e
                }
            } else {
                e
            }
        })?),
        _ => None,
    };
    respond::respond(&plan, out)
}

/// Run `job` in one transaction as the caller; `tx` says how it ends.
async fn execute(
    ctx: &Ctx<'_>,
    job: &Job,
    tx: TxPlan,
    timing: &mut Timing,
) -> Result<Outcome, ApiError> {
    let t = Instant::now();
    let settings = ctx.settings(tx.read_only);
    let run = |pool| {
        db::run(
            pool,
            &ctx.app.gens,
            &settings,
            job,
            ctx.identity.authenticated,
            |row, _| tx.decide(row),
        )
    };
    // A read-only transaction runs on a read replica in rotation; if the replica fails it (not
    // the request), the replica leaves the rotation and the primary runs it.
    let replica = tx.read_only.then(|| ctx.app.replicas.pick()).flatten();
    let out = match replica {
        Some(r) => match run(&r.wire).await {
            Err(e) if crate::replicas::replica_failure(&e.code) => {
                r.failed(&format!("{}: {}", e.code, e.message));
                run(&ctx.app.wire).await?
            }
            Err(e) if crate::replicas::schema_behind(&e.code) => run(&ctx.app.wire).await?,
            out => out?,
        },
        None => run(&ctx.app.wire).await?,
    };
    timing.transaction = Some(ms(t));
    Ok(out)
}

impl Ctx<'_> {
    /// What planning reads.
    fn input(&self) -> PlanInput<'_> {
        PlanInput {
            req: &self.req,
            config: &self.app.config,
            cache: &self.cache,
            headers: self.headers,
            body: &self.body,
        }
    }
}
