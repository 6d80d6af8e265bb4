//! External sign-in: OAuth 2.0 and OpenID Connect providers (`/authorize`, `/callback`), ID
//! tokens (`/token?grant_type=id_token`) and identities (`/user/identities/…`), as GoTrue has
//! them.
//!
//! A sign-in flows one way: `/authorize` resolves the provider ([`provider`]: the built-in
//! table in [`providers`] with the project's `[auth.external.<name>]` over it, or any OpenID
//! provider found by discovery), stores a flow row (`auth.flow_state`, with the client's PKCE
//! challenge) and sends the browser to the provider with a signed, expiring `state`
//! ([`oauth_state`]). `/callback` checks the state and claims its row, trades the code for
//! tokens and reads the user ([`profile`]), then [`account`] decides as GoTrue does whether
//! this is a known identity, a new identity of an existing user (same verified email) or a new
//! user, and the browser goes back to the (allow-listed, [`crate::redirect`]) `redirect_to`
//! with tokens in the fragment or, for PKCE, a `?code=` for `/token?grant_type=pkce`. ID tokens
//! are verified against the provider's JWK set ([`client`]). The handlers are in [`api`].

pub mod account;
pub mod api;
pub mod client;
pub mod oauth_state;
pub mod profile;
pub mod providers;
pub mod settings;

pub use settings::{ExternalSettings, ProviderSettings};

use crate::error::ApiError;
use client::IssuerRule;
use providers::{Profile, Spec};

/// A provider ready to use: its settings and every endpoint resolved.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub spec: &'static Spec,
    pub settings: ProviderSettings,
    pub auth_url: String,
    pub token_url: String,
    pub userinfo_url: Option<String>,
    /// The API base (secondary user endpoints such as GitHub's `/user/emails`).
    pub api: String,
    pub jwks_url: Option<String>,
    pub issuer: Option<IssuerRule>,
    /// This service's callback, as registered with the provider.
    pub redirect_uri: String,
}

/// GoTrue's answer for a provider that cannot be used.
fn unsupported(detail: String) -> ApiError {
    ApiError::Validation(format!("Unsupported provider: {detail}"))
}

/// The spec for `name`: built in, or a configured generic OpenID provider.
fn spec_for(name: &str, settings: Option<&ProviderSettings>) -> Option<&'static Spec> {
    providers::builtin(name).or_else(|| {
        settings
            .filter(|s| s.issuer.is_some() || s.url.is_some())
            .map(|_| &providers::GENERIC_OIDC)
    })
}

/// Names of the enabled providers (for `/settings`).
pub fn enabled(config: &crate::Config) -> Vec<String> {
    config
        .external
        .providers
        .iter()
        .filter(|(n, s)| s.enabled && spec_for(n, Some(s)).is_some())
        .map(|(n, _)| n.clone())
        .collect()
}

fn join(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else {
        format!("{}{path}", base.trim_end_matches('/'))
    }
}

