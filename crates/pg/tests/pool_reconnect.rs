//! Pools after the server ended their sessions (what a Postgres restart does to every pooled
//! connection): the dead connections are discarded when taken, and the first request after gets
//! a working new one instead of an error.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::time::Duration;

use basalt_pg::wire::Step;

/// Terminate every session with this `application_name`, wait until they are gone, and return
/// how many there were.
async fn terminate(admin: &tokio_postgres::Client, app: &str) -> i64 {
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1) t",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    for _ in 0..200 {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let the runtime see the sockets close.
    tokio::time::sleep(Duration::from_millis(100)).await;
    n
}

fn with_app(url: &str, app: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={app}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_pool_replaces_connections_the_server_closed() {
    let db = basalt_testkit::fresh_db().await;
    let admin = db.client().await;
    let app = "basalt_wire_reconnect";
    let pool = basalt_pg::wire::pool(&with_app(&db.url, app), 4).unwrap();
    // Fill the pool with idle connections.
    let held: Vec<_> = open_connections(&pool, 4).await;
    drop(held);
    assert_eq!(pool.status().size, 4);
    assert_eq!(terminate(&admin, app).await, 4);
    // Every request afterwards succeeds at once.
    for i in 0..8 {
        let mut c = pool.get().await.unwrap();
        let rows = c
            .pipeline(&[Step::plain("SELECT 1")])
            .await
            .unwrap_or_else(|e| panic!("request {i} after the sessions ended: {e}"));
        assert_eq!(rows[0][0].int(0), Some(1));
    }
}

/// Take `n` connections at once (so the pool really opens `n`), each used once.
async fn open_connections(
    pool: &basalt_pg::wire::Pool,
    n: usize,
) -> Vec<deadpool::managed::Object<basalt_pg::wire::Manager>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut c = pool.get().await.unwrap();
        c.pipeline(&[Step::plain("SELECT 1")]).await.unwrap();
        out.push(c);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn general_pool_replaces_connections_the_server_closed() {
    let db = basalt_testkit::fresh_db().await;
    let admin = db.client().await;
    let app = "basalt_general_reconnect";
    let pool = basalt_pg::pool::build(&with_app(&db.url, app), 3).unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.get().await.unwrap());
    }
    drop(held);
    assert_eq!(terminate(&admin, app).await, 3);
    for i in 0..6 {
        let c = pool.get().await.unwrap();
        let one: i32 = c
            .query_one("SELECT 1", &[])
            .await
            .unwrap_or_else(|e| panic!("query {i} after the sessions ended: {e}"))
            .get(0);
        assert_eq!(one, 1);
    }
}
