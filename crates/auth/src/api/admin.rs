//! The admin API, for tokens whose role is an admin role (the service key): users (list with
//! pagination headers, create, get, update, delete), their MFA factors, `POST /invite` and
//! `POST /admin/generate_link`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::signup::{hash, metadata};
use crate::error::ApiError;
use crate::extract::{redirect_target, require_admin, Body, Query};
use crate::mail::Kind;
use crate::onetime::{self, Slot};
use crate::state::AppState;
use crate::users::{self, NewUser, User};
use crate::{audit, password};

/// The user id of an admin path: not an id is 404 `validation_failed`, as Supabase Auth says.
fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::Coded {
        status: 404,
        code: "validation_failed",
        message: "user_id must be an UUID".into(),
    })
}

async fn load(db: &impl tokio_postgres::GenericClient, id: Uuid) -> Result<User, ApiError> {
    users::by_id(db, id)
        .await?
        .ok_or(ApiError::UserNotFound("User not found"))
}

pub async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let page = super::paging::page(&query)?;
    let newest_first = super::paging::newest_first(&query)?;
    let filter = query
        .get("filter")
        .map(|f| format!("%{}%", f.replace(['%', '_'], "")));
    let db = state.pool.get().await?;
    let db: &tokio_postgres::Client = &db;
    let total: i64 = db
        .query_one(
            "SELECT count(*) FROM auth.users WHERE ($1::text IS NULL OR email ILIKE $1 OR raw_user_meta_data ->> 'full_name' ILIKE $1)",
            &[&filter],
        )
        .await?
        .get(0);
    let order = if newest_first {
        "created_at DESC NULLS LAST, id"
    } else {
        "created_at ASC NULLS FIRST, id"
    };
    let sql = format!(
        "SELECT {} FROM auth.users \
         WHERE ($1::text IS NULL OR email ILIKE $1 OR raw_user_meta_data ->> 'full_name' ILIKE $1) \
         ORDER BY {order} LIMIT $2 OFFSET $3",
        users::USER_COLUMNS
    );
    let rows = db
        .query(&sql, &[&filter, &page.per_page, &page.offset()])
        .await?;
    let mut list = Vec::with_capacity(rows.len());
    for r in &rows {
        list.push(users::to_json(db, &User::from_row(r)).await?);
    }
    let links = super::paging::link("/admin/users", &query, page, total);
    let mut res = Json(json!({"users": list, "aud": state.config.jwt.aud})).into_response();
    let h = res.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(&links) {
        h.insert("link", v);
    }
    h.insert("x-total-count", http::HeaderValue::from(total));
    Ok(res)
}

/// The body of admin create and update.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AdminUserParams {
    pub id: Option<String>,
    pub aud: Option<String>,
    pub role: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<String>,
    pub password_hash: Option<String>,
    pub email_confirm: Option<bool>,
    pub phone_confirm: Option<bool>,
    pub user_metadata: Option<Value>,
    pub app_metadata: Option<Value>,
    pub ban_duration: Option<String>,
}

/// Check a password hash handed in by an admin (bcrypt only).
fn checked_hash(h: &str) -> Result<String, ApiError> {
    let bcrypt_prefix = h.starts_with("$2a$") || h.starts_with("$2b$") || h.starts_with("$2y$");
    if bcrypt_prefix && bcrypt::verify("", h).is_ok() {
        return Ok(h.to_string());
    }
    Err(ApiError::Validation(
        "Invalid password hash: only bcrypt hashes are supported".into(),
    ))
}

/// `none` lifts a ban, anything else is a Go duration from now.
fn ban_until(d: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    if d == "none" {
        return Ok(None);
    }
    let dur = crate::config::parse_duration(d)
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .ok_or_else(|| ApiError::Validation("invalid format for ban duration".into()))?;
    Ok(Some(chrono::Utc::now() + dur))
}

