//! `basalt test rls`: with no test files at all, prove that users only reach their own rows.
//! Two users are created; every table of the exposed schemas gets a row in each user's "world"
//! (foreign keys point to that user's parent rows, owner columns to that user), inserted with
//! row level security bypassed as the service role would; then each user, and anon, tries to
//! select, update, delete and insert the other user's rows. Every attempt that succeeds is a
//! leak. Everything happens in one transaction that is rolled back: the database is unchanged.

pub mod catalog;
pub mod values;

use std::collections::{HashMap, HashSet};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};

use crate::error::Error;
use catalog::{quote_ident, Table};

/// A kind of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Select,
    Insert,
    Update,
    Delete,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Select => "select",
            Action::Insert => "insert",
            Action::Update => "update",
            Action::Delete => "delete",
        })
    }
}

/// One access that should have been refused and was not.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Leak {
    /// `user_a`, `user_b` or `anon`.
    pub actor: String,
    /// Whose row it was.
    pub owner: String,
    pub action: Action,
}

/// What happened to one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableResult {
    pub schema: String,
    pub table: String,
    /// None when the table was probed; else why it was not.
    pub skipped: Option<String>,
    pub leaks: Vec<Leak>,
    /// Probes that failed for another reason than a refusal (not leaks, worth a look).
    pub notes: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RlsReport {
    pub tables: Vec<TableResult>,
}

impl RlsReport {
    /// Every leak, table by table.
    pub fn leak_count(&self) -> usize {
        self.tables.iter().map(|t| t.leaks.len()).sum()
    }

    /// One line per table, then a summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            let name = format!("{}.{}", t.schema, t.table);
            if let Some(reason) = &t.skipped {
                out.push_str(&format!("{name}: skipped ({reason})\n"));
            } else if t.leaks.is_empty() {
                out.push_str(&format!("{name}: ok\n"));
            } else {
                let leaks: Vec<String> = t
                    .leaks
                    .iter()
                    .map(|l| format!("{} can {} a row of {}", l.actor, l.action, l.owner))
                    .collect();
                out.push_str(&format!("{name}: LEAK {}\n", leaks.join("; ")));
            }
            for n in &t.notes {
                out.push_str(&format!("  note: {n}\n"));
            }
        }
        let leaking = self.tables.iter().filter(|t| !t.leaks.is_empty()).count();
        let skipped = self.tables.iter().filter(|t| t.skipped.is_some()).count();
        out.push_str(&format!(
            "{} table(s): {} ok, {} leaking, {} skipped\n",
            self.tables.len(),
            self.tables.len() - leaking - skipped,
            leaking,
            skipped
        ));
        out
    }
}

/// One generated user.
struct User {
    label: &'static str,
    tag: &'static str,
    id: uuid::Uuid,
    email: String,
}

/// A user's row of one table.
#[derive(Clone)]
struct Row {
    ctid: String,
    values: serde_json::Map<String, serde_json::Value>,
    /// The insert that made it: columns and their text values.
    columns: Vec<(String, String)>,
}

