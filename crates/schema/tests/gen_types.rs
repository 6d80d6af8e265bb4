//! `basalt gen types` against a real database: the TypeScript output for the fixture schema is
//! byte-for-byte the checked-in file written in the format of `supabase gen types typescript`.

use basalt_schema::typegen::{self, Lang};

async fn fixture_db() -> basalt_testkit::TestDb {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(include_str!("fixtures/typegen/schema.sql"))
        .await
        .expect("apply typegen fixture");
    db
}

#[tokio::test]
async fn typescript_matches_the_expected_file() {
    let db = fixture_db().await;
    let client = db.client().await;
    let out = typegen::run(&client, &["public".to_string()], Lang::TypeScript)
        .await
        .expect("gen types");
    let expected = include_str!("fixtures/typegen/expected.ts");
    if out != expected {
        let first = out
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "output differs from expected.ts at line {}\n--- got ---\n{out}",
            first + 1
        );
    }
}

#[tokio::test]
async fn rust_structs_cover_every_relation() {
    let db = fixture_db().await;
    let client = db.client().await;
    let out = typegen::run(&client, &["public".to_string()], Lang::Rust)
        .await
        .expect("gen types");
    for needle in [
        "pub enum NoteStatus {",
        "pub struct Notes {",
        "    pub id: i64,",
        "    pub status: Option<NoteStatus>,",
        "    #[serde(rename = \"avatar-url\")]\n    pub avatar_url: Option<String>,",
        "pub struct StatusCounts {",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[tokio::test]
async fn no_schema_is_a_usage_error() {
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    let err = typegen::run(&client, &[], Lang::TypeScript)
        .await
        .expect_err("fails");
    assert_eq!(err.to_string(), "gen types: name at least one schema");
}
