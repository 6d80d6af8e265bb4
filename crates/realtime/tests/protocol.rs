//! The Phoenix protocol as supabase-js uses it: heartbeat, join/leave, broadcast (self, ack,
//! binary frames), presence, tokens — with a Rust WebSocket client against a real node.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(5);

fn kind3(join_ref: &str, reference: &str, topic: &str, event: &str, payload: &str) -> Vec<u8> {
    let mut f = vec![
        3u8,
        join_ref.len() as u8,
        reference.len() as u8,
        topic.len() as u8,
        event.len() as u8,
        0,
        1,
    ];
    for s in [join_ref, reference, topic, event, payload] {
        f.extend_from_slice(s.as_bytes());
    }
    f
}

#[tokio::test]
async fn heartbeat_join_and_leave() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    c.send(json!([null, "8", "phoenix", "heartbeat", {}])).await;
    let r = c.reply("8").await;
    assert_eq!(r, json!({"status": "ok", "response": {}}));

    let reply = c
        .join("room1", json!({"broadcast": {"self": false}}), None)
        .await;
    // The join reply always lists the channel's postgres_changes, empty here.
    assert_eq!(
        reply,
        json!({"status": "ok", "response": {"postgres_changes": []}})
    );

    c.send(json!(["1", "9", "realtime:room1", "phx_leave", {}]))
        .await;
    assert_eq!(c.reply("9").await["status"], "ok");

    // A push to a topic that was never joined gets an error reply, not silence or a crash.
    c.send(json!(["5", "10", "realtime:nowhere", "presence", {"type": "presence", "event": "track", "payload": {}}]))
        .await;
    assert_eq!(c.reply("10").await["status"], "error");
    // Garbage frames are ignored and the socket stays usable.
    c.send(json!({"not": "a phoenix frame"})).await;
    c.send_binary(vec![9, 9, 9]).await;
    c.send(json!([null, "11", "phoenix", "heartbeat", {}]))
        .await;
    assert_eq!(c.reply("11").await["status"], "ok");
    rt.stop().await;
}

