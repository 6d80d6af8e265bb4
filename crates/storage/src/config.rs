//! The storage service's configuration: one typed struct, built either from storage-api's
//! environment variables (standalone) or from the platform settings of `basalt start`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::limits::parse_size;
use crate::Error;

/// Where object bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A directory on the local filesystem.
    File { root: PathBuf },
    /// An S3-compatible bucket.
    S3(S3Config),
}

/// Settings of the S3 backend (storage-api's `GLOBAL_S3_*` and `AWS_*` variables).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3Config {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub force_path_style: bool,
    /// Allow plain `http://` endpoints (MinIO and friends in development).
    pub allow_http: bool,
}

/// A bucket declared in `config.toml` (`[storage.buckets.<name>]`), created or updated on start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BucketSeed {
    pub public: bool,
    pub file_size_limit: Option<u64>,
    pub allowed_mime_types: Option<Vec<String>>,
}

/// Configuration of the storage service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on when running standalone.
    pub listen: Option<std::net::SocketAddr>,
    /// Connection string of the database (a role that may `SET ROLE` to the API roles).
    pub db_url: String,
    /// HS256 secret of the project: signs URL tokens (and verifies callers' JWTs when `keys`
    /// is not given).
    pub jwt_secret: String,
    /// The keys callers' tokens are verified with: the platform's, or the secret plus
    /// `JWT_JWKS` standalone.
    pub keys: Option<std::sync::Arc<basalt_identity::Keys>>,
    /// Object byte store.
    pub backend: Backend,
    /// Global upper bound of an object's size in bytes.
    pub file_size_limit: u64,
    /// Size of the connection pool. Uploads hold a connection while their body streams.
    pub pool_size: usize,
    /// Unreferenced bytes older than this are removed by the sweep on start.
    pub orphan_grace: Duration,
    /// Buckets to create or update on start.
    pub buckets: BTreeMap<String, BucketSeed>,
    /// Part size for streaming writes to the store.
    pub part_size: usize,
    /// How long a resumable upload may stay unfinished.
    pub tus_expiry: Duration,
    /// Image transformations (`/render/image`).
    pub image: crate::ImageConfig,
}

/// 50 MiB, storage-api's default `FILE_SIZE_LIMIT`.
pub const DEFAULT_FILE_SIZE_LIMIT: u64 = 50 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: None,
            db_url: String::new(),
            jwt_secret: String::new(),
            keys: None,
            backend: Backend::File {
                root: PathBuf::from("./data"),
            },
            file_size_limit: DEFAULT_FILE_SIZE_LIMIT,
            pool_size: 20,
            orphan_grace: Duration::from_secs(3600),
            buckets: BTreeMap::new(),
            part_size: 8 * 1024 * 1024,
            tus_expiry: Duration::from_secs(24 * 3600),
            image: crate::ImageConfig::default(),
        }
    }
}

