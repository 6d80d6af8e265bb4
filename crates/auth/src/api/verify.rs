//! `GET /verify` (links in emails: verify, then 303 to `redirect_to` with the session in the
//! fragment, or `?code=` for PKCE flows) and `POST /verify` (`verifyOtp`: a code with the email
//! address, or a token hash; answers with the session).

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::GenericClient;

use crate::error::ApiError;
use crate::extract::{redirect_target, Body, Client, Query};
use crate::onetime::{self, Slot};
use crate::ratelimit::{self, Limit};
use crate::sessions::{self, method};
use crate::state::AppState;
use crate::users::{self, User, USER_COLUMNS};
use crate::{crypto, flow};

/// The body of `POST /verify`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VerifyParams {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub token: Option<String>,
    pub token_hash: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub redirect_to: Option<String>,
}

const SINGLE_CONFIRMATION: &str =
    "Confirmation link accepted. Please proceed to confirm link sent to the other email";

/// The refusal of a PKCE link whose flow state no longer exists.
const NO_FLOW_STATE: &str =
    "No associated flow state found. 422: No valid flow state found for user.";

/// What a successful verification leads to.
enum Outcome {
    /// The user is verified; sign them in by `method`.
    Verified {
        user: Box<User>,
        method: &'static str,
    },
    /// One of two email-change confirmations; the other is still to come.
    Partial,
}

/// The token slots a verification type may match.
fn slots(kind: &str) -> Result<&'static [Slot], ApiError> {
    Ok(match kind {
        "signup" | "invite" => &[Slot::Confirmation],
        "recovery" | "magiclink" => &[Slot::Recovery, Slot::Confirmation],
        "email" => &[Slot::Confirmation, Slot::Recovery],
        "email_change" => &[Slot::EmailChangeNew, Slot::EmailChangeCurrent],
        "sms" => &[Slot::Confirmation],
        "phone_change" => &[Slot::PhoneChange],
        _ => return Err(ApiError::Validation("Unsupported verification type".into())),
    })
}

/// Find the user holding token hash `hash` in one of the slots.
async fn by_hash(
    db: &impl GenericClient,
    kind: &str,
    hash: &str,
) -> Result<Option<(User, Slot)>, ApiError> {
    if hash.is_empty() {
        return Ok(None);
    }
    for &slot in slots(kind)? {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM auth.users WHERE {} = $1 FOR UPDATE",
            slot.column()
        );
        if let Some(row) = db.query_opt(&sql, &[&hash]).await? {
            return Ok(Some((User::from_row(&row), slot)));
        }
    }
    Ok(None)
}

/// Find the user by address and check the code against each slot.
async fn by_code(
    db: &impl GenericClient,
    kind: &str,
    email: &str,
    code: &str,
) -> Result<Option<(User, Slot)>, ApiError> {
    let email = users::validate_email(email)
        .map_err(|_| ApiError::Unprocessable("Invalid email format".into()))?;
    let mut candidates = Vec::new();
    if let Some(u) = users::by_email(db, &email).await? {
        candidates.push(u);
    }
    if kind == "email_change" {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM auth.users WHERE lower(email_change) = lower($1) LIMIT 1"
        );
        if let Some(row) = db.query_opt(&sql, &[&email]).await? {
            candidates.push(User::from_row(&row));
        }
    }
    for user in candidates {
        for &slot in slots(kind)? {
            let address = match slot {
                Slot::EmailChangeNew => user.email_change.as_str(),
                _ => user.email.as_str(),
            };
            let stored = slot.hash_of(&user);
            let expected = crypto::token_hash(address, code);
            if onetime::code_matches(stored, &expected) {
                let locked = users::by_id_for_update(db, user.id).await?;
                return Ok(locked.map(|u| (u, slot)));
            }
        }
    }
    Ok(None)
}

