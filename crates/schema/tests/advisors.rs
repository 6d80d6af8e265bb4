//! `basalt db advisors` against real databases: every advisor finds its planted instance, and a
//! clean schema yields nothing.

use std::collections::BTreeSet;

use basalt_schema::advisors::{self, AdvisorOptions, Category};
use basalt_schema::Level;

#[tokio::test]
async fn every_advisor_finds_its_planted_instance() {
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    client
        .batch_execute(include_str!("fixtures/advisors/planted.sql"))
        .await
        .expect("plant");
    let found = advisors::run(&client, &AdvisorOptions::default())
        .await
        .expect("advisors run");
    let names: BTreeSet<&str> = found.iter().map(|a| a.name).collect();
    let missing: Vec<&str> = advisors::lints()
        .iter()
        .map(|l| l.name)
        .filter(|n| !names.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "advisors that found nothing: {missing:?}\n{}",
        advisors::to_text(&found)
    );
    let rls = found
        .iter()
        .find(|a| a.cache_key == "rls_disabled_in_public_public_open_table")
        .expect("rls_disabled_in_public on open_table");
    assert_eq!(rls.level, "ERROR");
    let json = serde_json::to_value(rls).expect("json");
    assert_eq!(json["categories"], serde_json::json!(["SECURITY"]));
    assert_eq!(json["metadata"]["name"], "open_table");
    assert!(found
        .iter()
        .any(|a| a.cache_key == "auth_rls_initplan_public_children_children_signed_in"));
    assert!(!found
        .iter()
        .any(|a| a.cache_key == "auth_rls_initplan_public_children_children_admins"));
}

#[tokio::test]
async fn filters_by_category_level_and_ignore_list() {
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    client
        .batch_execute(include_str!("fixtures/advisors/planted.sql"))
        .await
        .expect("plant");
    let options = AdvisorOptions {
        category: Some(Category::Performance),
        min_level: Level::Warning,
        ignore: vec!["duplicate_index_public_children_children_note_a_children_note_b".into()],
        ..AdvisorOptions::default()
    };
    let found = advisors::run(&client, &options)
        .await
        .expect("advisors run");
    let names: BTreeSet<&str> = found.iter().map(|a| a.name).collect();
    assert_eq!(
        names,
        BTreeSet::from(["auth_rls_initplan", "multiple_permissive_policies"]),
        "{}",
        advisors::to_text(&found)
    );
}

#[tokio::test]
async fn clean_schema_has_no_findings() {
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    client
        .batch_execute(include_str!(
            "fixtures/clean/supabase/migrations/0001_clean.sql"
        ))
        .await
        .expect("apply clean schema");
    // An index the workload has used is not an unused index.
    client
        .batch_execute(
            "SET enable_seqscan = off; SELECT count(*) FROM public.notes WHERE owner_id = gen_random_uuid();
             SELECT pg_stat_force_next_flush();",
        )
        .await
        .expect("use the index");
    // The test cluster cannot run pg_cron: a fact about the server, not this schema.
    let options = AdvisorOptions {
        ignore: vec!["pg_cron_unavailable_cron_pg_cron".into()],
        ..AdvisorOptions::default()
    };
    let found = advisors::run(&client, &options)
        .await
        .expect("advisors run");
    assert!(found.is_empty(), "{}", advisors::to_text(&found));
}

#[tokio::test]
async fn a_database_where_pg_cron_cannot_run_is_reported() {
    // The test cluster does not preload pg_cron, so its jobs could never run here.
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    let found = advisors::run(&client, &AdvisorOptions::default())
        .await
        .expect("advisors run");
    let cron: Vec<_> = found
        .iter()
        .filter(|a| a.name == "pg_cron_unavailable")
        .collect();
    assert_eq!(cron.len(), 1, "{}", advisors::to_text(&found));
    assert!(cron[0].detail.contains("pg_cron"));
}
