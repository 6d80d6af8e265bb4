//! Exact frames a client sees, as Supabase Realtime sends them: leave and close, duplicate
//! joins, join refusals, token refreshes, presence replies and updates, broadcasts refused by
//! policy.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);

fn text(f: Frame) -> Value {
    match f {
        Frame::Text(v) => v,
        Frame::Binary(_) => panic!("binary frame"),
    }
}

/// Run SQL statements on the test database.
async fn sql(db: &basalt_testkit::TestDb, statements: &str) {
    db.client().await.batch_execute(statements).await.unwrap();
}

/// The next text frame with `event`.
async fn frame(c: &mut Client, event: &str) -> Value {
    let e = event.to_owned();
    text(
        c.wait_for(T, move |f| f.event() == Some(e.as_str()))
            .await
            .unwrap_or_else(|| panic!("no {event}")),
    )
}

/// The frame replying to `reference`, whole.
async fn reply_frame(c: &mut Client, reference: &str) -> Value {
    let r = reference.to_owned();
    text(
        c.wait_for(
            T,
            move |f| matches!(f, Frame::Text(v) if v[3] == "phx_reply" && v[1] == r.as_str()),
        )
        .await
        .expect("reply"),
    )
}

#[tokio::test]
async fn leave_is_answered_then_closed_and_a_second_join_closes_the_first() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    // join ref "1"; the reply lists the (here no) postgres_changes
    assert_eq!(
        c.join("room", json!({}), None).await,
        json!({"status": "ok", "response": {"postgres_changes": []}})
    );
    c.send(json!(["1", "9", "realtime:room", "phx_leave", {}]))
        .await;
    assert_eq!(
        reply_frame(&mut c, "9").await,
        json!(["1", "9", "realtime:room", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert_eq!(
        frame(&mut c, "phx_close").await,
        json!(["1", "1", "realtime:room", "phx_close", {}])
    );
    // Leaving a topic that is not joined: ok, and no phx_close.
    c.send(json!(["7", "10", "realtime:room", "phx_leave", {}]))
        .await;
    assert_eq!(
        reply_frame(&mut c, "10").await,
        json!(["7", "10", "realtime:room", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert!(c
        .wait_for(QUIET, |f| f.event() == Some("phx_close"))
        .await
        .is_none());

    // A second join of the same topic closes the first channel (its join ref) first.
    assert_eq!(c.join("dup", json!({}), None).await["status"], "ok"); // ref 2
    assert_eq!(c.join("dup", json!({}), None).await["status"], "ok"); // ref 3
    assert_eq!(
        frame(&mut c, "phx_close").await,
        json!(["2", "2", "realtime:dup", "phx_close", {}])
    );
    rt.stop().await;
}

#[tokio::test]
async fn join_refusals_name_their_error_code() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let reason = |r: Value| r["response"]["reason"].as_str().unwrap().to_owned();

    let r = c.join("", json!({}), None).await;
    assert_eq!(r["status"], "error");
    assert_eq!(
        reason(r),
        "TopicNameRequired: You must provide a topic name"
    );

    let expired = sign(json!({"role": "anon", "exp": now() - 30}));
    let r = reason(c.join("a", json!({}), Some(&expired)).await);
    assert!(
        r.starts_with("InvalidJWTToken: Token has expired ") && r.ends_with(" seconds ago"),
        "{r}"
    );
    let foreign = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"role": "anon", "exp": now() + 60}),
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-another-secret-xx"),
    )
    .unwrap();
    assert_eq!(
        reason(c.join("a", json!({}), Some(&foreign)).await),
        "JwtSignatureError: Failed to validate JWT signature"
    );
    assert_eq!(
        reason(c.join("a", json!({}), Some("abc")).await),
        "MalformedJWT: The token provided is not a valid JWT"
    );
    assert_eq!(
        reason(
            c.join("a", json!({}), Some(&sign(json!({"role": "anon"}))))
                .await
        ),
        "InvalidJWTToken: Fields `role` and `exp` are required in JWT"
    );

    // A topic outside `realtime:` has no channel.
    c.send(json!(["40", "40", "elsewhere", "phx_join", {"config": {}}]))
        .await;
    assert_eq!(
        reply_frame(&mut c, "40").await,
        json!(["40", "40", "elsewhere", "phx_reply",
               {"status": "error", "response": {"reason": "unmatched topic"}}])
    );
    rt.stop().await;
}

#[tokio::test]
async fn refreshed_tokens_same_ignored_bad_signature_closes() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let token = user("u1");
    assert_eq!(
        c.join("room", json!({}), Some(&token)).await["status"],
        "ok"
    ); // join ref 1
       // The same token again: nothing happens (no reply, no close).
    c.send(json!(["1", "5", "realtime:room", "access_token", {"access_token": token}]))
        .await;
    assert!(c.next(QUIET).await.is_none());
    // A token signed with another key closes the channel.
    let foreign = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"role": "authenticated", "exp": now() + 60}),
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-another-secret-xx"),
    )
    .unwrap();
    c.send(json!(["1", "6", "realtime:room", "access_token", {"access_token": foreign}]))
        .await;
    assert_eq!(
        frame(&mut c, "system").await,
        json!(["1", null, "realtime:room", "system",
               {"extension": "system", "status": "error", "message": ":signature_error",
                "channel": "room"}])
    );
    assert_eq!(
        frame(&mut c, "phx_close").await,
        json!(["1", "1", "realtime:room", "phx_close", {}])
    );
    rt.stop().await;
}

