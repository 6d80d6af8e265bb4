//! The service's configuration, in one typed struct, read from PostgREST's `PGRST_*` environment
//! variables (standalone) or from the platform settings (`basalt start`).

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::Error;

/// What happens to each request's transaction at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxEnd {
    #[default]
    Commit,
    CommitAllowOverride,
    Rollback,
    RollbackAllowOverride,
}

/// Which objects the OpenAPI document lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenApiMode {
    #[default]
    FollowPrivileges,
    IgnorePrivileges,
    Disabled,
}

/// CORS handling when running standalone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// No CORS headers at all (the gateway answers CORS).
    Off,
    /// Any origin (`*`).
    AnyOrigin,
    /// Only these origins.
    Origins(Vec<String>),
}

/// A step of the role claim path (`.role`, `."https://x/role"`, `.roles[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimStep {
    Key(String),
    Index(usize),
}

/// Configuration of the rest service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on when running standalone.
    pub listen: Option<SocketAddr>,
    /// `server-host` as configured, the special names (`!4`, `*` ...) as `0.0.0.0` (the
    /// OpenAPI document's `host`).
    pub server_host: String,
    /// Connection string of the database (the connecting role switches role per request).
    pub db_uri: String,
    /// Exposed schemas; the first is the default.
    pub schemas: Vec<String>,
    /// Role for requests without a JWT.
    pub anon_role: Option<String>,
    /// JWT verification keys (HS secret, or public keys as JWK/JWKS/PEM); empty = no JWT support.
    pub jwt_secret: Option<String>,
    /// Whether `jwt_secret` is base64-encoded.
    pub jwt_secret_is_base64: bool,
    /// The project's keys under `basalt start` (then `jwt_secret` is not read).
    pub keys: Option<std::sync::Arc<basalt_identity::Keys>>,
    /// Expected `aud`, if any.
    pub jwt_aud: Option<String>,
    /// Path of the role claim in the JWT payload.
    pub role_claim: Vec<ClaimStep>,
    /// Function called before every request (`schema.fn`).
    pub pre_request: Option<String>,
    pub tx_end: TxEnd,
    /// Cap on rows a read returns.
    pub max_rows: Option<i64>,
    /// Per-schema caps (extension `PGRST_DB_MAX_ROWS_PER_SCHEMA`).
    pub max_rows_per_schema: HashMap<String, i64>,
    /// Schemas appended to every request's search path.
    pub extra_search_path: Vec<String>,
    pub pool_size: usize,
    /// Streaming replicas read-only transactions may run on (see [`crate::replicas`]).
    pub read_replicas: Vec<String>,
    /// A replica lagging more than this leaves the rotation.
    pub replica_max_lag: std::time::Duration,
    /// `Accept: application/vnd.pgrst.plan` allowed.
    pub plan_enabled: bool,
    /// Aggregate functions in `select` allowed.
    pub aggregates_enabled: bool,
    /// Function answering `GET /` instead of the OpenAPI document.
    pub root_spec: Option<String>,
    pub openapi_mode: OpenApiMode,
    pub openapi_security_active: bool,
    /// `openapi-server-proxy-uri`: the address the OpenAPI document gives (scheme, host, port,
    /// base path) instead of the server's own.
    pub openapi_server_proxy_uri: Option<String>,
    pub cors: Cors,
    pub server_timing: bool,
    /// Request header echoed on responses (e.g. `X-Request-Id`).
    pub trace_header: Option<String>,
    /// Profile label → schema.
    pub schema_aliases: HashMap<String, String>,
    /// Schema used when no profile is given (extension).
    pub profile_default: Option<String>,
    /// Schemas whose name is echoed in `Content-Profile` (extension).
    pub profile_schemas: Vec<String>,
    /// Relations where unfiltered PATCH/DELETE fail like pg-safeupdate.
    pub safe_update_tables: Vec<String>,
    /// `app.settings.*` GUCs set on every request.
    pub app_settings: Vec<(String, String)>,
    /// Whether auth is configured at all (a JWT secret or an anonymous role). Without it requests
    /// run as the connecting role (conformance "bulk" convention): `authenticator` where a
    /// superuser connection becomes it ([`basalt_pg::caller`]).
    pub auth_configured: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: None,
            server_host: "0.0.0.0".into(),
            db_uri: "postgresql://".into(),
            schemas: vec!["public".into()],
            anon_role: None,
            jwt_secret: None,
            jwt_secret_is_base64: false,
            keys: None,
            jwt_aud: None,
            role_claim: vec![ClaimStep::Key("role".into())],
            pre_request: None,
            tx_end: TxEnd::Commit,
            max_rows: None,
            max_rows_per_schema: HashMap::new(),
            extra_search_path: vec!["public".into()],
            pool_size: 10,
            read_replicas: Vec::new(),
            replica_max_lag: crate::replicas::DEFAULT_MAX_LAG,
            plan_enabled: false,
            aggregates_enabled: false,
            root_spec: None,
            openapi_mode: OpenApiMode::FollowPrivileges,
            openapi_security_active: false,
            openapi_server_proxy_uri: None,
            cors: Cors::AnyOrigin,
            server_timing: false,
            trace_header: None,
            schema_aliases: HashMap::new(),
            profile_default: None,
            profile_schemas: Vec::new(),
            safe_update_tables: Vec::new(),
            app_settings: Vec::new(),
            auth_configured: false,
        }
    }
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn boolean(key: &str, s: &str) -> Result<bool, Error> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(Error::Config(format!(
            "{key}: expected true or false, got {s:?}"
        ))),
    }
}