pub async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(p): Body<AdminUserParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let config = &state.config;
    let given = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).is_some();
    if !given(&p.email) && !given(&p.phone) {
        return Err(ApiError::Validation(
            "Cannot create a user without either an email or phone".into(),
        ));
    }
    let email = p
        .email
        .as_deref()
        .filter(|e| !e.is_empty())
        .map(users::validate_email)
        .transpose()?;
    let phone = p
        .phone
        .as_deref()
        .filter(|e| !e.is_empty())
        .map(users::validate_phone)
        .transpose()?;
    // The admin sets whatever password it likes: the strength rules apply to users choosing
    // their own (sign-up, `/user`, admin updates), not to accounts an admin creates.
    let encrypted = match (&p.password, &p.password_hash) {
        (Some(pw), Some(h)) if !pw.is_empty() && !h.is_empty() => {
            return Err(ApiError::Validation(
                "Only a password or a password hash should be provided".into(),
            ))
        }
        (_, Some(h)) if !h.is_empty() => checked_hash(h)?,
        (Some(pw), _) if !pw.is_empty() => hash(pw.clone()).await?,
        _ => String::new(),
    };
    let id = match p.id.as_deref() {
        Some(s) => match Uuid::parse_str(s) {
            Ok(id) if id.is_nil() => {
                return Err(ApiError::Validation("ID cannot be a nil uuid".into()))
            }
            Ok(id) => id,
            Err(_) => {
                return Err(ApiError::Validation(
                    "ID must conform to the uuid v4 format".into(),
                ))
            }
        },
        None => Uuid::new_v4(),
    };
    let provider = if email.is_some() { "email" } else { "phone" };
    let mut app = json!({"provider": provider, "providers": [provider]});
    if let Some(extra) = &p.app_metadata {
        app = users::merge_metadata(&app, &metadata(Some(extra.clone()))?);
    }
    let user_meta = metadata(p.user_metadata.clone())?;
    let banned = p
        .ban_duration
        .as_deref()
        .map(ban_until)
        .transpose()?
        .flatten();
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    if let Some(e) = &email {
        if users::by_email(&tx, e).await?.is_some() {
            return Err(ApiError::EmailExists);
        }
    }
    if let Some(ph) = &phone {
        if users::by_phone(&tx, ph).await?.is_some() {
            return Err(ApiError::Coded {
                status: 422,
                code: "phone_exists",
                message: "Phone number already registered by another user".into(),
            });
        }
    }
    let aud = p.aud.clone().unwrap_or_else(|| config.jwt.aud.clone());
    let role = p.role.clone().unwrap_or_else(|| "authenticated".into());
    let user = users::insert(
        &tx,
        NewUser {
            id,
            aud: &aud,
            role: &role,
            email: email.as_deref(),
            phone: phone.as_deref(),
            encrypted_password: &encrypted,
            app_metadata: app,
            user_metadata: user_meta,
            confirmed: p.email_confirm.unwrap_or(false) && email.is_some(),
            phone_confirmed: p.phone_confirm.unwrap_or(false) && phone.is_some(),
            is_anonymous: false,
            invited: false,
        },
    )
    .await?;
    if p.email_confirm.unwrap_or(false) {
        users::mark_email_verified(&tx, user.id).await?;
    }
    if banned.is_some() {
        tx.execute(
            "UPDATE auth.users SET banned_until = $2 WHERE id = $1",
            &[&user.id, &banned],
        )
        .await?;
    }
    let user = load(&tx, user.id).await?;
    let body = users::to_json(&tx, &user).await?;
    tx.commit().await?;
    Ok(Json(body).into_response())
}

pub async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let db = state.pool.get().await?;
    let db: &tokio_postgres::Client = &db;
    let user = load(db, id).await?;
    Ok(Json(users::to_json(db, &user).await?).into_response())
}