const A: &str = "11111111-1111-1111-1111-111111111111";
const B: &str = "22222222-2222-2222-2222-222222222222";

/// Everybody may read presence; only A may read broadcasts; nobody may write.
async fn read_policies(db: &basalt_testkit::TestDb) {
    sql(
        db,
        &format!(
            "CREATE POLICY presence_all ON realtime.messages FOR SELECT TO authenticated
               USING (realtime.messages.extension = 'presence');
             CREATE POLICY broadcast_a ON realtime.messages FOR SELECT TO authenticated
               USING (realtime.messages.extension = 'broadcast' AND auth.uid() = '{A}');"
        ),
    )
    .await;
}

#[tokio::test]
async fn private_channel_refresh_and_broadcast_without_write() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    read_policies(&db).await;
    let private = json!({"private": true, "broadcast": {"ack": true}});
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(
        c.join("team", private.clone(), Some(&user(A))).await["status"],
        "ok"
    ); // join ref 1
       // No write permission: the broadcast is dropped without a reply, even with ack.
    c.send(json!(["1", "7", "realtime:team", "broadcast",
                  {"type": "broadcast", "event": "e", "payload": {}}]))
        .await;
    assert!(c.next(QUIET).await.is_none());

    // B's token still reads presence but no longer broadcasts: closed as revoked.
    c.send(json!(["1", "8", "realtime:team", "access_token", {"access_token": user(B)}]))
        .await;
    assert_eq!(
        frame(&mut c, "system").await[4],
        json!({"extension": "system", "status": "error",
               "message": "You no longer have permission to read from this Channel topic: team",
               "channel": "team"})
    );
    assert_eq!(
        frame(&mut c, "phx_close").await,
        json!(["1", "1", "realtime:team", "phx_close", {}])
    );

    // A token that may read nothing: closed without the error code prefix of a join.
    assert_eq!(
        c.join("team", private.clone(), Some(&user(A))).await["status"],
        "ok"
    ); // join ref 2
    let nobody = sign(json!({"role": "anon", "exp": now() + 60}));
    c.send(json!(["2", "9", "realtime:team", "access_token", {"access_token": nobody}]))
        .await;
    assert_eq!(
        frame(&mut c, "system").await[4]["message"],
        "You do not have permissions to read from this Channel topic: team"
    );
    rt.stop().await;
}

#[tokio::test]
async fn presence_replies_and_updates() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    let cfg = |k: &str| json!({"presence": {"key": k, "enabled": true}});
    assert_eq!(a.join("lobby", cfg("alice"), None).await["status"], "ok"); // join ref 1
    assert_eq!(b.join("lobby", cfg("bob"), None).await["status"], "ok");
    frame(&mut a, "presence_state").await;
    frame(&mut b, "presence_state").await;
    let push = |r: &str, payload: Value| json!(["1", r, "realtime:lobby", "presence", payload]);

    // Event names are case-insensitive.
    a.send(push(
        "10",
        json!({"type": "presence", "event": "TRACK", "payload": {"n": 1}}),
    ))
    .await;
    assert_eq!(
        reply_frame(&mut a, "10").await[4],
        json!({"status": "ok", "response": {}})
    );
    let first = frame(&mut b, "presence_diff").await[4].clone();
    let ref1 = first["joins"]["alice"]["metas"][0]["phx_ref"].clone();
    assert!(ref1.is_string());
    assert!(first["joins"]["alice"]["metas"][0]
        .get("phx_ref_prev")
        .is_none());

    // The same meta again: ok, and no diff.
    a.send(push(
        "11",
        json!({"type": "presence", "event": "track", "payload": {"n": 1}}),
    ))
    .await;
    assert_eq!(reply_frame(&mut a, "11").await[4]["status"], "ok");
    assert!(b
        .wait_for(QUIET, |f| f.event() == Some("presence_diff"))
        .await
        .is_none());

    // A new meta: the join names the replaced one in phx_ref_prev, the leave carries the old.
    a.send(push(
        "12",
        json!({"type": "presence", "event": "track", "payload": {"n": 2}}),
    ))
    .await;
    assert_eq!(reply_frame(&mut a, "12").await[4]["status"], "ok");
    let diff = frame(&mut b, "presence_diff").await[4].clone();
    let join = &diff["joins"]["alice"]["metas"][0];
    assert_eq!(join["n"], 2);
    assert_eq!(join["phx_ref_prev"], ref1);
    assert_ne!(join["phx_ref"], ref1);
    assert_eq!(
        diff["leaves"]["alice"]["metas"],
        json!([{"n": 1, "phx_ref": ref1}])
    );

    // Unknown event: a bare error. A meta that is no object: an error with a reason.
    a.send(push("13", json!({"type": "presence", "event": "wave"})))
        .await;
    assert_eq!(
        reply_frame(&mut a, "13").await[4],
        json!({"status": "error", "response": {}})
    );
    a.send(push(
        "14",
        json!({"type": "presence", "event": "track", "payload": [1, 2]}),
    ))
    .await;
    assert_eq!(
        reply_frame(&mut a, "14").await[4],
        json!({"status": "error",
               "response": {"reason": "Presence track payload must be a map"}})
    );
    // No event at all: ok, nothing done.
    a.send(push("15", json!({"type": "presence"}))).await;
    assert_eq!(
        reply_frame(&mut a, "15").await[4],
        json!({"status": "ok", "response": {}})
    );
    rt.stop().await;
}