/// Find the user by phone number and check the texted code (with Twilio Verify, the provider
/// checks it, except for test numbers).
async fn by_phone_code(
    state: &AppState,
    db: &impl GenericClient,
    kind: &str,
    phone: &str,
    code: &str,
) -> Result<Option<(User, Slot)>, ApiError> {
    let phone = users::validate_phone(phone)?;
    let (user, slot) = if kind == "phone_change" {
        let sql = format!("SELECT {USER_COLUMNS} FROM auth.users WHERE phone_change = $1 LIMIT 1");
        let row = db.query_opt(&sql, &[&phone]).await?;
        (row.map(|r| User::from_row(&r)), Slot::PhoneChange)
    } else {
        (users::by_phone(db, &phone).await?, Slot::Confirmation)
    };
    let Some(user) = user else {
        return Ok(None);
    };
    let test_number = state.config.sms.test_otp.contains_key(&phone);
    if let Some(sender) = state
        .sms
        .as_ref()
        .filter(|s| s.verifies_codes() && !test_number)
    {
        if let Err(e) = sender.verify(&phone, code).await {
            tracing::info!(error = %e, "the SMS provider refused a code");
            return Ok(None);
        }
        return Ok(users::by_id_for_update(db, user.id)
            .await?
            .map(|u| (u, slot)));
    }
    let expected = crypto::token_hash(&phone, code);
    let stored = slot.hash_of(&user);
    if stored.is_empty() || !crypto::constant_time_eq(stored.as_bytes(), expected.as_bytes()) {
        return Ok(None);
    }
    Ok(users::by_id_for_update(db, user.id)
        .await?
        .map(|u| (u, slot)))
}

/// Apply a verified token.
async fn apply(
    state: &AppState,
    db: &impl GenericClient,
    kind: &str,
    user: User,
    slot: Slot,
) -> Result<Outcome, ApiError> {
    let lifetime = if kind == "sms" || kind == "phone_change" {
        state.config.sms.otp_exp
    } else {
        state.config.mailer.otp_exp
    };
    if onetime::expired_after(slot.sent_at(&user), lifetime) {
        return Err(ApiError::OtpExpired("Token has expired or is invalid"));
    }
    if user.is_banned() {
        return Err(ApiError::UserBanned { status: 403 });
    }
    onetime::clear(db, user.id, slot).await?;
    let auth_method = match slot {
        Slot::Confirmation if kind == "sms" => {
            db.execute(
                "UPDATE auth.users SET phone_confirmed_at = coalesce(phone_confirmed_at, now()), \
                   updated_at = now() WHERE id = $1",
                &[&user.id],
            )
            .await?;
            db.execute(
                "UPDATE auth.identities SET identity_data = identity_data || '{\"phone_verified\": true}'::jsonb, \
                   updated_at = now() WHERE user_id = $1 AND provider = 'phone'",
                &[&user.id],
            )
            .await?;
            method::OTP
        }
        Slot::Confirmation | Slot::Recovery => {
            db.execute(
                "UPDATE auth.users SET email_confirmed_at = coalesce(email_confirmed_at, now()), \
                   updated_at = now() WHERE id = $1",
                &[&user.id],
            )
            .await?;
            users::mark_email_verified(db, user.id).await?;
            match (kind, slot) {
                ("invite", _) => method::INVITE,
                ("recovery", _) => method::RECOVERY,
                ("magiclink", Slot::Recovery) => method::MAGICLINK,
                ("signup", _) => method::OTP,
                _ => method::OTP,
            }
        }
        Slot::EmailChangeNew | Slot::EmailChangeCurrent => {
            let other = match slot {
                Slot::EmailChangeNew => Slot::EmailChangeCurrent,
                _ => Slot::EmailChangeNew,
            };
            // With autoconfirm one confirmation is enough, even of a secure change.
            if state.config.mailer.secure_email_change
                && !state.config.mailer.autoconfirm
                && !other.hash_of(&user).is_empty()
                && user.email_change_confirm_status == 0
            {
                db.execute(
                    "UPDATE auth.users SET email_change_confirm_status = 1, updated_at = now() \
                     WHERE id = $1",
                    &[&user.id],
                )
                .await?;
                return Ok(Outcome::Partial);
            }
            if user.email_change.is_empty() {
                return Err(ApiError::OtpExpired("Token has expired or is invalid"));
            }
            crate::api::user::apply_email_change(db, &user, &user.email_change).await?;
            method::EMAIL_CHANGE
        }
        Slot::PhoneChange => {
            if user.phone_change.is_empty() {
                return Err(ApiError::OtpExpired("Token has expired or is invalid"));
            }
            crate::api::user::apply_phone_change(db, &user, &user.phone_change).await?;
            method::OTP
        }
        Slot::Reauthentication => method::OTP,
    };
    let user = users::by_id(db, user.id)
        .await?
        .ok_or(ApiError::JwtUserNotFound)?;
    Ok(Outcome::Verified {
        user: Box::new(user),
        method: auth_method,
    })
}

