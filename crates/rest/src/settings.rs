//! Where standalone configuration comes from, as PostgREST reads it: a `key = value` config file
//! (the command's argument), `PGRST_*` environment variables, and — with `db-config` — the
//! connecting role's `pgrst.*` settings in the database. Environment wins over the database,
//! which wins over the file. Also the `--dump-config` and `--example` outputs.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::Error;

/// How a key's value is typed (for parsing the file and for the dump).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    /// Optional integer: absent or ill-typed dumps as `""`.
    OptInt,
    Int,
    Bool,
}

/// PostgREST's keys with their defaults, in dump order.
const KEYS: &[(&str, Kind, &str)] = &[
    ("admin-server-host", Kind::Str, "!4"),
    ("admin-server-port", Kind::OptInt, ""),
    ("db-aggregates-enabled", Kind::Bool, "false"),
    ("db-anon-role", Kind::Str, ""),
    ("db-channel", Kind::Str, "pgrst"),
    ("db-channel-enabled", Kind::Bool, "true"),
    ("db-config", Kind::Bool, "true"),
    ("db-extra-search-path", Kind::Str, "public"),
    ("db-max-rows", Kind::OptInt, ""),
    ("db-max-rows-per-schema", Kind::Str, ""),
    ("db-plan-enabled", Kind::Bool, "false"),
    ("db-pool", Kind::Int, "10"),
    ("db-pool-max-idletime", Kind::Int, "30"),
    ("db-pre-request", Kind::Str, ""),
    ("db-profile-default", Kind::Str, ""),
    ("db-profile-schemas", Kind::Str, ""),
    ("db-root-spec", Kind::Str, ""),
    ("db-safe-update-tables", Kind::Str, ""),
    ("db-schema-aliases", Kind::Str, ""),
    ("db-schemas", Kind::Str, "public"),
    ("db-tx-end", Kind::Str, "commit"),
    ("db-uri", Kind::Str, "postgresql://"),
    ("jwt-aud", Kind::Str, ""),
    ("jwt-role-claim-key", Kind::Str, ".\"role\""),
    ("jwt-secret", Kind::Str, ""),
    ("jwt-secret-is-base64", Kind::Bool, "false"),
    ("log-level", Kind::Str, "error"),
    ("openapi-mode", Kind::Str, "follow-privileges"),
    ("openapi-security-active", Kind::Bool, "false"),
    ("openapi-server-proxy-uri", Kind::Str, ""),
    ("server-cors-allowed-origins", Kind::Str, ""),
    ("server-host", Kind::Str, "!4"),
    ("server-port", Kind::Int, "3000"),
    ("server-timing-enabled", Kind::Bool, "false"),
    ("server-trace-header", Kind::Str, ""),
    ("server-unix-socket", Kind::Str, ""),
    ("server-unix-socket-mode", Kind::Str, "660"),
];

/// Keys PostgREST also accepts under another name: the stored key, then the names to look for in
/// order (the first one given wins, whatever the source of the others).
const ALIASES: &[(&str, &[&str])] = &[
    ("db-max-rows", &["db-max-rows", "max-rows"]),
    (
        "db-pool-max-idletime",
        &["db-pool-timeout", "db-pool-max-idletime"],
    ),
    ("db-pre-request", &["db-pre-request", "pre-request"]),
    ("db-root-spec", &["db-root-spec", "root-spec"]),
    ("db-schemas", &["db-schemas", "db-schema"]),
    (
        "jwt-role-claim-key",
        &["jwt-role-claim-key", "role-claim-key"],
    ),
    (
        "jwt-secret-is-base64",
        &["jwt-secret-is-base64", "secret-is-base64"],
    ),
];

/// The key a config-file or environment name stands for (itself, or the key it aliases).
fn canonical(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&name))
        .map(|(key, _)| *key)
        .unwrap_or(name)
}