/// Run the probes against every table of `exposed` schemas.
pub async fn run(client: &mut Client, exposed: &[String]) -> Result<RlsReport, Error> {
    let tables = catalog::tables(client, exposed).await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| Error::query("begin", &e))?;
    let auth_users: Option<u32> = tx
        .query_one("SELECT to_regclass('auth.users')::oid", &[])
        .await
        .map_err(|e| Error::query("find auth.users", &e))?
        .get(0);
    let auth_users = auth_users.ok_or_else(|| {
        Error::Usage("the database has no auth.users table; apply the platform schema first".into())
    })?;
    let users = [make_user("user_a", "a"), make_user("user_b", "b")];
    for u in &users {
        tx.execute(
            "INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data,
                                     raw_user_meta_data, created_at, updated_at, email_confirmed_at)
             VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated',
                     $2, '{\"provider\":\"email\",\"providers\":[\"email\"]}', '{}', now(), now(), now())",
            &[&u.id, &u.email],
        )
        .await
        .map_err(|e| Error::query("create test user", &e))?;
    }
    let order = dependency_order(&tables);
    let mut results: HashMap<u32, TableResult> = tables
        .iter()
        .map(|t| {
            (
                t.oid,
                TableResult {
                    schema: t.schema.clone(),
                    table: t.name.clone(),
                    skipped: None,
                    leaks: Vec::new(),
                    notes: Vec::new(),
                },
            )
        })
        .collect();
    let mut worlds: [HashMap<u32, Row>; 2] = [HashMap::new(), HashMap::new()];
    let mut owned: HashSet<u32> = HashSet::new();
    for &i in &order {
        let t = &tables[i];
        let mut failure = None;
        for (w, user) in users.iter().enumerate() {
            match seed(&tx, t, user, &worlds[w], auth_users, &owned, i).await {
                Ok((row, is_owned)) => {
                    if is_owned {
                        owned.insert(t.oid);
                    }
                    worlds[w].insert(t.oid, row);
                }
                Err(reason) => {
                    failure = Some(reason);
                    break;
                }
            }
        }
        if let (Some(reason), Some(result)) = (failure, results.get_mut(&t.oid)) {
            result.skipped = Some(reason);
            worlds[0].remove(&t.oid);
            worlds[1].remove(&t.oid);
        }
    }
    for t in &tables {
        let Some(result) = results.get_mut(&t.oid) else {
            continue;
        };
        if result.skipped.is_some() {
            continue;
        }
        if !owned.contains(&t.oid) {
            result.skipped = Some("no column ties its rows to a user".into());
            continue;
        }
        let (Some(row_a), Some(row_b)) = (worlds[0].get(&t.oid), worlds[1].get(&t.oid)) else {
            continue;
        };
        let attempts = [
            (Actor::User(&users[1]), &users[0], row_a),
            (Actor::User(&users[0]), &users[1], row_b),
            (Actor::Anon, &users[0], row_a),
        ];
        for (actor, owner, row) in attempts {
            for action in [
                Action::Select,
                Action::Update,
                Action::Delete,
                Action::Insert,
            ] {
                match probe(&tx, t, &actor, row, action).await {
                    Ok(true) => result.leaks.push(Leak {
                        actor: actor.label().to_string(),
                        owner: owner.label.to_string(),
                        action,
                    }),
                    Ok(false) => {}
                    Err(note) => result.notes.push(format!(
                        "{} {action} on {}'s row failed: {note}",
                        actor.label(),
                        owner.label
                    )),
                }
            }
        }
    }
    tx.rollback()
        .await
        .map_err(|e| Error::query("roll back", &e))?;
    let tables = tables
        .iter()
        .filter_map(|t| results.remove(&t.oid))
        .collect();
    Ok(RlsReport { tables })
}

fn make_user(label: &'static str, tag: &'static str) -> User {
    let id = uuid::Uuid::new_v4();
    User {
        label,
        tag,
        email: format!("rls-{tag}-{id}@example.invalid"),
        id,
    }
}

/// Who acts in a probe.
enum Actor<'a> {
    User(&'a User),
    Anon,
}

impl Actor<'_> {
    fn label(&self) -> &'static str {
        match self {
            Actor::User(u) => u.label,
            Actor::Anon => "anon",
        }
    }
}

