//! The `basalt` command line on bad input and across restarts: every failure is one line and a
//! non-zero exit, and nothing already in the database is lost.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::path::Path;
use std::process::{Command, Output};

fn basalt(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_basalt"));
    cmd.args(args).env("BASALT_LOG", "error");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run basalt")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The last non-empty line of stderr, which must be the whole error.
fn error_line(o: &Output) -> String {
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "exactly one error line, got: {err}");
    lines[0].to_string()
}

fn project(dir: &Path, migrations: &[(&str, &str)]) {
    let m = dir.join("supabase/migrations");
    std::fs::create_dir_all(&m).unwrap();
    for (name, sql) in migrations {
        std::fs::write(m.join(name), sql).unwrap();
    }
}

#[tokio::test]
async fn broken_migration_stops_with_file_statement_and_error_and_keeps_earlier_ones() {
    let db = basalt_testkit::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        &[
            (
                "0001_ok.sql",
                "create table kept (id int primary key);\ninsert into kept values (1);",
            ),
            (
                "0002_broken.sql",
                "create table half (id int);\n\nselect * from\n  no_such_table;",
            ),
        ],
    );
    let p = dir.path().to_str().unwrap();
    let out = basalt(&["db", "push", "--project", p, "--db-url", &db.url], &[]);
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains("0002_broken.sql"), "{line}");
    assert!(line.contains("statement 2"), "{line}");
    assert!(line.contains("line 4"), "{line}");
    assert!(line.contains("no_such_table"), "{line}");
    let c = db.client().await;
    let kept: i64 = c
        .query_one("SELECT count(*) FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
    let half: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'half'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(half, 0, "the failing migration is rolled back entirely");
    let versions: Vec<String> = c
        .query(
            "SELECT version FROM supabase_migrations.schema_migrations",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec!["0001"]);

    // Fixing the file lets the next push continue from there.
    std::fs::write(
        dir.path().join("supabase/migrations/0002_broken.sql"),
        "create table half (id int);",
    )
    .unwrap();
    let out = basalt(&["db", "push", "--project", p, "--db-url", &db.url], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn corrupt_config_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), &[]);
    std::fs::write(dir.path().join("supabase/config.toml"), "[api\nport = 1\n").unwrap();
    let out = basalt(&["start", "--project", dir.path().to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains("config.toml"), "{line}");
    assert!(
        !dir.path().join(".basalt/pg").exists(),
        "nothing was started"
    );
}

#[test]
fn missing_postgres_binaries_name_the_package() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), &[]);
    let out = basalt(
        &[
            "start",
            "--project",
            dir.path().to_str().unwrap(),
            "--port",
            "0",
        ],
        &[("BASALT_PG_BIN", "/nonexistent/bin")],
    );
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains("/nonexistent/bin"), "{line}");
}

#[test]
fn http_port_in_use_is_refused_before_touching_the_database() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), &[]);
    let out = basalt(
        &[
            "start",
            "--project",
            dir.path().to_str().unwrap(),
            "--port",
            &port,
        ],
        &[],
    );
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains(&port) && line.contains("in use"), "{line}");
    assert!(!dir.path().join(".basalt/pg").exists());
}

#[test]
fn migration_new_list_and_repair() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        &[("0001_first.sql", "create table t1 (id int);")],
    );
    let p = dir.path().to_str().unwrap();
    let out = basalt(&["migration", "new", "add_things", "--project", p], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files: Vec<String> = std::fs::read_dir(dir.path().join("supabase/migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("_add_things.sql")
                && f.len() == "20240101000000_add_things.sql".len()),
        "{files:?}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(basalt_testkit::fresh_db());
    let out = basalt(
        &[
            "migration",
            "repair",
            "0001",
            "--status",
            "applied",
            "--project",
            p,
            "--db-url",
            &db.url,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = basalt(
        &["migration", "list", "--project", p, "--db-url", &db.url],
        &[],
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.lines().any(|l| l.matches("0001").count() == 2),
        "{listing}"
    );
    let out = basalt(
        &[
            "migration",
            "repair",
            "0001",
            "--status",
            "reverted",
            "--project",
            p,
            "--db-url",
            &db.url,
        ],
        &[],
    );
    assert!(out.status.success());
    let out = basalt(
        &["migration", "list", "--project", p, "--db-url", &db.url],
        &[],
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.lines().any(|l| l.matches("0001").count() == 1),
        "{listing}"
    );
}

#[tokio::test]
async fn a_lone_create_index_concurrently_migration_applies() {
    let db = basalt_testkit::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        &[
            ("0001_t.sql", "create table t (id int primary key, a int);"),
            (
                "0002_idx.sql",
                "-- built without blocking writes\ncreate index concurrently t_a_idx on t (a);",
            ),
        ],
    );
    let p = dir.path().to_str().unwrap();
    let out = basalt(&["db", "push", "--project", p, "--db-url", &db.url], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c = db.client().await;
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 't_a_idx'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let versions: i64 = c
        .query_one(
            "SELECT count(*) FROM supabase_migrations.schema_migrations",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, 2);
}

#[test]
fn start_outside_a_project_says_how_to_make_one_and_init_makes_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = basalt(
        &[
            "start",
            "--project",
            dir.path().to_str().unwrap(),
            "--port",
            "0",
        ],
        &[],
    );
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains("basalt init"), "{line}");
    assert!(!dir.path().join(".basalt").exists(), "nothing was started");
    let out = basalt(&["init", "--project", dir.path().to_str().unwrap()], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("supabase/config.toml").is_file());
    assert!(dir.path().join("supabase/migrations").is_dir());
    let again = basalt(&["init", "--project", dir.path().to_str().unwrap()], &[]);
    assert!(
        !again.status.success(),
        "an existing project is not overwritten"
    );
}

#[test]
fn db_advisors_on_a_project_never_started_examines_its_migrations() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // The embedded cluster runs as `postgres` when the tests run as root.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    project(
        dir.path(),
        &[(
            "0001_open.sql",
            "create table public.wide_open (id int primary key);",
        )],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let p = dir.path().to_str().unwrap();
    let out = basalt(&["db", "advisors", "--project", p, "--db-port", &port], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{}", text, stderr(&out));
    assert!(text.contains("wide_open"), "{text}");
}
