//! A database installed by an older basalt, whose internal tables and functions lived in a schema
//! `basalt`, upgrades to the current layout: the tables move with their rows into the schemas of
//! their services, the old functions and the schema go, and the result matches a fresh install
//! object for object (names, constraints, indexes, triggers, event triggers, grants).
#![allow(clippy::unwrap_used)]

use tokio_postgres::Client;

/// The platform's objects in the schemas basalt keeps its own things in, one line each: relations
/// with their owner and grants, constraints, functions with their settings, triggers and event
/// triggers with the function they run, and whether a schema `basalt` exists.
async fn layout(c: &Client) -> Vec<String> {
    let sql = "
      SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' '
             || pg_get_userbyid(c.relowner) || ' ' || coalesce(c.relacl::text, '-')
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname IN ('auth', 'net', 'vault', 'extensions', 'basalt')
      UNION ALL
      SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint
      WHERE connamespace::regnamespace::text IN ('auth', 'net', 'vault', 'extensions', 'basalt')
      UNION ALL
      SELECT 'fn ' || p.oid::regprocedure::text || ' ' || coalesce(p.proconfig::text, '-') || ' '
             || coalesce(p.proacl::text, '-')
      FROM pg_proc p
      WHERE p.pronamespace::regnamespace::text IN ('auth', 'net', 'vault', 'extensions', 'basalt')
      UNION ALL
      SELECT 'trg ' || t.tgrelid::regclass::text || ' ' || t.tgname || ' ' || t.tgfoid::regprocedure::text
      FROM pg_trigger t WHERE NOT t.tgisinternal
      UNION ALL
      SELECT 'evt ' || e.evtname || ' ' || e.evtfoid::regprocedure::text FROM pg_event_trigger e
      UNION ALL
      SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname = 'basalt'
      ORDER BY 1";
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Turns a current install into the layout an older basalt left: every internal table and
/// function in schema `basalt` under its old name, the triggers and event triggers running the
/// old functions, the version recorded in `basalt.platform_version`.
const OLD_LAYOUT: &str = r#"
CREATE SCHEMA basalt;

ALTER TABLE auth.mail SET SCHEMA basalt;
ALTER TABLE auth.rate_limits RENAME CONSTRAINT rate_limits_pkey TO auth_rate_limits_pkey;
ALTER TABLE auth.rate_limits RENAME TO auth_rate_limits;
ALTER TABLE auth.auth_rate_limits SET SCHEMA basalt;
ALTER TABLE net._delivery RENAME CONSTRAINT _delivery_pkey TO net_delivery_pkey;
ALTER TABLE net._delivery RENAME TO net_delivery;
ALTER TABLE net.net_delivery SET SCHEMA basalt;
ALTER TABLE net._cron_tick RENAME CONSTRAINT _cron_tick_pkey TO cron_tick_pkey;
ALTER TABLE net._cron_tick RENAME TO cron_tick;
ALTER TABLE net.cron_tick SET SCHEMA basalt;
ALTER TABLE vault._key_file RENAME CONSTRAINT _key_file_pkey TO vault_key_file_pkey;
ALTER TABLE vault._key_file RENAME CONSTRAINT _key_file_id_check TO vault_key_file_id_check;
ALTER TABLE vault._key_file RENAME TO vault_key_file;
ALTER TABLE vault.vault_key_file SET SCHEMA basalt;
ALTER TABLE extensions.basalt_platform_version
  RENAME CONSTRAINT basalt_platform_version_pkey TO platform_version_pkey;
ALTER TABLE extensions.basalt_platform_version
  RENAME CONSTRAINT basalt_platform_version_id_check TO platform_version_id_check;
ALTER TABLE extensions.basalt_platform_version RENAME TO platform_version;
ALTER TABLE extensions.platform_version SET SCHEMA basalt;
UPDATE basalt.platform_version SET version = 'an older basalt';

ALTER FUNCTION auth.refresh_grant(text, text, boolean, float8, float8, text, inet, text, integer,
  float8) SET SCHEMA basalt;
ALTER FUNCTION basalt.refresh_grant(text, text, boolean, float8, float8, text, inet, text, integer,
  float8) RENAME TO auth_refresh;
ALTER FUNCTION net._notify_channel() SET SCHEMA basalt;
ALTER FUNCTION basalt._notify_channel() RENAME TO notify_channel;
ALTER FUNCTION net._cron_seconds(text) SET SCHEMA basalt;
ALTER FUNCTION basalt._cron_seconds(text) RENAME TO cron_seconds;
ALTER FUNCTION net._cron_install() SET SCHEMA basalt;
ALTER FUNCTION basalt._cron_install() RENAME TO cron_install;
ALTER FUNCTION net._cron_on_create_extension() SET SCHEMA basalt;
ALTER FUNCTION basalt._cron_on_create_extension() RENAME TO cron_on_create_extension;
ALTER FUNCTION vault._key() SET SCHEMA basalt;
ALTER FUNCTION basalt._key() RENAME TO vault_key;
ALTER FUNCTION extensions.basalt_rest_notify() SET SCHEMA basalt;
ALTER FUNCTION basalt.basalt_rest_notify() RENAME TO rest_notify_schema_change;

INSERT INTO basalt.mail (recipient, subject, html, kind) VALUES ('a@example.com', 'Hi', '<p>', 'signup');
INSERT INTO basalt.auth_rate_limits VALUES ('token:127.0.0.1', now(), 3);
INSERT INTO basalt.net_delivery (id, attempts) VALUES (41, 2);
INSERT INTO basalt.cron_tick VALUES (7, '2026-01-01T00:00:00Z', 'node-a');
INSERT INTO basalt.vault_key_file (path) VALUES ('/keys/vault.key');
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_with_the_basalt_schema_upgrades_to_the_fresh_layout() {
    let db = basalt_testkit::fresh_db().await;
    let mut c = db.client().await;
    let fresh = layout(&c).await;
    assert!(!fresh.iter().any(|l| l.contains("basalt.")), "{fresh:#?}");
    assert!(
        fresh.iter().any(|l| l.starts_with("rel auth.mail r ")),
        "{fresh:#?}"
    );

    c.batch_execute(OLD_LAYOUT).await.unwrap();
    let old = layout(&c).await;
    assert!(old.contains(&"schema basalt".to_string()), "{old:#?}");
    assert!(
        old.iter()
            .any(|l| l == "evt basalt_rest_ddl_end basalt.rest_notify_schema_change()"),
        "{old:#?}"
    );
    assert!(
        old.iter()
            .any(|l| l == "trg net.http_request_queue basalt_net_wake basalt.notify_channel()"),
        "{old:#?}"
    );

    assert!(
        basalt_pg::platform::apply(&mut c).await.unwrap(),
        "the upgrade ran"
    );
    let upgraded = layout(&c).await;
    assert_eq!(upgraded, fresh, "the upgraded layout is the fresh one");

    // The rows came along.
    let row = c
        .query_one(
            "SELECT (SELECT recipient FROM auth.mail),
                    (SELECT hits FROM auth.rate_limits WHERE key = 'token:127.0.0.1'),
                    (SELECT attempts FROM net._delivery WHERE id = 41),
                    (SELECT node FROM net._cron_tick WHERE jobid = 7),
                    (SELECT path FROM vault._key_file)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "a@example.com");
    assert_eq!(row.get::<_, i32>(1), 3);
    assert_eq!(row.get::<_, i32>(2), 2);
    assert_eq!(row.get::<_, String>(3), "node-a");
    assert_eq!(row.get::<_, String>(4), "/keys/vault.key");
    // The mail sequence moved with its table and goes on counting.
    let id: i64 = c
        .query_one(
            "INSERT INTO auth.mail (recipient, subject, html, kind) VALUES ('b@example.com', 's', 'h', 'k')
             RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 2);

    // The version is recorded in its new place; the next start has nothing to do, and running
    // every part again changes nothing.
    assert!(!basalt_pg::platform::apply(&mut c).await.unwrap());
    c.batch_execute("UPDATE extensions.basalt_platform_version SET version = 'again'")
        .await
        .unwrap();
    assert!(basalt_pg::platform::apply(&mut c).await.unwrap());
    assert_eq!(layout(&c).await, fresh);

    // Run here, not as a test of its own: installs in two databases of one cluster at once
    // collide on the roles (a catalog shared by the cluster).
    foreign_objects_keep_the_basalt_schema().await;
}

/// A schema `basalt` holding something that is not basalt's is kept (with a warning), never
/// dropped with what it holds.
async fn foreign_objects_keep_the_basalt_schema() {
    let db = basalt_testkit::fresh_db().await;
    let mut c = db.client().await;
    c.batch_execute(
        "CREATE SCHEMA basalt; CREATE TABLE basalt.mine (id int);
         UPDATE extensions.basalt_platform_version SET version = 'older'",
    )
    .await
    .unwrap();
    assert!(basalt_pg::platform::apply(&mut c).await.unwrap());
    let kept = c
        .query_one("SELECT to_regclass('basalt.mine') IS NOT NULL", &[])
        .await
        .unwrap()
        .get::<_, bool>(0);
    assert!(kept, "a table that is not basalt's is never dropped");
}
