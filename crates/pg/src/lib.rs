//! basalt-pg: everything basalt knows about Postgres itself. It finds the server binaries and runs
//! a private cluster (`cluster`), installs the Supabase-compatible platform schema — roles, the
//! `auth`, `storage` and `realtime` schemas, claim helpers such as `auth.uid()` — idempotently and
//! versioned (`platform`), builds connection pools (`pool`, and `wire` for request hot paths:
//! one pipeline and one implicit transaction per request) with TLS as the connection string's
//! libpq settings say (`tls`: `sslmode`, `sslrootcert`, `sslcert`, `sslkey`) — the pools that
//! run requests as their callers always as an `authenticator` session (`caller`) — and carries the
//! settings every service receives when they run together under `basalt start` (`Platform`: the typed
//! `basalt_config::ProjectConfig` and the shared `basalt_identity::Keys`). Identifiers are quoted
//! in one place ([`quote_ident`]).

pub mod caller;
pub mod cluster;
pub mod extensions;
mod ident;
pub mod platform;
pub mod pool;
pub mod privileges;
pub mod request;
pub mod tls;
pub mod wire;

use std::path::PathBuf;

pub use ident::{quote_ident, quote_qualified};

/// Settings shared by every service when they run together under `basalt start`.
///
/// Standalone commands (`basalt rest`, `basalt auth`, …) build their own configuration from their
/// upstream's environment variables instead.
#[derive(Debug, Clone)]
pub struct Platform {
    /// Connection string of the project database (a superuser or `postgres`-equivalent role).
    pub db_url: String,
    /// HS256 secret of the project (the anon and service keys are signed with it).
    pub jwt_secret: String,
    /// The project's keys: the secret plus the `[auth] signing_keys_path` JWK set. Every service
    /// verifies tokens with these, and auth signs with them.
    pub keys: std::sync::Arc<basalt_identity::Keys>,
    /// Public base URL of the API, e.g. `http://127.0.0.1:54321`.
    pub api_url: String,
    /// Where the app lives (`[auth] site_url`), used in redirects and email links.
    pub site_url: String,
    /// The project directory (holds `supabase/` and `.basalt/`).
    pub project_dir: PathBuf,
    /// `supabase/config.toml`, typed; each service reads its own section.
    pub config: std::sync::Arc<basalt_config::ProjectConfig>,
    /// The password request connections log in with as `authenticator` over TCP, when the
    /// database URL's user could not make them `authenticator` sessions itself
    /// ([`caller::authenticator_login`]).
    pub authenticator_password: Option<String>,
}

impl Platform {
    /// `url` (the database or one of its read replicas) as the connections that serve requests
    /// as their callers use it: logging in as `authenticator` over the embedded cluster's
    /// socket, or with [`Platform::authenticator_password`]; otherwise unchanged (a superuser's
    /// sessions switch to `authenticator`, see [`caller`]).
    pub fn caller_url(&self, url: &str) -> String {
        platform::local_url_as(url, platform::AUTHENTICATOR)
            .or_else(|| {
                self.authenticator_password
                    .as_deref()
                    .map(|p| caller::url_as(url, platform::AUTHENTICATOR, p))
            })
            .unwrap_or_else(|| url.to_string())
    }
}
