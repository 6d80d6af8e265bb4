//! The endpoints of external sign-in: `GET /authorize`, `GET|POST /callback`,
//! `POST /token?grant_type=id_token`, `GET /user/identities/authorize` and
//! `DELETE /user/identities/{id}`.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::account::{self, Policy};
use super::oauth_state::{self, StateClaims, StateError};
use super::profile::{self, UserData};
use super::providers::TokenAuth;
use super::{client, Provider};
use crate::error::ApiError;
use crate::extract::{authenticate, parse_query, Body, Client, Query};
use crate::flow::{self, Challenge};
use crate::ratelimit::{self, Limit};
use crate::state::AppState;
use crate::users::User;

/// The authentication method external sign-ins record (`amr`, flow rows).
pub const METHOD: &str = "oauth";

/// Parameters basalt sets on the provider's URL itself; a client's copies are dropped.
const RESERVED: &[&str] = &[
    "provider",
    "scopes",
    "redirect_to",
    "code_challenge",
    "code_challenge_method",
    "skip_http_redirect",
    "invite_token",
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "response_mode",
    "state",
    "scope",
    "code",
    "code_verifier",
    "grant_type",
];

/// A PKCE S256 challenge for a verifier.
fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

fn found(location: &str) -> Response {
    match http::HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::FOUND, [(http::header::LOCATION, v)]).into_response(),
        Err(_) => ApiError::Validation("invalid redirect URL".into()).into_response(),
    }
}

/// The redirect target of a request: `redirect_to` when allowed, else an allowed `Referer`,
/// else the site URL.
fn referrer(state: &AppState, query: &Query, headers: &HeaderMap) -> String {
    let c = &state.config;
    for candidate in [
        query.get("redirect_to"),
        headers
            .get(http::header::REFERER)
            .and_then(|v| v.to_str().ok()),
    ]
    .into_iter()
    .flatten()
    {
        if crate::redirect::is_allowed(&c.site_url, &c.uri_allow_list, candidate) {
            return candidate.to_string();
        }
    }
    c.site_url.clone()
}

/// Start a sign-in (or a link) with `provider`: store the flow, return the provider's URL.
async fn start(
    state: &AppState,
    provider: &Provider,
    query: &Query,
    referrer: String,
    link: Option<Uuid>,
) -> Result<String, ApiError> {
    let challenge: Option<Challenge> = flow::challenge(
        query.get("code_challenge_method"),
        query.get("code_challenge"),
    )?;
    let flow_id = Uuid::new_v4();
    // Providers that demand PKCE from basalt get a verifier kept in the flow row until the
    // callback (the column holds the provider's token afterwards).
    let provider_verifier = provider.spec.pkce.then(|| crate::crypto::random_token(43));
    let (method, value) = match &challenge {
        Some(c) => (c.method.as_str(), c.value.as_str()),
        None => ("plain", ""),
    };
    let db = state.pool.get().await?;
    db.execute(
        "INSERT INTO auth.flow_state (id, user_id, auth_code, code_challenge_method, \
           code_challenge, provider_type, provider_access_token, authentication_method, \
           created_at, updated_at) \
         VALUES ($1, NULL, $2, $3::text::auth.code_challenge_method, $4, $5, $6, $7, now(), now())",
        &[
            &flow_id,
            &Uuid::new_v4().to_string(),
            &method,
            &value,
            &provider.name,
            &provider_verifier,
            &METHOD,
        ],
    )
    .await?;
    let ttl = state.config.external.state_ttl.as_secs() as i64;
    let signed = oauth_state::sign(
        &state.config.jwt.secret,
        &StateClaims {
            flow: flow_id,
            provider: provider.name.clone(),
            referrer,
            link,
            pkce: challenge.is_some(),
            exp: chrono::Utc::now().timestamp() + ttl,
        },
    );
    let mut scopes: Vec<String> = provider.spec.scopes.iter().map(|s| s.to_string()).collect();
    if let Some(extra) = query.get("scopes") {
        for s in extra.split([',', ' ']).filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_string());
            }
        }
    }
    let mut url = url::Url::parse(&provider.auth_url)
        .map_err(|e| ApiError::internal("provider authorization URL", e))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", provider.settings.client_id());
        q.append_pair("redirect_uri", &provider.redirect_uri);
        q.append_pair("response_type", "code");
        if !scopes.is_empty() {
            q.append_pair("scope", &scopes.join(" "));
        }
        q.append_pair("state", &signed);
        if provider.name == "apple" {
            q.append_pair("response_mode", "form_post");
        }
        if let Some(v) = &provider_verifier {
            q.append_pair("code_challenge", &s256(v));
            q.append_pair("code_challenge_method", "S256");
        }
        let mut extra: Vec<(&String, &String)> = query
            .0
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.to_ascii_lowercase().as_str()))
            .collect();
        extra.sort();
        for (k, v) in extra {
            let k = if k == "workos_provider" {
                "provider"
            } else {
                k
            };
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}

