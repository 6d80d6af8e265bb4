//! Per-socket limits: the number of joined channels (refused in Realtime's reply shape,
//! `{"status":"error","response":{"reason":…}}`) and the size of a presence payload (the channel
//! is closed with a `system` error), while the socket keeps working.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// Join `room-3` with presence as `me`.
async fn join_with_presence(c: &mut Client) {
    let r = c
        .join(
            "room-3",
            json!({"presence": {"key": "me", "enabled": true}}),
            None,
        )
        .await;
    assert_eq!(r["status"], "ok", "{r}");
}

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
    join_with_presence(&mut c).await;

    let mut track = |payload: serde_json::Value| {
        let reference = c.make_ref();
        let frame = json!([reference, reference, "realtime:room-3", "presence",
                           {"type": "presence", "event": "track", "payload": payload}]);
        (reference, frame)
    };
    let (big_ref, big) = track(json!({"blob": "x".repeat(2000)}));
    c.send(big).await;
    // A meta over the limit closes the channel: a `system` error, then `phx_close`; no reply.
    let sys = c
        .wait_for(Duration::from_secs(5), |f| f.event() == Some("system"))
        .await
        .expect("system");
    assert_eq!(
        sys.payload(),
        json!({"extension": "system", "status": "error",
               "message": "Track message size exceeded", "channel": "room-3"})
    );
    assert!(c
        .wait_for(Duration::from_secs(5), |f| f.event() == Some("phx_close"))
        .await
        .is_some());
    assert!(c
        .wait_for(Duration::from_millis(300), |f| matches!(f,
            Frame::Text(v) if v[1] == big_ref.as_str()))
        .await
        .is_none());
    // Joined again, a meta within the limit is tracked.
    join_with_presence(&mut c).await;
    let small_ref = c.make_ref();
    c.send(json!([small_ref, small_ref, "realtime:room-3", "presence",
                  {"type": "presence", "event": "track", "payload": {"name": "me"}}]))
        .await;
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
