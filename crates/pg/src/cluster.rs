//! A private Postgres cluster: finding the server binaries, `initdb` on first use, starting the
//! server as an unprivileged user when basalt runs as root, waiting until it accepts
//! connections, and a clean fast shutdown.
//!
//! One basalt per data directory: [`Cluster::start`] holds an exclusive lock (`<data dir>.lock`,
//! released by the kernel however basalt ends), and a postmaster found running on the data
//! directory without that lock was orphaned by a basalt that died; it is stopped before a new
//! one starts. After the server exits ([`Cluster::exited`]), [`Cluster::recover`] takes over the
//! postmaster someone else started on the data directory (`pg_ctl restart`) or starts a new one
//! with the same settings (crash recovery); Postgres's own `postmaster.pid` lock keeps the two
//! from ever running together. [`supervise`] runs that loop for `basalt start`.

pub mod server_tls;
pub mod supervise;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Everything that can go wrong running a cluster. Each variant renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no PostgreSQL server binaries found (looked in $BASALT_PG_BIN, `pg_config --bindir`, PATH and /usr/lib/postgresql/*/bin); install them with `apt-get install postgresql-15` or set BASALT_PG_BIN")]
    NoBinaries,
    #[error("BASALT_PG_BIN={0} does not contain `initdb` and `postgres`")]
    BadPgBin(String),
    #[error("running as root but the user `{0}` to run Postgres as does not exist")]
    NoUser(String),
    #[error("initdb failed: {0}")]
    Initdb(String),
    #[error("postgres did not start: {0}")]
    Start(String),
    #[error("this project's database is already served by a running basalt (postgres pid {0}); stop it first")]
    AlreadyRunning(i32),
    #[error("the orphaned postgres (pid {0}) serving this data directory did not stop")]
    OrphanAlive(i32),
    #[error("port {0} is already in use; stop what listens there or choose another port")]
    PortInUse(u16),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// Where to find `initdb`, `postgres` and friends.
#[derive(Debug, Clone)]
pub struct PgBin {
    pub dir: PathBuf,
}

impl PgBin {
    /// Look up the server binaries: `$BASALT_PG_BIN`, `pg_config --bindir`, `PATH`, then the
    /// newest `/usr/lib/postgresql/*/bin`.
    pub fn find() -> Result<PgBin, ClusterError> {
        if let Ok(dir) = std::env::var("BASALT_PG_BIN") {
            let dir = PathBuf::from(dir);
            return if has_server(&dir) {
                Ok(PgBin { dir })
            } else {
                Err(ClusterError::BadPgBin(dir.display().to_string()))
            };
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
            if out.status.success() {
                let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                if has_server(&dir) {
                    return Ok(PgBin { dir });
                }
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if has_server(&dir) {
                    return Ok(PgBin { dir });
                }
            }
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .filter(|(_, d)| has_server(d))
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, dir)| PgBin { dir })
            .ok_or(ClusterError::NoBinaries)
    }

    /// Path of one binary.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The server's share directory (for extension control files).
    pub fn share_dir(&self) -> Option<PathBuf> {
        let out = Command::new(self.bin("pg_config"))
            .arg("--sharedir")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    }

    /// Whether an extension is installed for these binaries.
    pub fn has_extension(&self, name: &str) -> bool {
        let candidates = [
            self.share_dir(),
            self.dir.parent().map(|p| p.join("share/postgresql")),
            self.dir.parent().map(|p| p.join("share")),
        ];
        candidates
            .into_iter()
            .flatten()
            .any(|d| d.join("extension").join(format!("{name}.control")).exists())
    }
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// Who the server processes run as.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// `None` when basalt is not root (Postgres then runs as the current user); otherwise the
    /// named system user (`postgres` by default).
    pub fn resolve(user: Option<&str>) -> Result<Option<RunAs>, ClusterError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        let name = user.unwrap_or("postgres");
        match nix::unistd::User::from_name(name) {
            Ok(Some(u)) => Ok(Some(RunAs {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            })),
            _ => Err(ClusterError::NoUser(name.to_string())),
        }
    }

    fn apply(self, cmd: &mut Command) {
        cmd.uid(self.uid).gid(self.gid);
    }

    /// Whether this user can reach (traverse every ancestor of) `path`.
    pub fn can_reach(self, path: &Path) -> bool {
        let mut p = Some(path);
        while let Some(dir) = p {
            if let Ok(md) = std::fs::metadata(dir) {
                let mode = md.permissions().mode();
                let ok = if md.uid() == self.uid {
                    mode & 0o100 != 0
                } else if md.gid() == self.gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                };
                if !ok {
                    return false;
                }
            }
            p = dir.parent();
        }
        true
    }
}

/// How to lay out and run one cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The data directory (`PGDATA`).
    pub data_dir: PathBuf,
    /// Directory for the unix socket (and the server log).
    pub socket_dir: PathBuf,
    /// TCP port on `listen_address`.
    pub port: u16,
    /// `listen_addresses` (127.0.0.1 unless configured).
    pub listen_address: String,
    /// Password of the `postgres` superuser for TCP connections.
    pub password: String,
    /// Extra `-c name=value` server settings.
    pub settings: Vec<(String, String)>,
    /// Run the server as this system user when basalt is root.
    pub run_as_user: Option<String>,
}

/// The server process of a cluster.
enum Server {
    /// Started by this process, reaped by it.
    Child(Child),
    /// Started by someone else on the data directory (`pg_ctl restart`) and taken over.
    Adopted(i32),
    /// Not running: stopped, or exited and not restarted yet.
    Gone,
}

/// How the server process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// A shutdown someone asked for (exit code 0): it may be a restart by hand.
    pub clean: bool,
    /// What happened, for people.
    pub reason: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// How [`Cluster::recover`] brought the server back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovered {
    /// A new server was started by basalt (crash recovery when the old one was killed).
    Started,
    /// A server someone else started on the data directory was taken over (its pid).
    Adopted(i32),
}

/// A running cluster started by this process. Dropping it stops the server.
pub struct Cluster {
    pub config: ClusterConfig,
    pub bin: PgBin,
    run_as: Option<RunAs>,
    server: Server,
    /// The exclusive lock on the data directory, held while this value lives.
    _lock: std::fs::File,
}

impl Cluster {
    /// `initdb` when the data directory is empty, then start the server and wait until it
    /// accepts connections.
    pub fn start(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let bin = PgBin::find()?;
        let run_as = RunAs::resolve(config.run_as_user.as_deref())?;
        if let Some(parent) = config.data_dir.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("create {}", parent.display())))?;
        }
        let lock = lock_data_dir(&config.data_dir)?;
        take_over_orphan(&config.data_dir)?;
        if port_in_use(&config.listen_address, config.port) {
            return Err(ClusterError::PortInUse(config.port));
        }
        for dir in [&config.data_dir, &config.socket_dir] {
            std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
            if let Some(r) = run_as {
                nix::unistd::chown(
                    dir.as_path(),
                    Some(nix::unistd::Uid::from_raw(r.uid)),
                    Some(nix::unistd::Gid::from_raw(r.gid)),
                )
                .map_err(|e| ClusterError::Io {
                    context: format!("chown {}", dir.display()),
                    source: e.into(),
                })?;
            }
        }
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod data dir"))?;
        if !config.data_dir.join("PG_VERSION").exists() {
            initdb(&bin, run_as, &config)?;
        }
        let mut cluster = Cluster {
            config,
            bin,
            run_as,
            server: Server::Gone,
            _lock: lock,
        };
        cluster.spawn()?;
        Ok(cluster)
    }

    /// Start the server process and wait until it accepts connections.
    fn spawn(&mut self) -> Result<(), ClusterError> {
        let config = &self.config;
        let log_path = config.socket_dir.join("postgres.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io("open postgres.log"))?;
        if let Some(r) = self.run_as {
            let _ = nix::unistd::chown(
                log_path.as_path(),
                Some(nix::unistd::Uid::from_raw(r.uid)),
                Some(nix::unistd::Gid::from_raw(r.gid)),
            );
        }
        let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(self.bin.bin("postgres"));
        cmd.arg("-D")
            .arg(&config.data_dir)
            .arg("-p")
            .arg(config.port.to_string())
            .arg("-k")
            .arg(&config.socket_dir)
            .arg("-c")
            .arg(format!("listen_addresses={}", config.listen_address));
        let mut settings = default_settings(&self.bin);
        if self.bin.has_extension("pg_cron") {
            // pg_cron's jobs connect with libpq, by default over TCP to localhost, where the
            // cluster asks for a password: send them through the trusted unix socket instead.
            settings.push(("cron.host".into(), config.socket_dir.display().to_string()));
        }
        settings.extend(server_tls::ensure(
            &config.data_dir,
            &config.listen_address,
            self.run_as,
        )?);
        settings.extend(config.settings.iter().cloned());
        for (k, v) in &settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("log"))?)
            .stderr(log)
            // Own process group: a Ctrl-C in the terminal reaches basalt, which then stops
            // Postgres itself after the HTTP server has drained.
            .process_group(0);
        if let Some(r) = self.run_as {
            r.apply(&mut cmd);
        }
        let child = cmd.spawn().map_err(io("spawn postgres"))?;
        self.server = Server::Child(child);
        self.wait_ready(Duration::from_secs(60), &log_path, log_start)
    }

    /// The pid of the server process, when one is running.
    pub fn pid(&self) -> Option<i32> {
        match &self.server {
            Server::Child(c) => Some(c.id() as i32),
            Server::Adopted(pid) => Some(*pid),
            Server::Gone => None,
        }
    }

    /// Whether the server process has exited since the last look, and how (reaping it).
    pub fn exited(&mut self) -> Option<Exit> {
        let exit = match &mut self.server {
            Server::Gone => Exit {
                clean: false,
                reason: "postgres is not running".into(),
            },
            Server::Child(c) => {
                let pid = c.id();
                match c.try_wait() {
                    Ok(None) => return None,
                    Ok(Some(st)) => Exit {
                        clean: st.success(),
                        reason: match (st.code(), st.signal()) {
                            (_, Some(sig)) => {
                                format!("postgres (pid {pid}) was killed by signal {sig}")
                            }
                            (Some(code), _) => {
                                format!("postgres (pid {pid}) exited with code {code}")
                            }
                            _ => format!("postgres (pid {pid}) exited: {st}"),
                        },
                    },
                    Err(e) => Exit {
                        clean: false,
                        reason: format!("postgres (pid {pid}) cannot be waited for: {e}"),
                    },
                }
            }
            Server::Adopted(pid) => {
                if is_postgres(*pid) {
                    return None;
                }
                // Not our child: how it ended is unknown, so it may have been restarted by hand.
                Exit {
                    clean: true,
                    reason: format!("postgres (pid {pid}) exited"),
                }
            }
        };
        self.server = Server::Gone;
        Some(exit)
    }

    /// Bring the server back after it exited: take over a postmaster that someone else started on
    /// the data directory meanwhile (waiting up to `grace` for one to appear), otherwise start a
    /// new one with the same settings (Postgres runs crash recovery when the old one was killed).
    /// A new start fails while processes of a killed server still hold its shared memory; call
    /// again until it succeeds.
    pub fn recover(&mut self, grace: Duration) -> Result<Recovered, ClusterError> {
        if self.exited().is_none() {
            return Ok(match self.server {
                Server::Adopted(pid) => Recovered::Adopted(pid),
                _ => Recovered::Started,
            });
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(pid) = running_postmaster(&self.config.data_dir) {
                self.server = Server::Adopted(pid);
                let log_path = self.config.socket_dir.join("postgres.log");
                let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
                self.wait_ready(Duration::from_secs(60), &log_path, log_start)?;
                return Ok(Recovered::Adopted(pid));
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        remove_stale_pid(&self.config.data_dir)?;
        self.spawn()?;
        Ok(Recovered::Started)
    }

    /// libpq URL over the unix socket, as the `postgres` superuser.
    pub fn socket_url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@/{db}?host={}&port={}",
            percent_path(&self.config.socket_dir),
            self.config.port
        )
    }

    /// URL over TCP with the superuser password (what `basalt status` prints).
    pub fn tcp_url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres:{}@{}:{}/{db}",
            self.config.password, self.config.listen_address, self.config.port
        )
    }

    fn wait_ready(
        &mut self,
        timeout: Duration,
        log_path: &Path,
        log_start: u64,
    ) -> Result<(), ClusterError> {
        let sock = self
            .config
            .socket_dir
            .join(format!(".s.PGSQL.{}", self.config.port));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.exited() {
                let tail = log_tail(log_path, log_start);
                if tail.contains("Address already in use") {
                    return Err(ClusterError::PortInUse(self.config.port));
                }
                return Err(ClusterError::Start(format!("{exit}: {tail}")));
            }
            if sock.exists() && self.ready() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::Start(format!(
                    "not ready after {}s: {}",
                    timeout.as_secs(),
                    log_tail(log_path, log_start)
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Whether the server accepts connections (`pg_isready`).
    pub fn ready(&self) -> bool {
        Command::new(self.bin.bin("pg_isready"))
            .arg("-q")
            .arg("-h")
            .arg(&self.config.socket_dir)
            .arg("-p")
            .arg(self.config.port.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit.
    pub fn stop(&mut self) {
        match std::mem::replace(&mut self.server, Server::Gone) {
            Server::Gone => {}
            Server::Child(mut child) => {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() > deadline => {
                            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
                            let _ = child.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
            Server::Adopted(pid) => {
                let _ = stop_postmaster(pid);
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Settings every basalt cluster gets: logical decoding for realtime, pg_stat_statements and
/// pg_cron preloaded when installed.
fn default_settings(bin: &PgBin) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = [
        ("wal_level", "logical"),
        ("max_wal_senders", "10"),
        ("max_replication_slots", "10"),
        ("max_connections", "200"),
        ("fsync", "on"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // As Supabase ships it: pg_stat_statements (for `supabase inspect db`) and pg_cron.
    let preload: Vec<&str> = ["pg_stat_statements", "pg_cron"]
        .into_iter()
        .filter(|e| bin.has_extension(e))
        .collect();
    if !preload.is_empty() {
        s.push(("shared_preload_libraries".into(), preload.join(",")));
    }
    if bin.has_extension("pg_cron") {
        s.push(("cron.database_name".into(), "postgres".into()));
    }
    s
}

fn initdb(bin: &PgBin, run_as: Option<RunAs>, config: &ClusterConfig) -> Result<(), ClusterError> {
    let pwfile = config.socket_dir.join(".pwfile");
    std::fs::write(&pwfile, format!("{}\n", config.password)).map_err(io("write pwfile"))?;
    if let Some(r) = run_as {
        let _ = nix::unistd::chown(
            pwfile.as_path(),
            Some(nix::unistd::Uid::from_raw(r.uid)),
            Some(nix::unistd::Gid::from_raw(r.gid)),
        );
    }
    let mut cmd = Command::new(bin.bin("initdb"));
    cmd.arg("-D")
        .arg(&config.data_dir)
        .args(["-U", "postgres", "--encoding=UTF8", "--locale=C.UTF-8"])
        .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdin(Stdio::null());
    if let Some(r) = run_as {
        r.apply(&mut cmd);
    }
    let out = cmd.output().map_err(io("run initdb"));
    let _ = std::fs::remove_file(&pwfile);
    let out = out?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("unknown error");
        return Err(ClusterError::Initdb(line.to_string()));
    }
    Ok(())
}

/// Take the exclusive lock of the data directory (`<data dir>.lock`). The kernel releases it
/// when its holder exits, however it exits, so a held lock means a live basalt.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, ClusterError> {
    let mut name = data_dir.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("open {}", path.display())))?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(ClusterError::AlreadyRunning(
                postmaster_pid(data_dir).unwrap_or(0),
            ));
        }
        return Err(io(format!("lock {}", path.display()))(e));
    }
    Ok(file)
}

/// The pid `postmaster.pid` names, if any.
fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines()
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|p: &i32| *p > 0)
}

/// Whether `pid` is a live (not zombie) Postgres process.
fn is_postgres(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state …`: comm may hold spaces and parentheses, the state follows the last `)`.
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].split_whitespace().next().unwrap_or("");
    comm.starts_with("postgres") && state != "Z" && state != "X"
}

