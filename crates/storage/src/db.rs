//! Database access: one transaction per request, switched to the caller's role with the JWT
//! claims set the way PostgREST sets them, so that row level security on `storage.buckets` and
//! `storage.objects` decides what the caller may read and write. The login role decides which
//! roles a caller may be: under `basalt start` it is `authenticator`, granted only the API roles,
//! so a token naming a superuser is refused by Postgres (`AccessDenied`).

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

/// The statement `act_as` runs: the role and claims, and the role's own settings
/// (`ALTER ROLE … SET`, e.g. its `statement_timeout`), which a role switched to inside a session
/// would not otherwise have.
static ACT_AS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true), \
         set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true), \
         (SELECT count(set_config(s.name, s.value, true)) \
            FROM ({}) AS s (role, name, value) WHERE s.role = $1)",
        basalt_pg::platform::ROLE_SETTINGS_SQL
    )
});

/// Makes the rest of `tx` run as `caller`: `SET LOCAL ROLE` with the role's own settings,
/// `request.jwt.claims` and the per-claim settings older policies read
/// (`request.jwt.claim.sub`, `…role`).
pub async fn act_as(tx: &Transaction<'_>, caller: &Caller) -> Result<(), ApiError> {
    let claims = caller.claims.to_string();
    let sub = caller.sub().unwrap_or("");
    tx.execute(ACT_AS_SQL.as_str(), &[&caller.role, &claims, &sub])
        .await?;
    Ok(())
}

/// Returns `tx` to the session's own role, for bookkeeping writes after the caller's policies
/// have already decided: the role the connection string sets (`options=-c role=…`; under
/// `basalt start` `service_role`, which bypasses row level security), else the login role.
pub async fn act_as_system(tx: &Transaction<'_>) -> Result<(), ApiError> {
    // Transaction-local, like `act_as`: nothing outlives the transaction on a pooled connection.
    tx.batch_execute("SET LOCAL ROLE TO DEFAULT").await?;
    Ok(())
}

/// SQL expression formatting a timestamptz column as `2024-01-01T00:00:00.000Z`.
pub fn iso(col: &str) -> String {
    format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}
