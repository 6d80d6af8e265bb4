//! `basalt test db` against a real database: pgTAP files with the `tests.*` helpers pass,
//! failing assertions and errors are reported file by file, and nothing is left behind.

use basalt_schema::pgtap;

const PASSING: &str = "begin;
select plan(5);
select tests.create_supabase_user('owner');
select tests.create_supabase_user('other');
select tests.rls_enabled('public');
insert into public.profiles (id, display_name) values (tests.get_supabase_uid('owner'), 'Owner');
insert into public.notes (owner_id, body) values (tests.get_supabase_uid('owner'), 'mine');
select tests.authenticate_as('owner');
select results_eq($$ select count(*) from public.notes $$, $$ values (1::bigint) $$, 'the owner sees their note');
select tests.authenticate_as('other');
select is_empty($$ select * from public.notes $$, 'another user sees nothing');
select is_empty($$ update public.notes set body = 'hacked' returning 1 $$, 'another user updates nothing');
select tests.clear_authentication();
select is_empty($$ select * from public.notes $$, 'anon sees nothing');
select * from finish();
rollback;
";

const FAILING: &str = "begin;
select plan(2);
select ok(true, 'fine');
select ok(false, 'this one fails');
select * from finish();
rollback;
";

const BROKEN: &str = "select plan(1);\nselect no_such_function();\n";

#[tokio::test]
async fn runs_pgtap_files_with_the_helpers() {
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    client
        .batch_execute(include_str!(
            "fixtures/clean/supabase/migrations/0001_clean.sql"
        ))
        .await
        .expect("apply clean schema");
    let dir = tempfile::tempdir().expect("tempdir");
    let tests = dir.path().join("supabase").join("tests");
    std::fs::create_dir_all(tests.join("more")).expect("mkdir");
    std::fs::write(tests.join("01_rls.sql"), PASSING).expect("write");
    std::fs::write(tests.join("more").join("02_fails.sql"), FAILING).expect("write");
    std::fs::write(tests.join("03_broken.pg"), BROKEN).expect("write");
    std::fs::write(tests.join("README.md"), "not a test").expect("write");

    let files = pgtap::test_files(std::slice::from_ref(&tests)).expect("files");
    assert_eq!(files.len(), 3);
    let report = pgtap::run(&client, &files).await.expect("run");
    let text = report.to_text();
    assert!(!report.ok(), "{text}");
    let by_name = |suffix: &str| {
        report
            .files
            .iter()
            .find(|f| f.file.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} in {text}"))
    };
    let rls = by_name("01_rls.sql");
    assert!(rls.ok(), "{text}\n{:?}", rls.tap);
    assert_eq!(rls.passed, 5);
    let fails = by_name("02_fails.sql");
    assert_eq!(fails.failures, vec!["not ok 2 - this one fails"], "{text}");
    let broken = by_name("03_broken.pg");
    assert!(
        broken
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no_such_function")),
        "{text}"
    );
    assert!(text.ends_with("6 passed, 2 failed\n"), "{text}");

    // Nothing is left behind: no users, no helpers, no pgTAP.
    let left: i64 = client
        .query_one(
            "select (select count(*) from auth.users)
                  + (select count(*) from pg_namespace where nspname = 'tests')
                  + (select count(*) from pg_extension where extname = 'pgtap')",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn no_files_is_a_clear_error() {
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    let err = pgtap::run(&client, &[]).await.expect_err("fails");
    assert_eq!(
        err.to_string(),
        "no test files found (looked for *.sql and *.pg)"
    );
    let missing = pgtap::test_files(&["/nonexistent/tests".into()]).expect_err("fails");
    assert!(
        missing.to_string().starts_with("/nonexistent/tests: "),
        "{missing}"
    );
}
