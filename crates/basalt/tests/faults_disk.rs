//! The storage root's filesystem fills up under `basalt start`: a small tmpfs is mounted over
//! the project's `.basalt/storage` (so this test needs root, as CI has; it fails, not skips,
//! without it). Uploads that do not fit must fail promptly with storage-api's error body and
//! HTTP 507 (not hang, not panic); no object row may be left without its bytes nor bytes
//! without a row (nor staging files); objects stored before stay readable; and once space is
//! freed, uploads work again. The tmpfs is unmounted whatever happens.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Size of the filesystem under the storage root.
const DISK: u64 = 8 << 20;
/// The bound on any one request: an upload into a full disk must be answered well before.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: status, body, and how long it took (status 0 when the request itself failed).
struct Answer {
    status: u16,
    body: Vec<u8>,
    took: Duration,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a new connection (`Connection: close`). The body is written by a thread of
/// its own while this one reads, so that a server answering before it has read the whole body
/// (as it should when the disk is full) is seen answering, not blocking the client.
fn send(port: u16, method: &str, path: &str, key: &str, body: Vec<u8>) -> Answer {
    let started = Instant::now();
    let run = || -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        s.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        let mut writer = s.try_clone()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             apikey: {key}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let write = std::thread::spawn(move || {
            // Ends early (broken pipe, reset) when the server refuses the body; that is fine.
            let _ = writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(&body));
        });
        let mut raw = Vec::new();
        let read = s.read_to_end(&mut raw);
        let _ = write.join();
        if raw.is_empty() {
            read?;
        }
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let rest = raw.get(split + 4..).unwrap_or_default().to_vec();
        let body = if head.contains("transfer-encoding: chunked") {
            unchunk(&rest)
        } else {
            rest
        };
        Ok((status, body))
    };
    let (status, body) = run().unwrap_or_else(|e| (0, e.to_string().into_bytes()));
    Answer {
        status,
        body,
        took: started.elapsed(),
    }
}

