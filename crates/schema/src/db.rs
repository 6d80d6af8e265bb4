//! Connecting to the database a command works on, and the schema lists every command shares.

use tokio_postgres::Client;

use crate::error::Error;

/// Schemas that belong to the platform, extensions or Postgres itself; never the project's.
pub const INTERNAL_SCHEMAS: &[&str] = &[
    "auth",
    "storage",
    "realtime",
    "extensions",
    "graphql",
    "graphql_public",
    "pgsodium",
    "pgsodium_masks",
    "vault",
    "cron",
    "net",
    "pgmq",
    "pgbouncer",
    "supabase_migrations",
    "supabase_functions",
    "_realtime",
    "_analytics",
    "basalt",
    "tests",
    "topology",
    "tiger",
    "tiger_data",
    "pg_catalog",
    "information_schema",
    "pg_toast",
];

/// Connect with a superuser URL.
pub async fn connect(url: &str) -> Result<Client, Error> {
    basalt_pg::pool::connect(url)
        .await
        .map_err(|e| Error::Connect(basalt_migrate::apply::pg_message(&e)))
}

/// The internal schema list as owned strings, for bind parameters.
pub fn internal_schemas() -> Vec<String> {
    INTERNAL_SCHEMAS.iter().map(|s| s.to_string()).collect()
}
