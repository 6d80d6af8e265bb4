//! The service's configuration, in one typed struct, read either from GoTrue's environment
//! variables (`basalt auth`) or from the `[auth]` section of `supabase/config.toml`
//! (`basalt start`). Defaults are GoTrue's, except where the Supabase CLI's local defaults
//! differ and the source is `config.toml`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Error;

/// Configuration of the auth service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on when running standalone.
    pub listen: Option<SocketAddr>,
    /// Connection string of the database holding the `auth` schema.
    pub db_url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// Install (or upgrade) the platform schema at start-up, as GoTrue runs its migrations —
    /// on for `basalt auth`; `basalt start` has already done it.
    pub install_schema: bool,
    /// Token signing and verification.
    pub jwt: JwtConfig,
    /// Where the app lives; the default redirect target.
    pub site_url: String,
    /// Other allowed redirect targets (exact URLs or globs with `*` and `**`).
    pub uri_allow_list: Vec<String>,
    /// Public URL of this API, e.g. `http://127.0.0.1:54321/auth/v1`; links in emails point here.
    pub external_url: String,
    /// Whether new users may sign up at all.
    pub disable_signup: bool,
    /// Whether email sign-up and sign-in are enabled.
    pub email_enabled: bool,
    /// Whether phone sign-up and sign-in are enabled.
    pub phone_enabled: bool,
    /// Whether anonymous sign-ins are enabled.
    pub anonymous_enabled: bool,
    /// Email settings.
    pub mailer: MailerConfig,
    /// Text-message settings.
    pub sms: SmsConfig,
    /// Password rules.
    pub password: PasswordConfig,
    /// Require a reauthentication nonce to change a password.
    pub secure_password_change: bool,
    /// Refresh-token rotation.
    pub refresh: RefreshConfig,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Header naming the client's address for per-address limits, set by a trusted proxy
    /// (`GOTRUE_RATE_LIMIT_HEADER`, e.g. `X-Forwarded-For`); without it, the peer address.
    pub rate_limit_header: Option<String>,
    /// Multi-factor authentication.
    pub mfa: MfaConfig,
    /// The custom access token hook, a `pg-functions://` URI, when enabled.
    pub access_token_hook: Option<String>,
    /// CAPTCHA checks on sign-up and sign-in (`crate::captcha`), when enabled.
    pub captcha: Option<crate::captcha::CaptchaConfig>,
    /// External OAuth / OpenID Connect providers and identity linking.
    pub external: crate::external::ExternalSettings,
}

/// JWT settings.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// HS256 secret (always accepted for verification, used for signing unless `keys` has a
    /// private key).
    pub secret: String,
    /// Access-token lifetime in seconds.
    pub exp: i64,
    /// The `aud` claim of issued tokens.
    pub aud: String,
    /// The `iss` claim of issued tokens.
    pub issuer: String,
    /// Roles that may use the admin API.
    pub admin_roles: Vec<String>,
    /// The project's keys (the secret plus any JWK set: `GOTRUE_JWT_KEYS`, or the platform's
    /// `[auth] signing_keys_path`); `None`: the secret alone.
    pub keys: Option<std::sync::Arc<basalt_identity::Keys>>,
}

/// Email settings.
#[derive(Debug, Clone)]
pub struct MailerConfig {
    /// Confirm emails on sign-up without sending anything.
    pub autoconfirm: bool,
    /// Email changes need confirming from both the old and the new address.
    pub secure_email_change: bool,
    /// Lifetime of email links and codes.
    pub otp_exp: Duration,
    /// Digits in email codes.
    pub otp_length: usize,
    /// Minimum time between two emails of one kind to one user.
    pub max_frequency: Duration,
    /// SMTP server; without one, mail goes to the development mailbox.
    pub smtp: Option<SmtpConfig>,
    /// The project's own subjects and bodies, by template name (`confirmation`, `invite`,
    /// `recovery`, `magic_link`, `email_change`, `reauthentication`).
    pub templates: std::collections::HashMap<String, crate::mail::Template>,
}