/// Resolve the enabled provider `name` (lower-cased), discovering OpenID endpoints as needed.
pub async fn provider(config: &crate::Config, name: &str) -> Result<Provider, ApiError> {
    let name = name.trim().to_ascii_lowercase();
    let settings = config.external.providers.get(&name);
    let spec = spec_for(&name, settings)
        .ok_or_else(|| unsupported(format!("Provider {name} could not be found")))?;
    let settings = settings.cloned().unwrap_or_default();
    if !settings.enabled {
        return Err(unsupported("provider is not enabled".into()));
    }
    if settings.client_id().is_empty() {
        return Err(unsupported("missing OAuth client ID".into()));
    }
    let url = settings
        .url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string());
    if spec.base.is_empty() && url.is_none() && settings.issuer.is_none() {
        return Err(unsupported(format!(
            "unable to find URL for the {name} provider"
        )));
    }
    let base = match &url {
        Some(u) => format!("{u}{}", spec.base_suffix),
        None => spec.base.to_string(),
    };
    let api = match &url {
        Some(u) => format!("{u}{}", spec.api_suffix),
        None => spec.api.to_string(),
    };
    let relative = |path: &str| (!path.is_empty()).then(|| join(&base, path));
    let mut auth_url = relative(spec.auth_path);
    let mut token_url = (!spec.token_path.is_empty()).then(|| {
        join(
            if spec.token_on_api { &api } else { &base },
            spec.token_path,
        )
    });
    let mut userinfo_url = (!spec.userinfo_path.is_empty()).then(|| join(&api, spec.userinfo_path));
    let mut jwks_url = spec.jwks.map(|p| join(&base, p));
    // Issuers: configured, else the provider's (Azure: the tenant's, or any tenant).
    let issuer_text = settings.issuer.clone().or_else(|| match (&url, spec.name) {
        (Some(u), "azure") => Some(format!("{u}/v2.0")),
        (Some(u), _) if spec.profile == Profile::Oidc => Some(u.clone()),
        (None, _) => spec.issuer.map(str::to_string),
        _ => spec.issuer.map(str::to_string),
    });
    let issuer = match (&issuer_text, spec.name) {
        (Some(i), _) => Some(IssuerRule::Exact(i.clone())),
        (None, "azure") => Some(IssuerRule::Prefix(
            "https://login.microsoftonline.com/".into(),
        )),
        _ => None,
    };
    // An OpenID provider moved by configuration (or a generic one) is found by discovery.
    let moved = url.is_some() || settings.issuer.is_some();
    if spec.profile == Profile::Oidc && moved {
        if let Some(iss) = &issuer_text {
            match client::discover(iss).await {
                Ok(doc) => {
                    let s = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_string);
                    auth_url = s("authorization_endpoint").or(auth_url);
                    token_url = s("token_endpoint").or(token_url);
                    userinfo_url = s("userinfo_endpoint").or(userinfo_url);
                    jwks_url = s("jwks_uri").or(jwks_url);
                }
                Err(e) if spec.auth_path.is_empty() => {
                    return Err(ApiError::internal("OpenID discovery", e));
                }
                Err(e) => tracing::debug!(error = %e, "no OpenID discovery; using fixed paths"),
            }
        }
    }
    let auth_url = settings.auth_url.clone().or(auth_url);
    let token_url = settings.token_url.clone().or(token_url);
    let (Some(auth_url), Some(token_url)) = (auth_url, token_url) else {
        return Err(unsupported(format!("no endpoints known for {name}")));
    };
    Ok(Provider {
        redirect_uri: settings
            .redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{}/callback", config.external_url)),
        userinfo_url: settings.userinfo_url.clone().or(userinfo_url),
        jwks_url: settings.jwks_url.clone().or(jwks_url),
        name,
        spec,
        auth_url,
        token_url,
        api,
        issuer,
        settings,
    })
}

/// The provider an ID token is for: by `provider` name, else by its issuer.
pub async fn provider_for_id_token(
    config: &crate::Config,
    name: Option<&str>,
    issuer: Option<&str>,
) -> Result<Provider, ApiError> {
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => n.to_ascii_lowercase(),
        None => {
            let iss = issuer.unwrap_or("").trim_end_matches('/');
            let mut found = None;
            for (n, s) in &config.external.providers {
                let known = spec_for(n, Some(s))
                    .and_then(|spec| spec.issuer)
                    .map(str::to_string);
                let configured = s.issuer.clone().or_else(|| s.url.clone()).or(known);
                if configured.is_some_and(|c| c.trim_end_matches('/') == iss) {
                    found = Some(n.clone());
                    break;
                }
            }
            found.ok_or_else(|| {
                ApiError::Validation(format!("Custom OIDC provider \"{iss}\" not allowed"))
            })?
        }
    };
    let settings = config.external.providers.get(&name);
    let spec = spec_for(&name, settings)
        .filter(|s| s.id_token_grant)
        .ok_or_else(|| {
            ApiError::Validation(format!("Custom OIDC provider \"{name}\" not allowed"))
        })?;
    if !settings.is_some_and(|s| s.enabled) {
        let issuer = settings
            .and_then(|s| s.issuer.clone().or_else(|| s.url.clone()))
            .or(spec.issuer.map(str::to_string))
            .unwrap_or_default();
        return Err(ApiError::Coded {
            status: 400,
            code: "provider_disabled",
            message: format!("Provider (issuer \"{issuer}\") is not enabled"),
        });
    }
    provider(config, &name).await
}
