//! The role a token names is one Postgres lets `authenticator` assume, whatever user `--db-url`
//! logs in as: with a superuser URL over TCP, a token signed with the project secret that
//! claims `postgres`, `supabase_admin`, `supabase_auth_admin`, `supabase_storage_admin` or the
//! URL's own user is refused by REST, GraphQL and storage with the same status and body as on
//! the embedded cluster (whose request connections log in as `authenticator`), while `anon`,
//! `authenticated` and `service_role` keep working, row level security included.
#![allow(clippy::unwrap_used)]

mod common;

use basalt_testkit::tls::TlsServer;
use common::{free_port, Basalt};
use serde_json::{json, Value};

const SECRET: &str = "caller-roles-test-secret-with-at-least-32-chars";
const ALICE: &str = "11111111-1111-4111-8111-1111111111a1";
const BOB: &str = "22222222-2222-4222-8222-2222222222b2";

fn project() -> tempfile::TempDir {
    common::project(&[(
        "0001_notes.sql",
        "create table public.notes (id bigserial primary key,
           owner uuid not null default auth.uid(), body text);
         alter table public.notes enable row level security;
         create policy own on public.notes for all to authenticated
           using (owner = auth.uid()) with check (owner = auth.uid());
         grant select on public.notes to anon;
         insert into storage.buckets (id, name, public) values ('docs', 'docs', false);
         create policy own_files on storage.objects for all to authenticated
           using (bucket_id = 'docs' and (storage.foldername(name))[1] = auth.uid()::text)
           with check (bucket_id = 'docs' and (storage.foldername(name))[1] = auth.uid()::text);",
    )])
}

/// `basalt start` on its embedded cluster.
fn start_embedded(dir: &std::path::Path, port: u16) -> Basalt {
    let db_port = free_port().to_string();
    common::start_with(
        dir,
        port,
        &["--db-port", &db_port],
        &[("BASALT_JWT_SECRET", SECRET)],
    )
}

fn token(role: &str, sub: &str) -> String {
    basalt_identity::Keys::from_secret(SECRET)
        .sign(&json!({"role": role, "sub": sub, "aud": "authenticated", "exp": 4_000_000_000u64}))
        .unwrap()
}

/// One node under test: its API base and anon key.
struct Node {
    api: String,
    anon: String,
    http: reqwest::Client,
}

