//! `basalt db lint|advisors|verify`, `basalt gen types` and `basalt test rls`: the command line
//! of the schema tooling. Each command parses its arguments, reaches the database the way
//! `basalt db push` does (the project's embedded cluster, or `--db-url`), and hands off to
//! `basalt-schema`.

use std::path::PathBuf;

use anyhow::Context;
use basalt_schema::{FailOn, Level};
use clap::{Args, Subcommand, ValueEnum};

use crate::project::Project;
use crate::start::{open_database, TargetArgs};

/// Schema commands under `basalt db`.
#[derive(Subcommand)]
pub enum DbTooling {
    /// Lint migration files statically (default: supabase/migrations/*.sql).
    Lint(LintArgs),
    /// Check a live database for security and performance problems (splinter lint names).
    Advisors(AdvisorsArgs),
    /// Check that the database holds what the project declares (tables, RLS, buckets, enums,
    /// migration history); exits non-zero with the list of problems.
    Verify(VerifyArgs),
    /// Write the migration that turns the migrations' schema into the declared one
    /// (supabase/schemas/*.sql), built in throw-away shadow databases.
    Diff(DiffArgs),
}

#[derive(Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Write the migration to supabase/migrations/<timestamp>_<NAME>.sql instead of stdout.
    #[arg(long, short = 'f')]
    pub file: Option<String>,
    /// Schemas to compare (default: every schema that is not the platform's).
    #[arg(long = "schema", short = 's', value_delimiter = ',')]
    pub schemas: Vec<String>,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Schemas where every table needs row level security (default: `[api] schemas`).
    #[arg(long = "schema", short = 's', value_delimiter = ',')]
    pub schemas: Vec<String>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
}

/// `basalt test …`.
#[derive(Subcommand)]
pub enum TestCmd {
    /// With no test files: two generated users try to read and write each other's rows in every
    /// table of the exposed schemas; every access that succeeds is reported (in a transaction
    /// that is rolled back).
    Rls(RlsArgs),
    /// Run pgTAP files (default: supabase/tests), each in a transaction that is rolled back,
    /// with `tests.*` helpers to create users and act as them.
    Db(TestDbArgs),
}

#[derive(Args)]
pub struct TestDbArgs {
    /// Test files or directories (default: supabase/tests).
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Args)]
pub struct RlsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Schemas to probe (default: `[api] schemas`).
    #[arg(long = "schema", short = 's', value_delimiter = ',')]
    pub schemas: Vec<String>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
}

/// `basalt gen …`.
#[derive(Subcommand)]
pub enum GenCmd {
    /// Types for the database's schemas: TypeScript (as `supabase gen types typescript`) or Rust.
    Types(TypesArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TypesLang {
    Typescript,
    Rust,
}

#[derive(Args)]
pub struct TypesArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, value_enum, default_value = "typescript")]
    pub lang: TypesLang,
    /// Schemas to generate types for (default: public and `[api] schemas`, as the Supabase CLI).
    #[arg(long = "schema", short = 's', value_delimiter = ',')]
    pub schemas: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Args)]
pub struct LintArgs {
    /// Files to lint, in the order they apply (default: the project's migrations).
    pub files: Vec<PathBuf>,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Schemas served over the API (default: `[api] schemas`).
    #[arg(long = "schema", short = 's', value_delimiter = ',')]
    pub schemas: Vec<String>,
    /// Leave out findings below this level: info, warning, error.
    #[arg(long, default_value = "info")]
    pub level: String,
    /// Exit non-zero on findings at this level or above: none, info, warning, error.
    #[arg(long, default_value = "error")]
    pub fail_on: String,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// Also check PL/pgSQL bodies in the database with the plpgsql_check extension.
    #[arg(long)]
    pub plpgsql_check: bool,
    /// The database for --plpgsql-check (default: the project's).
    #[arg(long, env = "BASALT_DB_URL")]
    pub db_url: Option<String>,
    #[arg(long)]
    pub db_port: Option<u16>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AdvisorType {
    All,
    Security,
    Performance,
}

#[derive(Args)]
pub struct AdvisorsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Which advisors: all, security, performance.
    #[arg(long = "type", value_enum, default_value = "all")]
    pub kind: AdvisorType,
    /// Schemas served over the API when the database sets no pgrst.db_schemas.
    #[arg(long = "schema", short = 's', value_delimiter = ',')]
    pub schemas: Vec<String>,
    /// Leave out findings below this level: info, warn, error.
    #[arg(long, default_value = "info")]
    pub level: String,
    /// Exit non-zero on findings at this level or above: none, info, warn, error.
    #[arg(long, default_value = "none")]
    pub fail_on: String,
    /// Leave out findings with this cache_key (repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
}

