//! Every failure a request can end in, as one typed enum, and the single place where each maps
//! to an HTTP status, an error code and a message in GoTrue's error format.
//!
//! Two body shapes exist, chosen by the request's `X-Supabase-Api-Version` header: from
//! `2024-01-01` on, `{"code":"<error_code>","message":"…"}` (and the header is echoed back);
//! before that (or without the header), `{"code":<status>,"error_code":"…","msg":"…"}`. The
//! handlers return [`ApiError`]; [`version_layer`] renders it once the request's version is
//! known.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The API version that switched to the `{"code","message"}` error body.
pub const API_VERSION_2024: &str = "2024-01-01";
/// Header carrying the API version, on requests and on error responses.
pub const API_VERSION_HEADER: &str = "x-supabase-api-version";

/// A failed request: what went wrong, in GoTrue's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400 `validation_failed`: a parameter is missing or malformed.
    #[error("{0}")]
    Validation(String),
    /// 422 `validation_failed` (some endpoints answer 422 for bad input).
    #[error("{0}")]
    Unprocessable(String),
    /// 400 `bad_json`: the body is not the JSON the endpoint takes.
    #[error("Could not parse request body as JSON: {0}")]
    BadJson(String),
    /// 413 `request_entity_too_large`: the body is over the size limit.
    #[error("Request body too large (max {} bytes)", crate::extract::BODY_LIMIT)]
    TooLarge,
    /// 400 `invalid_credentials`.
    #[error("Invalid login credentials")]
    InvalidCredentials,
    /// 400 `invalid_credentials` for an unknown grant type.
    #[error("unsupported_grant_type")]
    UnsupportedGrant,
    /// 400 `email_not_confirmed`.
    #[error("Email not confirmed")]
    EmailNotConfirmed,
    /// 400 `phone_not_confirmed`.
    #[error("Phone not confirmed")]
    PhoneNotConfirmed,
    /// `user_banned`: 400 on the token endpoint, 403 elsewhere.
    #[error("User is banned")]
    UserBanned { status: u16 },
    /// 422 `weak_password`, with the reasons.
    #[error("{message}")]
    WeakPassword {
        message: String,
        reasons: Vec<&'static str>,
    },
    /// 422 `same_password`.
    #[error("New password should be different from the old password.")]
    SamePassword,
    /// 422 `user_already_exists`.
    #[error("User already registered")]
    UserAlreadyExists,
    /// 422 `email_exists`.
    #[error("A user with this email address has already been registered")]
    EmailExists,
    /// 422 `phone_exists`.
    #[error("A user with this phone number has already been registered")]
    PhoneExists,
    /// 422 `signup_disabled`.
    #[error("Signups not allowed for this instance")]
    SignupDisabled,
    /// `email_provider_disabled` (400 on signup, 422 on login).
    #[error("{message}")]
    EmailProviderDisabled { status: u16, message: &'static str },
    /// `phone_provider_disabled` (400 on signup, 422 on login).
    #[error("{message}")]
    PhoneProviderDisabled { status: u16, message: &'static str },
    /// 422 `anonymous_provider_disabled`.
    #[error("Anonymous sign-ins are disabled")]
    AnonymousDisabled,
    /// 401 `no_authorization`.
    #[error("This endpoint requires a valid Bearer token")]
    NoAuthorization,
    /// 403 `bad_jwt`.
    #[error("{0}")]
    BadJwt(String),
    /// 403 `no_authorization`: anonymous users may not use this endpoint.
    #[error("Anonymous user not allowed to perform these actions")]
    AnonymousForbidden,
    /// 403 `not_admin`.
    #[error("User not allowed")]
    NotAdmin,
    /// 403 `user_not_found`: the JWT's subject does not exist.
    #[error("User from sub claim in JWT does not exist")]
    JwtUserNotFound,
    /// 404 `user_not_found` (admin and link endpoints).
    #[error("{0}")]
    UserNotFound(&'static str),
    /// 403 `session_not_found`.
    #[error("Session from session_id claim in JWT does not exist")]
    SessionNotFound,
    /// 400 `session_expired`.
    #[error("Invalid Refresh Token: Session Expired")]
    SessionExpired,
    /// 400 `refresh_token_not_found`.
    #[error("Invalid Refresh Token: Refresh Token Not Found")]
    RefreshTokenNotFound,
    /// 400 `refresh_token_already_used`.
    #[error("Invalid Refresh Token: Already Used")]
    RefreshTokenAlreadyUsed,
    /// 403 `otp_expired`.
    #[error("{0}")]
    OtpExpired(&'static str),
    /// 400 `reauthentication_needed`.
    #[error("Password update requires reauthentication")]
    ReauthenticationNeeded,
    /// 422 `reauthentication_not_valid`.
    #[error("Nonce has expired or is invalid")]
    ReauthenticationInvalid,
    /// `insufficient_aal` (403, or 401 on user updates).
    #[error("{message}")]
    InsufficientAal { status: u16, message: &'static str },
    /// 404 `mfa_factor_not_found`.
    #[error("Factor not found")]
    FactorNotFound,
    /// 422 `mfa_factor_name_conflict`.
    #[error("A factor with the friendly name \"{0}\" for this user already exists")]
    FactorNameConflict(String),
    /// 422 `too_many_enrolled_mfa_factors`.
    #[error("Maximum number of verified factors reached, unenroll to continue")]
    TooManyFactors,
    /// 422 `mfa_challenge_expired`.
    #[error("MFA challenge {0} has expired, verify against another challenge or create a new challenge.")]
    ChallengeExpired(String),
    /// 422 `mfa_verification_failed`.
    #[error("Invalid TOTP code entered")]
    MfaVerificationFailed,
    /// 422 `mfa_totp_enroll_not_enabled` / `mfa_totp_verify_not_enabled`.
    #[error("{message}")]
    MfaDisabled {
        code: &'static str,
        message: &'static str,
    },
    /// `flow_state_not_found`.
    #[error("{message}")]
    FlowStateNotFound { status: u16, message: &'static str },
    /// 422 `flow_state_expired`.
    #[error("invalid flow state, flow state has expired")]
    FlowStateExpired,
    /// 400 `bad_code_verifier`.
    #[error("code challenge does not match previously saved code verifier")]
    BadCodeVerifier,
    /// 429 `over_request_rate_limit`.
    #[error("Request rate limit reached")]
    OverRequestRateLimit,
    /// 429 `over_email_send_rate_limit`.
    #[error("{0}")]
    OverEmailSendRateLimit(String),
    /// 404 `manual_linking_disabled`: identity linking is off.
    #[error("Manual linking is disabled")]
    ManualLinkingDisabled,
    /// 400 `bad_oauth_callback`: an OAuth return without a flow to continue.
    #[error("{0}")]
    BadOAuthCallback(&'static str),
    /// An error the custom access token hook returned (or a malformed answer from it).
    #[error("{message}")]
    Hook { status: u16, message: String },
    /// 429 `over_sms_send_rate_limit`.
    #[error("SMS rate limit exceeded")]
    OverSmsSendRateLimit,
    /// Any other GoTrue error, with its status and code (external sign-in and identities).
    #[error("{message}")]
    Coded {
        status: u16,
        code: &'static str,
        message: String,
    },
    /// 400 in OAuth's own shape, `{"error", "error_description"}` (the ID token grant).
    #[error("{description}")]
    OAuth {
        error: &'static str,
        description: String,
    },
    /// 404 for paths the service does not have.
    #[error("Not found")]
    NotFound,
    /// 405.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// 500 `unexpected_failure`: something on the server side failed; details go to the log.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status and the GoTrue error code of this error.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        use ApiError::*;
        match self {
            Validation(_) => (400, "validation_failed"),
            Unprocessable(_) => (422, "validation_failed"),
            BadJson(_) => (400, "bad_json"),
            TooLarge => (413, "request_entity_too_large"),
            InvalidCredentials | UnsupportedGrant => (400, "invalid_credentials"),
            EmailNotConfirmed => (400, "email_not_confirmed"),
            PhoneNotConfirmed => (400, "phone_not_confirmed"),
            UserBanned { status } => (*status, "user_banned"),
            WeakPassword { .. } => (422, "weak_password"),
            SamePassword => (422, "same_password"),
            UserAlreadyExists => (422, "user_already_exists"),
            EmailExists => (422, "email_exists"),
            PhoneExists => (422, "phone_exists"),
            SignupDisabled => (422, "signup_disabled"),
            EmailProviderDisabled { status, .. } => (*status, "email_provider_disabled"),
            PhoneProviderDisabled { status, .. } => (*status, "phone_provider_disabled"),
            AnonymousDisabled => (422, "anonymous_provider_disabled"),
            NoAuthorization => (401, "no_authorization"),
            BadJwt(_) => (403, "bad_jwt"),
            NotAdmin => (403, "not_admin"),
            AnonymousForbidden => (403, "no_authorization"),
            JwtUserNotFound => (403, "user_not_found"),
            UserNotFound(_) => (404, "user_not_found"),
            SessionNotFound => (403, "session_not_found"),
            SessionExpired => (400, "session_expired"),
            RefreshTokenNotFound => (400, "refresh_token_not_found"),
            RefreshTokenAlreadyUsed => (400, "refresh_token_already_used"),
            OtpExpired(_) => (403, "otp_expired"),
            ReauthenticationNeeded => (400, "reauthentication_needed"),
            ReauthenticationInvalid => (422, "reauthentication_not_valid"),
            InsufficientAal { status, .. } => (*status, "insufficient_aal"),
            FactorNotFound => (404, "mfa_factor_not_found"),
            FactorNameConflict(_) => (422, "mfa_factor_name_conflict"),
            TooManyFactors => (422, "too_many_enrolled_mfa_factors"),
            ChallengeExpired(_) => (422, "mfa_challenge_expired"),
            MfaVerificationFailed => (422, "mfa_verification_failed"),
            MfaDisabled { code, .. } => (422, code),
            FlowStateNotFound { status, .. } => (*status, "flow_state_not_found"),
            FlowStateExpired => (422, "flow_state_expired"),
            BadCodeVerifier => (400, "bad_code_verifier"),
            OverRequestRateLimit => (429, "over_request_rate_limit"),
            OverEmailSendRateLimit(_) => (429, "over_email_send_rate_limit"),
            ManualLinkingDisabled => (404, "manual_linking_disabled"),
            BadOAuthCallback(_) => (400, "bad_oauth_callback"),
            Coded { status, code, .. } => (*status, code),
            OAuth { .. } => (400, "invalid_request"),
            Hook { status, .. } if *status == 500 => (*status, "unexpected_failure"),
            Hook { status, .. } => (*status, "unknown"),
            OverSmsSendRateLimit => (429, "over_sms_send_rate_limit"),
            NotFound => (404, "not_found"),
            MethodNotAllowed => (405, "method_not_allowed"),
            Internal(_) => (500, "unexpected_failure"),
        }
    }

    /// The message shown to the client. Internal errors say nothing about the server.
    pub fn message(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "Unexpected failure, please check server logs for more information".into()
            }
            other => other.to_string(),
        }
    }

    /// A 500 for a failure the client cannot do anything about, logged with its cause.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "{context}");
        ApiError::Internal(format!("{context}: {cause}"))
    }

    /// The error body for an API version (`new_format` = 2024-01-01 or later).
    pub fn body(&self, new_format: bool) -> serde_json::Value {
        let (status, code) = self.status_and_code();
        if let ApiError::OAuth { error, description } = self {
            return serde_json::json!({ "error": error, "error_description": description });
        }
        let mut body = if new_format {
            serde_json::json!({ "code": code, "message": self.message() })
        } else {
            serde_json::json!({ "code": status, "error_code": code, "msg": self.message() })
        };
        if let ApiError::WeakPassword { reasons, .. } = self {
            body["weak_password"] = serde_json::json!({ "reasons": reasons });
        }
        body
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's message and SQLSTATE in the log (the client sees neither).
        ApiError::internal("database error", basalt_pg::pool::describe(&e))
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError::internal("database connection unavailable", e)
    }
}

/// Marker put on error responses so [`version_layer`] can render the body for the request's
/// API version.
#[derive(Clone)]
struct PendingError(ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Rendered in the old format until the layer knows the request's version.
        let mut res = (status, axum::Json(self.body(false))).into_response();
        res.extensions_mut().insert(PendingError(self));
        res
    }
}

/// Whether an `X-Supabase-Api-Version` value selects the 2024-01-01 error format.
pub fn is_new_format(version: Option<&str>) -> bool {
    match version.map(str::trim) {
        Some(v) if is_date(v) => v >= API_VERSION_2024,
        _ => false,
    }
}

/// A real calendar date written `YYYY-MM-DD` (`2024-13-45` is not one).
fn is_date(v: &str) -> bool {
    v.len() == 10 && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
}

/// Render pending errors in the format the request asked for, and echo its API version.
pub async fn version_layer(req: Request, next: Next) -> Response {
    let new_format = is_new_format(
        req.headers()
            .get(API_VERSION_HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    let mut res = next.run(req).await;
    let Some(PendingError(err)) = res.extensions_mut().remove::<PendingError>() else {
        return res;
    };
    let (_, code) = err.status_and_code();
    let status = res.status();
    let mut out = (status, axum::Json(err.body(new_format))).into_response();
    for (k, v) in res.headers() {
        if k != http::header::CONTENT_TYPE && k != http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out.headers_mut()
        .insert("x-sb-error-code", HeaderValue::from_static(code));
    if new_format {
        out.headers_mut().insert(
            API_VERSION_HEADER,
            HeaderValue::from_static(API_VERSION_2024),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_new_formats() {
        let e = ApiError::InvalidCredentials;
        assert_eq!(
            e.body(true),
            serde_json::json!({"code": "invalid_credentials", "message": "Invalid login credentials"})
        );
        assert_eq!(
            e.body(false),
            serde_json::json!({"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"})
        );
    }

    #[test]
    fn weak_password_carries_reasons() {
        let e = ApiError::WeakPassword {
            message: "Password should be at least 6 characters.".into(),
            reasons: vec!["length"],
        };
        assert_eq!(e.status_and_code(), (422, "weak_password"));
        assert_eq!(e.body(true)["weak_password"]["reasons"][0], "length");
    }

    #[test]
    fn version_header_parsing() {
        assert!(is_new_format(Some("2024-01-01")));
        assert!(is_new_format(Some("2025-06-30")));
        assert!(!is_new_format(Some("2023-12-31")));
        assert!(!is_new_format(Some("garbage!!!")));
        assert!(!is_new_format(Some("2024-13-45")));
        assert!(!is_new_format(None));
    }

    #[test]
    fn hook_errors_without_a_code() {
        let e = |status| ApiError::Hook {
            status,
            message: "no".into(),
        };
        assert_eq!(e(500).status_and_code(), (500, "unexpected_failure"));
        assert_eq!(e(503).status_and_code(), (503, "unknown"));
        assert_eq!(e(403).status_and_code(), (403, "unknown"));
    }

    #[test]
    fn internal_errors_hide_details() {
        let e = ApiError::Internal("connection refused to 10.0.0.1".into());
        assert!(!e.message().contains("10.0.0.1"));
        assert_eq!(e.status_and_code(), (500, "unexpected_failure"));
    }
}