/// Tables ordered so that a foreign key's target comes before the table (cycles: as listed).
fn dependency_order(tables: &[Table]) -> Vec<usize> {
    let index: HashMap<u32, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
    let mut done = vec![false; tables.len()];
    let mut order = Vec::new();
    loop {
        let before = order.len();
        for (i, t) in tables.iter().enumerate() {
            if done[i] {
                continue;
            }
            let ready = t
                .foreign_keys
                .iter()
                .all(|fk| fk.target == t.oid || index.get(&fk.target).is_none_or(|&j| done[j]));
            if ready {
                done[i] = true;
                order.push(i);
            }
        }
        if order.len() == tables.len() {
            return order;
        }
        if order.len() == before {
            order.extend((0..tables.len()).filter(|&i| !done[i]));
            return order;
        }
    }
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The columns and text values of `user`'s row of `t`, and whether they tie it to the user.
fn row_values(
    t: &Table,
    user: &User,
    world: &HashMap<u32, Row>,
    auth_users: u32,
    owned: &HashSet<u32>,
    n: usize,
) -> Result<(Vec<(String, String)>, bool), String> {
    let mut cols = Vec::new();
    let mut is_owned = false;
    for c in &t.columns {
        if !c.generated.is_empty() || c.identity == "a" {
            continue;
        }
        if let Some(fk) = t.fk_of(&c.name) {
            let pos = fk.columns.iter().position(|x| *x == c.name).unwrap_or(0);
            if fk.target == auth_users && fk.target_columns.get(pos).is_some_and(|x| x == "id") {
                cols.push((c.name.clone(), user.id.to_string()));
                is_owned = true;
                continue;
            }
            if let Some(parent) = world.get(&fk.target) {
                let target_col = fk.target_columns.get(pos).cloned().unwrap_or_default();
                if let Some(v) = parent.values.get(&target_col).and_then(json_text) {
                    cols.push((c.name.clone(), v));
                    is_owned |= owned.contains(&fk.target);
                    continue;
                }
            }
            if c.not_null && !c.has_default {
                return Err(format!(
                    "column {} needs a row of a table that could not be seeded",
                    c.name
                ));
            }
            continue;
        }
        if values::is_owner_like(c) {
            is_owned = true;
            // Explicit even where the default is auth.uid(): an insert probe must claim the
            // owner's id, not take the actor's.
            cols.push((c.name.clone(), user.id.to_string()));
            continue;
        }
        if c.has_default || c.identity == "d" || !c.not_null {
            continue;
        }
        match values::invent(c, user.tag, n) {
            Some(v) => cols.push((c.name.clone(), v)),
            None => {
                return Err(format!(
                    "no test value for column {} of type {}",
                    c.name, c.sql_type
                ))
            }
        }
    }
    Ok((cols, is_owned))
}

/// Set the identity of the current (sub)transaction to `actor`.
async fn act_as(tx: &Transaction<'_>, actor: &Actor<'_>) -> Result<(), tokio_postgres::Error> {
    let (role, sub, claims) = match actor {
        Actor::User(u) => (
            "authenticated",
            u.id.to_string(),
            serde_json::json!({
                "sub": u.id.to_string(), "role": "authenticated", "aud": "authenticated",
                "email": u.email, "app_metadata": {}, "user_metadata": {}
            }),
        ),
        Actor::Anon => ("anon", String::new(), serde_json::json!({ "role": "anon" })),
    };
    tx.execute(
        "SELECT set_config('request.jwt.claims', $2, true), set_config('request.jwt.claim.sub', $3, true),
                set_config('request.jwt.claim.role', $1, true), set_config('role', $1, true)",
        &[&role, &claims.to_string(), &sub],
    )
    .await
    .map(|_| ())
}

/// Claims of `user` for defaults, keeping the seeding session's own (superuser) role.
async fn act_as_owner(tx: &Transaction<'_>, user: &User) -> Result<(), tokio_postgres::Error> {
    let claims = serde_json::json!({
        "sub": user.id.to_string(), "role": "authenticated", "aud": "authenticated",
        "email": user.email, "app_metadata": {}, "user_metadata": {}
    });
    tx.execute(
        "SELECT set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true)",
        &[&claims.to_string(), &user.id.to_string()],
    )
    .await
    .map(|_| ())
}

fn insert_sql(t: &Table, cols: &[(String, String)]) -> String {
    if cols.is_empty() {
        return format!(
            "INSERT INTO {} AS r DEFAULT VALUES RETURNING r.ctid::text, to_jsonb(r)::text",
            t.quoted()
        );
    }
    let names: Vec<String> = cols.iter().map(|(c, _)| quote_ident(c)).collect();
    let vals: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, (c, _))| {
            let ty = t
                .columns
                .iter()
                .find(|x| x.name == *c)
                .map(|x| x.sql_type.as_str())
                .unwrap_or("text");
            format!("CAST(${}::text AS {ty})", i + 1)
        })
        .collect();
    format!(
        "INSERT INTO {} AS r ({}) VALUES ({}) RETURNING r.ctid::text, to_jsonb(r)::text",
        t.quoted(),
        names.join(", "),
        vals.join(", ")
    )
}

fn params(cols: &[(String, String)]) -> Vec<&(dyn ToSql + Sync)> {
    cols.iter().map(|(_, v)| v as &(dyn ToSql + Sync)).collect()
}

