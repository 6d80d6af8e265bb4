//! The replication slot must not hold WAL: it advances while nobody subscribes, and the slot of
//! a node that is gone is dropped by the nodes that remain.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn slot_advances_without_subscribers_and_stale_slots_are_dropped() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    c.batch_execute(
        "CREATE TABLE public.t (id int PRIMARY KEY);
         ALTER PUBLICATION supabase_realtime ADD TABLE public.t;",
    )
    .await
    .unwrap();
    // A slot left behind by a node that no longer runs (no heartbeat row).
    let stale = "basalt_realtime_0000000000dead00";
    c.query(
        "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
        &[&stale],
    )
    .await
    .unwrap();
    let mut cfg = config(&db.url);
    cfg.node_timeout = Duration::from_secs(3);
    let slot = cfg.slot_name();
    let rt = Served::start_with(cfg).await;

    c.batch_execute("INSERT INTO t SELECT generate_series(1, 100)")
        .await
        .unwrap();
    let target: String = c
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .unwrap()
        .get(0);
    let mut advanced = false;
    let mut dropped = false;
    for _ in 0..100 {
        let row = c
            .query_one(
                "SELECT coalesce((SELECT confirmed_flush_lsn >= $2::text::pg_lsn FROM pg_replication_slots
                                  WHERE slot_name = $1), false),
                        NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $3)",
                &[&slot, &target, &stale],
            )
            .await
            .unwrap();
        advanced = row.get(0);
        dropped = row.get(1);
        if advanced && dropped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        advanced,
        "the slot confirmed the changes nobody subscribed to"
    );
    assert!(dropped, "the stale node's slot was dropped");
    rt.stop().await;
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "shutdown drops the node's own slot");
}