/// The flow-state method a verification of `kind` continues.
fn flow_method(kind: &str, auth_method: &str) -> &'static str {
    match kind {
        "signup" => method::EMAIL_SIGNUP,
        "recovery" => method::RECOVERY,
        "magiclink" if auth_method == method::MAGICLINK => method::MAGICLINK,
        "magiclink" => method::EMAIL_SIGNUP,
        "email_change" => method::EMAIL_CHANGE,
        "invite" => method::INVITE,
        _ => method::OTP,
    }
}

pub async fn verify_post(
    State(state): State<AppState>,
    client: Client,
    Body(p): Body<VerifyParams>,
) -> Result<Response, ApiError> {
    ratelimit::check(&state, Limit::Verify, client.ip).await?;
    let kind = p.kind.unwrap_or_default();
    if kind.is_empty() {
        return Err(ApiError::Validation(
            "Verify requires a verification type".into(),
        ));
    }
    let token = p.token.unwrap_or_default();
    let token_hash = p.token_hash.unwrap_or_default();
    if token.is_empty() == token_hash.is_empty() {
        return Err(ApiError::Validation(
            "Verify requires either a token or a token hash".into(),
        ));
    }
    let email = p.email.unwrap_or_default();
    let phone = p.phone.unwrap_or_default();
    let redirect_given = p.redirect_to.as_deref().is_some_and(|r| !r.is_empty());
    if !token_hash.is_empty() && (!email.is_empty() || !phone.is_empty() || redirect_given) {
        return Err(ApiError::Validation(
            "Only the token_hash and type should be provided".into(),
        ));
    }
    if !token.is_empty() && email.is_empty() == phone.is_empty() {
        return Err(ApiError::Validation(
            "Only an email address or phone number should be provided on verify".into(),
        ));
    }
    slots(&kind)?;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let by_link = !token_hash.is_empty();
    let found = if by_link {
        if kind == "sms" || kind == "phone_change" {
            return Err(ApiError::Validation(
                "Invalid email verification type".into(),
            ));
        }
        by_hash(&tx, &kind, &token_hash).await?
    } else if !phone.is_empty() {
        if kind != "sms" && kind != "phone_change" {
            return Err(ApiError::Validation("Unsupported verification type".into()));
        }
        by_phone_code(&state, &tx, &kind, &phone, &token).await?
    } else {
        by_code(&tx, &kind, &email, &token).await?
    };
    // A token hash is an email link's token, and refused in a link's words.
    let refused = if by_link {
        "Email link is invalid or has expired"
    } else {
        "Token has expired or is invalid"
    };
    let (user, slot) = found.ok_or(ApiError::OtpExpired(refused))?;
    let applied = match apply(&state, &tx, &kind, user, slot).await {
        Err(ApiError::OtpExpired(_)) => Err(ApiError::OtpExpired(refused)),
        other => other,
    };
    match applied {
        Ok(Outcome::Partial) => {
            tx.commit().await?;
            Ok(Json(json!({"msg": SINGLE_CONFIRMATION, "code": "200"})).into_response())
        }
        Ok(Outcome::Verified { user, .. }) => {
            // Every verified token signs in by `otp`; only a PKCE exchange names the flow.
            let session = sessions::start(&state, &tx, &user, method::OTP, &client).await?;
            tx.commit().await?;
            Ok(Json(session).into_response())
        }
        Err(e) => Err(e),
    }
}

pub async fn verify_get(
    State(state): State<AppState>,
    client: Client,
    query: Query,
) -> Result<Response, ApiError> {
    // Refusals that come before the link is looked at are JSON answers, not redirects.
    ratelimit::check(&state, Limit::Verify, client.ip).await?;
    let kind = query.get("type").unwrap_or("").to_string();
    let token = query.get("token").unwrap_or("").to_string();
    if kind.is_empty() {
        return Err(ApiError::Validation(
            "Verify requires a verification type".into(),
        ));
    }
    if token.is_empty() {
        return Err(ApiError::Validation(
            "Verify requires a token or a token hash".into(),
        ));
    }
    let redirect = redirect_target(&state.config, query.get("redirect_to"));
    let pkce = token.starts_with(crate::flow::TOKEN_PREFIX);
    match verify_link(&state, &client, &kind, &token).await {
        Ok(Link::Session(session)) => {
            let mut frag = form_urlencoded::Serializer::new(String::new());
            for k in [
                "access_token",
                "expires_at",
                "expires_in",
                "refresh_token",
                "sb",
                "token_type",
                "type",
            ] {
                let v = match (k, &session[k]) {
                    ("sb", _) => String::new(),
                    ("type", _) => kind.clone(),
                    (_, Value::String(s)) => s.clone(),
                    (_, other) => other.to_string(),
                };
                frag.append_pair(k, &v);
            }
            Ok(see_other(&format!("{redirect}#{}", frag.finish())))
        }
        Ok(Link::Code(code)) => Ok(redirect_with(&redirect, &[("code", &code)], None)),
        Ok(Link::Partial) => {
            let message = [("message", SINGLE_CONFIRMATION)];
            let query: &[(&str, &str)] = if pkce { &message } else { &[] };
            Ok(redirect_with(&redirect, query, Some(&message)))
        }
        Err(e) => Ok(error_redirect(&redirect, &e, pkce)),
    }
}

