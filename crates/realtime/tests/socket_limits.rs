//! Per-socket limits: the number of joined channels and the size of a presence payload, each
//! refused in Realtime's reply shape (`{"status":"error","response":{"reason":…}}`) while the
//! socket and its other channels keep working.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_socket_may_join_only_so_many_channels_and_track_only_so_much() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start_with(basalt_realtime::Config {
        max_channels_per_socket: 3,
        max_presence_bytes: 1024,
        ..config(&db.url)
    })
    .await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    for i in 0..3 {
        let r = c.join(&format!("room-{i}"), json!({}), None).await;
        assert_eq!(r["status"], "ok", "{r}");
    }
    let r = c.join("room-3", json!({}), None).await;
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(
        r["response"]["reason"],
        "ChannelRateLimitReached: Too many channels"
    );
    // Rejoining a joined topic does not count twice; leaving makes room.
    let r = c.join("room-0", json!({}), None).await;
    assert_eq!(r["status"], "ok", "{r}");
    let reference = c.make_ref();
    c.send(json!([
        reference,
        reference,
        "realtime:room-1",
        "phx_leave",
        {}
    ]))
    .await;
    assert_eq!(c.reply(&reference).await["status"], "ok");
    let r = c
        .join(
            "room-3",
            json!({"presence": {"key": "me", "enabled": true}}),
            None,
        )
        .await;
    assert_eq!(r["status"], "ok", "{r}");

    let mut track = |payload: serde_json::Value| {
        let reference = c.make_ref();
        let frame = json!([reference, reference, "realtime:room-3", "presence",
                           {"type": "presence", "event": "track", "payload": payload}]);
        (reference, frame)
    };
    let (big_ref, big) = track(json!({"blob": "x".repeat(2000)}));
    let (small_ref, small) = track(json!({"name": "me"}));
    c.send(big).await;
    let r = c.reply(&big_ref).await;
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(
        r["response"]["reason"],
        "PayloadSizeExceeded: Presence payload is too large"
    );
    c.send(small).await;
    assert_eq!(c.reply(&small_ref).await["status"], "ok");
    let diff = c
        .wait_for(Duration::from_secs(5), |f| {
            f.event() == Some("presence_diff")
        })
        .await
        .expect("presence_diff");
    let joins = diff.payload()["joins"].to_string();
    assert!(joins.contains("\"name\":\"me\""), "{joins}");
    assert!(!joins.contains("xxxx"), "{joins}");
    rt.stop().await;
}
