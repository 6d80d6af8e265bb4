//! Running a request's statements: one transaction on one pooled connection, with the role,
//! claims and request GUCs set first, the pre-request function next, then the main statement.
//! Statements are prepared once per connection and sent as one pipeline closed by one `Sync`
//! (`basalt_pg::wire`): when the transaction's end is known in advance it is implicit, and the
//! request is one round trip.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use basalt_pg::request;
use basalt_pg::wire::{self, Step};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::Identity;
use crate::error::{ApiError, Code};
use crate::sql::{ident, Sql};

/// Settings applied at the start of the transaction.
#[derive(Debug, Clone, Default)]
pub struct TxSettings {
    /// `None`: run as the connecting role, set no `request.*` GUCs.
    pub identity: Option<Identity>,
    pub search_path: Vec<String>,
    pub method: String,
    pub path: String,
    /// `request.headers`: a JSON object of the request's headers (lower-case names).
    pub headers: String,
    /// `request.cookies`: a JSON object of the request's cookies.
    pub cookies: String,
    pub timezone: Option<String>,
    /// `schema.function` called before the main statement.
    pub pre_request: Option<String>,
    pub read_only: bool,
    /// `app.settings.*` values.
    pub app_settings: Vec<(String, String)>,
}

pub use crate::main_statement::MainRow;

/// What to run after the settings.
pub struct Job {
    pub main: Sql,
    /// `EXPLAIN (FORMAT JSON)` of a count query, for `count=planned`.
    pub planned: Option<Sql>,
    /// Run `EXPLAIN` of the main statement instead, with these options.
    pub explain: Option<(bool, Vec<String>)>,
    /// How the transaction ends when that does not depend on the main row (`Some(true)`: commit,
    /// `Some(false)`: roll back): the end then joins the pipeline and the request is one round
    /// trip. `decide` must then accept every row. Read-only transactions always end early.
    pub end: Option<bool>,
}

/// The outcome of a job.
pub struct Outcome {
    pub row: MainRow,
    pub planned: Option<i64>,
    /// EXPLAIN output.
    pub plan: Option<String>,
}

/// Values the settings statement binds that `TxSettings` does not hold as they are sent.
struct SetupValues {
    search_path: String,
    app_settings: Vec<(String, String)>,
}

impl SetupValues {
    fn new(s: &TxSettings) -> SetupValues {
        let mut search_path = String::new();
        for (i, x) in s.search_path.iter().enumerate() {
            if i > 0 {
                search_path.push_str(", ");
            }
            search_path.push_str(&ident(x));
        }
        SetupValues {
            search_path,
            app_settings: s
                .app_settings
                .iter()
                .map(|(k, v)| (format!("app.settings.{k}"), v.clone()))
                .collect(),
        }
    }
}

/// The settings statement (`basalt_pg::request`, shared with GraphQL): its text and its
/// parameters, borrowed. `read_only`: the transaction is implicit (no `BEGIN … READ ONLY`), so
/// the statement makes it read-only itself. `role_settings`: the impersonated role's own
/// settings (`ALTER ROLE … SET`), set first so that the request's settings win where both name
/// the same one.
fn setup_sql<'a>(
    s: &'a TxSettings,
    v: &'a SetupValues,
    read_only: bool,
    role_settings: &'a [(String, String)],
) -> (String, Vec<Option<&'a str>>) {
    request::setup_sql(&request::Settings {
        search_path: &v.search_path,
        caller: s.identity.as_ref().map(|id| request::Caller {
            role: id.role.as_deref(),
            claims: &id.claims,
            method: &s.method,
            path: &s.path,
            headers: &s.headers,
            cookies: &s.cookies,
        }),
        app_settings: &v.app_settings,
        timezone: s.timezone.as_deref(),
        read_only,
        role_settings,
    })
}

/// A pipeline step running `text` with the parameters of `sql`.
fn step<'a>(text: &'a str, sql: &'a Sql) -> Step<'a> {
    Step {
        sql: text,
        params: sql.params.iter().map(|p| p.0.as_deref()).collect(),
    }
}

/// State every request shares besides the pool: the schema generation, bumped on schema reload
/// (connections then drop their prepared statements, as plans and result types may have
/// changed, and the role settings are read again), the roles' settings of the current
/// generation, and the per-role admission that keeps a reserve of connections for other roles.
#[derive(Default)]
pub struct Generations {
    pub current: std::sync::atomic::AtomicU64,
    /// Role settings and the generation they were read at.
    roles: request::RoleSettingsCache,
    admission: Admission,
}

