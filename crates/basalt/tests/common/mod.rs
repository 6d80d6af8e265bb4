//! What the `basalt start --db-url` tests share: a free port, a project directory, a running
//! basalt that is killed when dropped, and HTTP calls to auth.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A project directory with `supabase/config.toml` and these migrations.
pub fn project(migrations: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sb = dir.path().join("supabase");
    std::fs::create_dir_all(sb.join("migrations")).unwrap();
    std::fs::write(sb.join("config.toml"), "project_id = \"test\"\n").unwrap();
    for (name, sql) in migrations {
        std::fs::write(sb.join("migrations").join(name), sql).unwrap();
    }
    dir
}

/// A running `basalt start`; killed when dropped.
pub struct Basalt {
    pub child: Child,
    pub stderr: Option<std::thread::JoinHandle<String>>,
}

impl Basalt {
    /// What basalt wrote to stderr, once it has exited.
    pub fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Basalt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start basalt on `dir` against `db_url` with `env`; returns it once its banner is printed.
pub fn start(dir: &std::path::Path, port: u16, db_url: &str, env: &[(&str, &str)]) -> Basalt {
    start_with(dir, port, &["--db-url", db_url], env)
}

/// Start basalt on `dir` with the database arguments `db` (`--db-url …`, or `--db-port …` for
/// the embedded cluster) and `env`; returns it once its banner is printed.
pub fn start_with(dir: &std::path::Path, port: u16, db: &[&str], env: &[(&str, &str)]) -> Basalt {
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["start", "--project", dir.to_str().unwrap()])
        .args(["--port", &port.to_string()])
        .args(db)
        .env("BASALT_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("service_role key") {
                let _ = tx.send(());
            }
        }
    });
    let mut b = Basalt {
        child,
        stderr: Some(stderr),
    };
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = b.child.kill();
        panic!("basalt did not start: {}", b.stderr());
    }
    b
}

/// The anon and service_role keys basalt wrote into the project's status file.
pub fn keys(dir: &std::path::Path) -> (String, String) {
    let status: Value =
        serde_json::from_slice(&std::fs::read(dir.join(".basalt/status.json")).unwrap()).unwrap();
    (
        status["anon_key"].as_str().unwrap().to_owned(),
        status["service_role_key"].as_str().unwrap().to_owned(),
    )
}

/// Sign up on `api`; returns the session.
pub async fn sign_up(http: &reqwest::Client, api: &str, anon: &str, email: &str) -> Value {
    let r = http
        .post(format!("{api}/auth/v1/signup"))
        .header("apikey", anon)
        .json(&json!({"email": email, "password": "a-long-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The user `access_token` belongs to, as `api` sees it.
pub async fn user(http: &reqwest::Client, api: &str, anon: &str, access_token: &str) -> Value {
    http.get(format!("{api}/auth/v1/user"))
        .header("apikey", anon)
        .header("Authorization", format!("Bearer {access_token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