/// Give `user` a row of `t` (or find the one a trigger already made), RLS bypassed.
async fn seed(
    tx: &Transaction<'_>,
    t: &Table,
    user: &User,
    world: &HashMap<u32, Row>,
    auth_users: u32,
    owned: &HashSet<u32>,
    n: usize,
) -> Result<(Row, bool), String> {
    let (cols, is_owned) = row_values(t, user, world, auth_users, owned, n)?;
    let owner_fk = t
        .foreign_keys
        .iter()
        .find(|fk| fk.target == auth_users && fk.columns.len() == 1)
        .map(|fk| fk.columns[0].clone());
    if let Some(col) = owner_fk {
        let existing = tx
            .query_opt(
                &format!(
                    "SELECT r.ctid::text, to_jsonb(r)::text FROM {} AS r WHERE {} = $1 LIMIT 1",
                    t.quoted(),
                    quote_ident(&col)
                ),
                &[&user.id],
            )
            .await
            .map_err(|e| basalt_migrate::apply::pg_message(&e))?;
        if let Some(r) = existing {
            return Ok((to_row(r.get(0), r.get(1), cols), is_owned));
        }
    }
    // Defaults such as auth.uid() or auth.jwt() see the user the row is for.
    act_as_owner(tx, user)
        .await
        .map_err(|e| basalt_migrate::apply::pg_message(&e))?;
    savepoint(tx, "SAVEPOINT basalt_rls_seed").await?;
    let inserted = tx.query_one(&insert_sql(t, &cols), &params(&cols)).await;
    match inserted {
        Ok(r) => {
            savepoint(tx, "RELEASE SAVEPOINT basalt_rls_seed").await?;
            Ok((to_row(r.get(0), r.get(1), cols), is_owned))
        }
        Err(e) => {
            let message = basalt_migrate::apply::pg_message(&e);
            savepoint(tx, "ROLLBACK TO SAVEPOINT basalt_rls_seed").await?;
            Err(format!("could not create a test row: {message}"))
        }
    }
}

/// Run a savepoint command (fixed text, no values).
async fn savepoint(tx: &Transaction<'_>, command: &str) -> Result<(), String> {
    tx.batch_execute(command)
        .await
        .map_err(|e| basalt_migrate::apply::pg_message(&e))
}

fn to_row(ctid: String, json: String, columns: Vec<(String, String)>) -> Row {
    let values = serde_json::from_str::<serde_json::Value>(&json)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    Row {
        ctid,
        values,
        columns,
    }
}

/// Try one access as `actor` on `row`; true when it succeeded (a leak).
async fn probe(
    tx: &Transaction<'_>,
    t: &Table,
    actor: &Actor<'_>,
    row: &Row,
    action: Action,
) -> Result<bool, String> {
    let client = tx;
    savepoint(tx, "SAVEPOINT basalt_rls_probe").await?;
    let ctid = row.ctid.clone();
    let outcome = async {
        if action == Action::Insert {
            // The owner's row goes first (as the service role), so that unique keys do not
            // hide a permitted insert.
            client
                .execute(
                    &format!("DELETE FROM {} WHERE ctid = $1::text::tid", t.quoted()),
                    &[&ctid],
                )
                .await?;
        }
        act_as(client, actor).await?;
        let n = match action {
            Action::Select => {
                let r = client
                    .query_one(
                        &format!(
                            "SELECT count(*) FROM {} WHERE ctid = $1::text::tid",
                            t.quoted()
                        ),
                        &[&ctid],
                    )
                    .await?;
                r.get::<_, i64>(0) as u64
            }
            Action::Update => {
                let Some(col) = t
                    .columns
                    .iter()
                    .find(|c| c.generated.is_empty() && c.identity != "a")
                else {
                    return Ok(0);
                };
                let c = quote_ident(&col.name);
                client
                    .execute(
                        &format!(
                            "UPDATE {} SET {c} = {c} WHERE ctid = $1::text::tid",
                            t.quoted()
                        ),
                        &[&ctid],
                    )
                    .await?
            }
            Action::Delete => {
                client
                    .execute(
                        &format!("DELETE FROM {} WHERE ctid = $1::text::tid", t.quoted()),
                        &[&ctid],
                    )
                    .await?
            }
            Action::Insert => {
                client
                    .execute(&insert_sql(t, &row.columns), &params(&row.columns))
                    .await?
            }
        };
        Ok::<u64, tokio_postgres::Error>(n)
    }
    .await;
    savepoint(tx, "ROLLBACK TO SAVEPOINT basalt_rls_probe").await?;
    match outcome {
        Ok(n) => Ok(n > 0),
        Err(e) => {
            let refused = e.as_db_error().is_some_and(|db| {
                let code = db.code().code();
                // insufficient_privilege (no grant, or a row level security check failed)
                code == "42501"
            });
            if refused {
                Ok(false)
            } else {
                Err(basalt_migrate::apply::pg_message(&e))
            }
        }
    }
}
