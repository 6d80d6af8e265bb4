//! TLS to a Postgres with `ssl=on` and a certificate from a private CA: every way basalt connects
//! (single connections, the deadpool pool, the pipelined wire pool, the replication tunnel)
//! checks the server as `sslmode` says, and refuses clearly what it must refuse.
#![allow(clippy::unwrap_used)]

use basalt_pg::wire::Step;
use basalt_testkit::tls::{TlsServer, CERT_USER};

fn q(server: &TlsServer, extra: &str) -> String {
    format!("sslrootcert={}{extra}", server.ca.display())
}

/// `ssl_is_used()` of the session, through tokio-postgres.
async fn ssl_in_use(url: &str) -> Result<bool, String> {
    let c = basalt_pg::pool::connect(url)
        .await
        .map_err(|e| basalt_pg::pool::describe(&e))?;
    let row = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| basalt_pg::pool::describe(&e))?;
    Ok(row.get(0))
}

/// The same through a wire pool.
async fn wire_ssl_in_use(url: &str) -> Result<bool, String> {
    let pool = basalt_pg::wire::pool(url, 1).map_err(|e| e.to_string())?;
    let mut c = pool.get().await.map_err(|e| e.to_string())?;
    let rows = c
        .pipeline(&[Step::plain(
            "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )])
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows[0][0].text(0) == Some("true"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_and_refuses_wrong_host_and_unknown_ca() {
    let server = TlsServer::start();
    let good = server.url("localhost", &q(&server, "&sslmode=verify-full"));
    assert_eq!(ssl_in_use(&good).await, Ok(true));
    assert_eq!(wire_ssl_in_use(&good).await, Ok(true));
    // The deadpool pool as the services build it.
    let pool = basalt_pg::pool::build(&good, 2).unwrap();
    let c = pool.get().await.unwrap();
    let ssl: bool = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);

    // 127.0.0.1 is not a name the certificate carries.
    let wrong_host = server.url("127.0.0.1", &q(&server, "&sslmode=verify-full"));
    let e = ssl_in_use(&wrong_host).await.unwrap_err();
    assert!(e.contains("not issued for host name \"127.0.0.1\""), "{e}");
    let e = wire_ssl_in_use(&wrong_host).await.unwrap_err();
    assert!(e.contains("not issued for host name \"127.0.0.1\""), "{e}");
    // verify-ca does not compare names.
    let ca_only = server.url("127.0.0.1", &q(&server, "&sslmode=verify-ca"));
    assert_eq!(ssl_in_use(&ca_only).await, Ok(true));
    assert_eq!(wire_ssl_in_use(&ca_only).await, Ok(true));

    // A CA that did not sign the server's certificate.
    let unknown_ca = server.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            server.other_ca.display()
        ),
    );
    for e in [
        ssl_in_use(&unknown_ca).await.unwrap_err(),
        wire_ssl_in_use(&unknown_ca).await.unwrap_err(),
    ] {
        assert!(
            e.contains("not signed by a certificate authority trusted here"),
            "{e}"
        );
        assert!(e.contains("other-ca.crt"), "{e}");
    }
    // The system's roots do not know the test CA either.
    let system = server.url("localhost", "sslmode=verify-full");
    let e = ssl_in_use(&system).await.unwrap_err();
    assert!(e.contains("the system's trusted roots"), "{e}");
    // A missing root file is named before anything is sent.
    let missing = server.url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/root.crt",
    );
    let e = basalt_pg::pool::build(&missing, 1).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/root.crt"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_prefer_and_disable() {
    let server = TlsServer::start();
    // require without a root certificate: encrypted, the certificate not checked.
    let require = server.url("127.0.0.1", "sslmode=require");
    assert_eq!(ssl_in_use(&require).await, Ok(true));
    assert_eq!(wire_ssl_in_use(&require).await, Ok(true));
    // prefer (also the default) takes TLS when the server offers it.
    for url in [
        server.url("127.0.0.1", "sslmode=prefer"),
        server.url("127.0.0.1", "application_name=x"),
    ] {
        assert_eq!(ssl_in_use(&url).await, Ok(true));
        assert_eq!(wire_ssl_in_use(&url).await, Ok(true));
    }
    let disable = server.url("127.0.0.1", "sslmode=disable");
    assert_eq!(ssl_in_use(&disable).await, Ok(false));
    assert_eq!(wire_ssl_in_use(&disable).await, Ok(false));
    // A key/value string carries the same settings.
    let kv = format!(
        "host=localhost port={} user=postgres password={} dbname=postgres sslmode=verify-full sslrootcert='{}'",
        server.port,
        basalt_testkit::tls::PASSWORD,
        server.ca.display()
    );
    assert_eq!(ssl_in_use(&kv).await, Ok(true));
    assert_eq!(wire_ssl_in_use(&kv).await, Ok(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_falls_back_to_plain_when_tls_fails() {
    let server = TlsServer::start();
    // Only plain connections are accepted for this role: over TLS the server refuses it, and
    // prefer tries again without, as libpq does.
    server.admin_sql("CREATE ROLE plainonly LOGIN PASSWORD 'pw'");
    let hba = server.root.join("certs/pg_hba.conf");
    let old = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("hostssl all plainonly 127.0.0.1/32 reject\n{old}"),
    )
    .unwrap();
    server.admin_sql("SELECT pg_reload_conf()");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let url = format!(
        "postgresql://plainonly:pw@127.0.0.1:{}/postgres?sslmode=prefer",
        server.port
    );
    assert_eq!(ssl_in_use(&url).await, Ok(false));
    assert_eq!(wire_ssl_in_use(&url).await, Ok(false));
    let pool = basalt_pg::pool::build(&url, 1).unwrap();
    assert!(pool.get().await.is_ok());
    // require does not fall back.
    let url = url.replace("sslmode=prefer", "sslmode=require");
    let e = ssl_in_use(&url).await.unwrap_err();
    assert!(e.contains("rejects connection"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_authentication() {
    let server = TlsServer::start();
    let url = format!(
        "postgresql://{CERT_USER}@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        server.port,
        server.ca.display(),
        server.client_cert.display(),
        server.client_key.display()
    );
    let c = basalt_pg::pool::connect(&url).await.unwrap();
    let row = c
        .query_one(
            "SELECT current_user::text, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), CERT_USER);
    assert_eq!(row.get::<_, String>(1), format!("/CN={CERT_USER}"));
    let pool = basalt_pg::wire::pool(&url, 1).unwrap();
    let mut w = pool.get().await.unwrap();
    let rows = w
        .pipeline(&[Step::plain("SELECT current_user::text")])
        .await
        .unwrap();
    assert_eq!(rows[0][0].text(0), Some(CERT_USER));
    // Without the certificate the server refuses the role.
    let bare = format!(
        "postgresql://{CERT_USER}@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        server.port,
        server.ca.display()
    );
    let e = ssl_in_use(&bare).await.unwrap_err();
    assert!(e.contains("certificate") || e.contains(CERT_USER), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_carries_a_session_over_verified_tls() {
    let server = TlsServer::start();
    let db = basalt_pg::tls::parse(&server.url("localhost", &q(&server, "&sslmode=verify-full")))
        .unwrap();
    let tunnel = basalt_pg::tls::Tunnel::open(&db).await.unwrap();
    let mode = std::fs::metadata(tunnel.dir()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o700
    );
    let url = format!(
        "postgresql://postgres:{}@/postgres?host={}&port={}",
        basalt_testkit::tls::PASSWORD,
        tunnel.dir().display(),
        tunnel.port
    );
    assert_eq!(ssl_in_use(&url).await, Ok(true));
    // A refused certificate is reported by open itself.
    let bad = basalt_pg::tls::parse(&server.url("127.0.0.1", &q(&server, "&sslmode=verify-full")))
        .unwrap();
    let e = basalt_pg::tls::Tunnel::open(&bad)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not issued for host name"), "{e}");
}
