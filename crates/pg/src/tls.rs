//! TLS to Postgres, in one place. Every connection basalt opens — the deadpool pools, the
//! pipelined [`wire`](crate::wire) connections, single connections, listeners, realtime's
//! replication stream — reads its TLS settings from the connection string through [`parse`] and
//! gets its connector from the [`Tls`] built there.
//!
//! The settings are libpq's, read from the URL query (`postgres://…?sslmode=verify-full&sslrootcert=/ca.pem`)
//! or a key/value string, with `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY` as
//! defaults:
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow`, `prefer` (default) | tried first; plain when the server refuses it or the TLS attempt fails | not checked |
//! | `require` | required | not checked, unless `sslrootcert` is given (then as `verify-ca`, as libpq does) |
//! | `verify-ca` | required | signed by a trusted CA |
//! | `verify-full` | required | signed by a trusted CA and issued for the host connected to |
//!
//! Trusted CAs are `sslrootcert` (a PEM file), or the system's roots when it is absent or
//! `system` (Mozilla's roots when the system has none). `sslcert` and `sslkey` (PEM) are the
//! client certificate offered to servers that ask for one (`hostssl … cert` in `pg_hba.conf`).
//! Unix sockets never use TLS, whatever the mode (as libpq). TLS is rustls with the ring
//! provider.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::config::Host;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_postgres::Socket;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The name as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether a connection without TLS is acceptable after TLS was tried.
    pub fn falls_back(self) -> bool {
        matches!(self, SslMode::Allow | SslMode::Prefer)
    }
}

/// The TLS half of a connection string: the mode, and the rustls configuration built from the
/// certificate settings. Cheap to clone. A setting that cannot be used (a missing file, a key
/// without a certificate) is kept as an error and reported by every TLS attempt (and by
/// [`Tls::check`]).
#[derive(Clone)]
pub struct Tls {
    mode: SslMode,
    config: Result<Arc<ClientConfig>, Arc<str>>,
    /// Where the trusted CAs come from, for error messages.
    roots: Arc<str>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("mode", &self.mode)
            .field("roots", &self.roots)
            .field("error", &self.config.as_ref().err())
            .finish()
    }
}

/// A connection string split into what tokio-postgres reads and the TLS settings.
#[derive(Clone, Debug)]
pub struct DbConfig {
    /// Everything but the TLS files; its `ssl_mode` is set from [`Tls::mode`] (`disable` for
    /// unix sockets).
    pub pg: tokio_postgres::Config,
    pub tls: Tls,
}

/// The settings [`parse`] takes out of a connection string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SslSettings {
    pub mode: Option<String>,
    pub rootcert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

const SSL_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Parse a connection string (URL or key/value) with its TLS settings.
pub fn parse(url: &str) -> Result<DbConfig, tokio_postgres::Error> {
    let (rest, mut ssl) = split(url);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    ssl.mode = ssl.mode.or_else(|| env("PGSSLMODE"));
    ssl.rootcert = ssl.rootcert.or_else(|| env("PGSSLROOTCERT"));
    ssl.cert = ssl.cert.or_else(|| env("PGSSLCERT"));
    ssl.key = ssl.key.or_else(|| env("PGSSLKEY"));
    let mode = match ssl.mode.as_deref() {
        None => SslMode::Prefer,
        Some(m) => match SslMode::parse(m) {
            Some(m) => m,
            // tokio-postgres says what is wrong with it.
            None => return Err(invalid_sslmode()),
        },
    };
    let mut pg: tokio_postgres::Config = rest.parse()?;
    let tls = Tls::new(mode, &ssl);
    let unix_only =
        !pg.get_hosts().is_empty() && pg.get_hosts().iter().all(|h| !matches!(h, Host::Tcp(_)));
    pg.ssl_mode(if unix_only || mode == SslMode::Disable {
        tokio_postgres::config::SslMode::Disable
    } else if mode.falls_back() {
        tokio_postgres::config::SslMode::Prefer
    } else {
        tokio_postgres::config::SslMode::Require
    });
    Ok(DbConfig { pg, tls })
}

/// tokio-postgres' own error for an `sslmode` value it does not know (it names the option).
fn invalid_sslmode() -> tokio_postgres::Error {
    match "sslmode=invalid".parse::<tokio_postgres::Config>() {
        Err(e) => e,
        Ok(_) => unreachable!("tokio-postgres refuses unknown sslmode values"),
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Take the TLS settings out of a connection string: what is left, and the settings.
pub fn split(url: &str) -> (String, SslSettings) {
    let mut ssl = SslSettings::default();
    let mut take = |k: &str, v: String| match k {
        "sslmode" => ssl.mode = Some(v),
        "sslrootcert" => ssl.rootcert = Some(v),
        "sslcert" => ssl.cert = Some(v),
        _ => ssl.key = Some(v),
    };
    if is_url(url) {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), ssl);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k);
            if SSL_KEYS.contains(&key.as_str()) {
                take(&key, decode(v));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, ssl)
    } else {
        let mut kept = Vec::new();
        for (k, v) in key_values(url) {
            if SSL_KEYS.contains(&k.as_str()) {
                take(&k, v);
            } else {
                kept.push(format!(
                    "{k}='{}'",
                    v.replace('\\', "\\\\").replace('\'', "\\'")
                ));
            }
        }
        (kept.join(" "), ssl)
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The pairs of a libpq key/value string (`host=db port=5432 password='a b\'c'`).
fn key_values(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if key.is_empty() {
            break;
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.next_if_eq(&'=').is_none() {
            out.push((key, String::new()));
            continue;
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if it.next_if_eq(&'\'').is_some() {
            while let Some(c) = it.next() {
                match c {
                    '\\' => value.extend(it.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(it.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
    out
}

impl Tls {
    /// No TLS at all.
    pub fn disabled() -> Tls {
        Tls::new(SslMode::Disable, &SslSettings::default())
    }

    /// TLS as `mode` and the certificate settings ask.
    pub fn new(mode: SslMode, ssl: &SslSettings) -> Tls {
        let rootcert = ssl
            .rootcert
            .as_deref()
            .filter(|r| !r.is_empty() && *r != "system");
        let roots: Arc<str> = match rootcert {
            Some(r) => format!("sslrootcert {r}").into(),
            None => "the system's trusted roots".into(),
        };
        let config = if mode == SslMode::Disable {
            Err("sslmode=disable".into())
        } else {
            cached(mode, rootcert, ssl)
        };
        Tls {
            mode,
            config,
            roots,
        }
    }

    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// The TLS settings cannot be used (a certificate file is missing or unreadable…).
    pub fn check(&self) -> Result<(), String> {
        match (&self.config, self.mode) {
            (_, SslMode::Disable) | (Ok(_), _) => Ok(()),
            (Err(e), _) => Err(e.to_string()),
        }
    }

    /// The TLS handshake over `stream` (after the server agreed to TLS), checking the server's
    /// certificate as the mode says. Failures say in plain words what was refused.
    pub async fn handshake<S>(
        &self,
        host: &str,
        stream: S,
    ) -> io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = self
            .config
            .as_ref()
            .map_err(|e| io::Error::other(format!("TLS to {host}: {e}")))?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| io::Error::other(format!("TLS to {host}: not a valid host name")))?;
        tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, stream)
            .await
            .map_err(|e| self.explain(host, e))
    }

    fn explain(&self, host: &str, e: io::Error) -> io::Error {
        use rustls::CertificateError as C;
        let Some(r) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
            return io::Error::new(e.kind(), format!("TLS handshake with {host} failed: {e}"));
        };
        let why = match r {
            rustls::Error::InvalidCertificate(C::NotValidForName)
            | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => format!(
                "the server's certificate is not issued for host name \"{host}\" \
                 (sslmode=verify-full checks it: connect by a name the certificate carries, \
                 or use sslmode=verify-ca) [{r}]"
            ),
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => format!(
                "the server's certificate is not signed by a certificate authority trusted here \
                 ({}); set sslrootcert to the CA certificate that signed it [{r}]",
                self.roots
            ),
            rustls::Error::InvalidCertificate(c) => {
                format!("the server's certificate was refused: {c:?} [{r}]")
            }
            rustls::Error::AlertReceived(a) => format!(
                "the server ended the TLS handshake ({a:?}); if it asks for a client \
                 certificate, give sslcert and sslkey [{r}]"
            ),
            other => format!("{other}"),
        };
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "TLS to {host} (sslmode={}) refused: {why}",
                self.mode.as_str()
            ),
        )
    }

    /// Open TLS on a fresh TCP connection as Postgres negotiates it (`SSLRequest`, then the
    /// handshake). With `allow`/`prefer` a server that declines TLS gets a plain connection.
    pub async fn negotiate(&self, host: &str, mut tcp: TcpStream) -> io::Result<Negotiated> {
        if self.mode == SslMode::Disable {
            return Ok(Negotiated::Plain(tcp));
        }
        let mut buf = bytes::BytesMut::new();
        postgres_protocol::message::frontend::ssl_request(&mut buf);
        tcp.write_all(&buf).await?;
        let mut answer = [0u8];
        tcp.read_exact(&mut answer).await?;
        if answer[0] != b'S' {
            return if self.mode.falls_back() {
                Ok(Negotiated::Plain(tcp))
            } else {
                Err(io::Error::other(format!(
                    "TLS to {host} (sslmode={}) refused: the server does not accept TLS \
                     connections (ssl=off)",
                    self.mode.as_str()
                )))
            };
        }
        Ok(Negotiated::Tls(Box::new(self.handshake(host, tcp).await?)))
    }
}

/// A TCP connection after TLS negotiation.
pub enum Negotiated {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Negotiated {
    pub fn is_tls(&self) -> bool {
        matches!(self, Negotiated::Tls(_))
    }
}

/// One rustls configuration per set of settings for the life of the process: connections opened
/// one at a time (listeners, tooling) do not read the system's roots again, and share TLS session
/// tickets (resumed handshakes). A configuration that failed is built again next time (the file
/// may have appeared).
fn cached(
    mode: SslMode,
    rootcert: Option<&str>,
    ssl: &SslSettings,
) -> Result<Arc<ClientConfig>, Arc<str>> {
    type Key = (SslMode, Option<String>, Option<String>, Option<String>);
    type Cache = std::sync::Mutex<std::collections::HashMap<Key, Arc<ClientConfig>>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let key: Key = (
        mode,
        rootcert.map(str::to_owned),
        ssl.cert.clone(),
        ssl.key.clone(),
    );
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(c.clone());
    }
    let built = build(mode, rootcert.map(Path::new), ssl).map_err(Arc::<str>::from)?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, built.clone());
    Ok(built)
}

fn build(
    mode: SslMode,
    rootcert: Option<&Path>,
    ssl: &SslSettings,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    // libpq: `require` with a root certificate file verifies the chain, as `verify-ca`.
    let verify = match mode {
        SslMode::VerifyFull => Verify::Full,
        SslMode::VerifyCa => Verify::Ca,
        SslMode::Require if rootcert.is_some() => Verify::Ca,
        _ => Verify::None,
    };
    let chain = match verify {
        Verify::None => None,
        _ => Some(
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(load_roots(rootcert)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?,
        ),
    };
    let verifier = Arc::new(Verifier {
        provider,
        chain,
        names: verify == Verify::Full,
    });
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&ssl.cert, &ssl.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslcert {cert}: {e}"))?;
            if chain.is_empty() {
                return Err(format!("sslcert {cert}: no certificate in the file"));
            }
            let key_der =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("sslkey {key}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| format!("sslcert {cert} / sslkey {key}: {e}"))?
        }
        (Some(_), None) => return Err("sslcert is given without sslkey".into()),
        (None, Some(_)) => return Err("sslkey is given without sslcert".into()),
        (None, None) => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verify {
    None,
    Ca,
    Full,
}

fn load_roots(rootcert: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match rootcert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert {}: no CA certificate in the file",
                    path.display()
                ));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
        }
    }
    Ok(roots)
}

/// The server-certificate check of every mode: none (`require`/`prefer`: encryption without
/// knowing who is at the other end, libpq's meaning), the chain only (`verify-ca`), or the chain
/// and the host name (`verify-full`). Handshake signatures are always checked.
#[derive(Debug)]
struct Verifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    names: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as C;
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

// tokio-postgres' side: it sends the SSLRequest, then hands the socket to this connector.

impl MakeTlsConnect<Socket> for Tls {
    type Stream = TlsStream;
    type TlsConnect = Connector;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connector> {
        Ok(Connector {
            tls: self.clone(),
            host: domain.to_owned(),
        })
    }
}

/// One TLS handshake for tokio-postgres.
pub struct Connector {
    tls: Tls,
    host: String,
}

impl TlsConnect<Socket> for Connector {
    type Stream = TlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let s = self.tls.handshake(&self.host, stream).await?;
            Ok(TlsStream(Box::new(s)))
        })
    }
}

/// A TLS connection tokio-postgres talks over.
pub struct TlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl tokio_postgres::tls::TlsStream for TlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// A connection's driver, as tokio-postgres returns it.
pub type Connection = tokio_postgres::Connection<Socket, TlsStream>;

impl DbConfig {
    /// One connection. With `allow`/`prefer`, a failed TLS attempt is followed by a plain one
    /// (libpq's fallback); the driver is returned unspawned.
    pub async fn connect(
        &self,
    ) -> Result<(tokio_postgres::Client, Connection), tokio_postgres::Error> {
        match self.pg.connect(self.tls.clone()).await {
            Ok(c) => Ok(c),
            Err(e)
                if self.tls.mode.falls_back()
                    && self.pg.get_ssl_mode() != tokio_postgres::config::SslMode::Disable =>
            {
                let mut plain = self.pg.clone();
                plain.ssl_mode(tokio_postgres::config::SslMode::Disable);
                plain.connect(self.tls.clone()).await.map_err(|_| e)
            }
            Err(e) => Err(e),
        }
    }

    /// The first TCP host and its port (replication and tunnels use it).
    pub fn first_tcp(&self) -> Option<(String, u16)> {
        let ports = self.pg.get_ports();
        self.pg
            .get_hosts()
            .iter()
            .enumerate()
            .find_map(|(i, h)| match h {
                Host::Tcp(h) => Some((
                    h.clone(),
                    ports
                        .get(i)
                        .or_else(|| ports.first())
                        .copied()
                        .unwrap_or(5432),
                )),
                Host::Unix(_) => None,
            })
    }
}

impl deadpool_postgres::Connect for DbConfig {
    fn connect(
        &self,
        _: &tokio_postgres::Config,
    ) -> Pin<
        Box<
            dyn Future<
                    Output = Result<
                        (tokio_postgres::Client, tokio::task::JoinHandle<()>),
                        tokio_postgres::Error,
                    >,
                > + Send
                + '_,
        >,
    > {
        Box::pin(async move {
            let (client, conn) = DbConfig::connect(self).await?;
            let driver = tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "postgres connection closed");
                }
            });
            Ok((client, driver))
        })
    }
}

/// A private unix socket that carries one connection to the server over TLS, for clients that
/// cannot speak TLS with basalt's settings themselves (the replication client). The server is
/// reached, and TLS negotiated, before the socket exists, so a refused certificate is reported
/// here. The socket lives in a fresh directory only this user can enter, removed on drop.
pub struct Tunnel {
    dir: PathBuf,
    /// The socket is `<dir>/.s.PGSQL.<port>`, as libpq names them.
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Tunnel {
    pub async fn open(db: &DbConfig) -> io::Result<Tunnel> {
        let (host, port) = db
            .first_tcp()
            .ok_or_else(|| io::Error::other("no TCP host in the connection string"))?;
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        tcp.set_nodelay(true)?;
        let upstream = db.tls.negotiate(&host, tcp).await?;
        let dir = std::env::temp_dir().join(format!(
            "basalt-pgtls-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&dir)?;
        let listener = tokio::net::UnixListener::bind(dir.join(format!(".s.PGSQL.{port}")))?;
        let task = tokio::spawn(async move {
            let Ok((mut local, _)) = listener.accept().await else {
                return;
            };
            drop(listener);
            let _ = match upstream {
                Negotiated::Plain(mut s) => tokio::io::copy_bidirectional(&mut local, &mut s).await,
                Negotiated::Tls(mut s) => tokio::io::copy_bidirectional(&mut local, &mut *s).await,
            };
        });
        Ok(Tunnel { dir, port, task })
    }

    /// The directory to give as `host`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_settings_are_taken_out() {
        let (rest, ssl) = split(
            "postgres://u:p@db.example:6543/app?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca%20file.pem&sslcert=/c.pem&sslkey=/k.pem",
        );
        assert_eq!(
            rest,
            "postgres://u:p@db.example:6543/app?application_name=x"
        );
        assert_eq!(ssl.mode.as_deref(), Some("verify-full"));
        assert_eq!(ssl.rootcert.as_deref(), Some("/tmp/ca file.pem"));
        assert_eq!(ssl.cert.as_deref(), Some("/c.pem"));
        assert_eq!(ssl.key.as_deref(), Some("/k.pem"));
        let (rest, ssl) = split("postgresql://u@h/db?sslmode=require");
        assert_eq!(rest, "postgresql://u@h/db");
        assert_eq!(ssl.mode.as_deref(), Some("require"));
    }

    #[test]
    fn key_value_settings_are_taken_out() {
        let (rest, ssl) = split(
            "host=db.example  port = 5432 password='a b\\'c' sslmode=verify-ca sslrootcert = '/x y/ca.pem'",
        );
        assert_eq!(ssl.mode.as_deref(), Some("verify-ca"));
        assert_eq!(ssl.rootcert.as_deref(), Some("/x y/ca.pem"));
        let pg: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(pg.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(pg.get_ports(), &[5432]);
    }

    #[test]
    fn modes_map_to_the_driver() {
        use tokio_postgres::config::SslMode as D;
        let m = |u: &str| parse(u).unwrap().pg.get_ssl_mode();
        assert_eq!(m("postgres://u@h/db"), D::Prefer);
        assert_eq!(m("postgres://u@h/db?sslmode=disable"), D::Disable);
        assert_eq!(m("postgres://u@h/db?sslmode=verify-full"), D::Require);
        assert_eq!(m("postgres://u@h/db?sslmode=allow"), D::Prefer);
        // Unix sockets never use TLS.
        assert_eq!(m("postgres://u@/db?host=/tmp&sslmode=require"), D::Disable);
        let e = crate::pool::describe(&parse("postgres://u@h/db?sslmode=sometimes").unwrap_err());
        assert!(e.contains("sslmode"), "{e}");
    }

    #[test]
    fn unusable_files_are_reported() {
        let db =
            parse("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").unwrap();
        let e = db.tls.check().unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let db = parse("postgres://u@h/db?sslmode=require&sslcert=/c.pem").unwrap();
        assert!(db.tls.check().unwrap_err().contains("without sslkey"));
    }
}
