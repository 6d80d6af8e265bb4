//! The runtime as a supervisor, against real Deno workers: reuse, hot reload, and each fault a
//! function can have (endless loop, memory blow-up, throw at import, syntax error, uncaught
//! error, its process killed) answered with Supabase's status while its neighbours keep
//! answering, and the next call working. Deno is found as basalt finds it; CI installs it with
//! .ci/setup.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use basalt_edge::{Limits, Runtime, Settings};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter("basalt_edge=info")
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .init();
    });
}

const ECHO: &str = r#"
Deno.serve(async (req) => {
  const url = new URL(req.url);
  if (url.searchParams.has("spin")) { while (true) {} }
  if (url.searchParams.has("blow")) { const a = []; while (true) a.push(new Array(1e5).fill(Math.random())); }
  if (url.searchParams.has("throw")) throw new Error("handler exploded");
  if (url.searchParams.has("sleep")) await new Promise((r) => setTimeout(r, Number(url.searchParams.get("sleep"))));
  console.log(`echo called with ${req.method}`);
  return Response.json({ pid: Deno.pid, method: req.method, path: url.pathname, query: url.search, body: await req.text(), secret: Deno.env.get("MY_SECRET") ?? null });
});
"#;

fn project(functions: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, src) in functions {
        write_fn(dir.path(), name, src);
    }
    dir
}

fn write_fn(project: &Path, name: &str, src: &str) {
    let d = project.join("supabase/functions").join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("index.ts"), src).unwrap();
}

fn runtime(dir: &Path, limits: Limits) -> Runtime {
    init_logs();
    let mut s = Settings::from_config(dir, &basalt_config::ProjectConfig::default());
    assert!(
        s.deno.is_some(),
        "these tests need Deno and found none: {} (CI installs it with .ci/setup)",
        basalt_edge::HOW_TO_GET_DENO
    );
    s.limits = limits;
    s.secrets.insert("MY_SECRET".into(), "s3cret".into());
    s.secrets.insert("SUPABASE_URL".into(), "reserved".into());
    Runtime::new(s).unwrap()
}

fn limits() -> Limits {
    Limits {
        wall_clock: Duration::from_secs(3),
        memory_mb: 64,
        ..Limits::default()
    }
}

struct Answer {
    status: u16,
    json: serde_json::Value,
}

