//! `[auth]` and its tables, as the Supabase CLI writes them, with its local defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::Seconds;

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub site_url: String,
    pub additional_redirect_urls: Vec<String>,
    pub jwt_secret: Option<String>,
    /// A JWK set file, relative to `supabase/`, whose first private key signs access tokens.
    pub signing_keys_path: Option<String>,
    /// Access-token lifetime in seconds.
    pub jwt_expiry: u64,
    pub jwt_issuer: Option<String>,
    pub enable_signup: bool,
    pub enable_anonymous_sign_ins: bool,
    pub enable_refresh_token_rotation: bool,
    pub refresh_token_reuse_interval: u64,
    pub minimum_password_length: u64,
    /// `letters_digits`, `lower_upper_letters_digits`, `lower_upper_letters_digits_symbols`.
    pub password_requirements: Option<String>,
    pub sessions: SessionsConfig,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub captcha: CaptchaConfig,
    pub rate_limit: RateLimitConfig,
    pub hook: HookConfig,
    pub mfa: MfaConfig,
    /// Whether signed-in users may link and unlink identities themselves.
    pub enable_manual_linking: bool,
    /// `[auth.external.<provider>]`: OAuth and OpenID Connect providers by name.
    pub external: BTreeMap<String, ExternalConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            site_url: "http://127.0.0.1:3000".into(),
            additional_redirect_urls: Vec::new(),
            jwt_secret: None,
            signing_keys_path: None,
            jwt_expiry: 3600,
            jwt_issuer: None,
            enable_signup: true,
            enable_anonymous_sign_ins: false,
            enable_refresh_token_rotation: true,
            refresh_token_reuse_interval: 10,
            minimum_password_length: 6,
            password_requirements: None,
            sessions: SessionsConfig::default(),
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
            captcha: CaptchaConfig::default(),
            rate_limit: RateLimitConfig::default(),
            hook: HookConfig::default(),
            mfa: MfaConfig::default(),
            enable_manual_linking: false,
            external: BTreeMap::new(),
        }
    }
}

/// `[auth.external.<provider>]`, as the Supabase CLI writes it, plus basalt's endpoint keys
/// (`auth_url`, `token_url`, `userinfo_url`, `jwks_url`, `issuer`) that override a provider's
/// built-in endpoints (for a self-hosted instance, or a local fake in tests).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExternalConfig {
    pub enabled: bool,
    /// One client id, or several separated by commas (all accepted as ID token audiences).
    pub client_id: String,
    pub secret: String,
    /// The callback URL registered with the provider; default `<API URL>/auth/v1/callback`.
    pub redirect_uri: Option<String>,
    /// The provider's base URL (self-hosted GitLab, a Keycloak realm, an OIDC issuer, …).
    pub url: Option<String>,
    pub skip_nonce_check: bool,
    pub email_optional: bool,
    pub issuer: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
}

/// `[auth.sessions]`: zero or absent means no limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SessionsConfig {
    pub timebox: Option<Seconds>,
    pub inactivity_timeout: Option<Seconds>,
}

/// `[auth.email]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EmailConfig {
    pub enable_signup: bool,
    pub enable_confirmations: bool,
    pub double_confirm_changes: bool,
    pub secure_password_change: bool,
    pub max_frequency: Seconds,
    pub otp_length: u64,
    /// Seconds.
    pub otp_expiry: u64,
    pub smtp: SmtpConfig,
    /// `[auth.email.template.<name>]`.
    pub template: BTreeMap<String, TemplateConfig>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            enable_signup: true,
            enable_confirmations: false,
            double_confirm_changes: true,
            secure_password_change: false,
            max_frequency: Seconds(Duration::from_secs(1)),
            otp_length: 6,
            otp_expiry: 3600,
            smtp: SmtpConfig::default(),
            template: BTreeMap::new(),
        }
    }
}

/// `[auth.email.smtp]`: used when `enabled` (by default: when a `host` is given).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub enabled: Option<bool>,
    pub host: Option<String>,
    pub port: u16,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub admin_email: Option<String>,
    pub sender_name: Option<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            enabled: None,
            host: None,
            port: 587,
            user: None,
            pass: None,
            admin_email: None,
            sender_name: None,
        }
    }
}