/// `GET /authorize?provider=…`: send the browser to the provider.
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
) -> Result<Response, ApiError> {
    let name = query.get("provider").unwrap_or("");
    let provider = super::provider(&state.config, name).await?;
    let back = referrer(&state, &query, &headers);
    let url = start(&state, &provider, &query, back, None).await?;
    Ok(found(&url))
}

/// `GET /user/identities/authorize?provider=…`: start linking a provider to the signed-in user.
pub async fn link_authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
) -> Result<Response, ApiError> {
    let user = {
        let db = state.pool.get().await?;
        let db: &tokio_postgres::Client = &db;
        authenticate(&state, &headers, db).await?.user
    };
    if !state.config.external.manual_linking {
        return Err(ApiError::ManualLinkingDisabled);
    }
    let provider = super::provider(&state.config, query.get("provider").unwrap_or("")).await?;
    let back = referrer(&state, &query, &headers);
    let url = start(&state, &provider, &query, back, Some(user.id)).await?;
    if query.get("skip_http_redirect") == Some("true") {
        return Ok(Json(json!({ "url": url })).into_response());
    }
    Ok(found(&url))
}

/// `DELETE /user/identities/{id}`: unlink one of the signed-in user's identities.
pub async fn unlink(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let user = authenticate(&state, &headers, &tx).await?.user;
    if !state.config.external.manual_linking {
        return Err(ApiError::ManualLinkingDisabled);
    }
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::Coded {
        status: 404,
        code: "validation_failed",
        message: "identity_id must be an UUID".into(),
    })?;
    account::unlink(&tx, &user, id).await?;
    tx.commit().await?;
    Ok(Json(json!({})).into_response())
}

/// GoTrue's OAuth error name for an error.
fn oauth_error_name(e: &ApiError) -> &'static str {
    let (status, code) = e.status_and_code();
    if matches!(
        code,
        "signup_disabled" | "user_banned" | "provider_email_needs_verification"
    ) {
        return "access_denied";
    }
    match status {
        400 => "invalid_request",
        401 => "unauthorized_client",
        403 => "access_denied",
        503 => "temporarily_unavailable",
        _ => "server_error",
    }
}

/// Send the browser back with the error, in the query and the fragment, as GoTrue does.
fn error_redirect(to: &str, error: &str, code: Option<&str>, description: &str) -> Response {
    let Ok(mut url) = url::Url::parse(to) else {
        return ApiError::Validation("invalid redirect URL".into()).into_response();
    };
    let mut params: Vec<(&str, &str)> = vec![("error", error)];
    if let Some(c) = code {
        params.push(("error_code", c));
    }
    params.push(("error_description", description));
    url.query_pairs_mut().extend_pairs(&params);
    let mut frag = form_urlencoded::Serializer::new(String::new());
    frag.extend_pairs(&params);
    frag.append_pair("sb", "");
    url.set_fragment(Some(&frag.finish()));
    found(url.as_str())
}

fn api_error_redirect(to: &str, e: &ApiError) -> Response {
    let (_, code) = e.status_and_code();
    error_redirect(to, oauth_error_name(e), Some(code), &e.message())
}

