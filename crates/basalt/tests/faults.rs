//! Faults of the embedded Postgres under `basalt start`, each under a write load of REST inserts
//! (service key, over HTTP): the postmaster killed (SIGKILL, as the OOM killer does), Postgres
//! restarted by hand (`pg_ctl restart -m fast`), and basalt itself killed and started again.
//! Every time basalt must come back by itself, answer 503 while the database is down (`/health`
//! too, naming the database), and not lose one acknowledged insert. A postgres_changes
//! subscriber receives changes again after the postmaster was killed.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A response: status and body (`0` and the error when the request itself failed).
type Reply = (u16, String);

/// One HTTP/1.1 request on a new connection (`Connection: close`), bounded by `timeout`.
fn http(port: u16, method: &str, path: &str, key: &str, body: Option<&str>) -> Reply {
    let run = || -> std::io::Result<Reply> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.set_write_timeout(Some(Duration::from_secs(20)))?;
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             apikey: {key}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        Ok((status, if chunked { unchunk(rest) } else { rest.into() }))
    };
    run().unwrap_or_else(|e| (0, e.to_string()))
}

fn unchunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A project with a table for the inserts, published for realtime. Dropping it stops any
/// Postgres still serving its data directory (an orphan of a killed basalt, a failed test).
struct Project(tempfile::TempDir);

impl Project {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if let Some(pid) = postmaster_pid(self.path()).filter(|p| alive(*p)) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn project() -> Project {
    let dir = tempfile::tempdir().unwrap();
    // Postgres runs as `postgres` when the tests run as root: it must reach the data directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = dir.path().join("supabase/migrations");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("0001_items.sql"),
        "create table public.items (id bigint primary key, v text);
         grant all on public.items to service_role;
         alter publication supabase_realtime add table public.items;",
    )
    .unwrap();
    Project(dir)
}

/// `basalt start` running on a project; stopped (and its Postgres with it) when dropped.
struct Basalt {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    service_key: String,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Basalt {
    fn start(dir: &Path, port: u16, db_port: u16) -> Basalt {
        let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
            .args(["start", "--project", dir.to_str().unwrap()])
            .args(["--port", &port.to_string()])
            .args(["--db-port", &db_port.to_string()])
            .env("BASALT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (err_out, err_pipe) = (stderr.clone(), child.stderr.take().unwrap());
        let err_reader = std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut e = err_out.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let out_pipe = child.stdout.take().unwrap();
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                if let Some(key) = line.trim().strip_prefix("service_role key:") {
                    let _ = tx.send(key.trim().to_string());
                }
            }
        });
        let mut b = Basalt {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
            service_key: String::new(),
            stderr,
            readers: vec![err_reader, out_reader],
        };
        match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(key) => b.service_key = key,
            Err(_) => panic!("basalt did not start: {}", b.log()),
        }
        b
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn health(&self) -> Reply {
        http(self.port, "GET", "/health", "", None)
    }

    /// The ids stored, read through the REST API.
    fn stored(&self) -> BTreeSet<u64> {
        let (status, body) = http(
            self.port,
            "GET",
            "/rest/v1/items?select=id",
            &self.service_key,
            None,
        );
        assert_eq!(status, 200, "{body}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).expect("rows");
        rows.iter().filter_map(|r| r["id"].as_u64()).collect()
    }

    /// The pid `postmaster.pid` names.
    fn postmaster(&self) -> i32 {
        postmaster_pid(&self.dir).expect("postmaster.pid")
    }

    /// SIGTERM, and a clean exit; returns the log.
    fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let status = wait_child(&mut child, Duration::from_secs(60));
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let log = self.log();
        assert!(status, "clean exit: {log}");
        log
    }

    /// SIGKILL: basalt dies at once, its Postgres is orphaned.
    fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Basalt {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            if !wait_child(&mut child, Duration::from_secs(30)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Wait for `child` up to `limit`; whether it exited successfully.
fn wait_child(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return s.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return false,
        }
    }
}

