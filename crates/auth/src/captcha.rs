//! CAPTCHA protection as GoTrue applies it (`internal/security/captcha.go`, its `verifyCaptcha`
//! middleware): with `[auth.captcha] enabled`, sign-up (anonymous too), password sign-in
//! (`/token` except the refresh, PKCE and ID token grants), `/otp`, `/magiclink`, `/recover`,
//! `/resend` and `/sso` need `gotrue_meta_security.captcha_token` in their JSON body, which is
//! checked with the provider's `siteverify` endpoint (hCaptcha or Cloudflare Turnstile; the URL
//! can be replaced, e.g. by a local fake). Requests with an admin token skip the check.
//! A missing token or a failed check is 400 `captcha_failed`; an unreachable verifier is 500.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{parse_query, Client, BODY_LIMIT};
use crate::state::AppState;

/// `[auth.captcha]`, `GOTRUE_SECURITY_CAPTCHA_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptchaConfig {
    /// `hcaptcha` or `turnstile`.
    pub provider: String,
    pub secret: String,
    /// Replaces the provider's verification endpoint.
    pub verify_url: Option<String>,
    pub timeout: Duration,
}

impl CaptchaConfig {
    /// The verification endpoint.
    pub fn url(&self) -> Result<String, crate::Error> {
        if let Some(u) = &self.verify_url {
            return Ok(u.clone());
        }
        match self.provider.as_str() {
            "hcaptcha" => Ok("https://hcaptcha.com/siteverify".into()),
            "turnstile" => Ok("https://challenges.cloudflare.com/turnstile/v0/siteverify".into()),
            other => Err(crate::Error::Config(format!(
                "captcha provider {other:?} could not be found"
            ))),
        }
    }
}

/// Checks tokens with the provider.
#[derive(Debug, Clone)]
pub struct Verifier {
    url: String,
    secret: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Verification {
    success: bool,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

impl Verifier {
    pub fn new(config: &CaptchaConfig) -> Result<Verifier, crate::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| crate::Error::Config(format!("captcha HTTP client: {e}")))?;
        Ok(Verifier {
            url: config.url()?,
            secret: config.secret.trim().to_string(),
            http,
        })
    }

    /// Check `token` sent from `ip`.
    pub async fn verify(&self, token: &str, ip: &str) -> Result<(), ApiError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("secret", &self.secret)
            .append_pair("response", token)
            .append_pair("remoteip", ip)
            .finish();
        let failed = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "captcha verification failed");
            ApiError::Coded {
                status: 500,
                code: "unexpected_failure",
                message: "captcha verification process failed".into(),
            }
        };
        let res = self
            .http
            .post(&self.url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| failed(&e))?;
        let v: Verification = res.json().await.map_err(|e| failed(&e))?;
        if v.success {
            return Ok(());
        }
        Err(refused(&v.error_codes.join(", ")))
    }
}

fn refused(why: &str) -> ApiError {
    ApiError::Coded {
        status: 400,
        code: "captcha_failed",
        message: format!("captcha protection: request disallowed ({why})"),
    }
}

/// Whether a request to `path` (relative to the service) with `query` is protected.
fn protected(path: &str, query: &str) -> bool {
    match path.trim_end_matches('/') {
        "/signup" | "/otp" | "/magiclink" | "/recover" | "/resend" | "/sso" => true,
        "/token" => {
            let q = parse_query(query);
            !matches!(
                q.get("grant_type").map(String::as_str),
                Some("refresh_token" | "pkce" | "id_token")
            )
        }
        _ => false,
    }
}

/// The middleware: checks the CAPTCHA token of protected requests when a verifier is configured.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(verifier) = state.captcha.as_ref() else {
        return next.run(req).await;
    };
    if req.method() != http::Method::POST
        || !protected(req.uri().path(), req.uri().query().unwrap_or(""))
        || crate::extract::require_admin(&state, req.headers()).is_ok()
    {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let ip = Client::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .and_then(|c| c.ip)
        .map(|i| i.to_string())
        .unwrap_or_default();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return ApiError::TooLarge.into_response();
    };
    let token = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.pointer("/gotrue_meta_security/captcha_token")
                .and_then(Value::as_str)
                .map(|t| t.trim().to_string())
        })
        .unwrap_or_default();
    if token.is_empty() {
        return refused("no captcha_token found").into_response();
    }
    if let Err(e) = verifier.verify(&token, &ip).await {
        return e.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_routes() {
        assert!(protected("/signup", ""));
        assert!(protected("/token", "grant_type=password"));
        assert!(!protected("/token", "grant_type=refresh_token"));
        assert!(!protected("/token", "grant_type=pkce"));
        assert!(!protected("/verify", ""));
        assert!(!protected("/user", ""));
    }

    #[test]
    fn provider_urls() {
        let mut c = CaptchaConfig {
            provider: "turnstile".into(),
            secret: "s".into(),
            verify_url: None,
            timeout: Duration::from_secs(10),
        };
        assert!(c.url().unwrap().contains("cloudflare"));
        c.provider = "recaptcha".into();
        assert!(c.url().is_err());
        c.verify_url = Some("http://127.0.0.1:1/v".into());
        assert_eq!(c.url().unwrap(), "http://127.0.0.1:1/v");
    }
}