async fn call(rt: &Runtime, name: &str, query: &str) -> Answer {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/{name}{query}"))
        .body(axum::body::Body::from("ping"))
        .unwrap();
    let resp = rt.invoke(name, &format!("/{name}{query}"), req).await;
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    Answer { status, json }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_worker_is_reused_and_sees_path_query_body_and_secrets() {
    let dir = project(&[("echo", ECHO)]);
    let rt = runtime(dir.path(), limits());
    let a = call(&rt, "echo", "/sub/path?x=1").await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["path"], "/echo/sub/path");
    assert_eq!(a.json["query"], "?x=1");
    assert_eq!(a.json["body"], "ping");
    assert_eq!(a.json["secret"], "s3cret");
    let b = call(&rt, "echo", "").await;
    assert_eq!(a.json["pid"], b.json["pid"], "the warm worker is reused");
    assert_eq!(call(&rt, "nope", "").await.status, 404);
    // console.log lines reach the log with the function's name.
    let l = logs();
    assert!(
        l.contains("function=echo") && l.contains("echo called with POST"),
        "{l}"
    );
    assert!(l.contains("SUPABASE_URL ignored"), "{l}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_is_stopped_at_the_wall_clock_limit_while_a_neighbour_answers() {
    let dir = project(&[("spin", ECHO), ("echo", ECHO)]);
    let rt = runtime(dir.path(), limits());
    assert_eq!(call(&rt, "spin", "").await.status, 200);
    let rt2 = rt.clone();
    let started = Instant::now();
    let looping = tokio::spawn(async move { call(&rt2, "spin", "?spin").await });
    for _ in 0..5 {
        let t = Instant::now();
        let a = call(&rt, "echo", "").await;
        assert_eq!(a.status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "neighbour slowed down"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let a = looping.await.unwrap();
    assert_eq!(a.status, 504, "{}", a.json);
    assert_eq!(a.json["code"], "WALL_CLOCK_LIMIT");
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(logs().contains("wall-clock limit reached"));
    assert_eq!(
        call(&rt, "spin", "").await.status,
        200,
        "the next call works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_blow_up_answers_546_and_the_next_call_works() {
    let dir = project(&[("blow", ECHO), ("echo", ECHO)]);
    let rt = runtime(dir.path(), limits());
    let before = call(&rt, "echo", "").await;
    let a = call(&rt, "blow", "?blow").await;
    assert_eq!(a.status, 546, "{}", a.json);
    assert_eq!(a.json["code"], "WORKER_LIMIT");
    assert!(logs().contains("memory limit reached"));
    assert_eq!(call(&rt, "blow", "").await.status, 200);
    assert_eq!(call(&rt, "echo", "").await.json["pid"], before.json["pid"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_errors_answer_503_and_a_fix_is_picked_up_without_restart() {
    let dir = project(&[
        (
            "throws",
            "throw new Error('bad config at import');\nDeno.serve(() => new Response('x'));",
        ),
        (
            "syntax",
            "export const x = ;\nDeno.serve(() => new Response('x'));",
        ),
        ("noserve", "export const nothing = 1;"),
    ]);
    let rt = runtime(dir.path(), limits());
    let a = call(&rt, "throws", "").await;
    assert_eq!(a.status, 503, "{}", a.json);
    assert_eq!(a.json["code"], "BOOT_ERROR");
    assert!(a.json["message"]
        .as_str()
        .unwrap()
        .contains("bad config at import"));
    let a = call(&rt, "syntax", "").await;
    assert_eq!(a.status, 503, "{}", a.json);
    assert!(
        a.json["message"].as_str().unwrap().contains("syntax.ts")
            || a.json["message"]
                .as_str()
                .unwrap()
                .contains("Expression expected"),
        "{}",
        a.json
    );
    let a = call(&rt, "noserve", "").await;
    assert_eq!(a.status, 503);
    assert!(a.json["message"].as_str().unwrap().contains("Deno.serve"));
    assert!(logs().contains("boot error"));
    write_fn(dir.path(), "throws", ECHO);
    tokio::time::sleep(basalt_edge::RECHECK).await;
    assert_eq!(call(&rt, "throws", "").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncaught_error_answers_500_and_the_worker_lives_on() {
    let dir = project(&[("echo", ECHO)]);
    let rt = runtime(dir.path(), limits());
    let pid = call(&rt, "echo", "").await.json["pid"].clone();
    let a = call(&rt, "echo", "?throw").await;
    assert_eq!(a.status, 500);
    assert_eq!(a.json["code"], "WORKER_ERROR");
    assert!(a.json["message"]
        .as_str()
        .unwrap()
        .contains("handler exploded"));
    assert_eq!(call(&rt, "echo", "").await.json["pid"], pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_with_sigkill_answers_500_and_is_restarted() {
    let dir = project(&[("echo", ECHO)]);
    let rt = runtime(dir.path(), limits());
    let pid = call(&rt, "echo", "").await.json["pid"].as_i64().unwrap();
    let rt2 = rt.clone();
    let slow = tokio::spawn(async move { call(&rt2, "echo", "?sleep=2000").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let a = slow.await.unwrap();
    assert_eq!(a.status, 500, "{}", a.json);
    assert_eq!(a.json["code"], "WORKER_ERROR");
    assert!(a.json["message"].as_str().unwrap().contains("SIGKILL"));
    assert!(logs().contains("worker exited while serving"));
    let again = call(&rt, "echo", "").await;
    assert_eq!(again.status, 200);
    assert_ne!(again.json["pid"].as_i64().unwrap(), pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_bounded_and_idle_workers_retire() {
    let dir = project(&[("a", ECHO), ("b", ECHO), ("c", ECHO)]);
    let rt = runtime(
        dir.path(),
        Limits {
            max_workers: 2,
            idle_timeout: Duration::from_millis(1500),
            ..limits()
        },
    );
    for f in ["a", "b", "c"] {
        assert_eq!(call(&rt, f, "").await.status, 200);
    }
    let live: Vec<String> = rt.live_workers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        live,
        ["b", "c"],
        "the least recently used worker was retired"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(rt.live_workers().is_empty(), "idle workers retire");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_of_one_function_are_bounded() {
    let dir = project(&[("echo", ECHO)]);
    let rt = runtime(
        dir.path(),
        Limits {
            max_concurrent: 1,
            ..limits()
        },
    );
    assert_eq!(call(&rt, "echo", "").await.status, 200);
    let t = Instant::now();
    let (a, b) = tokio::join!(
        call(&rt, "echo", "?sleep=600"),
        call(&rt, "echo", "?sleep=600")
    );
    assert_eq!((a.status, b.status), (200, 200));
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_the_call() {
    let src = r#"
let aborted = 0;
Deno.serve((req) => {
  if (new URL(req.url).searchParams.has("count")) return Response.json({ aborted });
  req.signal.addEventListener("abort", () => { aborted++; });
  let timer;
  const body = new ReadableStream({
    start(c) { timer = setInterval(() => c.enqueue(new TextEncoder().encode("data: tick\n\n")), 50); },
    cancel() { clearInterval(timer); },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
});
"#;
    let dir = project(&[("sse", src)]);
    let rt = runtime(dir.path(), limits());
    let rt2 = rt.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let rt = rt2.clone();
        async move {
            let p = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            rt.invoke("sse", &p, req).await
        }
    });
    let server = basalt_testkit::serve(app).await;
    let mut resp = reqwest::get(format!("{}/sse", server.url)).await.unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("tick"));
    drop(resp);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = call(&rt, "sse", "?count").await;
    assert_eq!(n.json["aborted"], 1, "{}", n.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_functions_deno_json_import_map_and_shared_modules_resolve() {
    let dir = project(&[(
        "mapped",
        "import { greet } from 'greeting';\nimport { shout } from '../_shared/shout.ts';\nDeno.serve(() => new Response(shout(greet('basalt'))));",
    )]);
    let f = dir.path().join("supabase/functions");
    std::fs::write(
        f.join("mapped/deno.json"),
        r#"{ "imports": { "greeting": "./lib/greeting.ts" } }"#,
    )
    .unwrap();
    std::fs::create_dir_all(f.join("mapped/lib")).unwrap();
    std::fs::write(
        f.join("mapped/lib/greeting.ts"),
        "export const greet = (n: string) => `hello ${n}`;",
    )
    .unwrap();
    std::fs::create_dir_all(f.join("_shared")).unwrap();
    std::fs::write(
        f.join("_shared/shout.ts"),
        "export const shout = (s: string) => s.toUpperCase();",
    )
    .unwrap();
    let rt = runtime(dir.path(), limits());
    let a = call(&rt, "mapped", "").await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json, "HELLO BASALT");
    // An edit under _shared/ is picked up by the next call.
    std::fs::write(
        f.join("_shared/shout.ts"),
        "export const shout = (s: string) => s + '!';",
    )
    .unwrap();
    tokio::time::sleep(basalt_edge::RECHECK).await;
    assert_eq!(call(&rt, "mapped", "").await.json, "hello basalt!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_streams_to_the_function_without_buffering() {
    // The function answers with the first chunk of the body while the rest is still unsent.
    let src = r#"
Deno.serve(async (req) => {
  const reader = req.body.getReader();
  const { value } = await reader.read();
  return new Response(new TextDecoder().decode(value));
});
"#;
    let dir = project(&[("first", src)]);
    let rt = runtime(dir.path(), limits());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    tx.send(Ok(bytes::Bytes::from_static(b"first chunk")))
        .await
        .unwrap();
    let body = axum::body::Body::from_stream(tokio_stream_from(rx));
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/first")
        .body(body)
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), rt.invoke("first", "/first", req))
        .await
        .expect("the function answered before the request body ended");
    assert_eq!(resp.status(), 200);
    let text = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(&text[..], b"first chunk");
    drop(tx);
}

/// A receiver as a stream of body chunks (the sender stays open: the body never ends on its own).
fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}
