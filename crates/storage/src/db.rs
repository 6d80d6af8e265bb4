//! Database access: one transaction per request, switched to the caller's role with the JWT
//! claims set the way PostgREST sets them, so that row level security on `storage.buckets` and
//! `storage.objects` decides what the caller may read and write.

use deadpool_postgres::{Object, Pool, Transaction};

use crate::auth::Caller;
use crate::error::ApiError;

/// The connection pool.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    pub fn new(pool: Pool) -> Db {
        Db { pool }
    }

    /// A pooled connection.
    pub async fn conn(&self) -> Result<Object, ApiError> {
        Ok(self.pool.get().await?)
    }
}

/// Makes the rest of `tx` run as `caller`: `SET LOCAL ROLE`, `request.jwt.claims` and the
/// per-claim settings older policies read (`request.jwt.claim.sub`, `…role`).
pub async fn act_as(tx: &Transaction<'_>, caller: &Caller) -> Result<(), ApiError> {
    let claims = caller.claims.to_string();
    let sub = caller.sub().unwrap_or("");
    tx.execute(
        "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true), \
         set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true)",
        &[&caller.role, &claims, &sub],
    )
    .await?;
    Ok(())
}

/// Returns `tx` to the connection's own (administrative) role, for bookkeeping writes after the
/// caller's policies have already decided.
pub async fn act_as_system(tx: &Transaction<'_>) -> Result<(), ApiError> {
    // Transaction-local, like `act_as`: nothing outlives the transaction on a pooled connection.
    tx.execute("SELECT set_config('role', 'none', true)", &[])
        .await?;
    Ok(())
}

/// SQL expression formatting a timestamptz column as `2024-01-01T00:00:00.000Z`.
pub fn iso(col: &str) -> String {
    format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}
