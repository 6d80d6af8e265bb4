//! What the database can do with the extensions basalt's features lean on.

/// Why `pg_cron` jobs cannot run in the database behind `client`, or `None` when they can
/// (the extension is installed, preloaded, and this is the database its worker serves). A role
/// that may not read `shared_preload_libraries` (not a superuser, not in
/// `pg_read_all_settings`) learns whether pg_cron is preloaded, and for which database, from its
/// launcher process.
pub async fn pg_cron_problem(
    client: &tokio_postgres::Client,
) -> Result<Option<String>, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron'),
                    coalesce((SELECT setting ~ '(^|[ ,])pg_cron($|[ ,])' FROM pg_settings
                              WHERE name = 'shared_preload_libraries'),
                             EXISTS (SELECT 1 FROM pg_stat_activity
                                     WHERE backend_type = 'pg_cron launcher')),
                    coalesce((SELECT setting FROM pg_settings WHERE name = 'cron.database_name'),
                             (SELECT datname::text FROM pg_stat_activity
                              WHERE backend_type = 'pg_cron launcher' LIMIT 1),
                             'postgres'),
                    current_database()::text",
            &[],
        )
        .await?;
    let (available, preloaded): (bool, bool) = (row.get(0), row.get(1));
    let (cron_db, db): (String, String) = (row.get(2), row.get(3));
    Ok(if !available {
        Some("pg_cron is not installed on this Postgres: `create extension pg_cron` fails and no cron job runs (Debian: apt install postgresql-15-cron; the embedded cluster preloads it)".into())
    } else if !preloaded {
        Some("pg_cron is installed but not in shared_preload_libraries: `create extension pg_cron` fails until Postgres is restarted with it".into())
    } else if cron_db != db {
        Some(format!("pg_cron serves database {cron_db:?} only (cron.database_name), not {db:?}: `create extension pg_cron` fails here"))
    } else {
        None
    })
}
