//! `basalt start --db-url`: on a database basalt does not own, reached over TLS with
//! `sslmode=verify-full` and the private CA that signed the server's certificate, the platform
//! schema and migrations install, REST, auth and realtime (its replication stream included) work,
//! and every session basalt holds on the server is encrypted. Several nodes on one database and
//! one S3 store act as one: a session made on one node refreshes on another, a resumable upload
//! continues on any node, a change written through one reaches a subscriber of another, and DDL
//! reaches every node's schema cache. And a role that is not superuser is told exactly what a DBA
//! runs, after which basalt serves as that role, its request connections logging in as
//! `authenticator` so that no token can take that role itself.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
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

/// The S3 store the nodes share: [`basalt_testkit::s3`] (the S3 protocol over a directory),
/// reached with these keys.
const S3_ACCESS: &str = "nodes-test-access";
const S3_SECRET: &str = "nodes-test-secret-key";
const S3_BUCKET: &str = "nodes-objects";

/// A node's project: the notes table, a storage bucket its users may write, and `[storage.s3]`
/// naming the shared store.
fn node_project(s3_endpoint: &str) -> tempfile::TempDir {
    let dir = common::project(&[(
        "20240101000000_notes.sql",
        "create table public.notes (id bigserial primary key, body text not null);
         grant all on public.notes to anon, authenticated, service_role;
         grant usage on sequence public.notes_id_seq to anon, authenticated, service_role;
         alter publication supabase_realtime add table public.notes;
         insert into storage.buckets (id, name) values ('shared', 'shared');
         create policy \"users own their folder\" on storage.objects for all to authenticated
           using (bucket_id = 'shared' and (storage.foldername(name))[1] = auth.uid()::text)
           with check (bucket_id = 'shared' and (storage.foldername(name))[1] = auth.uid()::text);",
    )]);
    let config = dir.path().join("supabase/config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[storage.s3]\nbucket = \"{S3_BUCKET}\"\nendpoint = \"{s3_endpoint}\"\n\
         region = \"us-east-1\"\naccess_key_id = \"{S3_ACCESS}\"\n\
         secret_access_key = \"{S3_SECRET}\"\nforce_path_style = true\n"
    ));
    std::fs::write(config, text).unwrap();
    dir
}

/// Files under `dir` (recursively), as paths relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_database_act_as_one() {
    let db = basalt_testkit::fresh_db().await;
    let s3_root = tempfile::tempdir().unwrap();
    let s3 = basalt_testkit::s3::serve(s3_root.path(), S3_ACCESS, S3_SECRET, &[S3_BUCKET]).await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| node_project(&s3.endpoint)).collect();
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

    // A resumable upload (TUS, as tus-js-client speaks it) created on node 2, its chunks sent
    // alternately to nodes 2 and 3, its offset read on node 1, downloaded whole from node 1.
    let token = refreshed["access_token"].as_str().unwrap();
    let owner = user["id"].as_str().unwrap();
    resumable_upload_across_nodes(&http, &api, &anon, token, owner, &s3.root).await;
    for d in &dirs {
        assert!(
            files_under(&d.path().join(".basalt/storage")).is_empty(),
            "a node kept bytes on its own disk"
        );
    }

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

/// Chunk size of the resumable upload: supabase-js's default (6 MiB). The last chunk is smaller.
const TUS_CHUNK: usize = 6 * 1024 * 1024;