/// Text messages: through the configured provider (`crate::sms`), else into the development
/// mailbox; test numbers get fixed codes (`[auth.sms.test_otp]`, `GOTRUE_SMS_TEST_OTP`).
#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// The provider (`GOTRUE_SMS_PROVIDER`, or the enabled `[auth.sms.<provider>]`).
    pub provider: Option<crate::sms::ProviderConfig>,
    /// The message, with `{{ .Code }}` for the code.
    pub template: String,
    /// Minimum time between two texts to one user.
    pub max_frequency: Duration,
    /// Confirm phone numbers on sign-up without sending anything.
    pub autoconfirm: bool,
    /// Lifetime of codes.
    pub otp_exp: Duration,
    /// Digits in codes.
    pub otp_length: usize,
    /// Fixed codes for test numbers (digits only, no `+`).
    pub test_otp: std::collections::HashMap<String, String>,
}

/// SMTP settings (`GOTRUE_SMTP_*`, `[auth.email.smtp]`).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub pass: String,
    pub admin_email: String,
    pub sender_name: String,
}

/// Password rules.
#[derive(Debug, Clone)]
pub struct PasswordConfig {
    pub min_length: usize,
    /// Character sets a password must draw from (each a string of allowed characters).
    pub required_characters: Vec<String>,
}

/// Refresh-token rotation.
#[derive(Debug, Clone)]
pub struct RefreshConfig {
    pub rotation_enabled: bool,
    /// Seconds during which a just-rotated token may be used again.
    pub reuse_interval: i64,
    /// Longest life of a session, if limited (`GOTRUE_SESSIONS_TIMEBOX`).
    pub timebox: Option<Duration>,
    /// Longest time a session may go unrefreshed, if limited
    /// (`GOTRUE_SESSIONS_INACTIVITY_TIMEOUT`).
    pub inactivity_timeout: Option<Duration>,
}

/// Request limits per client IP address (and the global email limit), GoTrue's names.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Emails sent per hour, project-wide (`GOTRUE_RATE_LIMIT_EMAIL_SENT`).
    pub email_sent: u32,
    /// Text messages sent per hour, project-wide (`GOTRUE_RATE_LIMIT_SMS_SENT`).
    pub sms_sent: u32,
    /// Anonymous sign-ins per hour per IP (`GOTRUE_RATE_LIMIT_ANONYMOUS_USERS`).
    pub anonymous_users: u32,
    /// Token requests per 5 minutes per IP (`GOTRUE_RATE_LIMIT_TOKEN_REFRESH`).
    pub token_refresh: u32,
    /// Sign-ups, OTP and recovery requests per 5 minutes per IP (`GOTRUE_RATE_LIMIT_OTP`).
    pub otp: u32,
    /// Verifications per 5 minutes per IP (`GOTRUE_RATE_LIMIT_VERIFY`).
    pub verify: u32,
    /// MFA challenges and verifications per minute per IP
    /// (`GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY`).
    pub mfa_challenge_and_verify: u32,
}

