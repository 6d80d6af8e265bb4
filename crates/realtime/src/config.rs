//! The one typed configuration of the realtime service.

use crate::Error;

/// Configuration of the realtime service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on when running standalone.
    pub listen: Option<std::net::SocketAddr>,
    /// Superuser (or replication-capable) connection string of the project database.
    pub db_url: String,
    /// HS256 secret that signs API keys and user tokens.
    pub jwt_secret: String,
    /// The keys tokens are verified with: the platform's, or the secret plus `API_JWT_JWKS`
    /// standalone; `None`: the secret alone.
    pub keys: Option<std::sync::Arc<basalt_identity::Keys>>,
    /// Publication whose tables feed `postgres_changes` (projects add tables to it).
    pub publication: String,
    /// Prefix of this node's replication slot; the node id follows it.
    pub slot_prefix: String,
    /// Identity of this node among the nodes that share the database.
    pub node_id: String,
    /// Connections for authorisation and visibility checks.
    pub pool_size: usize,
    /// Most changes checked and delivered in one batch.
    pub max_batch: usize,
    /// Frames a socket may have queued before it is considered too slow and disconnected.
    pub socket_queue: usize,
    /// How long a node may stay silent before other nodes drop its slot and presences.
    pub node_timeout: std::time::Duration,
    /// Most channels one socket may have joined at once (Supabase Realtime's per-client
    /// channel quota, 100 by default); a join beyond it is refused.
    pub max_channels_per_socket: usize,
    /// Largest presence state one `track` may carry, in bytes of JSON; every node keeps it and
    /// sends it to every member of the channel.
    pub max_presence_bytes: usize,
    /// Largest payload one client broadcast may carry, in bytes (Supabase Realtime's default
    /// tenant limit, 3000 kB plus 500 bytes of slack); a larger one is not relayed, and
    /// refused with `payload_size_exceeded` when the channel asked for acks.
    pub max_broadcast_bytes: usize,
    /// Most sockets with a joined channel at once (Supabase Realtime's tenant
    /// `max_concurrent_users`, 200; `TENANT_MAX_CONCURRENT_USERS`): a further socket is refused
    /// with 429 and a join on one gets `ConnectionRateLimitReached: Too many connected users`.
    pub max_concurrent_users: usize,
    /// Messages per second the project may relay (`max_events_per_second`, 100;
    /// `TENANT_MAX_EVENTS_PER_SECOND`): client, HTTP and database broadcasts, and every delivery
    /// of one to a channel. Over it, a channel that receives a broadcast is closed with the
    /// system error `Too many messages per second`, and `/api/broadcast` answers 429.
    pub max_events_per_second: u64,
    /// Channel joins per second (`max_joins_per_second`, 100; `TENANT_MAX_JOINS_PER_SECOND`):
    /// over it a join gets `ClientJoinRateLimitReached: Too many joins per second` and its socket
    /// is closed; a new socket is refused with 429.
    pub max_joins_per_second: u64,
    /// The bucket the rates are counted in (5 s); they are averaged over the last 12 buckets.
    pub rate_tick: std::time::Duration,
    /// Presence pushes one channel may send per [`Config::presence_window`] (5;
    /// `CLIENT_PRESENCE_MAX_CALLS`); one more closes the channel with the system error
    /// `Client presence rate limit exceeded`.
    pub presence_max_calls: u32,
    /// The window of [`Config::presence_max_calls`] (30 s; `CLIENT_PRESENCE_WINDOW_MS`).
    pub presence_window: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: None,
            db_url: String::new(),
            jwt_secret: String::new(),
            keys: None,
            publication: "supabase_realtime".into(),
            slot_prefix: "basalt_realtime".into(),
            node_id: new_node_id(),
            pool_size: 8,
            max_batch: 2000,
            socket_queue: 20_000,
            node_timeout: std::time::Duration::from_secs(600),
            max_channels_per_socket: 100,
            max_presence_bytes: 256 * 1024,
            max_broadcast_bytes: 3000 * 1000 + 500,
            max_concurrent_users: 200,
            max_events_per_second: 100,
            max_joins_per_second: 100,
            rate_tick: std::time::Duration::from_secs(5),
            presence_max_calls: 5,
            presence_window: std::time::Duration::from_secs(30),
        }
    }
}

