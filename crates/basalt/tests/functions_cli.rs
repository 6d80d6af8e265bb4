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