/// Multi-factor authentication settings.
#[derive(Debug, Clone)]
pub struct MfaConfig {
    pub totp_enroll_enabled: bool,
    pub totp_verify_enabled: bool,
    pub max_enrolled_factors: usize,
    /// Seconds a challenge stays valid.
    pub challenge_expiry: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: None,
            db_url: String::new(),
            pool_size: 10,
            install_schema: false,
            jwt: JwtConfig {
                secret: String::new(),
                exp: 3600,
                aud: "authenticated".into(),
                issuer: String::new(),
                admin_roles: vec!["service_role".into(), "supabase_admin".into()],
                keys: None,
            },
            site_url: "http://localhost:3000".into(),
            uri_allow_list: Vec::new(),
            external_url: "http://localhost:9999".into(),
            disable_signup: false,
            email_enabled: true,
            phone_enabled: false,
            anonymous_enabled: false,
            mailer: MailerConfig {
                autoconfirm: false,
                secure_email_change: true,
                otp_exp: Duration::from_secs(86400),
                otp_length: 6,
                max_frequency: Duration::from_secs(60),
                smtp: None,
                templates: Default::default(),
            },
            sms: SmsConfig {
                provider: None,
                template: "Your code is {{ .Code }}".into(),
                max_frequency: Duration::from_secs(60),
                autoconfirm: false,
                otp_exp: Duration::from_secs(60),
                otp_length: 6,
                test_otp: Default::default(),
            },
            password: PasswordConfig {
                min_length: 6,
                required_characters: Vec::new(),
            },
            secure_password_change: false,
            refresh: RefreshConfig {
                rotation_enabled: true,
                reuse_interval: 10,
                timebox: None,
                inactivity_timeout: None,
            },
            rate_limit_header: None,
            rate_limits: RateLimits {
                email_sent: 30,
                sms_sent: 30,
                anonymous_users: 30,
                token_refresh: 150,
                otp: 30,
                verify: 30,
                mfa_challenge_and_verify: 15,
            },
            access_token_hook: None,
            captcha: None,
            external: Default::default(),
            mfa: MfaConfig {
                totp_enroll_enabled: true,
                totp_verify_enabled: true,
                max_enrolled_factors: 10,
                challenge_expiry: 300,
            },
        }
    }
}

