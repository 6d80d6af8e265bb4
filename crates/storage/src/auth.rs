//! Who is calling: the bearer JWT verified with the project's keys (`basalt_identity`) becomes a
//! [`Caller`] whose role and claims are handed to Postgres. Also the URL tokens of signed
//! download and upload URLs: JWTs this service signs with the project secret.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The verified identity of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// Database role to `SET ROLE` to (`anon`, `authenticated`, `service_role`, …).
    pub role: String,
    /// All claims, as `request.jwt.claims`.
    pub claims: serde_json::Value,
}

impl Caller {
    /// The `sub` claim (the owner of what this caller uploads).
    pub fn sub(&self) -> Option<&str> {
        self.claims.get("sub").and_then(|v| v.as_str())
    }

    /// The caller's `sub` as a UUID, when it is one (the `owner` column is a uuid).
    pub fn owner_uuid(&self) -> Option<uuid::Uuid> {
        self.sub().and_then(|s| uuid::Uuid::parse_str(s).ok())
    }
}

/// The project's keys (callers' tokens) and the secret URL tokens are signed with.
#[derive(Clone)]
pub struct Keys {
    callers: std::sync::Arc<basalt_identity::Keys>,
    decoding: DecodingKey,
    encoding: EncodingKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// Claims of a signed download URL's token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UrlClaims {
    /// `"<bucket>/<object name>"`.
    pub url: String,
    pub iat: i64,
    pub exp: i64,
    /// Owner of the upload (signed upload URLs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Whether the signed upload may overwrite (signed upload URLs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upsert: Option<bool>,
    /// Image transformations of a signed render URL, in storage-api's form
    /// (`height:100,width:200,resize:cover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformations: Option<String>,
    /// What the token allows (`download` or `upload`). Tokens without it are told apart by the
    /// `upsert` claim, which only upload tokens carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// What a URL token allows: reading the object (signed download and render URLs) or writing it
/// (signed upload URLs). A token is only accepted for what it was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Download,
    Upload,
}

impl Scope {
    fn claim(self) -> &'static str {
        match self {
            Scope::Download => "download",
            Scope::Upload => "upload",
        }
    }

    /// Whether `claims` were issued for this scope.
    fn admits(self, claims: &UrlClaims) -> bool {
        match claims.scope.as_deref() {
            Some(s) => s == self.claim(),
            None => (self == Scope::Upload) == claims.upsert.is_some(),
        }
    }
}

/// HS256 validation; `leeway` seconds of clock skew are tolerated on `exp`/`nbf`.
fn validation(leeway: u64) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v.leeway = leeway;
    v
}

