//! `basalt db diff` round trips on real databases: declarative files → diff → migration →
//! apply → diff again is empty, first from nothing to a schema with every object kind, then
//! through every kind of change, with the hazards annotated.

use basalt_schema::diff::{self, plan};

const V1: &[&str] = &[
    include_str!("fixtures/diff/v1/01_types.sql"),
    include_str!("fixtures/diff/v1/02_tables.sql"),
    include_str!("fixtures/diff/v1/03_security.sql"),
];
const V2: &[&str] = &[
    include_str!("fixtures/diff/v2/01_types.sql"),
    include_str!("fixtures/diff/v2/02_tables.sql"),
    include_str!("fixtures/diff/v2/03_security.sql"),
];

async fn declared(files: &[&str]) -> (basalt_testkit::TestDb, tokio_postgres::Client) {
    let db = basalt_testkit::fresh_db().await;
    let client = db.client().await;
    for sql in files {
        client
            .batch_execute(sql)
            .await
            .expect("apply declarative file");
    }
    (db, client)
}

/// Diff, apply the migration, and check that a second diff is empty. Returns the migration.
async fn round_trip(
    migrated: &mut tokio_postgres::Client,
    target: &tokio_postgres::Client,
) -> String {
    let steps = diff::diff_databases(migrated, target, &[])
        .await
        .expect("diff");
    let migration = plan::render(&steps);
    assert!(!migration.is_empty(), "expected changes");
    migrated
        .batch_execute(&migration)
        .await
        .unwrap_or_else(|e| panic!("migration does not apply: {e:?}\n{migration}"));
    let again = diff::diff_databases(migrated, target, &[])
        .await
        .expect("diff again");
    assert!(
        again.is_empty(),
        "not in sync after applying:\n{migration}\nstill to do:\n{}",
        plan::render(&again)
    );
    migration
}

#[tokio::test]
async fn round_trip_through_every_object_kind_and_change() {
    let source = basalt_testkit::fresh_db().await;
    let mut migrated = source.client().await;

    let (_v1_db, v1) = declared(V1).await;
    let first = round_trip(&mut migrated, &v1).await;
    for needle in [
        "CREATE SCHEMA app;",
        "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA app;",
        "CREATE TYPE public.mood AS ENUM ('sad', 'happy');",
        "CREATE TYPE public.point2 AS (x double precision, y double precision);",
        "CREATE SEQUENCE public.ticket_seq;",
        "CREATE DOMAIN public.short_text AS text NOT NULL CONSTRAINT short CHECK ((length(VALUE) < 280));",
        "CREATE DOMAIN public.old_code AS character varying(8) DEFAULT 'none'::character varying;",
        "GENERATED ALWAYS AS IDENTITY",
        "GENERATED ALWAYS AS (upper((handle)::text)) STORED",
        "CREATE VIEW public.post_titles WITH (security_invoker=on) AS",
        "CREATE MATERIALIZED VIEW public.post_counts AS",
        "CREATE OR REPLACE FUNCTION public.post_count(author bigint)",
        "CREATE TRIGGER posts_touch BEFORE INSERT OR UPDATE ON public.posts",
        "ALTER TABLE public.posts ENABLE ROW LEVEL SECURITY;",
        "CREATE POLICY \"posts are public\" ON public.posts AS PERMISSIVE FOR SELECT TO anon, authenticated USING (true);",
        "REVOKE DELETE ON TABLE public.posts FROM anon;",
        "REVOKE EXECUTE ON FUNCTION public.post_count(author bigint) FROM anon;",
        "GRANT USAGE ON SCHEMA app TO authenticated;",
        "COMMENT ON COLUMN public.posts.title IS 'Headline';",
        "COMMENT ON SCHEMA app IS 'Application helpers';",
        "CREATE PUBLICATION blog_changes FOR TABLE public.posts;",
        "ALTER TABLE public.posts ADD CONSTRAINT posts_author_id_fkey FOREIGN KEY (author_id) REFERENCES public.authors(id) ON DELETE CASCADE;",
        "-- hazard AUTHZ_UPDATE",
    ] {
        assert!(first.contains(needle), "missing {needle:?} in\n{first}");
    }
    assert!(!first.contains("DELETES_DATA"), "{first}");

    let (_v2_db, v2) = declared(V2).await;
    let second = round_trip(&mut migrated, &v2).await;
    for needle in [
        "-- hazard DELETES_DATA: drops table public.legacy and its rows\nDROP TABLE public.legacy;",
        "-- hazard DELETES_DATA: drops column public.authors.shout and its values",
        "ALTER TYPE public.mood ADD VALUE 'ok' AFTER 'sad';",
        "ALTER TABLE public.authors ALTER COLUMN mood SET DEFAULT 'sad'::public.mood;",
        "ALTER TABLE public.posts ALTER COLUMN body SET NOT NULL;",
        "ALTER TABLE public.authors ADD COLUMN bio text;",
        "DROP MATERIALIZED VIEW public.post_counts;",
        "DROP DOMAIN public.old_code;",
        "CREATE DOMAIN public.short_text AS text NOT NULL CONSTRAINT short CHECK ((length(VALUE) < 500));",
        "-- hazard INDEX_BUILD",
        "ALTER PUBLICATION blog_changes SET TABLE public.posts, public.tags;",
        "COMMENT ON TABLE public.posts IS 'Posts of the blog';",
        "REVOKE SELECT ON TABLE public.tags FROM anon;",
        "GRANT EXECUTE ON FUNCTION public.post_count(author bigint) TO anon;",
        "GRANT USAGE ON SCHEMA app TO anon;",
    ] {
        assert!(second.contains(needle), "missing {needle:?} in\n{second}");
    }
}

