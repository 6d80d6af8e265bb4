//! HTTP from SQL end to end: net.http_* and database webhooks against a real Postgres and a
//! local receiver, delivered by basalt's worker.

mod common;

use std::time::Duration;

use common::{config, receiver, responses, wait_until};

fn worker(url: &str, cfg: &basalt_net::NetConfig) -> basalt_net::Background {
    let mut bg = basalt_net::Background::empty();
    bg.add_net(url, cfg).expect("worker");
    bg
}

#[tokio::test]
async fn get_and_post_land_in_http_response() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let (srv, seen) = receiver().await;
    let bg = worker(&db.url, &config());
    let get: i64 = c
        .query_one(
            "SELECT net.http_get($1, params := '{\"q\": \"a b\"}', headers := '{\"x-h\": \"1\"}')",
            &[&format!("{}/ok/get", srv.url)],
        )
        .await
        .unwrap()
        .get(0);
    let post: i64 = c
        .query_one(
            "SELECT net.http_post($1, '{\"hello\": \"world\"}'::jsonb)",
            &[&format!("{}/ok/post", srv.url)],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        wait_until(10, || async { responses(&c).await == 2 }).await,
        "both recorded"
    );
    let rows = c
        .query(
            "SELECT id, status_code, content_type, headers->>'x-test', content, timed_out, error_msg
               FROM net._http_response ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    for (row, id) in rows.iter().zip([get, post]) {
        assert_eq!(row.get::<_, i64>(0), id);
        assert_eq!(row.get::<_, Option<i32>>(1), Some(200));
        assert_eq!(
            row.get::<_, Option<String>>(2).as_deref(),
            Some("application/json")
        );
        assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("yes"));
        assert_eq!(
            row.get::<_, Option<String>>(4).as_deref(),
            Some(r#"{"fine":true}"#)
        );
        assert_eq!(row.get::<_, Option<bool>>(5), Some(false));
        assert_eq!(row.get::<_, Option<String>>(6), None);
    }
    assert_eq!(
        seen.bodies("/ok/post"),
        vec![r#"{"hello": "world"}"#.to_string()]
    );
    let queued: i64 = c
        .query_one("SELECT count(*) FROM net.http_request_queue", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0, "the queue is drained");
    bg.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_rolled_back_transaction_sends_nothing() {
    let db = basalt_testkit::fresh_db().await;
    let mut c = db.client().await;
    let (srv, seen) = receiver().await;
    let bg = worker(&db.url, &config());
    let tx = c.transaction().await.unwrap();
    tx.execute(
        "SELECT net.http_post($1)",
        &[&format!("{}/ok/rolled-back", srv.url)],
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    c.execute(
        "SELECT net.http_post($1)",
        &[&format!("{}/ok/committed", srv.url)],
    )
    .await
    .unwrap();
    assert!(wait_until(10, || async { responses(&c).await == 1 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.paths(), vec!["/ok/committed".to_string()]);
    bg.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_timeout_is_recorded_as_timed_out() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let (srv, seen) = receiver().await;
    let bg = worker(&db.url, &config());
    c.execute(
        "SELECT net.http_get($1, timeout_milliseconds := 200)",
        &[&format!("{}/slow/3000/t", srv.url)],
    )
    .await
    .unwrap();
    assert!(wait_until(10, || async { responses(&c).await == 1 }).await);
    let row = c
        .query_one(
            "SELECT status_code, timed_out, error_msg FROM net._http_response",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<i32>>(0), None);
    assert_eq!(row.get::<_, Option<bool>>(1), Some(true));
    assert!(row.get::<_, Option<String>>(2).unwrap().contains("200 ms"));
    assert_eq!(seen.count("/slow/t"), 1, "a timeout is not retried");
    bg.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_recorded() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let (srv, seen) = receiver().await;
    let bg = worker(&db.url, &config());
    // 503 twice, then 200: delivered on the third attempt.
    c.execute(
        "SELECT net.http_get($1)",
        &[&format!("{}/fail/2/a", srv.url)],
    )
    .await
    .unwrap();
    // 503 always: recorded as 503 after max_attempts (3).
    c.execute(
        "SELECT net.http_get($1)",
        &[&format!("{}/fail/99/b", srv.url)],
    )
    .await
    .unwrap();
    // Nothing listens: a connection error, retried, then recorded with the error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/x", closed.local_addr().unwrap());
    drop(closed);
    c.execute("SELECT net.http_get($1)", &[&dead])
        .await
        .unwrap();
    assert!(wait_until(15, || async { responses(&c).await == 3 }).await);
    let rows = c
        .query(
            "SELECT status_code, error_msg FROM net._http_response ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, Option<i32>>(0), Some(200));
    assert_eq!(rows[1].get::<_, Option<i32>>(0), Some(503));
    assert_eq!(rows[2].get::<_, Option<i32>>(0), None);
    assert!(rows[2]
        .get::<_, Option<String>>(1)
        .unwrap()
        .contains("after 3 attempts"));
    assert_eq!(seen.count("/fail/2/a"), 3);
    assert_eq!(seen.count("/fail/99/b"), 3);
    bg.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn database_webhooks_deliver_supabase_payloads() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let (srv, seen) = receiver().await;
    let bg = worker(&db.url, &config());
    c.batch_execute(&format!(
        "CREATE TABLE public.todo (id int PRIMARY KEY, title text);
         CREATE TRIGGER todo_hook AFTER INSERT OR UPDATE OR DELETE ON public.todo
           FOR EACH ROW EXECUTE FUNCTION supabase_functions.http_request(
             '{}/ok/hook', 'POST', '{{\"Content-Type\":\"application/json\"}}', '{{}}', '5000');
         INSERT INTO public.todo VALUES (1, 'a');
         UPDATE public.todo SET title = 'b';
         DELETE FROM public.todo;",
        srv.url
    ))
    .await
    .unwrap();
    assert!(wait_until(10, || async { seen.bodies("/ok/hook").len() == 3 }).await);
    let mut got: Vec<serde_json::Value> = seen
        .bodies("/ok/hook")
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    got.sort_by_key(|v| {
        ["INSERT", "UPDATE", "DELETE"]
            .iter()
            .position(|t| v["type"] == *t)
    });
    let rec = |t: &str| serde_json::json!({"id": 1, "title": t});
    assert_eq!(
        got,
        vec![
            serde_json::json!({"type": "INSERT", "table": "todo", "schema": "public", "record": rec("a"), "old_record": null}),
            serde_json::json!({"type": "UPDATE", "table": "todo", "schema": "public", "record": rec("b"), "old_record": rec("a")}),
            serde_json::json!({"type": "DELETE", "table": "todo", "schema": "public", "record": null, "old_record": rec("b")}),
        ]
    );
    // The receiver sees a body before the worker records its response row.
    let logged = || async {
        c.query_one(
            "SELECT count(*) FROM supabase_functions.hooks h JOIN net._http_response r ON r.id = h.request_id
              WHERE h.hook_name = 'todo_hook' AND h.hook_table_id = 'public.todo'::regclass::oid::int",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
    };
    assert!(
        wait_until(10, || async { logged().await == 3 }).await,
        "each call logged in supabase_functions.hooks with its request id, got {}",
        logged().await
    );
    bg.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn two_workers_deliver_each_request_once() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let (srv, seen) = receiver().await;
    let a = worker(&db.url, &config());
    let b = worker(&db.url, &config());
    const N: i64 = 300;
    for chunk in 0..3 {
        c.execute(
            "SELECT net.http_post($1 || '/ok/' || i, jsonb_build_object('i', i))
               FROM generate_series($2::int8, $3::int8) i",
            &[&srv.url, &(chunk * 100i64), &(chunk * 100i64 + 99)],
        )
        .await
        .unwrap();
    }
    assert!(wait_until(30, || async { responses(&c).await == N }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paths = seen.paths();
    let distinct: std::collections::HashSet<_> = paths.iter().collect();
    assert_eq!(paths.len() as i64, N, "no request sent twice");
    assert_eq!(distinct.len() as i64, N);
    let owners: i64 = c
        .query_one("SELECT count(*) FROM net._delivery", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(owners, 0, "delivery state goes with the request");
    a.stop(Duration::from_secs(2)).await;
    b.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn requests_in_flight_when_a_worker_dies_are_delivered_after_restart() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let (srv, seen) = receiver().await;
    const N: i64 = 20;
    c.execute(
        "SELECT net.http_get($1 || '/slow/1500/' || i, timeout_milliseconds := 3000)
           FROM generate_series(1, $2::int8) i",
        &[&srv.url, &N],
    )
    .await
    .unwrap();
    // The first worker runs on a runtime of its own that is torn down mid-flight, as a killed
    // process would be: no outcome recorded, leases left behind.
    let url = db.url.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let doomed = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let bg = worker(&url, &config());
            std::mem::forget(bg);
        });
        started_tx.send(()).unwrap();
        kill_rx.recv_timeout(Duration::from_secs(30)).ok();
        rt.shutdown_background();
    });
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        wait_until(10, || async { seen.paths().len() as i64 >= N }).await,
        "all in flight"
    );
    kill_tx.send(()).unwrap();
    doomed.join().unwrap();
    assert_eq!(
        responses(&c).await,
        0,
        "killed before any outcome was recorded"
    );
    let leased: i64 = c
        .query_one(
            "SELECT count(*) FROM net._delivery WHERE lease_owner IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leased, N);
    let restarted = worker(&db.url, &config());
    assert!(
        wait_until(20, || async { responses(&c).await == N }).await,
        "every request recorded"
    );
    let ok: i64 = c
        .query_one(
            "SELECT count(*) FROM net._http_response WHERE status_code = 200",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ok, N);
    for i in 1..=N {
        assert!(
            seen.count(&format!("/slow/{i}")) >= 1,
            "request {i} delivered"
        );
    }
    restarted.stop(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn api_roles_may_queue_but_not_read_responses() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    c.batch_execute("SET ROLE anon; SELECT net.http_get('http://127.0.0.1:9/x');")
        .await
        .unwrap();
    let read = c.query("SELECT * FROM net._http_response", &[]).await;
    assert!(read.is_err(), "anon cannot read responses");
    let queue = c.query("SELECT * FROM net.http_request_queue", &[]).await;
    assert!(queue.is_err(), "anon cannot read the queue");
}

#[tokio::test]
async fn old_responses_expire_by_pg_net_ttl() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    c.batch_execute(
        "INSERT INTO net._http_response (id, status_code, created) VALUES
           (1, 200, now() - interval '2 hours'), (2, 200, now());",
    )
    .await
    .unwrap();
    c.batch_execute(&format!(
        "ALTER DATABASE \"{}\" SET pg_net.ttl = '1 hour'",
        db.name
    ))
    .await
    .unwrap();
    let pool = basalt_pg::pool::build(&db.url, 1).unwrap();
    let gone = basalt_net::queue::expire(&pool, Duration::from_secs(6 * 3600))
        .await
        .unwrap();
    assert_eq!(gone, 1);
    let left: Vec<i64> = c
        .query("SELECT id FROM net._http_response", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, vec![2]);
}