impl Config {
    /// Configuration from storage-api's environment variables.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_vars(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Configuration from any source of environment variables (testable without the process
    /// environment).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let first = |keys: &[&str]| keys.iter().find_map(|k| get(k));
        let mut c = Config {
            db_url: first(&["DATABASE_URL"])
                .ok_or_else(|| Error::Config("DATABASE_URL is not set".into()))?,
            jwt_secret: first(&["PGRST_JWT_SECRET", "AUTH_JWT_SECRET"]).ok_or_else(|| {
                Error::Config("PGRST_JWT_SECRET or AUTH_JWT_SECRET is not set".into())
            })?,
            ..Config::default()
        };
        if let Some(jwks) = first(&["JWT_JWKS", "AUTH_JWT_JWKS"]).filter(|s| !s.is_empty()) {
            let keys = basalt_identity::Keys::for_project(&c.jwt_secret, Some(&jwks))
                .map_err(|e| Error::Config(format!("JWT_JWKS: {e}")))?;
            c.keys = Some(std::sync::Arc::new(keys));
        }
        c.backend = backend_from_vars(
            &get,
            PathBuf::from(first(&["FILE_STORAGE_BACKEND_PATH"]).unwrap_or_else(|| "./data".into())),
        )?;
        if let Some(v) = first(&["FILE_SIZE_LIMIT"]) {
            c.file_size_limit = parse_size(&v)
                .ok_or_else(|| Error::Config(format!("FILE_SIZE_LIMIT: invalid size {v:?}")))?;
        }
        if let Some(v) = first(&["DATABASE_MAX_CONNECTIONS", "DB_POOL_SIZE"]) {
            c.pool_size = v
                .parse()
                .map_err(|_| Error::Config(format!("pool size: invalid number {v:?}")))?;
        }
        if let Some(v) = first(&["PORT", "SERVER_PORT"]) {
            let port: u16 = v
                .parse()
                .map_err(|_| Error::Config(format!("PORT: invalid port {v:?}")))?;
            let host = first(&["SERVER_HOST", "HOST"]).unwrap_or_else(|| "0.0.0.0".into());
            let addr = format!("{host}:{port}")
                .parse()
                .map_err(|_| Error::Config(format!("invalid listen address {host}:{port}")))?;
            c.listen = Some(addr);
        }
        c.image = image_from_vars(&get)?;
        if let Some(v) = first(&["STORAGE_ORPHAN_GRACE_SECONDS"]) {
            let secs: u64 = v
                .parse()
                .map_err(|_| Error::Config(format!("invalid grace {v:?}")))?;
            c.orphan_grace = Duration::from_secs(secs);
        }
        Ok(c)
    }

    /// Configuration under `basalt start`: the project database and secret, and the
    /// `[storage]` section of `config.toml` (`file_size_limit`, `[storage.buckets.<name>]`).
    /// Bytes live under `<project>/.basalt/storage` unless `[storage.s3]` names a `bucket`
    /// (with `endpoint`, `region`, `access_key_id`, `secret_access_key`, `force_path_style`;
    /// keys may come from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` instead) or the
    /// environment says `STORAGE_BACKEND=s3` with storage-api's `GLOBAL_S3_*` variables.
    pub fn from_platform(platform: &basalt_pg::Platform) -> Config {
        let section = &platform.config.storage;
        let root = match &section.file_root {
            Some(r) => platform.project_dir.join(r),
            None => platform.project_dir.join(".basalt").join("storage"),
        };
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let backend = match section.s3.as_ref().and_then(|s| s3_from_section(s, &get)) {
            Some(s3) => Backend::S3(s3),
            None => match backend_from_vars(&get, root.clone()) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "storage: S3 settings incomplete, using local files");
                    Backend::File { root }
                }
            },
        };
        let file_size_limit = section
            .file_size_limit
            .map_or(DEFAULT_FILE_SIZE_LIMIT, |s| s.0);
        let buckets = section
            .buckets
            .iter()
            .map(|(name, b)| {
                let seed = BucketSeed {
                    public: b.public,
                    file_size_limit: b.file_size_limit.map(|s| s.0),
                    allowed_mime_types: b.allowed_mime_types.clone(),
                };
                (name.clone(), seed)
            })
            .collect();
        let images = &section.image_transformation;
        let image = crate::ImageConfig {
            enabled: images.enabled,
            cache_dir: Some(platform.project_dir.join(".basalt").join("render-cache")),
            cache_size: images
                .cache_size
                .map_or(crate::ImageConfig::default().cache_size, |s| s.0),
            ..crate::ImageConfig::default()
        };
        Config {
            listen: None,
            // Requests run on `authenticator` sessions, so Postgres refuses any role a token
            // names beyond those granted to it; the pool gives them `service_role` as their own
            // role, so that the bookkeeping outside a caller's role (declared buckets, the
            // sweep, writes after the caller's policies decided) bypasses row level security
            // without a superuser (`basalt_pg::caller`, `State::connect`).
            db_url: platform.caller_url(&platform.db_url),
            image,
            jwt_secret: platform.jwt_secret.clone(),
            keys: Some(platform.keys.clone()),
            backend,
            file_size_limit,
            buckets,
            ..Config::default()
        }
    }
}

