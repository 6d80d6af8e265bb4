//! A `postgres_changes` binding checked against the database when a channel joins: some table
//! it names must be in the publication and every filter column must exist, else the join's
//! `system` message says why, worded as Supabase Realtime words it.

use deadpool_postgres::Pool;

use crate::filter::{list_literal, Binding, EventKind, Op};

fn event_name(e: EventKind) -> &'static str {
    match e {
        EventKind::Insert => "INSERT",
        EventKind::Update => "UPDATE",
        EventKind::Delete => "DELETE",
        EventKind::All => "*",
    }
}

fn op_name(o: Op) -> &'static str {
    match o {
        Op::Eq => "eq",
        Op::Neq => "neq",
        Op::Lt => "lt",
        Op::Lte => "lte",
        Op::Gt => "gt",
        Op::Gte => "gte",
        Op::In => "in",
        Op::Is => "is",
        Op::Like => "like",
        Op::Ilike => "ilike",
        Op::IsDistinct => "isdistinct",
    }
}

/// The binding as error messages show it:
/// `[event: *, schema: public, table: t, filters: [{"id", "eq", "1", false}], select: nil]`.
pub fn describe(b: &Binding) -> String {
    let filters: Vec<String> = b
        .conds
        .iter()
        .map(|c| {
            let strings = list_literal(&[&c.column, op_name(c.op), &c.text]);
            let inner = strings.trim_start_matches('[').trim_end_matches(']');
            format!("{{{inner}, {}}}", c.negate)
        })
        .collect();
    format!(
        "[event: {}, schema: {}, table: {}, filters: [{}], select: nil]",
        event_name(b.event),
        b.schema,
        b.table.as_deref().unwrap_or("*"),
        filters.join(", ")
    )
}

/// Check `b` against publication `publication`; `Err` holds the `system` message. A database
/// that cannot be asked does not refuse the binding (its rows are then checked as they come).
pub async fn check(pool: &Pool, publication: &str, b: &Binding) -> Result<(), String> {
    let client = match pool.get().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not check a postgres_changes binding");
            return Ok(());
        }
    };
    let table = b.table.as_deref().unwrap_or("*");
    let published = client
        .query_one(
            "SELECT count(*) FROM pg_publication_tables
             WHERE pubname = $1
               AND schemaname LIKE (CASE $2 WHEN '*' THEN '%' ELSE $2 END) ESCAPE ''
               AND tablename LIKE (CASE $3 WHEN '*' THEN '%' ELSE $3 END) ESCAPE ''",
            &[&publication, &b.schema, &table],
        )
        .await
        .map(|r| r.get::<_, i64>(0));
    match published {
        Ok(0) => {
            return Err(format!(
                "Unable to subscribe to changes with given parameters. Please check Realtime is \
                 enabled for the given connect parameters: {}",
                describe(b)
            ))
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not check a postgres_changes binding");
            return Ok(());
        }
    }
    let Some(table) = b.table.as_deref().filter(|_| !b.conds.is_empty()) else {
        return Ok(());
    };
    let columns: Vec<String> = match client
        .query(
            "SELECT a.attname::text FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            &[&b.schema, &table],
        )
        .await
    {
        Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not check a postgres_changes binding");
            return Ok(());
        }
    };
    match b.conds.iter().find(|c| !columns.contains(&c.column)) {
        Some(c) => Err(format!(
            "Unable to subscribe to changes with given parameters. An exception happened so \
             please check your connect parameters: {}. Exception: ERROR P0001 (raise_exception) \
             invalid column for filter {}",
            describe(b),
            c.column
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_bindings_like_realtime() {
        let b = Binding::parse(&json!({"event": "insert", "schema": "public", "table": "t",
                                       "filter": "id=in.(1,2),name=not.eq.x"}))
        .unwrap();
        assert_eq!(
            describe(&b),
            r#"[event: INSERT, schema: public, table: t, filters: [{"id", "in", "{1,2}", false}, {"name", "eq", "x", true}], select: nil]"#
        );
        let all = Binding::parse(&json!({"schema": "public"})).unwrap();
        assert_eq!(
            describe(&all),
            "[event: *, schema: public, table: *, filters: [], select: nil]"
        );
    }
}