/// The `system` message after joining with `changes`.
async fn cdc_system(c: &mut Client, topic: &str, changes: Value) -> Value {
    let r = c
        .join(topic, json!({"postgres_changes": changes}), None)
        .await;
    assert_eq!(r["status"], "ok", "{r}");
    frame(c, "system").await[4].clone()
}

#[tokio::test]
async fn postgres_changes_bindings_are_checked_against_the_database() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    sql(
        &db,
        "CREATE TABLE public.notes (id bigint PRIMARY KEY, body text);
             CREATE TABLE public.unpublished (id bigint PRIMARY KEY);
             ALTER PUBLICATION supabase_realtime ADD TABLE public.notes;",
    )
    .await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let sys = |message: &str, channel: &str| {
        json!({"extension": "postgres_changes", "status": "error", "message": message,
               "channel": channel})
    };

    // A table that is not published.
    assert_eq!(
        cdc_system(&mut c, "a", json!([{"event": "INSERT", "schema": "public", "table": "unpublished"}]))
            .await,
        sys("Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [event: INSERT, schema: public, table: unpublished, filters: [], select: nil]", "a")
    );
    // A filter on a column the table does not have.
    assert_eq!(
        cdc_system(&mut c, "b", json!([{"event": "*", "schema": "public", "table": "notes", "filter": "subject=eq.hey"}]))
            .await,
        sys("Unable to subscribe to changes with given parameters. An exception happened so please check your connect parameters: [event: *, schema: public, table: notes, filters: [{\"subject\", \"eq\", \"hey\", false}], select: nil]. Exception: ERROR P0001 (raise_exception) invalid column for filter subject", "b")
    );
    // Filter syntax errors.
    for (i, (filter, why)) in [
        ("undefined", r#"["undefined"]"#),
        ("id=foo.hey", r#"["foo", "hey"]"#),
        (
            "id=in.1",
            "`in` filter value must be wrapped by parentheses",
        ),
        (
            "id=eq.1,,body=eq.x",
            "filter must not contain empty segments (check for extra commas)",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let topic = format!("f{i}");
        assert_eq!(
            cdc_system(
                &mut c,
                &topic,
                json!([{"event": "*", "schema": "public", "table": "notes", "filter": filter}])
            )
            .await,
            sys(&format!("Error parsing `filter` params: {why}"), &topic)
        );
    }
    // One bad binding refuses the channel's others too; an unknown event means every event.
    let mut d = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(
        cdc_system(
            &mut d,
            "mixed",
            json!([
                {"event": "INSERT", "schema": "public", "table": "notes"},
                {"event": "*", "schema": "public", "table": "unpublished"}
            ])
        )
        .await["status"],
        "error"
    );
    assert_eq!(
        cdc_system(
            &mut d,
            "any",
            json!([{"event": "UPSERT", "schema": "public", "table": "notes",
                                          "filter": "id=in.(1,2)"}])
        )
        .await,
        json!({"extension": "postgres_changes", "status": "ok",
               "message": "Subscribed to PostgreSQL", "channel": "any"})
    );
    sql(&db, "INSERT INTO notes VALUES (1, 'x'), (3, 'y')").await;
    let got = frame(&mut d, "postgres_changes").await;
    assert_eq!(got[2], "realtime:any");
    assert_eq!(got[4]["data"]["record"], json!({"id": 1, "body": "x"}));
    assert!(d
        .wait_for(Duration::from_secs(1), |f| f.event()
            == Some("postgres_changes"))
        .await
        .is_none());
    rt.stop().await;
}

/// POST `body` to `path` with the anon key; the status and the body.
async fn post(rt: &Served, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = rt.server.addr.to_string();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\napikey: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        anon(),
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[tokio::test]
async fn batch_broadcast_validates_every_message_first() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(c.join("room", json!({}), None).await["status"], "ok");
    let errors = |b: &str| -> Value { serde_json::from_str::<Value>(b).unwrap() };

    let (status, body) = post(&rt, "/api/broadcast", "{}").await;
    assert_eq!(status, 422);
    assert_eq!(
        errors(&body),
        json!({"errors": {"messages": ["can't be blank"]}})
    );
    let (status, body) = post(&rt, "/api/broadcast", r#"{"messages": 3}"#).await;
    assert_eq!(status, 422);
    assert_eq!(
        errors(&body),
        json!({"errors": {"messages": ["is invalid"]}})
    );
    // One bad message: nothing is sent, each message's errors are listed.
    let (status, body) = post(
        &rt,
        "/api/broadcast",
        r#"{"messages": [{"topic": "room", "event": "ok", "payload": {}},
                         {"topic": "", "payload": [1], "private": "yes"}]}"#,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        errors(&body),
        json!({"errors": {"messages": [{}, {"topic": ["can't be blank"],
                                            "event": ["can't be blank"],
                                            "payload": ["is invalid"],
                                            "private": ["is invalid"]}]}})
    );
    assert!(c.next(QUIET).await.is_none());
    // A valid batch: 202 with an empty body; an `id` comes along as meta.
    let (status, body) = post(
        &rt,
        "/api/broadcast",
        r#"{"messages": [{"topic": "room", "event": "e", "payload": {"n": 1}, "id": "m-1"}]}"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (202, ""));
    // A Phoenix broadcast: a text frame on vsn 2.0.0 too, keys as Supabase Realtime orders them.
    frame(&mut c, "broadcast").await;
    assert_eq!(
        c.raw.last().unwrap(),
        r#"[null,null,"realtime:room","broadcast",{"event":"e","meta":{"id":"m-1"},"payload":{"n":1},"type":"broadcast"}]"#
    );
    rt.stop().await;
}

#[tokio::test]
async fn an_oversized_broadcast_is_refused_with_payload_size_exceeded() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start_with(basalt_realtime::Config {
        max_broadcast_bytes: 100,
        ..config(&db.url)
    })
    .await;
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(
        a.join("big", json!({"broadcast": {"ack": true}}), None)
            .await["status"],
        "ok"
    );
    assert_eq!(b.join("big", json!({}), None).await["status"], "ok");
    let big = json!({"blob": "x".repeat(200)});
    a.send(json!(["1", "5", "realtime:big", "broadcast",
                  {"type": "broadcast", "event": "e", "payload": big}]))
        .await;
    assert_eq!(
        reply_frame(&mut a, "5").await,
        json!(["1", "5", "realtime:big", "phx_reply",
               {"status": "error", "response": "payload_size_exceeded"}])
    );
    assert!(b.next(QUIET).await.is_none());
    a.send(json!(["1", "6", "realtime:big", "broadcast",
                  {"type": "broadcast", "event": "e", "payload": {"n": 1}}]))
        .await;
    assert_eq!(
        reply_frame(&mut a, "6").await[4],
        json!({"status": "ok", "response": {}})
    );
    assert!(b
        .wait_for(T, |f| f.event() == Some("broadcast"))
        .await
        .is_some());
    // Over HTTP the same limit is a 422 naming the payload.
    let body = json!({"messages": [{"topic": "big", "event": "e", "payload": big}]}).to_string();
    let (status, body) = post(&rt, "/api/broadcast", &body).await;
    assert_eq!(status, 422);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"errors": {"messages": [{"payload": ["Payload size exceeds tenant limit"]}]}})
    );
    rt.stop().await;
}