/// Image transformations from storage-api's variables (`IMAGE_TRANSFORMATION_ENABLED` or
/// `ENABLE_IMAGE_TRANSFORMATION` = `true`, `IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE` for the largest
/// width/height) and basalt's (`IMAGE_TRANSFORMATION_CACHE_DIR`, `IMAGE_TRANSFORMATION_CACHE_SIZE`,
/// `IMAGE_TRANSFORMATION_MAX_SOURCE_SIZE`, `IMAGE_TRANSFORMATION_MAX_RESOLUTION` in pixels,
/// `IMAGE_TRANSFORMATION_WORKERS`).
fn image_from_vars(get: &impl Fn(&str) -> Option<String>) -> Result<crate::ImageConfig, Error> {
    let first = |keys: &[&str]| keys.iter().find_map(|k| get(k));
    let number = |keys: &[&str]| -> Result<Option<u64>, Error> {
        first(keys)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| Error::Config(format!("{}: invalid number {v:?}", keys[0])))
            })
            .transpose()
    };
    let size = |key: &str| -> Result<Option<u64>, Error> {
        get(key)
            .map(|v| {
                parse_size(&v).ok_or_else(|| Error::Config(format!("{key}: invalid size {v:?}")))
            })
            .transpose()
    };
    let mut c = crate::ImageConfig {
        enabled: first(&[
            "IMAGE_TRANSFORMATION_ENABLED",
            "ENABLE_IMAGE_TRANSFORMATION",
        ])
        .is_some_and(|v| v == "true"),
        cache_dir: get("IMAGE_TRANSFORMATION_CACHE_DIR").map(PathBuf::from),
        ..crate::ImageConfig::default()
    };
    if let Some(n) = number(&["IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE", "IMG_LIMITS_MAX_SIZE"])? {
        c.max_dimension = u32::try_from(n).unwrap_or(u32::MAX).max(1);
    }
    if let Some(n) = number(&["IMAGE_TRANSFORMATION_MAX_RESOLUTION"])? {
        c.max_pixels = n;
    }
    if let Some(n) = number(&["IMAGE_TRANSFORMATION_WORKERS"])? {
        c.workers = usize::try_from(n).unwrap_or(1).max(1);
    }
    if let Some(n) = size("IMAGE_TRANSFORMATION_CACHE_SIZE")? {
        c.cache_size = n;
    }
    if let Some(n) = size("IMAGE_TRANSFORMATION_MAX_SOURCE_SIZE")? {
        c.max_source_size = n;
    }
    Ok(c)
}

/// `[storage.s3]` of `config.toml`, when it names a bucket.
fn s3_from_section(
    s3: &basalt_config::S3Config,
    env: &impl Fn(&str) -> Option<String>,
) -> Option<S3Config> {
    let bucket = s3.bucket.clone()?;
    let endpoint = s3.endpoint.clone();
    Some(S3Config {
        bucket,
        allow_http: endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://")),
        endpoint,
        region: s3.region.clone().unwrap_or_else(|| "us-east-1".into()),
        access_key_id: s3
            .access_key_id
            .clone()
            .or_else(|| env("AWS_ACCESS_KEY_ID")),
        secret_access_key: s3
            .secret_access_key
            .clone()
            .or_else(|| env("AWS_SECRET_ACCESS_KEY")),
        force_path_style: s3.force_path_style,
    })
}