#[tokio::test]
async fn databases_in_sync_give_an_empty_diff() {
    let (_a_db, mut a) = declared(V1).await;
    let (_b_db, b) = declared(V1).await;
    let steps = diff::diff_databases(&mut a, &b, &[]).await.expect("diff");
    assert!(steps.is_empty(), "{}", plan::render(&steps));
}

#[tokio::test]
async fn run_builds_shadows_from_the_project_files() {
    let project = tempfile::tempdir().expect("tempdir");
    let schemas = project.path().join("supabase").join("schemas");
    std::fs::create_dir_all(&schemas).expect("mkdir");
    for (i, sql) in V1.iter().enumerate() {
        std::fs::write(schemas.join(format!("{i:02}.sql")), sql).expect("write");
    }
    let server = basalt_testkit::fresh_db().await;
    let options = diff::DiffOptions {
        project: project.path().to_path_buf(),
        schemas: vec![],
    };
    let steps = diff::run(&server.url, &options).await.expect("diff run");
    let text = plan::render(&steps);
    let path = diff::write_migration(project.path(), "blog", &text).expect("write migration");
    assert!(path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with("_blog.sql")));
    let again = diff::run(&server.url, &options).await.expect("diff run");
    assert!(again.is_empty(), "{}", plan::render(&again));

    std::fs::write(
        schemas.join("99_bad.sql"),
        "create table broken (\n  id int,\n  x text nott null);",
    )
    .expect("write");
    let err = diff::run(&server.url, &options)
        .await
        .expect_err("bad file");
    assert!(
        err.to_string()
            .ends_with("99_bad.sql:3:10: syntax error at or near \"nott\""),
        "{err}"
    );
}

#[tokio::test]
async fn dropping_tables_with_triggers_and_foreign_keys_between_them() {
    let (_seed_db, mut migrated) = declared(&[
        include_str!("../../../examples/saas-foundation/supabase/migrations/0001_init.sql"),
        include_str!("../../../examples/saas-foundation/supabase/migrations/0002_policies.sql"),
    ])
    .await;
    let (_v1_db, v1) = declared(V1).await;
    let migration = round_trip(&mut migrated, &v1).await;
    assert!(
        migration.contains("DROP TRIGGER update_users_updated_at ON public.users;"),
        "{migration}"
    );
    assert!(migration
        .contains("ALTER TABLE public.subscriptions DROP CONSTRAINT subscriptions_user_id_fkey;"));
    assert!(migration.contains("-- hazard DELETES_DATA: drops table public.users and its rows"));
}