#[tokio::test]
async fn join_reply_echoes_postgres_changes_with_ids() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE public.messages (id bigint PRIMARY KEY, room_id bigint);
             ALTER PUBLICATION supabase_realtime ADD TABLE public.messages;",
        )
        .await
        .unwrap();
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let changes = json!([
        {"event": "INSERT", "schema": "public", "table": "messages", "filter": "room_id=eq.1"},
        {"event": "*", "schema": "public"}
    ]);
    let reply = c
        .join(
            "room1",
            json!({"broadcast": {"self": true, "ack": true}, "presence": {"key": "user-1", "enabled": true},
                   "postgres_changes": changes, "private": false}),
            None,
        )
        .await;
    assert_eq!(reply["status"], "ok");
    let echoed = reply["response"]["postgres_changes"].as_array().unwrap();
    assert_eq!(echoed.len(), 2);
    for (e, want) in echoed.iter().zip(changes.as_array().unwrap()) {
        for k in ["event", "schema", "table", "filter"] {
            assert_eq!(e.get(k), want.get(k), "field {k} echoed");
        }
        assert!(e["id"].is_u64());
    }
    assert_ne!(echoed[0]["id"], echoed[1]["id"]);
    // presence_state, then the system message once the subscription is live
    let ps = c
        .wait_for(T, |f| f.event() == Some("presence_state"))
        .await
        .unwrap();
    assert_eq!(ps.payload(), json!({}));
    let sys = c
        .wait_for(T, |f| f.event() == Some("system"))
        .await
        .unwrap();
    assert_eq!(
        sys.payload(),
        json!({"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL", "channel": "room1"})
    );

    // An invalid filter is still echoed (the client compares), then refused by a system error.
    let reply = c
        .join(
            "room2",
            json!({"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "t", "filter": "a=regex.x"}]}),
            None,
        )
        .await;
    assert_eq!(reply["status"], "ok");
    let sys = c
        .wait_for(T, |f| f.event() == Some("system"))
        .await
        .unwrap();
    assert_eq!(
        sys.payload(),
        json!({"extension": "postgres_changes", "status": "error", "channel": "room2",
               "message": "Error parsing `filter` params: [\"regex\", \"x\"]"})
    );
    rt.stop().await;
}

#[tokio::test]
async fn broadcast_between_clients_with_self_and_ack() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    let mut v1 = Client::connect(&format!(
        "ws://{}/websocket?apikey={}&vsn=1.0.0",
        rt.server.addr,
        anon()
    ))
    .await;
    assert_eq!(
        a.join(
            "room1",
            json!({"broadcast": {"self": true, "ack": true}}),
            None
        )
        .await["status"],
        "ok"
    );
    assert_eq!(
        b.join("room1", json!({"broadcast": {"self": false}}), None)
            .await["status"],
        "ok"
    );
    v1.send(json!({"topic": "realtime:room1", "event": "phx_join", "payload": {"config": {}}, "ref": "1", "join_ref": "1"}))
        .await;
    let r = v1.next(T).await.unwrap();
    let crate_frame = match r {
        Frame::Text(v) => v,
        _ => panic!("v1 reply is text"),
    };
    assert_eq!(crate_frame["event"], "phx_reply");

    // binary kind 3 from a with ack → reply, a (self) and b receive kind 4
    a.send_binary(kind3("1", "2", "realtime:room1", "cursor", r#"{"x":9}"#))
        .await;
    assert_eq!(a.reply("2").await, json!({"status": "ok", "response": {}}));
    for c in [&mut a, &mut b] {
        let f = c
            .wait_for(T, |f| matches!(f, Frame::Binary(_)))
            .await
            .expect("kind 4");
        let Frame::Binary(bytes) = f else {
            unreachable!()
        };
        assert_eq!(bytes[0], 4);
        assert!(bytes.ends_with(br#"cursor{"x":9}"#));
    }
    // vsn 1 gets a JSON object frame
    let f = v1.next(T).await.unwrap();
    let Frame::Text(v) = f else { panic!("text") };
    assert_eq!(v["event"], "broadcast");
    assert_eq!(
        v["payload"],
        json!({"type": "broadcast", "event": "cursor", "payload": {"x": 9}})
    );

    // text broadcast from b (self false): a receives it as a text frame, b does not
    b.send(json!(["1", "3", "realtime:room1", "broadcast", {"type": "broadcast", "event": "e", "payload": {"n": 1}}]))
        .await;
    assert!(a
        .wait_for(T, |f| *f
            == Frame::Text(json!([null, null, "realtime:room1", "broadcast",
                                  {"type": "broadcast", "event": "e", "payload": {"n": 1}}])))
        .await
        .is_some());
    assert!(b
        .wait_for(Duration::from_millis(300), |f| f.event()
            == Some("broadcast"))
        .await
        .is_none());
    // no ack requested: no reply
    assert!(b
        .wait_for(Duration::from_millis(200), |f| f.event()
            == Some("phx_reply"))
        .await
        .is_none());

    // HTTP broadcast reaches socket subscribers
    let http = reqwest_like_post(
        &format!("http://{}/api/broadcast?apikey={}", rt.server.addr, anon()),
        json!({"messages": [{"topic": "room1", "event": "from_http", "payload": {"z": 1}, "private": false}]}),
    )
    .await;
    assert_eq!(http, 202);
    assert!(b
        .wait_for(T, |f| *f
            == Frame::Text(json!([null, null, "realtime:room1", "broadcast",
                                  {"type": "broadcast", "event": "from_http", "payload": {"z": 1}}])))
        .await
        .is_some());
    let http = reqwest_like_post(
        &format!(
            "http://{}/api/broadcast/room1/events/explicit?apikey={}",
            rt.server.addr,
            anon()
        ),
        json!({"w": 2}),
    )
    .await;
    assert_eq!(http, 202);
    assert!(b
        .wait_for(
            T,
            |f| matches!(f, Frame::Binary(x) if x.ends_with(br#"explicit{"w":2}"#))
        )
        .await
        .is_some());
    let bad = reqwest_like_post(
        &format!("http://{}/api/broadcast?apikey=nope", rt.server.addr),
        json!({}),
    )
    .await;
    assert_eq!(bad, 401);
    rt.stop().await;
}

/// POST JSON with a bare HTTP/1.1 request (no HTTP client dependency needed).
async fn reqwest_like_post(url: &str, body: serde_json::Value) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let body = body.to_string();
    let req = format!(
        "POST /{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn presence_join_and_leave() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    a.join(
        "lobby",
        json!({"presence": {"key": "alice", "enabled": true}}),
        None,
    )
    .await;
    b.join(
        "lobby",
        json!({"presence": {"key": "bob", "enabled": true}}),
        None,
    )
    .await;
    a.send(json!(["1", "5", "realtime:lobby", "presence", {"type": "presence", "event": "track", "payload": {"online_at": "now"}}]))
        .await;
    assert_eq!(a.reply("5").await["status"], "ok");
    let diff = b
        .wait_for(T, |f| f.event() == Some("presence_diff"))
        .await
        .unwrap()
        .payload();
    assert_eq!(diff["joins"]["alice"]["metas"][0]["online_at"], "now");
    assert!(diff["joins"]["alice"]["metas"][0]["phx_ref"].is_string());
    assert_eq!(diff["leaves"], json!({}));

    // A late joiner receives the state.
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    c.join(
        "lobby",
        json!({"presence": {"key": "carol", "enabled": true}}),
        None,
    )
    .await;
    let st = c
        .wait_for(T, |f| f.event() == Some("presence_state"))
        .await
        .unwrap()
        .payload();
    assert_eq!(st["alice"]["metas"][0]["online_at"], "now");

    a.send(
        json!(["1", "6", "realtime:lobby", "presence", {"type": "presence", "event": "untrack"}]),
    )
    .await;
    assert_eq!(a.reply("6").await["status"], "ok");
    let diff = b
        .wait_for(T, |f| {
            f.event() == Some("presence_diff") && f.payload()["leaves"] != json!({})
        })
        .await
        .unwrap()
        .payload();
    assert_eq!(diff["leaves"]["alice"]["metas"][0]["online_at"], "now");

    // Disconnecting leaves too.
    b.send(json!(["1", "7", "realtime:lobby", "presence", {"type": "presence", "event": "track", "payload": {"k": 1}}])).await;
    assert_eq!(b.reply("7").await["status"], "ok");
    drop(b);
    let diff = c
        .wait_for(T, |f| {
            f.event() == Some("presence_diff") && f.payload()["leaves"].get("bob").is_some()
        })
        .await;
    assert!(diff.is_some(), "leave on disconnect");
    rt.stop().await;
}

#[tokio::test]
async fn tokens_are_checked_refreshed_and_expire() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    // bad key: the upgrade is refused
    assert!(tokio_tungstenite::connect_async(rt.ws_url("garbage"))
        .await
        .is_err());
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    // a join with an invalid token is refused with a reason
    let r = c.join("a", json!({}), Some("not-a-jwt")).await;
    assert_eq!(r["status"], "error");
    assert_eq!(
        r["response"]["reason"],
        "MalformedJWT: The token provided is not a valid JWT"
    );
    let r = c
        .join(
            "a",
            json!({}),
            Some(&sign(json!({"sub": "x", "exp": now() + 60}))),
        )
        .await;
    assert_eq!(
        r["response"]["reason"],
        "InvalidJWTToken: Fields `role` and `exp` are required in JWT"
    );

    // a token expiring in 2 s: the channel is closed with a system message, then phx_close
    let short = sign(json!({"role": "authenticated", "sub": "u", "exp": now() + 2}));
    assert_eq!(c.join("b", json!({}), Some(&short)).await["status"], "ok");
    // a refreshed token on another channel keeps it open past the first one's expiry
    let short2 = sign(json!({"role": "authenticated", "sub": "u", "exp": now() + 2}));
    assert_eq!(c.join("c", json!({}), Some(&short2)).await["status"], "ok");
    c.send(json!(["3", "9", "realtime:c", "access_token", {"access_token": user("u")}]))
        .await;
    let sys = c
        .wait_for(Duration::from_secs(6), |f| f.event() == Some("system"))
        .await
        .unwrap();
    let v = match &sys {
        Frame::Text(v) => v.clone(),
        _ => unreachable!(),
    };
    assert_eq!(v[2], "realtime:b");
    assert_eq!(v[4]["extension"], "system");
    assert_eq!(v[4]["status"], "error");
    assert!(v[4]["message"]
        .as_str()
        .unwrap()
        .starts_with("Token has expired"));
    let close = c
        .wait_for(T, |f| f.event() == Some("phx_close"))
        .await
        .unwrap();
    assert_eq!(
        match close {
            Frame::Text(v) => v[2].clone(),
            _ => unreachable!(),
        },
        "realtime:b"
    );
    // channel c is still joined: a broadcast to it with ack is answered
    assert!(c
        .wait_for(Duration::from_secs(2), |f| f.event() == Some("phx_close"))
        .await
        .is_none());
    c.send(json!(["3", "10", "realtime:c", "broadcast", {"type": "broadcast", "event": "e", "payload": {}}])).await;
    // no ack configured, but the channel must not answer "unmatched topic"
    assert!(c
        .wait_for(Duration::from_millis(300), |f| f.event()
            == Some("phx_reply"))
        .await
        .is_none());
    // an invalid refreshed token closes the channel
    c.send(json!(["3", "11", "realtime:c", "access_token", {"access_token": "bad.token.value"}]))
        .await;
    let sys = c
        .wait_for(T, |f| f.event() == Some("system"))
        .await
        .unwrap();
    assert_eq!(
        sys.payload()["message"],
        "The token provided is not a valid JWT"
    );
    assert!(c
        .wait_for(T, |f| f.event() == Some("phx_close"))
        .await
        .is_some());
    rt.stop().await;
}

/// A client's Close frame is answered with a Close frame with the same code, and the connection
/// then ends cleanly (no 1006 for the client), also with a joined channel and frames queued.
#[tokio::test]
async fn close_frame_is_answered_with_close() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message as Ws;

    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    for (code, joined) in [(CloseCode::Normal, false), (CloseCode::Library(4000), true)] {
        let (mut ws, _) = tokio_tungstenite::connect_async(rt.ws_url(&anon()))
            .await
            .unwrap();
        if joined {
            let join = json!(["1", "1", "realtime:room", "phx_join", {"config": {"broadcast": {"self": true}}}]);
            ws.send(Ws::Text(join.to_string().into())).await.unwrap();
            // frames the server queues around the close
            for i in 0..20 {
                let b = json!(["1", format!("b{i}"), "realtime:room", "broadcast",
                    {"type": "broadcast", "event": "e", "payload": {"i": i}}]);
                ws.send(Ws::Text(b.to_string().into())).await.unwrap();
            }
        }
        ws.send(Ws::Close(Some(CloseFrame {
            code,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
        let mut reply = None;
        let read = async {
            while let Some(m) = ws.next().await {
                match m {
                    Ok(Ws::Close(f)) => reply = Some(f),
                    Ok(_) => {}
                    Err(e) => panic!("the connection ended without a clean close: {e}"),
                }
            }
        };
        tokio::time::timeout(T, read)
            .await
            .expect("the server ends the connection");
        let frame = reply.expect("a Close frame in reply").expect("with a code");
        assert_eq!(frame.code, code, "the client's code is echoed");
    }
    rt.stop().await;
}
