//! Applying migrations and seeds to a database and keeping the history table.

use std::path::{Path, PathBuf};

use tokio_postgres::Client;

use crate::files::Migration;
use crate::split::split;

/// What went wrong. Each variant renders as one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: statement {index} (line {line}): {message}")]
    Statement {
        file: String,
        index: usize,
        line: usize,
        message: String,
    },
    #[error("migration history: {0}")]
    History(String),
    #[error("no migration file with version {0}")]
    UnknownVersion(String),
}

fn history(e: tokio_postgres::Error) -> MigrateError {
    MigrateError::History(pg_message(&e))
}

/// The Postgres error message with its detail/hint and position, on one line.
pub fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                m.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                m.push_str(&format!("; hint: {h}"));
            }
            m.replace('\n', " ")
        }
        None => basalt_pg::pool::describe(e).replace('\n', " "),
    }
}

/// Versions recorded in `supabase_migrations.schema_migrations`, oldest first.
pub async fn applied_versions(
    client: &Client,
) -> Result<Vec<(String, Option<String>)>, MigrateError> {
    ensure_history(client).await?;
    let rows = client
        .query(
            "SELECT version, name FROM supabase_migrations.schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(history)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn ensure_history(client: &Client) -> Result<(), MigrateError> {
    client
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS supabase_migrations;
             CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
               version text PRIMARY KEY, statements text[], name text);
             CREATE TABLE IF NOT EXISTS supabase_migrations.seed_files (
               path text PRIMARY KEY, hash text NOT NULL)",
        )
        .await
        .map_err(history)
}

/// Apply every migration not yet recorded, in order, each in its own transaction. Returns the
/// versions applied. On failure the failing migration is rolled back entirely and the error
/// names its file, statement number and line.
pub async fn apply_pending(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<Vec<String>, MigrateError> {
    ensure_history(client).await?;
    let done: std::collections::HashSet<String> = applied_versions(client)
        .await?
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    let mut applied = Vec::new();
    for m in migrations.iter().filter(|m| !done.contains(&m.version)) {
        apply_one(client, m).await?;
        applied.push(m.version.clone());
    }
    Ok(applied)
}

async fn apply_one(client: &mut Client, m: &Migration) -> Result<(), MigrateError> {
    let file = m.path.display().to_string();
    let sql = std::fs::read_to_string(&m.path).map_err(|source| MigrateError::Read {
        file: file.clone(),
        source,
    })?;
    let statements = split(&sql);
    // Each file starts from a clean session, as with the Supabase CLI.
    client.batch_execute("RESET ALL").await.map_err(history)?;
    if statements.len() == 1 && !runs_in_transaction(&statements[0].text) {
        return apply_alone(client, m, &file, &statements[0]).await;
    }
    let tx = client.transaction().await.map_err(history)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&basalt_pg::platform::LOCK_KEY],
    )
    .await
    .map_err(history)?;
    for (i, st) in statements.iter().enumerate() {
        if let Some(name) = emulated_extension(&st.text) {
            if !extension_available(&tx, name).await.map_err(history)? {
                eprintln!("{file}: CREATE EXTENSION {name} skipped: basalt serves its interface");
                continue;
            }
        }
        if let Err(e) = tx.batch_execute(&st.text).await {
            let line = e
                .as_db_error()
                .and_then(|db| match db.position() {
                    Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
                    _ => None,
                })
                .map(|p| {
                    st.line
                        + st.text[..p.saturating_sub(1).min(st.text.len())]
                            .matches('\n')
                            .count()
                })
                .unwrap_or(st.line);
            return Err(MigrateError::Statement {
                file,
                index: i + 1,
                line,
                message: pg_message(&e),
            });
        }
    }
    let texts: Vec<&str> = statements.iter().map(|s| s.text.as_str()).collect();
    tx.execute(
        "INSERT INTO supabase_migrations.schema_migrations (version, statements, name) VALUES ($1, $2, $3)",
        &[&m.version, &texts, &m.name],
    )
    .await
    .map_err(history)?;
    tx.commit().await.map_err(history)
}