/// How long a request waits for its role's share of the pool (as long as for a connection).
const ADMISSION_WAIT: Duration = Duration::from_secs(10);

/// Beyond this many roles seen, idle roles' semaphores are forgotten.
const ADMISSION_ROLES: usize = 256;

/// Per-role admission: one role holds at most [`role_share`] of the pool's connections at once,
/// so a flood of slow requests by one role (anonymous callers, say) leaves connections for the
/// others.
#[derive(Default)]
struct Admission {
    roles: parking_lot::Mutex<HashMap<Arc<str>, Arc<Semaphore>>>,
}

/// Connections one role may hold in a pool of `size`: all but a reserve of a quarter (at least
/// one) for the other roles. A pool of one has no reserve.
pub fn role_share(size: usize) -> usize {
    if size <= 1 {
        return size.max(1);
    }
    size - (size / 4).max(1)
}

impl Admission {
    /// Wait for a place among `role`'s requests (`None` when the share is the whole pool).
    async fn enter(
        &self,
        role: &str,
        pool_size: usize,
    ) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        let share = role_share(pool_size);
        if share >= pool_size {
            return Ok(None);
        }
        let sem = {
            let mut roles = self.roles.lock();
            match roles.get(role) {
                Some(s) => s.clone(),
                None => {
                    if roles.len() >= ADMISSION_ROLES {
                        roles.retain(|_, s| Arc::strong_count(s) > 1);
                    }
                    let s = Arc::new(Semaphore::new(share));
                    roles.insert(role.into(), s.clone());
                    s
                }
            }
        };
        match tokio::time::timeout(ADMISSION_WAIT, sem.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(pool_timeout(format!(
                "role {role:?} already holds {share} of the pool's {pool_size} connections"
            ))),
        }
    }
}

/// PostgREST's error when no connection could be had in time.
fn pool_timeout(details: String) -> ApiError {
    ApiError::new(
        Code::PoolTimeout,
        "Timed out acquiring connection from connection pool.",
    )
    .with_details(details)
}

/// A pooled connection, closed instead of going back to the pool when the request is dropped
/// mid-pipeline (the HTTP client went away, so the handler's future is cancelled) or a transaction
/// is left open: Postgres then rolls the transaction back and releases its locks at once, and no
/// later request can run inside it.
struct Held(Option<deadpool::managed::Object<wire::Manager>>);

impl Held {
    fn conn(&mut self) -> &mut wire::Conn {
        match &mut self.0 {
            Some(c) => c,
            None => unreachable!("the connection is only taken on drop"),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            if c.broken() {
                drop(deadpool::managed::Object::take(c));
            }
        }
    }
}

/// Run `job` in one transaction. `decide` sees the main row and says whether to commit
/// (`Ok(true)`), roll back (`Ok(false)`), or fail (rolled back).
///
/// When the end of the transaction is known before it runs (a read, a write whose `decide`
/// accepts every row), every statement goes in one pipeline: the settings, the pre-request
/// function, the main statement, and either nothing (an implicit transaction, committed by the
/// pipeline's `Sync`) or the explicit end. Otherwise the transaction is explicit and its end is a
/// second round trip.
/// Run before a transaction the configuration or `Prefer: tx=rollback` rolls back: deferred
/// constraints are checked as a commit would check them, so the request fails as it would if
/// it committed.
const CHECK_DEFERRED: &str = "SET CONSTRAINTS ALL IMMEDIATE";