/// Parse `.role`, `."a.b".c`, `.roles[0]`.
pub fn parse_role_claim(s: &str) -> Result<Vec<ClaimStep>, Error> {
    let bad = || Error::Config(format!("failed to parse role-claim-key value ({s})"));
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if i < chars.len() && chars[i] == '"' {
                    i += 1;
                    let start = i;
                    while i < chars.len() && chars[i] != '"' {
                        i += 1;
                    }
                    if i >= chars.len() {
                        return Err(bad());
                    }
                    out.push(ClaimStep::Key(chars[start..i].iter().collect()));
                    i += 1;
                } else {
                    let start = i;
                    while i < chars.len()
                        && (chars[i].is_alphanumeric() || "_$@-".contains(chars[i]))
                    {
                        i += 1;
                    }
                    if start == i {
                        return Err(bad());
                    }
                    out.push(ClaimStep::Key(chars[start..i].iter().collect()));
                }
            }
            '[' => {
                let start = i + 1;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                if i >= chars.len() || chars[i] != ']' {
                    return Err(bad());
                }
                let n: String = chars[start..i].iter().collect();
                out.push(ClaimStep::Index(n.parse().map_err(|_| bad())?));
                i += 1;
            }
            _ => return Err(bad()),
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// `db-tx-end`, with PostgREST's fatal message for any other value.
pub fn tx_end(v: &str) -> Result<TxEnd, Error> {
    match v {
        "commit" => Ok(TxEnd::Commit),
        "commit-allow-override" => Ok(TxEnd::CommitAllowOverride),
        "rollback" => Ok(TxEnd::Rollback),
        "rollback-allow-override" => Ok(TxEnd::RollbackAllowOverride),
        _ => Err(Error::Config(
            "Invalid transaction termination. Check your configuration.".into(),
        )),
    }
}

/// `openapi-mode`, with PostgREST's fatal message for any other value.
pub fn openapi_mode(v: &str) -> Result<OpenApiMode, Error> {
    match v {
        "follow-privileges" => Ok(OpenApiMode::FollowPrivileges),
        "ignore-privileges" => Ok(OpenApiMode::IgnorePrivileges),
        "disabled" => Ok(OpenApiMode::Disabled),
        _ => Err(Error::Config(
            "Invalid openapi-mode. Check your configuration.".into(),
        )),
    }
}

/// The parts of an `openapi-server-proxy-uri`: scheme (lower case), host, port, path.
#[derive(Debug, PartialEq, Eq)]
pub struct ProxyUri {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Parse a proxy URI as PostgREST accepts it: absolute, `http` or `https`, a host, no user
/// info, query or fragment, a port (if any) from 1 to 65535.
pub fn parse_proxy_uri(uri: &str) -> Option<ProxyUri> {
    let (scheme, rest) = uri.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let uri_char = |c: char| c.is_ascii_alphanumeric() || "-._~:/@!$&'()*+,;=%[]".contains(c);
    if !rest.chars().all(uri_char) {
        return None;
    }
    let rest = rest.strip_prefix("//")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with('['))
    {
        Some((h, p)) => {
            let n: u32 = p
                .parse()
                .ok()
                .filter(|_| p.chars().all(|c| c.is_ascii_digit()))?;
            if n == 0 || n > 65535 {
                return None;
            }
            (h, n as u16)
        }
        None => (authority, if scheme == "https" { 443 } else { 80 }),
    };
    if host.is_empty() {
        return None;
    }
    Some(ProxyUri {
        scheme,
        host: host.to_string(),
        port,
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_string()
        },
    })
}

