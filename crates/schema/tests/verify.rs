//! `basalt db verify` against real databases: a project whose migrations were applied verifies
//! clean; each kind of drift is reported as its own problem.

use std::path::Path;

use basalt_schema::verify::{self, VerifyOptions};

fn project_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let migrations = dir.path().join("supabase").join("migrations");
    std::fs::create_dir_all(&migrations).expect("mkdir");
    for (name, sql) in files {
        std::fs::write(migrations.join(name), sql).expect("write migration");
    }
    dir
}

fn options(project: &Path, buckets: &[&str]) -> VerifyOptions {
    VerifyOptions {
        project: project.to_path_buf(),
        exposed_schemas: vec!["public".into()],
        config_buckets: buckets.iter().map(|b| b.to_string()).collect(),
    }
}

const MOODS: &str = "create type public.mood as enum ('sad', 'happy');
alter type public.mood add value 'ok' after 'sad';";

async fn applied(project: &Path) -> (basalt_testkit::TestDb, tokio_postgres::Client) {
    let db = basalt_testkit::fresh_db().await;
    let mut client = db.client().await;
    let migrations = basalt_migrate::scan(&project.join("supabase").join("migrations"))
        .expect("scan migrations");
    basalt_migrate::apply_pending(&mut client, &migrations)
        .await
        .expect("apply migrations");
    (db, client)
}

#[tokio::test]
async fn seed_003_applied_by_its_migrations_verifies_clean() {
    let project = project_with(&[
        (
            "0001_schema.sql",
            include_str!("../../../examples/saas-foundation/supabase/migrations/0001_init.sql"),
        ),
        (
            "0002_policies.sql",
            include_str!("../../../examples/saas-foundation/supabase/migrations/0002_policies.sql"),
        ),
        (
            "0003_storage.sql",
            include_str!("../../../examples/saas-foundation/supabase/migrations/0003_storage.sql"),
        ),
        ("0004_moods.sql", MOODS),
    ]);
    let (_db, client) = applied(project.path()).await;
    let report = verify::run(&client, &options(project.path(), &[]))
        .await
        .expect("verify");
    assert!(report.problems.is_empty(), "{}", report.to_text());
    assert!(report
        .to_text()
        .contains("checked: 3 table(s) created by the migrations"));
    assert!(report
        .to_text()
        .contains("checked: 1 declared storage bucket(s)"));
}

#[tokio::test]
async fn every_kind_of_drift_is_reported() {
    let project = project_with(&[
        (
            "0001_schema.sql",
            include_str!("../../../examples/saas-foundation/supabase/migrations/0001_init.sql"),
        ),
        (
            "0002_policies.sql",
            include_str!("../../../examples/saas-foundation/supabase/migrations/0002_policies.sql"),
        ),
        (
            "0003_storage.sql",
            include_str!("../../../examples/saas-foundation/supabase/migrations/0003_storage.sql"),
        ),
        ("0004_moods.sql", MOODS),
    ]);
    let (_db, client) = applied(project.path()).await;
    client
        .batch_execute(
            "alter table public.subscriptions disable row level security;
             drop table public.usage_counters;
             delete from storage.buckets where id = 'user-files';
             alter type public.mood add value 'furious';
             delete from supabase_migrations.schema_migrations where version = '0004';
             insert into supabase_migrations.schema_migrations (version, name) values ('0009', 'ghost');",
        )
        .await
        .expect("drift");
    let report = verify::run(&client, &options(project.path(), &["avatars"]))
        .await
        .expect("verify");
    let expected = [
        "table public.usage_counters is created by the migrations but does not exist",
        "table public.subscriptions is exposed but row level security is disabled",
        "storage bucket \"avatars\" is declared but does not exist",
        "storage bucket \"user-files\" is declared but does not exist",
        "enum type public.mood has labels [sad, ok, happy, furious] but the migrations declare [sad, ok, happy]",
        "migration 0004_moods has not been applied",
        "migration 0009_ghost is in the history but has no file",
    ];
    assert_eq!(report.problems, expected, "{}", report.to_text());
}

#[tokio::test]
async fn unparsable_migrations_are_a_clear_error() {
    let project = project_with(&[(
        "0001_bad.sql",
        "create table t (id int,\n  x text nott null);",
    )]);
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    let err = verify::run(&client, &options(project.path(), &[]))
        .await
        .expect_err("fails");
    let text = err.to_string();
    assert!(
        text.ends_with("0001_bad.sql:2:10: syntax error at or near \"nott\""),
        "{text}"
    );
}
