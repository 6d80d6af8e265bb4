//! A Supabase CLI project directory: `supabase/config.toml`, `supabase/migrations/`,
//! `supabase/seed.sql`, plus basalt's own state in `.basalt/` (cluster, JWT secret).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a project could not be loaded. Each renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{path}: invalid TOML: {message}")]
    Toml { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The parts of `supabase/config.toml` basalt reads; unknown keys are ignored so real Supabase
/// configs load unchanged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProjectConfig {
    pub project_id: Option<String>,
    pub api: ApiConfig,
    pub db: DbConfig,
    pub auth: AuthConfig,
    pub basalt: BasaltConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    pub port: u16,
    pub schemas: Vec<String>,
    pub extra_search_path: Vec<String>,
    pub max_rows: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            port: 54321,
            schemas: vec!["public".into(), "graphql_public".into()],
            extra_search_path: vec!["public".into(), "extensions".into()],
            max_rows: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DbConfig {
    pub port: u16,
    pub seed: SeedConfig,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            port: 54322,
            seed: SeedConfig::default(),
        }
    }
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub site_url: String,
    pub jwt_secret: Option<String>,
    /// A JWK set file, relative to `supabase/`, whose first private key signs access tokens.
    pub signing_keys_path: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            site_url: "http://127.0.0.1:3000".into(),
            jwt_secret: None,
            signing_keys_path: None,
        }
    }
}

/// basalt's own section, `[basalt]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BasaltConfig {
    /// Extra Postgres server settings (`name = "value"`).
    pub pg_settings: std::collections::BTreeMap<String, toml::Value>,
    /// System user to run Postgres as when basalt is root (default `postgres`).
    pub pg_user: Option<String>,
    /// Address the HTTP server binds (default 127.0.0.1).
    pub listen_address: Option<String>,
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    pub config: ProjectConfig,
    /// The whole config file as JSON, for services to read their own sections.
    pub raw: serde_json::Value,
}

