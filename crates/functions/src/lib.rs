//! basalt-functions: `/functions/v1/{name}` as the Supabase gateway serves it. Each call's JWT is
//! checked, then the call goes to one of two places: the edge runtime basalt supervises itself
//! (basalt-edge: Deno workers running the project's `supabase/functions/*`), or, when
//! `[basalt] functions_url` or `BASALT_FUNCTIONS_URL` names one, a function runtime started
//! separately (Supabase's edge-runtime, `deno serve`, or any HTTP server), which the call is
//! relayed to. On the way it checks the caller's JWT
//! when the function has `verify_jwt` on (the default; `[functions.<name>] verify_jwt = false`
//! turns it off), streams request and response bodies without buffering them, and reports
//! relay failures with `x-relay-error: true`, which supabase-js turns into `FunctionsRelayError`.
//! Tokens are verified by `basalt_identity`; the function name is one raw path segment and
//! nothing after it is decoded, so a call cannot reach another function.

mod relay;

use std::collections::HashMap;

pub use relay::router;

/// Configuration of the functions relay.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Address to listen on when running standalone.
    pub listen: Option<std::net::SocketAddr>,
    /// Base URL of the function runtime (`http://127.0.0.1:9000`); none = no runtime configured.
    pub upstream: Option<String>,
    /// Secret the callers' JWTs are signed with (when `keys` is not given).
    pub jwt_secret: String,
    /// The project's keys callers' JWTs are verified with.
    pub keys: Option<std::sync::Arc<basalt_identity::Keys>>,
    /// `verify_jwt` per function; functions not listed verify.
    pub verify_jwt: HashMap<String, bool>,
    /// basalt's own runtime, used when no `upstream` is set; none = calls answer 503.
    pub edge: Option<basalt_edge::Settings>,
}

/// Errors building the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
}

impl Config {
    /// Standalone: `BASALT_FUNCTIONS_URL`, `JWT_SECRET` (as the edge-runtime container reads it),
    /// `PORT`.
    pub fn from_env() -> Result<Config, Error> {
        let jwt_secret = std::env::var("JWT_SECRET")
            .or_else(|_| std::env::var("SUPABASE_JWT_SECRET"))
            .map_err(|_| Error::Config("JWT_SECRET is not set".into()))?;
        let listen = match std::env::var("PORT") {
            Ok(p) => Some(
                format!("0.0.0.0:{p}")
                    .parse()
                    .map_err(|_| Error::Config(format!("PORT={p} is not a port")))?,
            ),
            Err(_) => None,
        };
        Ok(Config {
            listen,
            upstream: std::env::var("BASALT_FUNCTIONS_URL")
                .ok()
                .filter(|s| !s.is_empty()),
            jwt_secret,
            keys: None,
            verify_jwt: HashMap::new(),
            edge: None,
        })
    }

    /// Under `basalt start`: `[basalt] functions_url` (or `BASALT_FUNCTIONS_URL`), else basalt's
    /// own runtime on the project's `supabase/functions` with `[edge_runtime]` limits and
    /// `SUPABASE_URL` set (the caller adds the other `SUPABASE_*` values to
    /// `edge.supabase_env`), and the `[functions.<name>] verify_jwt` settings of config.toml.
    pub fn from_platform(platform: &basalt_pg::Platform) -> Config {
        let upstream = std::env::var("BASALT_FUNCTIONS_URL")
            .ok()
            .or_else(|| platform.config.basalt.functions_url.clone())
            .filter(|s| !s.is_empty());
        let verify_jwt = platform
            .config
            .functions
            .iter()
            .map(|(name, f)| (name.clone(), f.verify_jwt))
            .collect();
        let edge = upstream.is_none().then(|| {
            let mut s = basalt_edge::Settings::from_config(&platform.project_dir, &platform.config);
            // Functions reach basalt on loopback even when it listens on every address.
            let url = platform.api_url.replace("://0.0.0.0:", "://127.0.0.1:");
            s.supabase_env.push(("SUPABASE_URL".into(), url));
            s
        });
        Config {
            listen: None,
            upstream,
            jwt_secret: platform.jwt_secret.clone(),
            keys: Some(platform.keys.clone()),
            verify_jwt,
            edge,
        }
    }
}