/// The live postmaster `postmaster.pid` names, if any.
fn running_postmaster(data_dir: &Path) -> Option<i32> {
    postmaster_pid(data_dir).filter(|p| is_postgres(*p))
}

/// Stop a postmaster this process did not start: fast shutdown, then immediate shutdown after
/// 30 s, then SIGKILL. Returns whether it is gone.
fn stop_postmaster(pid: i32) -> bool {
    use nix::sys::signal::Signal;
    let p = nix::unistd::Pid::from_raw(pid);
    for (sig, wait) in [
        (Signal::SIGINT, 30),
        (Signal::SIGQUIT, 10),
        (Signal::SIGKILL, 10),
    ] {
        let _ = nix::sys::signal::kill(p, sig);
        let deadline = Instant::now() + Duration::from_secs(wait);
        while is_postgres(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !is_postgres(pid) {
            return true;
        }
    }
    false
}

/// Called with the data directory's lock held, so no live basalt serves it: a postmaster still
/// running there was orphaned by a basalt that died (SIGKILL, abort). Stop it (a fast shutdown:
/// every committed transaction is kept) and clear its `postmaster.pid`, so the new server starts
/// with this basalt's settings and as its child.
fn take_over_orphan(data_dir: &Path) -> Result<(), ClusterError> {
    if let Some(pid) = running_postmaster(data_dir) {
        tracing::warn!(
            pid,
            data_dir = %data_dir.display(),
            "postgres left running by a basalt that ended abnormally; stopping it to take over"
        );
        if !stop_postmaster(pid) {
            return Err(ClusterError::OrphanAlive(pid));
        }
        tracing::warn!(pid, "orphaned postgres stopped; starting a new one");
    }
    remove_stale_pid(data_dir)
}

/// A `postmaster.pid` left by a crashed server blocks the next start; remove it when the
/// process it names is gone.
fn remove_stale_pid(data_dir: &Path) -> Result<(), ClusterError> {
    let pid_file = data_dir.join("postmaster.pid");
    if !pid_file.exists() || running_postmaster(data_dir).is_some() {
        return Ok(());
    }
    match std::fs::remove_file(&pid_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io("remove stale postmaster.pid")(e))
        }
        _ => Ok(()),
    }
}

/// Whether something already listens on `addr:port`.
pub fn port_in_use(addr: &str, port: u16) -> bool {
    std::net::TcpListener::bind((addr, port)).is_err()
}

fn log_tail(path: &Path, from: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = (from as usize).min(text.len());
    let text = String::from_utf8_lossy(&text[start..]);
    text.lines()
        .rfind(|l| l.contains("FATAL") || l.contains("ERROR") || l.contains("could not"))
        .or_else(|| text.lines().next_back())
        .unwrap_or("no log output")
        .trim()
        .to_string()
}

/// Percent-encode a socket directory for use as `host=` in a URL.
pub fn percent_path(p: &Path) -> String {
    p.display()
        .to_string()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