/// PostgREST's fatal message for a malformed `openapi-server-proxy-uri`.
pub fn check_proxy_uri(uri: &str) -> Result<(), Error> {
    match parse_proxy_uri(uri) {
        Some(_) => Ok(()),
        None => Err(Error::Config(
            "Malformed proxy uri, a correct example: https://example.com:8443/basePath".into(),
        )),
    }
}

/// A role claim path as PostgREST prints it (`."role"`, `."a"[0]`).
pub fn render_role_claim(steps: &[ClaimStep]) -> String {
    steps
        .iter()
        .map(|s| match s {
            ClaimStep::Key(k) => format!(".\"{k}\""),
            ClaimStep::Index(i) => format!("[{i}]"),
        })
        .collect()
}

fn pairs(s: &str) -> HashMap<String, String> {
    s.split(',')
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The REST pool of `basalt start` unless `[api] db_pool` says otherwise. Measured on 2 cores
/// with 32 concurrent clients (one pipeline per request): 16 connections served reads and
/// single-row inserts faster than 32 (fewer Postgres backends competing for the cores) while
/// still letting concurrent commits share a WAL flush.
const PLATFORM_POOL: usize = 16;

impl Config {
    /// Configuration from PostgREST's environment variables.
    pub fn from_env() -> Result<Config, Error> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Configuration from a lookup of `PGRST_*` variables (testable without the process env).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let mut c = Config::default();
        let var = |k: &str| get(&format!("PGRST_{k}"));
        if let Some(v) = var("DB_URI") {
            c.db_uri = v;
        }
        if let Some(v) = var("DB_SCHEMAS").or_else(|| var("DB_SCHEMA")) {
            c.schemas = list(&v);
            if c.schemas.is_empty() {
                return Err(Error::Config("PGRST_DB_SCHEMAS is empty".into()));
            }
        }
        c.anon_role = var("DB_ANON_ROLE").filter(|s| !s.is_empty());
        c.jwt_secret = var("JWT_SECRET").filter(|s| !s.is_empty());
        if let Some(v) = var("JWT_SECRET_IS_BASE64") {
            c.jwt_secret_is_base64 = boolean("PGRST_JWT_SECRET_IS_BASE64", &v)?;
        }
        if let Some(secret) = &c.jwt_secret {
            let looks_like_key =
                secret.trim_start().starts_with('{') || secret.contains("-----BEGIN");
            if !looks_like_key && !c.jwt_secret_is_base64 && secret.len() < 32 {
                return Err(Error::Config(
                    "The JWT secret must be at least 32 characters long.".into(),
                ));
            }
        }
        c.jwt_aud = var("JWT_AUD").filter(|s| !s.is_empty());
        if let Some(v) = var("JWT_ROLE_CLAIM_KEY").filter(|s| !s.is_empty()) {
            c.role_claim = parse_role_claim(&v)?;
        }
        c.pre_request = var("DB_PRE_REQUEST").filter(|s| !s.is_empty());
        if let Some(v) = var("DB_TX_END").filter(|s| !s.is_empty()) {
            c.tx_end = tx_end(&v)?;
        }
        c.max_rows = var("DB_MAX_ROWS").and_then(|s| s.trim().parse().ok());
        if let Some(v) = var("DB_MAX_ROWS_PER_SCHEMA") {
            c.max_rows_per_schema = pairs(&v)
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
                .collect();
        }
        if let Some(v) = var("DB_EXTRA_SEARCH_PATH") {
            c.extra_search_path = list(&v);
        }
        if let Some(v) = var("DB_POOL") {
            c.pool_size = v
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("PGRST_DB_POOL: not a number: {v:?}")))?;
        }
        if let Some(v) = var("DB_PLAN_ENABLED") {
            c.plan_enabled = boolean("PGRST_DB_PLAN_ENABLED", &v)?;
        }
        if let Some(v) = var("DB_AGGREGATES_ENABLED") {
            c.aggregates_enabled = boolean("PGRST_DB_AGGREGATES_ENABLED", &v)?;
        }
        c.root_spec = var("DB_ROOT_SPEC").filter(|s| !s.is_empty());
        if let Some(v) = var("OPENAPI_MODE").filter(|s| !s.is_empty()) {
            c.openapi_mode = openapi_mode(&v)?;
        }
        if let Some(v) = var("OPENAPI_SERVER_PROXY_URI").filter(|s| !s.is_empty()) {
            check_proxy_uri(&v)?;
            c.openapi_server_proxy_uri = Some(v);
        }
        if let Some(v) = var("OPENAPI_SECURITY_ACTIVE") {
            c.openapi_security_active = boolean("PGRST_OPENAPI_SECURITY_ACTIVE", &v)?;
        }
        if let Some(v) = var("SERVER_CORS_ALLOWED_ORIGINS") {
            let origins = list(&v);
            c.cors = if origins.is_empty() {
                Cors::AnyOrigin
            } else {
                Cors::Origins(origins)
            };
        }
        if let Some(v) = var("SERVER_TIMING_ENABLED") {
            c.server_timing = boolean("PGRST_SERVER_TIMING_ENABLED", &v)?;
        }
        c.trace_header = var("SERVER_TRACE_HEADER").filter(|s| !s.is_empty());
        if let Some(v) = var("DB_SCHEMA_ALIASES") {
            c.schema_aliases = pairs(&v);
        }
        c.profile_default = var("DB_PROFILE_DEFAULT").filter(|s| !s.is_empty());
        if let Some(v) = var("DB_PROFILE_SCHEMAS") {
            c.profile_schemas = list(&v);
        }
        if let Some(v) = var("DB_SAFE_UPDATE_TABLES") {
            c.safe_update_tables = list(&v);
        }
        let host = var("SERVER_HOST").unwrap_or_else(|| "127.0.0.1".into());
        let host = match host.as_str() {
            "!4" | "*4" | "*" | "!6" | "*6" | "" => "0.0.0.0".to_string(),
            h => h.to_string(),
        };
        let port: u16 = match var("SERVER_PORT") {
            Some(p) => p
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("PGRST_SERVER_PORT: not a port: {p:?}")))?,
            None => 3000,
        };
        c.server_host = match var("SERVER_HOST").as_deref() {
            None | Some("!4" | "*4" | "*" | "!6" | "*6" | "") => "0.0.0.0".into(),
            Some(h) => h.to_string(),
        };
        c.listen = format!("{host}:{port}")
            .parse()
            .ok()
            .or_else(|| Some(SocketAddr::from(([127, 0, 0, 1], port))));
        c.auth_configured = c.jwt_secret.is_some() || c.anon_role.is_some();
        Ok(c)
    }

    /// Configuration under `basalt start`.
    pub fn from_platform(platform: &basalt_pg::Platform) -> Config {
        let api = &platform.config.api;
        let schemas = if api.schemas.is_empty() {
            basalt_config::ApiConfig::default().schemas
        } else {
            api.schemas.clone()
        };
        let extra = api.extra_search_path.clone();
        let max_rows = i64::try_from(api.max_rows).unwrap_or(i64::MAX);
        // More connections than PostgREST's 10: writes wait on the WAL flush, and concurrent
        // commits share one flush.
        let pool_size = api.db_pool.map_or(PLATFORM_POOL, |n| (n as usize).max(1));
        // Requests run on `authenticator` sessions, so Postgres refuses any role a token names
        // beyond those granted to it (`basalt_pg::caller`).
        let db_uri = platform.caller_url(&platform.db_url);
        let replica = |u: &String| platform.caller_url(u);
        Config {
            pool_size,
            read_replicas: platform
                .config
                .basalt
                .read_replicas
                .iter()
                .map(replica)
                .collect(),
            replica_max_lag: platform
                .config
                .basalt
                .read_replica_max_lag
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
                .unwrap_or(crate::replicas::DEFAULT_MAX_LAG),
            listen: None,
            db_uri,
            schemas,
            anon_role: Some("anon".into()),
            jwt_secret: Some(platform.jwt_secret.clone()),
            keys: Some(platform.keys.clone()),
            extra_search_path: extra,
            max_rows: Some(max_rows),
            tx_end: TxEnd::Commit,
            cors: Cors::Off,
            auth_configured: true,
            ..Config::default()
        }
    }

    /// The row cap for requests on `schema`.
    pub fn max_rows_for(&self, schema: &str) -> Option<i64> {
        self.max_rows_per_schema
            .get(schema)
            .copied()
            .or(self.max_rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_claim_paths() {
        assert_eq!(
            parse_role_claim(".role").expect("ok"),
            vec![ClaimStep::Key("role".into())]
        );
        assert_eq!(
            parse_role_claim(".\"https://x.y/role\".a[1]").expect("ok"),
            vec![
                ClaimStep::Key("https://x.y/role".into()),
                ClaimStep::Key("a".into()),
                ClaimStep::Index(1)
            ]
        );
        assert!(parse_role_claim("role.other").is_err());
    }

    #[test]
    fn env_vars() {
        let env: HashMap<&str, &str> = [
            ("PGRST_DB_SCHEMAS", "test, v1"),
            ("PGRST_DB_TX_END", "rollback"),
            ("PGRST_DB_MAX_ROWS_PER_SCHEMA", "config=2"),
            ("PGRST_SERVER_PORT", "4444"),
            ("PGRST_SERVER_CORS_ALLOWED_ORIGINS", ""),
        ]
        .into_iter()
        .collect();
        let c = Config::from_vars(|k| env.get(k).map(|s| s.to_string())).expect("ok");
        assert_eq!(c.schemas, vec!["test", "v1"]);
        assert_eq!(c.tx_end, TxEnd::Rollback);
        assert_eq!(c.max_rows_for("config"), Some(2));
        assert_eq!(c.max_rows_for("test"), None);
        assert_eq!(c.listen.map(|a| a.port()), Some(4444));
        assert_eq!(c.cors, Cors::AnyOrigin);
        assert!(!c.auth_configured);
        let short = Config::from_vars(|k| (k == "PGRST_JWT_SECRET").then(|| "short".to_string()));
        assert!(short.is_err());
    }

    #[test]
    fn invalid_enum_values_fail_with_postgrest_messages() {
        // The messages themselves: settings::tests (validate runs before from_vars).
        let bad = |k: &str| Config::from_vars(|name| (name == k).then(|| "bad".to_string()));
        for k in [
            "PGRST_OPENAPI_MODE",
            "PGRST_DB_TX_END",
            "PGRST_OPENAPI_SERVER_PROXY_URI",
        ] {
            assert!(bad(k).is_err(), "{k}");
        }
        // Empty means "not set": the defaults.
        let c = Config::from_vars(|k| {
            matches!(k, "PGRST_OPENAPI_MODE" | "PGRST_DB_TX_END").then(String::new)
        })
        .expect("ok");
        assert_eq!(c.openapi_mode, OpenApiMode::FollowPrivileges);
        assert_eq!(c.tx_end, TxEnd::Commit);
    }

    #[test]
    fn proxy_uris_as_postgrest_accepts_them() {
        let p = parse_proxy_uri("https://example.com:8443/basePath").expect("valid");
        assert_eq!(
            p,
            ProxyUri {
                scheme: "https".into(),
                host: "example.com".into(),
                port: 8443,
                path: "/basePath".into()
            }
        );
        let p = parse_proxy_uri("HTTP://example.org").expect("valid");
        assert_eq!(
            (p.scheme.as_str(), p.port, p.path.as_str()),
            ("http", 80, "/")
        );
        assert_eq!(
            parse_proxy_uri("https://example.org/").map(|p| p.port),
            Some(443)
        );
        for bad in [
            "example.com/api",
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/api?x=1",
            "https://example.com/api#frag",
            "https://example.com:0/",
            "https://example.com:65536/",
            "https://example.com:/",
            "https:///path",
            "https://exa mple.com",
            "mailto:someone@example.com",
        ] {
            assert!(parse_proxy_uri(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn empty_extra_search_path_means_none() {
        let c = Config::from_vars(|k| (k == "PGRST_DB_EXTRA_SEARCH_PATH").then(String::new))
            .expect("ok");
        assert!(c.extra_search_path.is_empty());
        let c = Config::from_vars(|_| None).expect("ok");
        assert_eq!(c.extra_search_path, vec!["public"]);
        assert_eq!(c.server_host, "0.0.0.0");
    }
}