#[tokio::test]
async fn a_change_over_the_record_limit_drops_long_values_with_error_413() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    sql(
        &db,
        "CREATE TABLE public.docs (id bigint PRIMARY KEY, title text, body text);
             ALTER PUBLICATION supabase_realtime ADD TABLE public.docs;",
    )
    .await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(
        cdc_system(
            &mut c,
            "docs",
            json!([{"event": "INSERT", "schema": "public", "table": "docs"}])
        )
        .await["status"],
        "ok"
    );
    sql(
        &db,
        "INSERT INTO docs VALUES (1, 'small', 'short');
             INSERT INTO docs VALUES (2, 'big', repeat('x', 1100000));",
    )
    .await;
    let small = frame(&mut c, "postgres_changes").await[4]["data"].clone();
    assert_eq!(small["errors"], Value::Null);
    assert_eq!(
        small["record"],
        json!({"id": 1, "title": "small", "body": "short"})
    );
    let big = frame(&mut c, "postgres_changes").await[4]["data"].clone();
    assert_eq!(big["errors"], json!(["Error 413: Payload Too Large"]));
    assert_eq!(big["record"], json!({"id": 2, "title": "big"}));
    assert_eq!(big["type"], "INSERT");
    rt.stop().await;
}

#[tokio::test]
async fn join_flags_may_be_text_and_presence_keys_numbers() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let cfg = json!({"broadcast": {"self": "true", "ack": "TRUE"},
                     "presence": {"key": 7, "enabled": "true"}});
    assert_eq!(c.join("flags", cfg, None).await["status"], "ok"); // join ref 1
    assert_eq!(
        frame(&mut c, "presence_state").await,
        json!(["1", null, "realtime:flags", "presence_state", {}])
    );
    c.send(json!(["1", "5", "realtime:flags", "broadcast",
                  {"type": "broadcast", "event": "e", "payload": {"n": 1}}]))
        .await;
    assert!(c
        .wait_for(T, |f| f.event() == Some("broadcast"))
        .await
        .is_some());
    assert_eq!(reply_frame(&mut c, "5").await[4]["status"], "ok");
    c.send(json!(["1", "6", "realtime:flags", "presence",
                  {"type": "presence", "event": "track", "payload": {"a": 1}}]))
        .await;
    assert_eq!(reply_frame(&mut c, "6").await[4]["status"], "ok");
    let diff = frame(&mut c, "presence_diff").await;
    assert_eq!(diff[0], Value::Null);
    assert_eq!(diff[4]["joins"]["7"]["metas"][0]["a"], 1);
    rt.stop().await;
}

