//! Shared set-up of the storage integration tests: a fresh database with the SaaS foundation's
//! storage SQL applied, the service on a free port over a temporary directory, and JWTs minted
//! with the test secret.

#![allow(dead_code)]

use basalt_storage::{Backend, Config};
use basalt_testkit::{TestDb, TestServer};

pub const SECRET: &str = "storage-test-secret-with-at-least-32-chars";
pub const SAAS_STORAGE_SQL: &str = include_str!("../fixtures/saas_storage.sql");

pub struct Env {
    pub db: TestDb,
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub config: Config,
}

pub fn config(db: &TestDb, dir: &std::path::Path) -> Config {
    Config {
        db_url: db.url.clone(),
        jwt_secret: SECRET.into(),
        backend: Backend::File {
            root: dir.to_path_buf(),
        },
        pool_size: 8,
        part_size: 256 * 1024,
        ..Config::default()
    }
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Env {
        let db = basalt_testkit::fresh_db().await;
        db.client()
            .await
            .batch_execute(SAAS_STORAGE_SQL)
            .await
            .expect("apply storage SQL");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config(&db, dir.path());
        tweak(&mut config);
        let router = basalt_storage::router(config.clone())
            .await
            .expect("router");
        let server = basalt_testkit::serve(router).await;
        Env {
            db,
            server,
            dir,
            http: reqwest::Client::new(),
            config,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url, path)
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        auth: impl AsRef<str>,
        path: impl AsRef<str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path.as_ref()))
            .header("authorization", auth.as_ref())
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `GET path` with a token.
    pub async fn get(&self, auth: impl AsRef<str>, path: impl AsRef<str>) -> reqwest::Response {
        self.http
            .get(self.url(path.as_ref()))
            .header("authorization", auth.as_ref())
            .send()
            .await
            .expect("request")
    }

    /// Runs SQL as the superuser and returns the first column of every row as text.
    pub async fn sql(&self, q: &str) -> Vec<String> {
        let c = self.db.client().await;
        c.query(&format!("SELECT ({q})::text"), &[])
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .iter()
            .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
            .collect()
    }

    pub async fn count_objects(&self) -> i64 {
        self.db
            .client()
            .await
            .query_one("SELECT count(*) FROM storage.objects", &[])
            .await
            .expect("count")
            .get(0)
    }

    /// Files under the storage directory (bytes of objects and anything left behind).
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

pub fn jwt(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

fn exp() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

pub fn service() -> String {
    format!(
        "Bearer {}",
        jwt(serde_json::json!({"role": "service_role", "iss": "supabase", "exp": exp()}))
    )
}

pub fn anon() -> String {
    format!(
        "Bearer {}",
        jwt(serde_json::json!({"role": "anon", "iss": "supabase", "exp": exp()}))
    )
}

pub fn user(sub: &str) -> String {
    format!(
        "Bearer {}",
        jwt(
            serde_json::json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": exp()})
        )
    )
}

pub const ALICE: &str = "11111111-1111-4111-8111-111111111111";
pub const BOB: &str = "22222222-2222-4222-8222-222222222222";

/// A multipart body as supabase-js sends it for a Blob: `cacheControl`, then the file part with
/// an empty field name.
pub fn multipart(content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----basaltTestBoundary7MA4YWxk";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"\"; filename=\"blob\"\r\n\
             Content-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Asserts a storage-api error: HTTP 400 with `statusCode` as given.
pub async fn expect_error(resp: reqwest::Response, status_code: &str) -> serde_json::Value {
    let http = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("error json");
    assert_eq!(body["statusCode"], status_code, "body: {body}");
    assert!(body["message"].is_string(), "body: {body}");
    assert!(body["error"].is_string(), "body: {body}");
    if status_code != "500" && status_code != "416" {
        assert_eq!(http, 400, "body: {body}");
    }
    body
}

/// Asserts a refusal of the TUS server: HTTP `status`, the `Tus-Resumable` header and the
/// message as a plain-text body.
pub async fn expect_tus_error(resp: reqwest::Response, status: u16, message: &str) {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    let text = resp.text().await.expect("body");
    assert_eq!(text, message);
}

/// Stores `data` at `bucket/path` as the service role (`text/plain`, replacing any object).
pub async fn put_text(env: &Env, bucket: &str, path: &str, data: &[u8]) {
    let r = env
        .http
        .post(env.url(&format!("/object/{bucket}/{path}")))
        .header("authorization", service())
        .header("content-type", "text/plain")
        .header("x-upsert", "true")
        .body(data.to_vec())
        .send()
        .await
        .expect("upload");
    let status = r.status();
    assert_eq!(
        status,
        200,
        "{path}: {}",
        r.text().await.unwrap_or_default()
    );
}
