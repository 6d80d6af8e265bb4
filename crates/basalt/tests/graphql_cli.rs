#![allow(clippy::unwrap_used)]
//! `basalt graphql`: GraphQL alone against a database it did not set up, with the project's
//! keys; a query as a token's role and as anon, row-level security deciding.

mod common;

use common::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SECRET: &str = "graphql-cli-secret-with-at-least-32-characters-long";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basalt_graphql_serves_a_database_alone() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(
            r#"
            comment on schema public is '@graphql({"inflect_names": true})';
            create table todo(id int primary key, title text not null, owner text);
            insert into todo values (1, 'mine', 'user-1'), (2, 'theirs', 'user-2');
            alter table todo enable row level security;
            grant select on todo to authenticated, anon;
            create policy own on todo for select
              using (owner = current_setting('request.jwt.claims', true)::json->>'sub');
            "#,
        )
        .await
        .unwrap();
    let url =
        basalt_pg::platform::local_url_as(&db.url, basalt_pg::platform::AUTHENTICATOR).unwrap();
    let project = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(["graphql", "--project", project.path().to_str().unwrap()])
        .args(["--db-url", &url, "--port", &port.to_string()])
        .args(["--jwt-secret", SECRET])
        .env("BASALT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Killed(child);
    let endpoint = format!("http://127.0.0.1:{port}/graphql/v1");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let query = json!({"query": "{ todoCollection { edges { node { id title } } } }"});
    let token = basalt_identity::Keys::from_secret(SECRET)
        .sign(&json!({"role": "authenticated", "sub": "user-1", "exp": 4_000_000_000u64}))
        .unwrap();
    let body: Value = loop {
        match http
            .post(&endpoint)
            .bearer_auth(&token)
            .json(&query)
            .send()
            .await
        {
            Ok(r) => break r.json().await.unwrap(),
            Err(e) if Instant::now() > deadline => panic!("basalt graphql did not answer: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(
        body,
        json!({"data": {"todoCollection": {"edges": [{"node": {"id": 1, "title": "mine"}}]}}})
    );
    // Without a token: anon, who owns nothing.
    let body: Value = http
        .post(&endpoint)
        .json(&query)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"data": {"todoCollection": {"edges": []}}}));
    // A token signed with another secret is refused.
    let forged = basalt_identity::Keys::from_secret("another-secret-with-at-least-32-characters")
        .sign(&json!({"role": "service_role", "exp": 4_000_000_000u64}))
        .unwrap();
    let r = http
        .post(&endpoint)
        .bearer_auth(forged)
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