#[tokio::test]
async fn like_ilike_and_isdistinct_filters_select_rows() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    sql(
        &db,
        "CREATE TABLE public.places (id bigint PRIMARY KEY, name text, n int);
             ALTER PUBLICATION supabase_realtime ADD TABLE public.places;",
    )
    .await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let sub =
        |f: &str| json!([{"event": "INSERT", "schema": "public", "table": "places", "filter": f}]);
    assert_eq!(
        cdc_system(&mut c, "ilike", sub("name=ilike.%LIS%")).await["status"],
        "ok"
    );
    assert_eq!(
        cdc_system(&mut c, "distinct", sub("n=isdistinct.1")).await["status"],
        "ok"
    );
    sql(
        &db,
        "INSERT INTO places VALUES (1, 'Lisbon', 1), (2, 'oslo', NULL), (3, 'lissabon', 2)",
    )
    .await;
    let got = c.collect("postgres_changes", Duration::from_secs(2)).await;
    let mut ids: Vec<(String, i64)> = got
        .iter()
        .map(|f| {
            let v = text(f.clone());
            (
                v[2].as_str().unwrap().to_owned(),
                v[4]["data"]["record"]["id"].as_i64().unwrap(),
            )
        })
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            ("realtime:distinct".to_owned(), 2),
            ("realtime:distinct".to_owned(), 3),
            ("realtime:ilike".to_owned(), 1),
            ("realtime:ilike".to_owned(), 3),
        ]
    );
    rt.stop().await;
}

/// A socket the server refuses at the upgrade: its status and JSON body.
async fn refused(url: &str) -> (u16, Value) {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("the socket was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => (
            r.status().as_u16(),
            serde_json::from_slice(r.body().as_deref().unwrap_or(b"null")).unwrap(),
        ),
        Err(e) => panic!("{e}"),
    }
}

/// Rates counted in 100 ms buckets, averaged over the last 12 (1.2 s).
const TICK: Duration = Duration::from_millis(100);

#[tokio::test]
async fn joins_over_the_rate_are_refused_and_the_socket_closed() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start_with(basalt_realtime::Config {
        max_joins_per_second: 2,
        rate_tick: TICK,
        ..config(&db.url)
    })
    .await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    for i in 0..5 {
        let r = c.join(&format!("room-{i}"), json!({}), None).await;
        assert_eq!(r["status"], "ok", "{r}");
    }
    // Once a bucket has closed at 50 joins/s, a join is refused and the socket ends.
    tokio::time::sleep(TICK + TICK / 2).await;
    c.send(json!(["9", "9", "realtime:late", "phx_join", {"config": {}}]))
        .await;
    assert_eq!(
        reply_frame(&mut c, "9").await,
        json!(["9", "9", "realtime:late", "phx_reply",
               {"status": "error",
                "response": {"reason": "ClientJoinRateLimitReached: Too many joins per second"}}])
    );
    assert!(c.next(T).await.is_none(), "the socket is closed");
    // A new socket is refused at the upgrade while the rate stays over the limit…
    assert_eq!(
        refused(&rt.ws_url(&anon())).await,
        (429, json!({"error": "Too many joins per second"}))
    );
    // …and accepted again once the joins left the window.
    tokio::time::sleep(TICK * 13).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(c.join("again", json!({}), None).await["status"], "ok");
    rt.stop().await;
}

#[tokio::test]
async fn sockets_over_the_concurrent_users_are_refused() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start_with(basalt_realtime::Config {
        max_concurrent_users: 1,
        ..config(&db.url)
    })
    .await;
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    // A socket counts from its first join; its further joins are its own.
    assert_eq!(a.join("one", json!({}), None).await["status"], "ok");
    assert_eq!(a.join("two", json!({}), None).await["status"], "ok");
    b.send(json!(["1", "1", "realtime:one", "phx_join", {"config": {}}]))
        .await;
    assert_eq!(
        reply_frame(&mut b, "1").await,
        json!(["1", "1", "realtime:one", "phx_reply",
               {"status": "error",
                "response": {"reason": "ConnectionRateLimitReached: Too many connected users"}}])
    );
    assert_eq!(
        refused(&rt.ws_url(&anon())).await,
        (429, json!({"error": "Too many connected users"}))
    );
    // When the counted socket goes, another may join.
    drop(a);
    let mut joined = false;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = b.join(&format!("retry-{i}"), json!({}), None).await;
        if r["status"] == "ok" {
            joined = true;
            break;
        }
    }
    assert!(joined, "the socket joins once the first one closed");
    rt.stop().await;
}

