//! `basalt test rls` against real databases: a planted leak is found, table by table, and
//! schemas whose policies isolate users (the clean fixture, seed 003) report nothing.

use basalt_schema::rls::{self, Action};

fn public() -> Vec<String> {
    vec!["public".to_string()]
}

#[tokio::test]
async fn finds_a_planted_permissive_policy() {
    let db = basalt_testkit::fresh_db().await;
    let mut client = db.client().await;
    client
        .batch_execute(include_str!(
            "fixtures/clean/supabase/migrations/0001_clean.sql"
        ))
        .await
        .expect("apply clean schema");
    client
        .batch_execute(
            "create table public.diary (
               id bigint generated always as identity primary key,
               user_id uuid not null references auth.users (id),
               entry text not null
             );
             alter table public.diary enable row level security;
             create policy diary_own on public.diary for all to authenticated
               using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
             -- The leak: a second, permissive policy that lets every signed-in user read.
             create policy diary_everyone_reads on public.diary for select to authenticated using (true);",
        )
        .await
        .expect("plant the leak");
    let report = rls::run(&mut client, &public()).await.expect("rls run");
    let text = report.to_text();
    let diary = report
        .tables
        .iter()
        .find(|t| t.table == "diary")
        .expect("diary probed");
    let mut leaks: Vec<(&str, &str, Action)> = diary
        .leaks
        .iter()
        .map(|l| (l.actor.as_str(), l.owner.as_str(), l.action))
        .collect();
    leaks.sort_by_key(|l| (l.0, l.1));
    assert_eq!(
        leaks,
        vec![
            ("user_a", "user_b", Action::Select),
            ("user_b", "user_a", Action::Select)
        ],
        "{text}"
    );
    assert!(
        text.contains("public.diary: LEAK user_b can select a row of user_a"),
        "{text}"
    );
    for t in report.tables.iter().filter(|t| t.table != "diary") {
        assert!(t.leaks.is_empty() && t.skipped.is_none(), "{text}");
    }
    // The run leaves nothing behind.
    let left: i64 = client
        .query_one("select count(*) from public.diary", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0);
    let users: i64 = client
        .query_one("select count(*) from auth.users", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(users, 0);
}

#[tokio::test]
async fn finds_writes_through_an_always_true_policy() {
    let db = basalt_testkit::fresh_db().await;
    let mut client = db.client().await;
    client
        .batch_execute(
            "create table public.notes (
               id uuid primary key default gen_random_uuid(),
               owner uuid not null default auth.uid(),
               body text not null
             );
             alter table public.notes enable row level security;
             create policy notes_read on public.notes for select using ((select auth.uid()) = owner);
             create policy notes_write on public.notes for all to authenticated using (true) with check (true);",
        )
        .await
        .expect("plant");
    let report = rls::run(&mut client, &public()).await.expect("rls run");
    let notes = &report.tables[0];
    let actions: Vec<(String, Action)> = notes
        .leaks
        .iter()
        .filter(|l| l.actor == "user_b")
        .map(|l| (l.owner.clone(), l.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("user_a".to_string(), Action::Select),
            ("user_a".to_string(), Action::Update),
            ("user_a".to_string(), Action::Delete),
            ("user_a".to_string(), Action::Insert)
        ],
        "{}",
        report.to_text()
    );
    assert!(
        notes.leaks.iter().all(|l| l.actor != "anon"),
        "{}",
        report.to_text()
    );
}

#[tokio::test]
async fn clean_schema_reports_nothing() {
    let db = basalt_testkit::fresh_db().await;
    let mut client = db.client().await;
    client
        .batch_execute(include_str!(
            "fixtures/clean/supabase/migrations/0001_clean.sql"
        ))
        .await
        .expect("apply clean schema");
    let report = rls::run(&mut client, &public()).await.expect("rls run");
    assert_eq!(report.leak_count(), 0, "{}", report.to_text());
    assert_eq!(report.tables.len(), 2);
    assert!(
        report
            .tables
            .iter()
            .all(|t| t.skipped.is_none() && t.notes.is_empty()),
        "{}",
        report.to_text()
    );
}

#[tokio::test]
async fn seed_003_reports_nothing() {
    let db = basalt_testkit::fresh_db().await;
    let mut client = db.client().await;
    for sql in [
        include_str!("../../../examples/saas-foundation/supabase/migrations/0001_init.sql"),
        include_str!("../../../examples/saas-foundation/supabase/migrations/0002_policies.sql"),
        include_str!("../../../examples/saas-foundation/supabase/migrations/0003_storage.sql"),
    ] {
        client.batch_execute(sql).await.expect("apply seed 003");
    }
    let report = rls::run(&mut client, &public()).await.expect("rls run");
    let text = report.to_text();
    assert_eq!(report.leak_count(), 0, "{text}");
    let probed: Vec<&str> = report
        .tables
        .iter()
        .filter(|t| t.skipped.is_none())
        .map(|t| t.table.as_str())
        .collect();
    assert_eq!(
        probed,
        vec!["subscriptions", "usage_counters", "users"],
        "{text}"
    );
}
