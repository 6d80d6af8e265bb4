//! `basalt db verify`: does the database hold what the project declares? Every table the
//! migrations create exists, row level security is on for every table of the exposed schemas,
//! the declared storage buckets exist, enum types carry the declared labels in order, and the
//! migration history matches the migration files. Each problem is one line.

pub mod declared;

use std::path::PathBuf;

use tokio_postgres::Client;

use crate::db::internal_schemas;
use crate::error::Error;
use crate::source::{sql_files_in, SqlFile};
use declared::Declared;

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The project directory (holds `supabase/migrations`).
    pub project: PathBuf,
    pub exposed_schemas: Vec<String>,
    /// Buckets `supabase/config.toml` declares (`[storage.buckets.NAME]`).
    pub config_buckets: Vec<String>,
}

/// The outcome: what was checked and every problem found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub checked: Vec<String>,
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// The checks, then each problem, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checked {
            out.push_str(&format!("checked: {c}\n"));
        }
        for p in &self.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        out.push_str(&format!("{} problem(s)\n", self.problems.len()));
        out
    }
}

fn q(context: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| Error::query(context, &e)
}

/// Verify the database behind `client` against the project.
pub async fn run(client: &Client, options: &VerifyOptions) -> Result<VerifyReport, Error> {
    let dir = options.project.join("supabase").join("migrations");
    let files = sql_files_in(&dir)?
        .iter()
        .map(|p| SqlFile::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let declared = Declared::from_files(&files)?;
    let mut report = VerifyReport {
        checked: Vec::new(),
        problems: Vec::new(),
    };

    report.checked.push(format!(
        "{} table(s) created by the migrations",
        declared.tables.len()
    ));
    for t in &declared.tables {
        let found = client
            .query_opt(
                "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'f')",
                &[&t.schema, &t.name],
            )
            .await
            .map_err(q("look up tables"))?;
        if found.is_none() {
            report.problems.push(format!(
                "table {t} is created by the migrations but does not exist"
            ));
        }
    }

    let rows = client
        .query(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND NOT c.relrowsecurity
               AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e')
             ORDER BY 1",
            &[&options.exposed_schemas, &internal_schemas()],
        )
        .await
        .map_err(q("check row level security"))?;
    report.checked.push(format!(
        "row level security in schemas {}",
        options.exposed_schemas.join(", ")
    ));
    for r in rows {
        let name: String = r.get(0);
        report.problems.push(format!(
            "table {name} is exposed but row level security is disabled"
        ));
    }

    let mut buckets = options.config_buckets.clone();
    for b in declared.buckets {
        if !buckets.contains(&b) {
            buckets.push(b);
        }
    }
    report
        .checked
        .push(format!("{} declared storage bucket(s)", buckets.len()));
    if !buckets.is_empty() {
        let existing: Vec<String> = client
            .query("SELECT id FROM storage.buckets", &[])
            .await
            .map_err(q("read storage.buckets"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for b in &buckets {
            if !existing.contains(b) {
                report.problems.push(format!(
                    "storage bucket {b:?} is declared but does not exist"
                ));
            }
        }
    }

    report
        .checked
        .push(format!("{} enum type(s)", declared.enums.len()));
    for (name, labels) in &declared.enums {
        let row = client
            .query_opt(
                "SELECT ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = $1 AND t.typname = $2 AND t.typtype = 'e'",
                &[&name.schema, &name.name],
            )
            .await
            .map_err(q("read enum types"))?;
        match row {
            None => report
                .problems
                .push(format!("enum type {name} is declared but does not exist")),
            Some(r) => {
                let actual: Vec<String> = r.get(0);
                if actual != *labels {
                    report.problems.push(format!(
                        "enum type {name} has labels [{}] but the migrations declare [{}]",
                        actual.join(", "),
                        labels.join(", ")
                    ));
                }
            }
        }
    }

    let local = basalt_migrate::scan(&dir).map_err(|e| Error::io(&dir, e))?;
    let remote = basalt_migrate::applied_versions(client)
        .await
        .map_err(|e| Error::Query {
            context: "read migration history".into(),
            message: e.to_string(),
        })?;
    report.checked.push(format!(
        "migration history: {} file(s), {} applied",
        local.len(),
        remote.len()
    ));
    for m in &local {
        if !remote.iter().any(|(v, _)| *v == m.version) {
            report.problems.push(format!(
                "migration {}_{} has not been applied",
                m.version, m.name
            ));
        }
    }
    for (v, name) in &remote {
        if !local.iter().any(|m| m.version == *v) {
            report.problems.push(format!(
                "migration {v}{} is in the history but has no file",
                name.as_deref().map(|n| format!("_{n}")).unwrap_or_default()
            ));
        }
    }
    Ok(report)
}