#[tokio::test]
async fn messages_over_the_rate_close_the_channels_that_receive_them() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start_with(basalt_realtime::Config {
        max_events_per_second: 5,
        rate_tick: TICK,
        ..config(&db.url)
    })
    .await;
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    let mut quiet = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(a.join("room", json!({}), None).await["status"], "ok");
    assert_eq!(b.join("room", json!({}), None).await["status"], "ok");
    assert_eq!(
        quiet.join("elsewhere", json!({}), None).await["status"],
        "ok"
    );
    // A batch larger than the rate left is refused whole.
    let batch: Vec<Value> = (0..6)
        .map(|n| json!({"topic": "room", "event": "e", "payload": {"n": n}}))
        .collect();
    let (status, body) = post(
        &rt,
        "/api/broadcast",
        &json!({"messages": batch}).to_string(),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"message": "Too many messages to broadcast, please reduce the batch size"})
    );
    assert!(b.next(QUIET).await.is_none());
    // 10 sends and 10 deliveries in one bucket: 200 messages/s.
    for n in 0..10 {
        a.send(json!(["1", null, "realtime:room", "broadcast",
                      {"type": "broadcast", "event": "e", "payload": {"n": n}}]))
            .await;
    }
    for _ in 0..10 {
        assert_eq!(b.next(T).await.unwrap().event(), Some("broadcast"));
    }
    tokio::time::sleep(TICK + TICK / 2).await;
    // Over the rate: the channel that receives a message gets it, then is closed.
    a.send(json!(["1", null, "realtime:room", "broadcast",
                  {"type": "broadcast", "event": "e", "payload": {"n": 10}}]))
        .await;
    assert_eq!(b.next(T).await.unwrap().event(), Some("broadcast"));
    assert_eq!(
        text(b.next(T).await.unwrap()),
        json!(["1", null, "realtime:room", "system",
               {"extension": "system", "status": "error",
                "message": "Too many messages per second", "channel": "room"}])
    );
    assert_eq!(
        text(b.next(T).await.unwrap()),
        json!(["1", "1", "realtime:room", "phx_close", {}])
    );
    // The sender (no `self`) received nothing and keeps its channel; so does a quiet channel.
    assert!(a.next(QUIET).await.is_none());
    assert!(quiet.next(QUIET).await.is_none());
    // Over HTTP: 429.
    let one = json!({"messages": [{"topic": "room", "event": "e", "payload": {}}]}).to_string();
    let (status, body) = post(&rt, "/api/broadcast", &one).await;
    assert_eq!(status, 429);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"message": "You have exceeded your rate limit"})
    );
    let (status, body) = post(&rt, "/api/broadcast/room/events/e", "{}").await;
    assert_eq!(status, 429);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"message": "You have exceeded your rate limit"})
    );
    // Once the window passed, broadcasting works again.
    tokio::time::sleep(TICK * 13).await;
    let (status, _) = post(&rt, "/api/broadcast", &one).await;
    assert_eq!(status, 202);
    rt.stop().await;
}

#[tokio::test]
async fn text_pushes_reach_vsn_2_as_text_and_binary_pushes_without_their_metadata() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(a.join("room", json!({}), None).await["status"], "ok");
    assert_eq!(b.join("room", json!({}), None).await["status"], "ok");
    // A text push is relayed as a Phoenix broadcast: a text frame, keys sorted.
    a.send(json!(["1", null, "realtime:room", "broadcast",
                  {"type": "broadcast", "event": "t", "payload": {"n": 1}}]))
        .await;
    frame(&mut b, "broadcast").await;
    assert_eq!(
        b.raw.last().unwrap(),
        r#"[null,null,"realtime:room","broadcast",{"event":"t","payload":{"n":1},"type":"broadcast"}]"#
    );
    // A binary push (kind 3, with metadata) arrives as kind 4 without metadata.
    let (topic, meta, payload) = ("realtime:room", r#"{"persist":true}"#, r#"{"n":2}"#);
    let mut push = vec![3u8, 1, 0, topic.len() as u8, 1, meta.len() as u8, 1];
    for s in ["1", topic, "b", meta, payload] {
        push.extend_from_slice(s.as_bytes());
    }
    a.send_binary(push).await;
    let mut expected = vec![4u8, topic.len() as u8, 1, 0, 1];
    for s in [topic, "b", payload] {
        expected.extend_from_slice(s.as_bytes());
    }
    assert_eq!(b.next(T).await, Some(Frame::Binary(expected)));
    rt.stop().await;
}