impl Config {
    /// Configuration from the upstream container's environment variables.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_vars(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Configuration from GoTrue's variables, looked up with `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let mut c = Config {
            install_schema: true,
            ..Config::default()
        };
        let bad = |k: &str, v: &str| Error::Config(format!("{k}: invalid value {v:?}"));
        let flag = |k: &str, default: bool| -> Result<bool, Error> {
            match var(k) {
                None => Ok(default),
                Some(v) => parse_bool(&v).ok_or_else(|| bad(k, &v)),
            }
        };
        let num = |k: &str, default: u64| -> Result<u64, Error> {
            match var(k) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| *n >= 0.0)
                    .map(|n| n as u64)
                    .ok_or_else(|| bad(k, &v)),
            }
        };
        let dur = |k: &str, default: Duration| -> Result<Duration, Error> {
            match var(k) {
                None => Ok(default),
                Some(v) => parse_duration(&v).ok_or_else(|| bad(k, &v)),
            }
        };
        c.db_url = var("GOTRUE_DB_DATABASE_URL")
            .or_else(|| var("DATABASE_URL"))
            .ok_or_else(|| {
                Error::Config("DATABASE_URL or GOTRUE_DB_DATABASE_URL is required".into())
            })?;
        c.jwt.secret = var("GOTRUE_JWT_SECRET")
            .ok_or_else(|| Error::Config("GOTRUE_JWT_SECRET is required".into()))?;
        c.jwt.exp = num("GOTRUE_JWT_EXP", 3600)? as i64;
        if let Some(aud) = var("GOTRUE_JWT_AUD") {
            c.jwt.aud = aud;
        }
        if let Some(roles) = var("GOTRUE_JWT_ADMIN_ROLES") {
            c.jwt.admin_roles = split_list(&roles);
        }
        if let Some(text) = var("GOTRUE_JWT_KEYS") {
            let keys = basalt_identity::Keys::for_project(&c.jwt.secret, Some(&text))
                .map_err(|e| Error::Config(format!("GOTRUE_JWT_KEYS: {e}")))?;
            c.jwt.keys = Some(std::sync::Arc::new(keys));
        }
        if let Some(site) = var("GOTRUE_SITE_URL") {
            c.site_url = site;
        }
        if let Some(list) = var("GOTRUE_URI_ALLOW_LIST") {
            c.uri_allow_list = split_list(&list);
        }
        // Like GoTrue, all interfaces unless a host is given (it runs in a container).
        let host = var("GOTRUE_API_HOST").unwrap_or_else(|| "0.0.0.0".into());
        let port = var("PORT")
            .or_else(|| var("GOTRUE_API_PORT"))
            .map(|p| p.trim().parse::<u16>().map_err(|_| bad("PORT", &p)))
            .transpose()?
            .unwrap_or(9999);
        let ip: std::net::IpAddr = if host == "localhost" {
            [127, 0, 0, 1].into()
        } else {
            host.parse().map_err(|_| bad("GOTRUE_API_HOST", &host))?
        };
        c.listen = Some(SocketAddr::new(ip, port));
        c.external_url = var("API_EXTERNAL_URL")
            .unwrap_or_else(|| format!("http://localhost:{port}"))
            .trim_end_matches('/')
            .to_string();
        c.jwt.issuer = var("GOTRUE_JWT_ISSUER").unwrap_or_else(|| c.external_url.clone());
        c.disable_signup = flag("GOTRUE_DISABLE_SIGNUP", false)?;
        c.email_enabled = flag("GOTRUE_EXTERNAL_EMAIL_ENABLED", true)?;
        c.phone_enabled = flag("GOTRUE_EXTERNAL_PHONE_ENABLED", false)?;
        c.sms.autoconfirm = flag("GOTRUE_SMS_AUTOCONFIRM", false)?;
        c.sms.otp_exp = Duration::from_secs(num("GOTRUE_SMS_OTP_EXP", 60)?);
        c.sms.otp_length = num("GOTRUE_SMS_OTP_LENGTH", 6)?.clamp(6, 10) as usize;
        if let Some(list) = var("GOTRUE_SMS_TEST_OTP") {
            for pair in split_list(&list) {
                let (phone, otp) = pair
                    .split_once(':')
                    .ok_or_else(|| bad("GOTRUE_SMS_TEST_OTP", &pair))?;
                c.sms.test_otp.insert(digits(phone), otp.trim().to_string());
            }
        }
        if let Some(t) = var("GOTRUE_SMS_TEMPLATE") {
            c.sms.template = t;
        }
        c.sms.max_frequency = dur("GOTRUE_SMS_MAX_FREQUENCY", Duration::from_secs(60))?;
        if let Some(name) = var("GOTRUE_SMS_PROVIDER") {
            let prefix = format!("GOTRUE_SMS_{}_", name.to_ascii_uppercase());
            let setting = |k: &str| var(&format!("{prefix}{}", k.to_ascii_uppercase()));
            let provider = crate::sms::Provider::from_settings(&name, setting)
                .map_err(|e| Error::Config(format!("GOTRUE_SMS_PROVIDER: {e}")))?;
            c.sms.provider = Some(crate::sms::ProviderConfig {
                provider,
                api_url: setting("api_url"),
            });
        }
        if flag("GOTRUE_SECURITY_CAPTCHA_ENABLED", false)? {
            c.captcha = Some(crate::captcha::CaptchaConfig {
                provider: var("GOTRUE_SECURITY_CAPTCHA_PROVIDER")
                    .unwrap_or_else(|| "hcaptcha".into()),
                secret: var("GOTRUE_SECURITY_CAPTCHA_SECRET").unwrap_or_default(),
                verify_url: var("GOTRUE_SECURITY_CAPTCHA_VERIFY_URL"),
                timeout: dur("GOTRUE_SECURITY_CAPTCHA_TIMEOUT", Duration::from_secs(10))?,
            });
        }
        c.anonymous_enabled = flag("GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED", false)?;
        c.mailer.autoconfirm = flag("GOTRUE_MAILER_AUTOCONFIRM", false)?;
        c.mailer.secure_email_change = flag("GOTRUE_MAILER_SECURE_EMAIL_CHANGE_ENABLED", true)?;
        c.mailer.otp_exp = Duration::from_secs(num("GOTRUE_MAILER_OTP_EXP", 86400)?);
        c.mailer.otp_length = num("GOTRUE_MAILER_OTP_LENGTH", 6)?.clamp(6, 10) as usize;
        c.mailer.max_frequency = dur("GOTRUE_SMTP_MAX_FREQUENCY", Duration::from_secs(60))?;
        if let Some(host) = var("GOTRUE_SMTP_HOST") {
            c.mailer.smtp = Some(SmtpConfig {
                host,
                port: num("GOTRUE_SMTP_PORT", 587)? as u16,
                user: var("GOTRUE_SMTP_USER").unwrap_or_default(),
                pass: var("GOTRUE_SMTP_PASS").unwrap_or_default(),
                admin_email: var("GOTRUE_SMTP_ADMIN_EMAIL")
                    .unwrap_or_else(|| "admin@example.com".into()),
                sender_name: var("GOTRUE_SMTP_SENDER_NAME").unwrap_or_default(),
            });
        }
        for kind in crate::mail::Kind::ALL {
            let name = kind.template_name();
            let key = format!("GOTRUE_MAILER_SUBJECTS_{}", name.to_ascii_uppercase());
            if let Some(subject) = var(&key) {
                c.mailer
                    .templates
                    .entry(name.to_string())
                    .or_default()
                    .subject = Some(subject);
            }
        }
        c.password.min_length = num("GOTRUE_PASSWORD_MIN_LENGTH", 6)?.max(6) as usize;
        if let Some(req) = var("GOTRUE_PASSWORD_REQUIRED_CHARACTERS") {
            c.password.required_characters = parse_required_characters(&req);
        }
        c.secure_password_change = flag(
            "GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION",
            false,
        )?;
        c.refresh.rotation_enabled = flag("GOTRUE_SECURITY_REFRESH_TOKEN_ROTATION_ENABLED", true)?;
        c.refresh.reuse_interval = num("GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL", 10)? as i64;
        let limit = |k: &str| -> Result<Option<Duration>, Error> {
            Ok(Some(dur(k, Duration::ZERO)?).filter(|d| !d.is_zero()))
        };
        c.refresh.timebox = limit("GOTRUE_SESSIONS_TIMEBOX")?;
        c.refresh.inactivity_timeout = limit("GOTRUE_SESSIONS_INACTIVITY_TIMEOUT")?;
        c.rate_limit_header = var("GOTRUE_RATE_LIMIT_HEADER");
        let r = &mut c.rate_limits;
        r.email_sent = num("GOTRUE_RATE_LIMIT_EMAIL_SENT", 30)? as u32;
        r.sms_sent = num("GOTRUE_RATE_LIMIT_SMS_SENT", 30)? as u32;
        r.anonymous_users = num("GOTRUE_RATE_LIMIT_ANONYMOUS_USERS", 30)? as u32;
        r.token_refresh = num("GOTRUE_RATE_LIMIT_TOKEN_REFRESH", 150)? as u32;
        r.otp = num("GOTRUE_RATE_LIMIT_OTP", 30)? as u32;
        r.verify = num("GOTRUE_RATE_LIMIT_VERIFY", 30)? as u32;
        r.mfa_challenge_and_verify = num("GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY", 15)? as u32;
        c.mfa.totp_enroll_enabled = flag("GOTRUE_MFA_TOTP_ENROLL_ENABLED", true)?;
        c.mfa.totp_verify_enabled = flag("GOTRUE_MFA_TOTP_VERIFY_ENABLED", true)?;
        c.mfa.max_enrolled_factors = num("GOTRUE_MFA_MAX_ENROLLED_FACTORS", 10)? as usize;
        c.mfa.challenge_expiry = num("GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION", 300)? as i64;
        c.pool_size = num("GOTRUE_DB_MAX_POOL_SIZE", 10)? as usize;
        if flag("GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_ENABLED", false)? {
            c.access_token_hook = var("GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_URI");
        }
        c.external = crate::external::settings::from_vars(&var)?;
        Ok(c)
    }

    /// Configuration under `basalt start`: the `[auth]` section, the platform's keys and URLs,
    /// and the email templates' bodies read from their `content_path` (relative to the project).
    pub fn from_platform(platform: &basalt_pg::Platform) -> Config {
        let external = format!("{}/auth/v1", platform.api_url.trim_end_matches('/'));
        let section = &platform.config.auth;
        let mut c = Config::from_project(section, &external);
        c.db_url = platform.db_url.clone();
        c.jwt.secret = platform.jwt_secret.clone();
        c.jwt.keys = Some(platform.keys.clone());
        if !platform.site_url.is_empty() {
            c.site_url = platform.site_url.clone();
        }
        for (name, t) in &section.email.template {
            let Some(path) = &t.content_path else {
                continue;
            };
            let full = platform.project_dir.join(path);
            match std::fs::read_to_string(&full) {
                Ok(body) => c.mailer.templates.entry(name.clone()).or_default().body = Some(body),
                Err(e) => tracing::warn!(path = %full.display(), error = %e,
                    "cannot read an email template; using the default"),
            }
        }
        c
    }

    /// Configuration from the typed `[auth]` section (defaults are the Supabase CLI's local ones,
    /// in `basalt_config`).
    pub fn from_project(auth: &basalt_config::AuthConfig, external_url: &str) -> Config {
        let mut c = Config {
            external_url: external_url.trim_end_matches('/').to_string(),
            ..Config::default()
        };
        c.jwt.issuer = auth
            .jwt_issuer
            .clone()
            .unwrap_or_else(|| c.external_url.clone());
        c.jwt.exp = i64::try_from(auth.jwt_expiry).unwrap_or(i64::MAX);
        c.site_url = auth.site_url.clone();
        c.uri_allow_list = auth.additional_redirect_urls.clone();
        c.disable_signup = !auth.enable_signup;
        c.email_enabled = auth.email.enable_signup;
        c.phone_enabled = auth.sms.enable_signup;
        c.sms.autoconfirm = !auth.sms.enable_confirmations;
        for (phone, otp) in &auth.sms.test_otp {
            c.sms.test_otp.insert(digits(phone), otp.clone());
        }
        c.sms.template = auth.sms.template.clone();
        c.sms.max_frequency = auth.sms.max_frequency.0;
        c.sms.provider = sms_provider(&auth.sms);
        if auth.captcha.enabled {
            c.captcha = Some(crate::captcha::CaptchaConfig {
                provider: auth.captcha.provider.clone(),
                secret: auth.captcha.secret.clone().unwrap_or_default(),
                verify_url: auth.captcha.verify_url.clone(),
                timeout: Duration::from_secs(10),
            });
        }
        c.anonymous_enabled = auth.enable_anonymous_sign_ins;
        c.refresh.rotation_enabled = auth.enable_refresh_token_rotation;
        c.refresh.reuse_interval = i64::try_from(auth.refresh_token_reuse_interval).unwrap_or(10);
        let limit = |d: Option<basalt_config::Seconds>| d.map(|d| d.0).filter(|t| !t.is_zero());
        c.refresh.timebox = limit(auth.sessions.timebox);
        c.refresh.inactivity_timeout = limit(auth.sessions.inactivity_timeout);
        c.password.min_length = auth.minimum_password_length.max(6) as usize;
        if let Some(req) = &auth.password_requirements {
            c.password.required_characters = match req.as_str() {
                "letters_digits" => parse_required_characters("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789"),
                "lower_upper_letters_digits" => parse_required_characters("abcdefghijklmnopqrstuvwxyz:ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789"),
                "lower_upper_letters_digits_symbols" => parse_required_characters("abcdefghijklmnopqrstuvwxyz:ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789:!@#$%^&*()_+-=[]{};'\\\\:\"|<>?,./`~"),
                _ => Vec::new(),
            };
        }
        let email = &auth.email;
        c.mailer.autoconfirm = !email.enable_confirmations;
        c.mailer.secure_email_change = email.double_confirm_changes;
        c.secure_password_change = email.secure_password_change;
        c.mailer.max_frequency = email.max_frequency.0;
        c.mailer.otp_length = email.otp_length.clamp(6, 10) as usize;
        c.mailer.otp_exp = Duration::from_secs(email.otp_expiry);
        let smtp = &email.smtp;
        if let (true, Some(host)) = (smtp.enabled.unwrap_or(smtp.host.is_some()), &smtp.host) {
            c.mailer.smtp = Some(SmtpConfig {
                host: host.clone(),
                port: smtp.port,
                user: smtp.user.clone().unwrap_or_default(),
                pass: smtp.pass.clone().unwrap_or_default(),
                admin_email: smtp
                    .admin_email
                    .clone()
                    .unwrap_or_else(|| "admin@email.com".into()),
                sender_name: smtp.sender_name.clone().unwrap_or_default(),
            });
        }
        for (name, t) in &email.template {
            if let Some(subject) = &t.subject {
                c.mailer.templates.entry(name.clone()).or_default().subject = Some(subject.clone());
            }
        }
        let (r, l) = (&mut c.rate_limits, &auth.rate_limit);
        r.email_sent = l.email_sent;
        r.sms_sent = l.sms_sent;
        r.anonymous_users = l.anonymous_users;
        r.token_refresh = l.token_refresh;
        r.otp = l.sign_in_sign_ups;
        r.verify = l.token_verifications;
        if auth.hook.custom_access_token.enabled {
            c.access_token_hook = auth.hook.custom_access_token.uri.clone();
        }
        c.mfa.max_enrolled_factors = auth.mfa.max_enrolled_factors as usize;
        c.mfa.totp_enroll_enabled = auth.mfa.totp.enroll_enabled;
        c.mfa.totp_verify_enabled = auth.mfa.totp.verify_enabled;
        c.external = crate::external::settings::from_project(auth);
        c
    }
}

