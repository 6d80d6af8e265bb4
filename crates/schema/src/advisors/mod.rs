//! `basalt db advisors`: findings read from a live database under splinter's lint names, levels
//! and cache keys, so ignore lists and habits carry over. Catalog lints are plain SQL over
//! `pg_catalog` (`queries`); lints about policy expressions parse each expression again with the
//! Postgres grammar (`policies`) instead of matching text.

mod policies;
mod queries;

use tokio_postgres::Client;

use crate::error::Error;
use crate::finding::Level;

/// Whether a lint is about security or performance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Category {
    Security,
    Performance,
}

/// One lint's fixed description.
#[derive(Debug, Clone, Copy)]
pub struct Lint {
    pub name: &'static str,
    pub title: &'static str,
    pub level: Level,
    pub category: Category,
    pub description: &'static str,
    pub remediation: &'static str,
}

/// One finding, shaped like a splinter row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Advisory {
    pub name: &'static str,
    pub title: &'static str,
    /// `ERROR`, `WARN` or `INFO`.
    pub level: &'static str,
    pub facing: &'static str,
    pub categories: Vec<Category>,
    pub description: &'static str,
    pub detail: String,
    pub remediation: &'static str,
    pub metadata: serde_json::Value,
    pub cache_key: String,
    #[serde(skip)]
    pub severity: Level,
}

impl Advisory {
    /// A finding of `lint` about `object` (schema, name) with a detail sentence.
    pub fn new(lint: &Lint, schema: &str, name: &str, kind: &str, detail: String) -> Advisory {
        Advisory {
            name: lint.name,
            title: lint.title,
            level: lint.level.splinter(),
            facing: "EXTERNAL",
            categories: vec![lint.category],
            description: lint.description,
            detail,
            remediation: lint.remediation,
            metadata: serde_json::json!({ "schema": schema, "name": name, "type": kind }),
            cache_key: format!("{}_{}_{}", lint.name, schema, name),
            severity: lint.level,
        }
    }
}

/// Which lints to run and report.
#[derive(Debug, Clone)]
pub struct AdvisorOptions {
    /// Schemas served over the API; used when the database sets no `pgrst.db_schemas`.
    pub exposed_schemas: Vec<String>,
    /// Only this category (None: all).
    pub category: Option<Category>,
    /// Findings below this level are left out.
    pub min_level: Level,
    /// `cache_key`s to leave out.
    pub ignore: Vec<String>,
}

impl Default for AdvisorOptions {
    fn default() -> Self {
        AdvisorOptions {
            exposed_schemas: vec!["public".into(), "graphql_public".into()],
            category: None,
            min_level: Level::Info,
            ignore: Vec::new(),
        }
    }
}

/// Every lint, in splinter's numbering order.
pub fn lints() -> Vec<&'static Lint> {
    queries::LINTS
        .iter()
        .chain(policies::LINTS.iter())
        .copied()
        .collect()
}

/// basalt's own lint: cron jobs cannot run in this database.
const PG_CRON_UNAVAILABLE: Lint = Lint {
    name: "pg_cron_unavailable",
    title: "pg_cron unavailable",
    level: Level::Info,
    category: Category::Performance,
    description: "pg_cron cannot run jobs in this database: `create extension pg_cron` fails and scheduled jobs (cron.schedule) never run.",
    remediation: "Install pg_cron (postgresql-15-cron) and preload it (shared_preload_libraries, cron.database_name), as basalt's embedded cluster does.",
};

/// Run every lint against the database behind `client`.
pub async fn run(client: &Client, options: &AdvisorOptions) -> Result<Vec<Advisory>, Error> {
    let exposed = exposed_schemas(client, &options.exposed_schemas).await?;
    let mut out = queries::run(client, &exposed).await?;
    out.extend(policies::run(client, &exposed).await?);
    let cron = basalt_pg::extensions::pg_cron_problem(client)
        .await
        .map_err(|e| Error::query("check pg_cron", &e))?;
    if let Some(why) = cron {
        out.push(Advisory::new(
            &PG_CRON_UNAVAILABLE,
            "cron",
            "pg_cron",
            "extension",
            why,
        ));
    }
    out.retain(|a| {
        a.severity >= options.min_level
            && options.category.is_none_or(|c| a.categories.contains(&c))
            && !options.ignore.contains(&a.cache_key)
    });
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.name.cmp(b.name))
            .then(a.cache_key.cmp(&b.cache_key))
    });
    Ok(out)
}

/// The schemas the API serves: the database's `pgrst.db_schemas` setting when it has one.
async fn exposed_schemas(client: &Client, fallback: &[String]) -> Result<Vec<String>, Error> {
    let row = client
        .query_one("SELECT current_setting('pgrst.db_schemas', true)", &[])
        .await
        .map_err(|e| Error::query("read pgrst.db_schemas", &e))?;
    let setting: Option<String> = row.get(0);
    let from_db: Vec<String> = setting
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Ok(if from_db.is_empty() {
        fallback.to_vec()
    } else {
        from_db
    })
}

/// One line per finding, `LEVEL name: detail`, then a count.
pub fn to_text(advisories: &[Advisory]) -> String {
    let mut out = String::new();
    for a in advisories {
        out.push_str(&format!("{:<5} {}: {}\n", a.level, a.name, a.detail));
    }
    out.push_str(&format!("{} finding(s)\n", advisories.len()));
    out
}
