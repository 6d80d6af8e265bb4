//! The sections of config.toml other than `[auth]`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{AuthConfig, ByteSize, Seconds};

/// The parts of `supabase/config.toml` basalt reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProjectConfig {
    pub project_id: Option<String>,
    pub api: ApiConfig,
    pub db: DbConfig,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    pub realtime: RealtimeConfig,
    /// `[functions.<name>]`.
    pub functions: BTreeMap<String, FunctionConfig>,
    pub edge_runtime: EdgeRuntimeConfig,
    pub studio: StudioConfig,
    pub basalt: BasaltConfig,
}

/// `[studio]`: the dashboard `basalt start` serves on its own port.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StudioConfig {
    pub enabled: bool,
    pub port: u16,
    /// basalt's own: the password that opens the dashboard (otherwise `BASALT_STUDIO_PASSWORD`,
    /// otherwise one generated once into `.basalt/studio_password`; required off loopback).
    pub password: Option<String>,
}

impl Default for StudioConfig {
    fn default() -> Self {
        StudioConfig {
            enabled: true,
            port: 54323,
            password: None,
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    pub port: u16,
    pub schemas: Vec<String>,
    pub extra_search_path: Vec<String>,
    pub max_rows: u64,
    /// Connections of the REST pool (basalt's own key; default: the REST service's).
    pub db_pool: Option<u32>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            port: 54321,
            schemas: vec!["public".into(), "graphql_public".into()],
            extra_search_path: vec!["public".into(), "extensions".into()],
            max_rows: 1000,
            db_pool: None,
        }
    }
}

/// `[db]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DbConfig {
    pub port: u16,
    /// The Postgres major version the project expects (the embedded cluster runs the one
    /// installed; `basalt start` says when they differ).
    pub major_version: Option<u32>,
    pub seed: SeedConfig,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            port: 54322,
            major_version: None,
            seed: SeedConfig::default(),
        }
    }
}

/// `[realtime]`, as the Supabase CLI writes it: `enabled = false` leaves `/realtime/v1`
/// unserved (and no replication slot held). Its `ip_version` and `max_header_length` are not read.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RealtimeConfig {
    pub enabled: bool,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig { enabled: true }
    }
}

/// `[db.seed]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SeedConfig {
    pub enabled: bool,
    pub sql_paths: Vec<String>,
}

impl Default for SeedConfig {
    fn default() -> Self {
        SeedConfig {
            enabled: true,
            sql_paths: vec!["./seed.sql".into()],
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// Upper bound of an object's size (default: the storage service's).
    pub file_size_limit: Option<ByteSize>,
    /// `[storage.buckets.<name>]`: buckets created or updated on start.
    pub buckets: BTreeMap<String, BucketConfig>,
    /// `[storage.s3]`: keep bytes in an S3-compatible store.
    pub s3: Option<S3Config>,
    /// Directory of the local byte store, relative to the project (default `.basalt/storage`;
    /// a branch served by `basalt start --branch` has its own).
    pub file_root: Option<String>,
    /// `[storage.s3_protocol]`: the S3 protocol endpoint `/storage/v1/s3`.
    pub s3_protocol: S3ProtocolConfig,
    /// `[storage.image_transformation]`: the `/render/image` routes.
    pub image_transformation: ImageTransformationConfig,
}

/// `[storage.image_transformation]`, as the Supabase CLI writes it (`enabled = true`), plus
/// basalt's bound of the on-disk cache of rendered images.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ImageTransformationConfig {
    pub enabled: bool,
    /// Upper bound of the render cache on disk (default: the storage service's).
    pub cache_size: Option<ByteSize>,
}

/// `[storage.s3_protocol]`, as the Supabase CLI writes it: `enabled` (default true).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct S3ProtocolConfig {
    pub enabled: bool,
}

impl Default for S3ProtocolConfig {
    fn default() -> Self {
        S3ProtocolConfig { enabled: true }
    }
}

/// `[storage.buckets.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BucketConfig {
    pub public: bool,
    pub file_size_limit: Option<ByteSize>,
    pub allowed_mime_types: Option<Vec<String>>,
    /// A directory of files uploaded into the bucket by `seed buckets`.
    pub objects_path: Option<String>,
}

/// `[storage.s3]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct S3Config {
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub force_path_style: bool,
}

/// `[functions.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FunctionConfig {
    pub enabled: bool,
    /// Whether calls need a valid JWT (default true).
    pub verify_jwt: bool,
    /// Entry point, relative to `supabase/` (default `functions/<name>/index.ts`).
    pub entrypoint: Option<String>,
    /// Import map, relative to `supabase/`.
    pub import_map: Option<String>,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        FunctionConfig {
            enabled: true,
            verify_jwt: true,
            entrypoint: None,
            import_map: None,
        }
    }
}

/// `[edge_runtime]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EdgeRuntimeConfig {
    pub enabled: Option<bool>,
    /// `[edge_runtime.secrets]`: environment of every function.
    pub secrets: BTreeMap<String, String>,
    /// basalt's own: the Deno executable (otherwise `BASALT_DENO`, `PATH`, `node_modules/.bin`).
    pub deno_path: Option<String>,
    /// basalt's own: longest a call may take, streaming included (default 150s).
    pub wall_clock_limit: Option<Seconds>,
    /// basalt's own: V8 heap of one function's worker (default 256MiB).
    pub memory_limit: Option<ByteSize>,
    /// basalt's own: calls one function serves at once; more wait (default 64).
    pub max_concurrent: Option<u32>,
    /// basalt's own: live workers at most; the least recently used idle one is retired first
    /// (default 8).
    pub max_workers: Option<u32>,
    /// basalt's own: a worker without calls this long is retired (default 5m).
    pub idle_timeout: Option<Seconds>,
}