/// Keys a database role may set (`ALTER ROLE … SET pgrst.db_schemas = …`).
const DB_KEYS: &[&str] = &[
    "db-aggregates-enabled",
    "db-anon-role",
    "db-extra-search-path",
    "db-max-rows",
    "db-plan-enabled",
    "db-pre-request",
    "db-root-spec",
    "db-schemas",
    "db-tx-end",
    "jwt-aud",
    "jwt-role-claim-key",
    "jwt-secret",
    "jwt-secret-is-base64",
    "openapi-mode",
    "openapi-security-active",
    "server-cors-allowed-origins",
    "server-timing-enabled",
    "server-trace-header",
];

/// Merged settings: PostgREST key → raw value (absent keys are not stored).
#[derive(Debug, Default, Clone)]
pub struct Settings {
    values: BTreeMap<String, String>,
    /// `app.settings.*` values, set as GUCs on every request.
    pub app: BTreeMap<String, String>,
}

fn env_name(key: &str) -> String {
    format!(
        "PGRST_{}",
        key.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

fn kind_of(key: &str) -> Option<Kind> {
    let key = canonical(key);
    KEYS.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, kind, _)| *kind)
}

/// Parse a PostgREST config file: `key = value`, `#` comments, quoted strings.
fn parse_file(text: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| {
            Error::Config(format!("config file line {}: expected key = value", n + 1))
        })?;
        let k = k.trim().to_string();
        let v = v.trim();
        let (quoted, v) = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            (
                true,
                v[1..v.len() - 1]
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\"),
            )
        } else {
            (false, v.to_string())
        };
        // A value of the wrong type for an integer key counts as absent.
        if matches!(kind_of(&k), Some(Kind::OptInt) | Some(Kind::Int))
            && (quoted && v.is_empty() || v.parse::<i64>().is_err())
        {
            continue;
        }
        out.insert(k, v);
    }
    Ok(out)
}

