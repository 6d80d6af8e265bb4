//! `postgres_changes` delivery: match a batch of committed changes against the subscriptions,
//! ask Postgres which rows each *security context* may see, build each change's payload once,
//! and hand it to every socket entitled to it.
//!
//! Subscribers are grouped by security context (role + claims). For each table touched by the
//! batch, one call to `realtime.basalt_visible` checks every changed row for every context that
//! has a matching subscription, each context with `role` and `request.jwt.claims` set so that the
//! table's own policies decide. The cost grows with tables × contexts per batch, not with
//! subscribers × changes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Pool;
use serde_json::{json, Map, Value};

use crate::filter::EventKind;
use crate::hub::{CdcSub, SecurityContext};
use crate::pgoutput::Cell;
use crate::phoenix;
use crate::rls;
use crate::typed::{self, JsonType};

/// What the service knows about a published table.
#[derive(Debug, Clone)]
pub struct RelInfo {
    pub id: u32,
    pub schema: String,
    pub name: String,
    /// (name, type name) of each column, in pgoutput order.
    pub columns: Vec<(String, String)>,
    /// How each column's values become JSON (missing entries are text).
    pub json_types: Vec<JsonType>,
    /// Positions of the primary-key (or replica identity) columns.
    pub key: Vec<usize>,
    /// `REPLICA IDENTITY FULL`.
    pub full_identity: bool,
    /// Row level security is enabled on the table.
    pub rls: bool,
}

impl RelInfo {
    /// `columns` as the payload's `columns` array.
    fn columns_json(&self) -> Value {
        Value::Array(
            self.columns
                .iter()
                .map(|(n, t)| json!({"name": n, "type": t}))
                .collect(),
        )
    }

    /// How the values of column `i` become JSON.
    fn json_type(&self, i: usize) -> &JsonType {
        const TEXT: &JsonType = &JsonType::Text;
        self.json_types.get(i).unwrap_or(TEXT)
    }

    fn index(&self, col: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n == col)
    }
}

/// One committed row change.
#[derive(Debug, Clone)]
pub struct Change {
    pub rel: Arc<RelInfo>,
    pub kind: EventKind,
    pub new: Option<Vec<Cell>>,
    pub old: Option<Vec<Cell>>,
    /// Commit time, microseconds since 2000-01-01.
    pub commit_time: i64,
    /// Id of the transaction.
    pub xid: u32,
}

impl Change {
    /// The row the filters look at: the new row, or the old one for deletes.
    fn filter_row(&self) -> Option<&Vec<Cell>> {
        match self.kind {
            EventKind::Delete => self.old.as_ref(),
            _ => self.new.as_ref(),
        }
    }

    /// Key column values of the row, as a JSON object of text values.
    fn key_json(&self) -> Option<Value> {
        let row = self.filter_row()?;
        let mut m = Map::new();
        for &i in &self.rel.key {
            let (name, _) = &self.rel.columns[i];
            m.insert(name.clone(), json!(row.get(i)?.as_text()?));
        }
        Some(Value::Object(m))
    }
}

