//! `basalt start`, `status`, `db …` and `migration …`: bring a project's database up (embedded
//! cluster or `--db-url`), install the platform schema, apply migrations and seeds, and serve.

use std::path::{Path, PathBuf};

use anyhow::Context;
use basalt_pg::cluster::supervise::{DbHealth, Supervisor};
use basalt_pg::cluster::{Cluster, ClusterConfig};
use clap::{Args, Subcommand};

use crate::project::{api_keys, Project};

#[derive(Args)]
pub struct StartArgs {
    /// The project directory (holds `supabase/`).
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Use this Postgres instead of starting the embedded cluster.
    #[arg(long, env = "BASALT_DB_URL")]
    pub db_url: Option<String>,
    /// HTTP port (default: `[api] port`, 54321).
    #[arg(long)]
    pub port: Option<u16>,
    /// Postgres port of the embedded cluster (default: `[db] port`, 54322).
    #[arg(long)]
    pub db_port: Option<u16>,
    /// Studio (dashboard) port (default: `[studio] port`, 54323).
    #[arg(long)]
    pub studio_port: Option<u16>,
    /// Serve this branch (`basalt db branch create`) instead of the main database, on ports
    /// of its own (free ones unless given).
    #[arg(long, conflicts_with = "db_url")]
    pub branch: Option<String>,
    /// A streaming replica REST's read-only requests may run on (repeat for several;
    /// comma-separated in the variable). Replaces `[basalt] read_replicas`.
    #[arg(
        long = "read-replica",
        env = "BASALT_READ_REPLICAS",
        value_delimiter = ','
    )]
    pub read_replicas: Vec<String>,
}

#[derive(Subcommand)]
pub enum DbCmd {
    /// Drop the database, then re-apply the platform schema, every migration and the seed.
    Reset(TargetArgs),
    /// Apply pending migrations.
    Push(TargetArgs),
    #[command(flatten)]
    Tooling(crate::tooling::DbTooling),
    #[command(flatten)]
    Backup(crate::backup::BackupCmd),
}

#[derive(Subcommand)]
pub enum MigrationCmd {
    /// Local migration files and whether each is applied.
    List(TargetArgs),
    /// Create an empty migration file.
    New {
        name: String,
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// Mark a version applied or reverted in the history without running it.
    Repair {
        version: String,
        #[arg(long, value_parser = ["applied", "reverted"])]
        status: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Args, Clone)]
pub struct TargetArgs {
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    #[arg(long, env = "BASALT_DB_URL")]
    pub db_url: Option<String>,
    #[arg(long)]
    pub db_port: Option<u16>,
}

/// What `basalt status` prints, saved by `start`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Status {
    api_url: String,
    db_url: String,
    jwt_secret: String,
    anon_key: String,
    service_role_key: String,
    publishable_key: String,
    secret_key: String,
    /// The S3 endpoint, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s3: Option<crate::s3::S3Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    studio_url: Option<String>,
    /// Printed only when basalt generated it (a configured one is not repeated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    studio_password: Option<String>,
}

