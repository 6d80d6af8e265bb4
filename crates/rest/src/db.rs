//! Running a request's statements: one transaction on one pooled connection, with the role,
//! claims and request GUCs set first, the pre-request function next, then the main statement.
//! Statements are prepared once per connection (cached) and sent pipelined.

use std::sync::Arc;

use deadpool_postgres::Pool;
use serde_json::Value;
use tokio_postgres::Row;

use crate::auth::Identity;
use crate::error::ApiError;
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

/// The fixed columns of every main statement.
#[derive(Debug, Clone, Default)]
pub struct MainRow {
    pub total: Option<i64>,
    pub page: i64,
    pub body: Option<String>,
    pub headers: Option<String>,
    pub status: Option<String>,
    pub location: Option<String>,
    pub inserted: Option<i64>,
    pub bytes: Option<Vec<u8>>,
}

impl MainRow {
    fn from_row(r: &Row) -> MainRow {
        MainRow {
            total: r.get(0),
            page: r.get::<_, Option<i64>>(1).unwrap_or(0),
            body: r.get(2),
            headers: r.get(3),
            status: r.get(4),
            location: r.get(5),
            inserted: r.get(6),
            bytes: r.get(7),
        }
    }
}

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

fn setup_sql(s: &TxSettings) -> Sql {
    let mut sql = Sql::default();
    let mut parts = Vec::new();
    let sp = s
        .search_path
        .iter()
        .map(|x| ident(x))
        .collect::<Vec<_>>()
        .join(", ");
    let p = sql.bind(sp);
    parts.push(format!("set_config('search_path', {p}, true)"));
    if let Some(id) = &s.identity {
        if let Some(role) = &id.role {
            let p = sql.bind(role.clone());
            parts.push(format!("set_config('role', {p}, true)"));
        }
        let p = sql.bind(id.claims.to_string());
        parts.push(format!("set_config('request.jwt.claims', {p}, true)"));
        let p = sql.bind(s.method.clone());
        parts.push(format!("set_config('request.method', {p}, true)"));
        let p = sql.bind(s.path.clone());
        parts.push(format!("set_config('request.path', {p}, true)"));
        let p = sql.bind(s.headers.clone());
        parts.push(format!("set_config('request.headers', {p}, true)"));
        let p = sql.bind(s.cookies.clone());
        parts.push(format!("set_config('request.cookies', {p}, true)"));
    }
    for (k, v) in &s.app_settings {
        let name = sql.bind(format!("app.settings.{k}"));
        let p = sql.bind(v.clone());
        parts.push(format!("set_config({name}, {p}, true)"));
    }
    if let Some(tz) = &s.timezone {
        let p = sql.bind(tz.clone());
        parts.push(format!("set_config('timezone', {p}, true)"));
    }
    sql.text = format!("SELECT {}", parts.join(", "));
    sql
}

fn params(sql: &Sql) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    sql.params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

/// Statement cache generation: bumped on schema reload so cached plans are dropped.
#[derive(Default)]
pub struct Generations {
    pub current: std::sync::atomic::AtomicU64,
    seen: parking_lot::Mutex<std::collections::HashMap<usize, u64>>,
}

/// A pooled connection whose transaction may be open. When the request is dropped before the
/// transaction ended (the HTTP client went away mid-request, so the handler's future is
/// cancelled), the connection is closed instead of going back to the pool: Postgres then rolls the
/// transaction back and releases its locks, and no later request can run inside it.
struct OpenTx {
    client: Option<deadpool_postgres::Object>,
    open: std::sync::atomic::AtomicBool,
}

impl OpenTx {
    fn new(client: deadpool_postgres::Object) -> OpenTx {
        OpenTx {
            client: Some(client),
            open: std::sync::atomic::AtomicBool::new(true),
        }
    }

    fn client(&self) -> &deadpool_postgres::Object {
        match &self.client {
            Some(c) => c,
            None => unreachable!("the connection is only taken on drop"),
        }
    }

