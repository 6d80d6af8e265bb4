//! basalt-config: `supabase/config.toml` as one typed value, [`ProjectConfig`].
//!
//! The file flows one way: TOML text → `env(NAME)` resolved in every string ([`load`]) →
//! deserialised into the typed sections (an unknown *key* is ignored, as the Supabase CLI does;
//! a known key with a value of the wrong kind is an error that names the key, e.g.
//! `auth.email.smtp.port: invalid type: string "x", expected u16`) → each service builds its own
//! configuration from its section under `basalt start`. Defaults live only in the `Default`
//! impls here. Standalone services (`basalt rest`, `basalt auth`, …) read their upstream's
//! environment variables instead, into their own configuration types.

mod auth;
mod backup;
mod net;
mod project;
mod values;

pub use auth::*;
pub use backup::{BackupConfig, BackupS3Config};
pub use net::NetConfig;
pub use project::*;
pub use values::{parse_duration, parse_size, ByteSize, Seconds};

/// Why `config.toml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML.
    #[error("invalid TOML: {0}")]
    Syntax(String),
    /// A known key holds a value of the wrong kind (the message names the key).
    #[error("{0}")]
    Value(String),
}

/// Parse config.toml text: `env(NAME)` resolved in every string, then the typed sections.
pub fn load(text: &str) -> Result<ProjectConfig, ConfigError> {
    let mut value: toml::Value =
        toml::from_str(text).map_err(|e| ConfigError::Syntax(e.message().replace('\n', " ")))?;
    resolve_env(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().message().replace('\n', " ");
        ConfigError::Value(if path == "." {
            inner
        } else {
            format!("{path}: {inner}")
        })
    })
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