fn bad_state(message: &str) -> ApiError {
    ApiError::Coded {
        status: 400,
        code: "bad_oauth_state",
        message: message.into(),
    }
}

/// `GET|POST /callback`: the provider sends the browser back here.
pub async fn callback(State(state): State<AppState>, client: Client, req: Request) -> Response {
    let mut params = parse_query(req.uri().query().unwrap_or(""));
    if let Ok(body) = axum::body::to_bytes(req.into_body(), crate::extract::BODY_LIMIT).await {
        for (k, v) in form_urlencoded::parse(&body) {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    let site = state.config.site_url.clone();
    let signed = params.get("state").map(String::as_str).unwrap_or("");
    if signed.is_empty() {
        return api_error_redirect(
            &site,
            &ApiError::BadOAuthCallback("OAuth state parameter missing"),
        );
    }
    let claims = match oauth_state::verify(&state.config.jwt.secret, signed) {
        Ok(c) => c,
        Err(StateError::Expired) => {
            return api_error_redirect(&site, &bad_state("OAuth state has expired"))
        }
        Err(StateError::Invalid) => {
            return api_error_redirect(&site, &bad_state("OAuth state parameter is invalid"))
        }
    };
    let back = claims.referrer.clone();
    if let Some(error) = params.get("error").filter(|e| !e.is_empty()) {
        let description = params.get("error_description").cloned().unwrap_or_default();
        return error_redirect(&back, error, None, &description);
    }
    match complete(&state, &client, &claims, &params).await {
        Ok(location) => found(&location),
        Err(e) => api_error_redirect(&back, &e),
    }
}

/// The flow row, claimed for this callback.
struct Claimed {
    auth_code: String,
    pkce: bool,
    provider_verifier: Option<String>,
}

/// Claim the flow row of a state once: a second use finds it claimed (or gone).
async fn claim(state: &AppState, claims: &StateClaims) -> Result<Claimed, ApiError> {
    let db = state.pool.get().await?;
    let ttl = state.config.external.state_ttl.as_secs_f64();
    let row = db
        .query_opt(
            "UPDATE auth.flow_state SET auth_code_issued_at = now(), updated_at = now() \
             WHERE id = $1 AND authentication_method = $2 AND provider_type = $3 \
               AND auth_code_issued_at IS NULL AND user_id IS NULL \
               AND created_at > now() - make_interval(secs => $4) \
             RETURNING auth_code, code_challenge <> '', provider_access_token",
            &[&claims.flow, &METHOD, &claims.provider, &ttl],
        )
        .await?;
    match row {
        Some(r) => Ok(Claimed {
            auth_code: r.get(0),
            pkce: r.get(1),
            provider_verifier: r.get(2),
        }),
        None => {
            let used = db
                .query_opt(
                    "SELECT 1 FROM auth.flow_state WHERE id = $1 AND auth_code_issued_at IS NOT NULL",
                    &[&claims.flow],
                )
                .await?
                .is_some();
            Err(if used {
                ApiError::Coded {
                    status: 400,
                    code: "flow_state_already_used",
                    message: "State has already been used".into(),
                }
            } else {
                bad_state("OAuth state not found or expired")
            })
        }
    }
}

/// Trade the code, find or create the user; the URL the browser goes to next.
async fn complete(
    state: &AppState,
    client: &Client,
    claims: &StateClaims,
    params: &std::collections::HashMap<String, String>,
) -> Result<String, ApiError> {
    let claimed = claim(state, claims).await?;
    let provider = super::provider(&state.config, &claims.provider).await?;
    let code = params.get("code").map(String::as_str).unwrap_or("");
    if code.is_empty() {
        return Err(ApiError::BadOAuthCallback("OAuth code missing"));
    }
    let s = &provider.settings;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", provider.redirect_uri.as_str()),
    ];
    if let Some(v) = &claimed.provider_verifier {
        form.push(("code_verifier", v));
    }
    let basic = match provider.spec.token_auth {
        TokenAuth::Basic => Some((s.client_id(), s.secret.as_str())),
        TokenAuth::Body => {
            form.push(("client_id", s.client_id()));
            form.push(("client_secret", &s.secret));
            None
        }
    };
    let token = client::token_request(&provider.token_url, &form, basic)
        .await
        .map_err(|e| {
            tracing::info!(provider = %provider.name, error = %e, "code exchange failed");
            ApiError::OAuth {
                error: "server_error",
                description: "Unable to exchange external code".into(),
            }
        })?;
    let mut data = profile::fetch(&provider, &token).await.map_err(|e| {
        tracing::info!(provider = %provider.name, error = %e, "reading the user failed");
        ApiError::internal("Error getting user profile from external provider", e)
    })?;
    data.settle_email();
    if data.emails.is_empty() && !s.email_optional {
        return Err(ApiError::Coded {
            status: 500,
            code: "unexpected_failure",
            message: "Error getting user email from external provider".into(),
        });
    }
    let provider_token = token["access_token"].as_str().unwrap_or("").to_string();
    let provider_refresh = token["refresh_token"].as_str().unwrap_or("").to_string();
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let user = sign_in_or_link(state, &tx, client, &provider, &data, claims.link).await?;
    let mut url =
        url::Url::parse(&claims.referrer).map_err(|e| ApiError::internal("redirect URL", e))?;
    if claimed.pkce {
        tx.execute(
            "UPDATE auth.flow_state SET user_id = $2, provider_access_token = $3, \
               provider_refresh_token = $4, auth_code_issued_at = now(), updated_at = now() \
             WHERE id = $1",
            &[&claims.flow, &user.id, &provider_token, &provider_refresh],
        )
        .await?;
        tx.commit().await?;
        url.query_pairs_mut()
            .append_pair("code", &claimed.auth_code);
        return Ok(url.into());
    }
    let session = crate::sessions::start(state, &tx, &user, METHOD, client).await?;
    tx.execute("DELETE FROM auth.flow_state WHERE id = $1", &[&claims.flow])
        .await?;
    tx.commit().await?;
    let mut frag = form_urlencoded::Serializer::new(String::new());
    frag.extend_pairs(session_params(&session));
    frag.append_pair("provider_token", &provider_token);
    if !provider_refresh.is_empty() {
        frag.append_pair("provider_refresh_token", &provider_refresh);
    }
    url.set_fragment(Some(&frag.finish()));
    Ok(url.into())
}

/// The session fields a redirect carries in its fragment, as text.
pub fn session_params(session: &Value) -> Vec<(&'static str, String)> {
    [
        "access_token",
        "expires_at",
        "expires_in",
        "refresh_token",
        "token_type",
    ]
    .into_iter()
    .map(|k| {
        let v = match &session[k] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        (k, v)
    })
    .collect()
}

/// Sign in with (or, with a target, link) an identity; the user it belongs to.
async fn sign_in_or_link(
    state: &AppState,
    tx: &tokio_postgres::Transaction<'_>,
    client: &Client,
    provider: &Provider,
    data: &UserData,
    link: Option<Uuid>,
) -> Result<User, ApiError> {
    if let Some(target) = link {
        let target = crate::users::by_id(tx, target)
            .await?
            .ok_or(ApiError::Coded {
                status: 422,
                code: "user_not_found",
                message: "Linking target user not found".into(),
            })?;
        return account::link(tx, &target, &provider.name, data).await;
    }
    let c = &state.config;
    let signed_in = account::sign_in(
        tx,
        &Policy {
            provider: &provider.name,
            aud: &c.jwt.aud,
            autoconfirm: c.mailer.autoconfirm,
            disable_signup: c.disable_signup,
            email_optional: provider.settings.email_optional,
            ip: client.ip,
        },
        data,
    )
    .await?;
    Ok(signed_in.user)
}

/// The body of `/token?grant_type=id_token`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IdTokenParams {
    pub id_token: String,
    pub access_token: Option<String>,
    pub nonce: Option<String>,
    pub provider: Option<String>,
    pub client_id: Option<String>,
    pub issuer: Option<String>,
    pub link_identity: bool,
}