    /// The transaction ended (`true`), or ending it failed and the connection must not be reused.
    fn ended(&self, cleanly: bool) {
        self.open
            .store(!cleanly, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for OpenTx {
    fn drop(&mut self) {
        if self.open.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(c) = self.client.take() {
                drop(deadpool_postgres::Object::take(c));
            }
        }
    }
}

/// Run `job` in one transaction. `decide` sees the main row and says whether to commit
/// (`Ok(true)`), roll back (`Ok(false)`), or fail (rolled back).
pub async fn run(
    pool: &Pool,
    gens: &Arc<Generations>,
    settings: &TxSettings,
    job: &Job,
    authenticated: bool,
    decide: impl FnOnce(&MainRow, Option<i64>) -> Result<bool, ApiError>,
) -> Result<Outcome, ApiError> {
    let pooled = pool.get().await.map_err(|e| {
        ApiError::new(
            503,
            "PGRST003",
            "Timed out acquiring connection from connection pool.",
        )
        .with_details(e.to_string())
    })?;
    let tx = OpenTx::new(pooled);
    let client = tx.client();
    {
        let key = Arc::as_ptr(&client.statement_cache) as usize;
        let gen = gens.current.load(std::sync::atomic::Ordering::Relaxed);
        let mut seen = gens.seen.lock();
        if seen.get(&key).copied().unwrap_or(gen) != gen {
            client.statement_cache.clear();
        }
        seen.insert(key, gen);
    }
    let pg = |e: tokio_postgres::Error| ApiError::from_pg(&e, authenticated);
    let begin = if settings.read_only {
        "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
    } else {
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    };
    let setup = setup_sql(settings);
    let pre = settings.pre_request.as_ref().map(|f| {
        let q: String = f.split('.').map(ident).collect::<Vec<_>>().join(".");
        format!("SELECT {q}()")
    });
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
    // Prepare everything in one round trip (cached per connection afterwards).
    let prep = futures::try_join!(
        client.prepare_cached(begin),
        client.prepare_cached(&setup.text),
        client.prepare_cached(&main_text),
    );
    let (begin_st, setup_st, main_st) = prep.map_err(pg)?;
    let pre_st = match &pre {
        Some(p) => Some(client.prepare_cached(p).await.map_err(pg)?),
        None => None,
    };
    // A read-only transaction ends the same whichever way it ends: its COMMIT joins the pipeline,
    // so a read is one round trip. So does a write whose ending is known in advance. When the
    // main statement fails, the pipelined COMMIT finds the transaction aborted and rolls back.
    let end_early = match (&job.explain, settings.read_only, job.end) {
        (Some(_), _, _) => None,
        (None, true, _) => Some("COMMIT"),
        (None, false, Some(true)) => Some("COMMIT"),
        (None, false, Some(false)) => Some("ROLLBACK"),
        (None, false, None) => None,
    };
    let commit_st = match end_early {
        Some(end) => Some(client.prepare_cached(end).await.map_err(pg)?),
        None => None,
    };
    let planned_st = match &job.planned {
        Some(p) => Some(client.prepare_cached(&p.text).await.map_err(pg)?),
        None => None,
    };
    let setup_params = params(&setup);
    let main_params = params(&job.main);
    let result: Result<(Vec<Row>, Option<Vec<Row>>), tokio_postgres::Error> = async {
        let begin_f = client.execute(&begin_st, &[]);
        let setup_f = client.query(&setup_st, &setup_params);
        let pre_f = async {
            match &pre_st {
                Some(st) => client.query(st, &[]).await.map(|_| ()),
                None => Ok(()),
            }
        };
        let planned_f = async {
            match (&planned_st, &job.planned) {
                (Some(st), Some(p)) => client.query(st, &params(p)).await.map(Some),
                _ => Ok(None),
            }
        };
        let main_f = client.query(&main_st, &main_params);
        let commit_f = async {
            match &commit_st {
                Some(st) => client.execute(st, &[]).await.map(|_| ()),
                None => Ok(()),
            }
        };
        let (_, _, _, planned, main, _) =
            futures::try_join!(begin_f, setup_f, pre_f, planned_f, main_f, commit_f)?;
        Ok((main, planned))
    }
    .await;
    let (rows, planned_rows) = match result {
        Ok(r) => r,
        Err(e) => {
            tx.ended(client.batch_execute("ROLLBACK").await.is_ok());
            return Err(pg(e));
        }
    };
    let planned = planned_rows.and_then(|rows| {
        let v: Value = rows.first()?.try_get::<_, Value>(0).ok()?;
        v.get(0)?
            .get("Plan")?
            .get("Plan Rows")?
            .as_f64()
            .map(|f| f as i64)
    });
    if job.explain.is_some() {
        let text: Vec<String> = rows
            .iter()
            .map(|r| {
                r.try_get::<_, Value>(0)
                    .map(|v| v.to_string())
                    .or_else(|_| r.try_get::<_, String>(0))
                    .unwrap_or_default()
            })
            .collect();
        tx.ended(client.batch_execute("ROLLBACK").await.is_ok());
        return Ok(Outcome {
            row: MainRow::default(),
            planned,
            plan: Some(text.join("\n")),
        });
    }
    let row = rows.first().map(MainRow::from_row).unwrap_or_default();
    if end_early.is_some() {
        tx.ended(true);
        decide(&row, planned)?;
        return Ok(Outcome {
            row,
            planned,
            plan: None,
        });
    }
    match decide(&row, planned) {
        Ok(true) => {
            let end = client.batch_execute("COMMIT").await;
            tx.ended(end.is_ok());
            end.map_err(pg)?;
        }
        Ok(false) => {
            let end = client.batch_execute("ROLLBACK").await;
            tx.ended(end.is_ok());
            end.map_err(pg)?;
        }
        Err(e) => {
            tx.ended(client.batch_execute("ROLLBACK").await.is_ok());
            return Err(e);
        }
    }
    Ok(Outcome {
        row,
        planned,
        plan: None,
    })
}
