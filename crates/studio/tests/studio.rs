#![allow(clippy::unwrap_used)]
//! The Studio backend over HTTP against a real Postgres: access control (no session → 401,
//! CSRF token and same origin required, sign-in rate limited), SQL (results per statement, error
//! positions, cancel) and the in-process API calls carrying the service key.

use std::time::Duration;

use axum::routing::any;
use serde_json::{json, Value};

const SECRET: &str = "studio-test-secret-with-at-least-32-characters";
const PASSWORD: &str = "correct horse battery staple";

struct Studio {
    url: String,
    http: reqwest::Client,
    _db: basalt_testkit::TestDb,
    _task: tokio::task::JoinHandle<()>,
}

/// A stand-in for the composed API: echoes what it was sent.
fn echo_api() -> axum::Router {
    axum::Router::new().fallback(any(|req: axum::extract::Request| async move {
        let h = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        axum::Json(json!({
            "path": req.uri().to_string(),
            "method": req.method().as_str(),
            "apikey": h("apikey"),
            "authorization": h("authorization"),
            "cookie": h("cookie"),
            "csrf": h("x-csrf-token"),
        }))
    }))
}

async fn studio(limits: basalt_studio::Limits) -> Studio {
    let db = basalt_testkit::fresh_db().await;
    let router = basalt_studio::router(basalt_studio::Config {
        db_url: db.url.clone(),
        password: PASSWORD.into(),
        jwt_secret: SECRET.into(),
        service_key: "service-key".into(),
        anon_key: "anon-key".into(),
        api_url: "http://127.0.0.1:1".into(),
        schemas: vec!["public".into()],
        api: echo_api(),
        login_limit: limits,
        backups: None,
        requests: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = basalt_gateway::serve(listener, router, std::future::pending()).await;
    });
    Studio {
        url,
        http: reqwest::Client::new(),
        _db: db,
        _task: task,
    }
}

struct Signed {
    cookie: String,
    csrf: String,
}

impl Studio {
    /// GET `path`, with the session's cookie when given; the JSON body.
    async fn get_json(&self, path: &str, cookie: Option<&str>) -> Value {
        let mut r = self.http.get(format!("{}{path}", self.url));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send().await.unwrap().json().await.unwrap()
    }