/// What [`three_nodes_on_one_database_act_as_one`] does with a resumable upload; `api(i)` is
/// node `i + 1`. Between requests the upload lives in the shared store only
/// (`uploads/<id>/…` in the S3 bucket).
async fn resumable_upload_across_nodes(
    http: &reqwest::Client,
    api: &dyn Fn(usize) -> String,
    anon: &str,
    token: &str,
    owner: &str,
    s3_root: &std::path::Path,
) {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let data: Vec<u8> = (0..2 * TUS_CHUNK + 1_234_567)
        .map(|i| (i % 251) as u8)
        .collect();
    let name = format!("{owner}/video.bin");
    let bearer = format!("Bearer {token}");

    let r = http
        .post(format!("{}/storage/v1/upload/resumable", api(1)))
        .header("apikey", anon)
        .header("authorization", &bearer)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", data.len().to_string())
        .header(
            "upload-metadata",
            format!(
                "bucketName {},objectName {},contentType {},cacheControl {}",
                b64("shared"),
                b64(&name),
                b64("video/mp4"),
                b64("3600")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    let at = |node: usize| format!("{}/storage/v1/upload/resumable/{id}", api(node));
    let bucket = s3_root.join(S3_BUCKET);
    assert!(
        files_under(&bucket).contains(&format!("uploads/{id}/info")),
        "the upload's description is in the shared store: {:?}",
        files_under(&bucket)
    );

    let len = data.len().to_string();
    let head_offset = |node: usize| {
        let req = http
            .head(at(node))
            .header("apikey", anon)
            .header("authorization", &bearer)
            .header("tus-resumable", "1.0.0");
        let len = len.clone();
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["upload-length"], len.as_str());
            r.headers()["upload-offset"]
                .to_str()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        }
    };
    assert_eq!(head_offset(0).await, 0);

    // Chunks on nodes 2, 3, 2; after each, node 1 reports the offset.
    for (i, chunk) in data.chunks(TUS_CHUNK).enumerate() {
        let node = 1 + i % 2;
        let offset = i * TUS_CHUNK;
        let r = http
            .patch(at(node))
            .header("apikey", anon)
            .header("authorization", &bearer)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "chunk {i} on node {}", node + 1);
        let reached = offset + chunk.len();
        assert_eq!(r.headers()["upload-offset"], reached.to_string().as_str());
        if reached < data.len() {
            assert_eq!(head_offset(0).await, reached, "node 1 after chunk {i}");
            // A chunk resent at an old offset is refused on the other node.
            let r = http
                .patch(at(2 - i % 2))
                .header("apikey", anon)
                .header("authorization", &bearer)
                .header("tus-resumable", "1.0.0")
                .header("upload-offset", offset.to_string())
                .header("content-type", "application/offset+octet-stream")
                .body(chunk[..10].to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 409);
        }
    }

    // Finished: the upload is gone, the object is whole on node 1, its bytes in the shared store.
    let r = http
        .head(at(0))
        .header("apikey", anon)
        .header("authorization", &bearer)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    // The TUS server's answer for an upload it does not know: 404.
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!(
            "{}/storage/v1/object/authenticated/shared/{name}",
            api(0)
        ))
        .header("apikey", anon)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let got = r.bytes().await.unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got.as_ref() == data.as_slice(), "the bytes differ");
    let stored = files_under(&bucket);
    assert!(
        !stored.iter().any(|f| f.starts_with("uploads/")),
        "chunks left behind: {stored:?}"
    );
    let objects: Vec<&String> = stored
        .iter()
        .filter(|f| f.starts_with("objects/"))
        .collect();
    assert_eq!(objects.len(), 1, "{stored:?}");
    assert_eq!(
        std::fs::metadata(bucket.join(objects[0])).unwrap().len(),
        data.len() as u64
    );
}

