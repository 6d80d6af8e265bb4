//! postgres_changes end to end against a real database: filters, RLS per user (checked as the
//! subscriber's role with its claims), delete payloads, private channels, database broadcasts,
//! and two nodes against one database.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(8);
const A: &str = "00000000-0000-0000-0000-00000000000a";
const B: &str = "00000000-0000-0000-0000-00000000000b";

async fn trips_schema(db: &basalt_testkit::TestDb) {
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE public.trips (id bigserial PRIMARY KEY, owner uuid NOT NULL, title text, n int);
             ALTER TABLE public.trips ENABLE ROW LEVEL SECURITY;
             CREATE POLICY own_trips ON public.trips FOR SELECT TO authenticated USING (owner = auth.uid());
             GRANT ALL ON public.trips TO anon, authenticated;
             ALTER PUBLICATION supabase_realtime ADD TABLE public.trips;",
        )
        .await
        .unwrap();
}

async fn subscribed(c: &mut Client) {
    let f = c
        .wait_for(T, |f| f.event() == Some("system"))
        .await
        .expect("system message");
    assert_eq!(f.payload()["status"], "ok", "{:?}", f.payload());
}

fn ids(f: &Frame) -> Vec<u64> {
    f.payload()["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn each_user_receives_exactly_the_rows_its_policies_allow() {
    let db = basalt_testkit::fresh_db().await;
    trips_schema(&db).await;
    let rt = Served::start(&db.url).await;
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    let mut anon_c = Client::connect(&rt.ws_url(&anon())).await;

    let ra = a
        .join(
            "trips-a",
            json!({"postgres_changes": [
                {"event": "*", "schema": "public", "table": "trips"},
                {"event": "INSERT", "schema": "public", "table": "trips", "filter": "n=gt.5"}]}),
            Some(&user(A)),
        )
        .await;
    let all_id = ra["response"]["postgres_changes"][0]["id"]
        .as_u64()
        .unwrap();
    let gt5_id = ra["response"]["postgres_changes"][1]["id"]
        .as_u64()
        .unwrap();
    subscribed(&mut a).await;
    b.join(
        "trips-b",
        json!({"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "trips"}]}),
        Some(&user(B)),
    )
    .await;
    subscribed(&mut b).await;
    anon_c
        .join(
            "trips-anon",
            json!({"postgres_changes": [{"event": "*", "schema": "public", "table": "trips"}]}),
            None,
        )
        .await;
    subscribed(&mut anon_c).await;

    let c = db.client().await;
    c.batch_execute(&format!(
        "INSERT INTO trips (owner, title, n) VALUES ('{A}', 'a1', 1);
         INSERT INTO trips (owner, title, n) VALUES ('{A}', 'a2', 10);
         INSERT INTO trips (owner, title, n) VALUES ('{B}', 'b1', 7);
         UPDATE trips SET title = 'a1 renamed' WHERE id = 1;
         UPDATE trips SET title = 'b1 renamed' WHERE id = 3;"
    ))
    .await
    .unwrap();

    let got_a = a.collect("postgres_changes", Duration::from_secs(3)).await;
    let summary: Vec<(String, String, Vec<u64>)> = got_a
        .iter()
        .map(|f| {
            let d = &f.payload()["data"];
            (
                d["type"].as_str().unwrap().to_owned(),
                d["record"]["title"].as_str().unwrap().to_owned(),
                ids(f),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("INSERT".into(), "a1".into(), vec![all_id]),
            ("INSERT".into(), "a2".into(), vec![all_id, gt5_id]),
            ("UPDATE".into(), "a1 renamed".into(), vec![all_id]),
        ],
        "A sees its own rows only, each once, with the ids of every matching binding"
    );
    let d = &got_a[0].payload()["data"];
    assert_eq!(d["schema"], "public");
    assert_eq!(d["table"], "trips");
    assert_eq!(d["record"]["owner"], A);
    assert!(d["columns"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "n", "type": "int4"})));
    assert!(d["commit_timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(got_a[2].payload()["data"]["old_record"], json!({"id": 1}));

    let got_b = b
        .collect("postgres_changes", Duration::from_millis(500))
        .await;
    assert_eq!(
        records(&got_b)
            .iter()
            .map(|r| r["title"].clone())
            .collect::<Vec<_>>(),
        vec![json!("b1")]
    );

    let got_anon = anon_c
        .collect("postgres_changes", Duration::from_millis(500))
        .await;
    assert!(got_anon.is_empty(), "anon has no policy: {got_anon:?}");

    // Deletes: a deleted row cannot be checked against policies; its key goes to subscribers
    // whose role may select from the table (as supabase/realtime does).
    c.batch_execute("DELETE FROM trips WHERE id = 2")
        .await
        .unwrap();
    let del = a.collect("postgres_changes", Duration::from_secs(2)).await;
    assert_eq!(del.len(), 1);
    assert_eq!(del[0].payload()["data"]["type"], "DELETE");
    assert_eq!(del[0].payload()["data"]["old_record"], json!({"id": 2}));
    assert!(del[0].payload()["data"].get("record").is_none());
    rt.stop().await;
}

#[tokio::test]
async fn filters_select_rows_and_delete_payloads_follow_replica_identity() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE public.items (id int PRIMARY KEY, trip text, pos int, note text);
             ALTER TABLE public.items REPLICA IDENTITY FULL;
             GRANT ALL ON public.items TO anon, authenticated;
             CREATE TABLE public.votes (id int PRIMARY KEY, item int, up boolean);
             GRANT ALL ON public.votes TO anon, authenticated;
             ALTER PUBLICATION supabase_realtime ADD TABLE public.items, public.votes;",
        )
        .await
        .unwrap();
    let rt = Served::start(&db.url).await;
    let mut c = Client::connect(&rt.ws_url(&anon())).await;
    let filters = [
        "trip=eq.paris",
        "trip=neq.paris",
        "pos=lt.2",
        "pos=lte.2",
        "pos=gt.2",
        "pos=gte.2",
        "trip=in.(rome,\"new york\")",
    ];
    let mut entries: Vec<Value> = filters
        .iter()
        .map(|f| json!({"event": "INSERT", "schema": "public", "table": "items", "filter": f}))
        .collect();
    entries.push(json!({"event": "DELETE", "schema": "public", "table": "items"}));
    entries.push(json!({"event": "*", "schema": "public", "table": "votes"}));
    let r = c
        .join("items", json!({"postgres_changes": entries}), None)
        .await;
    let id_of: Vec<u64> = r["response"]["postgres_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    subscribed(&mut c).await;
    let db_c = db.client().await;
    db_c.batch_execute(
        "INSERT INTO items VALUES (1, 'paris', 1, 'x'), (2, 'rome', 2, 'y'), (3, 'new york', 3, 'z');
         INSERT INTO votes VALUES (1, 1, true);
         DELETE FROM items WHERE id = 3;
         UPDATE votes SET up = false WHERE id = 1;",
    )
    .await
    .unwrap();
    let got = c.collect("postgres_changes", Duration::from_secs(3)).await;
    let kinds: Vec<String> = got
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f.payload()["data"]["type"],
                f.payload()["data"]["table"]
            )
        })
        .collect();
    assert_eq!(got.len(), 6, "{kinds:?}");
    let matched = |f: &Frame| -> Vec<&str> {
        ids(f)
            .iter()
            .map(|i| {
                filters
                    .get(id_of.iter().position(|x| x == i).unwrap())
                    .copied()
                    .unwrap_or("other")
            })
            .collect()
    };
    assert_eq!(
        matched(&got[0]),
        vec!["trip=eq.paris", "pos=lt.2", "pos=lte.2"]
    );
    assert_eq!(
        matched(&got[1]),
        vec![
            "trip=neq.paris",
            "pos=lte.2",
            "pos=gte.2",
            "trip=in.(rome,\"new york\")"
        ]
    );
    assert_eq!(
        matched(&got[2]),
        vec![
            "trip=neq.paris",
            "pos=gt.2",
            "pos=gte.2",
            "trip=in.(rome,\"new york\")"
        ]
    );
    assert_eq!(got[3].payload()["data"]["table"], "votes");
    // REPLICA IDENTITY FULL and no RLS: the whole old row
    let del = &got[4].payload()["data"];
    assert_eq!(del["type"], "DELETE");
    assert_eq!(
        del["old_record"],
        json!({"id": 3, "trip": "new york", "pos": 3, "note": "z"})
    );
    assert_eq!(ids(&got[4]), vec![id_of[7]]);
    let upd = &got[5].payload()["data"];
    assert_eq!(upd["type"], "UPDATE");
    assert_eq!(upd["record"]["up"], false);
    assert_eq!(upd["old_record"], json!({"id": 1}));
    rt.stop().await;
}