pub async fn update_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(p): Body<AdminUserParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let config = &state.config;
    let new_hash = match (&p.password, &p.password_hash) {
        (_, Some(h)) if !h.is_empty() => Some(checked_hash(h)?),
        (Some(pw), _) if !pw.is_empty() => {
            password::check_strength(&config.password, pw)?;
            Some(hash(pw.clone()).await?)
        }
        _ => None,
    };
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let user = users::by_id_for_update(&tx, id)
        .await?
        .ok_or(ApiError::UserNotFound("User not found"))?;
    if let Some(h) = new_hash {
        users::set_password(&tx, id, &h, None).await?;
    }
    if let Some(e) = p.email.as_deref().filter(|e| !e.is_empty()) {
        let e = users::validate_email(e)?;
        if e != user.email {
            if users::by_email(&tx, &e).await?.is_some() {
                return Err(ApiError::EmailExists);
            }
            set_email(&tx, &user, &e, p.email_confirm == Some(true)).await?;
        }
    }
    if let Some(ph) = p.phone.as_deref().filter(|e| !e.is_empty()) {
        let ph = users::validate_phone(ph)?;
        if ph != user.phone {
            if users::by_phone(&tx, &ph).await?.is_some() {
                return Err(ApiError::PhoneExists);
            }
            tx.execute(
                "UPDATE auth.users SET phone = $2, updated_at = now() WHERE id = $1",
                &[&id, &ph],
            )
            .await?;
        }
    }
    let user_meta = p
        .user_metadata
        .map(|m| {
            Ok::<_, ApiError>(users::merge_metadata(
                &user.user_metadata,
                &metadata(Some(m))?,
            ))
        })
        .transpose()?;
    let app_meta = p
        .app_metadata
        .map(|m| {
            Ok::<_, ApiError>(users::merge_metadata(
                &user.app_metadata,
                &metadata(Some(m))?,
            ))
        })
        .transpose()?;
    let ban = p.ban_duration.as_deref().map(ban_until).transpose()?;
    // Absent fields (NULL parameters) keep their value.
    tx.execute(
        "UPDATE auth.users SET \
           raw_user_meta_data = coalesce($2, raw_user_meta_data), \
           raw_app_meta_data = coalesce($3, raw_app_meta_data), \
           role = coalesce($4, role), \
           email_confirmed_at = CASE WHEN $5::bool IS NULL THEN email_confirmed_at \
             WHEN $5 THEN coalesce(email_confirmed_at, now()) END, \
           phone_confirmed_at = CASE WHEN $6::bool IS NULL THEN phone_confirmed_at \
             WHEN $6 THEN coalesce(phone_confirmed_at, now()) END, \
           banned_until = CASE WHEN $7 THEN $8 ELSE banned_until END, \
           updated_at = now() \
         WHERE id = $1",
        &[
            &id,
            &user_meta,
            &app_meta,
            &p.role,
            &p.email_confirm,
            &p.phone_confirm,
            &ban.is_some(),
            &ban.flatten(),
        ],
    )
    .await?;
    if p.email_confirm == Some(true) {
        users::mark_email_verified(&tx, id).await?;
    }
    let user = load(&tx, id).await?;
    let body = users::to_json(&tx, &user).await?;
    tx.commit().await?;
    Ok(Json(body).into_response())
}

/// Give a user `new_email` by the admin API: only the address changes. Its confirmation
/// (`email_confirmed_at`) is left as it was (`email_confirm: true` confirms it afterwards), no
/// mail is sent, pending email changes stay, and the email identity (created when missing)
/// carries the address with `email_verified` as `confirm` says.
async fn set_email(
    db: &impl tokio_postgres::GenericClient,
    user: &User,
    new_email: &str,
    confirm: bool,
) -> Result<(), ApiError> {
    db.execute(
        "UPDATE auth.users SET email = $2, is_anonymous = is_anonymous AND NOT $3, \
           updated_at = now(), \
           raw_app_meta_data = CASE WHEN coalesce(raw_app_meta_data ->> 'provider', '') = '' \
             THEN coalesce(raw_app_meta_data, '{}'::jsonb) || '{\"provider\": \"email\", \"providers\": [\"email\"]}'::jsonb \
             ELSE raw_app_meta_data END \
         WHERE id = $1",
        &[&user.id, &new_email, &confirm],
    )
    .await
    .map_err(|e| match e.code() {
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => ApiError::EmailExists,
        _ => ApiError::from(e),
    })?;
    let updated = db
        .execute(
            "UPDATE auth.identities SET identity_data = identity_data || \
               jsonb_build_object('email', $2::text, 'email_verified', $3::bool), updated_at = now() \
             WHERE user_id = $1 AND provider = 'email'",
            &[&user.id, &new_email, &confirm],
        )
        .await?;
    if updated == 0 {
        // Created unverified; `email_confirm: true` marks it verified with the user.
        users::insert_identity(
            db,
            user,
            "email",
            &user.id.to_string(),
            Some(new_email),
            None,
        )
        .await?;
    }
    Ok(())
}

/// `value` made unreadable for good but still unique per user: base64url (unpadded) of the
/// SHA-256 of the user id's text followed by `value`, in SQL.
fn obfuscated(value: &str) -> String {
    format!(
        "rtrim(translate(encode(sha256(convert_to(id::text || coalesce({value}, ''), 'UTF8')), \
           'base64'), '+/', '-_'), '=')"
    )
}