/// A fresh random node id (lowercase hex, valid inside a slot name).
pub fn new_node_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Configuration from supabase/realtime's environment variables: `DATABASE_URL`, or
    /// `DB_HOST`/`DB_PORT`/`DB_NAME`/`DB_USER`/`DB_PASSWORD`; `API_JWT_SECRET`; `PORT` (4000);
    /// `SLOT_NAME_SUFFIX`; `DB_POOL_SIZE`; `PUBLICATION` (supabase_realtime).
    pub fn from_env() -> Result<Config, Error> {
        let db_url = match env("DATABASE_URL") {
            Some(u) => u,
            None => {
                let host = env("DB_HOST").unwrap_or_else(|| "127.0.0.1".into());
                let port = env("DB_PORT").unwrap_or_else(|| "5432".into());
                let name = env("DB_NAME").unwrap_or_else(|| "postgres".into());
                let user = env("DB_USER").unwrap_or_else(|| "postgres".into());
                let password = env("DB_PASSWORD").unwrap_or_default();
                port.parse::<u16>()
                    .map_err(|_| Error::Config(format!("DB_PORT `{port}` is not a port")))?;
                // Keep the key/value form so that passwords need no URL escaping.
                format!(
                    "host='{}' port={} dbname='{}' user='{}' password='{}'",
                    esc(&host),
                    port,
                    esc(&name),
                    esc(&user),
                    esc(&password)
                )
            }
        };
        basalt_pg::tls::parse(&db_url).map_err(|e| {
            Error::Config(format!(
                "database connection string: {}",
                basalt_pg::pool::describe(&e)
            ))
        })?;
        let jwt_secret = env("API_JWT_SECRET")
            .or_else(|| env("JWT_SECRET"))
            .ok_or_else(|| Error::Config("API_JWT_SECRET is required".into()))?;
        let port: u16 = match env("PORT") {
            Some(p) => p
                .parse()
                .map_err(|_| Error::Config(format!("PORT `{p}` is not a port")))?,
            None => 4000,
        };
        let mut c = Config {
            listen: Some(([0, 0, 0, 0], port).into()),
            db_url,
            jwt_secret,
            ..Config::default()
        };
        if let Some(jwks) = env("API_JWT_JWKS") {
            let keys = basalt_identity::Keys::for_project(&c.jwt_secret, Some(&jwks))
                .map_err(|e| Error::Config(format!("API_JWT_JWKS: {e}")))?;
            c.keys = Some(std::sync::Arc::new(keys));
        }
        if let Some(s) = env("SLOT_NAME_SUFFIX") {
            c.node_id = s.to_ascii_lowercase();
        }
        if let Some(p) = env("PUBLICATION") {
            c.publication = p;
        }
        if let Some(n) = env("DB_POOL_SIZE") {
            c.pool_size = n
                .parse()
                .map_err(|_| Error::Config(format!("DB_POOL_SIZE `{n}` is not a number")))?;
        }
        c.read_tenant_limits()?;
        c.validate()?;
        Ok(c)
    }

    /// Configuration under `basalt start`; the tenant limits come from the same
    /// `TENANT_MAX_*` variables as standalone (a bad value is ignored, with a warning).
    pub fn from_platform(platform: &basalt_pg::Platform) -> Config {
        let mut c = Config {
            db_url: platform.db_url.clone(),
            jwt_secret: platform.jwt_secret.clone(),
            keys: Some(platform.keys.clone()),
            ..Config::default()
        };
        if let Err(e) = c.read_tenant_limits() {
            tracing::warn!("realtime: {e}; keeping the default limits");
        }
        c
    }

    /// Supabase Realtime's limit variables: `TENANT_MAX_CONCURRENT_USERS`,
    /// `TENANT_MAX_EVENTS_PER_SECOND`, `TENANT_MAX_JOINS_PER_SECOND`,
    /// `TENANT_MAX_CHANNELS_PER_CLIENT`, `CLIENT_PRESENCE_MAX_CALLS`, `CLIENT_PRESENCE_WINDOW_MS`.
    pub fn read_tenant_limits(&mut self) -> Result<(), Error> {
        fn num(name: &str) -> Result<Option<u64>, Error> {
            env(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| Error::Config(format!("{name} `{v}` is not a number")))
                })
                .transpose()
        }
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if let Some(n) = num("TENANT_MAX_CONCURRENT_USERS")? {
            self.max_concurrent_users = size(n);
        }
        if let Some(n) = num("TENANT_MAX_EVENTS_PER_SECOND")? {
            self.max_events_per_second = n;
        }
        if let Some(n) = num("TENANT_MAX_JOINS_PER_SECOND")? {
            self.max_joins_per_second = n;
        }
        if let Some(n) = num("TENANT_MAX_CHANNELS_PER_CLIENT")? {
            self.max_channels_per_socket = size(n);
        }
        if let Some(n) = num("CLIENT_PRESENCE_MAX_CALLS")? {
            self.presence_max_calls = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = num("CLIENT_PRESENCE_WINDOW_MS")? {
            self.presence_window = std::time::Duration::from_millis(n);
        }
        Ok(())
    }

    /// Reject settings the service cannot run with.
    pub fn validate(&self) -> Result<(), Error> {
        if self.db_url.is_empty() {
            return Err(Error::Config("no database URL".into()));
        }
        if self.jwt_secret.is_empty() {
            return Err(Error::Config("no JWT secret".into()));
        }
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !ok(&self.node_id) || !ok(&self.slot_prefix) || self.slot_name().len() > 63 {
            return Err(Error::Config(
                "slot prefix and node id must be lowercase letters, digits and _ (63 bytes in all)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// This node's replication slot.
    pub fn slot_name(&self) -> String {
        format!("{}_{}", self.slot_prefix, self.node_id)
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_slot_names() {
        let mut c = Config {
            db_url: "postgresql://x@localhost/db".into(),
            jwt_secret: "s".into(),
            ..Config::default()
        };
        assert!(c.validate().is_ok());
        assert!(c.slot_name().starts_with("basalt_realtime_"));
        c.node_id = "Bad-Name".into();
        assert!(c.validate().is_err());
        c.node_id = "n1".into();
        c.jwt_secret.clear();
        assert!(c.validate().is_err());
    }

    #[test]
    fn reads_the_upstream_environment() {
        // The only test in this binary that touches the environment.
        for (k, v) in [
            ("DB_HOST", "db.internal"),
            ("DB_PORT", "6543"),
            ("DB_NAME", "app"),
            ("DB_USER", "supabase_admin"),
            ("DB_PASSWORD", "p'w"),
            ("API_JWT_SECRET", "secret"),
            ("PORT", "4100"),
            ("SLOT_NAME_SUFFIX", "node_a"),
            ("TENANT_MAX_JOINS_PER_SECOND", "7"),
            ("TENANT_MAX_CHANNELS_PER_CLIENT", "3"),
        ] {
            std::env::set_var(k, v);
        }
        let c = Config::from_env().unwrap();
        let pg: tokio_postgres::Config = c.db_url.parse().unwrap();
        assert_eq!(pg.get_dbname(), Some("app"));
        assert_eq!(pg.get_ports(), &[6543]);
        assert_eq!(pg.get_password(), Some(&b"p'w"[..]));
        assert_eq!(c.listen, Some(([0, 0, 0, 0], 4100).into()));
        assert_eq!(c.slot_name(), "basalt_realtime_node_a");
        assert_eq!((c.max_joins_per_second, c.max_channels_per_socket), (7, 3));
        assert_eq!(
            (c.max_events_per_second, c.max_concurrent_users),
            (100, 200)
        );
        std::env::set_var("TENANT_MAX_EVENTS_PER_SECOND", "lots");
        assert!(matches!(Config::from_env(), Err(Error::Config(_))));
        std::env::remove_var("TENANT_MAX_EVENTS_PER_SECOND");
        std::env::set_var("DB_PORT", "not-a-port");
        assert!(matches!(Config::from_env(), Err(Error::Config(_))));
        std::env::remove_var("DB_PORT");
        std::env::remove_var("API_JWT_SECRET");
        assert!(matches!(Config::from_env(), Err(Error::Config(_))));
    }

    #[test]
    fn escapes_key_value_strings() {
        assert_eq!(esc("a'b\\c"), "a\\'b\\\\c");
        let s = format!("host=h password='{}'", esc("p'w"));
        assert!(s.parse::<tokio_postgres::Config>().is_ok());
    }
}
