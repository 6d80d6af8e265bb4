//! The running service: pools, the per-role schemas (reflected on first use by a role, all
//! dropped when `NOTIFY pgrst, 'reload schema'` arrives — basalt's DDL event trigger sends it,
//! as it does for REST's schema cache), and the execution of one GraphQL request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use basalt_pg::wire::{self, Step};
use futures::StreamExt;
use parking_lot::RwLock;
use serde_json::{json, Map, Value};

use crate::catalog::Catalog;
use crate::model::Model;
use crate::translate::{self, Translated};
use crate::{Config, Error};

/// One role's view: the model and its introspectable schema.
pub struct Reflected {
    pub model: Model,
    pub schema: async_graphql::dynamic::Schema,
}

pub struct App {
    pub config: Config,
    wire: wire::Pool,
    general: deadpool_postgres::Pool,
    generation: AtomicU64,
    schemas: RwLock<HashMap<String, (u64, Arc<Reflected>)>>,
    loading: tokio::sync::Mutex<()>,
    search_path: String,
    /// The roles' own settings (`ALTER ROLE … SET`), read again after each schema reload.
    role_settings: basalt_pg::request::RoleSettingsCache,
    /// `SELECT <pre-request function>()`, run after the settings.
    pre_request: Option<String>,
}

/// A GraphQL request as it arrives.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlRequest {
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub variables: Option<Value>,
    #[serde(default)]
    pub operation_name: Option<String>,
}

/// Who runs the request, and the request as the `request.*` settings show it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub role: String,
    /// `request.jwt.claims` as JSON text.
    pub claims: String,
    /// `request.method`.
    pub method: String,
    /// `request.path`.
    pub path: String,
    /// `request.headers` (a JSON object).
    pub headers: String,
    /// `request.cookies` (a JSON object).
    pub cookies: String,
}

pub fn errors(message: impl Into<String>) -> Value {
    json!({"data": null, "errors": [{"message": message.into()}]})
}

impl App {
    pub async fn start(config: Config) -> Result<Arc<App>, Error> {
        let wire = basalt_pg::wire::pool_for_callers(&config.db_uri, config.pool_size)
            .map_err(|e| Error::Config(e.to_string()))?;
        let general = basalt_pg::pool::build_for_callers(&config.db_uri, 2, None)
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut path: Vec<String> = config.schemas.clone();
        for s in &config.extra_search_path {
            if !path.contains(s) {
                path.push(s.clone());
            }
        }
        let search_path = path
            .iter()
            .map(|s| basalt_pg::quote_ident(s))
            .collect::<Vec<_>>()
            .join(", ");
        let app = Arc::new(App {
            wire,
            general,
            generation: AtomicU64::new(0),
            schemas: RwLock::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
            search_path,
            role_settings: Default::default(),
            pre_request: config
                .pre_request
                .as_deref()
                .map(basalt_pg::request::pre_request_sql),
            config,
        });
        let (ready, listening) = tokio::sync::oneshot::channel();
        tokio::spawn(listen(Arc::downgrade(&app), ready));
        if tokio::time::timeout(Duration::from_secs(10), listening)
            .await
            .is_err()
        {
            tracing::warn!("graphql schema listener not connected yet");
        }
        Ok(app)
    }