/// Soft-delete user `id`: the row stays (for foreign keys) with its addresses obfuscated (so they
/// can be signed up with again and are never found), no password, tokens, metadata, sessions or
/// factors; its identities stay with their data emptied and their provider ids obfuscated.
async fn soft_delete(db: &impl tokio_postgres::GenericClient, id: Uuid) -> Result<(), ApiError> {
    let sql = format!(
        "UPDATE auth.users SET deleted_at = now(), updated_at = now(), email = {}, \
           phone = left({}, 15), email_change = {}, phone_change = left({}, 15), \
           encrypted_password = NULL, confirmation_token = '', recovery_token = '', \
           email_change_token_new = '', email_change_token_current = '', \
           phone_change_token = '', reauthentication_token = '', \
           raw_app_meta_data = '{{}}'::jsonb, raw_user_meta_data = '{{}}'::jsonb WHERE id = $1",
        obfuscated("email"),
        obfuscated("phone"),
        obfuscated("email_change"),
        obfuscated("phone_change"),
    );
    db.execute(&sql, &[&id]).await?;
    db.execute(
        "UPDATE auth.identities SET identity_data = '{}'::jsonb, updated_at = now(), \
           provider_id = rtrim(translate(encode(sha256(convert_to( \
             user_id::text || provider || ':' || provider_id, 'UTF8')), 'base64'), '+/', '-_'), '=') \
         WHERE user_id = $1",
        &[&id],
    )
    .await?;
    for table in ["one_time_tokens", "sessions", "mfa_factors"] {
        db.execute(
            &format!("DELETE FROM auth.{table} WHERE user_id = $1"),
            &[&id],
        )
        .await?;
    }
    Ok(())
}

/// The body of admin delete.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteParams {
    pub should_soft_delete: bool,
}

pub async fn delete_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(p): Body<DeleteParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let user = load(&tx, id).await?;
    audit::record(
        &tx,
        &user,
        audit::Action::Deleted,
        None,
        json!({"user_id": id.to_string(), "user_email": user.email}),
    )
    .await?;
    if p.should_soft_delete {
        if user.deleted_at.is_none() {
            soft_delete(&tx, id).await?;
        }
    } else {
        tx.execute("DELETE FROM auth.users WHERE id = $1", &[&id])
            .await?;
    }
    tx.commit().await?;
    Ok(Json(json!({})).into_response())
}

pub async fn list_factors(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let db = state.pool.get().await?;
    let db: &tokio_postgres::Client = &db;
    load(db, id).await?;
    Ok(Json(Value::Array(users::factors_json(db, id).await?)).into_response())
}

pub async fn delete_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, factor)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    let factor = Uuid::parse_str(&factor).map_err(|_| ApiError::Coded {
        status: 404,
        code: "validation_failed",
        message: "factor_id must be an UUID".into(),
    })?;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let all = users::factors_json(&tx, id).await?;
    let found = all
        .into_iter()
        .find(|f| f["id"] == factor.to_string())
        .ok_or(ApiError::FactorNotFound)?;
    tx.execute(
        "DELETE FROM auth.mfa_factors WHERE id = $1 AND user_id = $2",
        &[&factor, &id],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(found).into_response())
}

/// The body of `POST /invite`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteParams {
    pub email: Option<String>,
    pub data: Option<Value>,
}

pub async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
    Body(p): Body<InviteParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let email = users::validate_email(p.email.as_deref().unwrap_or(""))?;
    let data = metadata(p.data)?;
    let redirect = redirect_target(&state.config, query.get("redirect_to"));
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let user = invitee(&state, &tx, &email, data).await?;
    onetime::send(
        &state,
        &tx,
        &user,
        Slot::Confirmation,
        Kind::Invite,
        &email,
        &redirect,
    )
    .await?;
    let user = load(&tx, user.id).await?;
    let body = users::to_json(&tx, &user).await?;
    tx.commit().await?;
    Ok(Json(body).into_response())
}

/// The user an invitation goes to: existing and unconfirmed, or new.
async fn invitee(
    state: &AppState,
    db: &impl tokio_postgres::GenericClient,
    email: &str,
    data: Value,
) -> Result<User, ApiError> {
    match users::by_email(db, email).await? {
        Some(u) if u.is_confirmed() => Err(ApiError::EmailExists),
        Some(u) => {
            db.execute(
                "UPDATE auth.users SET invited_at = now(), updated_at = now() WHERE id = $1",
                &[&u.id],
            )
            .await?;
            Ok(u)
        }
        None => {
            users::insert(
                db,
                NewUser {
                    invited: true,
                    ..NewUser::email(&state.config.jwt.aud, email, "", data)
                },
            )
            .await
        }
    }
}