fn level(s: &str) -> anyhow::Result<Level> {
    Level::parse(s)
        .ok_or_else(|| anyhow::anyhow!("unknown level {s:?}: use info, warning or error"))
}

fn fail_on(s: &str) -> anyhow::Result<FailOn> {
    FailOn::parse(s)
        .ok_or_else(|| anyhow::anyhow!("unknown --fail-on {s:?}: use none, info, warning or error"))
}

/// The exposed schemas: those given, else the project's `[api] schemas`.
fn exposed(project: &Project, given: &[String]) -> Vec<String> {
    if given.is_empty() {
        project.config.api.schemas.clone()
    } else {
        given.to_vec()
    }
}

/// Run `f` with a superuser URL of the target database, stopping an embedded cluster after.
async fn with_database<T>(
    target: &TargetArgs,
    f: impl AsyncFnOnce(&Project, &str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let project = Project::load(&target.project)?;
    let mut db = open_database(&project, target.db_url.clone(), target.db_port).await?;
    // The embedded database is brought to the project's state first (platform schema,
    // migrations, the seed on a new cluster), as `basalt start` would: a project that was never
    // started has an empty cluster. A `--db-url` database is examined as it is.
    let prepared = match db.cluster.as_ref() {
        Some(cluster) => crate::start::prepare(&project, &db.url, Some(cluster), false).await,
        None => Ok(()),
    };
    let result = match prepared {
        Ok(()) => f(&project, &db.url).await,
        Err(e) => Err(e),
    };
    if let Some(c) = db.cluster.as_mut() {
        c.stop();
    }
    result
}

pub async fn db(cmd: DbTooling) -> anyhow::Result<()> {
    match cmd {
        DbTooling::Lint(a) => lint(a).await,
        DbTooling::Advisors(a) => advisors(a).await,
        DbTooling::Verify(a) => verify(a).await,
        DbTooling::Diff(a) => diff(a).await,
    }
}

async fn lint(a: LintArgs) -> anyhow::Result<()> {
    let project = Project::load(&a.project)?;
    let options = basalt_schema::lint::LintOptions {
        files: a.files.clone(),
        project: a.project.clone(),
        exposed_schemas: exposed(&project, &a.schemas),
        min_level: level(&a.level)?,
    };
    let threshold = fail_on(&a.fail_on)?;
    let mut report = basalt_schema::lint::run(&options)?;
    if a.plpgsql_check {
        let target = TargetArgs {
            project: a.project.clone(),
            db_url: a.db_url.clone(),
            db_port: a.db_port,
        };
        let schemas = options.exposed_schemas.clone();
        let found = with_database(&target, async |_, url| {
            let mut client = basalt_schema::db::connect(url).await?;
            basalt_schema::lint::plpgsql_check::run(&mut client, &schemas)
                .await
                .context("plpgsql_check")
        })
        .await?;
        report
            .findings
            .extend(found.into_iter().filter(|f| f.level >= options.min_level));
    }
    match a.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    let failing = report
        .findings
        .iter()
        .filter(|f| threshold.fails(f.level))
        .count();
    if failing > 0 {
        anyhow::bail!(
            "db lint: {failing} finding(s) at or above --fail-on {}",
            a.fail_on
        );
    }
    Ok(())
}

async fn advisors(a: AdvisorsArgs) -> anyhow::Result<()> {
    let min_level = level(&a.level)?;
    let threshold = fail_on(&a.fail_on)?;
    let found = with_database(&a.target, async |project, url| {
        let client = basalt_schema::db::connect(url).await?;
        let options = basalt_schema::advisors::AdvisorOptions {
            exposed_schemas: exposed(project, &a.schemas),
            category: match a.kind {
                AdvisorType::All => None,
                AdvisorType::Security => Some(basalt_schema::advisors::Category::Security),
                AdvisorType::Performance => Some(basalt_schema::advisors::Category::Performance),
            },
            min_level,
            ignore: a.ignore.clone(),
        };
        basalt_schema::advisors::run(&client, &options)
            .await
            .context("db advisors")
    })
    .await?;
    match a.output {
        Output::Text => print!("{}", basalt_schema::advisors::to_text(&found)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&found)?),
    }
    let failing = found.iter().filter(|f| threshold.fails(f.severity)).count();
    if failing > 0 {
        anyhow::bail!(
            "db advisors: {failing} finding(s) at or above --fail-on {}",
            a.fail_on
        );
    }
    Ok(())
}

