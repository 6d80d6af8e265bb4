//! What every handler shares: the configuration, the connection pool, the signing keys and the
//! mailer. Nothing here holds per-user state, so any number of basalt nodes can serve one
//! database.

use std::ops::Deref;
use std::sync::Arc;

use deadpool_postgres::Pool;

use crate::config::Config;
use crate::mail::Mailer;
use basalt_identity::Keys;

/// Shared state of the service, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    pub config: Config,
    /// The custom access token hook, parsed.
    pub access_token_hook: Option<crate::hooks::PgFunction>,
    /// Whether the database has the shared rate-limit counters (`auth.rate_limits`);
    /// a database basalt could not install its schema into has not, and is not rate limited.
    pub counters: bool,
    pub pool: Pool,
    pub keys: Arc<Keys>,
    pub mailer: Mailer,
    /// The SMS provider, when one is configured.
    pub sms: Option<crate::sms::Sender>,
    /// The CAPTCHA verifier, when CAPTCHA protection is enabled.
    pub captcha: Option<crate::captcha::Verifier>,
}

impl AppState {
    pub fn new(
        config: Config,
        pool: Pool,
        keys: Arc<Keys>,
        mailer: Mailer,
        counters: bool,
    ) -> Result<AppState, crate::Error> {
        let access_token_hook = config
            .access_token_hook
            .as_deref()
            .map(crate::hooks::PgFunction::parse)
            .transpose()?;
        let timeout = std::time::Duration::from_secs(10);
        let sms = config
            .sms
            .provider
            .clone()
            .map(|p| crate::sms::Sender::new(p, timeout))
            .transpose()?;
        let captcha = config
            .captcha
            .as_ref()
            .map(crate::captcha::Verifier::new)
            .transpose()?;
        Ok(AppState(Arc::new(Inner {
            sms,
            captcha,
            access_token_hook,
            counters,
            config,
            pool,
            keys,
            mailer,
        })))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Begin a transaction on a pooled connection (the plain driver transaction, which every query
/// helper takes).
pub async fn begin(
    conn: &mut deadpool_postgres::Object,
) -> Result<tokio_postgres::Transaction<'_>, crate::error::ApiError> {
    let client: &mut tokio_postgres::Client = conn;
    Ok(client.transaction().await?)
}
