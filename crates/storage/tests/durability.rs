//! Interrupted uploads leave nothing visible: a client that disconnects mid-body, a server
//! killed (SIGKILL) mid-write, and the start-up sweep that removes what a crash left behind.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn client_disconnect_mid_body_leaves_nothing() {
    let env = Env::start().await;
    let svc = service();
    for (len, sent) in [(4 * 1024 * 1024usize, 1024 * 1024usize), (100, 10)] {
        let mut sock = tokio::net::TcpStream::connect(env.server.addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /object/user-files/cut/file-{len}.bin HTTP/1.1\r\nHost: x\r\nAuthorization: {svc}\r\n\
             Content-Type: text/plain\r\nContent-Length: {len}\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).await.expect("head");
        sock.write_all(&vec![9u8; sent]).await.expect("body");
        sock.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(sock);
    }
    wait_until("partial bytes to be removed", || async {
        env.files().is_empty()
    })
    .await;
    assert_eq!(env.count_objects().await, 0);
    // The row lock was released: the same names upload fine now.
    let r = env
        .http
        .post(env.url("/object/user-files/cut/file-100.bin"))
        .header("authorization", &svc)
        .body(vec![1u8; 100])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    assert_eq!(env.count_objects().await, 1);
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(db_url: &str, dir: &std::path::Path, grace: &str) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt-storage"))
        .env("DATABASE_URL", db_url)
        .env("AUTH_JWT_SECRET", SECRET)
        .env("STORAGE_BACKEND", "file")
        .env("FILE_STORAGE_BACKEND_PATH", dir)
        .env("FILE_SIZE_LIMIT", "1GB")
        .env("SERVER_HOST", "127.0.0.1")
        .env("SERVER_PORT", port.to_string())
        .env("STORAGE_ORPHAN_GRACE_SECONDS", grace)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn basalt-storage");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    assert!(line.starts_with("listening"), "server said {line:?}");
    Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test]
async fn server_killed_mid_write_leaves_nothing_visible_and_restart_cleans() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(SAAS_STORAGE_SQL)
        .await
        .expect("storage SQL");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = spawn_server(&db.url, dir.path(), "3600");

    // An upload far larger than one part, sent slowly; the server dies in the middle.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let url = format!("{}/object/user-files/crash/big.bin", server.url);
    let upload = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .header("authorization", service())
            .header("content-type", "text/plain")
            .body(reqwest::Body::wrap_stream(tokio_stream_from(rx)))
            .send()
            .await
    });
    for _ in 0..24 {
        tx.send(Ok(vec![5u8; 1024 * 1024])).await.expect("send");
    }
    // Wait until bytes reached the disk (a staging file exists), then kill -9.
    let root = dir.path().to_path_buf();
    wait_until("staging bytes on disk", || {
        let root = root.clone();
        async move { !list_files(&root).is_empty() }
    })
    .await;
    server.child.kill().expect("kill");
    server.child.wait().expect("wait");
    drop(tx);
    let result = upload.await.expect("join");
    assert!(
        result.map(|r| !r.status().is_success()).unwrap_or(true),
        "upload must not succeed"
    );

    // Nothing is visible: no row (the open transaction died with the connection).
    let c = db.client().await;
    wait_until("the killed transaction to end", || async {
        c.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .map(|r| r.get::<_, i64>(0) == 0)
        .unwrap_or(false)
    })
    .await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM storage.objects", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 0);
    let leftovers = list_files(dir.path());
    assert!(
        !leftovers.is_empty(),
        "a crash mid-write leaves staging bytes"
    );

    // A committed object, and bytes a crash left between writing and committing.
    drop(server);
    let server = spawn_server(&db.url, dir.path(), "3600");
    let r = reqwest::Client::new()
        .post(format!("{}/object/user-files/keep/me.txt", server.url))
        .header("authorization", service())
        .body("kept")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    drop(server);
    let orphan = dir
        .path()
        .join("objects/ab/abcdef0123456789abcdef0123456789");
    std::fs::create_dir_all(orphan.parent().expect("parent")).expect("mkdir");
    std::fs::write(&orphan, b"never committed").expect("orphan");

    // On start (grace 0 here), the sweep removes every leftover and keeps the committed bytes.
    let server = spawn_server(&db.url, dir.path(), "0");
    let root = dir.path().to_path_buf();
    wait_until("the start-up sweep", || {
        let root = root.clone();
        async move { list_files(&root).len() == 1 }
    })
    .await;
    let r = reqwest::Client::new()
        .get(format!("{}/object/user-files/keep/me.txt", server.url))
        .header("authorization", service())
        .send()
        .await
        .expect("download");
    assert_eq!(r.text().await.expect("text"), "kept");
}

#[tokio::test]
async fn sweep_keeps_referenced_bytes_and_respects_the_grace_period() {
    let env = Env::start().await;
    let svc = service();
    let r = env
        .http
        .post(env.url("/object/user-files/s/a.txt"))
        .header("authorization", &svc)
        .body("live")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    let orphan = env
        .dir
        .path()
        .join("objects/cd/cdcdcdcd0123456789abcdef01234567");
    std::fs::create_dir_all(orphan.parent().expect("parent")).expect("mkdir");
    std::fs::write(&orphan, b"orphan").expect("write");
    let staging = env
        .dir
        .path()
        .join("objects/cd/cdcdcdcd0123456789abcdef01234568#3");
    std::fs::write(&staging, b"partial").expect("write");

    // Young leftovers may belong to uploads in flight on another node: kept.
    let report = basalt_storage::sweep_once(&env.config)
        .await
        .expect("sweep");
    assert_eq!(report, basalt_storage::SweepReport::default());
    assert_eq!(env.files().len(), 3);

    let mut eager = env.config.clone();
    eager.orphan_grace = Duration::ZERO;
    let report = basalt_storage::sweep_once(&eager).await.expect("sweep");
    assert_eq!(report.orphans, 1);
    assert_eq!(report.staging, 1);
    assert_eq!(env.files().len(), 1);
    let r = env
        .http
        .get(env.url("/object/user-files/s/a.txt"))
        .header("authorization", &svc)
        .send()
        .await
        .expect("download");
    assert_eq!(r.text().await.expect("text"), "live");
}

fn list_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
