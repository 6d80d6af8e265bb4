//! basalt-auth: a GoTrue-compatible `/auth/v1`, so supabase-js's `auth.*` calls work unchanged
//! and the tokens it issues are the ones `/rest/v1`, storage and realtime trust. Users, sessions,
//! refresh tokens, one-time tokens, MFA factors and the audit trail live in GoTrue's own `auth`
//! tables, so a `pg_dump` of a Supabase project's `auth` schema (bcrypt hashes included) loads
//! and signs in. Each request is parsed (`extract`), checked, run as bind-parameter SQL in one
//! transaction (`users`, `sessions`, `onetime`, `flow`, `audit`) and answered in GoTrue's JSON,
//! errors included (`error`). Tokens are signed and verified by `basalt_identity::Keys` (HS256
//! with the project secret, or the first private key of the JWK set; every listed key verifies),
//! the same keys every other service verifies with; `jwt` holds GoTrue's claims and wording,
//! optionally reshaped by a Postgres access-token hook (`hooks`); TOTP is in `totp`;
//! email goes over SMTP and text-message codes through an SMS provider (`sms`: Twilio, Twilio
//! Verify, MessageBird, Vonage, Textlocal), or either into a development mailbox in Postgres
//! (`mail`, `GET /basalt/mail`, `basalt mail`); sign-up and sign-in can require a CAPTCHA
//! (`captcha`: hCaptcha, Turnstile); a refresh is one prepared statement calling the platform
//! function `auth.refresh_grant` (`sessions`); rate limits are counted in Postgres so that any
//! number of nodes share them (`ratelimit`). Configuration comes from GoTrue's environment
//! variables or from the typed `[auth]` section of `config.toml` (`basalt_config`, `config`).

pub mod api;
pub mod audit;
pub mod captcha;
pub mod config;
pub mod crypto;
pub mod error;
pub mod external;
pub mod extract;
pub mod flow;
pub mod hooks;
pub mod jwt;
pub mod mail;
pub mod onetime;
pub mod password;
pub mod ratelimit;
pub mod redirect;
pub mod sessions;
pub mod sms;
pub mod state;
pub mod totp;
pub mod users;

use axum::routing::{delete, get, post};
use axum::Router;

pub use config::Config;
use error::ApiError;
use state::AppState;

/// Errors building the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
}

/// The service's routes, relative to its mount point.
pub async fn router(config: Config) -> Result<Router, Error> {
    if config.install_schema {
        let mut client = basalt_pg::pool::connect(&config.db_url)
            .await
            .map_err(|e| Error::Database(e.to_string()))?;
        // A restricted role (GoTrue's usual `supabase_auth_admin`) may not be able to install
        // everything; a database that already has the `auth` schema still works.
        if let Err(e) = basalt_pg::platform::apply(&mut client).await {
            tracing::warn!(error = %e, "could not install the platform schema; using the database as it is");
        }
    }
    let pool = basalt_pg::pool::build(&config.db_url, config.pool_size)
        .map_err(|e| Error::Database(e.to_string()))?;
    if config.jwt.secret.is_empty() {
        return Err(Error::Config("the JWT secret is empty".into()));
    }
    let keys = config.jwt.keys.clone().unwrap_or_else(|| {
        std::sync::Arc::new(basalt_identity::Keys::from_secret(&config.jwt.secret))
    });
    let templates = mail::Kind::ALL
        .into_iter()
        .filter_map(|k| {
            let t = config.mailer.templates.get(k.template_name())?;
            Some((k, t.clone()))
        })
        .collect();
    let mailer = mail::Mailer::new(config.mailer.smtp.as_ref(), templates)?;
    let counters = has_counters(&pool).await?;
    if !counters {
        tracing::warn!("auth.rate_limits is missing; rate limits are not enforced");
    }
    let state = AppState::new(config, pool, keys, mailer, counters)?;
    use api::*;
    Ok(Router::new()
        .route("/health", get(meta::health))
        .route("/settings", get(meta::settings))
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(meta::openid_configuration),
        )
        .route("/authorize", get(external::api::authorize))
        .route(
            "/callback",
            get(external::api::callback).post(external::api::callback),
        )
        .route(
            "/user/identities/authorize",
            get(external::api::link_authorize),
        )
        .route("/user/identities/{id}", delete(external::api::unlink))
        .route("/sso", post(meta::saml_disabled))
        .route("/sso/saml/metadata", get(meta::saml_disabled))
        .route("/sso/saml/acs", post(meta::saml_disabled))
        .route("/signup", post(signup::signup))
        .route("/token", post(external::api::token))
        .route("/logout", post(user::logout))
        .route("/user", get(user::get_user).put(user::update_user))
        .route("/reauthenticate", get(user::reauthenticate))
        .route("/recover", post(otp::recover))
        .route("/otp", post(otp::otp))
        .route("/magiclink", post(otp::magiclink))
        .route("/resend", post(otp::resend))
        .route("/verify", get(verify::verify_get).post(verify::verify_post))
        .route("/invite", post(admin::invite))
        .route("/factors", post(mfa::enroll))
        .route("/factors/{id}", delete(mfa::unenroll))
        .route("/factors/{id}/challenge", post(mfa::challenge))
        .route("/factors/{id}/verify", post(mfa::verify))
        .route(
            "/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/admin/users/{id}",
            get(admin::get_user)
                .put(admin::update_user)
                .delete(admin::delete_user),
        )
        .route("/admin/users/{id}/factors", get(admin::list_factors))
        .route(
            "/admin/users/{id}/factors/{factor}",
            delete(admin::delete_factor),
        )
        .route("/admin/generate_link", post(admin::generate_link))
        .route(
            "/basalt/mail",
            get(meta::mailbox).delete(meta::clear_mailbox),
        )
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            captcha::guard,
        ))
        .layer(axum::middleware::from_fn(error::version_layer))
        .with_state(state))
}

/// Whether the database has the shared rate-limit counters.
async fn has_counters(pool: &deadpool_postgres::Pool) -> Result<bool, Error> {
    let db = pool
        .get()
        .await
        .map_err(|e| Error::Database(e.to_string()))?;
    let row = db
        .query_one("SELECT to_regclass('auth.rate_limits') IS NOT NULL", &[])
        .await
        .map_err(|e| Error::Database(e.to_string()))?;
    Ok(row.get(0))
}