/// The enabled `[auth.sms.<provider>]` (the first, should several be); one missing a required
/// key is left out with a warning, and texts go to the development mailbox.
fn sms_provider(sms: &basalt_config::SmsConfig) -> Option<crate::sms::ProviderConfig> {
    let (name, p) = [
        ("twilio", &sms.twilio),
        ("twilio_verify", &sms.twilio_verify),
        ("messagebird", &sms.messagebird),
        ("textlocal", &sms.textlocal),
        ("vonage", &sms.vonage),
    ]
    .into_iter()
    .find(|(_, p)| p.enabled)?;
    let get = |k: &str| {
        match k {
            "account_sid" => &p.account_sid,
            "auth_token" => &p.auth_token,
            "message_service_sid" => &p.message_service_sid,
            "content_sid" => &p.content_sid,
            "originator" => &p.originator,
            "access_key" => &p.access_key,
            "sender" => &p.sender,
            "from" => &p.from,
            "api_key" => &p.api_key,
            "api_secret" => &p.api_secret,
            _ => &None,
        }
        .clone()
    };
    match crate::sms::Provider::from_settings(name, get) {
        Ok(provider) => Some(crate::sms::ProviderConfig {
            provider,
            api_url: p.api_url.clone(),
        }),
        Err(e) => {
            tracing::warn!("[auth.sms.{name}]: {e}; texts go to the development mailbox");
            None
        }
    }
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A phone number as stored: digits only.
fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// GoTrue's required-characters syntax: sets separated by `:` (a `\:` is a literal colon).
fn parse_required_characters(v: &str) -> Vec<String> {
    let mut sets = Vec::new();
    let mut cur = String::new();
    let mut chars = v.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' if chars.peek() == Some(&':') => {
                cur.push(':');
                chars.next();
            }
            ':' => sets.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    sets.push(cur);
    sets.retain(|s| !s.is_empty());
    sets
}

