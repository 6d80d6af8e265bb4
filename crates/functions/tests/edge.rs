//! `/functions/v1` on basalt's own runtime: JWT checked per function, then the project's
//! function answers; without Deno, 503 with the relay-error marker.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

const SECRET: &str = "functions-test-secret-with-at-least-32-chars";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["hello", "hook"] {
        let d = dir.path().join("supabase/functions").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("index.ts"),
            format!("Deno.serve((req) => Response.json({{ fn: '{name}', url: new URL(req.url).pathname + new URL(req.url).search, env: Deno.env.get('SUPABASE_URL') }}));"),
        )
        .unwrap();
    }
    dir
}

async fn serve(dir: &std::path::Path, deno: bool) -> basalt_testkit::TestServer {
    let mut edge =
        basalt_edge::Settings::from_config(dir, &basalt_config::ProjectConfig::default());
    if deno {
        assert!(
            edge.deno.is_some(),
            "this test needs Deno: {}",
            basalt_edge::HOW_TO_GET_DENO
        );
    } else {
        edge.deno = None;
    }
    edge.supabase_env
        .push(("SUPABASE_URL".into(), "http://127.0.0.1:1".into()));
    let config = basalt_functions::Config {
        listen: None,
        upstream: None,
        jwt_secret: SECRET.into(),
        keys: None,
        verify_jwt: [("hook".to_string(), false)].into_iter().collect(),
        edge: Some(edge),
    };
    basalt_testkit::serve(basalt_functions::router(config).await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_run_on_basalts_runtime_behind_the_jwt_check() {
    let dir = project();
    let s = serve(dir.path(), true).await;
    let http = reqwest::Client::new();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"role": "anon", "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let r = http.get(format!("{}/hello", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/hello/a/b?x=1", s.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["fn"], "hello");
    assert_eq!(v["url"], "/hello/a/b?x=1");
    assert_eq!(v["env"], "http://127.0.0.1:1");
    // A CORS preflight needs no token: the function answers it.
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{}/hello", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // verify_jwt = false: a webhook without a token.
    let r = http.post(format!("{}/hook", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/missing", s.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn without_deno_calls_answer_503_as_relay_errors() {
    let dir = project();
    let s = serve(dir.path(), false).await;
    let r = reqwest::Client::new()
        .post(format!("{}/hook", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-relay-error"], "true");
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("Deno"), "{v}");
}