/// What `basalt start` said a DBA runs, one statement per line of its refusal (`… — a DBA runs:
/// STATEMENT`), or `None` when it started.
fn refusal(dir: &std::path::Path, db_url: &str) -> Option<Vec<String>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["start", "--project", dir.to_str().unwrap()])
        .args(["--port", &free_port().to_string(), "--db-url", db_url])
        .args(["--studio-port", &free_port().to_string()])
        .env("BASALT_LOG", "warn")
        .env("BASALT_JWT_SECRET", NODES_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refusal comes before anything is served; a start prints its banner.
    let stdout = child.stdout.take().unwrap();
    let started = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("service_role key"))
    });
    if started.join().unwrap() {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let _ = child.wait();
    let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(
        err.contains("the database role lacks what basalt needs")
            && err.contains("until a DBA runs the statements above"),
        "not a privilege refusal: {err}"
    );
    let lines: Vec<String> = err
        .lines()
        .filter_map(|l| l.split_once(" — a DBA runs: ").map(|(_, s)| s.to_owned()))
        .collect();
    assert!(!lines.is_empty(), "{err}");
    Some(lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_is_not_superuser_is_told_what_a_dba_runs_and_then_serves() {
    let server = TlsServer::start();
    server.admin_sql("CREATE ROLE dba LOGIN CREATEROLE CREATEDB PASSWORD 'dba-pw'");
    server.admin_sql("CREATE DATABASE notown OWNER dba");
    let tls = format!("sslmode=verify-full&sslrootcert={}", server.ca.display());
    let dba_url = format!(
        "postgresql://dba:dba-pw@localhost:{}/notown?{tls}",
        server.port
    );
    let su_url = server
        .url("localhost", &tls)
        .replace("/postgres?", "/notown?");
    let su = basalt_pg::pool::connect(&server.socket_url().replace("/postgres?", "/notown?"))
        .await
        .unwrap();
    let dir = project();

    // The DBA runs exactly what basalt names, round after round, until basalt starts. Only
    // realtime's REPLICATION is left out: without it basalt starts and says so.
    let mut told = Vec::new();
    let mut rounds = 0;
    while let Some(statements) = refusal(dir.path(), &dba_url) {
        rounds += 1;
        assert!(rounds <= 2, "still refused after running {told:?}");
        for s in &statements {
            if s == "ALTER ROLE \"dba\" REPLICATION;" {
                continue;
            }
            assert!(!told.contains(s), "asked twice for {s}");
            told.push(s.clone());
            if let Some(rest) =
                s.strip_prefix("basalt db push --db-url '<a superuser URL of database notown>'")
            {
                assert!(rest.is_empty(), "{s}");
                let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
                    .args(["db", "push", "--project", dir.path().to_str().unwrap()])
                    .args(["--db-url", &su_url])
                    .env("BASALT_LOG", "warn")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            } else {
                su.batch_execute(s)
                    .await
                    .unwrap_or_else(|e| panic!("{s}: {e}"));
            }
        }
    }
    eprintln!("a DBA ran, in {rounds} rounds: {told:#?}");
    assert!(
        rounds >= 1,
        "a role that is not superuser started without a DBA"
    );

    // Now basalt runs as dba: it says realtime lacks REPLICATION, REST and auth work, and a
    // postgres_changes subscription is refused at once with the statement, not left waiting.
    let port = free_port();
    let mut node = start(dir.path(), port, &dba_url);
    let (anon, service) = keys(dir.path());
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}");
    insert_note(&http, port, &service, "as dba").await;
    // Requests do not run on dba's sessions, which could take dba's own role: they log in as
    // `authenticator` (with the password this node derived and set), so a token signed with the
    // project secret that claims `dba` is refused by Postgres, on REST, GraphQL and storage.
    let as_dba = format!(
        "Bearer {}",
        basalt_identity::Keys::from_secret(NODES_SECRET)
            .sign(&json!({"role": "dba", "exp": 4_000_000_000u64}))
            .unwrap()
    );
    let refused = "permission denied to set role \"dba\"";
    let call = |method: &str, path: &str, auth: &str, body: Option<Value>| {
        let mut req = http
            .request(method.parse().unwrap(), format!("{api}{path}"))
            .header("apikey", &anon)
            .header("Authorization", auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = call("GET", "/rest/v1/notes", &as_dba, None).await;
    assert_eq!(
        (status, &body["code"], body["message"].as_str()),
        (403, &json!("42501"), Some(refused)),
        "{body}"
    );
    let query = json!({"query": "{ notesCollection { edges { node { body } } } }"});
    let (_, gql) = call("POST", "/graphql/v1", &as_dba, Some(query)).await;
    assert_eq!(gql["errors"][0]["message"].as_str(), Some(refused), "{gql}");
    let (_, body) = call("GET", "/storage/v1/bucket", &as_dba, None).await;
    assert_eq!(body["message"].as_str(), Some(refused), "{body}");
    // The API roles still work on those sessions.
    let as_anon = format!("Bearer {anon}");
    assert_eq!(
        call("GET", "/rest/v1/notes?select=body", &as_anon, None).await,
        (200, json!([{"body": "as dba"}]))
    );
    // The node's sessions: dba's own (auth, the queue, realtime) and `authenticator`'s, never
    // a superuser's.
    let logins: Vec<String> = su
        .query(
            "SELECT DISTINCT usename::text FROM pg_stat_activity
             WHERE datname = 'notown' AND client_addr IS NOT NULL ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(logins, ["authenticator", "dba"], "{logins:?}");
    let session = sign_up(&http, &api, &anon, "dba@example.com").await;
    assert!(session["access_token"].is_string(), "{session}");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{port}/realtime/v1/websocket?apikey={anon}&vsn=2.0.0"
    ))
    .await
    .unwrap();
    let join = json!(["1", "1", "realtime:notes", "phx_join", {
        "config": {"postgres_changes": [{"event": "*", "schema": "public", "table": "notes"}]},
        "access_token": service,
    }]);
    let asked = std::time::Instant::now();
    ws.send(Ws::Text(join.to_string().into())).await.unwrap();
    let system = wait_for(&mut ws, &|v| v[3] == "system").await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(system[4]["status"], "error", "{system}");
    let message = system[4]["message"].as_str().unwrap();
    assert!(
        message.contains("ALTER ROLE \"dba\" REPLICATION;"),
        "{message}"
    );
    let _ = node.child.kill();
    let _ = node.child.wait();
    let err = node.stderr();
    assert!(
        err.contains("REPLICATION") && err.contains("ALTER ROLE \"dba\" REPLICATION;"),
        "{err}"
    );
}