#[tokio::test]
async fn a_private_join_replays_stored_broadcasts_since_an_instant() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    read_policies(&db).await;
    sql(
        &db,
        r#"INSERT INTO realtime.messages (id, topic, extension, event, payload, private, inserted_at)
             VALUES ('00000000-0000-0000-0000-000000000001', 'news', 'broadcast', 'e', '{"n": 1}', true,
                     localtimestamp - interval '3 minutes'),
                    ('00000000-0000-0000-0000-000000000002', 'news', 'broadcast', 'e', '{"n": 2}', true,
                     localtimestamp - interval '2 minutes'),
                    ('00000000-0000-0000-0000-000000000003', 'news', 'broadcast', 'f',
                     '{"z": 1, "a": {"y": 2, "b": 3}}', true, localtimestamp - interval '1 minute'),
                    ('00000000-0000-0000-0000-000000000004', 'news', 'broadcast', 'e', '{}', false,
                     localtimestamp - interval '1 minute'),
                    ('00000000-0000-0000-0000-000000000005', 'news', 'presence', 'e', '{}', true,
                     localtimestamp - interval '1 minute'),
                    ('00000000-0000-0000-0000-000000000006', 'other', 'broadcast', 'e', '{}', true,
                     localtimestamp - interval '1 minute');"#,
    )
    .await;
    // The inserts were broadcast live to nobody; let the node read past them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since: i64 = db
        .client()
        .await
        .query_one(
            "SELECT (extract(epoch FROM now() - interval '150 seconds') * 1000)::bigint",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let join = |r: &str, config: Value, token: &str| {
        let frame = json!([r, r, "realtime:news", "phx_join",
                           {"config": config, "access_token": token}]);
        (r.to_owned(), frame)
    };
    // The newest `limit` messages since `since`, oldest first, after the reply.
    let (r, f) = join(
        "1",
        json!({"private": true, "broadcast": {"replay": {"since": since, "limit": 1}}}),
        &user(A),
    );
    a.send(f).await;
    assert_eq!(reply_frame(&mut a, &r).await[4]["status"], "ok");
    frame(&mut a, "broadcast").await;
    assert_eq!(
        a.raw.last().unwrap(),
        r#"["1",null,"realtime:news","broadcast",{"event":"f","meta":{"id":"00000000-0000-0000-0000-000000000003","replayed":true},"payload":{"a":{"b":3,"y":2},"z":1},"type":"broadcast"}]"#
    );
    assert!(a.next(QUIET).await.is_none());
    let (r, f) = join(
        "2",
        json!({"private": true, "broadcast": {"replay": {"since": since}}}),
        &user(A),
    );
    a.send(f).await;
    assert_eq!(reply_frame(&mut a, &r).await[4]["status"], "ok");
    let replayed: Vec<Value> = a
        .collect("broadcast", QUIET)
        .await
        .into_iter()
        .map(|f| f.payload())
        .collect();
    assert_eq!(
        replayed,
        vec![
            json!({"event": "e", "meta": {"id": "00000000-0000-0000-0000-000000000002", "replayed": true},
                   "payload": {"n": 2}, "type": "broadcast"}),
            json!({"event": "f", "meta": {"id": "00000000-0000-0000-0000-000000000003", "replayed": true},
                   "payload": {"a": {"b": 3, "y": 2}, "z": 1}, "type": "broadcast"}),
        ]
    );
    // Refusals, each the join's error reason.
    let refused = |reason: &str| json!({"status": "error", "response": {"reason": reason}});
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    let (r, f) = join(
        "1",
        json!({"private": true, "broadcast": {"replay": {"since": since}}}),
        &user(B),
    );
    b.send(f).await;
    assert_eq!(
        reply_frame(&mut b, &r).await[4],
        refused("Unauthorized: You do not have permissions to read from this Channel topic: news")
    );
    let (r, f) = join(
        "2",
        json!({"broadcast": {"replay": {"since": since}}}),
        &user(B),
    );
    b.send(f).await;
    assert_eq!(
        reply_frame(&mut b, &r).await[4],
        refused("UnableToReplayMessages: Replay is not allowed for public channels")
    );
    let (r, f) = join(
        "3",
        json!({"private": true, "broadcast": {"replay": {"since": "yesterday"}}}),
        &user(A),
    );
    a.send(f).await;
    assert_eq!(
        reply_frame(&mut a, &r).await[4],
        refused("UnableToReplayMessages: Replay params are not valid")
    );
    rt.stop().await;
}

/// A kind-4 frame's metadata text.
fn kind4_meta(f: &[u8]) -> String {
    let (t, e, m) = (f[1] as usize, f[2] as usize, f[3] as usize);
    String::from_utf8(f[5 + t + e..5 + t + e + m].to_vec()).unwrap()
}

/// A kind-4 frame: topic, event, metadata, encoding (1 JSON, 0 bytes), payload.
fn kind4(topic: &str, event: &str, meta: &str, encoding: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        4u8,
        topic.len() as u8,
        event.len() as u8,
        meta.len() as u8,
        encoding,
    ];
    for s in [topic, event, meta] {
        f.extend_from_slice(s.as_bytes());
    }
    f.extend_from_slice(payload);
    f
}

