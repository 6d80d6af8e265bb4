//! External providers' settings: `[auth.external.<name>]` of config.toml, or GoTrue's
//! `GOTRUE_EXTERNAL_<NAME>_*` variables for `basalt auth`.

use std::collections::BTreeMap;
use std::time::Duration;

/// Settings of every external provider, plus manual linking.
#[derive(Debug, Clone)]
pub struct ExternalSettings {
    /// Providers by lower-case name, enabled or not.
    pub providers: BTreeMap<String, ProviderSettings>,
    /// `[auth] enable_manual_linking` / `GOTRUE_SECURITY_MANUAL_LINKING_ENABLED`.
    pub manual_linking: bool,
    /// How long a started sign-in (its `state`) may take to come back.
    pub state_ttl: Duration,
}

impl Default for ExternalSettings {
    fn default() -> Self {
        ExternalSettings {
            providers: BTreeMap::new(),
            manual_linking: false,
            state_ttl: Duration::from_secs(300),
        }
    }
}

/// One provider's settings. Every URL is optional: without it, the provider's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderSettings {
    pub enabled: bool,
    /// Client ids; the first one signs in, every one is an accepted ID token audience.
    pub client_ids: Vec<String>,
    pub secret: String,
    pub redirect_uri: Option<String>,
    pub url: Option<String>,
    pub issuer: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub skip_nonce_check: bool,
    pub email_optional: bool,
}

impl ProviderSettings {
    /// The client id used to sign in.
    pub fn client_id(&self) -> &str {
        self.client_ids.first().map(String::as_str).unwrap_or("")
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn client_ids(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// From the typed `[auth]` section.
pub fn from_project(auth: &basalt_config::AuthConfig) -> ExternalSettings {
    let providers = auth
        .external
        .iter()
        .map(|(name, p)| {
            let s = ProviderSettings {
                enabled: p.enabled,
                client_ids: client_ids(&p.client_id),
                secret: p.secret.clone(),
                redirect_uri: non_empty(&p.redirect_uri),
                url: non_empty(&p.url),
                issuer: non_empty(&p.issuer),
                auth_url: non_empty(&p.auth_url),
                token_url: non_empty(&p.token_url),
                userinfo_url: non_empty(&p.userinfo_url),
                jwks_url: non_empty(&p.jwks_url),
                skip_nonce_check: p.skip_nonce_check,
                email_optional: p.email_optional,
            };
            (name.to_ascii_lowercase(), s)
        })
        .collect();
    ExternalSettings {
        providers,
        manual_linking: auth.enable_manual_linking,
        ..ExternalSettings::default()
    }
}

/// From GoTrue's variables: `GOTRUE_EXTERNAL_<NAME>_ENABLED`, `_CLIENT_ID`, `_SECRET`,
/// `_REDIRECT_URI`, `_URL`, `_SKIP_NONCE_CHECK`, `_EMAIL_OPTIONAL` (and basalt's `_ISSUER`,
/// `_AUTH_URL`, `_TOKEN_URL`, `_USERINFO_URL`, `_JWKS_URL`) for every built-in provider and
/// for any other name listed in `BASALT_EXTERNAL_OIDC` (comma-separated generic OIDC providers).
pub fn from_vars(var: &impl Fn(&str) -> Option<String>) -> Result<ExternalSettings, crate::Error> {
    let mut names: Vec<String> = super::providers::SPECS
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    if let Some(extra) = var("BASALT_EXTERNAL_OIDC") {
        names.extend(
            client_ids(&extra)
                .into_iter()
                .map(|n| n.to_ascii_lowercase()),
        );
    }
    let flag = |k: &str| -> Result<bool, crate::Error> {
        match var(k) {
            None => Ok(false),
            Some(v) => crate::config::parse_bool(&v)
                .ok_or_else(|| crate::Error::Config(format!("{k}: invalid value {v:?}"))),
        }
    };
    let mut out = ExternalSettings {
        manual_linking: flag("GOTRUE_SECURITY_MANUAL_LINKING_ENABLED")?,
        ..ExternalSettings::default()
    };
    if let Some(ttl) = var("GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION") {
        out.state_ttl = crate::config::parse_duration(&ttl).ok_or_else(|| {
            crate::Error::Config(format!(
                "GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION: invalid value {ttl:?}"
            ))
        })?;
    }
    for name in names {
        let key = |suffix: &str| {
            format!(
                "GOTRUE_EXTERNAL_{}_{suffix}",
                name.to_ascii_uppercase().replace('-', "_")
            )
        };
        let get = |suffix: &str| non_empty(&var(&key(suffix)));
        let s = ProviderSettings {
            enabled: flag(&key("ENABLED"))?,
            client_ids: get("CLIENT_ID").map(|v| client_ids(&v)).unwrap_or_default(),
            secret: get("SECRET").unwrap_or_default(),
            redirect_uri: get("REDIRECT_URI"),
            url: get("URL"),
            issuer: get("ISSUER"),
            auth_url: get("AUTH_URL"),
            token_url: get("TOKEN_URL"),
            userinfo_url: get("USERINFO_URL"),
            jwks_url: get("JWKS_URL"),
            skip_nonce_check: flag(&key("SKIP_NONCE_CHECK"))?,
            email_optional: flag(&key("EMAIL_OPTIONAL"))?,
        };
        if s != ProviderSettings::default() {
            out.providers.insert(name, s);
        }
    }
    Ok(out)
}