/// The body of `POST /admin/generate_link`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GenerateLinkParams {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub email: Option<String>,
    pub new_email: Option<String>,
    pub password: Option<String>,
    pub data: Option<Value>,
    #[serde(rename = "redirectTo")]
    pub redirect_to: Option<String>,
}

pub async fn generate_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
    Body(p): Body<GenerateLinkParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let config = &state.config;
    let kind = p.kind.unwrap_or_default();
    let email = users::validate_email(p.email.as_deref().unwrap_or(""))?;
    let requested = query.get("redirect_to").or(p.redirect_to.as_deref());
    let redirect = redirect_target(config, requested);
    let data = metadata(p.data)?;
    let mut conn = state.pool.get().await?;
    let tx = crate::state::begin(&mut conn).await?;
    let existing = users::by_email(&tx, &email).await?;
    // A magic link for an address nobody has signs a new user up instead (with no password).
    let requested_signup = kind == "signup";
    let kind = if kind == "magiclink" && existing.is_none() {
        "signup".to_string()
    } else {
        kind
    };
    let (user, slot, address, link_type) = match kind.as_str() {
        "signup" => {
            let user = match existing {
                Some(u) if u.is_confirmed() => return Err(ApiError::EmailExists),
                Some(u) => {
                    tx.execute(
                        "UPDATE auth.users SET raw_user_meta_data = $2, updated_at = now() \
                         WHERE id = $1",
                        &[&u.id, &users::merge_metadata(&u.user_metadata, &data)],
                    )
                    .await?;
                    u
                }
                None => {
                    let hashed = match p.password.as_deref().filter(|pw| !pw.is_empty()) {
                        Some(pw) => {
                            password::check_strength(&config.password, pw)?;
                            hash(pw.to_string()).await?
                        }
                        None if requested_signup => {
                            return Err(ApiError::Validation(
                                "Signup requires a valid password".into(),
                            ))
                        }
                        None => String::new(),
                    };
                    users::insert(&tx, NewUser::email(&config.jwt.aud, &email, &hashed, data))
                        .await?
                }
            };
            (user, Slot::Confirmation, email.clone(), "signup")
        }
        "invite" => {
            let user = invitee(&state, &tx, &email, data).await?;
            (user, Slot::Confirmation, email.clone(), "invite")
        }
        "magiclink" | "recovery" => {
            let user = existing.ok_or(ApiError::UserNotFound("User with this email not found"))?;
            let t = if kind == "magiclink" {
                "magiclink"
            } else {
                "recovery"
            };
            (user, Slot::Recovery, email.clone(), t)
        }
        "email_change_current" | "email_change_new" => {
            let user = existing.ok_or(ApiError::UserNotFound("User with this email not found"))?;
            if kind == "email_change_current" && !config.mailer.secure_email_change {
                return Err(ApiError::Validation(
                    "Enable secure email change to generate link for current email".into(),
                ));
            }
            let new_email = users::validate_email(p.new_email.as_deref().unwrap_or(""))?;
            if users::by_email(&tx, &new_email).await?.is_some() {
                return Err(ApiError::EmailExists);
            }
            tx.execute(
                "UPDATE auth.users SET email_change = $2, email_change_confirm_status = 0, \
                   updated_at = now() WHERE id = $1",
                &[&user.id, &new_email],
            )
            .await?;
            if kind == "email_change_current" {
                (
                    user,
                    Slot::EmailChangeCurrent,
                    email.clone(),
                    "email_change",
                )
            } else {
                (user, Slot::EmailChangeNew, new_email, "email_change")
            }
        }
        other => {
            return Err(ApiError::Validation(format!(
                "Invalid email action link type requested: {other}"
            )))
        }
    };
    let issued = onetime::issue(&state, &tx, user.id, slot, &address).await?;
    let user = load(&tx, user.id).await?;
    let mut body = users::to_json(&tx, &user).await?;
    tx.commit().await?;
    body["action_link"] = onetime::link(&state, &issued.hash, link_type, &redirect).into();
    body["email_otp"] = issued.otp.into();
    body["hashed_token"] = issued.hash.into();
    body["verification_type"] = kind.into();
    body["redirect_to"] = redirect.into();
    Ok(Json(body).into_response())
}
