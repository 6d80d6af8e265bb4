//! A client that goes away mid-request must not leave its transaction open on a pooled
//! connection: the locks it took are released and no later request runs inside it.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use basalt_rest::Config;

#[tokio::test]
async fn a_dropped_request_releases_its_transaction() {
    let db = basalt_testkit::fresh_db().await;
    let admin = db.client().await;
    admin
        .batch_execute(
            "create table public.slow (id int primary key, v int not null default 0);
             insert into public.slow values (1, 0);
             create function public.slow_down() returns trigger language plpgsql as
               $$ begin perform pg_sleep(0.6); return new; end $$;
             create trigger slow_down before update on public.slow
               for each row execute function public.slow_down();
             grant select, update on public.slow to anon;",
        )
        .await
        .unwrap();
    let config = Config {
        db_uri: db.url.clone(),
        schemas: vec!["public".into()],
        anon_role: Some("anon".into()),
        jwt_secret: Some("cancel-test-secret-with-at-least-32-chars".into()),
        auth_configured: true,
        pool_size: 2,
        ..Config::default()
    };
    let server = basalt_testkit::serve(basalt_rest::router(config).await.unwrap()).await;
    // The client gives up while the UPDATE (and its row lock) is in flight.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(150))
        .build()
        .unwrap();
    let r = impatient
        .patch(format!("{}/slow?id=eq.1", server.url))
        .header("content-type", "application/json")
        .body(r#"{"v": 1}"#)
        .send()
        .await;
    assert!(r.is_err(), "the request timed out on the client side");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let open: i64 = admin
        .query_one(
            "select count(*) from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0, "no transaction is left open");
    // The row is not locked: a direct update with a short lock timeout goes through.
    admin
        .batch_execute("set lock_timeout = '1s'; update public.slow set v = 2 where id = 1;")
        .await
        .unwrap();
    // And the pool still serves requests.
    let ok = reqwest::Client::new()
        .get(format!("{}/slow?select=v", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), r#"[{"v":2}]"#);
}
