//! basalt-testkit: real Postgres for tests, fast. One private cluster serves every test process
//! of a run (it lives in `/tmp/basalt-testkit-<uid>/` and is reused by later runs); a template
//! database holds the platform schema, and [`fresh_db`] clones it in milliseconds so that every
//! test gets its own database and tests run in parallel. [`serve`] runs any axum router on a free
//! port. No mocked database, ever.

#[cfg(feature = "s3")]
pub mod s3;
pub mod tls;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use basalt_pg::cluster::{percent_path, PgBin, RunAs};

/// The shared test cluster of this run.
#[derive(Debug, Clone)]
pub struct TestCluster {
    pub root: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
    pub template: String,
}

impl TestCluster {
    /// URL of database `db` as the `postgres` superuser, over the unix socket.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@/{db}?host={}&port={}",
            percent_path(&self.socket_dir),
            self.port
        )
    }
}

/// A database cloned from the platform template for one test. Dropped (with `FORCE`) when the
/// value goes out of scope.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    /// Superuser URL of this database.
    pub url: String,
    pub cluster: TestCluster,
}

impl TestDb {
    /// A connected superuser client.
    pub async fn client(&self) -> tokio_postgres::Client {
        basalt_pg::pool::connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.cluster.url("postgres");
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(c) = basalt_pg::pool::connect(&admin).await {
                        let _ = c
                            .batch_execute(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The shared cluster, started (or adopted) on first use.
pub fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_init(|| start_cluster().unwrap_or_else(|e| panic!("test cluster: {e}")))
}

/// A fresh database with the platform schema, cloned from the template.
pub async fn fresh_db() -> TestDb {
    let cluster = tokio::task::spawn_blocking(cluster)
        .await
        .expect("cluster init")
        .clone();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let name = format!("t_{}_{}", std::process::id(), n);
    let admin = basalt_pg::pool::connect(&cluster.url("postgres"))
        .await
        .expect("connect to test cluster");
    // Several processes clone the same template at once; Postgres refuses a clone while another
    // session is connected to the template, so retry briefly.
    let mut last = None;
    for _ in 0..50 {
        match admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{}\"",
                cluster.template
            ))
            .await
        {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    if let Some(e) = last {
        panic!("create test database: {e}");
    }
    TestDb {
        url: cluster.url(&name),
        name,
        cluster,
    }
}

/// A running HTTP server for a test; aborted on drop.
pub struct TestServer {
    pub url: String,
    pub addr: std::net::SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Serve `router` on 127.0.0.1 at a free port.
pub async fn serve(router: axum::Router) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind test server");
    let addr = listener.local_addr().expect("local addr");
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    TestServer {
        url: format!("http://{addr}"),
        addr,
        handle,
    }
}

/// Directory holding `../shared` when it exists next to the repository (reference material).
pub fn shared_dir() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("BASALT_SHARED").map(PathBuf::from),
        here.parent()
            .and_then(|p| p.parent())
            .and_then(|p| p.parent())
            .map(|p| p.join("shared")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

fn start_cluster() -> Result<TestCluster, String> {
    let uid = nix::unistd::getuid().as_raw();
    let root = std::env::var_os("BASALT_TESTKIT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/basalt-testkit-{uid}")));
    std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    // One process at a time sets the cluster up; the others wait on the lock and then adopt it.
    let lock = std::fs::File::create(root.join("lock")).map_err(|e| e.to_string())?;
    let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("lock: {e}"))?;

    let bin = PgBin::find().map_err(|e| e.to_string())?;
    let run_as = RunAs::resolve(None).map_err(|e| e.to_string())?;
    let data = root.join("pg");
    let sock = root.join("sock");
    for d in [&data, &sock] {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        if let Some(r) = run_as {
            nix::unistd::chown(
                d.as_path(),
                Some(nix::unistd::Uid::from_raw(r.uid)),
                Some(nix::unistd::Gid::from_raw(r.gid)),
            )
            .map_err(|e| e.to_string())?;
        }
    }
    let port_file = root.join("port");
    let port: u16 = match std::fs::read_to_string(&port_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        Some(p) => p,
        None => {
            let p = free_port()?;
            std::fs::write(&port_file, p.to_string()).map_err(|e| e.to_string())?;
            p
        }
    };
    let run = |cmd: &mut Command| -> Result<std::process::Output, String> {
        if let Some(r) = run_as {
            cmd.uid(r.uid).gid(r.gid);
        }
        cmd.stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{cmd:?}: {e}"))
    };
    let ready = || {
        run(Command::new(bin.bin("pg_isready"))
            .arg("-q")
            .arg("-h")
            .arg(&sock)
            .arg("-p")
            .arg(port.to_string()))
        .map(|o| o.status.success())
        .unwrap_or(false)
    };
    if !ready() {
        if !data.join("PG_VERSION").exists() {
            let out = run(Command::new(bin.bin("initdb")).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]))?;
            if !out.status.success() {
                return Err(format!("initdb: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let _ = std::fs::remove_file(data.join("postmaster.pid"));
        let opts = format!(
            "-p {port} -k {} -c listen_addresses='' -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=400 -c wal_level=logical \
             -c max_replication_slots=40 -c max_wal_senders=40 -c shared_buffers=128MB",
            sock.display()
        );
        let out = run(Command::new(bin.bin("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(sock.join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"]))?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl start: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let template = format!("basalt_tpl_{}", basalt_pg::platform::version());
    let cluster = TestCluster {
        root,
        socket_dir: sock,
        port,
        template,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(ensure_template(&cluster))?;
    Ok(cluster)
}

async fn ensure_template(cluster: &TestCluster) -> Result<(), String> {
    let admin = basalt_pg::pool::connect(&cluster.url("postgres"))
        .await
        .map_err(|e| e.to_string())?;
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate",
            &[&cluster.template],
        )
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    if exists {
        return Ok(());
    }
    // Databases of test processes that died without cleaning up, and older templates.
    let stale = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'basalt_tpl_%' OR datname LIKE 't\\_%'",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    for row in stale {
        let name: String = row.get(0);
        let pid_alive = name
            .strip_prefix("t_")
            .and_then(|r| r.split('_').next())
            .and_then(|p| p.parse::<i32>().ok())
            .map(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok())
            .unwrap_or(false);
        if pid_alive {
            continue;
        }
        let _ = admin
            .batch_execute(&format!("ALTER DATABASE \"{name}\" IS_TEMPLATE false"))
            .await;
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
    let building = format!("{}_build", cluster.template);
    let _ = admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
        ))
        .await;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{building}\""))
        .await
        .map_err(|e| e.to_string())?;
    {
        let mut c = basalt_pg::pool::connect(&cluster.url(&building))
            .await
            .map_err(|e| e.to_string())?;
        basalt_pg::platform::apply(&mut c)
            .await
            .map_err(|e| e.to_string())?;
    }
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{}\"; ALTER DATABASE \"{}\" IS_TEMPLATE true",
            cluster.template, cluster.template
        ))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}