impl Project {
    /// Load `dir/supabase/config.toml` (absent file = defaults).
    pub fn load(dir: &Path) -> Result<Project, ProjectError> {
        let dir = std::fs::canonicalize(dir).map_err(|source| ProjectError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join("supabase").join("config.toml");
        let (config, raw) = match std::fs::read_to_string(&path) {
            Ok(text) => parse_config(&text).map_err(|message| ProjectError::Toml {
                path: path.display().to_string(),
                message,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (ProjectConfig::default(), serde_json::json!({}))
            }
            Err(source) => {
                return Err(ProjectError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(Project { dir, config, raw })
    }

    pub fn supabase_dir(&self) -> PathBuf {
        self.dir.join("supabase")
    }

    pub fn migrations_dir(&self) -> PathBuf {
        self.supabase_dir().join("migrations")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join(".basalt")
    }

    /// Seed files named by `[db.seed] sql_paths`, relative to `supabase/`, that exist.
    pub fn seed_files(&self) -> Vec<PathBuf> {
        if !self.config.db.seed.enabled {
            return Vec::new();
        }
        self.config
            .db
            .seed
            .sql_paths
            .iter()
            .map(|p| self.supabase_dir().join(p))
            .filter(|p| p.is_file())
            .collect()
    }

    /// The JWT secret: `$BASALT_JWT_SECRET`, `[auth] jwt_secret`, or one generated on first
    /// start and kept in `.basalt/jwt_secret`.
    pub fn jwt_secret(&self) -> Result<String, ProjectError> {
        if let Ok(s) = std::env::var("BASALT_JWT_SECRET") {
            if !s.is_empty() {
                return Ok(s);
            }
        }
        if let Some(s) = self
            .config
            .auth
            .jwt_secret
            .as_ref()
            .filter(|s| !s.is_empty())
        {
            return Ok(s.clone());
        }
        let path = self.state_dir().join("jwt_secret");
        let io = |source| ProjectError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => {
                use rand::Rng;
                let secret: String = rand::thread_rng()
                    .sample_iter(&rand::distributions::Alphanumeric)
                    .take(48)
                    .map(char::from)
                    .collect();
                std::fs::create_dir_all(self.state_dir()).map_err(io)?;
                write_private(&path, secret.as_bytes()).map_err(io)?;
                Ok(secret)
            }
        }
    }
}

impl Project {
    /// The project's keys: the JWT secret plus the JWK set of `[auth] signing_keys_path`.
    pub fn keys(&self, secret: &str) -> anyhow::Result<basalt_identity::Keys> {
        let set = match &self.config.auth.signing_keys_path {
            Some(path) => {
                let full = self.supabase_dir().join(path);
                let text = std::fs::read_to_string(&full).map_err(|e| {
                    anyhow::anyhow!("[auth] signing_keys_path: {}: {e}", full.display())
                })?;
                Some(text)
            }
            None => None,
        };
        basalt_identity::Keys::for_project(secret, set.as_deref())
            .map_err(|e| anyhow::anyhow!("[auth] signing_keys_path: {e}"))
    }
}

/// Write a file only its owner may read (secrets, keys).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode on open: tighten it.
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(contents)
}

/// Supabase configs write `env(NAME)` to take a value from the environment, in any string. As
/// with the Supabase CLI, a variable that is not set leaves the text as written.
fn resolve_env(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) => {
            let name = s.strip_prefix("env(").and_then(|r| r.strip_suffix(')'));
            if let Some(v) = name.and_then(|n| std::env::var(n.trim()).ok()) {
                *s = v;
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(resolve_env),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| resolve_env(v)),
        _ => {}
    }
}

fn parse_config(text: &str) -> Result<(ProjectConfig, serde_json::Value), String> {
    let mut value: toml::Value =
        toml::from_str(text).map_err(|e| e.message().replace('\n', " "))?;
    resolve_env(&mut value);
    let config: ProjectConfig = value
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| e.message().replace('\n', " "))?;
    let raw = serde_json::to_value(&value).map_err(|e| e.to_string())?;
    Ok((config, raw))
}

/// The anon and service_role keys for a secret: HS256 JWTs like the Supabase CLI's, with fixed
/// `iat`/`exp` so they stay the same across restarts.
pub fn api_keys(secret: &str) -> (String, String) {
    let make = |role: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"iss": "basalt", "role": role, "iat": 1_735_689_600u64, "exp": 2_051_222_400u64}),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap_or_default()
    };
    (make("anon"), make("service_role"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_supabase_config_loads() {
        let text = r#"
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
"#;
        let (c, raw) = parse_config(text).unwrap();
        assert_eq!(c.api.port, 54400);
        assert_eq!(c.db.port, 54401);
        assert_eq!(c.auth.site_url, "http://localhost:3000");
        assert_eq!(raw["storage"]["file_size_limit"], "50MiB");
    }

    #[test]
    fn broken_config_is_one_line() {
        let err = parse_config("[api\nport = 1").unwrap_err();
        assert!(!err.contains('\n'));
        let err = parse_config("[api]\nport = \"x\"").unwrap_err();
        assert!(err.contains("port") || err.contains("invalid"), "{err}");
    }

    #[test]
    fn env_resolves_in_every_string() {
        std::env::set_var("BASALT_TEST_SMTP_PASS", "hunter2");
        std::env::set_var("BASALT_TEST_S3_SECRET", "s3-secret");
        let text = r#"
[auth.email.smtp]
pass = "env(BASALT_TEST_SMTP_PASS)"
[storage.s3]
secret_access_key = "env(BASALT_TEST_S3_SECRET)"
list = ["env(BASALT_TEST_SMTP_PASS)"]
[auth.external.apple]
secret = "env(BASALT_TEST_NEVER_SET)"
"#;
        let (_, raw) = parse_config(text).unwrap();
        assert_eq!(raw["auth"]["email"]["smtp"]["pass"], "hunter2");
        assert_eq!(raw["storage"]["s3"]["secret_access_key"], "s3-secret");
        assert_eq!(raw["storage"]["s3"]["list"][0], "hunter2");
        assert_eq!(
            raw["auth"]["external"]["apple"]["secret"],
            "env(BASALT_TEST_NEVER_SET)"
        );
    }

    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn signing_keys_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("supabase")).unwrap();
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let mut jwk: serde_json::Value = serde_json::from_str(&secret.to_jwk_string()).unwrap();
        jwk["kid"] = "k1".into();
        std::fs::write(
            dir.path().join("supabase/keys.json"),
            serde_json::json!([jwk]).to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("supabase/config.toml"),
            "[auth]\nsigning_keys_path = \"./keys.json\"\n",
        )
        .unwrap();
        let p = Project::load(dir.path()).unwrap();
        let keys = p.keys("a-secret-a-secret-a-secret-a-secret").unwrap();
        assert_eq!(keys.jwks()["keys"][0]["kid"], "k1");
        assert!(keys.signs_asymmetric());
        std::fs::write(
            dir.path().join("supabase/config.toml"),
            "[auth]\nsigning_keys_path = \"./missing.json\"\n",
        )
        .unwrap();
        let p = Project::load(dir.path()).unwrap();
        assert!(p.keys("s").is_err());
    }

    #[test]
    fn keys_are_stable() {
        assert_eq!(api_keys("s3cret"), api_keys("s3cret"));
        assert_ne!(api_keys("s3cret").0, api_keys("s3cret").1);
    }
}
