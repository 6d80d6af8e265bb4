//! A database basalt does not own: a role with CREATEROLE but not SUPERUSER. Before the platform
//! schema is installed, every missing privilege is named in one line with the statement a DBA
//! runs; once the DBA has run them, the same role passes the check and basalt runs as it.
#![allow(clippy::unwrap_used)]

use basalt_pg::privileges;
use basalt_testkit::tls::TlsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_createrole_role_is_told_each_missing_privilege_with_its_statement() {
    let server = TlsServer::start();
    server.admin_sql("CREATE ROLE dba LOGIN CREATEROLE CREATEDB");
    server.admin_sql("CREATE DATABASE notown OWNER dba");
    let su_url = server.socket_url().replace("/postgres?", "/notown?");
    let dba_url = su_url.replacen("postgres@", "dba@", 1);
    let mut dba = basalt_pg::pool::connect(&dba_url).await.unwrap();

    let lines = privileges::check(&dba).await.unwrap_err();
    for expected in [
        "CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;",
        "CREATE ROLE supabase_admin LOGIN SUPERUSER",
        "CREATE ROLE dashboard_user NOLOGIN CREATEROLE CREATEDB REPLICATION;",
        "basalt db push --db-url '<a superuser URL of database notown>'",
        "ALTER ROLE \"dba\" REPLICATION;",
    ] {
        assert!(
            lines.contains(expected),
            "{expected} missing from:\n{lines}"
        );
    }
    // One line each, every line saying what a DBA runs, and nothing else.
    assert!(
        lines.lines().skip(1).all(|l| l.contains("a DBA runs: ")),
        "{lines}"
    );
    assert_eq!(
        statements(&dba).await,
        [
            "ALTER ROLE \"dba\" BYPASSRLS;",
            "CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;",
            "CREATE ROLE supabase_admin LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;",
            "CREATE ROLE dashboard_user NOLOGIN CREATEROLE CREATEDB REPLICATION;",
            "basalt db push --db-url '<a superuser URL of database notown>'",
            "ALTER ROLE \"dba\" REPLICATION;",
        ]
    );
    assert_eq!(lines.lines().count(), 7, "{lines}");
    // The check is right: installing as this role fails.
    assert!(basalt_pg::platform::apply(&mut dba).await.is_err());

    // The DBA installs the platform schema as a superuser.
    let mut su = basalt_pg::pool::connect(&su_url).await.unwrap();
    assert!(basalt_pg::platform::apply(&mut su).await.unwrap());
    let lines = privileges::check(&dba).await.unwrap_err();
    assert!(
        lines.contains(
            "GRANT anon, authenticated, service_role, supabase_auth_admin, supabase_storage_admin TO \"dba\";"
        ),
        "{lines}"
    );
    assert!(
        lines.contains("GRANT USAGE ON SCHEMA extensions TO \"dba\";"),
        "{lines}"
    );
    // Exactly these: the platform is in place, so nothing needs a superuser any more but the
    // role attribute.
    let internal = "net, realtime, vault, supabase_functions";
    assert_eq!(
        statements(&dba).await,
        [
            "ALTER ROLE \"dba\" BYPASSRLS;".to_string(),
            "GRANT USAGE ON SCHEMA extensions TO \"dba\"; GRANT SELECT ON extensions.basalt_platform_version TO \"dba\";".into(),
            "GRANT anon, authenticated, service_role, supabase_auth_admin, supabase_storage_admin TO \"dba\";".into(),
            "GRANT USAGE, CREATE ON SCHEMA supabase_migrations TO \"dba\"; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA supabase_migrations TO \"dba\";".into(),
            format!(
                "GRANT USAGE ON SCHEMA {internal} TO \"dba\"; GRANT ALL ON ALL TABLES IN SCHEMA {internal} TO \"dba\"; \
                 GRANT ALL ON ALL SEQUENCES IN SCHEMA {internal} TO \"dba\"; GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {internal} TO \"dba\";"
            ),
            "ALTER ROLE \"dba\" REPLICATION;".into(),
        ]
    );
    // The DBA runs them (all but REPLICATION), exactly as written.
    let told = statements(&dba).await;
    for s in &told[..told.len() - 1] {
        su.batch_execute(s).await.unwrap();
    }
    // Now only realtime's REPLICATION is missing, and it does not stop a start.
    let left = privileges::check(&dba).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!left[0].blocking);
    assert!(left[0]
        .statement
        .contains("ALTER ROLE \"dba\" REPLICATION;"));
    // And basalt, as this role, finds the platform in place.
    assert!(!basalt_pg::platform::apply(&mut dba).await.unwrap());
    server.admin_sql("ALTER ROLE dba REPLICATION");
    assert!(privileges::check(&dba).await.unwrap().is_empty());
}

/// The statements a DBA is told to run, in the order they are said.
async fn statements(client: &tokio_postgres::Client) -> Vec<String> {
    let installed = privileges::platform_installed(client).await.unwrap();
    privileges::missing(client, installed)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.statement)
        .collect()
}
