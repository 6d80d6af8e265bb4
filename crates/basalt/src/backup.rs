//! `basalt db backup|backups|restore|dump|branch …` and the backup side of `basalt start`:
//! pgBackRest set up for the embedded cluster (crates/backup), the storage objects kept beside
//! it, logical dumps in the Supabase CLI's format, and branches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use basalt_backup::{branch, objects, BackupKind, Repository, RepositoryLayout, Target};
use basalt_pg::cluster::{Cluster, ClusterConfig};
use clap::{Args, Subcommand};

use crate::project::Project;

#[derive(Args, Clone)]
pub struct ProjectArg {
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Take a backup of the embedded database now (needs `[basalt.backup] enabled`).
    Backup {
        #[command(flatten)]
        p: ProjectArg,
        /// full, diff or incr.
        #[arg(long = "type", default_value = "full")]
        kind: String,
    },
    /// The backups in the repository: label, type, size, start and end, WAL range.
    Backups {
        #[command(flatten)]
        p: ProjectArg,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bring the embedded database (and its storage objects) back to a moment, or load a dump.
    Restore {
        #[command(flatten)]
        p: ProjectArg,
        /// Recover to this time (`2026-12-03 13:50:00+00`).
        #[arg(long, conflicts_with_all = ["backup", "from_dump", "latest"])]
        time: Option<String>,
        /// Recover to the end of this backup (a label from `basalt db backups`).
        #[arg(long, conflicts_with_all = ["from_dump", "latest"])]
        backup: Option<String>,
        /// Recover everything archived (after losing the data directory).
        #[arg(long, conflicts_with = "from_dump")]
        latest: bool,
        /// Load a logical dump (`basalt db dump` or `supabase db dump`) with psql instead.
        #[arg(long)]
        from_dump: Option<PathBuf>,
        #[arg(long, env = "BASALT_DB_URL")]
        db_url: Option<String>,
    },
    /// A logical dump with the Supabase CLI's exclusions (schema by default).
    Dump {
        #[command(flatten)]
        p: ProjectArg,
        #[arg(long, env = "BASALT_DB_URL")]
        db_url: Option<String>,
        /// Write here instead of stdout.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
        /// The rows of the project's schemas instead of the schema.
        #[arg(long)]
        data_only: bool,
    },
    /// Instant copies of the database, each served by `basalt start --branch NAME`.
    Branch {
        #[command(subcommand)]
        cmd: BranchCmd,
    },
}

#[derive(Subcommand)]
pub enum BranchCmd {
    /// Copy the project's database into a new branch.
    Create {
        name: String,
        #[command(flatten)]
        p: ProjectArg,
    },
    /// The branches, with their size and whether they are served.
    List {
        #[command(flatten)]
        p: ProjectArg,
    },
    /// Delete a branch.
    Delete {
        name: String,
        #[command(flatten)]
        p: ProjectArg,
    },
    /// Empty a branch and apply the platform, the migrations and the seed again.
    Reset {
        name: String,
        #[command(flatten)]
        p: ProjectArg,
    },
}

fn run_as(project: &Project) -> anyhow::Result<Option<basalt_backup::RunAs>> {
    Ok(
        basalt_pg::cluster::RunAs::resolve(project.config.basalt.pg_user.as_deref())?.map(|r| {
            basalt_backup::RunAs {
                uid: r.uid,
                gid: r.gid,
            }
        }),
    )
}

/// Where branches live: beside the main data directory.
fn branches_dir(main: &ClusterConfig) -> PathBuf {
    state_of(main).join("branches")
}

/// The directory holding a cluster's data directory (`.basalt`, or the fallback under
/// /var/tmp when the server's user cannot reach the project).
fn state_of(c: &ClusterConfig) -> PathBuf {
    c.data_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The cluster configuration of branch `name` (its own data and socket directories).
pub(crate) fn branch_config(
    project: &Project,
    name: &str,
    db_port: Option<u16>,
) -> anyhow::Result<ClusterConfig> {
    branch::check_name(name)?;
    let mut c = crate::start::cluster_config(project, db_port)?;
    let dir = branches_dir(&c).join(name);
    if !branch::data_dir(&branches_dir(&c), name).exists() {
        anyhow::bail!("no branch named {name}: make it with `basalt db branch create {name}`");
    }
    c.data_dir = dir.join("pg");
    c.socket_dir = dir.join("run");
    Ok(c)
}

/// The local byte store of a branch: its own, so that neither side's sweep removes the other's
/// objects.
pub(crate) fn branch_storage(project: &Project, name: &str) -> anyhow::Result<PathBuf> {
    let c = crate::start::cluster_config(project, None)?;
    Ok(branches_dir(&c).join(name).join("storage"))
}

/// The repository of `project` for the cluster `c` (configuration written anew).
fn repository(project: &Project, c: &ClusterConfig, port: u16) -> anyhow::Result<Repository> {
    let cfg = &project.config.basalt.backup;
    let state = state_of(c);
    let repo_dir = match &cfg.path {
        Some(p) if Path::new(p).is_absolute() => PathBuf::from(p),
        Some(p) => project.dir.join(p),
        None => state.join("backups"),
    };
    let layout = RepositoryLayout {
        data_dir: c.data_dir.clone(),
        socket_dir: c.socket_dir.clone(),
        port,
        work_dir: state,
        repo_dir,
    };
    Ok(Repository::write(&layout, cfg, run_as(project)?)?)
}

/// The local byte store of the main project (none when objects live in S3).
fn storage_root(project: &Project) -> Option<PathBuf> {
    if project.config.storage.s3.is_some() {
        return None;
    }
    Some(project.state_dir().join("storage"))
}

/// `basalt start` with backups on: the repository, and the server settings that archive WAL.
pub(crate) fn prepare_archiving(
    project: &Project,
    c: &mut ClusterConfig,
) -> anyhow::Result<Option<Repository>> {
    let cfg = &project.config.basalt.backup;
    if !cfg.enabled {
        return Ok(None);
    }
    let repo = repository(project, c, c.port)?;
    c.settings
        .extend(repo.archive_settings(cfg.archive_timeout.0));
    Ok(Some(repo))
}

/// What the running `basalt start` knows about its backups, for `/metrics` and Studio's Backups
/// page: the repository (none when backups are off), the backups it holds (read again after
/// each backup), the failures since start, and the WAL archiver's counters.
pub(crate) struct Live {
    repo: Option<Repository>,
    project: Project,
    branches: PathBuf,
    /// One backup at a time from this process (the schedule and Studio's button).
    taking: std::sync::Mutex<()>,
    state: std::sync::Mutex<LiveState>,
}

#[derive(Default)]
struct LiveState {
    backups: Vec<basalt_backup::BackupInfo>,
    failed: u64,
    /// pg_stat_archiver: archived_count, failed_count, last_archived_time (Unix seconds).
    archiver: Option<(i64, i64, Option<f64>)>,
}

static LIVE: std::sync::OnceLock<std::sync::Arc<Live>> = std::sync::OnceLock::new();

impl Live {
    fn st(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take a backup of `kind` (waiting for one in progress), archive the storage objects
    /// beside it, and record the outcome.
    fn take(&self, kind: BackupKind) -> anyhow::Result<basalt_backup::BackupInfo> {
        let Some(repo) = &self.repo else {
            anyhow::bail!("backups are off: set [basalt.backup] enabled = true and restart basalt");
        };
        let _one = self.taking.lock().unwrap_or_else(|e| e.into_inner());
        archive_objects(&self.project, repo);
        match repo.backup(kind) {
            Ok(b) => {
                self.refresh();
                Ok(b)
            }
            Err(e) => {
                self.st().failed += 1;
                Err(e.into())
            }
        }
    }

    /// Read the list of backups again (retention may have expired some).
    fn refresh(&self) {
        if let Some(repo) = &self.repo {
            match repo.backups() {
                Ok(list) => self.st().backups = list,
                Err(e) => tracing::warn!(error = %e, "backups: pgbackrest info"),
            }
        }
    }

    /// The `/metrics` lines.
    fn write_metrics(&self, out: &mut String) {
        use basalt_gateway::metrics::write_gauge;
        let st = self.st();
        let last = st.backups.last();
        let one = |v: f64| [(Vec::new(), v)];
        write_gauge(
            out,
            "basalt_backup_enabled",
            "1 when [basalt.backup] is on for this database.",
            &one(if self.repo.is_some() { 1.0 } else { 0.0 }),
        );
        if self.repo.is_none() {
            return;
        }
        write_gauge(
            out,
            "basalt_backup_count",
            "Backups in the repository.",
            &one(st.backups.len() as f64),
        );
        if let Some(b) = last {
            write_gauge(
                out,
                "basalt_backup_last_success_timestamp_seconds",
                "End of the newest backup in the repository, Unix seconds.",
                &one(b.stopped as f64),
            );
            write_gauge(
                out,
                "basalt_backup_last_size_bytes",
                "Size of the database the newest backup copies.",
                &one(b.size as f64),
            );
            write_gauge(
                out,
                "basalt_backup_last_repository_bytes",
                "What the newest backup takes in the repository (compressed).",
                &one(b.repo_size as f64),
            );
        }
        counter(
            out,
            "basalt_backup_failures",
            "Backups that failed since basalt started (scheduled and on demand).",
            st.failed,
        );
        if let Some((archived, failed, last)) = st.archiver {
            counter(
                out,
                "basalt_wal_archived",
                "WAL segments archived (pg_stat_archiver.archived_count).",
                archived.max(0) as u64,
            );
            counter(
                out,
                "basalt_wal_archive_failures",
                "Failed attempts to archive a WAL segment (pg_stat_archiver.failed_count).",
                failed.max(0) as u64,
            );
            if let Some(t) = last {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or_default();
                write_gauge(
                    out,
                    "basalt_wal_last_archived_age_seconds",
                    "Seconds since the last WAL segment was archived.",
                    &one((now - t).max(0.0)),
                );
            }
        }
    }
}

/// One counter family in the exposition text.
fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total {value}\n"
    ));
}