impl Status {
    /// Print to stdout; a closed stdout (a supervisor that stopped reading) is not an error.
    fn print(&self) {
        use std::io::Write;
        let text = format!(
            "         API URL: {}\n     GraphQL URL: {}/graphql/v1\n          DB URL: {}\n      JWT secret: {}\n Publishable key: {}\n      Secret key: {}\n        anon key: {}\nservice_role key: {}\n",
            self.api_url, self.api_url, self.db_url, self.jwt_secret, self.publishable_key, self.secret_key, self.anon_key, self.service_role_key
        );
        let mut text = text;
        if let Some(url) = &self.studio_url {
            text = format!("      Studio URL: {url}\n{text}");
        }
        if let Some(pw) = &self.studio_password {
            text = format!(" Studio password: {pw}\n{text}");
        }
        let text = match &self.s3 {
            Some(s3) => format!("{text}{}", s3.lines()),
            None => text,
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    }
}

/// The database of a project: an embedded cluster this process runs, or an external URL.
pub(crate) struct Database {
    /// URL the services connect with (superuser, unix socket when embedded).
    pub(crate) url: String,
    /// URL printed for people (TCP with password).
    public_url: String,
    pub(crate) cluster: Option<Cluster>,
}

pub(crate) fn cluster_config(
    project: &Project,
    db_port: Option<u16>,
) -> anyhow::Result<ClusterConfig> {
    let state = project.state_dir();
    let mut data_dir = state.join("pg");
    let mut socket_dir = state.join("run");
    // Postgres runs as an unprivileged user when basalt is root: keep its files where that user
    // can reach them, and keep the socket path within the 107-byte limit.
    let run_as = basalt_pg::cluster::RunAs::resolve(project.config.basalt.pg_user.as_deref())?;
    let reachable = run_as.map(|r| r.can_reach(&project.dir)).unwrap_or(true);
    let fallback = PathBuf::from(format!(
        "/var/tmp/basalt-{:016x}",
        fnv(&project.dir.display().to_string())
    ));
    if !reachable {
        data_dir = fallback.join("pg");
    }
    if !reachable || socket_dir.as_os_str().len() > 80 {
        socket_dir = fallback.join("run");
    }
    if !reachable {
        std::fs::create_dir_all(&fallback)?;
        std::fs::create_dir_all(&state)?;
        std::fs::write(state.join("pg-location"), data_dir.display().to_string())?;
    }
    let settings = project
        .config
        .basalt
        .pg_settings
        .iter()
        .map(|(k, v)| {
            let v = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    Ok(ClusterConfig {
        data_dir,
        socket_dir,
        port: db_port.unwrap_or(project.config.db.port),
        listen_address: "127.0.0.1".into(),
        password: "postgres".into(),
        settings,
        run_as_user: project.config.basalt.pg_user.clone(),
    })
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

pub(crate) async fn open_database(
    project: &Project,
    db_url: Option<String>,
    db_port: Option<u16>,
) -> anyhow::Result<Database> {
    if let Some(url) = db_url {
        return Ok(Database {
            public_url: url.clone(),
            url,
            cluster: None,
        });
    }
    open_cluster(cluster_config(project, db_port)?).await
}

/// Start the embedded cluster `config` describes.
pub(crate) async fn open_cluster(config: ClusterConfig) -> anyhow::Result<Database> {
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(config)).await??;
    Ok(Database {
        url: cluster.socket_url("postgres"),
        public_url: cluster.tcp_url("postgres"),
        cluster: Some(cluster),
    })
}

/// Platform schema and the vault key, then pending migrations, then the seed when it has never
/// run.
/// Say so when the Postgres serving the project is not the major version `[db] major_version`
/// asks for (the Supabase CLI's default is 17; the embedded cluster runs what is installed).
async fn warn_on_major_version(project: &Project, client: &tokio_postgres::Client) {
    let Some(want) = project.config.db.major_version else {
        return;
    };
    let running = client
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000",
            &[],
        )
        .await
        .ok()
        .map(|r| r.get::<_, i32>(0));
    if let Some(have) = running.filter(|h| i64::from(*h) != i64::from(want)) {
        eprintln!(
            "Postgres {have} serves this project; config.toml asks for [db] major_version = {want} (set BASALT_PG_BIN to another Postgres to match)"
        );
    }
}

pub(crate) async fn prepare(
    project: &Project,
    url: &str,
    cluster: Option<&Cluster>,
    force_seed: bool,
) -> anyhow::Result<()> {
    let mut client = basalt_pg::pool::connect(url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to the database: {}",
            basalt_migrate::apply::pg_message(&e)
        )
    })?;
    warn_on_major_version(project, &client).await;
    // A database basalt does not own: name every missing privilege before trying, one line
    // each (the error itself is printed on one line, so the list goes out first).
    let warnings = match basalt_pg::privileges::check(&client).await {
        Ok(w) => w,
        Err(lines) => {
            eprintln!("{lines}");
            anyhow::bail!(
                "basalt cannot run as this database role until a DBA runs the statements above"
            );
        }
    };
    for w in warnings {
        eprintln!("warning: {w}");
    }
    basalt_pg::platform::apply(&mut client).await?;
    crate::background::vault_key(project, &client, cluster).await?;
    let migrations = basalt_migrate::scan(&project.migrations_dir())
        .with_context(|| format!("read {}", project.migrations_dir().display()))?;
    let applied = basalt_migrate::apply_pending(&mut client, &migrations).await?;
    for v in &applied {
        eprintln!("Applied migration {v}");
    }
    let seeds = project.seed_files();
    let seeded: i64 = client
        .query_one("SELECT count(*) FROM supabase_migrations.seed_files", &[])
        .await?
        .get(0);
    if !seeds.is_empty() && (force_seed || seeded == 0) {
        basalt_migrate::run_seed(&mut client, &seeds).await?;
        eprintln!(
            "Seeded data from {}",
            seeds
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

pub async fn start(args: StartArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let shutdown = basalt_gateway::shutdown_signal();
    let mut project = Project::load(&args.project)?;
    if !project.supabase_dir().is_dir() {
        anyhow::bail!(
            "{} is not a Supabase project (it has no supabase/ directory): run `basalt init` there, or pass --project DIR",
            project.dir.display()
        );
    }
    if !args.read_replicas.is_empty() {
        let mut config = (*project.config).clone();
        config.basalt.read_replicas = args.read_replicas.clone();
        project.config = std::sync::Arc::new(config);
    }
    // A branch keeps its status and its storage objects beside its own data directory.
    let status_dir = match &args.branch {
        Some(name) => {
            let storage = crate::backup::branch_storage(&project, name)?;
            let mut config = (*project.config).clone();
            config.storage.file_root = Some(storage.display().to_string());
            project.config = std::sync::Arc::new(config);
            storage.parent().map(Path::to_path_buf).unwrap_or_default()
        }
        None => project.state_dir(),
    };
    let listen_ip: std::net::IpAddr = project
        .config
        .basalt
        .listen_address
        .as_deref()
        .unwrap_or("127.0.0.1")
        .parse()
        .context("[basalt] listen_address")?;
    // A branch takes free ports unless told, so that it runs beside the main project.
    let on_branch = args.branch.is_some();
    let port = args.port.unwrap_or(if on_branch {
        0
    } else {
        project.config.api.port
    });
    // Claim the HTTP port before touching the database, so a clash changes nothing.
    let listener = tokio::net::TcpListener::bind((listen_ip, port))
        .await
        .map_err(|e| anyhow::anyhow!("port {port} is already in use or unavailable ({e}); stop what listens there or pass --port"))?;
    let port = listener.local_addr()?.port();
    let studio_port = args.studio_port.or(on_branch.then_some(0));
    let studio = crate::studio::bind(&project, listen_ip, studio_port).await?;
    let secret = project.jwt_secret()?;
    if secret == crate::project::CLI_LOCAL_SECRET && !listen_ip.is_loopback() {
        anyhow::bail!(
            "basalt would listen on {listen_ip} with the Supabase CLI's public local JWT secret: set [auth] jwt_secret (or BASALT_JWT_SECRET) first"
        );
    }
    let (mut db, backups) = match (&args.db_url, &args.branch) {
        (Some(_), _) => (
            open_database(&project, args.db_url.clone(), None).await?,
            None,
        ),
        (None, Some(name)) => {
            let db_port = match args.db_port {
                Some(p) => p,
                None => crate::backup::free_port()?,
            };
            let c = crate::backup::branch_config(&project, name, Some(db_port))?;
            (open_cluster(c).await?, None)
        }
        (None, None) => {
            let mut c = cluster_config(&project, args.db_port)?;
            let repo = crate::backup::prepare_archiving(&project, &mut c)?;
            (open_cluster(c).await?, repo)
        }
    };
    if let Err(e) = prepare(&project, &db.url, db.cluster.as_ref(), false).await {
        if let Some(c) = db.cluster.as_mut() {
            c.stop();
        }
        return Err(e);
    }
    if args.db_url.is_none() && args.branch.is_none() {
        if let Err(e) = crate::backup::start_schedule(&project, backups, &db.url) {
            if let Some(c) = db.cluster.as_mut() {
                c.stop();
            }
            return Err(e);
        }
    }
    let api_url = format!("http://{listen_ip}:{port}");
    let keys = std::sync::Arc::new(project.keys(&secret)?);
    // On a database basalt does not own, request connections log in as `authenticator`.
    let authenticator_password =
        match basalt_pg::caller::authenticator_login(&db.url, &secret).await {
            Ok(p) => p,
            Err(e) => {
                if let Some(c) = db.cluster.as_mut() {
                    c.stop();
                }
                anyhow::bail!("{e}");
            }
        };
    let platform = basalt_pg::Platform {
        authenticator_password,
        db_url: db.url.clone(),
        jwt_secret: secret.clone(),
        keys: keys.clone(),
        api_url: api_url.clone(),
        site_url: project.config.auth.site_url.clone(),
        project_dir: project.dir.clone(),
        config: project.config.clone(),
    };
    let background = crate::background::start(&project, &db.url).await?;
    // From here on the embedded cluster is supervised: restarted when it dies, its state on
    // `/health`.
    let supervisor = db.cluster.take().map(Supervisor::start);
    let (anon, service) = api_keys(&secret);
    let (publishable_key, secret_key) = crate::project::opaque_keys(&secret);
    let functions_env = vec![
        ("SUPABASE_ANON_KEY".to_string(), anon.clone()),
        ("SUPABASE_SERVICE_ROLE_KEY".to_string(), service.clone()),
        ("SUPABASE_DB_URL".to_string(), db.public_url.clone()),
    ];
    let app = build_app(
        &platform,
        readiness(supervisor.as_ref(), &db.url),
        functions_env,
    )
    .await?;
    // The Studio's Logs page: this node's recent API requests, kept in memory.
    let requests = basalt_studio::RequestLog::new();
    let app = if studio.is_some() {
        requests.record(app)
    } else {
        app
    };
    let (studio_url, studio_password, studio_task) =
        crate::studio::serve(studio, &platform, &app, requests, &anon, &service);
    let status = Status {
        api_url,
        db_url: db.public_url.clone(),
        jwt_secret: secret,
        anon_key: anon,
        service_role_key: service,
        publishable_key,
        secret_key,
        s3: crate::s3::status(&platform),
        studio_url,
        studio_password,
    };
    std::fs::create_dir_all(&status_dir)?;
    crate::project::write_private(
        &status_dir.join("status.json"),
        &serde_json::to_vec_pretty(&status)?,
    )?;
    eprintln!("Started basalt in {} ms.", started.elapsed().as_millis());
    status.print();
    tracing::info!("ready");
    crate::ops::install_metrics();
    let served = basalt_gateway::serve(listener, app, shutdown).await;
    if let Some(task) = studio_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    background.stop(std::time::Duration::from_secs(5)).await;
    // No request is left: close every database pool before Postgres stops.
    basalt_pg::pool::close_all();
    if let Some(s) = supervisor {
        tokio::task::spawn_blocking(move || s.stop()).await?;
    }
    let _ = std::fs::remove_file(status_dir.join("status.json"));
    eprintln!("Stopped basalt.");
    served.map_err(Into::into)
}

/// What `/health` reports: the supervised cluster's state (an external database is not
/// watched).
fn readiness(supervisor: Option<&Supervisor>, db_url: &str) -> basalt_gateway::Readiness {
    let Some(health) = supervisor.map(Supervisor::health) else {
        // A database basalt does not supervise (--db-url) is asked directly.
        return crate::ops::db_readiness(db_url);
    };
    std::sync::Arc::new(move || match &*health.borrow() {
        DbHealth::Up => Vec::new(),
        DbHealth::Down(why) => vec![("database", why.clone())],
    })
}

/// Every service built into this binary, mounted behind the gateway; `/health` reports `ready`.
/// `functions_env` (`SUPABASE_ANON_KEY`, …) is given to every edge function.
#[cfg_attr(not(feature = "functions"), allow(unused_variables))]
pub async fn build_app(
    platform: &basalt_pg::Platform,
    ready: basalt_gateway::Readiness,
    functions_env: Vec<(String, String)>,
) -> anyhow::Result<axum::Router> {
    use basalt_gateway::Mount;
    #[allow(unused_mut)]
    let mut mounts: Vec<Mount> = Vec::new();
    #[cfg(feature = "rest")]
    mounts.push(Mount {
        prefix: "/rest/v1",
        router: basalt_rest::router(basalt_rest::Config::from_platform(platform)).await?,
        needs_apikey: true,
        hide_query_key: true,
        open_paths: &[],
        own_cors: false,
    });
    #[cfg(feature = "graphql")]
    mounts.push(Mount {
        prefix: "/graphql/v1",
        router: basalt_graphql::router(basalt_graphql::Config::from_platform(platform)).await?,
        needs_apikey: true,
        hide_query_key: true,
        open_paths: &[],
        own_cors: false,
    });
    #[cfg(feature = "auth")]
    mounts.push(Mount {
        prefix: "/auth/v1",
        router: basalt_auth::router(basalt_auth::Config::from_platform(platform)).await?,
        needs_apikey: true,
        hide_query_key: false,
        open_paths: &["/verify", "/callback", "/authorize", "/.well-known/"],
        own_cors: false,
    });
    #[cfg(feature = "storage")]
    mounts.push(Mount {
        prefix: "/storage/v1",
        router: {
            let storage =
                basalt_storage::router(basalt_storage::Config::from_platform(platform)).await?;
            // The S3 endpoint's routes (`/s3…`) beside the storage API's.
            match crate::s3::config(platform) {
                Some(s3) => storage.merge(basalt_s3::router(s3)?),
                None => storage,
            }
        },
        needs_apikey: false,
        hide_query_key: false,
        open_paths: &[],
        own_cors: false,
    });
    // `[realtime] enabled = false`: not served, and no replication slot is taken.
    #[cfg(feature = "realtime")]
    if platform.config.realtime.enabled {
        mounts.push(Mount {
            prefix: "/realtime/v1",
            router: basalt_realtime::router(basalt_realtime::Config::from_platform(platform))
                .await?,
            needs_apikey: true,
            hide_query_key: false,
            open_paths: &[],
            own_cors: false,
        });
    }
    #[cfg(feature = "functions")]
    mounts.push(Mount {
        prefix: "/functions/v1",
        router: basalt_functions::router({
            let mut config = basalt_functions::Config::from_platform(platform);
            if let Some(edge) = config.edge.as_mut() {
                edge.supabase_env.extend(functions_env);
            }
            config
        })
        .await?,
        // As Supabase's gateway: no apikey check; the relay verifies the JWT per function, so a
        // `verify_jwt = false` webhook needs no key at all.
        needs_apikey: false,
        hide_query_key: false,
        open_paths: &[],
        // Functions answer their own preflights (the `_shared/cors.ts` pattern).
        own_cors: true,
    });
    let (anon, service) = api_keys(&platform.jwt_secret);
    let (publishable, secret) = crate::project::opaque_keys(&platform.jwt_secret);
    let keys = basalt_gateway::ApiKeys::new(platform.keys.clone())
        .with_opaque(vec![(publishable, anon), (secret, service)]);
    Ok(basalt_gateway::compose(keys, mounts, ready))
}

pub fn status(project: &Path) -> anyhow::Result<()> {
    let project = Project::load(project)?;
    let path = project.state_dir().join("status.json");
    let text = std::fs::read(&path)
        .map_err(|_| anyhow::anyhow!("basalt is not running in {}", project.dir.display()))?;
    let status: Status = serde_json::from_slice(&text)?;
    status.print();
    Ok(())
}

pub async fn db(cmd: DbCmd) -> anyhow::Result<()> {
    match cmd {
        DbCmd::Tooling(t) => crate::tooling::db(t).await,
        DbCmd::Backup(b) => crate::backup::run(b).await,
        DbCmd::Reset(t) => {
            let project = Project::load(&t.project)?;
            let mut db = open_database(&project, t.db_url.clone(), t.db_port).await?;
            let result = async {
                reset_database(&db.url).await?;
                prepare(&project, &db.url, db.cluster.as_ref(), true).await
            }
            .await;
            if let Some(c) = db.cluster.as_mut() {
                c.stop();
            }
            result?;
            eprintln!("Finished basalt db reset.");
            Ok(())
        }
        DbCmd::Push(t) => {
            let project = Project::load(&t.project)?;
            let mut db = open_database(&project, t.db_url.clone(), t.db_port).await?;
            let result = async {
                let mut client = basalt_pg::pool::connect(&db.url).await?;
                basalt_pg::platform::apply(&mut client).await?;
                let migrations = basalt_migrate::scan(&project.migrations_dir())?;
                let applied = basalt_migrate::apply_pending(&mut client, &migrations).await?;
                if applied.is_empty() {
                    eprintln!("Remote database is up to date.");
                }
                for v in applied {
                    eprintln!("Applied migration {v}");
                }
                anyhow::Ok(())
            }
            .await;
            if let Some(c) = db.cluster.as_mut() {
                c.stop();
            }
            result
        }
    }
}

/// Drop and re-create the target database, connecting to `template1` of the same server.
async fn reset_database(url: &str) -> anyhow::Result<()> {
    let config = basalt_pg::tls::parse(url)?.pg;
    let name = config.get_dbname().unwrap_or("postgres").to_string();
    let admin_url = replace_db(url, "template1");
    let admin = basalt_pg::pool::connect(&admin_url).await?;
    let q = basalt_pg::quote_ident(&name);
    // A basalt serving this database holds a logical replication slot in it (realtime), which
    // DROP DATABASE … WITH (FORCE) does not remove: end its sender and drop the slot first. The
    // serving basalt makes its slot again after the reset; retry if it already did.
    let mut attempt = 0;
    loop {
        admin
            .execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                 WHERE database = $1 AND active_pid IS NOT NULL",
                &[&name],
            )
            .await?;
        admin
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                 WHERE database = $1 AND NOT active",
                &[&name],
            )
            .await
            .ok();
        match admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)"))
            .await
        {
            Ok(()) => break,
            Err(e)
                if attempt < 20
                    && e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) =>
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    admin.batch_execute(&format!("CREATE DATABASE {q}")).await?;
    Ok(())
}

fn replace_db(url: &str, db: &str) -> String {
    // postgresql://user@host:port/DB?params  →  …/template1?params
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let path_start = rest.find('/').map(|p| scheme_end + 3 + p);
        let query_start = url.find('?').unwrap_or(url.len());
        if let Some(ps) = path_start.filter(|p| *p < query_start) {
            return format!("{}/{}{}", &url[..ps], db, &url[query_start..]);
        }
        return format!("{}/{}{}", &url[..query_start], db, &url[query_start..]);
    }
    format!("{url} dbname={db}")
}