#[tokio::test]
async fn database_broadcasts_carry_their_id_and_bytes_as_supabase_realtime_sends_them() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    sql(
        &db,
        "CREATE POLICY read_team ON realtime.messages FOR SELECT TO authenticated
           USING (realtime.topic() = 'team');
         CREATE POLICY write_team ON realtime.messages FOR INSERT TO authenticated
           WITH CHECK (realtime.topic() = 'team');",
    )
    .await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let r = c
        .join("team", json!({"private": true}), Some(&user(A)))
        .await;
    assert_eq!(r["status"], "ok", "{r}");
    // As the user: the insert policy sees realtime.topic(); to another topic it refuses, and
    // realtime.send only warns.
    let as_user = format!(
        "BEGIN; SET LOCAL ROLE authenticated;
         SELECT set_config('request.jwt.claims', '{{\"sub\": \"{A}\", \"role\": \"authenticated\"}}', true);
         SELECT realtime.send('{{\"secret\": 1}}', 'ev', 'other', true);
         SELECT realtime.send('{{\"m\": 1}}', 'ev', 'team', true);
         COMMIT;"
    );
    sql(&db, &as_user).await;
    let Some(Frame::Binary(f)) = c.next(T).await else {
        panic!("binary broadcast expected")
    };
    let meta = kind4_meta(&f);
    let id = serde_json::from_str::<Value>(&meta).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The payload got the message id; the jsonb text is sent as Postgres writes it.
    let payload = format!(r#"{{"m": 1, "id": "{id}"}}"#);
    assert_eq!(
        f,
        kind4("realtime:team", "ev", &meta, 1, payload.as_bytes())
    );
    assert_eq!(meta, format!(r#"{{"id":"{id}"}}"#));
    // Bytes from realtime.send_binary arrive as a binary payload.
    sql(
        &db,
        "SELECT realtime.send_binary('\\x00ff10'::bytea, 'bin', 'team', true)",
    )
    .await;
    let Some(Frame::Binary(f)) = c.next(T).await else {
        panic!("binary broadcast expected")
    };
    let meta = kind4_meta(&f);
    assert_eq!(f, kind4("realtime:team", "bin", &meta, 0, &[0, 255, 16]));
    assert!(
        c.next(QUIET).await.is_none(),
        "nothing from the refused send"
    );
    // broadcast_changes refuses statement-level triggers, as the error names.
    let err = db
        .client()
        .await
        .batch_execute(
            "SELECT realtime.broadcast_changes('team', 'e', 'INSERT', 't', 'public', NULL, NULL, 'STATEMENT')",
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.as_db_error().unwrap().message(),
        "Failed to process the row: function can only be triggered for each row, not for each statement"
    );
    rt.stop().await;
}

#[tokio::test]
async fn bindings_get_the_ids_supabase_realtime_gives_them() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    sql(
        &db,
        "CREATE TABLE public.messages (id int PRIMARY KEY, room_id int);
         ALTER PUBLICATION supabase_realtime ADD TABLE public.messages;",
    )
    .await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    // erlang:phash2 of each binding as sent: 100468891 and 64696116.
    let reply = c
        .join(
            "room",
            json!({"postgres_changes": [
                {"event": "INSERT", "schema": "public"},
                {"event": "*", "schema": "public", "table": "messages", "filter": "room_id=eq.1"}
            ]}),
            None,
        )
        .await;
    assert_eq!(
        reply,
        json!({"status": "ok", "response": {"postgres_changes": [
            {"event": "INSERT", "schema": "public", "id": 100_468_891},
            {"event": "*", "schema": "public", "table": "messages", "filter": "room_id=eq.1",
             "id": 64_696_116}
        ]}})
    );
    expect_subscribed(&mut c).await;
    sql(&db, "INSERT INTO public.messages VALUES (1, 1)").await;
    let change = frame(&mut c, "postgres_changes").await;
    let mut ids: Vec<u64> = change[4]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![64_696_116, 100_468_891]);
    rt.stop().await;
}

#[tokio::test]
async fn presence_pushes_over_the_clients_rate_close_the_channel() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start_with(basalt_realtime::Config {
        presence_max_calls: 2,
        presence_window: Duration::from_millis(500),
        ..config(&db.url)
    })
    .await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let presence = json!({"presence": {"key": "me", "enabled": true}});
    assert_eq!(c.join("room", presence.clone(), None).await["status"], "ok");
    let track = |r: &str, n: u32| {
        json!(["1", r, "realtime:room", "presence",
               {"type": "presence", "event": "track", "payload": {"n": n}}])
    };
    // Two pushes in the window are answered; the third closes the channel, unanswered.
    c.send(track("2", 1)).await;
    assert_eq!(reply_frame(&mut c, "2").await[4]["status"], "ok");
    c.send(json!(["1", "3", "realtime:room", "presence",
                  {"type": "presence", "event": "untrack"}]))
        .await;
    assert_eq!(reply_frame(&mut c, "3").await[4]["status"], "ok");
    c.send(track("4", 2)).await;
    assert_eq!(
        frame(&mut c, "system").await,
        json!(["1", null, "realtime:room", "system",
               {"extension": "system", "status": "error",
                "message": "Client presence rate limit exceeded", "channel": "room"}])
    );
    assert_eq!(
        frame(&mut c, "phx_close").await,
        json!(["1", "1", "realtime:room", "phx_close", {}])
    );
    assert!(c
        .wait_for(QUIET, |f| f.event() == Some("phx_reply"))
        .await
        .is_none());
    // A new window allows as many again.
    let r = c.join("room", presence, None).await;
    assert_eq!(r["status"], "ok");
    for (r, n) in [("6", 3), ("7", 4)] {
        c.send(track(r, n)).await;
        assert_eq!(reply_frame(&mut c, r).await[4]["status"], "ok");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.send(track("8", 5)).await;
    assert_eq!(reply_frame(&mut c, "8").await[4]["status"], "ok");
    rt.stop().await;
}