impl basalt_studio::Backups for Live {
    fn list(&self) -> Result<serde_json::Value, String> {
        self.refresh();
        let branches = branch::list(&self.branches).map_err(|e| e.to_string())?;
        let repository = match (&self.repo, &self.project.config.basalt.backup.s3) {
            (None, _) => String::new(),
            (Some(_), Some(s3)) => format!(
                "s3://{}/{}",
                s3.bucket,
                s3.prefix
                    .as_deref()
                    .unwrap_or("/basalt")
                    .trim_start_matches('/')
            ),
            (Some(r), None) => r
                .local
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        };
        Ok(serde_json::json!({
            "enabled": self.repo.is_some(),
            "available": true,
            "repository": repository,
            "backups": self.st().backups.iter().rev().collect::<Vec<_>>(),
            "branches": branches.iter().map(|b| serde_json::json!({
                "name": b.name, "size": b.size, "running": b.running,
            })).collect::<Vec<_>>(),
        }))
    }

    fn take(&self) -> Result<serde_json::Value, String> {
        let b = Live::take(self, BackupKind::Full).map_err(|e| format!("{e:#}"))?;
        serde_json::to_value(b).map_err(|e| e.to_string())
    }
}

/// Studio's Backups page host, once `basalt start` has set it up on the embedded database.
pub(crate) fn studio_host() -> Option<std::sync::Arc<dyn basalt_studio::Backups>> {
    LIVE.get()
        .map(|l| l.clone() as std::sync::Arc<dyn basalt_studio::Backups>)
}

