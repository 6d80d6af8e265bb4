//! `basalt db diff`: the migration that turns the database the migrations produce into the one
//! the declarative files (`supabase/schemas/*.sql`, lexicographic order) describe. Both are
//! built in throw-away databases on the same server, their catalogs read (`catalog`) and
//! compared (`plan`); hazardous statements are annotated. An empty result means in sync.

pub mod catalog;
pub mod plan;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::Client;

use crate::db::INTERNAL_SCHEMAS;
use crate::error::Error;
use crate::source::sql_files_in;
use plan::Step;

/// What to diff.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// The project directory (holds `supabase/schemas` and `supabase/migrations`).
    pub project: PathBuf,
    /// Schemas to compare; empty: every schema that is not the platform's.
    pub schemas: Vec<String>,
}

/// The schemas compared by default: every schema of either database that is not internal.
async fn user_schemas(a: &Client, b: &Client) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for c in [a, b] {
        for r in c
            .query(
                "SELECT nspname::text FROM pg_namespace
                 WHERE nspname NOT LIKE 'pg\\_%' AND NOT nspname = ANY($1) ORDER BY 1",
                &[&INTERNAL_SCHEMAS
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()],
            )
            .await
            .map_err(|e| Error::query("list schemas", &e))?
        {
            let s: String = r.get(0);
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// The steps that turn the database behind `source` into the one behind `target`.
pub async fn diff_databases(
    source: &mut Client,
    target: &Client,
    schemas: &[String],
) -> Result<Vec<Step>, Error> {
    let schemas = if schemas.is_empty() {
        user_schemas(source, target).await?
    } else {
        schemas.to_vec()
    };
    let from = catalog::load(source, &schemas).await?;
    let to = catalog::load(target, &schemas).await?;
    let mut steps = plan::plan(&from, &to);
    if steps.is_empty() {
        return Ok(steps);
    }
    // Validate: run the migration on the source inside a transaction that is rolled back, and
    // add what it leaves different (e.g. grants that default privileges gave new tables).
    let tx = source
        .transaction()
        .await
        .map_err(|e| Error::query("begin validation", &e))?;
    tx.batch_execute(&plan::render(&steps))
        .await
        .map_err(|e| Error::Query {
            context: "the generated migration does not apply".into(),
            message: basalt_migrate::apply::pg_message(&e),
        })?;
    let after = catalog::load(&tx, &schemas).await?;
    let residue = plan::plan(&after, &to);
    tx.rollback()
        .await
        .map_err(|e| Error::query("roll back validation", &e))?;
    steps.extend(residue);
    Ok(steps)
}

static SHADOWS: AtomicU32 = AtomicU32::new(0);

/// A throw-away database on the server of `admin`, dropped by [`Shadow::drop_now`].
struct Shadow {
    name: String,
    config: basalt_pg::tls::DbConfig,
}

impl Shadow {
    async fn create(
        admin: &Client,
        base: &basalt_pg::tls::DbConfig,
        role: &str,
    ) -> Result<Shadow, Error> {
        let name = format!(
            "basalt_shadow_{}_{}_{role}",
            std::process::id(),
            SHADOWS.fetch_add(1, Ordering::SeqCst)
        );
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| Error::query("create shadow database", &e))?;
        let mut config = base.clone();
        config.pg.dbname(&name);
        Ok(Shadow { name, config })
    }

    async fn connect(&self) -> Result<Client, Error> {
        let (client, conn) = self
            .config
            .connect()
            .await
            .map_err(|e| Error::Connect(basalt_migrate::apply::pg_message(&e)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    async fn drop_now(self, admin: &Client) {
        let _ = admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await;
    }
}

/// Apply the declarative files, one batch per file; an error names the file.
async fn apply_files(client: &Client, files: &[PathBuf]) -> Result<(), Error> {
    for f in files {
        let sql = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        // Parse first, so a syntax error names line and column.
        crate::source::SqlFile::new(f.display().to_string(), sql.clone()).parse()?;
        client.batch_execute(&sql).await.map_err(|e| Error::Query {
            context: f.display().to_string(),
            message: basalt_migrate::apply::pg_message(&e),
        })?;
    }
    Ok(())
}

/// Build both shadows on the server of `url` and diff them.
pub async fn run(url: &str, options: &DiffOptions) -> Result<Vec<Step>, Error> {
    let schema_dir = options.project.join("supabase").join("schemas");
    let declared = sql_files_in(&schema_dir)?;
    if declared.is_empty() {
        return Err(Error::Usage(format!(
            "no declarative schema files in {}",
            schema_dir.display()
        )));
    }
    let migrations = basalt_migrate::scan(&options.project.join("supabase").join("migrations"))
        .map_err(|e| Error::io(&options.project, e))?;
    let base = basalt_pg::tls::parse(url).map_err(|e| {
        Error::Usage(format!(
            "invalid database URL: {}",
            basalt_pg::pool::describe(&e)
        ))
    })?;
    let admin = crate::db::connect(url).await?;
    let from = Shadow::create(&admin, &base, "migrations").await?;
    let to = match Shadow::create(&admin, &base, "declared").await {
        Ok(s) => s,
        Err(e) => {
            from.drop_now(&admin).await;
            return Err(e);
        }
    };
    let result = async {
        let mut a = from.connect().await?;
        let mut b = to.connect().await?;
        for c in [&mut a, &mut b] {
            basalt_pg::platform::apply(c)
                .await
                .map_err(|e| Error::Query {
                    context: "install the platform schema in a shadow database".into(),
                    message: e.to_string(),
                })?;
        }
        basalt_migrate::apply_pending(&mut a, &migrations)
            .await
            .map_err(|e| Error::Query {
                context: "apply migrations to the shadow database".into(),
                message: e.to_string(),
            })?;
        apply_files(&b, &declared).await?;
        let steps = diff_databases(&mut a, &b, &options.schemas).await;
        drop(a);
        drop(b);
        steps
    }
    .await;
    from.drop_now(&admin).await;
    to.drop_now(&admin).await;
    result
}

/// Write `text` as a new migration `supabase/migrations/<timestamp>_<name>.sql`.
pub fn write_migration(project: &Path, name: &str, text: &str) -> Result<PathBuf, Error> {
    let dir = project.join("supabase").join("migrations");
    let path = basalt_migrate::new_migration(&dir, name).map_err(|e| Error::io(&dir, e))?;
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}