    /// A call of the signed-in page: cookie and CSRF token.
    fn signed(&self, method: reqwest::Method, path: &str, s: &Signed) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .header("cookie", &s.cookie)
            .header("x-csrf-token", &s.csrf)
    }

    async fn login(&self, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/login", self.url))
            .json(&json!({ "password": password }))
            .send()
            .await
            .unwrap()
    }

    async fn sign_in(&self) -> Signed {
        let r = self.login(PASSWORD).await;
        assert_eq!(r.status(), 200);
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attr), "{set}");
        }
        let cookie = set.split(';').next().unwrap().to_string();
        let body: Value = r.json().await.unwrap();
        Signed {
            cookie,
            csrf: body["csrf"].as_str().unwrap().to_string(),
        }
    }

    async fn sql(&self, s: &Signed, sql: &str, id: Option<&str>) -> Value {
        let r = self
            .signed(reqwest::Method::POST, "/api/sql", s)
            .json(&json!({ "sql": sql, "id": id }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

#[tokio::test]
async fn nothing_but_the_page_without_a_session() {
    let s = studio(Default::default()).await;
    let page = s.http.get(&s.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(page.text().await.unwrap().contains("basalt Studio"));
    for path in [
        "/api/meta",
        "/api/rest/items",
        "/api/auth/admin/users",
        "/api/storage/bucket",
    ] {
        let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = s
        .http
        .post(format!("{}/api/sql", s.url))
        .json(&json!({ "sql": "select 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A forged or foreign cookie is no session either.
    let forged = "basalt_studio=s1.99999999999.AAAAAAAAAAAAAAAAAAAAAA.AAAA";
    let r = s
        .http
        .get(format!("{}/api/meta", s.url))
        .header("cookie", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let session = s.get_json("/api/session", None).await;
    assert_eq!(session["csrf"], Value::Null);
}

#[tokio::test]
async fn state_changes_need_the_csrf_token_and_the_same_origin() {
    let s = studio(Default::default()).await;
    let signed = s.sign_in().await;
    let post = |token: Option<&str>, origin: Option<&str>| {
        let mut r = s
            .http
            .post(format!("{}/api/sql", s.url))
            .header("cookie", &signed.cookie)
            .json(&json!({ "sql": "create table t (id int)" }));
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_eq!(post(None, None).await.unwrap().status(), 403);
    assert_eq!(post(Some("forged"), None).await.unwrap().status(), 403);
    assert_eq!(
        post(Some(&signed.csrf), Some("https://evil.example"))
            .await
            .unwrap()
            .status(),
        403
    );
    // A cross-site form post of the proxy is refused the same way.
    let r = s
        .http
        .post(format!("{}/api/rest/items", s.url))
        .header("cookie", &signed.cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Nothing ran.
    let out = s
        .sql(&signed, "select to_regclass('t') is null", None)
        .await;
    assert_eq!(out["results"][0]["rows"][0][0], "t");
    // Same origin with the token: runs.
    let own = s.url.clone();
    assert_eq!(
        post(Some(&signed.csrf), Some(&own)).await.unwrap().status(),
        200
    );
    // The session endpoint gives the same token back to a reloaded page.
    let session = s.get_json("/api/session", Some(&signed.cookie)).await;
    assert_eq!(session["csrf"], signed.csrf.as_str());
    // Signing in from another site is refused too.
    let r = s
        .http
        .post(format!("{}/api/login", s.url))
        .header("origin", "https://evil.example")
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited() {
    let s = studio(basalt_studio::Limits {
        per_client: 3,
        total: 100,
    })
    .await;
    for _ in 0..3 {
        assert_eq!(s.login("guess").await.status(), 401);
    }
    let r = s.login("guess").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Even the right password waits for the window to pass.
    assert_eq!(s.login(PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn sql_gives_a_result_per_statement_and_error_positions() {
    let s = studio(Default::default()).await;
    let signed = s.sign_in().await;
    let out = s
        .sql(
            &signed,
            "create table notes (id int, body text);\ninsert into notes values (1, 'a'), (2, null);\nselect * from notes order by id",
            None,
        )
        .await;
    assert_eq!(out["error"], Value::Null);
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["row_count"], 2);
    assert_eq!(results[2]["columns"], json!(["id", "body"]));
    assert_eq!(results[2]["rows"], json!([["1", "a"], ["2", null]]));
    assert_eq!(out["role"], "postgres");

    let out = s.sql(&signed, "select 1;\nselect * fro notes", None).await;
    let e = &out["error"];
    assert_eq!(e["code"], "42601", "{out}");
    assert_eq!(e["line"], 2);
    assert_eq!(e["column"], 10);
    assert_eq!(e["position"], 20);
    assert_eq!(e["completed"], 0, "a syntax error stops the whole text");
}

#[tokio::test]
async fn a_running_query_can_be_cancelled() {
    let s = studio(Default::default()).await;
    let signed = s.sign_in().await;
    let slow = s.sql(&signed, "select pg_sleep(30)", Some("slow-1"));
    let cancel = async {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let r: Value = s
                .signed(reqwest::Method::POST, "/api/sql/cancel", &signed)
                .json(&json!({ "id": "slow-1" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if r["cancelled"] == true {
                return;
            }
        }
        panic!("never found the running query");
    };
    let started = std::time::Instant::now();
    let (out, ()) = tokio::join!(slow, cancel);
    assert_eq!(out["error"]["code"], "57014", "{out}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn api_calls_carry_the_service_key_and_not_the_session() {
    let s = studio(Default::default()).await;
    let signed = s.sign_in().await;
    let r = s
        .get_json("/api/rest/items?select=*&id=eq.1", Some(&signed.cookie))
        .await;
    assert_eq!(r["path"], "/rest/v1/items?select=*&id=eq.1");
    assert_eq!(r["apikey"], "service-key");
    assert_eq!(r["authorization"], "Bearer service-key");
    assert_eq!(r["cookie"], Value::Null);
    let r: Value = s
        .signed(reqwest::Method::DELETE, "/api/storage/object/b", &signed)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["path"].as_str(), r["method"].as_str()),
        (Some("/storage/v1/object/b"), Some("DELETE"))
    );
    assert_eq!(r["csrf"], Value::Null);
    let r = s
        .http
        .get(format!("{}/api/other/x", s.url))
        .header("cookie", &signed.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