/// `[auth.email.template.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TemplateConfig {
    pub subject: Option<String>,
    /// The body's file, relative to the project directory.
    pub content_path: Option<String>,
}

/// `[auth.sms]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmsConfig {
    pub enable_signup: bool,
    pub enable_confirmations: bool,
    /// The message, a Go template: `{{ .Code }}` is the code.
    pub template: String,
    /// Minimum time between two texts to one user.
    pub max_frequency: Seconds,
    /// Fixed codes for test numbers: phone → code.
    pub test_otp: BTreeMap<String, String>,
    pub twilio: SmsProviderConfig,
    pub twilio_verify: SmsProviderConfig,
    pub messagebird: SmsProviderConfig,
    pub textlocal: SmsProviderConfig,
    pub vonage: SmsProviderConfig,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            enable_signup: false,
            enable_confirmations: false,
            template: "Your code is {{ .Code }}".into(),
            max_frequency: Seconds(Duration::from_secs(5)),
            test_otp: BTreeMap::new(),
            twilio: SmsProviderConfig::default(),
            twilio_verify: SmsProviderConfig::default(),
            messagebird: SmsProviderConfig::default(),
            textlocal: SmsProviderConfig::default(),
            vonage: SmsProviderConfig::default(),
        }
    }
}

/// `[auth.sms.<provider>]`: each provider reads its own keys (twilio and twilio_verify:
/// `account_sid`, `message_service_sid`, `auth_token`; messagebird: `originator`,
/// `access_key`; textlocal: `sender`, `api_key`; vonage: `from`, `api_key`, `api_secret`).
/// `api_url` (basalt's) replaces the provider's API base URL, e.g. for a local fake.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SmsProviderConfig {
    pub enabled: bool,
    pub account_sid: Option<String>,
    pub message_service_sid: Option<String>,
    pub auth_token: Option<String>,
    pub content_sid: Option<String>,
    pub originator: Option<String>,
    pub access_key: Option<String>,
    pub sender: Option<String>,
    pub from: Option<String>,
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    pub api_url: Option<String>,
}

/// `[auth.captcha]`: `provider` is `hcaptcha` or `turnstile`; `verify_url` (basalt's) replaces
/// the provider's verification endpoint, e.g. for a local fake.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CaptchaConfig {
    pub enabled: bool,
    pub provider: String,
    pub secret: Option<String>,
    pub verify_url: Option<String>,
}

impl Default for CaptchaConfig {
    fn default() -> Self {
        CaptchaConfig {
            enabled: false,
            provider: "hcaptcha".into(),
            secret: None,
            verify_url: None,
        }
    }
}

/// `[auth.rate_limit]`: events per hour (per five minutes for refreshes and verifications).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub email_sent: u32,
    pub sms_sent: u32,
    pub anonymous_users: u32,
    pub token_refresh: u32,
    pub sign_in_sign_ups: u32,
    pub token_verifications: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            email_sent: 30,
            sms_sent: 30,
            anonymous_users: 30,
            token_refresh: 150,
            sign_in_sign_ups: 30,
            token_verifications: 30,
        }
    }
}

/// `[auth.hook]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HookConfig {
    pub custom_access_token: HookEntry,
}

/// One `[auth.hook.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HookEntry {
    pub enabled: bool,
    pub uri: Option<String>,
}

/// `[auth.mfa]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MfaConfig {
    pub max_enrolled_factors: u64,
    pub totp: TotpConfig,
}

impl Default for MfaConfig {
    fn default() -> Self {
        MfaConfig {
            max_enrolled_factors: 10,
            totp: TotpConfig::default(),
        }
    }
}

/// `[auth.mfa.totp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TotpConfig {
    pub enroll_enabled: bool,
    pub verify_enabled: bool,
}

impl Default for TotpConfig {
    fn default() -> Self {
        TotpConfig {
            enroll_enabled: true,
            verify_enabled: true,
        }
    }
}
