//! DELETE events of a `REPLICA IDENTITY FULL` table under row level security: the deleted row
//! cannot be checked against policies, so neither the payload nor filter matching may reveal
//! its non-key columns to a subscriber who might not have been allowed to see it.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const A: &str = "00000000-0000-0000-0000-00000000000a";
const B: &str = "00000000-0000-0000-0000-00000000000b";

#[tokio::test]
async fn delete_filters_on_non_key_columns_reveal_nothing_to_another_user() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    c.batch_execute(&format!(
        "CREATE TABLE public.notes (id bigint PRIMARY KEY, owner uuid NOT NULL, secret text);
         ALTER TABLE public.notes REPLICA IDENTITY FULL;
         ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON public.notes FOR SELECT TO authenticated USING (owner = auth.uid());
         GRANT ALL ON public.notes TO authenticated;
         ALTER PUBLICATION supabase_realtime ADD TABLE public.notes;
         INSERT INTO notes VALUES (1, '{A}', 'hunter2'), (2, '{A}', 'other');"
    ))
    .await
    .unwrap();
    let rt = Served::start(&db.url).await;

    // B guesses A's secret of row 1 (right) and of row 2 (wrong), and also asks by key.
    let mut b = Client::connect(&rt.ws_url(&anon())).await;
    let rb = b
        .join(
            "notes-b",
            json!({"postgres_changes": [
                {"event": "DELETE", "schema": "public", "table": "notes", "filter": "secret=eq.hunter2"},
                {"event": "DELETE", "schema": "public", "table": "notes", "filter": "secret=eq.wrong"},
                {"event": "DELETE", "schema": "public", "table": "notes", "filter": "id=in.(1,2)"}]}),
            Some(&user(B)),
        )
        .await;
    assert_eq!(rb["status"], "ok", "{rb}");
    let key_id = rb["response"]["postgres_changes"][2]["id"]
        .as_u64()
        .unwrap();
    expect_subscribed(&mut b).await;

    c.batch_execute("DELETE FROM notes WHERE id = 1; DELETE FROM notes WHERE id = 2;")
        .await
        .unwrap();

    let got = b.collect("postgres_changes", Duration::from_secs(3)).await;
    let seen: Vec<(serde_json::Value, serde_json::Value)> = got
        .iter()
        .map(|f| {
            (
                f.payload()["ids"].clone(),
                f.payload()["data"]["old_record"].clone(),
            )
        })
        .collect();
    // Both deletes reach B through the key filter alone, whichever secret was guessed right:
    // the answer is the same for a right and a wrong guess, and the payload is key only.
    assert_eq!(
        seen,
        vec![
            (json!([key_id]), json!({"id": 1})),
            (json!([key_id]), json!({"id": 2})),
        ]
    );
    rt.stop().await;
}
