//! Requests run as the token's role with that role's own settings, on the `authenticator` login
//! `basalt start` gives REST: a role's `statement_timeout` stops its slow calls, a flood of one
//! role leaves connections for the others, and a token naming a role `authenticator` was not
//! granted (a superuser) is refused by Postgres with PostgREST's error.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SECRET: &str = "roles-test-secret-with-at-least-32-characters";

const SCHEMA: &str = r#"
create function public.sleepy(s float8) returns int language sql volatile as
  $$ select 1 from pg_sleep(s) $$;
create function public.timeout() returns text language sql stable as
  $$ select current_setting('statement_timeout') $$;
create function public.who() returns text language sql stable as $$ select current_user::text $$;
"#;

fn token(role: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"role": role, "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

struct Api {
    url: String,
    http: reqwest::Client,
    db: basalt_testkit::TestDb,
    _server: basalt_testkit::TestServer,
}

impl Api {
    /// REST connected as `basalt start` connects it, on a pool of `pool` connections.
    async fn start(pool: usize) -> Api {
        let db = basalt_testkit::fresh_db().await;
        db.client()
            .await
            .batch_execute(SCHEMA)
            .await
            .expect("schema");
        // As `Config::from_platform` connects: logged in as authenticator over the socket.
        let db_uri = basalt_pg::platform::local_url_as(&db.url, basalt_pg::platform::AUTHENTICATOR)
            .expect("a socket URL");
        assert!(db_uri.contains("authenticator@"), "{db_uri}");
        let config = basalt_rest::Config {
            db_uri,
            pool_size: pool,
            schemas: vec!["public".into()],
            anon_role: Some("anon".into()),
            jwt_secret: Some(SECRET.into()),
            auth_configured: true,
            ..basalt_rest::Config::default()
        };
        let server =
            basalt_testkit::serve(basalt_rest::router(config).await.expect("router")).await;
        Api {
            url: server.url.clone(),
            http: reqwest::Client::new(),
            db,
            _server: server,
        }
    }

    /// `POST /rpc/{f}` with `body`, as `role` (`None`: anonymous).
    async fn rpc(&self, role: Option<&str>, f: &str, body: Value) -> (u16, Value, Duration) {
        let mut req = self.http.post(format!("{}/rpc/{f}", self.url)).json(&body);
        if let Some(r) = role {
            req = req.bearer_auth(token(r));
        }
        let started = Instant::now();
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body, started.elapsed())
    }
}

#[tokio::test]
async fn a_role_statement_timeout_stops_its_slow_calls() {
    let api = Api::start(4).await;
    // The database-specific setting wins over the platform's role-wide 3s, as at login.
    api.db
        .client()
        .await
        .batch_execute(
            "do $$ begin execute format('alter role anon in database %I set statement_timeout = %L',
                                        current_database(), '1s'); end $$",
        )
        .await
        .expect("alter role");
    let (status, body, took) = api.rpc(None, "sleepy", json!({"s": 5})).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["code"], "57014", "{body}");
    assert_eq!(
        body["message"],
        "canceling statement due to statement timeout"
    );
    assert!(body.get("details").is_some() && body.get("hint").is_some());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(3000),
        "stopped after about the timeout: {took:?}"
    );
    // Each role runs with its own settings; the connection's own are left for the next request.
    let (_, anon, _) = api.rpc(None, "timeout", json!({})).await;
    assert_eq!(anon, "1s");
    let (_, authed, _) = api.rpc(Some("authenticated"), "timeout", json!({})).await;
    assert_eq!(authed, "8s");
    let (_, anon, _) = api.rpc(None, "timeout", json!({})).await;
    assert_eq!(anon, "1s");
}

#[tokio::test]
async fn role_settings_are_read_again_on_schema_reload() {
    let api = Api::start(2).await;
    let (_, before, _) = api.rpc(Some("authenticated"), "timeout", json!({})).await;
    assert_eq!(before, "8s");
    api.db
        .client()
        .await
        .batch_execute(
            "do $$ begin execute format('alter role authenticated in database %I set statement_timeout = %L',
                                        current_database(), '7s'); end $$;
             notify pgrst, 'reload schema';",
        )
        .await
        .expect("alter role");
    let mut seen = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = api.rpc(Some("authenticated"), "timeout", json!({})).await.1;
        if seen == "7s" {
            break;
        }
    }
    assert_eq!(seen, "7s");
}

#[tokio::test]
async fn a_flood_of_one_role_leaves_connections_for_the_others() {
    let api = std::sync::Arc::new(Api::start(4).await);
    // Twice as many slow anonymous calls as the pool has connections.
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.rpc(None, "sleepy", json!({"s": 2.0})).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for role in ["service_role", "authenticated"] {
        let (status, who, took) = api.rpc(Some(role), "who", json!({})).await;
        assert_eq!((status, who), (200, json!(role)));
        assert!(
            took < Duration::from_millis(1000),
            "{role} answered while anon floods: {took:?}"
        );
    }
    for s in slow {
        let (status, _, _) = s.await.expect("join");
        assert_eq!(status, 200, "the flood is served in turn");
    }
}

#[tokio::test]
async fn tokens_naming_a_superuser_are_refused() {
    let api = Api::start(2).await;
    for role in ["postgres", "supabase_admin"] {
        let (status, body, _) = api.rpc(Some(role), "who", json!({})).await;
        assert_eq!(status, 403, "{role}: {body}");
        assert_eq!(body["code"], "42501");
        assert_eq!(
            body["message"],
            format!("permission denied to set role \"{role}\"")
        );
    }
    let (status, who, _) = api.rpc(None, "who", json!({})).await;
    assert_eq!((status, who), (200, json!("anon")));
    for role in ["anon", "authenticated", "service_role"] {
        let (status, who, _) = api.rpc(Some(role), "who", json!({})).await;
        assert_eq!((status, who), (200, json!(role)));
    }
}
