#![allow(clippy::unwrap_used)]
//! GraphQL requests run with the transaction settings REST applies: the role's own settings
//! (`ALTER ROLE … SET`, `statement_timeout` included), `request.jwt.claims`, `request.method`,
//! `request.path`, `request.headers`, `request.cookies`, and the pre-request function.

use serde_json::{json, Value};

const SECRET: &str = "graphql-settings-secret-with-at-least-32-characters";

fn token(role: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"role": role, "sub": "user-7", "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

const SETUP: &str = r#"
comment on schema public is '@graphql({"inflect_names": true})';
create table note(id int primary key, body text);
grant select, insert on note to authenticated;
create function public.seen() returns json language sql stable as $$
  select json_build_object(
    'role', current_user,
    'timeout', current_setting('statement_timeout'),
    'greeting', current_setting('app.greeting', true),
    'sub', current_setting('request.jwt.claims', true)::json->>'sub',
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'agent', current_setting('request.headers', true)::json->>'x-agent',
    'cookie', current_setting('request.cookies', true)::json->>'sid',
    'pre', current_setting('app.pre', true))
$$;
create function public.slow() returns int language sql stable as $$ select 1 from pg_sleep(2) $$;
create function public.check_request() returns void language plpgsql as $$
begin
  if current_setting('request.headers', true)::json->>'x-block' = 'yes' then
    raise exception 'blocked by the pre-request check';
  end if;
  perform set_config('app.pre', 'ran', true);
end $$;
grant execute on function public.check_request() to authenticated, anon;
do $$ begin
  execute format('alter role authenticated in database %I set statement_timeout = %L',
                 current_database(), '300ms');
  execute format('alter role authenticated in database %I set app.greeting = %L',
                 current_database(), 'hello');
end $$;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_run_with_rest_transaction_settings() {
    let db = basalt_testkit::fresh_db().await;
    db.client().await.batch_execute(SETUP).await.unwrap();
    let config = basalt_graphql::Config {
        db_uri: basalt_pg::platform::local_url_as(&db.url, basalt_pg::platform::AUTHENTICATOR)
            .unwrap(),
        schemas: vec!["public".into()],
        extra_search_path: vec!["public".into(), "extensions".into()],
        anon_role: "anon".into(),
        keys: std::sync::Arc::new(basalt_identity::Keys::from_secret(SECRET)),
        pool_size: 2,
        pre_request: Some("public.check_request".into()),
    };
    let router =
        axum::Router::new().nest("/graphql/v1", basalt_graphql::router(config).await.unwrap());
    let server = basalt_testkit::serve(router).await;
    let url = format!("{}/graphql/v1", server.url);
    let http = reqwest::Client::new();
    let post = |query: &str, block: bool| {
        let mut r = http
            .post(&url)
            .bearer_auth(token("authenticated"))
            .header("x-agent", "tester")
            .header("cookie", "sid=abc")
            .json(&json!({ "query": query }));
        if block {
            r = r.header("x-block", "yes");
        }
        r.send()
    };

    // Settings, claims, request GUCs and the pre-request function's effect, in a query.
    let body: Value = post("{ seen }", false).await.unwrap().json().await.unwrap();
    let seen: Value = serde_json::from_str(body["data"]["seen"].as_str().unwrap()).unwrap();
    assert_eq!(
        seen,
        json!({"role": "authenticated", "timeout": "300ms", "greeting": "hello", "sub": "user-7",
               "method": "POST", "path": "/graphql/v1", "agent": "tester", "cookie": "abc",
               "pre": "ran"})
    );

    // The role's statement_timeout cancels a slow statement.
    let body: Value = post("{ slow }", false).await.unwrap().json().await.unwrap();
    assert!(body["data"].is_null(), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("statement timeout"),
        "{body}"
    );

    // The pre-request function refuses a query and a mutation (nothing is written).
    let body: Value = post("{ seen }", true).await.unwrap().json().await.unwrap();
    assert_eq!(
        body["errors"][0]["message"], "blocked by the pre-request check",
        "{body}"
    );
    let m =
        r#"mutation { insertIntoNoteCollection(objects: [{id: 1, body: "x"}]) { affectedCount } }"#;
    let body: Value = post(m, true).await.unwrap().json().await.unwrap();
    assert_eq!(
        body["errors"][0]["message"], "blocked by the pre-request check",
        "{body}"
    );
    let body: Value = post(m, false).await.unwrap().json().await.unwrap();
    assert_eq!(
        body["data"]["insertIntoNoteCollection"]["affectedCount"], 1,
        "{body}"
    );
    let n: i64 = db
        .client()
        .await
        .query_one("select count(*) from note", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