/// Extensions of Supabase's platform that basalt serves itself (the `net` schema, the
/// `vault`), which a plain Postgres does not ship.
const EMULATED_EXTENSIONS: &[&str] = &["pg_net", "supabase_vault"];

/// The extension a `CREATE EXTENSION` statement names, when basalt serves it itself.
fn emulated_extension(sql: &str) -> Option<&'static str> {
    let text = crate::split::without_leading_comments(sql);
    let mut words = text
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty());
    let first = words.next()?;
    let second = words.next()?;
    if !first.eq_ignore_ascii_case("create") || !second.eq_ignore_ascii_case("extension") {
        return None;
    }
    let mut name = words.next()?;
    if name.eq_ignore_ascii_case("if") {
        let (not, exists) = (words.next()?, words.next()?);
        if !not.eq_ignore_ascii_case("not") || !exists.eq_ignore_ascii_case("exists") {
            return None;
        }
        name = words.next()?;
    }
    let name = name.trim_matches('"').to_ascii_lowercase();
    EMULATED_EXTENSIONS.iter().copied().find(|e| *e == name)
}

/// Whether the server can install extension `name` itself.
async fn extension_available(
    client: &impl tokio_postgres::GenericClient,
    name: &str,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = $1",
            &[&name],
        )
        .await?;
    Ok(row.is_some())
}

/// Statements Postgres refuses inside a transaction block. A file holding only one of them is
/// run on its own, as the Supabase CLI's single-statement batch does.
fn runs_in_transaction(sql: &str) -> bool {
    let words: Vec<String> = crate::split::without_leading_comments(sql)
        .split_whitespace()
        .take(6)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    let concurrently = has("CONCURRENTLY") && (has("INDEX") || has("REINDEX"));
    let no_tx = matches!(words.first().map(String::as_str), Some("VACUUM"))
        || (words.first().map(String::as_str) == Some("ALTER") && has("SYSTEM"))
        || (words.first().map(String::as_str) == Some("CREATE") && has("DATABASE"));
    !(concurrently || no_tx)
}

async fn apply_alone(
    client: &mut Client,
    m: &Migration,
    file: &str,
    st: &crate::split::Statement,
) -> Result<(), MigrateError> {
    client
        .batch_execute(&st.text)
        .await
        .map_err(|e| MigrateError::Statement {
            file: file.to_string(),
            index: 1,
            line: st.line,
            message: pg_message(&e),
        })?;
    client
        .execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, statements, name) VALUES ($1, $2, $3)",
            &[&m.version, &vec![st.text.as_str()], &m.name],
        )
        .await
        .map_err(history)?;
    Ok(())
}

/// Run seed files (each in one transaction) and record them with their hash.
pub async fn run_seed(client: &mut Client, files: &[PathBuf]) -> Result<usize, MigrateError> {
    ensure_history(client).await?;
    let mut n = 0;
    for path in files {
        let file = path.display().to_string();
        let sql = std::fs::read_to_string(path).map_err(|source| MigrateError::Read {
            file: file.clone(),
            source,
        })?;
        let tx = client.transaction().await.map_err(history)?;
        for (i, st) in split(&sql).iter().enumerate() {
            tx.batch_execute(&st.text)
                .await
                .map_err(|e| MigrateError::Statement {
                    file: file.clone(),
                    index: i + 1,
                    line: st.line,
                    message: pg_message(&e),
                })?;
        }
        let hash = sha256_hex(&sql);
        tx.execute(
            "INSERT INTO supabase_migrations.seed_files (path, hash) VALUES ($1, $2)
             ON CONFLICT (path) DO UPDATE SET hash = excluded.hash",
            &[&seed_key(path), &hash],
        )
        .await
        .map_err(history)?;
        tx.commit().await.map_err(history)?;
        n += 1;
    }
    Ok(n)
}

