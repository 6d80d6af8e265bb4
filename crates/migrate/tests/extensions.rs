//! Migrations written for Supabase create extensions basalt serves itself (`pg_net`,
//! `supabase_vault`): those statements are skipped when the server has no such extension, and
//! the rest of the file applies.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

#[tokio::test]
async fn create_extension_pg_net_is_served_by_basalt() {
    let db = basalt_testkit::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("20240101000000_hooks.sql"),
        "create extension if not exists \"pg_net\" with schema \"extensions\";\n\
         create extension if not exists supabase_vault;\n\
         create table public.events (id int primary key);\n\
         select net.http_get('http://127.0.0.1:9/nowhere');\n",
    )
    .unwrap();
    let migrations = basalt_migrate::scan(dir.path()).unwrap();
    let mut client = db.client().await;
    let applied = basalt_migrate::apply_pending(&mut client, &migrations)
        .await
        .unwrap();
    assert_eq!(applied, vec!["20240101000000".to_string()]);
    let queued: i64 = client
        .query_one("select count(*) from net.http_request_queue", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 1);
    let recorded: i64 = client
        .query_one(
            "select cardinality(statements)::int8 from supabase_migrations.schema_migrations where version = '20240101000000'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 4, "the file is recorded as written");
}