impl Keys {
    /// URL tokens signed with `secret`; callers verified with `callers` (default: the secret).
    pub fn new(secret: &str, callers: Option<std::sync::Arc<basalt_identity::Keys>>) -> Keys {
        Keys {
            callers: callers
                .unwrap_or_else(|| std::sync::Arc::new(basalt_identity::Keys::from_secret(secret))),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// Verifies `Authorization: Bearer <jwt>`. A missing header or a bad token is refused with
    /// storage-api's `AccessDenied` (HTTP 400, statusCode 403).
    pub fn caller(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        // storage-api also takes the token without its scheme.
        let token = authorization
            .map(|h| basalt_identity::bearer(h).unwrap_or(h.trim()))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::AccessDenied("Invalid Compact JWS".into()))?;
        let verified = self
            .callers
            .verify(token)
            .map_err(|e| ApiError::AccessDenied(refusal(&e)))?;
        let role = verified.role().unwrap_or("anon").to_string();
        let mut claims = verified.map().clone();
        claims.insert("role".into(), serde_json::Value::String(role.clone()));
        Ok(Caller {
            role,
            claims: serde_json::Value::Object(claims),
        })
    }

    /// Signs a download URL token for `bucket/name`, valid for `expires_in` seconds.
    pub fn sign_url(&self, url: String, expires_in: i64) -> Result<String, ApiError> {
        self.sign_claims(url, expires_in, Scope::Download, |_| {})
    }

    /// Signs an upload URL token for `bucket/name`: the upload's owner and whether it may
    /// overwrite.
    pub fn sign_upload_url(
        &self,
        url: String,
        expires_in: i64,
        owner: Option<String>,
        upsert: bool,
    ) -> Result<String, ApiError> {
        self.sign_claims(url, expires_in, Scope::Upload, |c| {
            c.owner = owner;
            c.upsert = Some(upsert);
        })
    }

    /// Signs a render URL token for `bucket/name` carrying `transformations`.
    pub fn sign_render_url(
        &self,
        url: String,
        expires_in: i64,
        transformations: String,
    ) -> Result<String, ApiError> {
        self.sign_claims(url, expires_in, Scope::Download, |c| {
            c.transformations = Some(transformations)
        })
    }

    fn sign_claims(
        &self,
        url: String,
        expires_in: i64,
        scope: Scope,
        extra: impl FnOnce(&mut UrlClaims),
    ) -> Result<String, ApiError> {
        let iat = chrono::Utc::now().timestamp();
        let mut claims = UrlClaims {
            url,
            iat,
            exp: iat.saturating_add(expires_in),
            owner: None,
            upsert: None,
            transformations: None,
            scope: Some(scope.claim().to_string()),
        };
        extra(&mut claims);
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("sign url token: {e}")))
    }

    /// Verifies a URL token and that it was issued for `scope` and `expected_url`.
    pub fn verify_url(
        &self,
        token: &str,
        expected_url: &str,
        scope: Scope,
    ) -> Result<UrlClaims, ApiError> {
        // URL tokens are issued by this service's clock: they expire exactly.
        let claims = jsonwebtoken::decode::<UrlClaims>(token, &self.decoding, &validation(0))
            .map_err(|e| ApiError::InvalidJwt(jwt_message(&e)))?
            .claims;
        if !scope.admits(&claims) {
            return Err(ApiError::InvalidSignature(format!(
                "Token is not scoped for {}",
                scope.claim()
            )));
        }
        if claims.url != expected_url {
            return Err(ApiError::InvalidSignature("Invalid signature".into()));
        }
        Ok(claims)
    }
}

/// storage-api's words for a refused caller token (those of its JWT library, jose).
fn refusal(e: &basalt_identity::TokenError) -> String {
    use basalt_identity::TokenError;
    match e {
        TokenError::Parts(_) => "Invalid Compact JWS".into(),
        TokenError::Malformed => "JWS Protected Header is invalid".into(),
        TokenError::NotObject => "JWT Claims Set must be a top-level JSON object".into(),
        TokenError::NoKey => "\"alg\" (Algorithm) Header Parameter value not allowed".into(),
        TokenError::Signature => "signature verification failed".into(),
        TokenError::Expired { .. } => EXPIRED.into(),
        TokenError::NotYetValid => "\"nbf\" claim timestamp check failed".into(),
        TokenError::IssuedInFuture => "\"iat\" claim timestamp check failed".into(),
        TokenError::ClaimType(claim) => format!("\"{claim}\" claim must be a number"),
        TokenError::AudienceType | TokenError::Audience => "unexpected \"aud\" claim value".into(),
    }
}

/// The refusal of an expired token (caller or URL token).
const EXPIRED: &str = "\"exp\" claim timestamp check failed";

