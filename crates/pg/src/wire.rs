//! A lean Postgres connection for request hot paths: the statements of one request are sent as a
//! single pipeline closed by one `Sync`, so they run in one implicit transaction and the server
//! answers them in one flush. A general driver sends a `Sync` after every statement, which makes
//! each statement its own transaction (hence an explicit `BEGIN`/`COMMIT` around them) and costs
//! the server a flush and a transaction per statement: for a short read that is twice the work.
//!
//! The connection speaks only what a request needs: the extended query protocol with statements
//! prepared once per connection (parameter types inferred by the server, every value and result in
//! text format), trust, cleartext, MD5 and SCRAM-SHA-256 authentication, TCP (with TLS as the
//! connection string's `sslmode` says, [`crate::tls`]) and Unix sockets. Everything else (schema
//! loading, listeners, migrations) uses tokio-postgres.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{DataRowBody, ErrorResponseBody, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, SslMode};

/// Statements kept prepared per connection; past this many, all are closed and preparing starts
/// over (requests with ever-new SQL texts must not grow a connection without bound).
const MAX_STATEMENTS: usize = 512;

/// What can go wrong talking to Postgres.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused a statement; the connection is still usable.
    #[error("{}: {}", .0.code, .0.message)]
    Db(DbError),
    /// The connection failed or was closed; it must not be used again.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// The server said something this client does not expect; the connection is dropped.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The connection string asks for something this client cannot do.
    #[error("{0}")]
    Config(String),
    /// TLS could not be set up: the server refused it, or its certificate was refused.
    #[error("{0}")]
    Tls(io::Error),
}

/// The fields of a server error that callers map to their API errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbError {
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl DbError {
    fn parse(body: &ErrorResponseBody) -> io::Result<DbError> {
        let mut e = DbError::default();
        let mut fields = body.fields();
        while let Some(f) = fields.next()? {
            let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
            match f.type_() {
                b'V' => e.severity = v,
                b'S' if e.severity.is_empty() => e.severity = v,
                b'C' => e.code = v,
                b'M' => e.message = v,
                b'D' => e.detail = Some(v),
                b'H' => e.hint = Some(v),
                _ => {}
            }
        }
        Ok(e)
    }
}

/// One statement of a pipeline: its SQL and its parameters, in text format (`None` is NULL).
pub struct Step<'a> {
    pub sql: &'a str,
    pub params: Vec<Option<&'a str>>,
}

impl<'a> Step<'a> {
    /// A statement without parameters.
    pub fn plain(sql: &'a str) -> Step<'a> {
        Step {
            sql,
            params: Vec::new(),
        }
    }
}

/// A result row; every column in text format.
pub struct Row {
    body: DataRowBody,
}

impl Row {
    /// The text of column `i`, `None` when it is NULL (or absent).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let mut ranges = self.body.ranges();
        let mut n = 0;
        while let Ok(Some(r)) = ranges.next() {
            if n == i {
                return r.map(|r| &self.body.buffer()[r]);
            }
            n += 1;
        }
        None
    }

    /// Column `i` as UTF-8 text.
    pub fn text(&self, i: usize) -> Option<&str> {
        self.get(i).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Option<i64> {
        self.text(i).and_then(|s| s.parse().ok())
    }

    /// Column `i` as `bytea` (the server's hex text form).
    pub fn bytes(&self, i: usize) -> Option<Vec<u8>> {
        let t = self.get(i)?;
        let hex = t.strip_prefix(b"\\x")?;
        hex.chunks(2)
            .map(|p| {
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
            })
            .collect()
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(b).await,
            Stream::Unix(s) => s.write_all(b).await,
            Stream::Tls(s) => {
                s.write_all(b).await?;
                s.flush().await
            }
        }
    }