pub async fn run(
    pool: &wire::Pool,
    gens: &Arc<Generations>,
    settings: &TxSettings,
    job: &Job,
    authenticated: bool,
    decide: impl FnOnce(&MainRow, Option<i64>) -> Result<bool, ApiError>,
) -> Result<Outcome, ApiError> {
    for sql in std::iter::once(&job.main).chain(job.planned.as_ref()) {
        if !sql.placeholders_match() {
            tracing::error!(statement = %sql.text, params = sql.params.len(), "statement and parameters disagree");
            return Err(ApiError::internal(
                "basalt built a statement whose placeholders do not match its parameters",
            ));
        }
    }
    let role = settings.identity.as_ref().and_then(|i| i.role.as_deref());
    let _admitted = gens
        .admission
        .enter(role.unwrap_or(""), pool.status().max_size)
        .await?;
    let pooled = pool.get().await.map_err(|e| pool_timeout(e.to_string()))?;
    let mut held = Held(Some(pooled));
    let conn = held.conn();
    let generation = gens.current.load(std::sync::atomic::Ordering::Relaxed);
    conn.set_generation(generation);
    let fail = |e: wire::Error| ApiError::from_wire(&e, authenticated);
    let roles = gens.roles.get(conn, generation).await.map_err(fail)?;
    let own_settings = role.map_or(&[][..], |r| roles.of(r));
    // `Some(true)`: commits, `Some(false)`: rolls back, whatever the main row.
    let end_known = match (&job.explain, settings.read_only, job.end) {
        (Some(_), _, _) => Some(false),
        (None, true, _) => Some(true),
        (None, false, end) => end,
    };
    // An implicit transaction runs at the session's default isolation level: only used when
    // that is READ COMMITTED, the level every request runs at.
    let implicit = end_known == Some(true) && conn.read_committed();
    let begin = if settings.read_only {
        "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
    } else {
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    };
    let setup_values = SetupValues::new(settings);
    let (setup_text, setup_params) = setup_sql(
        settings,
        &setup_values,
        implicit && settings.read_only,
        own_settings,
    );
    let pre = settings
        .pre_request
        .as_deref()
        .map(request::pre_request_sql);
    let main_text = match &job.explain {
        Some((json, opts)) => {
            let mut o = vec![format!("FORMAT {}", if *json { "JSON" } else { "TEXT" })];
            for x in opts {
                o.push(x.to_ascii_uppercase());
            }
            format!("EXPLAIN ({}) {}", o.join(", "), job.main.text)
        }
        None => job.main.text.clone(),
    };
    let mut steps = Vec::with_capacity(6);
    if !implicit {
        steps.push(Step::plain(begin));
    }
    steps.push(Step {
        sql: &setup_text,
        params: setup_params,
    });
    if let Some(p) = &pre {
        steps.push(Step::plain(p));
    }
    let planned_at = job.planned.as_ref().map(|p| {
        steps.push(step(&p.text, p));
        steps.len() - 1
    });
    steps.push(step(&main_text, &job.main));
    let main_at = steps.len() - 1;
    if !implicit {
        match end_known {
            Some(true) => steps.push(Step::plain("COMMIT")),
            Some(false) => {
                if job.explain.is_none() {
                    steps.push(Step::plain(CHECK_DEFERRED));
                }
                steps.push(Step::plain("ROLLBACK"));
            }
            None => {}
        }
    }
    let results = match conn.pipeline(&steps).await {
        Ok(r) => r,
        Err(e) => {
            if conn.in_transaction() {
                // When this fails the connection is broken and is closed on drop.
                let _ = conn.pipeline(&[Step::plain("ROLLBACK")]).await;
            }
            return Err(fail(e));
        }
    };
    let planned = planned_at.and_then(|i| {
        let text = results.get(i)?.first()?.text(0)?;
        let v: Value = serde_json::from_str(text).ok()?;
        v.get(0)?
            .get("Plan")?
            .get("Plan Rows")?
            .as_f64()
            .map(|f| f as i64)
    });
    let rows = results.get(main_at).map(Vec::as_slice).unwrap_or_default();
    if job.explain.is_some() {
        let text: Vec<String> = rows
            .iter()
            .filter_map(|r| r.text(0))
            .map(|t| {
                serde_json::from_str::<Value>(t)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| t.to_string())
            })
            .collect();
        return Ok(Outcome {
            row: MainRow::default(),
            planned,
            plan: Some(text.join("\n")),
        });
    }
    let row = rows.first().map(MainRow::from_row).unwrap_or_default();
    if end_known.is_some() {
        decide(&row, planned)?;
        return Ok(Outcome {
            row,
            planned,
            plan: None,
        });
    }
    let end: &[Step] = match decide(&row, planned) {
        Ok(true) => &[Step::plain("COMMIT")],
        Ok(false) => &[Step::plain(CHECK_DEFERRED), Step::plain("ROLLBACK")],
        Err(e) => {
            let _ = conn.pipeline(&[Step::plain("ROLLBACK")]).await;
            return Err(e);
        }
    };
    if let Err(e) = conn.pipeline(end).await {
        if conn.in_transaction() {
            // When this fails the connection is broken and is closed on drop.
            let _ = conn.pipeline(&[Step::plain("ROLLBACK")]).await;
        }
        return Err(fail(e));
    }
    Ok(Outcome {
        row,
        planned,
        plan: None,
    })
}