pub async fn test(cmd: TestCmd) -> anyhow::Result<()> {
    match cmd {
        TestCmd::Rls(a) => rls(a).await,
        TestCmd::Db(a) => test_db(a).await,
    }
}

async fn rls(a: RlsArgs) -> anyhow::Result<()> {
    let report = with_database(&a.target, async |project, url| {
        let mut client = basalt_schema::db::connect(url).await?;
        basalt_schema::rls::run(&mut client, &exposed(project, &a.schemas))
            .await
            .context("test rls")
    })
    .await?;
    match a.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    let leaks = report.leak_count();
    if leaks > 0 {
        anyhow::bail!("test rls: {leaks} cross-user access(es) succeeded");
    }
    Ok(())
}

pub async fn gen(cmd: GenCmd) -> anyhow::Result<()> {
    match cmd {
        GenCmd::Types(a) => {
            let lang = match a.lang {
                TypesLang::Typescript => basalt_schema::typegen::Lang::TypeScript,
                TypesLang::Rust => basalt_schema::typegen::Lang::Rust,
            };
            let text = with_database(&a.target, async |project, url| {
                // Like the Supabase CLI: public plus the schemas the API serves.
                let mut schemas = vec!["public".to_string()];
                for s in exposed(project, &a.schemas) {
                    if !schemas.contains(&s) {
                        schemas.push(s);
                    }
                }
                if !a.schemas.is_empty() {
                    schemas = a.schemas.clone();
                }
                let client = basalt_schema::db::connect(url).await?;
                basalt_schema::typegen::run(&client, &schemas, lang)
                    .await
                    .context("gen types")
            })
            .await?;
            print!("{text}");
            Ok(())
        }
    }
}

async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let report = with_database(&a.target, async |project, url| {
        let client = basalt_schema::db::connect(url).await?;
        let config_buckets = project.config.storage.buckets.keys().cloned().collect();
        let options = basalt_schema::verify::VerifyOptions {
            project: a.target.project.clone(),
            exposed_schemas: exposed(project, &a.schemas),
            config_buckets,
        };
        basalt_schema::verify::run(&client, &options)
            .await
            .context("db verify")
    })
    .await?;
    match a.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if !report.problems.is_empty() {
        anyhow::bail!("db verify: {} problem(s)", report.problems.len());
    }
    Ok(())
}

async fn diff(a: DiffArgs) -> anyhow::Result<()> {
    let options = basalt_schema::diff::DiffOptions {
        project: a.target.project.clone(),
        schemas: a.schemas.clone(),
    };
    let steps = with_database(&a.target, async |_, url| {
        basalt_schema::diff::run(url, &options)
            .await
            .context("db diff")
    })
    .await?;
    if steps.is_empty() {
        eprintln!("No schema changes found");
        return Ok(());
    }
    let text = basalt_schema::diff::plan::render(&steps);
    let drops = steps
        .iter()
        .filter(|s| s.sql.to_ascii_uppercase().contains("DROP "))
        .count();
    match &a.file {
        Some(name) => {
            let path = basalt_schema::diff::write_migration(&a.target.project, name, &text)?;
            println!("Created new migration at {}", path.display());
        }
        None => print!("{text}"),
    }
    if drops > 0 {
        eprintln!("warning: the migration has {drops} statement(s) that drop something; read the hazard comments");
    }
    Ok(())
}

async fn test_db(a: TestDbArgs) -> anyhow::Result<()> {
    let paths = if a.paths.is_empty() {
        vec![a.target.project.join("supabase").join("tests")]
    } else {
        a.paths.clone()
    };
    let files = basalt_schema::pgtap::test_files(&paths)?;
    let report = with_database(&a.target, async |_, url| {
        let client = basalt_schema::db::connect(url).await?;
        basalt_schema::pgtap::run(&client, &files)
            .await
            .context("test db")
    })
    .await?;
    match a.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if !report.ok() {
        anyhow::bail!("test db: some tests failed");
    }
    Ok(())
}