pub async fn migration(cmd: MigrationCmd) -> anyhow::Result<()> {
    match cmd {
        MigrationCmd::New { name, project } => {
            let project = Project::load(&project)?;
            let path = basalt_migrate::new_migration(&project.migrations_dir(), &name)?;
            println!("Created new migration at {}", path.display());
            Ok(())
        }
        MigrationCmd::List(t) => {
            let project = Project::load(&t.project)?;
            let mut db = open_database(&project, t.db_url.clone(), t.db_port).await?;
            let result = async {
                let client = basalt_pg::pool::connect(&db.url).await?;
                let remote = basalt_migrate::applied_versions(&client).await?;
                let local = basalt_migrate::scan(&project.migrations_dir())?;
                let mut versions: Vec<String> = local
                    .iter()
                    .map(|m| m.version.clone())
                    .chain(remote.iter().map(|r| r.0.clone()))
                    .collect();
                versions.sort();
                versions.dedup();
                println!("  {:<16} | {:<16} | Name", "Local", "Remote");
                for v in versions {
                    let l = local.iter().find(|m| m.version == v);
                    let r = remote.iter().find(|m| m.0 == v);
                    let name = l
                        .map(|m| m.name.clone())
                        .or_else(|| r.and_then(|r| r.1.clone()))
                        .unwrap_or_default();
                    println!(
                        "  {:<16} | {:<16} | {}",
                        l.map(|_| v.as_str()).unwrap_or(""),
                        r.map(|_| v.as_str()).unwrap_or(""),
                        name
                    );
                }
                anyhow::Ok(())
            }
            .await;
            if let Some(c) = db.cluster.as_mut() {
                c.stop();
            }
            result
        }
        MigrationCmd::Repair {
            version,
            status,
            target,
        } => {
            let project = Project::load(&target.project)?;
            let mut db = open_database(&project, target.db_url.clone(), target.db_port).await?;
            let result = async {
                let client = basalt_pg::pool::connect(&db.url).await?;
                let local = basalt_migrate::scan(&project.migrations_dir())?;
                let st = if status == "applied" {
                    basalt_migrate::RepairStatus::Applied
                } else {
                    basalt_migrate::RepairStatus::Reverted
                };
                basalt_migrate::repair(&client, &local, &version, st).await?;
                println!("Repaired migration history: {version} => {status}");
                anyhow::Ok(())
            }
            .await;
            if let Some(c) = db.cluster.as_mut() {
                c.stop();
            }
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_db;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            replace_db(
                "postgresql://postgres@/postgres?host=%2Ftmp&port=5",
                "template1"
            ),
            "postgresql://postgres@/template1?host=%2Ftmp&port=5"
        );
        assert_eq!(
            replace_db("postgresql://u:p@h:1/app", "template1"),
            "postgresql://u:p@h:1/template1"
        );
        assert_eq!(
            replace_db("postgresql://u@h", "template1"),
            "postgresql://u@h/template1"
        );
    }
}
