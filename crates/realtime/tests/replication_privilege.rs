//! A database role without the REPLICATION privilege (a database basalt does not own): the node
//! starts, says why it streams no row changes, and refuses `postgres_changes` subscriptions at
//! once with a system error naming the statement a DBA runs, instead of leaving them waiting.
//! Broadcast keeps working.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const ROLE: &str = "basalt_test_norepl";

#[tokio::test]
async fn postgres_changes_are_refused_clearly_without_replication_privilege() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                 CREATE ROLE {ROLE} LOGIN NOREPLICATION;
               END IF;
             END $$;
             GRANT USAGE ON SCHEMA realtime TO {ROLE};
             GRANT ALL ON ALL TABLES IN SCHEMA realtime TO {ROLE};
             GRANT anon, authenticated TO {ROLE};
             CREATE TABLE public.notes (id bigserial PRIMARY KEY, body text);
             GRANT ALL ON public.notes TO anon;
             ALTER PUBLICATION supabase_realtime ADD TABLE public.notes;"
        ))
        .await
        .unwrap();
    let url = db.url.replacen("postgres@", &format!("{ROLE}@"), 1);
    let rt = Served::start(&url).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let started = std::time::Instant::now();
    let reply = c
        .join(
            "notes",
            json!({"postgres_changes": [{"event": "*", "schema": "public", "table": "notes"}]}),
            None,
        )
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let f = c
        .wait_for(Duration::from_secs(5), |f| f.event() == Some("system"))
        .await
        .expect("a system message");
    let p = f.payload();
    assert_eq!(p["status"], "error", "{p}");
    let message = p["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("ALTER ROLE \"{ROLE}\" REPLICATION;")),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // No slot was made for this node.
    let slots: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(slots, 0);
    // Broadcast still works on the same socket.
    let r = c
        .join("room", json!({"broadcast": {"self": true}}), None)
        .await;
    assert_eq!(r["status"], "ok");
    let reference = c.make_ref();
    c.send(json!([null, reference, "realtime:room", "broadcast",
        {"type": "broadcast", "event": "hi", "payload": {"n": 1}}]))
        .await;
    c.wait_for(Duration::from_secs(5), |f| f.event() == Some("broadcast"))
        .await
        .expect("own broadcast");
    rt.stop().await;
}