fn jwt_message(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => EXPIRED.into(),
        ErrorKind::InvalidSignature => "signature verification failed".into(),
        ErrorKind::ImmatureSignature => "\"nbf\" claim timestamp check failed".into(),
        ErrorKind::InvalidAlgorithm => {
            "\"alg\" (Algorithm) Header Parameter value not allowed".into()
        }
        ErrorKind::InvalidToken => "Invalid Compact JWS".into(),
        ErrorKind::Json(_) => "JWT Claims Set must be a top-level JSON object".into(),
        _ => "JWS Protected Header is invalid".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    }

    #[test]
    fn caller_from_bearer() {
        let keys = Keys::new("secret", None);
        let exp = chrono::Utc::now().timestamp() + 60;
        let t = token(
            "secret",
            serde_json::json!({"sub": "7f1a6e5c-0000-4000-8000-000000000001", "role": "authenticated", "exp": exp}),
        );
        let c = keys.caller(Some(&format!("Bearer {t}"))).expect("caller");
        assert_eq!(c.role, "authenticated");
        assert!(c.owner_uuid().is_some());
        let anon = keys
            .caller(Some(&format!(
                "bearer {}",
                token("secret", serde_json::json!({"exp": exp}))
            )))
            .expect("anon");
        assert_eq!(anon.role, "anon");
        assert_eq!(anon.claims["role"], "anon");
    }

    #[test]
    fn caller_refused() {
        let keys = Keys::new("secret", None);
        let refused = |auth: Option<&str>| match keys.caller(auth) {
            Err(ApiError::AccessDenied(m)) => m,
            other => panic!("expected refusal, got {other:?}"),
        };
        // The words of storage-api's JWT library.
        assert_eq!(refused(None), "Invalid Compact JWS");
        assert_eq!(refused(Some("Bearer abc")), "Invalid Compact JWS");
        assert_eq!(
            refused(Some("Bearer a.b.c")),
            "JWS Protected Header is invalid"
        );
        let wrong = token("other", serde_json::json!({"role": "service_role"}));
        assert_eq!(
            refused(Some(&format!("Bearer {wrong}"))),
            "signature verification failed"
        );
        let expired = token("secret", serde_json::json!({"role": "anon", "exp": 1000}));
        assert_eq!(
            refused(Some(&format!("Bearer {expired}"))),
            "\"exp\" claim timestamp check failed"
        );
    }

    #[test]
    fn url_tokens() {
        let keys = Keys::new("secret", None);
        let t = keys.sign_url("b/a.png".into(), 60).expect("sign");
        let read = |t: &str, url: &str| keys.verify_url(t, url, Scope::Download);
        assert_eq!(read(&t, "b/a.png").expect("ok").url, "b/a.png");
        assert!(matches!(
            read(&t, "b/other.png"),
            Err(ApiError::InvalidSignature(m)) if m == "Invalid signature"
        ));
        let old = keys.sign_url("b/a.png".into(), -60).expect("sign");
        assert!(matches!(
            read(&old, "b/a.png"),
            Err(ApiError::InvalidJwt(m)) if m == "\"exp\" claim timestamp check failed"
        ));
        assert!(read("garbage", "b/a.png").is_err());
        // A token is accepted only for what it was issued for.
        let up = keys
            .sign_upload_url("b/a.png".into(), 60, None, false)
            .expect("sign");
        assert!(keys.verify_url(&up, "b/a.png", Scope::Upload).is_ok());
        assert!(matches!(
            read(&up, "b/a.png"),
            Err(ApiError::InvalidSignature(m)) if m == "Token is not scoped for download"
        ));
        assert!(matches!(
            keys.verify_url(&t, "b/a.png", Scope::Upload),
            Err(ApiError::InvalidSignature(m)) if m == "Token is not scoped for upload"
        ));
        // Tokens without a scope: those with `upsert` are upload tokens, the rest downloads.
        let legacy = |claims: serde_json::Value| token("secret", claims);
        let exp = chrono::Utc::now().timestamp() + 60;
        let dl = legacy(serde_json::json!({"url": "b/a.png", "iat": 0, "exp": exp}));
        assert!(read(&dl, "b/a.png").is_ok());
        assert!(keys.verify_url(&dl, "b/a.png", Scope::Upload).is_err());
        let ul =
            legacy(serde_json::json!({"url": "b/a.png", "iat": 0, "exp": exp, "upsert": false}));
        assert!(keys.verify_url(&ul, "b/a.png", Scope::Upload).is_ok());
        assert!(read(&ul, "b/a.png").is_err());
    }
}
