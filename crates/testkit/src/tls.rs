//! A Postgres that speaks TLS, for tests of basalt's TLS connections: a private cluster with
//! `ssl=on`, its certificate issued for `localhost` by a certificate authority made for the test,
//! a second unrelated authority (to be refused), and a client certificate for the role
//! `certuser`, who may only log in with it (`hostssl … cert`). Everyone else logs in over TCP
//! with a password (`postgres` / [`PASSWORD`]), with or without TLS. Dropping it stops the server
//! and removes its files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use basalt_pg::cluster::{Cluster, ClusterConfig, RunAs};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The `postgres` superuser's password over TCP.
pub const PASSWORD: &str = "tls-test-pw";

/// The role that logs in with its client certificate only.
pub const CERT_USER: &str = "certuser";

pub struct TlsServer {
    pub root: PathBuf,
    pub port: u16,
    /// The authority that issued the server and client certificates.
    pub ca: PathBuf,
    /// An authority that issued nothing here.
    pub other_ca: PathBuf,
    /// `certuser`'s certificate and key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    cluster: Option<Cluster>,
}

static SERVERS: AtomicU32 = AtomicU32::new(0);

impl TlsServer {
    /// Make the certificates and start the server (a few seconds: `initdb`). Panics on failure.
    pub fn start() -> TlsServer {
        let root = std::env::temp_dir().join(format!(
            "basalt-tls-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let certs = root.join("certs");
        std::fs::create_dir_all(&certs).expect("create test dir");
        for d in [&root, &certs] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let run_as = RunAs::resolve(None).expect("the postgres user");

        let (ca_pem, ca) = authority("basalt test CA");
        let (other_pem, _) = authority("an unrelated CA");
        let server_key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = params.signed_by(&server_key, &ca).expect("server cert");
        let client_key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, CERT_USER);
        let client_cert = params.signed_by(&client_key, &ca).expect("client cert");

        let write = |name: &str, text: &str, mode: u32, server: bool| -> PathBuf {
            let p = certs.join(name);
            std::fs::write(&p, text).expect("write cert");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            if let (true, Some(r)) = (server, run_as) {
                chown(&p, r);
            }
            p
        };
        let ca_path = write("ca.crt", &ca_pem, 0o644, true);
        let other_ca = write("other-ca.crt", &other_pem, 0o644, false);
        let srv_crt = write("server.crt", &server_cert.pem(), 0o644, true);
        let srv_key = write("server.key", &server_key.serialize_pem(), 0o600, true);
        let client_crt = write("client.crt", &client_cert.pem(), 0o644, false);
        let client_key = write("client.key", &client_key.serialize_pem(), 0o600, false);
        let hba = write(
            "pg_hba.conf",
            &format!(
                "local all all trust\n\
                 hostssl all {CERT_USER} 127.0.0.1/32 cert\n\
                 hostssl all {CERT_USER} ::1/128 cert\n\
                 host all all 127.0.0.1/32 scram-sha-256\n\
                 host all all ::1/128 scram-sha-256\n"
            ),
            0o644,
            true,
        );
        let port = free_port();
        let setting = |k: &str, v: &Path| (k.to_string(), v.display().to_string());
        let cluster = Cluster::start(ClusterConfig {
            data_dir: root.join("pg"),
            socket_dir: root.join("sock"),
            port,
            listen_address: "127.0.0.1".into(),
            password: PASSWORD.into(),
            settings: vec![
                ("ssl".into(), "on".into()),
                setting("ssl_cert_file", &srv_crt),
                setting("ssl_key_file", &srv_key),
                setting("ssl_ca_file", &ca_path),
                setting("hba_file", &hba),
            ],
            run_as_user: None,
        })
        .expect("start the TLS cluster");
        let server = TlsServer {
            root,
            port,
            ca: ca_path,
            other_ca,
            client_cert: client_crt,
            client_key,
            cluster: Some(cluster),
        };
        server.admin_sql(&format!("CREATE ROLE {CERT_USER} LOGIN"));
        server
    }

    /// A TCP URL to database `postgres` through `host` (`localhost` is the certificate's name),
    /// as the `postgres` superuser, with `query` (`sslmode=…&…`).
    pub fn url(&self, host: &str, query: &str) -> String {
        format!(
            "postgresql://postgres:{PASSWORD}@{host}:{}/postgres?{query}",
            self.port
        )
    }

    /// The superuser's URL over the unix socket (no TLS, no password).
    pub fn socket_url(&self) -> String {
        match &self.cluster {
            Some(c) => c.socket_url("postgres"),
            None => unreachable!("the cluster lives as long as the server"),
        }
    }

    /// Run SQL as the superuser over the unix socket, with `psql`.
    pub fn admin_sql(&self, sql: &str) {
        let Some(c) = &self.cluster else { return };
        let out = std::process::Command::new(c.bin.bin("psql"))
            .arg(self.socket_url())
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.cluster.take() {
            c.stop();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn authority(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("CA cert");
    (cert.pem(), Issuer::new(params, key))
}

fn chown(p: &Path, r: RunAs) {
    nix::unistd::chown(
        p,
        Some(nix::unistd::Uid::from_raw(r.uid)),
        Some(nix::unistd::Gid::from_raw(r.gid)),
    )
    .expect("chown");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
