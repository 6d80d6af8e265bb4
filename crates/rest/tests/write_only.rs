//! A role may be allowed to write rows it may not read (a contact form, an audit log): with
//! `return=minimal` the write succeeds; asking for the rows back is refused by Postgres.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use basalt_rest::Config;

#[tokio::test]
async fn insert_update_delete_without_select_rights() {
    let db = basalt_testkit::fresh_db().await;
    let admin = db.client().await;
    admin
        .batch_execute(
            "create table public.leads (id bigint generated always as identity primary key, email text not null, seen boolean not null default false);
             alter table public.leads enable row level security;
             create policy anyone_inserts on public.leads for insert to anon with check (true);
             revoke all on public.leads from anon;
             grant insert (email) on public.leads to anon;",
        )
        .await
        .unwrap();
    let config = Config {
        db_uri: db.url.clone(),
        schemas: vec!["public".into()],
        anon_role: Some("anon".into()),
        jwt_secret: Some("write-only-test-secret-with-32-characters".into()),
        auth_configured: true,
        pool_size: 2,
        ..Config::default()
    };
    let server = basalt_testkit::serve(basalt_rest::router(config).await.unwrap()).await;
    let http = reqwest::Client::new();
    let post = |prefer: Option<&'static str>| {
        let mut r = http
            .post(format!("{}/leads", server.url))
            .header("content-type", "application/json")
            .body(r#"{"email":"visitor@example.com"}"#);
        if let Some(p) = prefer {
            r = r.header("prefer", p);
        }
        r.send()
    };
    let r = post(None).await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = post(Some("return=minimal")).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.text().await.unwrap(), "");
    // Reading the row back needs SELECT: refused, and the insert is rolled back.
    let r = post(Some("return=representation")).await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "42501");
    let n: i64 = admin
        .query_one("select count(*) from public.leads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}