fn postmaster_pid(project: &Path) -> Option<i32> {
    std::fs::read_to_string(project.join(".basalt/pg/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Inserts one row at a time with increasing ids until stopped, remembering which were
/// acknowledged (2xx) and every other status seen, and for a [`Load::mark`]ed fault when the
/// first insert failed and when inserts succeeded again.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<u64>>>,
    failures: Arc<Mutex<Vec<u16>>>,
    outage: Arc<Mutex<Outage>>,
    thread: Option<JoinHandle<()>>,
}

/// A fault as the writer saw it.
#[derive(Default, Clone, Copy)]
struct Outage {
    marked: Option<Instant>,
    first_failure: Option<Instant>,
    back: Option<Instant>,
}

impl Load {
    fn start(b: &Basalt, first_id: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let outage = Arc::new(Mutex::new(Outage::default()));
        let (port, key) = (b.port, b.service_key.clone());
        let (s, a, f, o) = (
            stop.clone(),
            acked.clone(),
            failures.clone(),
            outage.clone(),
        );
        let thread = std::thread::spawn(move || {
            let mut id = first_id;
            while !s.load(Ordering::SeqCst) {
                let body = format!(r#"{{"id": {id}, "v": "row {id}"}}"#);
                let (status, _) = http(port, "POST", "/rest/v1/items", &key, Some(&body));
                let now = Instant::now();
                let mut o = o.lock().unwrap();
                if (200..300).contains(&status) {
                    a.lock().unwrap().push(id);
                    if o.first_failure.is_some() && o.back.is_none() {
                        o.back = Some(now);
                    }
                } else {
                    f.lock().unwrap().push(status);
                    if o.marked.is_some() && o.first_failure.is_none() {
                        o.first_failure = Some(now);
                    }
                    drop(o);
                    std::thread::sleep(Duration::from_millis(10));
                }
                id += 1;
            }
        });
        Load {
            stop,
            acked,
            failures,
            outage,
            thread: Some(thread),
        }
    }

    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    fn wait_acked(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.acked() < n {
            assert!(
                Instant::now() < deadline,
                "only {} inserts acknowledged",
                self.acked()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A fault is caused now.
    fn mark(&self) {
        *self.outage.lock().unwrap() = Outage {
            marked: Some(Instant::now()),
            ..Outage::default()
        };
    }

    /// Time from the mark to the first success after inserts failed (zero when none failed),
    /// and how long inserts failed.
    fn recovery(&self) -> (Duration, Duration) {
        let o = *self.outage.lock().unwrap();
        match (o.marked, o.first_failure, o.back) {
            (Some(m), Some(f), Some(b)) => (b - m, b - f),
            (Some(_), None, _) => (Duration::ZERO, Duration::ZERO),
            _ => panic!("inserts did not succeed again after the fault"),
        }
    }

    /// Stop; returns the acknowledged ids and the failure statuses.
    fn finish(mut self) -> (Vec<u64>, Vec<u16>) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let acked = std::mem::take(&mut *self.acked.lock().unwrap());
        let failures = std::mem::take(&mut *self.failures.lock().unwrap());
        (acked, failures)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every acknowledged id is stored.
fn assert_none_lost(acked: &[u64], stored: &BTreeSet<u64>) {
    let lost: Vec<u64> = acked
        .iter()
        .filter(|i| !stored.contains(i))
        .copied()
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

/// Stop the load: every failed insert was a 503, and every acknowledged one is stored.
fn finish_without_loss(load: Load, b: &Basalt) {
    let (acked, failures) = load.finish();
    assert!(
        failures.iter().all(|s| *s == 503),
        "while down, requests answer 503: {failures:?}"
    );
    assert_none_lost(&acked, &b.stored());
}

/// Poll `/health` until it has answered 503 and then 200 again; returns the first 503 body.
fn health_down_then_up(b: &Basalt, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut down = None;
    loop {
        let (status, body) = b.health();
        match (status, &down) {
            (200, Some(_)) => return down.unwrap_or_default(),
            (200, None) => {}
            (503, None) => down = Some(body),
            (503, Some(_)) => {}
            (other, _) => panic!("/health answered {other}: {body}"),
        }
        assert!(
            Instant::now() < deadline,
            "/health not down then up within {limit:?} (down: {down:?}): {}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` is a live process (a zombie waiting for its parent's `wait` is not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| {
            st.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .map(|state| state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[test]
fn postmaster_killed_under_writes_is_restarted_and_no_acknowledged_write_is_lost() {
    let dir = project();
    let b = Basalt::start(dir.path(), free_port(), free_port());
    assert_eq!(b.health().0, 200);
    let load = Load::start(&b, 1);
    load.wait_acked(50, Duration::from_secs(30));

    let old = b.postmaster();
    load.mark();
    let killed = Instant::now();
    kill(Pid::from_raw(old), Signal::SIGKILL).unwrap();
    let down = health_down_then_up(&b, Duration::from_secs(60));
    let health_ms = killed.elapsed().as_millis();
    let v: serde_json::Value = serde_json::from_str(&down).expect("JSON health body");
    assert_eq!(v["status"], "unavailable", "{down}");
    assert!(v["down"]["database"].is_string(), "{down}");
    let before = load.acked();
    load.wait_acked(before + 50, Duration::from_secs(30));
    let (back, failing) = load.recovery();
    let ms = back.as_millis();
    eprintln!(
        "recovery after postmaster SIGKILL: {ms} ms (inserts failed for {} ms; /health up \
         after {health_ms} ms)",
        failing.as_millis()
    );
    assert_ne!(
        b.postmaster(),
        old,
        "a new postmaster serves the data directory"
    );

    finish_without_loss(load, &b);
    let log = b.stop();
    for line in log.lines().filter(|l| l.contains("basalt_pg")) {
        eprintln!("basalt: {line}");
    }
    assert!(log.contains("postgres is down"), "{log}");
    assert!(log.contains("postgres restarted"), "{log}");
    assert!(postmaster_pid(dir.path()).is_none(), "postgres stopped");
}

#[test]
fn postgres_restarted_by_hand_is_taken_over_without_restarting_basalt() {
    let dir = project();
    let b = Basalt::start(dir.path(), free_port(), free_port());
    let load = Load::start(&b, 1);
    load.wait_acked(50, Duration::from_secs(30));

    let old = b.postmaster();
    let bin = basalt_pg::cluster::PgBin::find().unwrap();
    let mut cmd = Command::new(bin.bin("pg_ctl"));
    cmd.args(["restart", "-m", "fast", "-w", "-t", "60", "-D"])
        .arg(dir.path().join(".basalt/pg"))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(r) = basalt_pg::cluster::RunAs::resolve(None).unwrap() {
        use std::os::unix::process::CommandExt;
        cmd.uid(r.uid).gid(r.gid);
    }
    load.mark();
    let restarted = Instant::now();
    let mut pg_ctl = cmd.spawn().unwrap();
    let down = health_down_then_up(&b, Duration::from_secs(60));
    assert!(down.contains("database"), "{down}");
    assert!(
        wait_child(&mut pg_ctl, Duration::from_secs(60)),
        "pg_ctl restart failed"
    );
    let pg_ctl_ms = restarted.elapsed().as_millis();
    let before = load.acked();
    load.wait_acked(before + 50, Duration::from_secs(30));
    let (back, failing) = load.recovery();
    eprintln!(
        "recovery after pg_ctl restart -m fast: {} ms (inserts failed for {} ms; pg_ctl took \
         {pg_ctl_ms} ms)",
        back.as_millis(),
        failing.as_millis()
    );
    let new = b.postmaster();
    assert_ne!(new, old);

    finish_without_loss(load, &b);
    let log = b.stop();
    assert!(log.contains("took it over"), "{log}");
    // The adopted server is stopped with basalt.
    assert!(
        postmaster_pid(dir.path()).is_none(),
        "postgres stopped: {log}"
    );
    assert!(!alive(new), "postmaster {new} is gone");
}

#[test]
fn basalt_killed_under_writes_starts_again_and_no_acknowledged_write_is_lost() {
    let dir = project();
    let (port, db_port) = (free_port(), free_port());
    let b = Basalt::start(dir.path(), port, db_port);
    let load = Load::start(&b, 1);
    load.wait_acked(100, Duration::from_secs(30));
    let orphan = b.postmaster();
    b.kill();
    let (acked, _) = load.finish();
    assert!(alive(orphan), "the orphaned postgres is still running");

    let b = Basalt::start(dir.path(), port, db_port);
    assert!(!alive(orphan), "the orphan was stopped");
    assert_ne!(b.postmaster(), orphan);
    assert_none_lost(&acked, &b.stored());
    // A third basalt on the same project is refused while this one runs.
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["start", "--project", dir.path().to_str().unwrap()])
        .args(["--port", &free_port().to_string()])
        .args(["--db-port", &free_port().to_string()])
        .env("BASALT_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already served by a running basalt"), "{err}");
    let load = Load::start(&b, 1_000_000);
    load.wait_acked(20, Duration::from_secs(30));
    let (acked2, _) = load.finish();
    assert_none_lost(&acked2, &b.stored());
    let log = b.stop();
    assert!(log.contains("orphaned postgres stopped"), "{log}");
}

/// A bare WebSocket client, enough for the realtime protocol (text frames, `vsn=2.0.0`).
struct Ws(TcpStream);

impl Ws {
    fn connect(port: u16, key: &str) -> Ws {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /realtime/v1/websocket?apikey={key}&vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Ws(s)
    }

    fn send(&mut self, v: serde_json::Value) {
        let payload = v.to_string().into_bytes();
        let mask = [7u8, 13, 42, 99];
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&frame).unwrap();
    }

    /// The next text message before `deadline`, as JSON.
    fn recv(&mut self, deadline: Instant) -> Option<serde_json::Value> {
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.0
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            let mut h = [0u8; 2];
            self.0.read_exact(&mut h).ok()?;
            self.0
                .set_read_timeout(Some(Duration::from_secs(10)))
                .ok()?;
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.0.read_exact(&mut b).ok()?;
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.0.read_exact(&mut b).ok()?;
                    u64::from_be_bytes(b) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; len];
            self.0.read_exact(&mut payload).ok()?;
            match h[0] & 0x0f {
                0x1 => return serde_json::from_slice(&payload).ok(),
                0x8 => return None,
                _ => continue,
            }
        }
    }

    /// Wait for a message whose event is `event` and that satisfies `pred`.
    fn wait_for(
        &mut self,
        event: &str,
        limit: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            let m = self.recv(deadline)?;
            if m[3] == event && pred(&m) {
                return Some(m);
            }
        }
    }
}

/// Insert `id` through the REST API, retrying while the database is coming back.
fn insert_until_acked(b: &Basalt, id: u64) {
    let body = format!(r#"{{"id": {id}, "v": "row {id}"}}"#);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, reply) = http(
            b.port,
            "POST",
            "/rest/v1/items",
            &b.service_key,
            Some(&body),
        );
        if (200..300).contains(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "insert {id}: {status} {reply}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn realtime_changes_flow_again_after_the_postmaster_was_killed() {
    let dir = project();
    let b = Basalt::start(dir.path(), free_port(), free_port());
    let mut ws = Ws::connect(b.port, &b.service_key);
    ws.send(serde_json::json!([
        "1",
        "1",
        "realtime:items",
        "phx_join",
        {
            "config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "items"}]},
            "access_token": b.service_key,
        }
    ]));
    let reply = ws
        .wait_for("phx_reply", Duration::from_secs(10), |_| true)
        .expect("join reply");
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    ws.wait_for("system", Duration::from_secs(10), |_| true)
        .expect("subscription ready");
    // int8 columns arrive as JSON strings or numbers depending on the serializer.
    let change = |id: u64| {
        move |m: &serde_json::Value| {
            let got = &m[4]["data"]["record"]["id"];
            *got == id || got.as_str() == Some(id.to_string().as_str())
        }
    };

    insert_until_acked(&b, 1);
    ws.wait_for("postgres_changes", Duration::from_secs(10), change(1))
        .expect("change before the kill");

    let killed = Instant::now();
    kill(Pid::from_raw(b.postmaster()), Signal::SIGKILL).unwrap();
    health_down_then_up(&b, Duration::from_secs(60));
    insert_until_acked(&b, 2);
    ws.wait_for("postgres_changes", Duration::from_secs(30), change(2))
        .expect("change after the postmaster was killed and restarted");
    eprintln!(
        "realtime change delivered {} ms after the postmaster SIGKILL",
        killed.elapsed().as_millis()
    );
    drop(ws);
    b.stop();
}

/// A local HTTP receiver that counts the requests of each path (`/n/<i>`) as they arrive and
/// answers each after `delay`, so requests are in flight for a while.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<std::collections::BTreeMap<String, u32>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(delay: Duration) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<std::collections::BTreeMap<String, u32>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let s = s.clone();
                std::thread::spawn(move || {
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    // Read the headers (GET requests carry no body).
                    loop {
                        let mut h = String::new();
                        match reader.read_line(&mut h) {
                            Ok(0) | Err(_) => break,
                            Ok(_) if h == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    *s.lock().unwrap().entry(path).or_default() += 1;
                    std::thread::sleep(delay);
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                });
            }
        });
        Receiver { port, seen, stop }
    }

    fn distinct(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn http_requests_in_flight_when_basalt_is_killed_are_delivered_after_it_starts_again() {
    let dir = project();
    std::fs::write(
        dir.path().join("supabase/migrations/0002_queue.sql"),
        "create function public.queue(base text, n int) returns void
           language plpgsql security definer set search_path = '' as $$
         begin
           for i in 1..n loop
             perform net.http_get(base || '/n/' || i, timeout_milliseconds => 5000);
           end loop;
         end $$;
         grant execute on function public.queue(text, int) to service_role;
         create function public.answered() returns bigint
           language sql security definer set search_path = '' as
           $$ select count(*) from net._http_response where status_code = 200 $$;
         grant execute on function public.answered() to service_role;",
    )
    .unwrap();
    let receiver = Receiver::start(Duration::from_millis(1000));
    let (port, db_port) = (free_port(), free_port());
    let b = Basalt::start(dir.path(), port, db_port);
    // More than basalt sends at once: at the kill some are in flight, the rest still queued.
    const N: usize = 200;
    let body = format!(
        r#"{{"base": "http://127.0.0.1:{}", "n": {N}}}"#,
        receiver.port
    );
    let (status, reply) = http(
        port,
        "POST",
        "/rest/v1/rpc/queue",
        &b.service_key,
        Some(&body),
    );
    assert!((200..300).contains(&status), "{status} {reply}");
    // Kill basalt while requests are on their way.
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.distinct() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = receiver.distinct();
    assert!(
        (3..N).contains(&before),
        "{before} delivered before the kill"
    );
    b.kill();
    let killed_at = Instant::now();
    let b = Basalt::start(dir.path(), port, db_port);
    let deadline = Instant::now() + Duration::from_secs(90);
    while receiver.distinct() < N && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = receiver.seen.lock().unwrap().clone();
    eprintln!(
        "net: {before} of {N} delivered before SIGKILL; all {} delivered {} ms after it; {} sent twice",
        seen.len(),
        killed_at.elapsed().as_millis(),
        seen.values().filter(|c| **c > 1).count()
    );
    for i in 1..=N {
        assert!(
            seen.contains_key(&format!("/n/{i}")),
            "request {i} never arrived: {seen:?}"
        );
    }
    // Every outcome is recorded too: the requests in flight at the kill are sent again once
    // their lease expires, and answered.
    let deadline = Instant::now() + Duration::from_secs(60);
    let answered = loop {
        let (status, body) = http(
            port,
            "POST",
            "/rest/v1/rpc/answered",
            &b.service_key,
            Some("{}"),
        );
        assert_eq!(status, 200, "{body}");
        let n: usize = body.trim().parse().unwrap_or(0);
        if n >= N || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let twice = receiver
        .seen
        .lock()
        .unwrap()
        .values()
        .filter(|c| **c > 1)
        .count();
    eprintln!("net: {answered} outcomes recorded, {twice} requests sent twice (at least once)");
    assert_eq!(answered, N);
    b.stop();
}
