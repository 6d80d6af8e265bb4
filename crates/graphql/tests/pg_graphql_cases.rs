#![allow(clippy::unwrap_used)]
//! pg_graphql's behaviour, case by case: each file in `tests/cases/` (ported from pg_graphql's
//! `test/sql` + `test/expected`, in basalt's own format) sets up a schema, then sends GraphQL
//! documents to `/graphql/v1` over HTTP as a role and compares the whole JSON response.
//!
//! Format: sections start with a line `-- <kind> [argument]`:
//! `-- sql` (run as the superuser; may appear again later, between requests), `-- role <name>`
//! (the token's role for the following requests; default `service_role`), `-- query` (a
//! document), `-- variables` (JSON for the preceding query), `-- operation <name>` (its
//! `operationName`), `-- expect` (the exact response),
//! `-- expect-error <text>` (`data` is null and an error's message contains the text). Lines starting with
//! `#` outside queries are comments. `SKIP.md` lists pg_graphql cases deliberately not ported.

use std::path::Path;

use serde_json::{json, Value};

const SECRET: &str = "graphql-cases-secret-with-at-least-32-characters";

fn token(role: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"role": role, "sub": "00000000-0000-0000-0000-000000000001", "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[derive(Debug)]
enum Step {
    Sql(String),
    Role(String),
    Query {
        query: String,
        variables: Option<Value>,
        operation: Option<String>,
        expect: Expect,
    },
}

#[derive(Debug)]
enum Expect {
    Exact(Value),
    Error(String),
    Nothing,
}

fn parse(text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut kind = String::new();
    let mut arg = String::new();
    let mut buf = String::new();
    let flush = |steps: &mut Vec<Step>, kind: &str, arg: &str, buf: &str| {
        let body = buf.trim().to_string();
        match kind {
            "sql" => steps.push(Step::Sql(body)),
            "query" => steps.push(Step::Query {
                query: body,
                variables: None,
                operation: None,
                expect: Expect::Nothing,
            }),
            "operation" => {
                if let Some(Step::Query { operation, .. }) = steps.last_mut() {
                    *operation = Some(arg.to_string());
                }
            }
            "variables" => {
                if let Some(Step::Query { variables, .. }) = steps.last_mut() {
                    *variables = Some(serde_json::from_str(&body).unwrap());
                }
            }
            "expect" => {
                if let Some(Step::Query { expect, .. }) = steps.last_mut() {
                    *expect = Expect::Exact(
                        serde_json::from_str(&body)
                            .unwrap_or_else(|e| panic!("expect JSON: {e}\n{body}")),
                    );
                }
            }
            "expect-error" => {
                if let Some(Step::Query { expect, .. }) = steps.last_mut() {
                    *expect = Expect::Error(arg.to_string());
                }
            }
            "role" => steps.push(Step::Role(arg.to_string())),
            _ => {}
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("-- ") {
            flush(&mut steps, &kind, &arg, &buf);
            buf.clear();
            let (k, a) = rest.split_once(' ').unwrap_or((rest, ""));
            kind = k.trim().to_string();
            arg = a.trim().to_string();
            continue;
        }
        if line.starts_with('#') && kind != "query" {
            continue;
        }
        buf.push_str(line);
        buf.push('\n');
    }
    flush(&mut steps, &kind, &arg, &buf);
    steps
}

/// A setup statement's failure, with Postgres' message.
fn sql_error(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("sql: {}", d.message()),
        None => format!("sql: {e}"),
    }
}

async fn run_case(path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let steps = parse(&text);
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    // Everything the case creates before the first request exists when the service starts.
    let mut i = 0;
    while let Some(Step::Sql(sql)) = steps.get(i) {
        client.batch_execute(sql).await.map_err(sql_error)?;
        i += 1;
    }
    let db_uri =
        basalt_pg::platform::local_url_as(&db.url, basalt_pg::platform::AUTHENTICATOR).unwrap();
    let config = basalt_graphql::Config {
        db_uri,
        schemas: vec!["public".into()],
        extra_search_path: vec!["public".into(), "extensions".into()],
        anon_role: "anon".into(),
        keys: std::sync::Arc::new(basalt_identity::Keys::from_secret(SECRET)),
        pool_size: 2,
        pre_request: None,
    };
    let app = basalt_graphql::app::App::start(config).await.unwrap();
    let server = basalt_testkit::serve(basalt_graphql::http::routes(app.clone())).await;
    let http = reqwest::Client::new();
    let mut role = "service_role".to_string();
    let mut n = 0;
    for (k, step) in steps.iter().enumerate().skip(i) {
        match step {
            Step::Sql(sql) => {
                client.batch_execute(sql).await.map_err(sql_error)?;
                // As the DDL trigger's NOTIFY would, without waiting for it.
                app.invalidate();
            }
            Step::Role(r) => role = r.clone(),
            Step::Query {
                query,
                variables,
                operation,
                expect,
            } => {
                let mut req = http.post(&server.url).json(
                    &json!({"query": query, "variables": variables, "operationName": operation}),
                );
                if role != "anon" {
                    req = req.bearer_auth(token(&role));
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap();
                if status != 200 {
                    return Err(format!("step {k}: HTTP {status}: {body}"));
                }
                match expect {
                    Expect::Exact(want) => {
                        if &body != want {
                            return Err(format!(
                                "step {k}:\nquery: {query}\nwant: {want}\ngot:  {body}"
                            ));
                        }
                    }
                    Expect::Error(text) => {
                        let found = body["errors"].as_array().is_some_and(|errs| {
                            errs.iter().any(|e| {
                                e["message"]
                                    .as_str()
                                    .is_some_and(|m| m.contains(text.as_str()))
                            })
                        });
                        if !found || !body["data"].is_null() {
                            return Err(format!(
                                "step {k}:\nquery: {query}\nwant error containing {text:?}\ngot:  {body}"
                            ));
                        }
                    }
                    Expect::Nothing => {}
                }
                n += 1;
            }
        }
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_graphql_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .collect();
    files.sort();
    let only = std::env::var("CASE").ok();
    let mut failures = Vec::new();
    let mut total = 0;
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        match run_case(f).await {
            Ok(n) => {
                total += n;
                eprintln!("ok   {name} ({n} requests)");
            }
            Err(e) => {
                eprintln!("FAIL {name}: {e}");
                failures.push(name);
            }
        }
    }
    eprintln!("{total} requests passed; failed cases: {failures:?}");
    assert!(failures.is_empty(), "failed cases: {failures:?}");
}