/// The key a seed file is recorded under: its path from the project directory
/// (`supabase/seed.sql`), as the Supabase CLI records it, so neither tool runs it again.
fn seed_key(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.iter().rposition(|p| p == "supabase") {
        Some(i) => parts[i..].join("/"),
        None => parts.last().cloned().unwrap_or_default(),
    }
}

/// Seed files are recorded with the SHA-256 of their text, as the Supabase CLI records them.
fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// `migration repair`: mark a version applied or reverted without running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairStatus {
    Applied,
    Reverted,
}

/// Record (`Applied`) or forget (`Reverted`) `version` in the history.
pub async fn repair(
    client: &Client,
    migrations: &[Migration],
    version: &str,
    status: RepairStatus,
) -> Result<(), MigrateError> {
    ensure_history(client).await?;
    match status {
        RepairStatus::Reverted => {
            client
                .execute(
                    "DELETE FROM supabase_migrations.schema_migrations WHERE version = $1",
                    &[&version],
                )
                .await
                .map_err(history)?;
        }
        RepairStatus::Applied => {
            let m = migrations
                .iter()
                .find(|m| m.version == version)
                .ok_or_else(|| MigrateError::UnknownVersion(version.to_string()))?;
            let sql = std::fs::read_to_string(&m.path).map_err(|source| MigrateError::Read {
                file: m.path.display().to_string(),
                source,
            })?;
            let texts: Vec<String> = split(&sql).into_iter().map(|s| s.text).collect();
            client
                .execute(
                    "INSERT INTO supabase_migrations.schema_migrations (version, statements, name)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (version) DO UPDATE SET name = excluded.name, statements = excluded.statements",
                    &[&m.version, &texts, &m.name],
                )
                .await
                .map_err(history)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::runs_in_transaction;

    #[test]
    fn seeds_are_recorded_by_their_path_from_the_project() {
        use super::seed_key;
        use std::path::Path;
        assert_eq!(
            seed_key(Path::new("/p/app/supabase/./seed.sql")),
            "supabase/seed.sql"
        );
        assert_eq!(
            seed_key(Path::new("/p/app/supabase/seeds/01_users.sql")),
            "supabase/seeds/01_users.sql"
        );
        assert_eq!(seed_key(Path::new("/elsewhere/seed.sql")), "seed.sql");
    }

    #[test]
    fn extensions_basalt_serves_are_recognised() {
        use super::emulated_extension as e;
        assert_eq!(
            e("create extension if not exists \"pg_net\" with schema \"extensions\";"),
            Some("pg_net")
        );
        assert_eq!(e("CREATE EXTENSION pg_net"), Some("pg_net"));
        assert_eq!(
            e("-- vault\ncreate extension supabase_vault;"),
            Some("supabase_vault")
        );
        assert_eq!(e("create extension if not exists pgcrypto"), None);
        assert_eq!(e("create table pg_net (id int)"), None);
        assert_eq!(e("create extension if exists pg_net"), None);
    }

    #[test]
    fn statements_that_refuse_a_transaction_are_recognised() {
        assert!(!runs_in_transaction("CREATE INDEX CONCURRENTLY i ON t (a)"));
        assert!(!runs_in_transaction(
            "create unique index concurrently if not exists i on t (a)"
        ));
        assert!(!runs_in_transaction("REINDEX INDEX CONCURRENTLY i"));
        assert!(!runs_in_transaction("VACUUM t"));
        assert!(runs_in_transaction("CREATE INDEX i ON t (a)"));
        assert!(runs_in_transaction(
            "CREATE TABLE concurrently_named (id int)"
        ));
        assert!(!runs_in_transaction(
            "-- why\n/* note */ create index concurrently i on t (a)"
        ));
    }
}
