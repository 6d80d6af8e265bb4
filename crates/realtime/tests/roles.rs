//! A token naming a role outside the API roles (a superuser, whose session would bypass row level
//! security) gets nothing: private channels refuse the join, and database changes are not
//! delivered to it. The API roles keep working.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(8);

fn as_role(role: &str) -> String {
    sign(json!({"role": role, "exp": now() + 3600}))
}

async fn subscribed(c: &mut Client) {
    let f = c
        .wait_for(T, |f| f.event() == Some("system"))
        .await
        .expect("system message");
    assert_eq!(f.payload()["status"], "ok", "{:?}", f.payload());
}

#[tokio::test]
async fn private_channels_refuse_superuser_tokens() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(
            "CREATE POLICY everyone_reads ON realtime.messages FOR SELECT TO anon, authenticated, service_role USING (true);",
        )
        .await
        .unwrap();
    let rt = Served::start(&db.url).await;
    let private = json!({"private": true});
    for role in ["postgres", "supabase_admin"] {
        let mut c = Client::connect(&rt.ws_url(&anon())).await;
        let reply = c.join("room", private.clone(), Some(&as_role(role))).await;
        assert_eq!(reply["status"], "error", "{role}: {reply}");
        assert_eq!(
            reply["response"]["reason"],
            "Unauthorized: You do not have permissions to read from this Channel topic: room"
        );
    }
    for role in ["anon", "authenticated", "service_role"] {
        let mut c = Client::connect(&rt.ws_url(&anon())).await;
        let reply = c.join("room", private.clone(), Some(&as_role(role))).await;
        assert_eq!(reply["status"], "ok", "{role}: {reply}");
    }
}

#[tokio::test]
async fn changes_are_not_delivered_to_superuser_tokens() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE public.vault (id bigserial PRIMARY KEY, secret text);
             ALTER TABLE public.vault ENABLE ROW LEVEL SECURITY;
             GRANT ALL ON public.vault TO anon, authenticated, service_role;
             ALTER PUBLICATION supabase_realtime ADD TABLE public.vault;",
        )
        .await
        .unwrap();
    let rt = Served::start(&db.url).await;
    let changes =
        json!({"postgres_changes": [{"event": "*", "schema": "public", "table": "vault"}]});
    let mut clients = Vec::new();
    for role in ["postgres", "service_role", "anon"] {
        let mut c = Client::connect(&rt.ws_url(&anon())).await;
        let reply = c.join("vault", changes.clone(), Some(&as_role(role))).await;
        assert_eq!(reply["status"], "ok", "{role}: {reply}");
        subscribed(&mut c).await;
        clients.push((role, c));
    }
    db.client()
        .await
        .batch_execute("INSERT INTO public.vault (secret) VALUES ('s3cret')")
        .await
        .unwrap();
    for (role, c) in &mut clients {
        let got: Vec<Value> = c
            .collect("postgres_changes", Duration::from_secs(2))
            .await
            .iter()
            .map(|f| f.payload()["data"]["record"]["secret"].clone())
            .collect();
        // service_role bypasses row level security; anon has no policy; a superuser is refused.
        let want = if *role == "service_role" {
            vec![json!("s3cret")]
        } else {
            vec![]
        };
        assert_eq!(got, want, "{role}");
    }
}
