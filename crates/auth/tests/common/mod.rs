//! Test helpers: a fresh database, the auth router served on a free port, keys signed with the
//! test secret, and a small JSON client.
#![allow(dead_code)]

use basalt_auth::Config;
use reqwest::Method;
use serde_json::{json, Value};

pub const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

pub struct Auth {
    pub db: basalt_testkit::TestDb,
    pub server: basalt_testkit::TestServer,
    pub http: reqwest::Client,
    pub anon: String,
    pub service: String,
}

/// A configuration for tests: autoconfirm on unless the tweak says otherwise.
pub fn config(db_url: &str) -> Config {
    let mut c = Config {
        db_url: db_url.to_string(),
        external_url: "http://127.0.0.1:54321/auth/v1".into(),
        site_url: "http://localhost:3000".into(),
        pool_size: 4,
        ..Default::default()
    };
    c.jwt.secret = SECRET.into();
    c.jwt.issuer = "http://127.0.0.1:54321/auth/v1".into();
    c.mailer.autoconfirm = true;
    c.mailer.max_frequency = std::time::Duration::from_secs(0);
    c
}

pub fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

pub async fn start(tweak: impl FnOnce(&mut Config)) -> Auth {
    let db = basalt_testkit::fresh_db().await;
    let mut c = config(&db.url);
    tweak(&mut c);
    let router = basalt_auth::router(c).await.expect("router");
    let server = basalt_testkit::serve(router).await;
    let now = chrono::Utc::now().timestamp();
    Auth {
        db,
        server,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        anon: sign(&json!({"role": "anon", "iss": "supabase-demo", "exp": now + 3600})),
        service: sign(&json!({"role": "service_role", "iss": "supabase-demo", "exp": now + 3600})),
    }
}

/// A response: status, headers and JSON body (`Null` when not JSON).
pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Res {
    /// Assert an error answer in the 2024-01-01 shape: its status, `code` and, when given,
    /// `message`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, message: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        if let Some(m) = message {
            assert_eq!(self.body["message"], m, "{}", self.body);
        }
    }
}

impl Auth {
    /// A request the way supabase-js sends it (API version header, bearer `token`).
    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Res {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.server.url, path))
            .header("apikey", &self.anon)
            .header("authorization", format!("Bearer {token}"))
            .header("x-supabase-api-version", "2024-01-01");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        Res {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        let anon = self.anon.clone();
        self.call(Method::POST, path, &anon, Some(body)).await
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Res {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn signup(&self, email: &str, password: &str) -> Res {
        self.post(
            "/signup",
            json!({"email": email, "password": password, "data": {}, "gotrue_meta_security": {}}),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Res {
        self.post(
            "/token?grant_type=password",
            json!({"email": email, "password": password, "gotrue_meta_security": {}}),
        )
        .await
    }

    /// Follow a link from an email against the test server; returns the `Location` it
    /// redirects to (asserting a 303).
    pub async fn follow(&self, link: &str) -> String {
        let res = self.open(link).await;
        assert_eq!(res.status(), 303, "{link}");
        res.headers()
            .get("location")
            .expect("location")
            .to_str()
            .expect("ascii location")
            .to_string()
    }

    /// `GET` a link from an email (under the external URL) against the test server.
    pub async fn open(&self, link: &str) -> reqwest::Response {
        let path = link
            .strip_prefix("http://127.0.0.1:54321/auth/v1")
            .expect("link under the external URL");
        self.http
            .get(format!("{}{}", self.server.url, path))
            .send()
            .await
            .expect("request")
    }

    /// A `POST` to the admin API with the service key.
    pub async fn admin_post(&self, path: &str, body: Value) -> Res {
        let service = self.service.clone();
        self.call(Method::POST, path, &service, Some(body)).await
    }

    /// `PUT /user` as the holder of `token` (supabase-js's `updateUser`).
    pub async fn update_user(&self, token: &str, body: Value) -> Res {
        self.call(Method::PUT, "/user", token, Some(body)).await
    }

    /// Sign up (autoconfirm) and return the session's access token.
    pub async fn signed_up(&self, email: &str, password: &str) -> String {
        let r = self.signup(email, password).await;
        r.body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {}", r.body))
            .to_string()
    }

    /// The `confirmation_token` column of the user with address `email`.
    pub async fn confirmation_token(&self, email: &str) -> String {
        let db = self.db.client().await;
        db.query_one(
            "SELECT confirmation_token FROM auth.users WHERE email = $1",
            &[&email],
        )
        .await
        .expect("user row")
        .get(0)
    }

    /// Messages in the development mailbox for `email`, newest first.
    pub async fn mail(&self, email: &str) -> Vec<Value> {
        let service = self.service.clone();
        let r = self
            .get_as(
                &format!("/basalt/mail?email={}", urlencode(email)),
                &service,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// The one-time code of the newest message to `to` (an address or a number without `+`).
    pub async fn otp(&self, to: &str) -> String {
        let mail = self.mail(to).await;
        mail[0]["otp"].as_str().unwrap_or_default().to_string()
    }
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The claims of a JWT, unverified.
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("jwt payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("claims json")
}

/// Query parameters of a URL's fragment or query.
pub fn params(s: &str) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

/// The action link of a development-mailbox message.
pub fn link_of(m: &Value) -> String {
    m["action_link"].as_str().expect("action link").to_string()
}
