//! `basalt functions new` scaffolds as the Supabase CLI does and `basalt functions list` shows
//! it with its entry point.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::process::Command;

fn basalt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn functions_new_then_list() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("supabase")).unwrap();
    std::fs::write(
        dir.path().join("supabase/config.toml"),
        "project_id = \"cli\"\n[functions.hook]\nverify_jwt = false\n",
    )
    .unwrap();
    let project = dir.path().to_str().unwrap();
    for name in ["hello-world", "hook"] {
        let out = basalt(&["functions", "new", name, "--project", project]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let index = dir.path().join("supabase/functions/hello-world/index.ts");
    assert!(std::fs::read_to_string(index)
        .unwrap()
        .contains("Deno.serve("));
    let again = basalt(&["functions", "new", "hook", "--project", project]);
    assert!(!again.status.success());
    let out = basalt(&["functions", "list", "--project", project]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("hello-world") && text.contains("supabase/functions/hello-world/index.ts"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("hook") && l.contains("verify_jwt=false")),
        "{text}"
    );
}

/// A raw HTTP/1.1 request on loopback; the whole answer as text.
fn http(port: u16, request: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn functions_serve_runs_the_project_functions_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("supabase")).unwrap();
    std::fs::write(
        dir.path().join("supabase/config.toml"),
        "project_id = \"serve\"\n",
    )
    .unwrap();
    let project = dir.path().to_str().unwrap();
    assert!(
        basalt(&["functions", "new", "hello-world", "--project", project])
            .status
            .success()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "functions-serve-secret-with-at-least-32-chars";
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args([
            "functions",
            "serve",
            "--project",
            project,
            "--port",
            &port.to_string(),
        ])
        .env("BASALT_JWT_SECRET", secret)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"role": "anon", "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let body = r#"{"name":"Functions"}"#;
    let request = format!(
        "POST /hello-world HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut answer = None;
    for _ in 0..100 {
        if let Some(a) = http(port, &request) {
            answer = Some(a);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let answer = answer.unwrap_or_else(|| {
        panic!(
            "functions serve never answered: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#"{"message":"Hello Functions!"}"#),
        "{answer}"
    );
}
