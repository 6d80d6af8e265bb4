//! `basalt start` with the embedded cluster: first start initialises and migrates, a restart
//! reuses the cluster and applies nothing, SIGTERM stops Postgres cleanly, and a busy database
//! port is a one-line error.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running {
    child: Child,
    stderr: std::thread::JoinHandle<String>,
    stdout: std::thread::JoinHandle<()>,
}

/// Start basalt and wait for its banner.
fn start(dir: &std::path::Path, port: u16, db_port: u16) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["start", "--project", dir.to_str().unwrap()])
        .args([
            "--port",
            &port.to_string(),
            "--db-port",
            &db_port.to_string(),
        ])
        .env("BASALT_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("service_role key") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("basalt printed its banner");
    Running {
        child,
        stderr,
        stdout,
    }
}

/// SIGTERM, then the exit must be clean; returns what basalt wrote to stderr.
fn stop(r: Running) -> String {
    let Running {
        mut child,
        stderr,
        stdout,
    } = r;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let _ = stdout.join();
    let err = stderr.join().unwrap();
    assert!(status.success(), "clean exit: {status}: {err}");
    err
}

#[test]
fn restart_reuses_the_cluster_and_applies_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = dir.path().join("supabase/migrations");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("0001_t.sql"), "create table t (id int);").unwrap();
    std::fs::write(
        dir.path().join("supabase/seed.sql"),
        "insert into t values (1);",
    )
    .unwrap();
    let (port, db_port) = (free_port(), free_port());

    let child = start(dir.path(), port, db_port);
    // pg_cron is preloaded when installed, so Supabase migrations that create it work.
    if std::path::Path::new("/usr/share/postgresql/15/extension/pg_cron.control").exists() {
        let url = format!("postgresql://postgres:postgres@127.0.0.1:{db_port}/postgres");
        let out = Command::new("psql")
            .args([url.as_str(), "-Atc", "create extension if not exists pg_cron; select cron.schedule('n', '0 3 * * *', 'select 1')"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("pg_cron not installed: preload not checked");
    }
    let first = stop(child);
    assert!(first.contains("Applied migration 0001"), "{first}");
    assert!(first.contains("Seeded data"), "{first}");
    assert!(first.contains("Stopped basalt"), "{first}");
    let pid_file = dir.path().join(".basalt/pg/postmaster.pid");
    assert!(!pid_file.exists(), "postgres stopped cleanly");

    let child = start(dir.path(), port, db_port);
    let second = stop(child);
    assert!(!second.contains("Applied migration"), "{second}");
    assert!(
        !second.contains("Seeded data"),
        "the seed runs only on first start: {second}"
    );

    // A stale postmaster.pid (crash) naming a process that is gone is cleared.
    std::fs::write(&pid_file, "999999\n/nonexistent\n").unwrap();
    let child = start(dir.path(), port, db_port);
    stop(child);

    // basalt killed with SIGKILL leaves its Postgres running; the next start takes it over.
    let child = start(dir.path(), port, db_port);
    let Running {
        mut child,
        stderr,
        stdout,
    } = child;
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = (stderr.join(), stdout.join());
    assert!(pid_file.exists(), "the orphaned postgres is still running");
    let child = start(dir.path(), port, db_port);
    stop(child);

    // A busy Postgres port: one line, non-zero exit, the cluster's data untouched.
    let busy = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["start", "--project", dir.path().to_str().unwrap()])
        .args([
            "--port",
            &free_port().to_string(),
            "--db-port",
            &busy_port.to_string(),
        ])
        .env("BASALT_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&busy_port.to_string()) && lines[0].contains("in use"),
        "{err}"
    );
    assert!(dir.path().join(".basalt/pg/PG_VERSION").exists());
}

/// Migrations and seeds may store secrets in the vault: the key file is recorded before they
/// run, on first start and after `basalt db reset`, and the same key reads them after restart.
#[test]
fn migrations_and_seeds_use_the_vault_on_first_start_and_after_reset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = dir.path().join("supabase/migrations");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("0001_v.sql"),
        "select vault.create_secret('from-migration', 'm');",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("supabase/seed.sql"),
        "select vault.create_secret('from-seed', 's');",
    )
    .unwrap();
    let (port, db_port) = (free_port(), free_port());
    let url = format!("postgresql://postgres:postgres@127.0.0.1:{db_port}/postgres");
    let secrets = || {
        let out = Command::new("psql")
            .args([
                url.as_str(),
                "-Atc",
                "select string_agg(name || '=' || decrypted_secret, ',' order by name) from vault.decrypted_secrets",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    let child = start(dir.path(), port, db_port);
    assert_eq!(secrets(), "m=from-migration,s=from-seed");
    stop(child);

    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["db", "reset", "--project", dir.path().to_str().unwrap()])
        .args(["--db-port", &db_port.to_string()])
        .env("BASALT_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let child = start(dir.path(), port, db_port);
    assert_eq!(secrets(), "m=from-migration,s=from-seed");
    stop(child);
}