impl Settings {
    /// Read the file (if any) and the environment; `env` looks variables up.
    pub fn read(
        file: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, Error> {
        let mut s = Settings::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("cannot read config file {path}: {e}")))?;
            for (k, v) in parse_file(&text)? {
                if let Some(name) = k.strip_prefix("app.settings.") {
                    s.app.insert(name.to_string(), v);
                } else {
                    s.values.insert(k, v);
                }
            }
        }
        // The environment overrides the file, name by name (aliases included).
        let names = KEYS
            .iter()
            .map(|(k, _, _)| *k)
            .chain(ALIASES.iter().flat_map(|(_, names)| names.iter().copied()));
        for key in names {
            if let Some(v) = env(&env_name(key)).filter(|v| !v.is_empty() || keeps_empty(key)) {
                s.values.insert(key.to_string(), v);
            }
        }
        // An alias counts only when no name before it is given (an empty value is not given).
        for (key, names) in ALIASES {
            let found = names
                .iter()
                .find_map(|n| s.values.get(*n).filter(|v| !v.is_empty()).cloned());
            for n in names.iter() {
                s.values.remove(*n);
            }
            if let Some(v) = found {
                s.values.insert(key.to_string(), v);
            }
        }
        Ok(s)
    }

    /// Add `app.settings.*` from the process environment (`PGRST_APP_SETTINGS_<NAME>`).
    pub fn read_app_env(&mut self, vars: impl Iterator<Item = (String, String)>) {
        for (k, v) in vars {
            if let Some(name) = k.strip_prefix("PGRST_APP_SETTINGS_") {
                self.app.insert(name.to_ascii_lowercase(), v);
            }
        }
    }

    /// With `db-config` on (the default), the role's `pgrst.*` settings override the file but
    /// not the environment.
    pub async fn read_db(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
        if self
            .values
            .get("db-config")
            .map(|v| v != "true")
            .unwrap_or(false)
        {
            return Ok(());
        }
        let uri = self
            .values
            .get("db-uri")
            .cloned()
            .unwrap_or_else(|| "postgresql://".into());
        let Ok(client) = connect(&uri, env).await else {
            return Ok(());
        };
        let rows = client
            .query(
                "select split_part(kv, '=', 1), substr(kv, strpos(kv, '=') + 1)
                 from pg_db_role_setting s, unnest(s.setconfig) kv
                 where s.setrole = (select oid from pg_roles where rolname = current_user)
                   and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
                   and kv like 'pgrst.%'
                 order by s.setdatabase",
                &[],
            )
            .await
            .map_err(|e| Error::Database(e.to_string()))?;
        for r in rows {
            let k: String = r.get(0);
            let v: String = r.get(1);
            let key = k.trim_start_matches("pgrst.").replace('_', "-");
            if DB_KEYS.contains(&key.as_str()) && env(&env_name(&key)).is_none() {
                self.values.insert(key, v);
            }
        }
        Ok(())
    }

    /// Look a key up by its `PGRST_*` variable name (for [`Config::from_vars`]).
    pub fn var(&self, name: &str) -> Option<String> {
        let key = KEYS
            .iter()
            .map(|(k, _, _)| *k)
            .find(|k| env_name(k) == name)?;
        self.values.get(key).cloned()
    }

    /// The effective configuration, one `key = value` a line (`--dump-config`).
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (key, kind, default) in KEYS {
            let raw = self.values.get(*key).map(String::as_str);
            let v = match kind {
                Kind::Str => {
                    let v = raw.unwrap_or(default);
                    let v = if matches!(
                        *key,
                        "db-schemas" | "db-extra-search-path" | "db-profile-schemas"
                    ) {
                        v.split(',').map(str::trim).collect::<Vec<_>>().join(",")
                    } else if *key == "jwt-role-claim-key" {
                        crate::config::parse_role_claim(v)
                            .map(|steps| crate::config::render_role_claim(&steps))
                            .unwrap_or_else(|_| v.to_string())
                    } else {
                        v.to_string()
                    };
                    quote(&v)
                }
                Kind::OptInt => match raw.and_then(|r| r.trim().parse::<i64>().ok()) {
                    Some(n) => n.to_string(),
                    None => "\"\"".into(),
                },
                Kind::Int => raw
                    .and_then(|r| r.trim().parse::<i64>().ok())
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| default.to_string()),
                Kind::Bool => match raw.map(|r| r.trim().to_ascii_lowercase()) {
                    Some(b) if b == "true" || b == "false" => b,
                    _ => default.to_string(),
                },
            };
            out.push_str(&format!("{key} = {v}\n"));
        }
        for (k, v) in &self.app {
            out.push_str(&format!("app.settings.{k} = {}\n", quote(v)));
        }
        out
    }

    /// Checks PostgREST makes at startup beyond what [`Config::from_vars`] checks.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(l) = self.values.get("log-level") {
            if !matches!(l.as_str(), "crit" | "error" | "warn" | "info" | "debug") {
                return Err(Error::Config(
                    "Invalid logging level. Check your configuration.".into(),
                ));
            }
        }
        if let Some(m) = self.values.get("openapi-mode").filter(|v| !v.is_empty()) {
            crate::config::openapi_mode(m)?;
        }
        if let Some(t) = self.values.get("db-tx-end").filter(|v| !v.is_empty()) {
            crate::config::tx_end(t)?;
        }
        if let Some(u) = self
            .values
            .get("openapi-server-proxy-uri")
            .filter(|v| !v.is_empty())
        {
            crate::config::check_proxy_uri(u)?;
        }
        if let Some(m) = self.values.get("server-unix-socket-mode") {
            let range = || {
                Error::Config(
                    "Invalid server-unix-socket-mode: needs to be between 600 and 777".into(),
                )
            };
            let n = match u32::from_str_radix(m, 8) {
                Ok(n) => n,
                // Below 600 is out of range whatever the digits; otherwise the digits are wrong.
                Err(_) if m.parse::<u32>().map(|d| d < 600).unwrap_or(false) => return Err(range()),
                Err(_) => {
                    return Err(Error::Config(
                        "Invalid server-unix-socket-mode: not an octal".into(),
                    ))
                }
            };
            if !(0o600..=0o777).contains(&n) {
                return Err(range());
            }
        }
        let port = self
            .values
            .get("server-port")
            .map(String::as_str)
            .unwrap_or("3000");
        if self.values.get("admin-server-port").map(String::as_str) == Some(port) {
            return Err(Error::Config(
                "admin-server-port cannot be the same as server-port".into(),
            ));
        }
        if let Some(aud) = self.values.get("jwt-aud") {
            if aud.contains(':') && !valid_uri(aud) {
                return Err(Error::Config(
                    "jwt-aud should be a string or a valid URI".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Empty values that mean something (set but empty) rather than "absent".
fn keeps_empty(key: &str) -> bool {
    matches!(
        key,
        "server-cors-allowed-origins" | "server-trace-header" | "db-extra-search-path"
    )
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// RFC 3986 shape: a scheme, then only URI characters and well-formed percent escapes.
fn valid_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut sc = scheme.chars();
    if !sc.next().map(|c| c.is_ascii_alphabetic()).unwrap_or(false)
        || !sc.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return false;
    }
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c == '%' {
            if !(b.get(i + 1).map(u8::is_ascii_hexdigit).unwrap_or(false)
                && b.get(i + 2).map(u8::is_ascii_hexdigit).unwrap_or(false))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=".contains(c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// Connect with a URI, filling what it leaves out from libpq's `PG*` variables.
async fn connect(
    uri: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<tokio_postgres::Client, Error> {
    let conf = effective_uri(uri, env);
    basalt_pg::pool::connect(&conf)
        .await
        .map_err(|e| Error::Database(e.to_string()))
}

/// A connection string completed from `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD`
/// (the driver does not read them itself). Only the missing settings are added; everything the
/// string already says (options, sslmode, timeouts, several hosts) is kept as written.
pub fn effective_uri(uri: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let conf = match basalt_pg::tls::parse(uri) {
        Ok(c) => c.pg,
        Err(_) => return uri.to_string(),
    };
    let mut missing: Vec<(&str, String)> = Vec::new();
    if conf.get_hosts().is_empty() {
        missing.push((
            "host",
            env("PGHOST").unwrap_or_else(|| "/var/run/postgresql".into()),
        ));
    }
    if conf.get_ports().is_empty() {
        if let Some(p) = env("PGPORT").filter(|p| p.parse::<u16>().is_ok()) {
            missing.push(("port", p));
        }
    }
    if conf.get_user().is_none() {
        if let Some(u) = env("PGUSER").or_else(|| env("USER")) {
            missing.push(("user", u));
        }
    }
    if conf.get_dbname().is_none() {
        if let Some(d) = env("PGDATABASE") {
            missing.push(("dbname", d));
        }
    }
    if conf.get_password().is_none() {
        if let Some(p) = env("PGPASSWORD") {
            missing.push(("password", p));
        }
    }
    if missing.is_empty() {
        return uri.to_string();
    }
    let mut out = uri.to_string();
    if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
        // URI query parameters (libpq reads them as settings, and so does the driver).
        let mut sep = if uri.contains('?') { '&' } else { '?' };
        for (k, v) in missing {
            let v = percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC);
            out.push_str(&format!("{sep}{k}={v}"));
            sep = '&';
        }
    } else {
        for (k, v) in missing {
            out.push_str(&format!(" {k}={}", kv(&v)));
        }
    }
    out
}

fn kv(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The documented example configuration (`--example`).
pub const EXAMPLE: &str = r#"## Admin server used for checks. It's disabled by default unless a port is specified.
# admin-server-port = 3001

## The database role to use when no client authentication is provided
# db-anon-role = "anon"

## Notification channel for reloading the schema cache
db-channel = "pgrst"

## Enable or disable the notification channel
db-channel-enabled = true

## Enable in-database configuration
db-config = true

## Extra schemas to add to the search_path of every request
db-extra-search-path = "public"

## Limit rows in response
# db-max-rows = 1000

## Number of open connections in the pool
db-pool = 10

## Stored proc to exec immediately after auth
# db-pre-request = "stored_proc_name"

## The standard connection URI format, documented at
## https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING
db-uri = "postgresql://"

## The name of which database schema to expose to REST clients
db-schemas = "public"

## How to terminate database transactions
## Possible values are:
## commit (default)
##   Transaction is always committed, this can not be overriden
## commit-allow-override
##   Transaction is committed, but can be overriden with Prefer tx=rollback header
## rollback
##   Transaction is always rolled back, this can not be overriden
## rollback-allow-override
##   Transaction is rolled back, but can be overriden with Prefer tx=commit header
db-tx-end = "commit"

## Determine if GUC request settings for headers, cookies and jwt claims use the legacy names
# jwt-aud = "your_audience_claim"

## Jspath to the role claim key
jwt-role-claim-key = ".role"

## Choose a secret, JSON Web Key (or set) to enable JWT auth
## (use "@filename" to load from separate file)
# jwt-secret = "secret_with_at_least_32_characters"
jwt-secret-is-base64 = false

## Logging level, the admitted values are: crit, error, warn, info and debug.
log-level = "error"

## Determine if the OpenAPI output should follow or ignore role privileges or be disabled entirely.
## Admitted values: follow-privileges, ignore-privileges, disabled
openapi-mode = "follow-privileges"

## The TCP port to bind the web server
server-port = 3000

## Allow Server-Timing header
server-timing-enabled = false
"#;

/// Standalone startup: `[config file] [--dump-config | --example]`. Returns the configuration
/// to serve with, or `None` after printing what a flag asked for.
pub async fn from_args(args: &[String]) -> Result<Option<Config>, Error> {
    let env_lookup = |k: &str| std::env::var(k).ok();
    if args.iter().any(|a| a == "--example" || a == "-e") {
        print!("{EXAMPLE}");
        return Ok(None);
    }
    let dump = args.iter().any(|a| a == "--dump-config");
    let file = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str);
    let mut s = Settings::read(file, &env_lookup)?;
    s.read_app_env(std::env::vars());
    s.read_db(&env_lookup).await?;
    s.validate()?;
    let mut config = Config::from_vars(|k| s.var(k))?;
    crate::auth::Verifier::from_config(&config)?;
    config.db_uri = effective_uri(&config.db_uri, &env_lookup);
    config.app_settings = s.app.clone().into_iter().collect();
    if dump {
        print!("{}", s.dump());
        return Ok(None);
    }
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_variables_fill_only_what_the_uri_leaves_out() {
        let env = |k: &str| match k {
            "PGHOST" => Some("/tmp/sock dir".to_string()),
            "PGPORT" => Some("5433".to_string()),
            "PGUSER" => Some("authenticator".to_string()),
            "PGDATABASE" => Some("app".to_string()),
            _ => None,
        };
        let uri = effective_uri(
            "postgresql:///?options=-c%20search_path%3Dx&connect_timeout=3",
            &env,
        );
        let c: tokio_postgres::Config = uri.parse().expect("parses");
        assert_eq!(c.get_user(), Some("authenticator"));
        assert_eq!(c.get_dbname(), Some("app"));
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_options(), Some("-c search_path=x"));
        assert_eq!(
            c.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        assert!(matches!(
            &c.get_hosts()[0],
            tokio_postgres::config::Host::Unix(p) if p.to_str() == Some("/tmp/sock dir")
        ));
        let kv = effective_uri("dbname=own options='-c x=1'", &env);
        let c: tokio_postgres::Config = kv.parse().expect("parses");
        assert_eq!(c.get_dbname(), Some("own"));
        assert_eq!(c.get_user(), Some("authenticator"));
        assert_eq!(c.get_options(), Some("-c x=1"));
        let full = "postgresql://u@h:1/d";
        assert_eq!(effective_uri(full, &env), full);
    }

    #[test]
    fn precedence_and_dump() {
        let dir = std::env::temp_dir().join(format!("basalt-rest-settings-{}", std::process::id()));
        std::fs::write(
            &dir,
            "db-max-rows = 100\nlog-level = \"warn\"\ndb-schema = \"aliased\"\n",
        )
        .expect("write");
        let env = |k: &str| match k {
            "PGRST_DB_MAX_ROWS" => Some("999".to_string()),
            "PGRST_LOG_LEVEL" => Some(String::new()),
            _ => None,
        };
        let s = Settings::read(dir.to_str(), &env).expect("read");
        let d = s.dump();
        assert!(d.contains("db-max-rows = 999\n"), "{d}");
        assert!(d.contains("log-level = \"warn\"\n"), "{d}");
        assert!(d.contains("db-schemas = \"aliased\"\n"), "{d}");
        assert!(
            d.contains("jwt-role-claim-key = \".\\\"role\\\"\"\n"),
            "{d}"
        );
        assert!(d.contains("admin-server-port = \"\"\n"), "{d}");
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn ill_typed_ints_are_absent_and_validation() {
        let m = parse_file("db-max-rows = true\n").expect("parse");
        assert!(!m.contains_key("db-max-rows"));
        let mut s = Settings::default();
        s.values
            .insert("server-unix-socket-mode".into(), "800".into());
        assert!(s.validate().is_err());
        s.values
            .insert("server-unix-socket-mode".into(), "599".into());
        assert!(s.validate().is_err());
        s.values
            .insert("server-unix-socket-mode".into(), "660".into());
        s.values.insert("jwt-aud".into(), "foo://%%$$^^.com".into());
        assert!(s.validate().is_err());
        s.values
            .insert("jwt-aud".into(), "https://example.com/x".into());
        assert!(s.validate().is_ok());
    }

    #[test]
    fn aliases_as_postgrest_reads_them() {
        let dir = std::env::temp_dir().join(format!("basalt-rest-aliases-{}", std::process::id()));
        // PostgREST's test/io/configs/aliases.config.
        std::fs::write(
            &dir,
            "db-schema = \"provided_through_alias\"\ndb-pool-timeout = 5\nmax-rows = 1000\n\
             pre-request = \"check_alias\"\nrole-claim-key = \".aliased\"\n\
             root-spec = \"open_alias\"\nsecret-is-base64 = true\n",
        )
        .expect("write");
        let s = Settings::read(dir.to_str(), &|_: &str| None).expect("read");
        let d = s.dump();
        for line in [
            "db-max-rows = 1000\n",
            "db-pool-max-idletime = 5\n",
            "db-pre-request = \"check_alias\"\n",
            "db-root-spec = \"open_alias\"\n",
            "db-schemas = \"provided_through_alias\"\n",
            "jwt-role-claim-key = \".\\\"aliased\\\"\"\n",
            "jwt-secret-is-base64 = true\n",
        ] {
            assert!(d.contains(line), "{line} in {d}");
        }
        assert_eq!(
            s.var("PGRST_DB_SCHEMAS").as_deref(),
            Some("provided_through_alias")
        );
        // The new name wins over the old one, whichever source gives either.
        std::fs::write(&dir, "db-pool-max-idletime = 7\nmax-rows = 3\n").expect("write");
        let env = |k: &str| match k {
            "PGRST_DB_POOL_TIMEOUT" => Some("9".to_string()),
            "PGRST_DB_MAX_ROWS" => Some("4".to_string()),
            "PGRST_DB_SCHEMA" => Some("old".to_string()),
            _ => None,
        };
        let s = Settings::read(dir.to_str(), &env).expect("read");
        let d = s.dump();
        assert!(d.contains("db-pool-max-idletime = 9\n"), "{d}");
        assert!(d.contains("db-max-rows = 4\n"), "{d}");
        assert!(d.contains("db-schemas = \"old\"\n"), "{d}");
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn fatal_messages_and_an_emptyable_search_path() {
        let fails = |k: &str, v: &str| {
            let mut s = Settings::default();
            s.values.insert(k.into(), v.into());
            s.validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(fails("openapi-mode", "nope")
            .contains("Invalid openapi-mode. Check your configuration."));
        assert!(fails("db-tx-end", "nope")
            .contains("Invalid transaction termination. Check your configuration."));
        assert!(
            fails("openapi-server-proxy-uri", "https://example.com/x?y=1").contains(
                "Malformed proxy uri, a correct example: https://example.com:8443/basePath"
            )
        );
        assert_eq!(
            fails(
                "openapi-server-proxy-uri",
                "https://example.com:8443/basePath"
            ),
            ""
        );
        // An empty db-extra-search-path (file or environment) is kept: no extra schemas.
        let env = |k: &str| (k == "PGRST_DB_EXTRA_SEARCH_PATH").then(String::new);
        let s = Settings::read(None, &env).expect("read");
        assert!(s.dump().contains("db-extra-search-path = \"\"\n"));
        let c = Config::from_vars(|k| s.var(k)).expect("config");
        assert!(c.extra_search_path.is_empty());
    }
}
