//! Reading requests: JSON bodies (size-limited, GoTrue's `bad_json` on failure), query
//! parameters, the bearer token and whom it authenticates, the client's address, and which
//! `redirect_to` targets are allowed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use http::request::Parts;
use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use crate::users::{self, User};

/// Largest request body accepted (GoTrue's limit).
pub const BODY_LIMIT: usize = 1 << 20;

/// A JSON body. An empty body reads as `{}`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| ApiError::TooLarge)?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text)
            .map(Body)
            .map_err(|e| ApiError::BadJson(e.to_string()))
    }
}

/// Query parameters, decoded leniently (the last value of a repeated name wins).
pub struct Query(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Query(parse_query(parts.uri.query().unwrap_or(""))))
    }
}

/// Decode a query string.
pub fn parse_query(q: &str) -> HashMap<String, String> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

impl Query {
    /// A non-empty parameter.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Who sent the request: client address and user agent.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        // Only a header the configuration trusts names the client; anyone can send one.
        let named = state
            .config
            .rate_limit_header
            .as_deref()
            .and_then(|h| header_ip(&parts.headers, h));
        Ok(Client {
            ip: named.or(peer),
            user_agent: parts
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        })
    }
}

/// The first address in header `name` (a comma-separated list), when it parses.
fn header_ip(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
}

/// The bearer token of the request.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basalt_identity::bearer)
        .ok_or(ApiError::NoAuthorization)
}

/// The verified claims of the request's bearer token.
pub fn claims(state: &AppState, headers: &HeaderMap) -> Result<Value, ApiError> {
    let token = bearer(headers)?;
    state
        .keys
        .verify(token)
        .map(|c| Value::Object(c.map().clone()))
        .map_err(|e| ApiError::BadJwt(crate::jwt::refusal(&e)))
}

/// A request made by a signed-in user.
#[derive(Debug, Clone)]
pub struct Authed {
    pub claims: Value,
    pub user: User,
    /// The session of the token (absent for tokens minted without one).
    pub session_id: Option<Uuid>,
}

impl Authed {
    /// The token's `aal` claim.
    pub fn aal(&self) -> &str {
        self.claims
            .get("aal")
            .and_then(Value::as_str)
            .unwrap_or("aal1")
    }
}

/// Authenticate the request's bearer token against the user and session it names.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    db: &impl GenericClient,
) -> Result<Authed, ApiError> {
    let claims = claims(state, headers)?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::BadJwt("invalid claim: missing sub claim".into()))?;
    let id = Uuid::parse_str(sub)
        .map_err(|_| ApiError::BadJwt("invalid claim: sub claim must be a UUID".into()))?;
    let user = users::by_id(db, id)
        .await?
        .ok_or(ApiError::JwtUserNotFound)?;
    let session_id = match claims.get("session_id").and_then(Value::as_str) {
        None | Some("") => None,
        Some(s) => {
            let sid = Uuid::parse_str(s).map_err(|_| {
                ApiError::BadJwt("invalid claim: session_id claim must be a UUID".into())
            })?;
            let exists = db
                .query_opt(
                    "SELECT 1 FROM auth.sessions WHERE id = $1 AND user_id = $2",
                    &[&sid, &id],
                )
                .await?
                .is_some();
            if !exists {
                return Err(ApiError::SessionNotFound);
            }
            Some(sid)
        }
    };
    // A ban keeps the user's sessions but refuses the tokens issued before it.
    if user.is_banned() {
        return Err(ApiError::UserBanned { status: 403 });
    }
    Ok(Authed {
        claims,
        user,
        session_id,
    })
}

/// Require a token whose role is one of the admin roles (the service key).
pub fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<Value, ApiError> {
    let claims = claims(state, headers)?;
    let role = claims.get("role").and_then(Value::as_str).unwrap_or("");
    if state.config.jwt.admin_roles.iter().any(|r| r == role) {
        Ok(claims)
    } else {
        Err(ApiError::NotAdmin)
    }
}

/// The redirect target for links and redirects: `requested` when the site URL or the allow
/// list permits it (GoTrue's rules, [`crate::redirect`]), else the site URL.
pub fn redirect_target(config: &crate::Config, requested: Option<&str>) -> String {
    crate::redirect::target(config, requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), Err(ApiError::NoAuthorization));
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Ok("abc"));
        h.insert("authorization", "bearer  xyz ".parse().unwrap());
        assert_eq!(bearer(&h), Ok("xyz"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), Err(ApiError::NoAuthorization));
    }

    #[test]
    fn redirects() {
        let c = crate::Config {
            site_url: "http://localhost:3000".into(),
            uri_allow_list: vec!["https://*.example.com/**".into()],
            ..Default::default()
        };
        assert_eq!(
            redirect_target(&c, Some("http://localhost:3000/welcome")),
            "http://localhost:3000/welcome"
        );
        assert_eq!(
            redirect_target(&c, Some("https://app.example.com/cb")),
            "https://app.example.com/cb"
        );
        assert_eq!(
            redirect_target(&c, Some("https://evil.test/")),
            "http://localhost:3000"
        );
        assert_eq!(redirect_target(&c, None), "http://localhost:3000");
    }

    #[test]
    fn forwarded_addresses() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        assert_eq!(
            header_ip(&h, "X-Forwarded-For"),
            Some("203.0.113.7".parse().unwrap())
        );
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(header_ip(&h, "x-forwarded-for"), None);
    }
}
