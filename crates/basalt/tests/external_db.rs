//! `basalt start --db-url`: on a database basalt does not own, reached over TLS with
//! `sslmode=verify-full` and the private CA that signed the server's certificate, the platform
//! schema and migrations install, REST, auth and realtime (its replication stream included) work,
//! and every session basalt holds on the server is encrypted. And several nodes on one database
//! act as one: a session made on one node refreshes on another, a change written through one
//! reaches a subscriber of another, and DDL reaches every node's schema cache.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use basalt_testkit::tls::TlsServer;
use common::{free_port, keys, sign_up, user, Basalt};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Ws;

/// The secret every node of a test shares (nodes of one project have one secret).
const NODES_SECRET: &str = "external-db-test-secret-with-at-least-32-chars";

fn start(dir: &std::path::Path, port: u16, db_url: &str) -> Basalt {
    common::start(dir, port, db_url, &[("BASALT_JWT_SECRET", NODES_SECRET)])
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame `pred` accepts (others are skipped), within 15 s.
async fn wait_for(ws: &mut Socket, pred: &dyn Fn(&Value) -> bool) -> Value {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no matching frame; saw {seen:?}"))
            .unwrap()
            .unwrap();
        if let Ws::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if pred(&v) {
                return v;
            }
            seen.push(v);
        }
    }
}

async fn subscribe(port: u16, anon: &str, token: &str) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{port}/realtime/v1/websocket?apikey={anon}&vsn=2.0.0"
    ))
    .await
    .unwrap();
    let join = json!(["1", "1", "realtime:notes", "phx_join", {
        "config": {"postgres_changes": [{"event": "*", "schema": "public", "table": "notes"}]},
        "access_token": token,
    }]);
    ws.send(Ws::Text(join.to_string().into())).await.unwrap();
    let reply = wait_for(&mut ws, &|v| v[3] == "phx_reply").await;
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    let system = wait_for(&mut ws, &|v| v[3] == "system").await;
    assert_eq!(system[4]["status"], "ok", "{system}");
    ws
}

async fn insert_note(http: &reqwest::Client, port: u16, service: &str, body: &str) {
    let r = http
        .post(format!("http://127.0.0.1:{port}/rest/v1/notes"))
        .header("apikey", service)
        .header("Authorization", format!("Bearer {service}"))
        .json(&json!({ "body": body }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

fn project() -> tempfile::TempDir {
    common::project(&[(
        "20240101000000_notes.sql",
        "create table public.notes (id bigserial primary key, body text not null);
         grant all on public.notes to anon, authenticated, service_role;
         grant usage on sequence public.notes_id_seq to anon, authenticated, service_role;
         alter publication supabase_realtime add table public.notes;",
    )])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_on_a_verify_full_tls_database_serves_rest_auth_and_realtime() {
    let server = TlsServer::start();
    let dir = project();
    let port = free_port();
    let db_url = server.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", server.ca.display()),
    );
    let basalt = start(dir.path(), port, &db_url);
    let (anon, service) = keys(dir.path());
    let api = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    // Realtime: subscribe before writing.
    let mut ws = subscribe(port, &anon, &service).await;

    // REST: insert as the service role, read as anon.
    insert_note(&http, port, &service, "over tls").await;
    let rows: Value = http
        .get(format!("{api}/rest/v1/notes?select=body"))
        .header("apikey", &anon)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows, json!([{"body": "over tls"}]));

    // Realtime delivered the insert from the WAL.
    let change = wait_for(&mut ws, &|v| v[3] == "postgres_changes").await;
    assert_eq!(change[4]["data"]["record"]["body"], "over tls", "{change}");

    // Auth: sign up and use the session.
    let session = sign_up(&http, &api, &anon, "tls@example.com").await;
    let token = session["access_token"].as_str().unwrap();
    let user = user(&http, &api, &anon, token).await;
    assert_eq!(user["email"], "tls@example.com");

    // Every session basalt holds on the server (pools, listeners, the WAL sender) is TLS.
    let admin = basalt_pg::pool::connect(&server.socket_url())
        .await
        .unwrap();
    let rows = admin
        .query(
            "SELECT a.backend_type, coalesce(a.application_name, ''), s.ssl
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.client_addr IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    let sessions: Vec<(String, String, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(sessions.len() >= 3, "{sessions:?}");
    assert!(sessions.iter().all(|s| s.2), "{sessions:?}");
    assert!(
        sessions.iter().any(|s| s.0 == "walsender"),
        "the replication stream: {sessions:?}"
    );
    drop(basalt);
}

#[test]
fn start_refuses_a_database_whose_certificate_does_not_match() {
    let server = TlsServer::start();
    let dir = project();
    // 127.0.0.1 is not a name in the certificate.
    let db_url = server.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", server.ca.display()),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["start", "--project", dir.path().to_str().unwrap()])
        .args(["--port", &free_port().to_string(), "--db-url", &db_url])
        .env("BASALT_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not issued for host name \"127.0.0.1\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_database_act_as_one() {
    let db = basalt_testkit::fresh_db().await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| project()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    // One after the other: the first installs the platform and migrations, the others find them.
    let _nodes: Vec<Basalt> = dirs
        .iter()
        .zip(&ports)
        .map(|(d, p)| start(d.path(), *p, &db.url))
        .collect();
    let (anon, service) = keys(dirs[0].path());
    assert_eq!(
        keys(dirs[2].path()).0,
        anon,
        "nodes share the project's keys"
    );
    let http = reqwest::Client::new();
    let api = |i: usize| format!("http://127.0.0.1:{}", ports[i]);

    // Sign up on node 1, refresh on node 2, the new session works on node 3.
    let session = sign_up(&http, &api(0), &anon, "nodes@example.com").await;
    let r = http
        .post(format!("{}/auth/v1/token?grant_type=refresh_token", api(1)))
        .header("apikey", &anon)
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], session["refresh_token"]);
    let user = user(
        &http,
        &api(2),
        &anon,
        refreshed["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(user["email"], "nodes@example.com");

    // A subscriber on node 3 receives a change written through node 1.
    let mut ws = subscribe(ports[2], &anon, &service).await;
    insert_note(&http, ports[0], &service, "from node 1").await;
    let change = wait_for(&mut ws, &|v| v[3] == "postgres_changes").await;
    assert_eq!(
        change[4]["data"]["record"]["body"], "from node 1",
        "{change}"
    );

    // DDL reaches every node's schema cache within a second.
    db.client()
        .await
        .batch_execute(
            "create table public.fresh (id int primary key);
             insert into public.fresh values (1);
             grant select on public.fresh to anon;",
        )
        .await
        .unwrap();
    let ddl = std::time::Instant::now();
    let mut seen = [None; 3];
    while seen.iter().any(Option::is_none) && ddl.elapsed() < Duration::from_secs(5) {
        for (i, s) in seen.iter_mut().enumerate() {
            if s.is_none() {
                let r = http
                    .get(format!("{}/rest/v1/fresh?select=id", api(i)))
                    .header("apikey", &anon)
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    *s = Some(ddl.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (i, s) in seen.iter().enumerate() {
        let t = s.unwrap_or_else(|| panic!("node {} never saw the new table", i + 1));
        assert!(t < Duration::from_secs(1), "node {}: {t:?}", i + 1);
    }
    eprintln!("DDL seen by the three nodes after {seen:?}");
}
