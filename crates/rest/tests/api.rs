//! The REST API against a real Postgres: role switching with RLS, JWT checks, reads with
//! embedding, writes (atomic bulk inserts), upserts, RPC and schema reloads after DDL.

use basalt_rest::Config;
use serde_json::{json, Value};

const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters";
const ALICE: &str = "11111111-1111-1111-1111-111111111111";
const BOB: &str = "22222222-2222-2222-2222-222222222222";

const SCHEMA: &str = r#"
insert into auth.users (id, email) values
  ('11111111-1111-1111-1111-111111111111', 'alice@example.com'),
  ('22222222-2222-2222-2222-222222222222', 'bob@example.com');
create table public.lists (id bigserial primary key, name text not null);
create table public.todos (
  id bigserial primary key,
  owner uuid not null default auth.uid(),
  list_id bigint references public.lists(id),
  title text not null unique,
  done boolean not null default false
);
alter table public.todos enable row level security;
create policy own on public.todos for all to authenticated
  using (owner = auth.uid()) with check (owner = auth.uid());
grant select on public.lists to anon, authenticated;
grant select, insert, update, delete on public.todos to authenticated;
grant usage on sequence public.todos_id_seq to authenticated;
insert into public.lists (id, name) values (1, 'home'), (2, 'work');
insert into public.todos (owner, list_id, title, done) values
  ('11111111-1111-1111-1111-111111111111', 1, 'alice 1', false),
  ('11111111-1111-1111-1111-111111111111', 2, 'alice 2', true),
  ('22222222-2222-2222-2222-222222222222', 1, 'bob 1', false);
create table public.secrets (id int primary key);
revoke all on public.secrets from anon, authenticated;
create function public.add(a int, b int) returns int language sql immutable as $$ select a + b $$;
create function public.my_todo_count() returns bigint language sql stable as
  $$ select count(*) from public.todos $$;
grant execute on function public.my_todo_count() to authenticated;
"#;

