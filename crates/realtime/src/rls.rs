//! Which changed rows each security context may see, decided by Postgres.
//!
//! For one table and one batch of changed rows, every context runs the same prepared lookup —
//! the rows' keys (bound as JSON) joined to the table — after `role` and `request.jwt.claims` are
//! set for it with `set_config(..., true)`, inside one transaction per connection. The statements
//! are pipelined, so a context costs two statement executions and no round trip, and the lookup's
//! plan is cached per connection; contexts are sorted by role so that the plan survives between
//! them. The contexts are spread over a few pool connections that run concurrently. If any check
//! fails (a policy that errors, a revoked privilege), that share is redone by
//! `realtime.basalt_visible`, which isolates each context and lets a failing one see nothing.

use deadpool_postgres::Pool;
use serde_json::{json, Value};
use tokio_postgres::types::ToSql;

use crate::cdc::{CheckError, RelInfo};
use crate::hub::SecurityContext;

use basalt_pg::quote_ident;

/// The lookup for a table: the 0-based positions of the bound keys whose rows are visible.
pub fn lookup_sql(rel: &RelInfo) -> Option<String> {
    if rel.key.is_empty() {
        return None;
    }
    let qual = format!("{}.{}", quote_ident(&rel.schema), quote_ident(&rel.name));
    let cond = rel
        .key
        .iter()
        .map(|&i| {
            let c = quote_ident(&rel.columns[i].0);
            format!("t.{c} = k.{c}")
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    Some(format!(
        "SELECT array_agg(k.ordinality::int - 1) FROM jsonb_populate_recordset(NULL::{qual}, $1) \
         WITH ORDINALITY AS k WHERE EXISTS (SELECT 1 FROM {qual} AS t WHERE {cond})"
    ))
}

/// Of `roles`, those a subscriber may act as: the roles granted to `authenticator` (the API roles
/// and any a project grants it), as REST and storage, which log in as it, may switch to.
pub const ALLOWED_ROLES: &str = "SELECT r.rolname::text FROM pg_roles r JOIN pg_roles a \
     ON a.rolname = 'authenticator' \
     WHERE r.rolname = ANY($1) AND pg_has_role(a.oid, r.oid, 'MEMBER')";

/// The roles of `roles` a subscriber may act as (see [`ALLOWED_ROLES`]).
pub async fn allowed_roles(
    client: &tokio_postgres::Client,
    roles: &[&str],
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client.query(ALLOWED_ROLES, &[&roles]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

const SET_CONTEXT: &str =
    "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)";

/// Contexts per connection before the work is spread over more connections.
const PER_CONNECTION: usize = 64;

/// `(context position, row position)` pairs that are visible. `keys` is a JSON array of key
/// objects (text values), one per row; `xids` the transactions that wrote them.
pub async fn visible(
    pool: &Pool,
    rel: &RelInfo,
    keys: &Value,
    xids: &[i64],
    ctxs: &[&SecurityContext],
) -> Result<Vec<(usize, usize)>, CheckError> {
    let Some(sql) = lookup_sql(rel) else {
        return Ok(Vec::new());
    };
    let allowed = {
        let c = pool.get().await?;
        c.query("SELECT realtime.basalt_wait_visible($1)", &[&xids])
            .await?;
        let mut roles: Vec<&str> = ctxs.iter().map(|x| x.role.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        allowed_roles(&c, &roles).await?
    };
    // A context whose role is not an API role sees nothing (the connection may be a superuser's).
    let mut order: Vec<usize> = (0..ctxs.len())
        .filter(|&i| allowed.iter().any(|r| *r == ctxs[i].role))
        .collect();
    if order.is_empty() {
        return Ok(Vec::new());
    }
    order.sort_by(|&a, &b| ctxs[a].role.cmp(&ctxs[b].role));
    let shares = (ctxs.len() / PER_CONNECTION).clamp(1, pool.status().max_size.clamp(1, 4));
    let per = order.len().div_ceil(shares);
    let jobs = order.chunks(per.max(1)).map(|share| {
        let sql = &sql;
        async move {
            match pipelined(pool, sql, keys, ctxs, share).await {
                Ok(v) => Ok(v),
                Err(e) => {
                    tracing::debug!(error = %e, "fast visibility check failed; isolating contexts");
                    isolated(pool, rel, keys, xids, ctxs, share).await
                }
            }
        }
    });
    let mut out = Vec::new();
    for r in futures::future::join_all(jobs).await {
        out.extend(r?);
    }
    Ok(out)
}

async fn pipelined(
    pool: &Pool,
    sql: &str,
    keys: &Value,
    ctxs: &[&SecurityContext],
    share: &[usize],
) -> Result<Vec<(usize, usize)>, CheckError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let set = tx.prepare_cached(SET_CONTEXT).await?;
    let lookup = tx.prepare_cached(sql).await?;
    let claims: Vec<&str> = share.iter().map(|&i| &*ctxs[i].claims).collect();
    let set_params: Vec<[&(dyn ToSql + Sync); 2]> = share
        .iter()
        .zip(&claims)
        .map(|(&i, c)| {
            [
                &ctxs[i].role as &(dyn ToSql + Sync),
                c as &(dyn ToSql + Sync),
            ]
        })
        .collect();
    let lookup_params: [&(dyn ToSql + Sync); 1] = [keys];
    let mut calls = Vec::with_capacity(share.len() * 2);
    for p in &set_params {
        calls.push(tx.query(&set, p));
        calls.push(tx.query(&lookup, &lookup_params));
    }
    // Polled in order, so sent in order: each lookup runs right after its context is set.
    let results = futures::future::join_all(calls).await;
    let mut out = Vec::new();
    for (n, &i) in share.iter().enumerate() {
        results[2 * n].as_ref().map_err(clone_err)?;
        let rows = results[2 * n + 1].as_ref().map_err(clone_err)?;
        if let Some(row) = rows.first() {
            let idx: Option<Vec<i32>> = row.get(0);
            out.extend(idx.unwrap_or_default().into_iter().map(|r| (i, r as usize)));
        }
    }
    tx.rollback().await?;
    Ok(out)
}

/// The error of a pipelined call, to report it (errors are not `Clone`).
fn clone_err(e: &tokio_postgres::Error) -> CheckError {
    CheckError::Failed(e.to_string())
}

async fn isolated(
    pool: &Pool,
    rel: &RelInfo,
    keys: &Value,
    xids: &[i64],
    ctxs: &[&SecurityContext],
    share: &[usize],
) -> Result<Vec<(usize, usize)>, CheckError> {
    let client = pool.get().await?;
    let ctx_json = Value::Array(
        share
            .iter()
            .map(|&i| json!({"role": ctxs[i].role, "claims": &*ctxs[i].claims}))
            .collect(),
    );
    let key_cols: Vec<String> = rel.key.iter().map(|&i| rel.columns[i].0.clone()).collect();
    let rows = client
        .query(
            "SELECT ctx, idx FROM realtime.basalt_visible($1, $2, $3, $4, $5)",
            &[&rel.id, &key_cols, keys, &ctx_json, &xids],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let (ctx, idx): (i32, i32) = (r.get(0), r.get(1));
            Some((*share.get(ctx as usize)?, idx as usize))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_quotes_identifiers() {
        let rel = RelInfo {
            id: 1,
            schema: "my schema".into(),
            name: "we\"ird".into(),
            columns: vec![("id".into(), "int8".into()), ("k\"2".into(), "text".into())],
            json_types: Vec::new(),
            key: vec![0, 1],
            full_identity: false,
            rls: true,
        };
        let sql = lookup_sql(&rel).unwrap();
        assert!(sql.contains(r#"NULL::"my schema"."we""ird""#));
        assert!(sql.contains(r#"t."id" = k."id" AND t."k""2" = k."k""2""#));
        let keyless = RelInfo { key: vec![], ..rel };
        assert_eq!(lookup_sql(&keyless), None);
    }
}