#[tokio::test]
async fn private_channels_are_authorised_by_policies_on_realtime_messages() {
    let db = basalt_testkit::fresh_db().await;
    let rt = Served::start(&db.url).await;
    let private = json!({"private": true, "broadcast": {"self": true, "ack": true}});

    // No policy: refused.
    let mut a = Client::connect(&rt.ws_url(&anon())).await;
    let r = a.join("team-1", private.clone(), Some(&user(A))).await;
    assert_eq!(r["status"], "error");
    assert_eq!(
        r["response"]["reason"],
        "Unauthorized: You do not have permissions to read from this Channel topic: team-1"
    );

    // A policy letting A read and write topic team-1.
    db.client()
        .await
        .batch_execute(&format!(
            "CREATE POLICY read_team ON realtime.messages FOR SELECT TO authenticated
               USING (realtime.topic() = 'team-1' AND auth.uid() = '{A}');
             CREATE POLICY write_team ON realtime.messages FOR INSERT TO authenticated
               WITH CHECK (realtime.topic() = 'team-1' AND auth.uid() = '{A}');"
        ))
        .await
        .unwrap();
    let r = a.join("team-1", private.clone(), Some(&user(A))).await;
    assert_eq!(r["status"], "ok", "{r}");
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(
        b.join("team-1", private.clone(), Some(&user(B))).await["status"],
        "error"
    );
    // a public channel of the same name does not receive private messages
    let mut public = Client::connect(&rt.ws_url(&anon())).await;
    assert_eq!(public.join("team-1", json!({}), None).await["status"], "ok");

    // A may send (ack ok, and self receives it)
    a.send(json!(["1", "50", "realtime:team-1", "broadcast", {"type": "broadcast", "event": "hi", "payload": {"m": 1}}]))
        .await;
    assert_eq!(a.reply("50").await["status"], "ok");
    assert!(a
        .wait_for(T, |f| f.event() == Some("broadcast")
            && f.payload()["payload"] == json!({"m": 1}))
        .await
        .is_some());

    // Broadcast from the database: realtime.send inserts into realtime.messages, which the node
    // reads from the WAL.
    db.client()
        .await
        .batch_execute(
            "SELECT realtime.send('{\"from\":\"db\"}'::jsonb, 'db_event', 'team-1', true)",
        )
        .await
        .unwrap();
    let f = a
        .wait_for(
            T,
            |f| matches!(f, Frame::Binary(x) if x.windows(8).any(|w| w == b"db_event")),
        )
        .await;
    assert!(f.is_some(), "database broadcast delivered");
    assert!(public
        .wait_for(Duration::from_millis(500), |f| matches!(
            f,
            Frame::Binary(_)
        ))
        .await
        .is_none());
    // realtime.broadcast_changes from a trigger
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE public.msgs (id int PRIMARY KEY, body text);
             CREATE FUNCTION public.msgs_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
             BEGIN
               PERFORM realtime.broadcast_changes('team-1', TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD);
               RETURN NULL;
             END $$;
             CREATE TRIGGER msgs_changed AFTER INSERT ON public.msgs FOR EACH ROW EXECUTE FUNCTION public.msgs_changed();
             INSERT INTO public.msgs VALUES (1, 'hello');",
        )
        .await
        .unwrap();
    let f = a
        .wait_for(
            T,
            |f| matches!(f, Frame::Binary(x) if x.windows(6).any(|w| w == b"INSERT")),
        )
        .await
        .expect("broadcast_changes delivered");
    let Frame::Binary(bytes) = f else {
        unreachable!()
    };
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains(r#""record": {"id": 1, "body": "hello"}"#),
        "{text}"
    );

    // HTTP broadcast to a private topic needs the write policy: without it the message is
    // dropped (still 202, as Supabase Realtime answers), with it delivered.
    let status = post_json(
        &format!("http://{}/api/broadcast", rt.server.addr),
        &user(B),
        json!({"messages": [{"topic": "team-1", "event": "x", "payload": {"from": "b"}, "private": true}]}),
    )
    .await;
    assert_eq!(status, 202);
    let status = post_json(
        &format!("http://{}/api/broadcast", rt.server.addr),
        &user(A),
        json!({"messages": [{"topic": "team-1", "event": "x", "payload": {"from": "a"}, "private": true}]}),
    )
    .await;
    assert_eq!(status, 202);
    // Messages of /api/broadcast arrive as text frames.
    let got = a
        .collect("broadcast", Duration::from_secs(1))
        .await
        .into_iter()
        .map(|f| f.payload())
        .filter(|p| p["payload"].get("from").is_some())
        .collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![json!({"type": "broadcast", "event": "x", "payload": {"from": "a"}})]
    );
    rt.stop().await;
}