/// basalt's own section, `[basalt]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BasaltConfig {
    /// Extra Postgres server settings (`name = "value"`).
    pub pg_settings: BTreeMap<String, toml::Value>,
    /// System user to run Postgres as when basalt is root (default `postgres`).
    pub pg_user: Option<String>,
    /// Address the HTTP server binds (default 127.0.0.1).
    pub listen_address: Option<String>,
    /// A function runtime to relay `/functions/v1` calls to, instead of basalt's own.
    pub functions_url: Option<String>,
    /// `[basalt.net]`: sending what SQL queues with `net.http_*` and database webhooks.
    pub net: crate::NetConfig,
    /// `[basalt.backup]`: continuous archiving, scheduled backups, point-in-time restore.
    pub backup: crate::BackupConfig,
    /// Streaming replicas REST's read-only requests may run on (`basalt start --read-replica`
    /// and `BASALT_READ_REPLICAS`, comma-separated, replace the list).
    pub read_replicas: Vec<String>,
    /// Seconds a replica may lag before it leaves the rotation (default 10).
    pub read_replica_max_lag: Option<f64>,
}

#[cfg(test)]
mod tests {
    use crate::{load, ConfigError};

    #[test]
    fn a_real_supabase_config_loads() {
        let c = load(
            r#"
project_id = "demo"
[api]
enabled = true
port = 54400
schemas = ["public", "graphql_public"]
[db]
port = 54401
major_version = 15
[db.seed]
enabled = true
sql_paths = ["./seed.sql"]
[auth]
site_url = "http://localhost:3000"
[auth.email]
enable_confirmations = false
[storage]
file_size_limit = "50MiB"
[storage.image_transformation]
enabled = true
[storage.buckets.avatars]
public = true
allowed_mime_types = ["image/png"]
[functions.hook]
verify_jwt = false
[edge_runtime]
policy = "per_worker"
[edge_runtime.secrets]
OPENAI = "sk"
"#,
        )
        .unwrap();
        assert_eq!(c.api.port, 54400);
        assert_eq!(c.db.port, 54401);
        assert_eq!(c.auth.site_url, "http://localhost:3000");
        assert_eq!(
            c.storage.file_size_limit.map(|s| s.0),
            Some(50 * 1024 * 1024)
        );
        assert!(c.storage.buckets["avatars"].public);
        assert!(c.storage.image_transformation.enabled);
        assert!(!load("").unwrap().storage.image_transformation.enabled);
        assert!(!c.functions["hook"].verify_jwt);
        assert_eq!(c.edge_runtime.secrets["OPENAI"], "sk");
        assert_eq!(c.studio.port, 54323);
        assert!(c.studio.enabled && c.studio.password.is_none());
        assert!(c.realtime.enabled);
        assert!(
            !load("[realtime]\nenabled = false\nmax_header_length = 4096\n")
                .unwrap()
                .realtime
                .enabled
        );
        let c = load("[studio]\nport = 54400\npassword = \"pw\"\n").unwrap();
        assert_eq!(
            (c.studio.port, c.studio.password.as_deref()),
            (54400, Some("pw"))
        );
    }

    #[test]
    fn a_wrong_value_names_its_key() {
        let e = load("[auth.email.smtp]\nport = \"x\"\n").unwrap_err();
        assert!(matches!(e, ConfigError::Value(_)));
        let text = e.to_string();
        assert!(text.starts_with("auth.email.smtp.port: "), "{text}");
        let e = load("[storage]\nfile_size_limit = \"12 parsecs\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with("storage.file_size_limit: "),
            "{e}"
        );
        let e = load("[auth]\njwt_expiry = \"soon\"\n").unwrap_err();
        assert!(e.to_string().starts_with("auth.jwt_expiry: "), "{e}");
        let e = load("[api\nport = 1").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax(_)));
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn env_resolves_in_every_string() {
        std::env::set_var("BASALT_CFG_TEST_SMTP_PASS", "hunter2");
        std::env::set_var("BASALT_CFG_TEST_S3_SECRET", "s3-secret");
        let c = load(
            r#"
[auth.email.smtp]
host = "smtp.example.com"
pass = "env(BASALT_CFG_TEST_SMTP_PASS)"
[storage.s3]
bucket = "b"
secret_access_key = "env(BASALT_CFG_TEST_S3_SECRET)"
[edge_runtime.secrets]
A = "env(BASALT_CFG_TEST_SMTP_PASS)"
[auth.external.apple]
secret = "env(BASALT_CFG_TEST_NEVER_SET)"
"#,
        )
        .unwrap();
        assert_eq!(c.auth.email.smtp.pass.as_deref(), Some("hunter2"));
        assert_eq!(
            c.storage.s3.and_then(|s| s.secret_access_key).as_deref(),
            Some("s3-secret")
        );
        assert_eq!(c.edge_runtime.secrets["A"], "hunter2");
    }
}