/// Where a followed link leads.
enum Link {
    Session(Value),
    Code(String),
    Partial,
}

async fn verify_link(
    state: &AppState,
    client: &Client,
    kind: &str,
    token: &str,
) -> Result<Link, ApiError> {
    if kind.is_empty() {
        return Err(ApiError::Validation(
            "Verify requires a verification type".into(),
        ));
    }
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let (user, slot) = by_hash(&tx, kind, token)
        .await?
        .ok_or(ApiError::OtpExpired("Email link is invalid or has expired"))?;
    let outcome = match apply(state, &tx, kind, user, slot).await {
        Err(ApiError::OtpExpired(_)) => {
            return Err(ApiError::OtpExpired("Email link is invalid or has expired"))
        }
        other => other?,
    };
    let link = match outcome {
        Outcome::Partial => Link::Partial,
        Outcome::Verified { user, method } => {
            let max_age = state.config.mailer.otp_exp;
            match flow::issue_code(&tx, user.id, flow_method(kind, method), max_age).await? {
                Some(code) => Link::Code(code),
                // A PKCE link whose flow state is gone signs nobody in (and, the transaction
                // dropped, verifies nothing): the browser gets the error instead.
                None if token.starts_with(flow::TOKEN_PREFIX) => {
                    return Err(ApiError::FlowStateNotFound {
                        status: 400,
                        message: NO_FLOW_STATE,
                    })
                }
                None => {
                    Link::Session(sessions::start(state, &tx, &user, method::OTP, client).await?)
                }
            }
        }
    };
    tx.commit().await?;
    Ok(link)
}

fn see_other(location: &str) -> Response {
    match http::HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(LOCATION, v)]).into_response(),
        Err(_) => ApiError::Validation("invalid redirect URL".into()).into_response(),
    }
}

/// The OAuth 2.0 error name of a status (none for statuses OAuth has no name for).
fn oauth_error(status: u16) -> Option<&'static str> {
    match status {
        400 => Some("invalid_request"),
        401 => Some("unauthorized_client"),
        403 => Some("access_denied"),
        500 => Some("server_error"),
        503 => Some("temporarily_unavailable"),
        _ => None,
    }
}

/// A 303 to `redirect` with `query` pairs added to its query (pairs it already has of the same
/// names replaced) and, when given, `fragment` pairs plus the `sb` marker as its fragment.
fn redirect_with(
    redirect: &str,
    query: &[(&str, &str)],
    fragment: Option<&[(&str, &str)]>,
) -> Response {
    let Ok(mut url) = url::Url::parse(redirect) else {
        return ApiError::Validation("invalid redirect URL".into()).into_response();
    };
    if !query.is_empty() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !query.iter().any(|(q, _)| q == k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut pairs = url.query_pairs_mut();
        pairs.clear();
        pairs.extend_pairs(kept);
        pairs.extend_pairs(query);
    }
    if let Some(frag) = fragment {
        let mut f = form_urlencoded::Serializer::new(String::new());
        f.extend_pairs(frag);
        f.append_pair("sb", "");
        url.set_fragment(Some(&f.finish()));
    }
    see_other(url.as_str())
}

/// Send the browser back with the error in the fragment (`error`, `error_code`,
/// `error_description`, `sb`), as GoTrue does; a PKCE flow's link also gets them in the query,
/// where a server-side callback can read them.
pub fn error_redirect(redirect: &str, e: &ApiError, pkce: bool) -> Response {
    let (status, code) = e.status_and_code();
    let message = e.message();
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(error) = oauth_error(status) {
        params.push(("error", error));
    }
    params.push(("error_code", code));
    params.push(("error_description", &message));
    let query: &[(&str, &str)] = if pkce { &params } else { &[] };
    redirect_with(redirect, query, Some(&params))
}
