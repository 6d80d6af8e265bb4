//! `basalt functions …`: scaffold, list and serve the project's edge functions (basalt-edge),
//! and the relay alone (basalt-functions) as before.

use std::path::PathBuf;

use clap::Subcommand;

use crate::project::{api_keys, Project};

#[derive(Subcommand)]
pub enum FunctionsCmd {
    /// Create supabase/functions/NAME/index.ts (a Deno.serve hello example) and deno.json.
    New {
        name: String,
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// The project's functions, their entry points and whether they verify JWTs.
    List {
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// basalt's function runtime alone, serving `/<name>` (for use beside another stack; a
    /// relay's `functions_url` can point at it).
    Serve {
        #[arg(long, default_value = ".")]
        project: PathBuf,
        /// Port to listen on (127.0.0.1).
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// `SUPABASE_URL` given to functions (default: the running project's API URL, or
        /// `http://127.0.0.1:<[api] port>`).
        #[arg(long, env = "SUPABASE_URL")]
        api_url: Option<String>,
        /// `SUPABASE_DB_URL` given to functions (default: the running project's).
        #[arg(long)]
        db_url: Option<String>,
    },
    /// The /functions/v1 relay alone, to a runtime at BASALT_FUNCTIONS_URL (configured by
    /// JWT_SECRET, PORT); what `basalt functions` without a subcommand runs.
    Relay,
}

pub async fn run(cmd: Option<FunctionsCmd>) -> anyhow::Result<()> {
    match cmd.unwrap_or(FunctionsCmd::Relay) {
        FunctionsCmd::New { name, project } => {
            let project = Project::load(&project)?;
            let dir = basalt_edge::scaffold::new_function(
                &project.dir.join("supabase/functions"),
                &name,
            )?;
            println!("Created new Function at {}", dir.display());
            Ok(())
        }
        FunctionsCmd::List { project } => {
            let project = Project::load(&project)?;
            let layout = basalt_edge::Layout::new(&project.dir, project.config.functions.clone());
            let functions = layout.list();
            if functions.is_empty() {
                println!("No functions in {}", layout.functions_dir.display());
            }
            for f in functions {
                let verify = project
                    .config
                    .functions
                    .get(&f.name)
                    .map(|c| c.verify_jwt)
                    .unwrap_or(true);
                let entry = f.entry.strip_prefix(&project.dir).unwrap_or(&f.entry);
                println!("{:<24} {:<48} verify_jwt={verify}", f.name, entry.display());
            }
            Ok(())
        }
        FunctionsCmd::Serve {
            project,
            port,
            api_url,
            db_url,
        } => serve(project, port, api_url, db_url).await,
        FunctionsCmd::Relay => {
            let config = basalt_functions::Config::from_env()?;
            let addr = config.listen.unwrap_or(([127, 0, 0, 1], 9000).into());
            crate::standalone(addr, basalt_functions::router(config).await?).await
        }
    }
}

async fn serve(
    project: PathBuf,
    port: u16,
    api_url: Option<String>,
    db_url: Option<String>,
) -> anyhow::Result<()> {
    let project = Project::load(&project)?;
    let secret = project.jwt_secret()?;
    let running: Option<serde_json::Value> = std::fs::read(project.state_dir().join("status.json"))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok());
    let from_status = |key: &str| {
        running
            .as_ref()
            .and_then(|s| s[key].as_str())
            .map(str::to_string)
    };
    let api_url = api_url
        .or_else(|| from_status("api_url"))
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", project.config.api.port));
    let (anon, service) = api_keys(&secret);
    let mut edge = basalt_edge::Settings::from_config(&project.dir, &project.config);
    if edge.deno.is_none() {
        anyhow::bail!("{}", basalt_edge::HOW_TO_GET_DENO);
    }
    edge.supabase_env = vec![
        ("SUPABASE_URL".into(), api_url),
        ("SUPABASE_ANON_KEY".into(), anon),
        ("SUPABASE_SERVICE_ROLE_KEY".into(), service),
    ];
    if let Some(db) = db_url.or_else(|| from_status("db_url")) {
        edge.supabase_env.push(("SUPABASE_DB_URL".into(), db));
    }
    let config = basalt_functions::Config {
        listen: None,
        upstream: None,
        jwt_secret: secret.clone(),
        keys: Some(std::sync::Arc::new(project.keys(&secret)?)),
        verify_jwt: project
            .config
            .functions
            .iter()
            .map(|(n, f)| (n.clone(), f.verify_jwt))
            .collect(),
        edge: Some(edge),
    };
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    eprintln!(
        "Serving functions of {} on http://{addr}/<name>",
        project.dir.display()
    );
    crate::standalone(addr, basalt_functions::router(config).await?).await
}