fn token(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

fn user(sub: &str) -> String {
    token(json!({"sub": sub, "role": "authenticated", "exp": 4_000_000_000u64}))
}

struct Api {
    url: String,
    http: reqwest::Client,
    _db: basalt_testkit::TestDb,
    _server: basalt_testkit::TestServer,
}

impl Api {
    async fn start() -> Api {
        Api::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut Config)) -> Api {
        let db = basalt_testkit::fresh_db().await;
        db.client()
            .await
            .batch_execute(SCHEMA)
            .await
            .expect("schema");
        let mut config = Config {
            db_uri: db.url.clone(),
            schemas: vec!["public".into()],
            anon_role: Some("anon".into()),
            jwt_secret: Some(SECRET.into()),
            extra_search_path: vec!["public".into(), "extensions".into()],
            auth_configured: true,
            pool_size: 4,
            ..Config::default()
        };
        tweak(&mut config);
        let router = basalt_rest::router(config).await.expect("router");
        let server = basalt_testkit::serve(router).await;
        Api {
            url: server.url.clone(),
            http: reqwest::Client::new(),
            _db: db,
            _server: server,
        }
    }

    fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        jwt: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{}", self.url, path));
        match jwt {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn json(&self, method: reqwest::Method, path: &str, jwt: Option<&str>) -> (u16, Value) {
        let r = self.req(method, path, jwt).send().await.expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test]
async fn reads_follow_rls_and_embed() {
    let api = Api::start().await;
    let alice = user(ALICE);
    let (s, body) = api
        .json(
            reqwest::Method::GET,
            "/todos?select=title,done,lists(name)&order=title.desc",
            Some(&alice),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        json!([
            {"title": "alice 2", "done": true, "lists": {"name": "work"}},
            {"title": "alice 1", "done": false, "lists": {"name": "home"}}
        ])
    );
    // One-to-many from the other side, filtered inside the embed.
    let (s, body) = api
        .json(
            reqwest::Method::GET,
            "/lists?select=name,todos(title)&todos.done=is.false&order=id",
            Some(&user(BOB)),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        json!([{"name": "home", "todos": [{"title": "bob 1"}]}, {"name": "work", "todos": []}])
    );
    // Anonymous: RLS filters every row silently.
    let (s, body) = api.json(reqwest::Method::GET, "/todos", None).await;
    assert_eq!((s, body), (200, json!([])));
    // Anonymous without privilege → 401 with PostgREST's body.
    let (s, body) = api.json(reqwest::Method::GET, "/secrets", None).await;
    assert_eq!(s, 401);
    assert_eq!(body["code"], "42501");
    // Authenticated without privilege → 403.
    let (s, _) = api
        .json(reqwest::Method::GET, "/secrets", Some(&alice))
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn counts_ranges_and_singular() {
    let api = Api::start().await;
    let alice = user(ALICE);
    let r = api
        .req(
            reqwest::Method::GET,
            "/todos?select=id&limit=1",
            Some(&alice),
        )
        .header("Prefer", "count=exact")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()["content-range"], "0-0/2");
    let r = api
        .req(
            reqwest::Method::GET,
            "/todos?title=eq.alice 1",
            Some(&alice),
        )
        .header("Accept", "application/vnd.pgrst.object+json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["title"], "alice 1");
    let r = api
        .req(reqwest::Method::GET, "/todos", Some(&alice))
        .header("Accept", "application/vnd.pgrst.object+json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 406);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "PGRST116");
    assert_eq!(v["details"], "The result contains 2 rows");
}

#[tokio::test]
async fn bad_input_gets_postgrest_errors() {
    let api = Api::start().await;
    let alice = user(ALICE);
    let (s, body) = api
        .json(
            reqwest::Method::GET,
            "/todos?select=title,lists(",
            Some(&alice),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["code"], "PGRST100");
    let (s, body) = api
        .json(reqwest::Method::GET, "/todos?id=nope.1", Some(&alice))
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["code"], "PGRST100");
    let (s, body) = api
        .json(reqwest::Method::GET, "/nothing", Some(&alice))
        .await;
    assert_eq!(s, 404);
    assert_eq!(body["code"], "PGRST205");
    let expired = token(json!({"sub": ALICE, "role": "authenticated", "exp": 1}));
    let (s, body) = api
        .json(reqwest::Method::GET, "/todos", Some(&expired))
        .await;
    assert_eq!(s, 401);
    assert_eq!(body["message"], "JWT expired");
    let (s, body) = api
        .json(reqwest::Method::GET, "/todos", Some("not.a.jwt"))
        .await;
    assert_eq!(s, 401);
    assert_eq!(body["code"], "PGRST301");
    let (s, body) = api
        .json(
            reqwest::Method::GET,
            "/todos?id=eq.notanumber",
            Some(&alice),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["code"], "22P02");
}

#[tokio::test]
async fn writes_run_under_rls() {
    let api = Api::start().await;
    let alice = user(ALICE);
    // Insert with representation; owner defaults to auth.uid().
    let r = api
        .req(
            reqwest::Method::POST,
            "/todos?select=title,owner",
            Some(&alice),
        )
        .header("Prefer", "return=representation")
        .json(&json!({"title": "new", "list_id": 1}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v, json!([{"title": "new", "owner": ALICE}]));
    // Inserting a row for somebody else violates the policy.
    let r = api
        .req(reqwest::Method::POST, "/todos", Some(&alice))
        .json(&json!({"title": "forged", "owner": BOB}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "42501");
    // PATCH only touches visible rows.
    let r = api
        .req(reqwest::Method::PATCH, "/todos?done=is.false", Some(&alice))
        .header("Prefer", "return=representation")
        .json(&json!({"done": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    let (_, bob_rows) = api
        .json(reqwest::Method::GET, "/todos?select=done", Some(&user(BOB)))
        .await;
    assert_eq!(bob_rows, json!([{"done": false}]));
    // DELETE with a filter, minimal return.
    let r = api
        .req(reqwest::Method::DELETE, "/todos?title=eq.new", Some(&alice))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 204);
}

#[tokio::test]
async fn failing_bulk_insert_leaves_no_row() {
    let api = Api::start().await;
    let alice = user(ALICE);
    let r = api
        .req(reqwest::Method::POST, "/todos", Some(&alice))
        .json(&json!([{"title": "first"}, {"title": "second"}, {"title": "alice 1"}]))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 409);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "23505");
    let (_, rows) = api
        .json(
            reqwest::Method::GET,
            "/todos?title=in.(first,second)",
            Some(&alice),
        )
        .await;
    assert_eq!(rows, json!([]));
}

#[tokio::test]
async fn upsert_and_rpc() {
    let api = Api::start().await;
    let alice = user(ALICE);
    let r = api
        .req(
            reqwest::Method::POST,
            "/todos?on_conflict=title&select=title,done",
            Some(&alice),
        )
        .header(
            "Prefer",
            "resolution=merge-duplicates, return=representation",
        )
        .json(&json!([{"title": "alice 1", "done": true}]))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v, json!([{"title": "alice 1", "done": true}]));
    let (s, v) = api
        .json(reqwest::Method::GET, "/rpc/add?a=2&b=3", None)
        .await;
    assert_eq!((s, v), (200, json!(5)));
    let r = api
        .req(reqwest::Method::POST, "/rpc/add", None)
        .json(&json!({"a": 1, "b": 1}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.json::<Value>().await.expect("json"), json!(2));
    let (s, v) = api
        .json(reqwest::Method::POST, "/rpc/my_todo_count", Some(&alice))
        .await;
    assert_eq!((s, v), (200, json!(2)));
    let (s, v) = api.json(reqwest::Method::GET, "/rpc/add?x=1", None).await;
    assert_eq!(s, 404);
    assert_eq!(v["code"], "PGRST202");
}

#[tokio::test]
async fn schema_cache_reloads_after_ddl() {
    let api = Api::start().await;
    let (s, _) = api.json(reqwest::Method::GET, "/later", None).await;
    assert_eq!(s, 404);
    api._db
        .client()
        .await
        .batch_execute(
            "create table public.later (id int primary key); grant select on public.later to anon;
             insert into public.later values (7);",
        )
        .await
        .expect("ddl");
    let mut last = 0;
    for _ in 0..50 {
        let (s, v) = api.json(reqwest::Method::GET, "/later", None).await;
        last = s;
        if s == 200 {
            assert_eq!(v, json!([{"id": 7}]));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        last, 200,
        "the event trigger's NOTIFY reloads the schema cache"
    );
}

#[tokio::test]
async fn patch_with_embeds_and_limits() {
    let api = Api::start().await;
    let alice = user(ALICE);
    let r = api
        .req(
            reqwest::Method::PATCH,
            "/todos?select=title,lists(name)&title=eq.alice 1",
            Some(&alice),
        )
        .header("Prefer", "return=representation")
        .json(&json!({"done": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v, json!([{"title": "alice 1", "lists": {"name": "home"}}]));
    // limit with order touches only the first row.
    let r = api
        .req(
            reqwest::Method::PATCH,
            "/todos?order=title.desc&limit=1&select=title",
            Some(&alice),
        )
        .header("Prefer", "return=representation")
        .json(&json!({"done": false}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v, json!([{"title": "alice 2"}]));
    let (_, rows) = api
        .json(
            reqwest::Method::GET,
            "/todos?select=title,done&order=title",
            Some(&alice),
        )
        .await;
    assert_eq!(
        rows,
        json!([{"title": "alice 1", "done": true}, {"title": "alice 2", "done": false}])
    );
    let r = api
        .req(
            reqwest::Method::DELETE,
            "/todos?order=title&limit=1",
            Some(&alice),
        )
        .header("Prefer", "return=representation")
        .send()
        .await
        .expect("send");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["title"], "alice 1");
}

#[tokio::test]
async fn estimated_counts_aggregates_beside_embeds_and_deferred_failures() {
    let api = Api::start_with(|c| {
        c.max_rows = Some(10);
        c.aggregates_enabled = true;
    })
    .await;
    let db = api._db.client().await;
    db.batch_execute(
        "create table public.numbers (n int primary key);
         insert into public.numbers select generate_series(1, 1000);
         analyze public.numbers;
         grant select on public.numbers to anon;
         create table public.notes (id int primary key, list_id bigint
           references public.lists(id) deferrable initially deferred);
         grant select, insert on public.notes to anon;
         notify pgrst, 'reload schema';",
    )
    .await
    .expect("schema");
    for _ in 0..100 {
        let (s, _) = api.json(reqwest::Method::GET, "/notes", None).await;
        if s == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let range = |path: &'static str| {
        let api = &api;
        async move {
            let r = api
                .req(reqwest::Method::GET, path, None)
                .header("Prefer", "count=estimated")
                .send()
                .await
                .expect("send");
            let status = r.status();
            match r.headers().get("content-range") {
                Some(v) => v.to_str().expect("header").to_string(),
                None => panic!("{status}: {}", r.text().await.unwrap_or_default()),
            }
        }
    };
    // Within max-rows the count is exact; beyond it, the planner's estimate (about 1000).
    assert_eq!(range("/numbers?n=lt.5").await, "0-3/4");
    let big = range("/numbers").await;
    let total: i64 = big
        .strip_prefix("0-9/")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("content-range {big}"));
    assert!(total > 500, "estimated total {total}");

    // Aggregates group by the embedded values next to them.
    let alice = user(ALICE);
    let (status, body) = api
        .json(
            reqwest::Method::GET,
            "/todos?select=list_id,n:count(),lists(name)&order=list_id",
            Some(&alice),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"list_id": 1, "n": 1, "lists": {"name": "home"}},
            {"list_id": 2, "n": 1, "lists": {"name": "work"}}
        ])
    );
    let (status, body) = api
        .json(
            reqwest::Method::GET,
            "/lists?select=n:count(),todos(title)",
            Some(&alice),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(|a| a.len()), Some(2), "{body}");

    // A write whose failure only shows at COMMIT (a deferred foreign key) is an error, and
    // nothing is stored.
    let r = api
        .req(reqwest::Method::POST, "/notes", None)
        .header("Prefer", "return=minimal")
        .json(&json!({"id": 1, "list_id": 99}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 409);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "23503");
    let stored: i64 = db
        .query_one("select count(*) from public.notes", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 0);
    let r = api
        .req(reqwest::Method::POST, "/notes", None)
        .header("Prefer", "return=minimal")
        .json(&json!({"id": 2, "list_id": 1}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 201);
}

/// Sends `body` with `method` and extra headers; status, headers and JSON (or text) body.
async fn send(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = api.req(method, path, Some(&user(ALICE)));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    let text = resp.text().await.expect("body");
    (
        status,
        h,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn an_empty_object_inserts_a_row_of_defaults() {
    let api = Api::start().await;
    let db = &api._db;
    db.client()
        .await
        .batch_execute(
            "create table public.defaults (id bigserial primary key, note text default 'none');
             grant all on public.defaults to authenticated;
             grant usage on sequence public.defaults_id_seq to authenticated;
             notify pgrst, 'reload schema';",
        )
        .await
        .expect("table");
    reloaded(&api, "/defaults?limit=0").await;
    let (s, _, body) = send(
        &api,
        reqwest::Method::POST,
        "/defaults",
        &[("prefer", "return=representation")],
        Some("{}"),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body, json!([{"id": 1, "note": "none"}]));
    let (s, _, body) = send(
        &api,
        reqwest::Method::POST,
        "/defaults",
        &[("prefer", "return=representation")],
        Some("[{}, {}]"),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        body,
        json!([{"id": 2, "note": "none"}, {"id": 3, "note": "none"}])
    );
}

#[tokio::test]
async fn full_text_filters_take_a_language() {
    let api = Api::start().await;
    api._db
        .client()
        .await
        .batch_execute(
            "create table public.docs (id int primary key, body text, tsv tsvector);
             insert into public.docs values
               (1, 'The cats are running', to_tsvector('english', 'The cats are running')),
               (2, 'A dog sleeps', to_tsvector('english', 'A dog sleeps'));
             grant select on public.docs to authenticated;
             notify pgrst, 'reload schema';",
        )
        .await
        .expect("table");
    reloaded(&api, "/docs?limit=0").await;
    for (filter, want) in [
        ("tsv=fts(english).cat", json!([{"id": 1}])),
        ("tsv=plfts(english).running%20cats", json!([{"id": 1}])),
        ("tsv=phfts(english).dog%20sleeps", json!([{"id": 2}])),
        (
            "tsv=wfts(english).dog%20or%20cat",
            json!([{"id": 1}, {"id": 2}]),
        ),
        ("body=fts(english).cat", json!([{"id": 1}])),
        ("body=wfts(english).sleeping", json!([{"id": 2}])),
        ("tsv=not.fts(english).cat", json!([{"id": 2}])),
        ("tsv=fts.cat", json!([{"id": 1}])),
    ] {
        let (s, _, body) = send(
            &api,
            reqwest::Method::GET,
            &format!("/docs?select=id&order=id&{filter}"),
            &[],
            None,
        )
        .await;
        assert_eq!((s, body), (200, want), "{filter}");
    }
}

#[tokio::test]
async fn postgrest_edge_cases_of_auth_ranges_preferences_and_raised_errors() {
    let api = Api::start().await;
    api._db
        .client()
        .await
        .batch_execute(
            "create function public.teapot() returns void language plpgsql as
               $$ begin raise sqlstate 'PT418' using message = 'I am a teapot'; end $$;
             grant execute on function public.teapot() to authenticated;
             notify pgrst, 'reload schema';",
        )
        .await
        .expect("function");
    reloaded(&api, "/rpc/teapot").await;
    // A negative limit, top level or embedded.
    for path in [
        "/todos?limit=-1",
        "/lists?select=todos(title)&todos.limit=-2",
    ] {
        let (s, _, body) = send(&api, reqwest::Method::GET, path, &[], None).await;
        assert_eq!(s, 416, "{path}");
        assert_eq!(body["code"], "PGRST103");
        assert_eq!(
            body["details"],
            "Limit should be greater than or equal to zero."
        );
    }
    // handling=strict with a time zone Postgres does not know; a known one is applied.
    let (s, _, body) = send(
        &api,
        reqwest::Method::GET,
        "/todos",
        &[("prefer", "handling=strict, timezone=Not/AZone")],
        None,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(body["code"], "PGRST122");
    assert_eq!(body["details"], "Invalid preferences: timezone=Not/AZone");
    let (s, h, _) = send(
        &api,
        reqwest::Method::GET,
        "/todos",
        &[("prefer", "handling=strict, timezone=America/Los_Angeles")],
        None,
    )
    .await;
    assert_eq!(s, 200);
    // As PostgREST's "should change timezone with handling=strict": both are echoed.
    assert_eq!(
        h["preference-applied"],
        "handling=strict, timezone=America/Los_Angeles"
    );
    // RAISE SQLSTATE 'PT418': its status and a Proxy-Status naming it.
    let (s, h, body) = send(&api, reqwest::Method::POST, "/rpc/teapot", &[], Some("{}")).await;
    assert_eq!(s, 418, "{body}");
    assert_eq!(h["proxy-status"], "PostgREST; error=PT418");
    // An empty bearer token.
    let r = api
        .http
        .get(format!("{}/todos", api.url))
        .header("authorization", "Bearer ")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"Empty JWT is sent in Authorization header\""
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "PGRST301");
}

#[tokio::test]
async fn anonymous_access_disabled_asks_for_a_bearer_token() {
    let api = Api::start_with(|c| c.anon_role = None).await;
    let r = api
        .http
        .get(format!("{}/todos", api.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body,
        json!({"code": "PGRST302", "message": "Anonymous access is disabled", "details": null, "hint": null})
    );
    // A request with a token is served as usual (PostgREST's NoAnonSpec).
    let (s, body) = api
        .json(reqwest::Method::GET, "/todos", Some(&user(ALICE)))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
}

/// Ask for a schema cache reload until `path` is known (it no longer answers "not in the schema
/// cache"), within 10 s. Asked again each time: a notification sent before the service's
/// listener connected is not seen.
async fn reloaded(api: &Api, path: &str) {
    let before = std::time::Instant::now();
    let db = api._db.client().await;
    loop {
        db.batch_execute("notify pgrst, 'reload schema'")
            .await
            .expect("notify");
        let (s, body) = api
            .json(reqwest::Method::GET, path, Some(&user(ALICE)))
            .await;
        let missing = s == 404 && body.to_string().contains("schema cache");
        if !missing || before.elapsed() > std::time::Duration::from_secs(10) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn mutations_and_set_returning_calls_report_content_range() {
    let api = Api::start().await;
    let alice = user(ALICE);
    let run = |method: reqwest::Method,
               path: &'static str,
               prefer: &'static str,
               body: Option<&'static str>| {
        let api = &api;
        let alice = alice.clone();
        async move {
            let mut r = api.req(method, path, Some(&alice)).header("prefer", prefer);
            if let Some(b) = body {
                r = r.header("content-type", "application/json").body(b);
            }
            let resp = r.send().await.expect("send");
            let status = resp.status().as_u16();
            let range = resp
                .headers()
                .get("content-range")
                .map(|v| v.to_str().expect("header").to_string());
            (status, range)
        }
    };
    use reqwest::Method as M;
    let patch = Some(r#"{"done": true}"#);
    let put = Some(
        r#"{"id": 1, "owner": "11111111-1111-1111-1111-111111111111", "list_id": 1, "title": "alice 1", "done": false}"#,
    );
    let some = |s: &str| Some(s.to_string());
    // Updates: the range of rows they touched, whatever they return.
    assert_eq!(
        run(M::PATCH, "/todos?owner=not.is.null", "", patch).await,
        (204, some("0-1/*"))
    );
    assert_eq!(
        run(
            M::PATCH,
            "/todos?owner=not.is.null",
            "return=representation",
            patch
        )
        .await,
        (200, some("0-1/*"))
    );
    assert_eq!(
        run(M::PATCH, "/todos?owner=not.is.null", "count=exact", patch).await,
        (204, some("0-1/2"))
    );
    assert_eq!(
        run(M::PATCH, "/todos?id=eq.999", "", patch).await,
        (204, some("*/*"))
    );
    assert_eq!(
        run(M::PATCH, "/todos?id=eq.999", "count=exact", patch).await,
        (204, some("*/0"))
    );
    // Deletes, like inserts: `*/total`.
    assert_eq!(
        run(M::DELETE, "/todos?title=eq.alice%202", "", None).await,
        (204, some("*/*"))
    );
    assert_eq!(
        run(
            M::DELETE,
            "/todos?title=eq.alice%201",
            "return=representation, count=exact",
            None
        )
        .await,
        (200, some("*/1"))
    );
    assert_eq!(
        run(
            M::DELETE,
            "/todos?title=eq.nothing",
            "return=representation",
            None
        )
        .await,
        (200, some("*/*"))
    );
    // A single-row PUT: 204 without a representation, and no Content-Range.
    assert_eq!(
        run(M::PUT, "/todos?id=eq.1", "return=minimal", put).await,
        (204, None)
    );
    assert_eq!(run(M::PUT, "/todos?id=eq.1", "", put).await, (204, None));
    assert_eq!(
        run(M::PUT, "/todos?id=eq.1", "return=headers-only", put).await,
        (204, None)
    );
    assert_eq!(
        run(M::PUT, "/todos?id=eq.1", "return=representation", put).await,
        (200, None)
    );
    // Inserts: `*/total`.
    assert_eq!(
        run(M::POST, "/todos", "", Some(r#"{"title": "new one"}"#)).await,
        (201, some("*/*"))
    );
    assert_eq!(
        run(
            M::POST,
            "/todos",
            "return=representation, count=exact",
            Some(r#"[{"title": "n2"}, {"title": "n3"}]"#)
        )
        .await,
        (201, some("*/2"))
    );
}

#[tokio::test]
async fn options_lists_what_the_target_allows() {
    let api = Api::start().await;
    let allow = |path: &'static str| {
        let api = &api;
        async move {
            let r = api
                .req(reqwest::Method::OPTIONS, path, Some(&user(ALICE)))
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let allow = r
                .headers()
                .get("allow")
                .map(|v| v.to_str().expect("allow").to_string());
            (status, allow)
        }
    };
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        allow("/todos").await,
        (200, some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"))
    );
    assert_eq!(allow("/").await, (200, some("OPTIONS,GET,HEAD")));
    // Immutable functions may be read with GET; volatile ones only POSTed.
    assert_eq!(
        allow("/rpc/add").await,
        (200, some("OPTIONS,GET,HEAD,POST"))
    );
    api._db
        .client()
        .await
        .batch_execute("create function public.bump() returns int language sql as $$ select 1 $$;")
        .await
        .expect("function");
    reloaded(&api, "/rpc/bump").await;
    assert_eq!(allow("/rpc/bump").await, (200, some("OPTIONS,POST")));
    let (s, _) = allow("/nope").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn related_orders_through_an_alias_and_json_path_names() {
    let api = Api::start().await;
    let (s, _, body) = send(
        &api,
        reqwest::Method::GET,
        "/todos?select=title,l:lists(name)&order=l(name).desc,title",
        &[],
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"title": "alice 2", "l": {"name": "work"}},
            {"title": "alice 1", "l": {"name": "home"}}
        ])
    );
}

#[tokio::test]
async fn a_plan_without_json_is_text() {
    let api = Api::start_with(|c| c.plan_enabled = true).await;
    for (accept, json) in [
        ("application/vnd.pgrst.plan", false),
        ("application/vnd.pgrst.plan+text", false),
        ("application/vnd.pgrst.plan+json", true),
    ] {
        let r = api
            .req(reqwest::Method::GET, "/todos", Some(&user(ALICE)))
            .header("accept", accept)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200, "{accept}");
        let ct = r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .to_string();
        let text = r.text().await.expect("body");
        assert_eq!(
            serde_json::from_str::<Value>(&text).is_ok(),
            json,
            "{accept}: {ct}: {text}"
        );
        assert!(
            ct.starts_with(if json {
                "application/vnd.pgrst.plan+json"
            } else {
                "application/vnd.pgrst.plan+text"
            }),
            "{accept}: {ct}"
        );
    }
}

#[tokio::test]
async fn the_audience_claim_is_checked_as_postgrest_checks_it() {
    let api = Api::start_with(|c| c.jwt_aud = Some("youraudience".into())).await;
    let with_aud =
        |aud: Value| token(json!({"role": "authenticated", "exp": 4_000_000_000u64, "aud": aud}));
    // Matching, listed among others, empty list, null or absent: admitted.
    for aud in [
        json!("youraudience"),
        json!(["notyouraudience", "youraudience"]),
        json!([]),
        Value::Null,
    ] {
        let (s, body) = api
            .json(
                reqwest::Method::GET,
                "/lists?select=id",
                Some(&with_aud(aud.clone())),
            )
            .await;
        assert_eq!(s, 200, "aud {aud}: {body}");
    }
    let no_aud = token(json!({"role": "authenticated", "exp": 4_000_000_000u64}));
    let (s, _) = api
        .json(reqwest::Method::GET, "/lists", Some(&no_aud))
        .await;
    assert_eq!(s, 200);
    // Another audience, or an empty one: refused.
    for aud in [json!("notyouraudience"), json!(""), json!(["a", "b"])] {
        let (s, body) = api
            .json(reqwest::Method::GET, "/lists", Some(&with_aud(aud.clone())))
            .await;
        assert_eq!(s, 401, "aud {aud}");
        assert_eq!(body["code"], "PGRST303", "aud {aud}");
        assert_eq!(body["message"], "JWT not in audience");
    }
}

#[tokio::test]
async fn openapi_names_the_proxy_address_when_one_is_configured() {
    let api = Api::start_with(|c| {
        c.openapi_server_proxy_uri = Some("https://example.com:8443/basePath".into())
    })
    .await;
    let (s, doc) = api.json(reqwest::Method::GET, "/", None).await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(doc["host"], "example.com:8443");
    assert_eq!(doc["basePath"], "/basePath");
    assert_eq!(doc["schemes"], json!(["https"]));
    // Column formats as PostgREST writes them; `title` is NOT NULL with no default.
    let todos = &doc["definitions"]["todos"];
    assert_eq!(todos["properties"]["id"]["format"], "int64");
    assert_eq!(todos["properties"]["done"]["default"], false);
    assert_eq!(todos["required"], json!(["id", "owner", "title", "done"]));
    // Without a proxy: the server's own host (PostgREST's `!4` default is 0.0.0.0).
    let api = Api::start().await;
    let (_, doc) = api.json(reqwest::Method::GET, "/", None).await;
    assert_eq!(doc["basePath"], "/");
    assert_eq!(doc["schemes"], json!(["http"]));
    assert_eq!(doc["host"], "0.0.0.0:3000");
}
