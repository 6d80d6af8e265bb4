//! A private Postgres cluster: finding the server binaries, `initdb` on first use, starting the
//! server as an unprivileged user when basalt runs as root, waiting until it accepts
//! connections, and a clean fast shutdown.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
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

/// A running cluster started by this process. Dropping it stops the server.
pub struct Cluster {
    pub config: ClusterConfig,
    pub bin: PgBin,
    child: Option<Child>,
}

impl Cluster {
    /// `initdb` when the data directory is empty, then start the server and wait until it
    /// accepts connections.
    pub fn start(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let bin = PgBin::find()?;
        let run_as = RunAs::resolve(config.run_as_user.as_deref())?;
        clear_stale_pid(&config.data_dir)?;
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
        let log_path = config.socket_dir.join("postgres.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io("open postgres.log"))?;
        if let Some(r) = run_as {
            let _ = nix::unistd::chown(
                log_path.as_path(),
                Some(nix::unistd::Uid::from_raw(r.uid)),
                Some(nix::unistd::Gid::from_raw(r.gid)),
            );
        }
        let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(bin.bin("postgres"));
        cmd.arg("-D")
            .arg(&config.data_dir)
            .arg("-p")
            .arg(config.port.to_string())
            .arg("-k")
            .arg(&config.socket_dir)
            .arg("-c")
            .arg(format!("listen_addresses={}", config.listen_address));
        let mut settings = default_settings(&bin);
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
        if let Some(r) = run_as {
            r.apply(&mut cmd);
        }
        let child = cmd.spawn().map_err(io("spawn postgres"))?;
        let mut cluster = Cluster {
            config,
            bin,
            child: Some(child),
        };
        cluster.wait_ready(Duration::from_secs(60), &log_path, log_start)?;
        Ok(cluster)
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
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    let tail = log_tail(log_path, log_start);
                    if tail.contains("Address already in use") {
                        return Err(ClusterError::PortInUse(self.config.port));
                    }
                    return Err(ClusterError::Start(format!("exited with {status}: {tail}")));
                }
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

    fn ready(&self) -> bool {
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
        if let Some(mut child) = self.child.take() {
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
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Settings every basalt cluster gets: logical decoding for realtime, pg_cron when installed.
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
    if bin.has_extension("pg_cron") {
        s.push(("shared_preload_libraries".into(), "pg_cron".into()));
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

/// A `postmaster.pid` left by a crashed server blocks the next start; remove it when the
/// process it names is gone.
fn clear_stale_pid(data_dir: &Path) -> Result<(), ClusterError> {
    let pid_file = data_dir.join("postmaster.pid");
    let Ok(text) = std::fs::read_to_string(&pid_file) else {
        return Ok(());
    };
    let pid: i32 = text
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .parse()
        .unwrap_or(0);
    let alive = pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    let is_postgres = alive
        && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().starts_with("postgres"))
            .unwrap_or(false);
    if is_postgres {
        let parent = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| {
                st.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1))
                    .map(str::to_owned)
            })
            .and_then(|pp| std::fs::read_to_string(format!("/proc/{pp}/comm")).ok())
            .unwrap_or_default();
        if parent.trim() == "basalt" {
            return Err(ClusterError::AlreadyRunning(pid));
        }
        // An orphan left by a basalt that was killed: stop it and take over.
        let p = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        while nix::sys::signal::kill(p, None).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if pid_file.exists() {
        std::fs::remove_file(&pid_file).map_err(io("remove stale postmaster.pid"))?;
    }
    Ok(())
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
        .filter(|l| l.contains("FATAL") || l.contains("ERROR") || l.contains("could not"))
        .last()
        .or_else(|| text.lines().last())
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