fn unchunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = s.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&s[..eol]);
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let rest = &s[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        s = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// A tmpfs of `DISK` bytes mounted at a directory; unmounted when dropped (lazily when still
/// busy, so that a failing test never leaves it mounted).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={DISK},mode=0755")])
            .arg("basalt-disk-full")
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs at {} failed: {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }

    /// Bytes still free.
    fn available(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(&self.0).unwrap();
        st.blocks_available() * st.fragment_size()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// `basalt start` on a project; killed when dropped if still running.
struct Basalt {
    child: Child,
    port: u16,
    service_key: String,
    stderr: Arc<Mutex<String>>,
}

impl Basalt {
    fn start(dir: &Path) -> Basalt {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
            .args(["start", "--project", dir.to_str().unwrap()])
            .args(["--port", &port.to_string()])
            .args(["--db-port", &free_port().to_string()])
            .env("BASALT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sink, pipe) = (stderr.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(key) = line.trim().strip_prefix("service_role key:") {
                    let _ = tx.send(key.trim().to_string());
                }
            }
        });
        let service_key = rx
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("basalt did not start: {}", stderr.lock().unwrap()));
        Basalt {
            child,
            port,
            service_key,
            stderr,
        }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn upload(&self, name: &str, bytes: Vec<u8>) -> Answer {
        let path = format!("/storage/v1/object/disk/{name}");
        send(self.port, "POST", &path, &self.service_key, bytes)
    }

    fn download(&self, name: &str) -> Answer {
        let path = format!("/storage/v1/object/disk/{name}");
        send(self.port, "GET", &path, &self.service_key, Vec::new())
    }

    /// The names of the bucket's object rows.
    fn names(&self) -> BTreeSet<String> {
        let a = send(
            self.port,
            "POST",
            "/storage/v1/object/list/disk",
            &self.service_key,
            br#"{"prefix":"","limit":1000}"#.to_vec(),
        );
        assert_eq!(a.status, 200, "list: {}", a.text());
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// SIGTERM and a clean exit.
    fn stop(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "basalt exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "basalt did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Basalt {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Bytes of `len` that differ per `seed`, so a download proves which object it read.
fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The refusal of an upload that did not fit: HTTP 507 with storage-api's body, promptly.
fn assert_out_of_space(what: &str, a: &Answer) {
    assert_eq!(
        a.status,
        507,
        "{what}: expected 507 Insufficient Storage, got {} after {:?}: {}",
        a.status,
        a.took,
        a.text()
    );
    let body = a.json();
    assert_eq!(body["statusCode"], "507", "{what}: {body}");
    assert_eq!(body["code"], "InsufficientStorage", "{what}: {body}");
    assert!(
        body["message"].as_str().unwrap().contains("no space left"),
        "{what}: {body}"
    );
    assert!(
        a.took < Duration::from_secs(10),
        "{what}: answered after {:?}",
        a.took
    );
    println!(
        "{what}: HTTP {} {} in {:?}",
        a.status,
        String::from_utf8_lossy(&a.body),
        a.took
    );
}

/// Rows and bytes agree: one file under `objects/` per object row, no staging files (`#<n>`)
/// and no unfinished resumable uploads. Staging files of an aborted write are removed right
/// after the answer, so this waits a little for them.
fn assert_rows_match_bytes(b: &Basalt, root: &Path, expected: &BTreeSet<String>) {
    assert_eq!(&b.names(), expected, "object rows");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let all = files(root);
        let objects = all.iter().filter(|f| f.starts_with("objects/")).count();
        let clean = all
            .iter()
            .all(|f| f.starts_with("objects/") && !f.contains('#'));
        if clean && objects == expected.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bytes do not match the {} rows: {all:?}",
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn uploads_into_a_full_storage_root_fail_cleanly_and_recover() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "faults_disk needs root: it mounts a small tmpfs over the project's storage root \
         (CI runs as root); run it as root, e.g. `sudo -E cargo test -p basalt --test faults_disk`"
    );
    let project = tempfile::tempdir().unwrap();
    // Postgres runs as `postgres` when the tests run as root: it must reach the data directory.
    std::fs::set_permissions(project.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(project.path().join("supabase/migrations")).unwrap();
    let root = project.path().join(".basalt/storage");
    let disk = Tmpfs::mount(&root);
    let b = Basalt::start(project.path());

    let created = send(
        b.port,
        "POST",
        "/storage/v1/bucket",
        &b.service_key,
        br#"{"name":"disk"}"#.to_vec(),
    );
    assert_eq!(created.status, 200, "bucket: {}", created.text());
    let mut stored = BTreeSet::new();
    for i in 0..3u8 {
        let name = format!("keep-{i}.bin");
        let a = b.upload(&name, payload(i, 1 << 20));
        assert_eq!(a.status, 200, "{name}: {}", a.text());
        stored.insert(name);
    }

    // Larger than the whole filesystem: fails while streaming, in parts.
    let a = b.upload("too-big.bin", payload(9, 12 << 20));
    assert_out_of_space("a 12 MiB upload into an 8 MiB filesystem", &a);
    assert_rows_match_bytes(&b, &root, &stored);

    // Fill the disk to 64 KiB of free space, then try both write paths: a body smaller than
    // one part (written at once) and one of several parts.
    let ballast = root.join("ballast");
    let free = disk.available();
    std::fs::write(&ballast, vec![0u8; (free - (64 << 10)) as usize]).unwrap();
    assert!(disk.available() <= 128 << 10, "{}", disk.available());
    let a = b.upload("small.bin", payload(4, 512 << 10));
    assert_out_of_space("a 512 KiB upload into a full filesystem", &a);
    let a = b.upload("parts.bin", payload(5, 3 << 20));
    assert_out_of_space("a 3 MiB upload into a full filesystem", &a);
    // Replacing an object does not lose the old version when the new one does not fit.
    let a = send(
        b.port,
        "PUT",
        "/storage/v1/object/disk/keep-0.bin",
        &b.service_key,
        payload(6, 512 << 10),
    );
    assert_out_of_space("replacing an object in a full filesystem", &a);
    std::fs::remove_file(&ballast).unwrap();
    assert_rows_match_bytes(&b, &root, &stored);

    // Earlier objects are intact.
    for i in 0..3u8 {
        let a = b.download(&format!("keep-{i}.bin"));
        assert_eq!(a.status, 200, "keep-{i}.bin: {}", a.text());
        assert!(a.body == payload(i, 1 << 20), "keep-{i}.bin changed");
    }

    // With the space freed, the same uploads succeed and read back.
    for (name, seed, len) in [
        ("small.bin", 4u8, 512usize << 10),
        ("parts.bin", 5, 3 << 20),
    ] {
        let a = b.upload(name, payload(seed, len));
        assert_eq!(a.status, 200, "{name} after freeing space: {}", a.text());
        stored.insert(name.to_string());
        let d = b.download(name);
        assert_eq!(d.status, 200, "{name}: {}", d.text());
        assert!(d.body == payload(seed, len), "{name} read back differently");
    }
    assert_rows_match_bytes(&b, &root, &stored);

    let log = b.log();
    assert!(!log.contains("panicked"), "basalt panicked:\n{log}");
    b.stop();
    drop(disk);
    assert!(
        !root.join("objects").exists(),
        "the tmpfs is still mounted at {}",
        root.display()
    );
}