fn backend_from_vars(
    get: &impl Fn(&str) -> Option<String>,
    file_root: PathBuf,
) -> Result<Backend, Error> {
    match get("STORAGE_BACKEND").as_deref() {
        None | Some("file") => Ok(Backend::File { root: file_root }),
        Some("s3") => {
            let bucket = get("GLOBAL_S3_BUCKET")
                .ok_or_else(|| Error::Config("GLOBAL_S3_BUCKET is not set".into()))?;
            let endpoint = get("GLOBAL_S3_ENDPOINT");
            let truthy = |k: &str| get(k).is_some_and(|v| v == "true" || v == "1");
            Ok(Backend::S3(S3Config {
                bucket,
                allow_http: endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
                endpoint,
                region: get("REGION")
                    .or_else(|| get("AWS_DEFAULT_REGION"))
                    .or_else(|| get("AWS_REGION"))
                    .unwrap_or_else(|| "us-east-1".into()),
                access_key_id: get("AWS_ACCESS_KEY_ID"),
                secret_access_key: get("AWS_SECRET_ACCESS_KEY"),
                force_path_style: truthy("GLOBAL_S3_FORCE_PATH_STYLE"),
            }))
        }
        Some(other) => Err(Error::Config(format!(
            "STORAGE_BACKEND: unknown backend {other:?} (file or s3)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_file_backend() {
        let c = Config::from_vars(vars(&[
            ("DATABASE_URL", "postgres://x"),
            ("AUTH_JWT_SECRET", "s"),
            ("FILE_STORAGE_BACKEND_PATH", "/tmp/st"),
            ("FILE_SIZE_LIMIT", "1048576"),
            ("SERVER_PORT", "5001"),
        ]))
        .expect("config");
        assert_eq!(
            c.backend,
            Backend::File {
                root: "/tmp/st".into()
            }
        );
        assert_eq!(c.file_size_limit, 1048576);
        assert_eq!(c.jwt_secret, "s");
        assert_eq!(c.listen.map(|a| a.port()), Some(5001));
    }

    #[test]
    fn env_image_transformation() {
        let base = [("DATABASE_URL", "postgres://x"), ("AUTH_JWT_SECRET", "s")];
        let c = Config::from_vars(vars(&base)).expect("config");
        assert!(!c.image.enabled);
        let mut on = base.to_vec();
        on.extend([
            ("IMAGE_TRANSFORMATION_ENABLED", "true"),
            ("IMAGE_TRANSFORMATION_CACHE_SIZE", "10MB"),
            ("IMAGE_TRANSFORMATION_CACHE_DIR", "/tmp/rc"),
            ("IMG_LIMITS_MAX_SIZE", "2000"),
        ]);
        let c = Config::from_vars(vars(&on)).expect("config");
        assert!(c.image.enabled);
        assert_eq!(c.image.cache_size, 10_000_000);
        assert_eq!(c.image.max_dimension, 2000);
        assert_eq!(
            c.image.cache_dir.as_deref(),
            Some(std::path::Path::new("/tmp/rc"))
        );
        let mut bad = base.to_vec();
        bad.push(("IMAGE_TRANSFORMATION_WORKERS", "many"));
        assert!(Config::from_vars(vars(&bad)).is_err());
    }

    #[test]
    fn env_s3_backend() {
        let c = Config::from_vars(vars(&[
            ("DATABASE_URL", "postgres://x"),
            ("PGRST_JWT_SECRET", "s"),
            ("STORAGE_BACKEND", "s3"),
            ("GLOBAL_S3_BUCKET", "b"),
            ("GLOBAL_S3_ENDPOINT", "http://minio:9000"),
            ("GLOBAL_S3_FORCE_PATH_STYLE", "true"),
            ("AWS_ACCESS_KEY_ID", "k"),
        ]))
        .expect("config");
        match c.backend {
            Backend::S3(s) => {
                assert_eq!(s.bucket, "b");
                assert!(s.force_path_style && s.allow_http);
                assert_eq!(s.access_key_id.as_deref(), Some("k"));
                assert_eq!(s.region, "us-east-1");
            }
            other => panic!("expected s3, got {other:?}"),
        }
    }

    #[test]
    fn env_errors() {
        assert!(Config::from_vars(vars(&[("AUTH_JWT_SECRET", "s")])).is_err());
        assert!(Config::from_vars(vars(&[
            ("DATABASE_URL", "x"),
            ("AUTH_JWT_SECRET", "s"),
            ("STORAGE_BACKEND", "tape")
        ]))
        .is_err());
        assert!(Config::from_vars(vars(&[
            ("DATABASE_URL", "x"),
            ("AUTH_JWT_SECRET", "s"),
            ("FILE_SIZE_LIMIT", "lots")
        ]))
        .is_err());
    }

    #[test]
    fn platform_section() {
        let p = basalt_pg::Platform {
            db_url: "postgres://x".into(),
            jwt_secret: "s".into(),
            keys: std::sync::Arc::new(basalt_identity::Keys::from_secret("s")),
            api_url: "http://127.0.0.1:54321".into(),
            site_url: "http://127.0.0.1:3000".into(),
            project_dir: "/proj".into(),
            authenticator_password: None,
            config: std::sync::Arc::new(
                basalt_config::load(
                    "[storage]\nfile_size_limit = \"10MiB\"\n[storage.image_transformation]\nenabled = true\n[storage.buckets.avatars]\npublic = true\nfile_size_limit = \"1MB\"\nallowed_mime_types = [\"image/png\"]\n",
                )
                .unwrap(),
            ),
        };
        let c = Config::from_platform(&p);
        assert_eq!(c.file_size_limit, 10 * 1024 * 1024);
        assert!(c.image.enabled);
        assert_eq!(
            c.image.cache_dir.as_deref(),
            Some(std::path::Path::new("/proj/.basalt/render-cache"))
        );
        let b = &c.buckets["avatars"];
        assert!(b.public);
        assert_eq!(b.file_size_limit, Some(1_000_000));
        assert_eq!(
            b.allowed_mime_types.as_deref(),
            Some(&["image/png".to_string()][..])
        );
    }

    #[test]
    fn platform_s3_section() {
        let section = basalt_config::S3Config {
            bucket: Some("objs".into()),
            endpoint: Some("http://127.0.0.1:9000".into()),
            force_path_style: true,
            secret_access_key: Some("sk".into()),
            ..Default::default()
        };
        let s3 = s3_from_section(&section, &|k: &str| {
            (k == "AWS_ACCESS_KEY_ID").then(|| "from-env".to_string())
        })
        .expect("s3");
        assert_eq!(s3.bucket, "objs");
        assert!(s3.allow_http && s3.force_path_style);
        assert_eq!(s3.access_key_id.as_deref(), Some("from-env"));
        assert_eq!(s3.secret_access_key.as_deref(), Some("sk"));
        let no_bucket = basalt_config::S3Config {
            region: Some("x".into()),
            ..Default::default()
        };
        assert!(s3_from_section(&no_bucket, &|_: &str| None).is_none());
    }
}