/// After the embedded server is up (main project, not a branch): with backups on, create the
/// stanza, then keep taking backups every `interval` and keep the repository's objects current
/// every `archive_timeout`, on a thread of its own; sample pg_stat_archiver every 2 s; and
/// report both on `/metrics` and to Studio.
pub(crate) fn start_schedule(
    project: &Project,
    repo: Option<Repository>,
    db_url: &str,
) -> anyhow::Result<()> {
    if let Some(repo) = &repo {
        repo.stanza_create()
            .context("backups: pgbackrest stanza-create")?;
    }
    let main = crate::start::cluster_config(project, None)?;
    let live = std::sync::Arc::new(Live {
        repo: repo.clone(),
        project: project.clone(),
        branches: branches_dir(&main),
        taking: std::sync::Mutex::new(()),
        state: std::sync::Mutex::new(LiveState::default()),
    });
    let _ = LIVE.set(live.clone());
    let metrics = live.clone();
    basalt_gateway::metrics::add_collector(move |out| metrics.write_metrics(out));
    let Some(repo) = repo else {
        return Ok(());
    };
    live.refresh();
    let sampler = live.clone();
    let url = db_url.to_string();
    tokio::spawn(async move {
        let mut client: Option<tokio_postgres::Client> = None;
        loop {
            if client.as_ref().is_none_or(|c| c.is_closed()) {
                client = basalt_pg::pool::connect(&url).await.ok();
            }
            if let Some(c) = &client {
                let row = c
                    .query_one(
                        "SELECT archived_count, failed_count, \
                         extract(epoch FROM last_archived_time)::float8 FROM pg_stat_archiver",
                        &[],
                    )
                    .await;
                if let Ok(r) = row {
                    sampler.st().archiver = Some((r.get(0), r.get(1), r.get(2)));
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let cfg = project.config.basalt.backup.clone();
    let storage = storage_root(project);
    std::thread::Builder::new()
        .name("basalt-backup".into())
        .spawn(move || {
            let tick = cfg.archive_timeout.0.max(Duration::from_secs(1));
            let mut next_backup = std::time::Instant::now();
            if !live.st().backups.is_empty() {
                next_backup += cfg.interval.0;
            }
            loop {
                if !cfg.interval.0.is_zero() && std::time::Instant::now() >= next_backup {
                    match live.take(BackupKind::Full) {
                        Ok(b) => {
                            tracing::info!(label = %b.label, "backups: scheduled backup taken")
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "backups: scheduled backup failed")
                        }
                    }
                    next_backup = std::time::Instant::now() + cfg.interval.0;
                } else if let (Some(root), Some(local)) = (&storage, &repo.local) {
                    if let Err(e) = objects::archive(root, local) {
                        tracing::error!(error = %e, "backups: archiving storage objects");
                    }
                }
                std::thread::sleep(tick);
            }
        })?;
    Ok(())
}

/// The port of the server running on `data_dir` (line 4 of postmaster.pid), when one runs.
fn running_port(data_dir: &Path) -> Option<u16> {
    branch::running_pid(data_dir)?;
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines().nth(3)?.trim().parse().ok()
}

/// A free TCP port on loopback (for a server started for the time of a command, or a branch).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub async fn run(cmd: BackupCmd) -> anyhow::Result<()> {
    match cmd {
        BackupCmd::Backup { p, kind } => {
            let project = Project::load(&p.project)?;
            if !project.config.basalt.backup.enabled {
                anyhow::bail!("backups are off: set [basalt.backup] enabled = true in supabase/config.toml and start basalt once");
            }
            let kind = BackupKind::parse(&kind)
                .ok_or_else(|| anyhow::anyhow!("--type {kind}: use full, diff or incr"))?;
            let mut c = crate::start::cluster_config(&project, None)?;
            let info = match running_port(&c.data_dir) {
                Some(port) => {
                    let repo = repository(&project, &c, port)?;
                    archive_objects(&project, &repo);
                    repo.backup(kind)?
                }
                None => {
                    c.port = free_port()?;
                    let repo = prepare_archiving(&project, &mut c)?
                        .ok_or_else(|| anyhow::anyhow!("backups are off"))?;
                    let mut cluster =
                        tokio::task::spawn_blocking(move || Cluster::start(c)).await??;
                    let taken = repo.stanza_create().and_then(|_| repo.backup(kind));
                    archive_objects(&project, &repo);
                    cluster.stop();
                    taken?
                }
            };
            println!(
                "Backup {} ({}): {} of database, {} in the repository, WAL {}..{}",
                info.label,
                info.kind,
                human(info.size),
                human(info.repo_size),
                info.wal_start,
                info.wal_stop
            );
            Ok(())
        }
        BackupCmd::Backups { p, json } => {
            let project = Project::load(&p.project)?;
            let c = crate::start::cluster_config(&project, None)?;
            let port = running_port(&c.data_dir).unwrap_or(c.port);
            let list = repository(&project, &c, port)?.backups()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                println!("No backups yet: `basalt db backup` takes one.");
            }
            for b in list {
                println!(
                    "{}  {:4}  {:>9}  {:>9}  {} .. {}  WAL {} .. {}",
                    b.label,
                    b.kind,
                    human(b.size),
                    human(b.repo_size),
                    time(b.started),
                    time(b.stopped),
                    b.wal_start,
                    b.wal_stop
                );
            }
            Ok(())
        }
        BackupCmd::Restore {
            p,
            time,
            backup,
            latest,
            from_dump,
            db_url,
        } => {
            let project = Project::load(&p.project)?;
            if let Some(file) = from_dump {
                return load_dump(&project, db_url, &file).await;
            }
            let target = match (time, backup, latest) {
                (Some(t), _, _) => Target::Time(t),
                (_, Some(b), _) => Target::Backup(b),
                (_, _, true) => Target::Latest,
                _ => {
                    anyhow::bail!("say what to restore: --time, --backup, --latest or --from-dump")
                }
            };
            restore(&project, target).await
        }
        BackupCmd::Dump {
            p,
            db_url,
            file,
            data_only,
        } => {
            let project = Project::load(&p.project)?;
            dump(&project, db_url, file.as_deref(), data_only).await
        }
        BackupCmd::Branch { cmd } => branch_cmd(cmd).await,
    }
}

fn archive_objects(project: &Project, repo: &Repository) {
    if let (Some(root), Some(local)) = (storage_root(project), &repo.local) {
        if let Err(e) = objects::archive(&root, local) {
            eprintln!("warning: storage objects not archived: {e}");
        }
    }
}

/// PITR: restore into a new directory, finish recovery there on a spare port, put back the
/// storage objects its rows name, then swap it in and keep the old directory.
async fn restore(project: &Project, target: Target) -> anyhow::Result<()> {
    let main = crate::start::cluster_config(project, None)?;
    if let Some(pid) = branch::running_pid(&main.data_dir) {
        anyhow::bail!("the database is being served (postgres pid {pid}): stop basalt first");
    }
    let repo = repository(project, &main, main.port)?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let restored = main.data_dir.with_file_name(format!("pg.restore-{stamp}"));
    repo.restore(&target, &restored)
        .context("pgbackrest restore")?;
    // WAL written since the last archived segment (a crash leaves it in pg_wal): recovery reads
    // it after the archive, so no acknowledged write of an intact data directory is lost.
    copy_unarchived_wal(&main.data_dir, &restored, run_as(project)?)?;
    let mut c = main.clone();
    c.data_dir = restored.clone();
    c.port = free_port()?;
    c.settings
        .extend(repo.archive_settings(project.config.basalt.backup.archive_timeout.0));
    let mut cluster = match tokio::task::spawn_blocking(move || Cluster::start(c)).await? {
        Ok(cl) => cl,
        Err(e) => {
            anyhow::bail!(
                "recovery in {} did not finish ({e}); the current database is untouched",
                restored.display()
            )
        }
    };
    let objects_back = async {
        let client = basalt_pg::pool::connect(&cluster.socket_url("postgres")).await?;
        // The server takes connections (hot standby) before it reaches the target and promotes.
        let deadline = std::time::Instant::now() + Duration::from_secs(600);
        loop {
            let in_recovery: bool = client
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await?
                .get(0);
            if !in_recovery {
                break;
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("the restored server did not finish recovery within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let versions: Vec<String> = client
            .query(
                "SELECT version FROM storage.objects WHERE version IS NOT NULL",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        match (storage_root(project), &repo.local) {
            (Some(root), Some(local)) => Ok(objects::restore(
                local,
                &root,
                versions.iter().map(String::as_str),
            )?),
            _ => Ok((0, Vec::new())),
        }
    }
    .await;
    cluster.stop();
    drop(cluster);
    let (objects_restored, missing) = objects_back?;
    let kept = main
        .data_dir
        .with_file_name(format!("pg.before-restore-{stamp}"));
    std::fs::rename(&main.data_dir, &kept)
        .with_context(|| format!("move {} aside", main.data_dir.display()))?;
    std::fs::rename(&restored, &main.data_dir)
        .with_context(|| format!("move {} into place", restored.display()))?;
    eprintln!(
        "Restored the database ({}); {objects_restored} storage object(s) put back.",
        match &target {
            Target::Latest => "to the end of the archive".to_string(),
            Target::Time(t) => format!("to {t}"),
            Target::Backup(b) => format!("to backup {b}"),
        }
    );
    if !missing.is_empty() {
        eprintln!(
            "warning: {} storage object(s) the restored rows name are in no backup",
            missing.len()
        );
    }
    eprintln!(
        "The database before the restore is kept in {}; delete it when you no longer need it.",
        kept.display()
    );
    Ok(())
}

/// Copy the WAL segments of `from`'s pg_wal that `to`'s lacks.
fn copy_unarchived_wal(
    from: &Path,
    to: &Path,
    run_as: Option<basalt_backup::RunAs>,
) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(from.join("pg_wal")) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let segment = name.len() == 24 && name.bytes().all(|b| b.is_ascii_hexdigit());
        let dest = to.join("pg_wal").join(&name);
        if segment && !dest.exists() {
            std::fs::copy(e.path(), &dest).with_context(|| format!("copy WAL segment {name}"))?;
            if let Some(r) = run_as {
                r.chown(&dest);
            }
        }
    }
    Ok(())
}

/// The Supabase CLI's `db dump` exclusions, plus basalt's own schema.
const EXCLUDED_SCHEMAS: &str = "information_schema|pg_*|_analytics|_realtime|_supavisor|auth|etl|extensions|pgbouncer|realtime|storage|supabase_functions|supabase_migrations|cron|dbdev|graphql|graphql_public|net|pgmq|pgsodium|pgsodium_masks|pgtle|repack|tiger|tiger_data|timescaledb_*|_timescaledb_*|topology|vault|basalt";

/// A database URL for the tools (pg_dump, psql): `--db-url`, else the embedded cluster, started
/// for the time of the command when not running.
async fn tool_target(
    project: &Project,
    db_url: Option<String>,
) -> anyhow::Result<(String, Option<Cluster>)> {
    if let Some(url) = db_url {
        return Ok((url, None));
    }
    let c = crate::start::cluster_config(project, None)?;
    if let Some(port) = running_port(&c.data_dir) {
        return Ok((
            format!(
                "postgresql://postgres:{}@127.0.0.1:{port}/postgres",
                c.password
            ),
            None,
        ));
    }
    let db = crate::start::open_database(project, None, None).await?;
    crate::start::prepare(project, &db.url, db.cluster.as_ref(), false).await?;
    Ok((db.url.clone(), db.cluster))
}

async fn dump(
    project: &Project,
    db_url: Option<String>,
    file: Option<&Path>,
    data_only: bool,
) -> anyhow::Result<()> {
    let (url, mut cluster) = tool_target(project, db_url).await?;
    let mut cmd = std::process::Command::new("pg_dump");
    cmd.arg("--dbname").arg(&url).arg("--quote-all-identifiers");
    if data_only {
        cmd.args(["--data-only", "--use-set-session-authorization"]);
    } else {
        cmd.args(["--schema-only", "--no-owner", "--no-privileges"]);
    }
    for s in EXCLUDED_SCHEMAS.split('|') {
        cmd.arg("--exclude-schema").arg(s);
    }
    let out = cmd.output();
    if let Some(c) = cluster.as_mut() {
        c.stop();
    }
    let out = out.context("run pg_dump")?;
    if !out.status.success() {
        anyhow::bail!("pg_dump: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    // As the CLI does: no psql meta commands, no event triggers, no `supabase_realtime`.
    let text: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let hide = l.starts_with("\\restrict")
                || l.starts_with("\\unrestrict")
                || l.starts_with("CREATE EVENT TRIGGER")
                || l.starts_with("ALTER EVENT TRIGGER")
                || l.starts_with("         WHEN TAG IN ")
                || l.starts_with("   EXECUTE FUNCTION ")
                || l.starts_with("CREATE PUBLICATION \"supabase_realtime")
                || l.starts_with("ALTER PUBLICATION \"supabase_realtime")
                || l.starts_with("SET transaction_timeout");
            if hide {
                format!("-- {l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    match file {
        Some(f) => std::fs::write(f, text).with_context(|| format!("write {}", f.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

async fn load_dump(project: &Project, db_url: Option<String>, file: &Path) -> anyhow::Result<()> {
    let (url, mut cluster) = tool_target(project, db_url).await?;
    let out = std::process::Command::new("psql")
        .arg(&url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(file)
        .output();
    if let Some(c) = cluster.as_mut() {
        c.stop();
    }
    let out = out.context("run psql")?;
    if !out.status.success() {
        anyhow::bail!(
            "loading {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    eprintln!("Loaded {}.", file.display());
    Ok(())
}

async fn branch_cmd(cmd: BranchCmd) -> anyhow::Result<()> {
    match cmd {
        BranchCmd::Create { name, p } => {
            let project = Project::load(&p.project)?;
            let main = crate::start::cluster_config(&project, None)?;
            let started = std::time::Instant::now();
            let branches = branches_dir(&main);
            if !main.data_dir.join("PG_VERSION").exists() {
                anyhow::bail!("the project has no database yet: run `basalt start` once");
            }
            let running = running_port(&main.data_dir);
            branch::create(
                &branches,
                &name,
                &main.data_dir,
                running.map(|port| branch::Running {
                    socket_dir: &main.socket_dir,
                    port,
                }),
                run_as(&project)?,
            )?;
            if let Some(root) = storage_root(&project) {
                objects::archive(&root, &branch_storage(&project, &name)?)?;
            }
            eprintln!(
                "Created branch {name} in {} ms; serve it with `basalt start --branch {name}`.",
                started.elapsed().as_millis()
            );
            Ok(())
        }
        BranchCmd::List { p } => {
            let project = Project::load(&p.project)?;
            let main = crate::start::cluster_config(&project, None)?;
            let list = branch::list(&branches_dir(&main))?;
            if list.is_empty() {
                println!("No branches: `basalt db branch create NAME` makes one.");
            }
            for b in list {
                println!(
                    "{:20} {:>9}  {}",
                    b.name,
                    human(b.size),
                    if b.running { "served" } else { "stopped" }
                );
            }
            Ok(())
        }
        BranchCmd::Delete { name, p } => {
            let project = Project::load(&p.project)?;
            let main = crate::start::cluster_config(&project, None)?;
            branch::delete(&branches_dir(&main), &name)?;
            eprintln!("Deleted branch {name}.");
            Ok(())
        }
        BranchCmd::Reset { name, p } => {
            let project = Project::load(&p.project)?;
            let mut c = branch_config(&project, &name, None)?;
            if let Some(pid) = branch::running_pid(&c.data_dir) {
                anyhow::bail!("branch {name} is being served (postgres pid {pid}); stop it first");
            }
            std::fs::remove_dir_all(&c.data_dir)?;
            c.port = free_port()?;
            let mut cluster = tokio::task::spawn_blocking(move || Cluster::start(c)).await??;
            let url = cluster.socket_url("postgres");
            let prepared = crate::start::prepare(&project, &url, Some(&cluster), true).await;
            cluster.stop();
            prepared?;
            eprintln!("Reset branch {name}: platform, migrations and seed applied.");
            Ok(())
        }
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

fn time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}