async fn post_json(url: &str, bearer: &str, body: Value) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let body = body.to_string();
    let req = format!(
        "POST /{path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {bearer}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn two_nodes_deliver_every_change_broadcast_and_presence() {
    let db = basalt_testkit::fresh_db().await;
    trips_schema(&db).await;
    let n1 = Served::start(&db.url).await;
    let n2 = Served::start(&db.url).await;
    let mut c1 = Client::connect(&n1.ws_url(&anon())).await;
    let mut c2 = Client::connect(&n2.ws_url(&anon())).await;
    let cfg = json!({"presence": {"key": "k", "enabled": true},
                     "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "trips"}]});
    c1.join("shared", cfg.clone(), Some(&user(A))).await;
    subscribed(&mut c1).await;
    c2.join("shared", cfg, Some(&user(A))).await;
    subscribed(&mut c2).await;

    let db_c = db.client().await;
    for i in 0..20 {
        db_c.execute(
            "INSERT INTO trips (owner, title, n) VALUES ($1::text::uuid, $2, $3)",
            &[&A, &format!("t{i}"), &i],
        )
        .await
        .unwrap();
    }
    for c in [&mut c1, &mut c2] {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + T;
        while got.len() < 20 && tokio::time::Instant::now() < deadline {
            got.extend(
                c.collect("postgres_changes", Duration::from_millis(300))
                    .await,
            );
        }
        let titles: Vec<Value> = records(&got).iter().map(|r| r["title"].clone()).collect();
        let want: Vec<Value> = (0..20).map(|i| json!(format!("t{i}"))).collect();
        assert_eq!(
            titles, want,
            "each node delivers every change once, in order"
        );
    }

    // client broadcast on node 1 reaches node 2
    c1.send(json!(["1", "70", "realtime:shared", "broadcast", {"type": "broadcast", "event": "ping", "payload": {"n": 1}}]))
        .await;
    // A text push stays a text frame on the other node too.
    assert!(c2
        .wait_for(T, |f| f.event() == Some("broadcast")
            && f.payload()["payload"] == json!({"n": 1}))
        .await
        .is_some());
    // presence tracked on node 2 shows on node 1
    c2.send(json!(["1", "71", "realtime:shared", "presence", {"type": "presence", "event": "track", "payload": {"where": "n2"}}]))
        .await;
    assert_eq!(c2.reply("71").await["status"], "ok");
    let diff = c1
        .wait_for(T, |f| {
            f.event() == Some("presence_diff") && f.payload()["joins"].get("k").is_some()
        })
        .await
        .expect("presence crosses nodes");
    assert_eq!(diff.payload()["joins"]["k"]["metas"][0]["where"], "n2");
    // a late joiner on node 1 gets node 2's presence through the sync request
    let mut c3 = Client::connect(&n1.ws_url(&anon())).await;
    c3.join(
        "shared",
        json!({"presence": {"key": "late", "enabled": true}}),
        None,
    )
    .await;
    let mut seen = false;
    let deadline = tokio::time::Instant::now() + T;
    while !seen && tokio::time::Instant::now() < deadline {
        if let Some(f) = c3
            .wait_for(Duration::from_millis(500), |f| {
                matches!(f.event(), Some("presence_state" | "presence_diff"))
            })
            .await
        {
            let p = f.payload();
            seen = p.get("k").is_some() || p["joins"].get("k").is_some();
        }
    }
    assert!(seen, "late joiner learns node 2's presence");
    n1.stop().await;
    n2.stop().await;
}

#[tokio::test]
async fn a_policy_error_for_one_subscriber_does_not_hide_rows_from_others() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE public.notes (id int PRIMARY KEY, team int, body text);
             ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
             CREATE POLICY by_team ON public.notes FOR SELECT TO authenticated
               USING (team = (auth.jwt() ->> 'team')::int);
             GRANT SELECT ON public.notes TO authenticated;
             ALTER PUBLICATION supabase_realtime ADD TABLE public.notes;",
        )
        .await
        .unwrap();
    let rt = Served::start(&db.url).await;
    let binding =
        json!({"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "notes"}]});
    let token = |team: &str, sub: &str| {
        sign(json!({"role": "authenticated", "sub": sub, "team": team, "exp": now() + 3600}))
    };
    let mut good = Client::connect(&rt.ws_url(&anon())).await;
    good.join("n1", binding.clone(), Some(&token("1", A))).await;
    subscribed(&mut good).await;
    // "x" is not an integer: evaluating the policy for this subscriber raises an error
    let mut broken = Client::connect(&rt.ws_url(&anon())).await;
    broken
        .join("n2", binding.clone(), Some(&token("x", B)))
        .await;
    subscribed(&mut broken).await;
    let mut other_team = Client::connect(&rt.ws_url(&anon())).await;
    other_team.join("n3", binding, Some(&token("2", B))).await;
    subscribed(&mut other_team).await;

    db.client()
        .await
        .batch_execute("INSERT INTO notes VALUES (1, 1, 'team one'), (2, 2, 'team two')")
        .await
        .unwrap();
    let got = good
        .collect("postgres_changes", Duration::from_secs(3))
        .await;
    assert_eq!(
        records(&got)
            .iter()
            .map(|r| r["body"].clone())
            .collect::<Vec<_>>(),
        vec![json!("team one")]
    );
    let got = other_team
        .collect("postgres_changes", Duration::from_millis(500))
        .await;
    assert_eq!(
        records(&got)
            .iter()
            .map(|r| r["body"].clone())
            .collect::<Vec<_>>(),
        vec![json!("team two")]
    );
    assert!(broken
        .collect("postgres_changes", Duration::from_millis(500))
        .await
        .is_empty());
    rt.stop().await;
}

#[tokio::test]
async fn a_node_that_goes_away_loses_its_presences_and_its_slot() {
    let db = basalt_testkit::fresh_db().await;
    let short = |url: &str| {
        let mut c = config(url);
        c.node_timeout = Duration::from_secs(2);
        c
    };
    let n1 = Served::start_with(short(&db.url)).await;
    let mut n2 = Served::start_with(short(&db.url)).await;
    let n2_slot = n2.node.as_ref().unwrap().state.config.slot_name();
    let mut c1 = Client::connect(&n1.ws_url(&anon())).await;
    let mut c2 = Client::connect(&n2.ws_url(&anon())).await;
    let cfg = json!({"presence": {"key": "k", "enabled": true}});
    c1.join("room", cfg.clone(), None).await;
    c2.join(
        "room",
        json!({"presence": {"key": "gone", "enabled": true}}),
        None,
    )
    .await;
    c2.send(json!(["1", "9", "realtime:room", "presence", {"type": "presence", "event": "track", "payload": {}}]))
        .await;
    assert_eq!(c2.reply("9").await["status"], "ok");
    assert!(c1
        .wait_for(T, |f| f.event() == Some("presence_diff")
            && f.payload()["joins"].get("gone").is_some())
        .await
        .is_some());

    // Node 2 stops without a goodbye: its tasks end, its slot stays behind.
    drop(n2.node.take());
    drop(c2);
    let leave = c1
        .wait_for(Duration::from_secs(15), |f| {
            f.event() == Some("presence_diff") && f.payload()["leaves"].get("gone").is_some()
        })
        .await;
    assert!(leave.is_some(), "node 1 forgets node 2's presences");
    let c = db.client().await;
    let mut gone = false;
    for _ in 0..100 {
        // The dead node's walsender may linger until Postgres notices the closed socket.
        c.query(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
             WHERE slot_name = $1 AND active_pid IS NOT NULL",
            &[&n2_slot],
        )
        .await
        .unwrap();
        gone = c
            .query_opt(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&n2_slot],
            )
            .await
            .unwrap()
            .is_none();
        if gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "node 1 dropped node 2's slot");
    n1.stop().await;
}