pub use basalt_config::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn env_variables() {
        let vars: HashMap<&str, &str> = [
            ("DATABASE_URL", "postgres://x@localhost/db"),
            ("GOTRUE_JWT_SECRET", "s3cret"),
            ("GOTRUE_JWT_EXP", "600"),
            ("GOTRUE_SITE_URL", "http://app.test"),
            ("API_EXTERNAL_URL", "http://api.test/auth/v1/"),
            ("GOTRUE_MAILER_AUTOCONFIRM", "true"),
            ("PORT", "9998"),
            ("GOTRUE_SMTP_HOST", "smtp.test"),
            ("GOTRUE_SMTP_PORT", "2525"),
            ("GOTRUE_RATE_LIMIT_EMAIL_SENT", "5"),
            ("GOTRUE_PASSWORD_REQUIRED_CHARACTERS", "abc:123:\\:x"),
        ]
        .into_iter()
        .collect();
        let c = Config::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.jwt.exp, 600);
        assert_eq!(c.external_url, "http://api.test/auth/v1");
        assert_eq!(c.jwt.issuer, "http://api.test/auth/v1");
        assert!(c.mailer.autoconfirm);
        assert_eq!(c.listen.unwrap().port(), 9998);
        assert_eq!(c.mailer.smtp.as_ref().unwrap().port, 2525);
        assert_eq!(c.rate_limits.email_sent, 5);
        assert_eq!(c.password.required_characters, vec!["abc", "123", ":x"]);
    }

    #[test]
    fn env_requires_secret_and_database() {
        assert!(Config::from_vars(|_| None).is_err());
        let bad = Config::from_vars(|k| match k {
            "DATABASE_URL" => Some("x".into()),
            "GOTRUE_JWT_SECRET" => Some("s".into()),
            "GOTRUE_MAILER_AUTOCONFIRM" => Some("maybe".into()),
            _ => None,
        });
        assert!(bad.is_err());
    }

    #[test]
    fn platform_settings_and_templates() {
        let dir = std::env::temp_dir().join(format!("basalt-auth-cfg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("supabase")).unwrap();
        std::fs::write(dir.join("invite.html"), "Join {{ .SiteURL }}").unwrap();
        let platform = basalt_pg::Platform {
            db_url: "postgres://x@localhost/db".into(),
            jwt_secret: "secret".into(),
            api_url: "http://127.0.0.1:54321/".into(),
            site_url: "http://localhost:3000".into(),
            project_dir: dir.clone(),
            authenticator_password: None,
            keys: std::sync::Arc::new(basalt_identity::Keys::from_secret("secret")),
            config: std::sync::Arc::new(
                basalt_config::load(
                    "[auth]\njwt_expiry = 600\n[auth.email.template.invite]\nsubject = \"Join us\"\ncontent_path = \"./invite.html\"\n",
                )
                .unwrap(),
            ),
        };
        let c = Config::from_platform(&platform);
        assert_eq!(c.external_url, "http://127.0.0.1:54321/auth/v1");
        assert_eq!(c.jwt.secret, "secret");
        assert_eq!(c.jwt.exp, 600);
        assert_eq!(c.site_url, "http://localhost:3000");
        assert!(c.jwt.keys.is_some());
        assert_eq!(
            c.mailer.templates["invite"],
            crate::mail::Template {
                subject: Some("Join us".into()),
                body: Some("Join {{ .SiteURL }}".into())
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_toml_section() {
        let project = basalt_config::load(
            r#"
[auth]
site_url = "http://localhost:3000"
jwt_expiry = 120
enable_signup = true
enable_anonymous_sign_ins = true
minimum_password_length = 8
[auth.email]
enable_confirmations = true
max_frequency = "5s"
[auth.rate_limit]
email_sent = 2
sign_in_sign_ups = 7
[auth.sms]
enable_signup = true
enable_confirmations = true
[auth.sms.test_otp]
"+1 555 0100" = "123456"
[auth.mfa.totp]
enroll_enabled = false
"#,
        )
        .unwrap();
        let c = Config::from_project(&project.auth, "http://127.0.0.1:54321/auth/v1");
        assert_eq!(c.jwt.exp, 120);
        assert!(c.anonymous_enabled);
        assert!(!c.mailer.autoconfirm);
        assert_eq!(c.password.min_length, 8);
        assert_eq!(c.mailer.max_frequency, Duration::from_secs(5));
        assert_eq!(c.rate_limits.email_sent, 2);
        assert_eq!(c.rate_limits.otp, 7);
        assert!(!c.mfa.totp_enroll_enabled);
        assert!(c.phone_enabled);
        assert!(!c.sms.autoconfirm);
        assert_eq!(c.sms.test_otp["15550100"], "123456");
        assert_eq!(c.jwt.issuer, "http://127.0.0.1:54321/auth/v1");
        // Local default: confirmations off, so sign-ups are confirmed at once.
        let local = Config::from_project(&Default::default(), "http://x/auth/v1");
        assert!(local.mailer.autoconfirm);
    }
}
