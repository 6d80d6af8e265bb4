//! A Supabase CLI project directory: `supabase/config.toml`, `supabase/migrations/`,
//! `supabase/seed.sql`, plus basalt's own state in `.basalt/` (cluster, JWT secret).

use std::path::{Path, PathBuf};

/// Why a project could not be loaded. Each renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{path}: {message}")]
    Toml { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub use basalt_config::ProjectConfig;

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    pub config: std::sync::Arc<ProjectConfig>,
}

impl Project {
    /// Load `dir/supabase/config.toml` (absent file = defaults).
    pub fn load(dir: &Path) -> Result<Project, ProjectError> {
        let dir = std::fs::canonicalize(dir).map_err(|source| ProjectError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join("supabase").join("config.toml");
        let config = match std::fs::read_to_string(&path) {
            Ok(text) => basalt_config::load(&text).map_err(|e| ProjectError::Toml {
                path: path.display().to_string(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ProjectConfig::default(),
            Err(source) => {
                return Err(ProjectError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(Project {
            dir,
            config: std::sync::Arc::new(config),
        })
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

    /// The JWT secret: `$BASALT_JWT_SECRET`, `[auth] jwt_secret`, the secret an earlier basalt
    /// generated into `.basalt/jwt_secret`, or else the Supabase CLI's local default
    /// ([`CLI_LOCAL_SECRET`]), so apps written against `supabase start`'s keys work unchanged
    /// (`basalt start` refuses that default on a non-loopback address).
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
        match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Ok(CLI_LOCAL_SECRET.to_string()),
        }
    }
}

/// The JWT secret the Supabase CLI uses for local projects without one: public, so only ever
/// used on loopback.
pub const CLI_LOCAL_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

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

/// Supabase's newer opaque API keys for a secret: `(publishable, secret)`, standing for the anon
/// and service_role keys. With [`CLI_LOCAL_SECRET`] they are the fixed local keys the Supabase CLI
/// prints; otherwise they are derived from the secret (stable across restarts, secret like it).
pub fn opaque_keys(secret: &str) -> (String, String) {
    if secret == CLI_LOCAL_SECRET {
        return (
            "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH".into(),
            "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz".into(),
        );
    }
    use base64::Engine;
    let derive = |label: &str| {
        let bytes = basalt_identity::derive(secret, label);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..24])
    };
    (
        format!("sb_publishable_{}", derive("basalt publishable key")),
        format!("sb_secret_{}", derive("basalt secret key")),
    )
}

/// The anon and service_role keys for a secret, built as the Supabase CLI builds its local keys
/// (`iss` `supabase-demo`, a fixed `exp`): with [`CLI_LOCAL_SECRET`] they are the well-known
/// local keys `supabase start` prints, byte for byte.
pub fn api_keys(secret: &str) -> (String, String) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let make = |role: &str| {
        let head = b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let body = b64.encode(format!(
            r#"{{"iss":"supabase-demo","role":"{role}","exp":1983812996}}"#
        ));
        let signed = format!("{head}.{body}");
        format!(
            "{signed}.{}",
            b64.encode(basalt_identity::derive(secret, &signed))
        )
    };
    (make("anon"), make("service_role"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_config_loads() {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&examples).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join("supabase/config.toml").is_file() {
                Project::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
                loaded += 1;
            }
        }
        assert!(loaded >= 5, "only {loaded} example configs found");
    }

    #[test]
    fn a_wrong_value_is_an_error_naming_its_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("supabase")).unwrap();
        std::fs::write(
            dir.path().join("supabase/config.toml"),
            "[auth.email.smtp]\nport = \"x\"\n",
        )
        .unwrap();
        let e = Project::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("config.toml: auth.email.smtp.port: "), "{e}");
        assert!(!e.contains('\n'));
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
    fn the_cli_local_secret_gives_the_cli_local_keys() {
        let (anon, service) = api_keys(CLI_LOCAL_SECRET);
        assert_eq!(anon, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0");
        assert_eq!(service, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU");
        let dir = tempfile::tempdir().unwrap();
        let p = Project::load(dir.path()).unwrap();
        std::env::remove_var("BASALT_JWT_SECRET");
        assert_eq!(p.jwt_secret().unwrap(), CLI_LOCAL_SECRET);
    }

    #[test]
    fn opaque_keys_are_the_clis_locally_and_derived_otherwise() {
        assert_eq!(
            opaque_keys(CLI_LOCAL_SECRET).0,
            "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"
        );
        let (p, s) = opaque_keys("another-secret-another-secret-another-secret");
        assert!(p.starts_with("sb_publishable_") && s.starts_with("sb_secret_"));
        assert_eq!(
            (p.clone(), s.clone()),
            opaque_keys("another-secret-another-secret-another-secret")
        );
        assert_ne!(p, opaque_keys("a-third-secret-a-third-secret-a-third").0);
    }

    #[test]
    fn keys_are_stable() {
        assert_eq!(api_keys("s3cret"), api_keys("s3cret"));
        assert_ne!(api_keys("s3cret").0, api_keys("s3cret").1);
    }
}