    async fn read_buf(&mut self, b: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read_buf(b).await,
            Stream::Unix(s) => s.read_buf(b).await,
            Stream::Tls(s) => s.read_buf(b).await,
        }
    }

    /// Read without waiting; `WouldBlock` when nothing arrived. No system call is made unless
    /// the socket was seen readable.
    fn try_read_buf(&mut self, b: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(b),
            Stream::Unix(s) => s.try_read_buf(b),
            // One poll without a waker: TLS records that carry no data (session tickets) are
            // consumed and count as nothing arrived.
            Stream::Tls(s) => {
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                let read = s.read_buf(b);
                let mut read = std::pin::pin!(read);
                match std::future::Future::poll(read.as_mut(), &mut cx) {
                    std::task::Poll::Ready(r) => r,
                    std::task::Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

/// One connection. Not shared: a request takes it from the pool, runs its pipelines, gives it
/// back. A pipeline cut off mid-way (the request's future dropped) leaves it `broken`.
pub struct Conn {
    stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// SQL text → statement number (named `b<number>` on the server).
    statements: HashMap<String, u32>,
    next_statement: u32,
    /// The schema generation the prepared statements belong to.
    generation: u64,
    /// A pipeline is in flight (or was abandoned mid-way).
    busy: bool,
    /// The transaction status of the last `ReadyForQuery`: `I`dle, in a `T`ransaction, or in a
    /// failed transaction (`E`).
    status: u8,
    /// The session's default isolation level is READ COMMITTED, so an implicit transaction is
    /// one.
    read_committed: bool,
}

impl Conn {
    /// Connect as `cfg` says (first reachable host wins) and authenticate. Its `sslmode` is
    /// tokio-postgres' (`require` encrypts without checking the certificate); a connection
    /// string's own TLS settings are read by [`crate::tls::parse`] for [`Conn::connect_with`].
    pub async fn connect(cfg: &tokio_postgres::Config) -> Result<Conn, Error> {
        let mode = match cfg.get_ssl_mode() {
            SslMode::Disable => crate::tls::SslMode::Disable,
            SslMode::Prefer => crate::tls::SslMode::Prefer,
            _ => crate::tls::SslMode::Require,
        };
        let db = crate::tls::DbConfig {
            pg: cfg.clone(),
            tls: crate::tls::Tls::new(mode, &Default::default()),
        };
        Conn::connect_with(&db).await
    }

    /// Connect with a parsed connection string and its TLS settings. With `allow`/`prefer`, a
    /// session that fails over TLS is tried again without (libpq's fallback).
    pub async fn connect_with(db: &crate::tls::DbConfig) -> Result<Conn, Error> {
        match Conn::connect_hosts(db, true).await {
            Err((e, true)) if db.tls.mode().falls_back() => {
                Conn::connect_hosts(db, false).await.map_err(|_| e)
            }
            r => r.map_err(|(e, _)| e),
        }
    }

    /// The error says whether TLS was in use when it happened.
    async fn connect_hosts(db: &crate::tls::DbConfig, tls: bool) -> Result<Conn, (Error, bool)> {
        let cfg = &db.pg;
        let tls = (tls && cfg.get_ssl_mode() != SslMode::Disable).then_some(&db.tls);
        let mut used_tls = false;
        let timeout = cfg.get_connect_timeout().copied();
        let ports = cfg.get_ports();
        let mut last = Error::Config("no host in the connection string".into());
        for (i, host) in cfg.get_hosts().iter().enumerate() {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            let mut on_tls = false;
            let attempt = async {
                let stream = open(host, port, tls).await?;
                on_tls = stream.is_tls();
                Conn::start(stream, cfg).await
            };
            let result = match timeout {
                Some(t) => tokio::time::timeout(t, attempt)
                    .await
                    .unwrap_or_else(|_| Err(Error::Io(io::ErrorKind::TimedOut.into()))),
                None => attempt.await,
            };
            match result {
                Ok(c) => return Ok(c),
                Err(e) => {
                    used_tls |= on_tls || matches!(&e, Error::Tls(_));
                    last = e;
                }
            }
        }
        Err((last, used_tls))
    }

    async fn start(stream: Stream, cfg: &tokio_postgres::Config) -> Result<Conn, Error> {
        let mut conn = Conn {
            stream,
            rbuf: BytesMut::with_capacity(8192),
            wbuf: BytesMut::with_capacity(8192),
            statements: HashMap::new(),
            next_statement: 0,
            generation: 0,
            busy: false,
            status: b'I',
            read_committed: true,
        };
        let user = cfg
            .get_user()
            .ok_or_else(|| Error::Config("the connection string names no user".into()))?;
        let mut params: Vec<(&str, &str)> = vec![("user", user), ("client_encoding", "UTF8")];
        params.push(("database", cfg.get_dbname().unwrap_or(user)));
        if let Some(o) = cfg.get_options() {
            params.push(("options", o));
        }
        if let Some(a) = cfg.get_application_name() {
            params.push(("application_name", a));
        }
        frontend::startup_message(params, &mut conn.wbuf)?;
        conn.flush().await?;
        conn.authenticate(user, cfg.get_password()).await?;
        // Parameter statuses and the key data, up to the first ReadyForQuery.
        loop {
            match conn.read().await? {
                Message::ReadyForQuery(b) => {
                    conn.status = b.status();
                    break;
                }
                Message::ErrorResponse(b) => return Err(Error::Db(DbError::parse(&b)?)),
                _ => {}
            }
        }
        let rows = conn
            .pipeline(&[Step::plain("SHOW default_transaction_isolation")])
            .await?;
        conn.read_committed = rows
            .first()
            .and_then(|r| r.first())
            .and_then(|r| r.text(0))
            .is_none_or(|l| l == "read committed");
        Ok(conn)
    }

    async fn authenticate(&mut self, user: &str, password: Option<&[u8]>) -> Result<(), Error> {
        let need = || Error::Config("the server asks for a password; none was given".into());
        loop {
            match self.read().await? {
                Message::AuthenticationOk => return Ok(()),
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password.ok_or_else(need)?, &mut self.wbuf)?;
                    self.flush().await?;
                }
                Message::AuthenticationMd5Password(b) => {
                    let hash = md5_hash(user.as_bytes(), password.ok_or_else(need)?, b.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf)?;
                    self.flush().await?;
                }
                Message::AuthenticationSasl(b) => {
                    let mut mechanisms = b.mechanisms();
                    let mut scram = false;
                    while let Some(m) = mechanisms.next()? {
                        scram |= m == sasl::SCRAM_SHA_256;
                    }
                    if !scram {
                        return Err(Error::Config(
                            "the server offers no SASL mechanism this client knows".into(),
                        ));
                    }
                    let mut s = sasl::ScramSha256::new(
                        password.ok_or_else(need)?,
                        sasl::ChannelBinding::unsupported(),
                    );
                    frontend::sasl_initial_response(
                        sasl::SCRAM_SHA_256,
                        s.message(),
                        &mut self.wbuf,
                    )?;
                    self.flush().await?;
                    match self.read().await? {
                        Message::AuthenticationSaslContinue(b) => s.update(b.data())?,
                        Message::ErrorResponse(b) => return Err(Error::Db(DbError::parse(&b)?)),
                        _ => return Err(Error::Protocol("unexpected SASL message".into())),
                    }
                    frontend::sasl_response(s.message(), &mut self.wbuf)?;
                    self.flush().await?;
                    match self.read().await? {
                        Message::AuthenticationSaslFinal(b) => s.finish(b.data())?,
                        Message::ErrorResponse(b) => return Err(Error::Db(DbError::parse(&b)?)),
                        _ => return Err(Error::Protocol("unexpected SASL message".into())),
                    }
                }
                Message::ErrorResponse(b) => return Err(Error::Db(DbError::parse(&b)?)),
                _ => {
                    return Err(Error::Config(
                        "the server asks for an authentication method this client lacks".into(),
                    ))
                }
            }
        }
    }

    /// Whether the connection cannot be used again: a pipeline was abandoned mid-way, or a
    /// transaction is still open.
    pub fn broken(&self) -> bool {
        self.busy || self.status != b'I'
    }

    /// Whether the server ended the session while the connection sat idle: Postgres restarted,
    /// was killed, or terminated the backend. An idle session is never spoken to, so anything
    /// readable (the closing error, or the end of the stream) means it is gone.
    pub fn closed(&mut self) -> bool {
        !matches!(
            self.stream.try_read_buf(&mut self.rbuf),
            Err(ref e) if e.kind() == io::ErrorKind::WouldBlock
        )
    }

    /// Whether the last pipeline left a transaction open (possibly failed).
    pub fn in_transaction(&self) -> bool {
        self.status != b'I'
    }

    /// Whether an implicit transaction runs at READ COMMITTED (the session default).
    pub fn read_committed(&self) -> bool {
        self.read_committed
    }

    /// Forget prepared statements made under another schema generation (their plans and result
    /// types may no longer hold). They are closed on the server with the next pipeline.
    pub fn set_generation(&mut self, generation: u64) {
        if self.generation != generation {
            self.generation = generation;
            self.close_all();
        }
    }

    fn close_all(&mut self) {
        for (_, n) in self.statements.drain() {
            // Closing an unknown name is not an error; the message cannot fail to encode.
            let _ = frontend::close(b'S', &format!("b{n}"), &mut self.wbuf);
        }
    }

    /// Run `steps` as one pipeline closed by a single `Sync`, and return each step's rows. Outside
    /// an explicit transaction the steps share one implicit transaction, committed at the `Sync`
    /// (or rolled back when a step fails). The first failing step's error is returned; the steps
    /// after it do not run. A failure at the commit itself (a deferred constraint) is returned too.
    pub async fn pipeline(&mut self, steps: &[Step<'_>]) -> Result<Vec<Vec<Row>>, Error> {
        if self.statements.len() + steps.len() > MAX_STATEMENTS {
            self.close_all();
        }
        let mut parsed = Vec::new();
        for step in steps {
            let n = match self.statements.get(step.sql) {
                Some(n) => *n,
                None => {
                    let n = self.next_statement;
                    self.next_statement = self.next_statement.wrapping_add(1);
                    frontend::parse(&format!("b{n}"), step.sql, [], &mut self.wbuf)?;
                    self.statements.insert(step.sql.to_string(), n);
                    parsed.push(step.sql);
                    n
                }
            };
            let bound = frontend::bind(
                "",
                &format!("b{n}"),
                [0i16],
                step.params.iter(),
                |v, buf| match v {
                    Some(s) => {
                        buf.extend_from_slice(s.as_bytes());
                        Ok(IsNull::No)
                    }
                    None => Ok(IsNull::Yes),
                },
                [0i16],
                &mut self.wbuf,
            );
            if bound.is_err() {
                self.wbuf.clear();
                for sql in parsed {
                    self.statements.remove(sql);
                }
                return Err(Error::Protocol("a parameter could not be encoded".into()));
            }
            frontend::execute("", 0, &mut self.wbuf)?;
        }
        frontend::sync(&mut self.wbuf);
        self.busy = true;
        self.flush().await?;
        let mut results: Vec<Vec<Row>> = Vec::with_capacity(steps.len());
        let mut current = Vec::new();
        let mut parse_ok = 0;
        let mut error = None;
        loop {
            match self.read().await? {
                Message::ParseComplete => parse_ok += 1,
                Message::DataRow(body) => current.push(Row { body }),
                Message::CommandComplete(_)
                | Message::EmptyQueryResponse
                | Message::PortalSuspended => results.push(std::mem::take(&mut current)),
                Message::ErrorResponse(b) if error.is_none() => {
                    error = Some(DbError::parse(&b)?);
                }
                Message::ReadyForQuery(b) => {
                    self.status = b.status();
                    break;
                }
                _ => {}
            }
        }
        self.busy = false;
        // Statements whose Parse did not run (an earlier step failed) are not prepared.
        for sql in parsed.into_iter().skip(parse_ok) {
            self.statements.remove(sql);
        }
        match error {
            Some(e) => Err(Error::Db(e)),
            None => Ok(results),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        let r = self.stream.write_all(&self.wbuf).await;
        self.wbuf.clear();
        r
    }

    async fn read(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(m) = Message::parse(&mut self.rbuf)? {
                return Ok(m);
            }
            if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                self.rbuf.reserve(8192);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }
}

async fn open(host: &Host, port: u16, tls: Option<&crate::tls::Tls>) -> Result<Stream, Error> {
    Ok(match host {
        Host::Tcp(h) => {
            let s = TcpStream::connect((h.as_str(), port)).await?;
            s.set_nodelay(true)?;
            match tls {
                None => Stream::Tcp(s),
                Some(tls) => match tls.negotiate(h, s).await.map_err(Error::Tls)? {
                    crate::tls::Negotiated::Plain(s) => Stream::Tcp(s),
                    crate::tls::Negotiated::Tls(s) => Stream::Tls(s),
                },
            }
        }
        Host::Unix(dir) => {
            Stream::Unix(UnixStream::connect(dir.join(format!(".s.PGSQL.{port}"))).await?)
        }
    })
}

/// deadpool's view of [`Conn`]: connections are made from a parsed connection string and not
/// reused once broken or closed by the server (so after a Postgres restart the pool fills with
/// new connections instead of failing a request per dead one).
pub struct Manager {
    config: crate::tls::DbConfig,
    /// Run once on each new connection ([`crate::caller::assume_sql`]), for pools that serve
    /// requests as their callers.
    assume: Option<String>,
}

impl deadpool::managed::Manager for Manager {
    type Type = Conn;
    type Error = Error;

    async fn create(&self) -> Result<Conn, Error> {
        let mut conn = Conn::connect_with(&self.config).await?;
        if let Some(assume) = &self.assume {
            let rows = conn
                .pipeline(&[
                    Step::plain(assume),
                    Step::plain(crate::caller::SESSION_USER_SQL),
                ])
                .await?;
            let user = rows.get(1).and_then(|r| r.first()).and_then(|r| r.text(0));
            crate::caller::note_session_user(user.unwrap_or_default());
        }
        Ok(conn)
    }

    async fn recycle(
        &self,
        conn: &mut Conn,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Error> {
        if conn.broken() {
            return Err(deadpool::managed::RecycleError::message(
                "the connection was left mid-pipeline or in a transaction",
            ));
        }
        if conn.closed() {
            return Err(deadpool::managed::RecycleError::message(
                "the server closed the connection",
            ));
        }
        Ok(())
    }
}

/// A pool of [`Conn`]s.
pub type Pool = deadpool::managed::Pool<Manager>;

/// A pool of `size` pipelined connections to `url` (TLS as [`crate::tls`] reads it).
pub fn pool(url: &str, size: usize) -> Result<Pool, crate::pool::PoolError> {
    build(url, size, None)
}

/// A pool like [`pool`] whose connections serve requests as their callers: each becomes an
/// `authenticator` session when it is made (see [`crate::caller`]).
pub fn pool_for_callers(url: &str, size: usize) -> Result<Pool, crate::pool::PoolError> {
    build(url, size, Some(crate::caller::assume_sql(None)))
}

fn build(url: &str, size: usize, assume: Option<String>) -> Result<Pool, crate::pool::PoolError> {
    let config = crate::tls::parse(url)?;
    config.tls.check().map_err(crate::pool::PoolError::Tls)?;
    let pool = Pool::builder(Manager { config, assume })
        .max_size(size.max(1))
        .wait_timeout(Some(Duration::from_secs(10)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| crate::pool::PoolError::Build(e.to_string()))?;
    crate::pool::register("wire", &pool);
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cols: &[Option<&str>]) -> Row {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(cols.len() as i16).to_be_bytes());
        for c in cols {
            match c {
                Some(s) => {
                    buf.extend_from_slice(&(s.len() as i32).to_be_bytes());
                    buf.extend_from_slice(s.as_bytes());
                }
                None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let mut msg = BytesMut::new();
        msg.extend_from_slice(b"D");
        msg.extend_from_slice(&((buf.len() + 4) as i32).to_be_bytes());
        msg.extend_from_slice(&buf);
        match Message::parse(&mut msg) {
            Ok(Some(Message::DataRow(body))) => Row { body },
            _ => panic!("not a data row"),
        }
    }

    #[test]
    fn columns_read_as_text_numbers_and_bytea() {
        let r = row(&[Some("42"), None, Some("\\x00ff10"), Some("héllo")]);
        assert_eq!(r.int(0), Some(42));
        assert_eq!(r.get(1), None);
        assert_eq!(r.bytes(2), Some(vec![0, 255, 16]));
        assert_eq!(r.text(3), Some("héllo"));
        assert_eq!(r.get(9), None);
        assert_eq!(r.bytes(3), None);
    }

    #[test]
    fn tls_required_from_a_server_without_it_is_refused_plainly() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // A server that declines TLS, as Postgres with ssl=off answers an SSLRequest.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = listener.accept().await {
                    let mut req = [0u8; 8];
                    let _ = s.read_exact(&mut req).await;
                    let _ = s.write_all(b"N").await;
                }
            });
            let url = format!("postgresql://u@127.0.0.1:{port}/db?sslmode=require");
            let db = crate::tls::parse(&url).unwrap();
            match Conn::connect_with(&db).await {
                Err(Error::Tls(e)) => assert!(e.to_string().contains("does not accept TLS"), "{e}"),
                Err(e) => panic!("not a TLS error: {e}"),
                Ok(_) => panic!("connected without TLS"),
            }
        });
    }
}
