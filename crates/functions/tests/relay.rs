//! The functions relay against a real HTTP function server on loopback.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use axum::routing::any;

const SECRET: &str = "functions-test-secret-with-at-least-32-chars";

fn token(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A function runtime that echoes what it received.
async fn echo(req: axum::extract::Request) -> axum::response::Response {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let auth = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    axum::response::Response::builder()
        .status(if uri.contains("fail") { 418 } else { 200 })
        .header("content-type", "application/json")
        .header("x-fn", "echo")
        .body(axum::body::Body::from(
            serde_json::json!({"method": method, "uri": uri, "auth": auth, "body": String::from_utf8_lossy(&body)}).to_string(),
        ))
        .unwrap()
}

async fn relay(upstream: Option<String>, verify: &[(&str, bool)]) -> basalt_testkit::TestServer {
    let config = basalt_functions::Config {
        listen: None,
        upstream,
        jwt_secret: SECRET.into(),
        keys: None,
        verify_jwt: verify.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        edge: None,
    };
    basalt_testkit::serve(basalt_functions::router(config).await.unwrap()).await
}

#[tokio::test]
async fn calls_are_relayed_with_method_path_query_headers_and_body() {
    let runtime = basalt_testkit::serve(axum::Router::new().fallback(any(echo))).await;
    let r = relay(Some(runtime.url.clone()), &[]).await;
    let jwt = token(serde_json::json!({"role": "anon"}), SECRET);
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/hello-world/sub/path?x=1", r.url))
        .header("authorization", format!("Bearer {jwt}"))
        .body("{\"name\":\"basalt\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-fn"], "echo");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["uri"], "/hello-world/sub/path?x=1");
    assert_eq!(v["auth"], format!("Bearer {jwt}"));
    assert_eq!(v["body"], "{\"name\":\"basalt\"}");
    // The function's own status comes back unchanged, without the relay-error marker.
    let resp = http
        .get(format!("{}/fail", r.url))
        .header("authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 418);
    assert!(resp.headers().get("x-relay-error").is_none());
}

#[tokio::test]
async fn jwt_is_verified_unless_the_function_opts_out() {
    let runtime = basalt_testkit::serve(axum::Router::new().fallback(any(echo))).await;
    let r = relay(Some(runtime.url.clone()), &[("webhook", false)]).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/private", r.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "Missing authorization header");
    let forged = token(
        serde_json::json!({"role": "service_role"}),
        "another-secret-entirely-000000000",
    );
    let resp = http
        .post(format!("{}/private", r.url))
        .header("authorization", format!("Bearer {forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["message"],
        "Invalid JWT"
    );
    let resp = http
        .post(format!("{}/webhook", r.url))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "verify_jwt = false lets unauthenticated calls through"
    );
}

#[tokio::test]
async fn relay_failures_are_marked_for_supabase_js() {
    let jwt = token(serde_json::json!({"role": "anon"}), SECRET);
    let http = reqwest::Client::new();
    let none = relay(None, &[]).await;
    let resp = http
        .post(format!("{}/anything", none.url))
        .header("authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["x-relay-error"], "true");
    // A runtime that is not listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = relay(Some(format!("http://127.0.0.1:{port}")), &[]).await;
    let resp = http
        .post(format!("{}/anything", dead.url))
        .header("authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["x-relay-error"], "true");
}

/// A runtime whose `/moved` redirects and whose other paths echo.
async fn redirecting(req: axum::extract::Request) -> axum::response::Response {
    if req.uri().path().ends_with("/moved") {
        return axum::response::Response::builder()
            .status(302)
            .header("location", "https://example.invalid/elsewhere")
            .body(axum::body::Body::empty())
            .unwrap();
    }
    echo(req).await
}

#[tokio::test]
async fn paths_are_forwarded_as_sent_and_never_leave_the_function() {
    let runtime = basalt_testkit::serve(axum::Router::new().fallback(any(redirecting))).await;
    let r = relay(Some(runtime.url.clone()), &[("open", false)]).await;
    let jwt = token(serde_json::json!({"role": "anon"}), SECRET);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| {
        http.get(format!("{}{path}", r.url))
            .header("authorization", format!("Bearer {jwt}"))
            .send()
    };
    // Encoded separators stay inside their segment.
    let v: serde_json::Value = get("/fn/a%2Fb/x%3Fy?q=1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["uri"], "/fn/a%2Fb/x%3Fy?q=1");
    // Dot segments, encoded or not, and names that are not one segment answer 404 and reach
    // nothing: the `open` function (verify_jwt = false) cannot be reached through another name.
    // (Sent raw: an HTTP client library would resolve the dot segments itself.)
    for path in [
        "/fn/%2e%2e/open",
        "/fn/../open",
        "/fn/%2E%2E",
        "/..%2Fopen",
        "/fn%2F..%2Fopen",
    ] {
        assert_eq!(raw_status(&r.url, path, &jwt).await, 404, "{path}");
    }
    // A function's redirect reaches the caller.
    let resp = get("/fn/moved").await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        "https://example.invalid/elsewhere"
    );
}

#[tokio::test]
async fn tokens_are_checked_by_the_shared_identity_rules() {
    let runtime = basalt_testkit::serve(axum::Router::new().fallback(any(echo))).await;
    let r = relay(Some(runtime.url.clone()), &[]).await;
    let http = reqwest::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let call = |auth: String| {
        http.post(format!("{}/fn", r.url))
            .header("authorization", auth)
            .send()
    };
    let good = token(serde_json::json!({"role": "anon", "exp": now + 60}), SECRET);
    assert_eq!(call(format!("BEARER {good}")).await.unwrap().status(), 200);
    let expired = token(serde_json::json!({"role": "anon", "exp": now - 10}), SECRET);
    assert_eq!(
        call(format!("Bearer {expired}")).await.unwrap().status(),
        401
    );
    let early = token(
        serde_json::json!({"role": "anon", "nbf": now + 600}),
        SECRET,
    );
    assert_eq!(call(format!("Bearer {early}")).await.unwrap().status(), 401);
}

/// The status of a GET of `path` sent byte for byte as given.
async fn raw_status(base: &str, path: &str, jwt: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {jwt}\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