impl Node {
    async fn send(&self, method: &str, path: &str, role: &str, body: Option<&str>) -> (u16, Value) {
        let sub = if role == "authenticated" { ALICE } else { BOB };
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.api))
            .header("apikey", &self.anon)
            .header("Authorization", format!("Bearer {}", token(role, sub)));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn rest(&self, role: &str) -> (u16, Value) {
        self.send("GET", "/rest/v1/notes?select=body", role, None)
            .await
    }

    async fn graphql(&self, role: &str) -> (u16, Value) {
        let q = json!({"query": "{ notesCollection { edges { node { body } } } }"});
        self.send("POST", "/graphql/v1", role, Some(&q.to_string()))
            .await
    }

    async fn storage(&self, role: &str) -> (u16, Value) {
        let body = json!({"prefix": ""}).to_string();
        self.send("POST", "/storage/v1/object/list/docs", role, Some(&body))
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superuser_db_url_refuses_the_roles_authenticator_cannot_assume_as_embedded_does() {
    let server = TlsServer::start();
    // The URL's own user: a superuser other than `postgres`.
    server.admin_sql("CREATE ROLE site_admin LOGIN SUPERUSER PASSWORD 'site-admin-pw'");
    let db_url = format!(
        "postgresql://site_admin:site-admin-pw@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        server.port,
        server.ca.display()
    );
    let (tcp_dir, embedded_dir) = (project(), project());
    let (tcp_port, embedded_port) = (free_port(), free_port());
    let _tcp = common::start(
        tcp_dir.path(),
        tcp_port,
        &db_url,
        &[("BASALT_JWT_SECRET", SECRET)],
    );
    let _embedded = start_embedded(embedded_dir.path(), embedded_port);
    let node = |dir: &std::path::Path, port: u16| Node {
        api: format!("http://127.0.0.1:{port}"),
        anon: common::keys(dir).0,
        http: reqwest::Client::new(),
    };
    let tcp = node(tcp_dir.path(), tcp_port);
    let embedded = node(embedded_dir.path(), embedded_port);

    for n in [&tcp, &embedded] {
        // The API roles work, row level security included: Alice writes and reads her note,
        // anon and another user see none of it, service_role sees all.
        let (s, b) = n
            .send(
                "POST",
                "/rest/v1/notes",
                "authenticated",
                Some(r#"{"body":"alice's"}"#),
            )
            .await;
        assert_eq!(s, 201, "{} {b}", n.api);
        assert_eq!(
            n.rest("authenticated").await,
            (200, json!([{"body": "alice's"}]))
        );
        assert_eq!(n.rest("anon").await, (200, json!([])));
        assert_eq!(
            n.rest("service_role").await,
            (200, json!([{"body": "alice's"}]))
        );
        let (s, b) = n.graphql("authenticated").await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(
            b["data"]["notesCollection"]["edges"],
            json!([{"node": {"body": "alice's"}}]),
            "{b}"
        );
        let (s, b) = n.graphql("anon").await;
        assert_eq!(
            (s, &b["data"]["notesCollection"]["edges"]),
            (200, &json!([])),
            "{b}"
        );
        let up = n
            .http
            .post(format!("{}/storage/v1/object/docs/{ALICE}/a.txt", n.api))
            .header("apikey", &n.anon)
            .header(
                "Authorization",
                format!("Bearer {}", token("authenticated", ALICE)),
            )
            .header("content-type", "text/plain")
            .body("hi")
            .send()
            .await
            .unwrap();
        assert_eq!(up.status(), 200, "{}", up.text().await.unwrap());
        let (s, b) = n.storage("authenticated").await;
        assert_eq!((s, b[0]["name"].as_str()), (200, Some(ALICE)), "{b}");
        let (s, b) = n.storage("service_role").await;
        assert_eq!((s, b[0]["name"].as_str()), (200, Some(ALICE)), "{b}");
        assert_eq!(n.storage("anon").await, (200, json!([])));
    }

    for role in [
        "postgres",
        "supabase_admin",
        "supabase_auth_admin",
        "supabase_storage_admin",
        "site_admin",
    ] {
        let (rest, graphql, storage) = (
            tcp.rest(role).await,
            tcp.graphql(role).await,
            tcp.storage(role).await,
        );
        let message = format!("permission denied to set role \"{role}\"");
        if role != "site_admin" {
            // The embedded cluster has no `site_admin`; every other refusal reads the same.
            assert_eq!(rest, embedded.rest(role).await, "REST, {role}");
            assert_eq!(graphql, embedded.graphql(role).await, "GraphQL, {role}");
            assert_eq!(storage, embedded.storage(role).await, "storage, {role}");
        }
        assert_eq!(
            rest,
            (
                403,
                json!({"code": "42501", "details": null, "hint": null, "message": message})
            ),
            "REST, {role}"
        );
        if role.starts_with("supabase_") && role.ends_with("_admin") && role != "supabase_admin" {
            // Roles without a grant on `notes` are refused before the statement runs, as on
            // the embedded cluster (compared above).
            assert_eq!(
                (graphql.0, &graphql.1["data"]),
                (200, &json!(null)),
                "GraphQL, {role}"
            );
        } else {
            assert_eq!(
                graphql,
                (200, json!({"data": null, "errors": [{"message": message}]})),
                "GraphQL, {role}"
            );
        }
        assert_eq!(
            storage,
            (
                400,
                json!({"statusCode": "403", "code": "AccessDenied", "error": "Unauthorized",
                       "message": message})
            ),
            "storage, {role}"
        );
    }
}