fn invalid(description: impl Into<String>) -> ApiError {
    ApiError::OAuth {
        error: "invalid request",
        description: description.into(),
    }
}

/// `POST /token`: the ID token grant here, every other grant in `api::token`.
pub async fn token(State(state): State<AppState>, req: Request) -> Response {
    let id_token = parse_query(req.uri().query().unwrap_or(""))
        .get("grant_type")
        .is_some_and(|g| g == "id_token");
    if !id_token {
        return axum::handler::Handler::call(crate::api::token::token, req, state).await;
    }
    match id_token_grant(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn id_token_grant(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let client = Client::from_request_parts(&mut parts, state).await?;
    let headers = parts.headers.clone();
    let Body(p) =
        Body::<IdTokenParams>::from_request(Request::from_parts(parts, body), state).await?;
    ratelimit::check(state, Limit::Token, client.ip).await?;
    if p.id_token.is_empty() {
        return Err(invalid("id_token required"));
    }
    let provider_name = p.provider.as_deref().filter(|s| !s.is_empty());
    let issuer = p.issuer.as_deref().filter(|s| !s.is_empty());
    if provider_name.is_none()
        && (p.client_id.as_deref().unwrap_or("").is_empty() || issuer.is_none())
    {
        return Err(invalid("provider or client_id and issuer required"));
    }
    let issuer = issuer.map(str::to_string).or_else(|| {
        provider_name
            .is_none()
            .then(|| client::unverified_issuer(&p.id_token))
            .flatten()
    });
    let provider =
        super::provider_for_id_token(&state.config, provider_name, issuer.as_deref()).await?;
    let (Some(jwks), Some(rule)) = (&provider.jwks_url, &provider.issuer) else {
        return Err(ApiError::Validation(format!(
            "Provider {} has no known keys for ID tokens",
            provider.name
        )));
    };
    let claims = client::verify_id_token(&p.id_token, jwks, rule)
        .await
        .map_err(|e| {
            tracing::info!(provider = %provider.name, error = %e, "ID token refused");
            invalid("Bad ID token")
        })?;
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err(invalid("Missing sub claim in id_token"));
    }
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let ok_aud = provider
        .settings
        .client_ids
        .iter()
        .any(|c| !c.is_empty() && audiences.contains(c));
    if !ok_aud {
        return Err(invalid(format!(
            "Unacceptable audience in id_token: [{}]",
            audiences.join(" ")
        )));
    }
    let skip_nonce = provider.settings.skip_nonce_check || provider.name == "facebook";
    if !skip_nonce {
        let in_token = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        let given = p.nonce.as_deref().unwrap_or("");
        if in_token.is_empty() != given.is_empty() {
            return Err(invalid(
                "Passed nonce and nonce in id_token should either both exist or not.",
            ));
        }
        if !given.is_empty() {
            use sha2::Digest;
            let hash = hex::encode(sha2::Sha256::digest(given.as_bytes()));
            if !crate::crypto::constant_time_eq(hash.as_bytes(), in_token.as_bytes()) {
                return Err(ApiError::OAuth {
                    error: "invalid nonce",
                    description: "Nonces mismatch".into(),
                });
            }
        }
    }
    if let (Some(at), Some(hash)) = (
        p.access_token.as_deref().filter(|t| !t.is_empty()),
        claims.get("at_hash").and_then(Value::as_str),
    ) {
        if !client::at_hash_matches(hash, at) {
            return Err(invalid("Bad ID token"));
        }
    }
    let mut data = profile::from_oidc(&Value::Object(claims), &provider.name);
    data.settle_email();
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let link = if p.link_identity {
        if headers.get(http::header::AUTHORIZATION).is_none() {
            return Err(invalid(
                "Linking requires a valid user access token in Authorization",
            ));
        }
        Some(authenticate(state, &headers, &tx).await?.user.id)
    } else {
        None
    };
    let user = sign_in_or_link(state, &tx, &client, &provider, &data, link).await?;
    if user.is_banned() {
        return Err(ApiError::UserBanned { status: 400 });
    }
    let session = crate::sessions::start(state, &tx, &user, METHOD, &client).await?;
    tx.commit().await?;
    Ok(Json(session).into_response())
}