    /// Forget every reflected schema (the next request of each role reflects again).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.schemas.write().clear();
    }

    /// The schema `role` sees.
    pub async fn reflected(&self, role: &str) -> Result<Arc<Reflected>, String> {
        let current = self.generation.load(Ordering::SeqCst);
        let held = |this: &App| {
            this.schemas
                .read()
                .get(role)
                .filter(|(g, _)| *g == current)
                .map(|(_, r)| r.clone())
        };
        if let Some(r) = held(self) {
            return Ok(r);
        }
        let _loading = self.loading.lock().await;
        if let Some(r) = held(self) {
            return Ok(r);
        }
        let client = self.general.get().await.map_err(|e| e.to_string())?;
        let cat = Catalog::load(&client, &self.config.schemas, role).await?;
        let model = Model::from_catalog(&cat);
        // The dynamic schema asserts on duplicate names; a catalog basalt names wrongly must not
        // take the request down with it.
        let schema =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::gql::build(&model)))
                .map_err(|_| {
                "Error while building the GraphQL schema: duplicate names".to_string()
            })??;
        let r = Arc::new(Reflected { model, schema });
        if self.generation.load(Ordering::SeqCst) == current {
            self.schemas
                .write()
                .insert(role.to_string(), (current, r.clone()));
        }
        Ok(r)
    }

    /// Answer one GraphQL request as `caller`: the response body (always HTTP 200).
    pub async fn execute(&self, caller: &Caller, req: GqlRequest) -> Value {
        match self.execute_inner(caller, req).await {
            Ok(v) => v,
            Err(e) => errors(e),
        }
    }

    async fn execute_inner(&self, caller: &Caller, req: GqlRequest) -> Result<Value, String> {
        if req.query.trim().is_empty() {
            return Err("Invalid request: no query".into());
        }
        let variables = match &req.variables {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
            Some(Value::String(s)) => match serde_json::from_str(s) {
                Ok(Value::Object(o)) => o,
                _ => return Err("Invalid variables".into()),
            },
            Some(_) => return Err("Invalid variables".into()),
        };
        let doc = async_graphql::parser::parse_query(&req.query).map_err(|e| {
            let m = e.to_string();
            // An anonymous operation beside others: pg_graphql's words.
            if m.contains("multiple operations") {
                "Anonymous operations must be the only defined operation".to_string()
            } else {
                m
            }
        })?;
        let op = translate::operation(&doc, req.operation_name.as_deref())?;
        if op.node.ty == OperationType::Subscription {
            return Err("Subscriptions are not supported".into());
        }
        let reflected = self.reflected(&caller.role).await?;
        let (intro, data) = translate::root_kinds(&doc, &op.node);
        // Mixed introspection and data (queries only): the data first, then async-graphql
        // answers the whole operation with the data copied in.
        let mut flag = crate::gql::GateFlag {
            execute: intro,
            ..Default::default()
        };
        let mut gql_req = async_graphql::Request::new(req.query.clone()).variables(
            async_graphql::Variables::from_json(Value::Object(variables.clone())),
        );
        if let Some(n) = &req.operation_name {
            gql_req = gql_req.operation_name(n.clone());
        }
        gql_req.set_parsed_query(doc.clone());
        if intro && data {
            // Validate first (introspection only, data fields left out is not possible), so
            // run the data part only for queries, after translation succeeds.
            if op.node.ty != OperationType::Query {
                return Err("Introspection is only available on queries".into());
            }
            let t = translate::translate(&reflected.model, &doc, &op.node, &variables)?;
            let Translated::Query(stmt) = t else {
                return Err("Introspection is only available on queries".into());
            };
            match self.run_query(caller, &stmt).await? {
                Value::Object(o) => flag.precomputed = Some(o),
                _ => return Err("Internal error: no data".into()),
            }
        }
        let flag = Arc::new(flag);
        let resp = reflected.schema.execute(gql_req.data(flag.clone())).await;
        if !resp.errors.is_empty() {
            let errs: Vec<Value> = resp
                .errors
                .iter()
                .map(|e| json!({"message": e.message}))
                .collect();
            return Ok(json!({"data": null, "errors": errs}));
        }
        if flag.execute {
            let data = resp.data.into_json().map_err(|e| e.to_string())?;
            return Ok(json!({ "data": data }));
        }
        if !flag.reached.load(Ordering::Relaxed) {
            return Err("Internal error: validation did not complete".into());
        }
        match translate::translate(&reflected.model, &doc, &op.node, &variables)? {
            Translated::Query(stmt) => {
                let data = self.run_query(caller, &stmt).await?;
                Ok(json!({ "data": data }))
            }
            Translated::Mutation(steps, typenames) => {
                let data = self.run_mutation(caller, &steps, &typenames).await?;
                Ok(json!({ "data": data }))
            }
        }
    }

    /// The transaction's settings statement (`basalt_pg::request`, as REST sets them): the
    /// role's own settings, search path, role, claims and `request.*`, then the pre-request
    /// function when one is configured.
    async fn setup(
        &self,
        conn: &mut wire::Conn,
        caller: &Caller,
        read_only: bool,
    ) -> Result<(String, Vec<Option<String>>), String> {
        let generation = self.generation.load(Ordering::SeqCst);
        let roles = self
            .role_settings
            .get(conn, generation)
            .await
            .map_err(db_message)?;
        let (sql, params) = basalt_pg::request::setup_sql(&basalt_pg::request::Settings {
            search_path: &self.search_path,
            caller: Some(basalt_pg::request::Caller {
                role: Some(&caller.role),
                claims: &caller.claims,
                method: &caller.method,
                path: &caller.path,
                headers: &caller.headers,
                cookies: &caller.cookies,
            }),
            app_settings: &[],
            timezone: None,
            read_only,
            role_settings: roles.of(&caller.role),
        });
        Ok((
            sql,
            params.into_iter().map(|p| p.map(str::to_string)).collect(),
        ))
    }

    /// The steps that start a request's transaction: the settings, then the pre-request call.
    fn start_steps<'s>(&'s self, setup: &'s str, params: &'s [Option<String>]) -> Vec<Step<'s>> {
        let mut steps = vec![Step {
            sql: setup,
            params: params.iter().map(|p| p.as_deref()).collect(),
        }];
        if let Some(pre) = &self.pre_request {
            steps.push(Step::plain(pre));
        }
        steps
    }

    async fn conn(&self) -> Result<deadpool::managed::Object<wire::Manager>, String> {
        let mut c = self
            .wire
            .get()
            .await
            .map_err(|e| format!("Timed out acquiring connection: {e}"))?;
        c.set_generation(self.generation.load(Ordering::SeqCst));
        Ok(c)
    }

    /// One read-only implicit transaction, one round trip.
    async fn run_query(
        &self,
        caller: &Caller,
        stmt: &translate::Statement,
    ) -> Result<Value, String> {
        let mut conn = self.conn().await?;
        let (setup, sp) = self.setup(&mut conn, caller, true).await?;
        let mut steps = self.start_steps(&setup, &sp);
        let at = steps.len();
        steps.push(Step {
            sql: &stmt.sql,
            params: stmt.params.iter().map(|p| p.as_deref()).collect(),
        });
        let rows = conn.pipeline(&steps).await.map_err(db_message)?;
        let text = rows
            .get(at)
            .and_then(|r| r.first())
            .and_then(|r| r.text(0))
            .ok_or("Internal error: no result")?;
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The mutation fields in order in one transaction; committed unless a field fails or
    /// affects more rows than its `atMost`.
    async fn run_mutation(
        &self,
        caller: &Caller,
        steps: &[translate::MutationStep],
        typenames: &[(String, String)],
    ) -> Result<Value, String> {
        let mut conn = self.conn().await?;
        let (setup, sp) = self.setup(&mut conn, caller, false).await?;
        let mut pipeline = vec![Step::plain("BEGIN ISOLATION LEVEL READ COMMITTED")];
        pipeline.extend(self.start_steps(&setup, &sp));
        let first = pipeline.len();
        for s in steps {
            pipeline.push(Step {
                sql: &s.statement.sql,
                params: s.statement.params.iter().map(|p| p.as_deref()).collect(),
            });
        }
        let rows = match conn.pipeline(&pipeline).await {
            Ok(r) => r,
            Err(e) => {
                if conn.in_transaction() {
                    let _ = conn.pipeline(&[Step::plain("ROLLBACK")]).await;
                }
                return Err(db_message(e));
            }
        };
        let mut out = Map::new();
        let mut failure = None;
        for (i, s) in steps.iter().enumerate() {
            let row = rows.get(i + first).and_then(|r| r.first());
            let value: Value = row
                .and_then(|r| r.text(0))
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null);
            let affected = row.and_then(|r| r.int(1)).unwrap_or(0);
            if let Some((at_most, msg)) = s.at_most {
                if affected > at_most {
                    failure = Some(msg);
                    break;
                }
            }
            out.insert(s.key.clone(), value);
        }
        if let Some(msg) = failure {
            let _ = conn.pipeline(&[Step::plain("ROLLBACK")]).await;
            return Err(msg.into());
        }
        conn.pipeline(&[Step::plain("COMMIT")])
            .await
            .map_err(db_message)?;
        for (k, v) in typenames {
            out.insert(k.clone(), Value::String(v.clone()));
        }
        Ok(Value::Object(out))
    }
}

fn db_message(e: wire::Error) -> String {
    match e {
        wire::Error::Db(d) => d.message,
        other => other.to_string(),
    }
}

/// LISTEN on `pgrst`; drop the reflected schemas on `reload schema` (or an empty payload), and
/// after reconnecting (DDL of the gap went unheard).
async fn listen(app: std::sync::Weak<App>, ready: tokio::sync::oneshot::Sender<()>) {
    let mut ready = Some(ready);
    loop {
        let Some(url) = app.upgrade().map(|a| a.config.db_uri.clone()) else {
            return;
        };
        if let Ok((client, mut conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let driver = tokio::spawn(async move {
                let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
                while let Some(Ok(m)) = messages.next().await {
                    if let tokio_postgres::AsyncMessage::Notification(n) = m {
                        if tx.send(n.payload().to_string()).is_err() {
                            break;
                        }
                    }
                }
            });
            if client.batch_execute("LISTEN pgrst").await.is_ok() {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                } else if let Some(a) = app.upgrade() {
                    a.invalidate();
                }
                while let Some(payload) = rx.recv().await {
                    if payload.is_empty() || payload == "reload schema" {
                        let Some(a) = app.upgrade() else { return };
                        a.invalidate();
                    }
                }
            }
            driver.abort();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