/// Why a batch could not be checked (the caller retries it; nothing is delivered meanwhile).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("visibility query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("visibility query failed: {0}")]
    Failed(String),
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` (milliseconds, as Supabase Realtime sends it) from microseconds
/// since 2000-01-01.
pub fn commit_timestamp(pg_micros: i64) -> String {
    const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
    let unix = pg_micros.saturating_add(PG_EPOCH_UNIX_MICROS);
    chrono::DateTime::from_timestamp_micros(unix)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A row as the JSON object Supabase Realtime sends: each column's value typed by its column
/// type ([`typed`]), keys in `jsonb` order, only the columns in `only` when given. An unchanged
/// TOASTed value (not in the WAL) is taken from `fill`, the old row, when it carries it.
/// With `capped` (a change over [`MAX_RECORD_BYTES`]) values longer than
/// [`CAPPED_VALUE_BYTES`] as JSON are left out.
fn row_json(
    rel: &RelInfo,
    row: &[Cell],
    only: Option<&[usize]>,
    fill: Option<&[Cell]>,
    capped: bool,
) -> String {
    let mut cells: Vec<(&str, usize, &Cell)> = Vec::with_capacity(rel.columns.len());
    for (i, (name, _)) in rel.columns.iter().enumerate() {
        if only.is_some_and(|only| !only.contains(&i)) {
            continue;
        }
        let cell = match row.get(i) {
            Some(Cell::Unchanged) => match fill.and_then(|f| f.get(i)) {
                Some(c @ Cell::Text(_)) => c,
                _ => continue,
            },
            Some(c) => c,
            None => continue,
        };
        cells.push((name, i, cell));
    }
    cells.sort_by(|a, b| typed::jsonb_key_order(a.0, b.0));
    let mut out = String::with_capacity(16 * cells.len() + 2);
    out.push('{');
    let mut value = String::new();
    for (name, i, cell) in cells {
        value.clear();
        match cell {
            Cell::Text(s) => typed::column_json(rel.json_type(i), s, &mut value),
            Cell::Null | Cell::Unchanged => value.push_str("null"),
        }
        if capped && value.len() > CAPPED_VALUE_BYTES {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        typed::push_str(&mut out, name);
        out.push(':');
        out.push_str(&value);
    }
    out.push('}');
    out
}

/// A change whose column values add up to more than this many bytes is sent without its long
/// values and with the error `Error 413: Payload Too Large`, as Supabase Realtime does.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The longest value (as JSON) kept in a change over [`MAX_RECORD_BYTES`].
pub const CAPPED_VALUE_BYTES: usize = 64;

fn cells_bytes(row: Option<&[Cell]>) -> usize {
    row.map_or(0, |r| {
        r.iter()
            .map(|c| match c {
                Cell::Text(s) => s.len(),
                Cell::Null | Cell::Unchanged => 0,
            })
            .sum()
    })
}

/// The `data` object of a `postgres_changes` event, as JSON text.
pub fn payload(c: &Change) -> String {
    let rel = &c.rel;
    let kind = match c.kind {
        EventKind::Insert => "INSERT",
        EventKind::Update => "UPDATE",
        EventKind::Delete => "DELETE",
        EventKind::All => "*",
    };
    let capped = cells_bytes(c.new.as_deref()) + cells_bytes(c.old.as_deref()) > MAX_RECORD_BYTES;
    let errors = if capped {
        json!(["Error 413: Payload Too Large"])
    } else {
        Value::Null
    };
    let head = json!({
        "schema": rel.schema,
        "table": rel.name,
        "commit_timestamp": commit_timestamp(c.commit_time),
        "type": kind,
        "columns": rel.columns_json(),
        "errors": errors,
    })
    .to_string();
    let mut out = String::with_capacity(head.len() + 256);
    // `head` is an object: reopen it to append the rows.
    out.push_str(head.strip_suffix('}').unwrap_or(&head));
    if let Some(new) = &c.new {
        out.push_str(",\"record\":");
        out.push_str(&row_json(rel, new, None, c.old.as_deref(), capped));
    }
    // With row level security the old row could reveal what the subscriber may not see: it
    // carries the key only, as in supabase/realtime.
    let old_only = if old_row_shown(rel) {
        None
    } else {
        Some(rel.key.as_slice())
    };
    let old = match (c.kind, &c.old, &c.new) {
        (EventKind::Insert, _, _) => None,
        (_, Some(old), _) => Some(row_json(rel, old, old_only, None, capped)),
        (EventKind::Update, None, Some(new)) => {
            Some(row_json(rel, new, Some(&rel.key), None, capped))
        }
        _ => None,
    };
    if let Some(old) = old {
        out.push_str(",\"old_record\":");
        out.push_str(&old);
    }
    out.push('}');
    out
}

/// Whether the old row of `rel`'s updates and deletes may show its non-key columns, in the
/// payload or, for deletes, through filter matching. A deleted row cannot be checked against policies, so with row level
/// security on only its key is revealed: a filter on another column never matches a delete
/// there (else a subscriber could confirm a guessed value of a row it may not see by whether
/// the event arrives). Stricter than supabase/realtime, which matches delete filters against
/// the whole `REPLICA IDENTITY FULL` row; without the full identity the WAL carries the key
/// only anyway.
fn old_row_shown(rel: &RelInfo) -> bool {
    rel.full_identity && !rel.rls
}

/// Whether `sub` wants change `c` (event, schema, table, filters).
fn wants(sub: &CdcSub, c: &Change) -> bool {
    let Some(row) = c.filter_row() else {
        return false;
    };
    let rel = &c.rel;
    sub.binding.matches(&rel.schema, &rel.name, c.kind, |col| {
        let i = rel.index(col)?;
        if c.kind == EventKind::Delete && !rel.key.contains(&i) && !old_row_shown(rel) {
            return None;
        }
        let cell = row.get(i)?;
        let v = match cell {
            Cell::Text(s) => Some(s.as_str()),
            Cell::Null => None,
            Cell::Unchanged => return None,
        };
        Some((v, rel.columns[i].1.as_str()))
    })
}

/// Subscriptions indexed for matching, each with the number of its security context.
#[derive(Default)]
pub struct Index {
    by_schema: HashMap<String, Vec<(CdcSub, usize)>>,
    contexts: Vec<Arc<SecurityContext>>,
}

impl Index {
    /// Index a snapshot of subscriptions.
    pub fn new(subs: Vec<CdcSub>) -> Index {
        let mut by_schema: HashMap<String, Vec<(CdcSub, usize)>> = HashMap::new();
        let mut ids: HashMap<Arc<SecurityContext>, usize> = HashMap::new();
        let mut contexts = Vec::new();
        for s in subs {
            let n = *ids.entry(s.ctx.clone()).or_insert_with(|| {
                contexts.push(s.ctx.clone());
                contexts.len() - 1
            });
            by_schema
                .entry(s.binding.schema.clone())
                .or_default()
                .push((s, n));
        }
        Index {
            by_schema,
            contexts,
        }
    }

    /// True when nobody subscribes to changes.
    pub fn is_empty(&self) -> bool {
        self.by_schema.is_empty()
    }
}

/// Check and deliver a batch of changes, in order. Returns the number of frames handed to
/// sockets.
pub async fn deliver(pool: &Pool, index: &Index, changes: &[Change]) -> Result<usize, CheckError> {
    if index.is_empty() || changes.is_empty() {
        return Ok(0);
    }
    // Matching subscriptions of each change.
    let matched: Vec<Vec<&(CdcSub, usize)>> = changes
        .iter()
        .map(|c| {
            index
                .by_schema
                .get(&c.rel.schema)
                .map(|subs| subs.iter().filter(|(s, _)| wants(s, c)).collect())
                .unwrap_or_default()
        })
        .collect();

    // Per table: the changes to check and the contexts that want any of them.
    struct Check {
        rel: Arc<RelInfo>,
        rows: Vec<usize>,
        by_privilege: Vec<usize>,
        /// Context numbers (of the index) to check, and which of them are already listed.
        ctxs: Vec<usize>,
        listed: HashSet<usize>,
    }
    let mut checks: HashMap<u32, Check> = HashMap::new();
    for (ci, subs) in matched.iter().enumerate() {
        if subs.is_empty() {
            continue;
        }
        let c = &changes[ci];
        let ch = checks.entry(c.rel.id).or_insert_with(|| Check {
            rel: c.rel.clone(),
            rows: Vec::new(),
            by_privilege: Vec::new(),
            ctxs: Vec::new(),
            listed: HashSet::new(),
        });
        // Without row level security, or for a row that is gone, the table privilege decides.
        if c.kind == EventKind::Delete || !c.rel.rls {
            ch.by_privilege.push(ci);
        } else {
            ch.rows.push(ci);
        }
        for (_, n) in subs.iter().copied() {
            if ch.listed.insert(*n) {
                ch.ctxs.push(*n);
            }
        }
    }

    // (change, context) pairs that may be seen.
    let mut visible: HashSet<(usize, usize)> = HashSet::new();
    let futures = checks.values().map(|ch| async move {
        let mut pairs = Vec::new();
        if !ch.rows.is_empty() {
            let keys: Vec<Value> = ch
                .rows
                .iter()
                .map(|&ci| changes[ci].key_json().unwrap_or_else(|| json!({})))
                .collect();
            let mut xids: Vec<i64> = ch
                .rows
                .iter()
                .map(|&ci| i64::from(changes[ci].xid))
                .collect();
            xids.sort_unstable();
            xids.dedup();
            let ctxs: Vec<&SecurityContext> =
                ch.ctxs.iter().map(|&n| &*index.contexts[n]).collect();
            let seen = rls::visible(pool, &ch.rel, &Value::Array(keys), &xids, &ctxs).await?;
            for (ctx, row) in seen {
                if let (Some(&ci), Some(&cx)) = (ch.rows.get(row), ch.ctxs.get(ctx)) {
                    pairs.push((ci, cx));
                }
            }
        }
        if !ch.by_privilege.is_empty() {
            // Tables without RLS: the SELECT privilege decides. A deleted row cannot be checked
            // against policies: like supabase/realtime, deletes go (key only when RLS is on) to
            // contexts whose role may select from the table.
            let roles: Vec<String> = ch
                .ctxs
                .iter()
                .map(|&n| index.contexts[n].role.clone())
                .collect();
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT (r.ordinality - 1)::int FROM unnest($1::text[]) WITH ORDINALITY AS r(name)
                     WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.name)
                       AND has_table_privilege(r.name, $2::oid, 'SELECT')",
                    &[&roles, &ch.rel.id],
                )
                .await?;
            for r in rows {
                let ctx: i32 = r.get(0);
                if let Some(&cx) = ch.ctxs.get(ctx as usize) {
                    for &ci in &ch.by_privilege {
                        pairs.push((ci, cx));
                    }
                }
            }
        }
        Ok::<_, CheckError>(pairs)
    });
    for r in futures::future::join_all(futures).await {
        for p in r? {
            visible.insert(p);
        }
    }

    // Deliver in commit order: one frame per channel per change, listing its binding ids.
    let mut frames = 0;
    for (ci, subs) in matched.iter().enumerate() {
        let mut per_member: Vec<(&CdcSub, Vec<u32>)> = Vec::new();
        for (s, n) in subs.iter().map(|x| (&x.0, x.1)) {
            if !visible.contains(&(ci, n)) {
                continue;
            }
            match per_member.iter_mut().find(|(m, _)| m.member == s.member) {
                Some((_, ids)) => {
                    if !ids.contains(&s.id) {
                        ids.push(s.id)
                    }
                }
                None => per_member.push((s, vec![s.id])),
            }
        }
        if per_member.is_empty() {
            continue;
        }
        let data = payload(&changes[ci]);
        for (s, ids) in per_member {
            let ids = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let body = format!(r#"{{"ids":[{ids}],"data":{data}}}"#);
            if s.sink.text(phoenix::encode_raw(
                s.sink.vsn,
                None,
                &s.topic,
                "postgres_changes",
                &body,
            )) {
                frames += 1;
            }
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(full: bool, rls: bool) -> Arc<RelInfo> {
        Arc::new(RelInfo {
            id: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: vec![("id".into(), "int8".into()), ("body".into(), "text".into())],
            json_types: vec![JsonType::Integer, JsonType::Text],
            key: vec![0],
            full_identity: full,
            rls,
        })
    }

    /// The payload as a JSON value.
    fn payload(c: &Change) -> Value {
        serde_json::from_str(&super::payload(c)).unwrap()
    }

    fn t(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn insert_payload() {
        let c = Change {
            rel: rel(false, true),
            kind: EventKind::Insert,
            new: Some(vec![t("5"), Cell::Null]),
            old: None,
            commit_time: 0,
            xid: 1,
        };
        let p = payload(&c);
        assert_eq!(p["type"], "INSERT");
        assert_eq!(p["record"], json!({"id":5,"body":null}));
        // keys in jsonb order (shorter first), values typed by column
        assert!(super::payload(&c).contains(r#""record":{"id":5,"body":null}"#));
        assert!(p.get("old_record").is_none());
        assert_eq!(p["columns"][0], json!({"name":"id","type":"int8"}));
        assert_eq!(p["commit_timestamp"], "2000-01-01T00:00:00.000Z");
        assert_eq!(commit_timestamp(1_234_567), "2000-01-01T00:00:01.234Z");
    }

    #[test]
    fn delete_payload_old_row_rules() {
        let full_no_rls = Change {
            rel: rel(true, false),
            kind: EventKind::Delete,
            new: None,
            old: Some(vec![t("5"), t("secret")]),
            commit_time: 0,
            xid: 1,
        };
        assert_eq!(
            payload(&full_no_rls)["old_record"],
            json!({"id":5,"body":"secret"})
        );
        assert!(payload(&full_no_rls).get("record").is_none());
        let full_rls = Change {
            rel: rel(true, true),
            ..full_no_rls.clone()
        };
        assert_eq!(payload(&full_rls)["old_record"], json!({"id":5}));
    }

    #[test]
    fn update_payload_fills_unchanged_toast_and_old_key() {
        let c = Change {
            rel: rel(false, false),
            kind: EventKind::Update,
            new: Some(vec![t("5"), Cell::Unchanged]),
            old: None,
            commit_time: 0,
            xid: 1,
        };
        let p = payload(&c);
        assert_eq!(p["record"], json!({"id":5}));
        assert_eq!(p["old_record"], json!({"id":5}));
        let with_old = Change {
            old: Some(vec![t("5"), t("big")]),
            ..c
        };
        assert_eq!(payload(&with_old)["record"], json!({"id":5,"body":"big"}));
    }

    #[test]
    fn key_json_uses_key_columns() {
        let c = Change {
            rel: rel(false, false),
            kind: EventKind::Update,
            new: Some(vec![t("7"), t("x")]),
            old: None,
            commit_time: 0,
            xid: 1,
        };
        assert_eq!(c.key_json(), Some(json!({"id":"7"})));
    }
}
