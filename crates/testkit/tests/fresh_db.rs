//! The testkit itself: clones carry the platform schema and are independent of each other.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

#[tokio::test]
async fn fresh_databases_have_the_platform_schema_and_are_isolated() {
    let a = basalt_testkit::fresh_db().await;
    let b = basalt_testkit::fresh_db().await;
    assert_ne!(a.name, b.name);
    let ca = a.client().await;
    let cb = b.client().await;
    ca.batch_execute("CREATE TABLE only_in_a (id int)")
        .await
        .unwrap();
    let n: i64 = cb
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let roles: i64 = ca
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('anon','authenticated','service_role','authenticator')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles, 4);
    ca.batch_execute("SELECT set_config('request.jwt.claims', '{\"sub\":\"7b0f6a0e-0000-4000-8000-000000000001\",\"role\":\"authenticated\"}', false)")
        .await
        .unwrap();
    let row = ca
        .query_one("SELECT auth.uid()::text, auth.role()", &[])
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "7b0f6a0e-0000-4000-8000-000000000001"
    );
    assert_eq!(row.get::<_, String>(1), "authenticated");
}
