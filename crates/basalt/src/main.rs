//! basalt: the Supabase backend as one binary. This crate holds the command line only; each
//! command hands off to the crate that does the work.

mod background;
mod backup;
#[cfg(feature = "functions")]
mod functions;
#[cfg(feature = "graphql")]
mod graphql;
mod init;
mod ops;
mod project;
mod s3;
mod start;
mod studio;
mod tooling;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc: a request allocates many small, short-lived buffers (headers, SQL text, JSON), which
/// glibc's malloc serves at about a fifth of basalt's CPU time under load (see bench/RESULTS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "basalt", version, about = "The Supabase backend as one binary")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a new project here: supabase/config.toml, migrations/, functions/.
    Init {
        #[arg(long, default_value = ".")]
        project: PathBuf,
        /// Write a new config.toml over an existing one.
        #[arg(long)]
        force: bool,
    },
    /// Start Postgres (embedded unless --db-url), apply migrations, serve every API.
    Start(start::StartArgs),
    /// Print the URLs and keys of the project again.
    Status {
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// Database commands.
    Db {
        #[command(subcommand)]
        command: start::DbCmd,
    },
    /// Migration files and history.
    Migration {
        #[command(subcommand)]
        command: start::MigrationCmd,
    },
    /// Database tests: row level security probes.
    Test {
        #[command(subcommand)]
        command: tooling::TestCmd,
    },
    /// Generate code from the database schema.
    Gen {
        #[command(subcommand)]
        command: tooling::GenCmd,
    },
    /// The REST API alone, configured by PostgREST's PGRST_* variables (and an optional config
    /// file; `--dump-config`, `--example`).
    #[cfg(feature = "rest")]
    Rest {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The auth API alone, configured by GoTrue's GOTRUE_* variables.
    #[cfg(feature = "auth")]
    Auth,
    /// The storage API alone, configured by storage-api's variables.
    #[cfg(feature = "storage")]
    Storage,
    /// The realtime server alone.
    #[cfg(feature = "realtime")]
    Realtime,
    /// The GraphQL API alone (`/graphql/v1`) against any Postgres (`--db-url`), with the
    /// project's schemas and keys.
    #[cfg(feature = "graphql")]
    Graphql(graphql::GraphqlArgs),
    /// Edge functions: `new`, `list`, `serve` (the runtime alone), `relay` (the relay alone, to
    /// a runtime at BASALT_FUNCTIONS_URL; also what no subcommand runs).
    #[cfg(feature = "functions")]
    Functions {
        #[command(subcommand)]
        command: Option<functions::FunctionsCmd>,
    },
    /// The development mailbox: emails kept by the auth service while no SMTP server is set.
    #[cfg(feature = "auth")]
    Mail {
        #[arg(long, default_value = ".")]
        project: PathBuf,
        /// Read this database instead of the running project's.
        #[arg(long, env = "BASALT_DB_URL")]
        db_url: Option<String>,
        /// Only messages to this address.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BASALT_LOG")
        // Edge functions' own log lines (console.log) show by default, as `supabase start`
        // shows them.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,basalt_edge::function=info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if ops::json_logs() {
        // One JSON object a line (timestamp, level, target, fields, spans), for log shippers.
        fmt.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        fmt.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Init { project, force } => init::init(&project, force),
        Cmd::Start(args) => start::start(args).await,
        Cmd::Status { project } => start::status(&project),
        Cmd::Db { command } => start::db(command).await,
        Cmd::Migration { command } => start::migration(command).await,
        Cmd::Test { command } => tooling::test(command).await,
        Cmd::Gen { command } => tooling::gen(command).await,
        #[cfg(feature = "rest")]
        Cmd::Rest { args } => {
            let Some(config) = basalt_rest::settings::from_args(&args).await? else {
                return Ok(());
            };
            let addr = config.listen.unwrap_or(([127, 0, 0, 1], 3000).into());
            standalone(addr, basalt_rest::router(config).await?).await
        }
        #[cfg(feature = "auth")]
        Cmd::Auth => {
            let config = basalt_auth::Config::from_env()?;
            let addr = config.listen.unwrap_or(([127, 0, 0, 1], 9999).into());
            standalone(addr, basalt_auth::router(config).await?).await
        }
        #[cfg(feature = "storage")]
        Cmd::Storage => {
            let config = basalt_storage::Config::from_env()?;
            let addr = config.listen.unwrap_or(([127, 0, 0, 1], 5000).into());
            standalone(addr, basalt_storage::router(config).await?).await
        }
        #[cfg(feature = "auth")]
        Cmd::Mail {
            project,
            db_url,
            to,
            limit,
        } => {
            let url = match db_url {
                Some(u) => u,
                None => {
                    let path = project::Project::load(&project)?
                        .state_dir()
                        .join("status.json");
                    let text = std::fs::read(&path).map_err(|_| {
                        anyhow::anyhow!("basalt is not running in {}", project.display())
                    })?;
                    let status: serde_json::Value = serde_json::from_slice(&text)?;
                    status["db_url"].as_str().unwrap_or_default().to_string()
                }
            };
            let text = basalt_auth::mail::print_mailbox(&url, to.as_deref(), limit)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            print!("{text}");
            Ok(())
        }
        #[cfg(feature = "functions")]
        Cmd::Functions { command } => functions::run(command).await,
        #[cfg(feature = "graphql")]
        Cmd::Graphql(args) => {
            let (addr, config) = args.config()?;
            standalone(addr, graphql::router(config).await?).await
        }
        #[cfg(feature = "realtime")]
        Cmd::Realtime => {
            let config = basalt_realtime::Config::from_env()?;
            let addr = config.listen.unwrap_or(([127, 0, 0, 1], 4000).into());
            standalone(addr, basalt_realtime::router(config).await?).await
        }
    }
}

#[allow(dead_code)] // unused only when the binary is built without any service
async fn standalone(addr: std::net::SocketAddr, router: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let app = basalt_gateway::observe(router);
    basalt_gateway::serve(listener, app, basalt_gateway::shutdown_signal()).await?;
    Ok(())
}
