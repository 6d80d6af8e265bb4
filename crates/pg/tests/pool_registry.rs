//! The registry of live pools (what `/metrics` reports and shutdown closes): each pool listed
//! with its use, all closed together, a dropped one forgotten. Its own test binary: closing
//! every pool of the process would close the pools of tests running beside it.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use basalt_pg::wire::Step;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_pools_are_listed_with_their_use_and_closed_together() {
    let db = basalt_testkit::fresh_db().await;
    let wire = basalt_pg::wire::pool(&db.url, 3).unwrap();
    let general = basalt_pg::pool::build(&db.url, 2).unwrap();
    let mut held = wire.get().await.unwrap();
    held.pipeline(&[Step::plain("SELECT 1")]).await.unwrap();
    let c = general.get().await.unwrap();
    let stats = basalt_pg::pool::stats();
    let w = stats
        .iter()
        .find(|s| s.kind == "wire" && s.status.max_size == 3)
        .unwrap();
    assert_eq!((w.status.size, w.status.available), (1, 0));
    let g = stats
        .iter()
        .find(|s| s.kind == "general" && s.status.max_size == 2)
        .unwrap();
    assert_eq!(g.status.size, 1);
    drop(c);
    drop(held);
    basalt_pg::pool::close_all();
    assert!(wire.is_closed() && general.is_closed());
    assert!(general.get().await.is_err());
    // A dropped pool is forgotten.
    let (wid, gid) = (w.id, g.id);
    drop(wire);
    drop(general);
    assert!(basalt_pg::pool::stats()
        .iter()
        .all(|s| s.id != wid && s.id != gid));
}
