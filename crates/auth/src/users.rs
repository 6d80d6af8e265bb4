//! Rows of `auth.users`, `auth.identities` and `auth.mfa_factors`, read and written with bind
//! parameters, and the user JSON supabase-js expects. Columns a dump from another tool may leave
//! NULL are read as optional.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::error::ApiError;

/// Columns of `auth.users` read into [`User`], in order.
pub const USER_COLUMNS: &str = "id, aud, role, email, encrypted_password, email_confirmed_at, \
    invited_at, confirmation_token, confirmation_sent_at, recovery_token, recovery_sent_at, \
    email_change_token_new, email_change, email_change_sent_at, last_sign_in_at, \
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at, phone, phone_confirmed_at, \
    phone_change, phone_change_sent_at, email_change_token_current, \
    email_change_confirm_status, banned_until, reauthentication_token, \
    reauthentication_sent_at, deleted_at, is_anonymous, phone_change_token";

/// A row of `auth.users`.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub aud: String,
    pub role: String,
    pub email: String,
    pub encrypted_password: String,
    pub email_confirmed_at: Option<DateTime<Utc>>,
    pub invited_at: Option<DateTime<Utc>>,
    pub confirmation_token: String,
    pub confirmation_sent_at: Option<DateTime<Utc>>,
    pub recovery_token: String,
    pub recovery_sent_at: Option<DateTime<Utc>>,
    pub email_change_token_new: String,
    pub email_change: String,
    pub email_change_sent_at: Option<DateTime<Utc>>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub app_metadata: Value,
    pub user_metadata: Value,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub phone: String,
    pub phone_confirmed_at: Option<DateTime<Utc>>,
    pub phone_change: String,
    pub phone_change_sent_at: Option<DateTime<Utc>>,
    pub email_change_token_current: String,
    pub email_change_confirm_status: i16,
    pub banned_until: Option<DateTime<Utc>>,
    pub reauthentication_token: String,
    pub reauthentication_sent_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub is_anonymous: bool,
    pub phone_change_token: String,
}

fn text(row: &Row, i: usize) -> String {
    row.get::<_, Option<String>>(i).unwrap_or_default()
}

fn object(row: &Row, i: usize) -> Value {
    match row.get::<_, Option<Value>>(i) {
        Some(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

impl User {
    /// A user from a row selected with [`USER_COLUMNS`].
    pub fn from_row(row: &Row) -> User {
        User {
            id: row.get(0),
            aud: text(row, 1),
            role: text(row, 2),
            email: text(row, 3),
            encrypted_password: text(row, 4),
            email_confirmed_at: row.get(5),
            invited_at: row.get(6),
            confirmation_token: text(row, 7),
            confirmation_sent_at: row.get(8),
            recovery_token: text(row, 9),
            recovery_sent_at: row.get(10),
            email_change_token_new: text(row, 11),
            email_change: text(row, 12),
            email_change_sent_at: row.get(13),
            last_sign_in_at: row.get(14),
            app_metadata: object(row, 15),
            user_metadata: object(row, 16),
            created_at: row.get(17),
            updated_at: row.get(18),
            phone: text(row, 19),
            phone_confirmed_at: row.get(20),
            phone_change: text(row, 21),
            phone_change_sent_at: row.get(22),
            email_change_token_current: text(row, 23),
            email_change_confirm_status: row.get::<_, Option<i16>>(24).unwrap_or(0),
            banned_until: row.get(25),
            reauthentication_token: text(row, 26),
            reauthentication_sent_at: row.get(27),
            deleted_at: row.get(28),
            is_anonymous: row.get::<_, Option<bool>>(29).unwrap_or(false),
            phone_change_token: text(row, 30),
        }
    }

    /// Whether the email address (or, for phone users, the phone) has been confirmed.
    pub fn is_confirmed(&self) -> bool {
        self.email_confirmed_at.is_some()
    }

    /// Whether the user is banned now.
    pub fn is_banned(&self) -> bool {
        self.banned_until.is_some_and(|t| t > Utc::now())
    }

    /// The role tokens carry (`authenticated` when the row has none).
    pub fn role_or_default(&self) -> &str {
        if self.role.is_empty() {
            "authenticated"
        } else {
            &self.role
        }
    }
}

/// Find a user by id.
pub async fn by_id(db: &impl GenericClient, id: Uuid) -> Result<Option<User>, ApiError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM auth.users WHERE id = $1");
    Ok(db
        .query_opt(&sql, &[&id])
        .await?
        .map(|r| User::from_row(&r)))
}

/// Find a user by id and lock the row for the rest of the transaction.
pub async fn by_id_for_update(db: &impl GenericClient, id: Uuid) -> Result<Option<User>, ApiError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM auth.users WHERE id = $1 FOR UPDATE");
    Ok(db
        .query_opt(&sql, &[&id])
        .await?
        .map(|r| User::from_row(&r)))
}

/// Find a (non-SSO) user by email address, case-insensitively.
pub async fn by_email(db: &impl GenericClient, email: &str) -> Result<Option<User>, ApiError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM auth.users WHERE lower(email) = lower($1) \
         AND is_sso_user = false ORDER BY created_at LIMIT 1"
    );
    Ok(db
        .query_opt(&sql, &[&email])
        .await?
        .map(|r| User::from_row(&r)))
}

/// Find a user by phone number.
pub async fn by_phone(db: &impl GenericClient, phone: &str) -> Result<Option<User>, ApiError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM auth.users WHERE phone = $1 LIMIT 1");
    Ok(db
        .query_opt(&sql, &[&phone])
        .await?
        .map(|r| User::from_row(&r)))
}

/// What a new user row starts with.
pub struct NewUser<'a> {
    pub id: Uuid,
    pub aud: &'a str,
    pub role: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub encrypted_password: &'a str,
    pub app_metadata: Value,
    pub user_metadata: Value,
    pub confirmed: bool,
    pub phone_confirmed: bool,
    pub is_anonymous: bool,
    pub invited: bool,
}

impl<'a> NewUser<'a> {
    /// An unconfirmed email user with the `email` provider in `app_metadata`; adjust the rest
    /// with struct update syntax.
    pub fn email(
        aud: &'a str,
        email: &'a str,
        encrypted_password: &'a str,
        user_metadata: Value,
    ) -> NewUser<'a> {
        NewUser {
            id: Uuid::new_v4(),
            aud,
            role: "authenticated",
            email: Some(email),
            phone: None,
            encrypted_password,
            app_metadata: json!({"provider": "email", "providers": ["email"]}),
            user_metadata,
            confirmed: false,
            phone_confirmed: false,
            is_anonymous: false,
            invited: false,
        }
    }
}

/// Insert a user row and, for email or phone users, their identity. Returns the row.
pub async fn insert(db: &impl GenericClient, u: NewUser<'_>) -> Result<User, ApiError> {
    let sql = format!(
        "INSERT INTO auth.users (instance_id, id, aud, role, email, phone, encrypted_password, \
           raw_app_meta_data, raw_user_meta_data, email_confirmed_at, phone_confirmed_at, \
           invited_at, is_anonymous, created_at, updated_at, confirmation_token, \
           recovery_token, email_change_token_new, email_change, email_change_token_current, \
           reauthentication_token, phone_change, phone_change_token, is_super_admin, is_sso_user) \
         VALUES ('00000000-0000-0000-0000-000000000000', $1, $2, $3, $4, $5, $6, $7, $8, \
           CASE WHEN $9 THEN now() END, CASE WHEN $10 THEN now() END, \
           CASE WHEN $11 THEN now() END, $12, now(), now(), '', '', '', '', '', '', '', '', \
           false, false) \
         RETURNING {USER_COLUMNS}"
    );
    let row = db
        .query_one(
            &sql,
            &[
                &u.id,
                &u.aud,
                &u.role,
                &u.email,
                &u.phone,
                &u.encrypted_password,
                &u.app_metadata,
                &u.user_metadata,
                &u.confirmed,
                &u.phone_confirmed,
                &u.invited,
                &u.is_anonymous,
            ],
        )
        .await
        .map_err(|e| unique_violation(e, u.email.is_some()))?;
    let user = User::from_row(&row);
    if let Some(email) = u.email {
        insert_identity(db, &user, "email", &user.id.to_string(), Some(email), None).await?;
    } else if let Some(phone) = u.phone {
        insert_identity(db, &user, "phone", &user.id.to_string(), None, Some(phone)).await?;
    }
    Ok(user)
}

/// Map a unique violation on insert to `email_exists` / `phone_exists`.
fn unique_violation(e: tokio_postgres::Error, email: bool) -> ApiError {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        if email {
            ApiError::EmailExists
        } else {
            ApiError::PhoneExists
        }
    } else {
        ApiError::from(e)
    }
}

/// Insert the identity of a user for `provider` (`email` or `phone`).
pub async fn insert_identity(
    db: &impl GenericClient,
    user: &User,
    provider: &str,
    provider_id: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<(), ApiError> {
    let mut data = json!({
        "sub": user.id.to_string(),
        "email_verified": false,
        "phone_verified": false,
    });
    if let Some(e) = email {
        data["email"] = e.into();
    }
    if let Some(p) = phone {
        data["phone"] = p.into();
    }
    if let Value::Object(meta) = &user.user_metadata {
        for (k, v) in meta {
            if data.get(k).is_none() {
                data[k] = v.clone();
            }
        }
    }
    db.execute(
        "INSERT INTO auth.identities (id, provider_id, user_id, identity_data, provider, \
           last_sign_in_at, created_at, updated_at) \
         VALUES (gen_random_uuid(), $1, $2, $3, $4, now(), now(), now()) \
         ON CONFLICT (provider_id, provider) DO NOTHING",
        &[&provider_id, &user.id, &data, &provider],
    )
    .await?;
    Ok(())
}

/// Mark the email identity verified (after a confirmation).
pub async fn mark_email_verified(db: &impl GenericClient, user_id: Uuid) -> Result<(), ApiError> {
    db.execute(
        "UPDATE auth.identities SET identity_data = identity_data || '{\"email_verified\": true}'::jsonb, \
           updated_at = now() WHERE user_id = $1 AND provider = 'email'",
        &[&user_id],
    )
    .await?;
    Ok(())
}

/// RFC 3339 with the timezone, as Go marshals times.
pub fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn put_ts(m: &mut Map<String, Value>, key: &str, t: &Option<DateTime<Utc>>) {
    if let Some(t) = t {
        m.insert(key.into(), ts(t).into());
    }
}

/// The user's identities, `to_jsonb` of each `auth.identities` row, oldest first.
pub const IDENTITIES_JSONB: &str =
    "SELECT coalesce(jsonb_agg(to_jsonb(i) ORDER BY i.created_at), '[]') \
     FROM auth.identities i WHERE i.user_id = $1";

/// The user's MFA factors, `to_jsonb` of each `auth.mfa_factors` row, oldest first.
pub const FACTORS_JSONB: &str =
    "SELECT coalesce(jsonb_agg(to_jsonb(f) ORDER BY f.created_at), '[]') \
     FROM auth.mfa_factors f WHERE f.user_id = $1";

/// The user JSON of the API: the row plus its identities and factors.
pub async fn to_json(db: &impl GenericClient, user: &User) -> Result<Value, ApiError> {
    let identities: Value = db.query_one(IDENTITIES_JSONB, &[&user.id]).await?.get(0);
    let factors: Value = db.query_one(FACTORS_JSONB, &[&user.id]).await?.get(0);
    Ok(json_from_parts(user, &identities, &factors))
}

/// A timestamp of a `to_jsonb` row (RFC 3339 text), if set.
fn row_ts(row: &Value, key: &str) -> Option<DateTime<Utc>> {
    row.get(key)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A text column of a `to_jsonb` row, `""` when NULL.
fn row_text(row: &Value, key: &str) -> Value {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .into()
}

/// The identity JSON of the API from `to_jsonb` of an `auth.identities` row.
fn identity_json(r: &Value) -> Value {
    let mut m = Map::new();
    m.insert("identity_id".into(), row_text(r, "id"));
    m.insert("id".into(), row_text(r, "provider_id"));
    m.insert("user_id".into(), row_text(r, "user_id"));
    m.insert(
        "identity_data".into(),
        r.get("identity_data").cloned().unwrap_or(Value::Null),
    );
    m.insert("provider".into(), row_text(r, "provider"));
    for key in ["last_sign_in_at", "created_at", "updated_at"] {
        put_ts(&mut m, key, &row_ts(r, key));
    }
    if let Some(e) = r.get("email").filter(|e| e.is_string()) {
        m.insert("email".into(), e.clone());
    }
    Value::Object(m)
}

/// The factor JSON of the API from `to_jsonb` of an `auth.mfa_factors` row.
fn factor_json(r: &Value) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), row_text(r, "id"));
    m.insert("friendly_name".into(), row_text(r, "friendly_name"));
    m.insert("factor_type".into(), row_text(r, "factor_type"));
    m.insert("status".into(), row_text(r, "status"));
    for key in ["created_at", "updated_at", "last_challenged_at"] {
        put_ts(&mut m, key, &row_ts(r, key));
    }
    if let Some(p) = r.get("phone").filter(|p| p.is_string()) {
        m.insert("phone".into(), p.clone());
    }
    Value::Object(m)
}

fn rows(list: &Value) -> &[Value] {
    list.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The user JSON of the API from the row and its identities and factors as
/// [`IDENTITIES_JSONB`] and [`FACTORS_JSONB`] read them.
pub fn json_from_parts(user: &User, identities: &Value, factors: &Value) -> Value {
    let identities: Vec<Value> = rows(identities).iter().map(identity_json).collect();
    let factors: Vec<Value> = rows(factors).iter().map(factor_json).collect();
    let mut m = Map::new();
    m.insert("id".into(), user.id.to_string().into());
    m.insert("aud".into(), user.aud.clone().into());
    m.insert("role".into(), user.role.clone().into());
    m.insert("email".into(), user.email.clone().into());
    put_ts(&mut m, "email_confirmed_at", &user.email_confirmed_at);
    m.insert("phone".into(), user.phone.clone().into());
    put_ts(&mut m, "phone_confirmed_at", &user.phone_confirmed_at);
    put_ts(&mut m, "confirmation_sent_at", &user.confirmation_sent_at);
    let confirmed = match (user.email_confirmed_at, user.phone_confirmed_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    put_ts(&mut m, "confirmed_at", &confirmed);
    put_ts(&mut m, "recovery_sent_at", &user.recovery_sent_at);
    if !user.email_change.is_empty() {
        m.insert("new_email".into(), user.email_change.clone().into());
    }
    put_ts(&mut m, "email_change_sent_at", &user.email_change_sent_at);
    if !user.phone_change.is_empty() {
        m.insert("new_phone".into(), user.phone_change.clone().into());
    }
    put_ts(&mut m, "phone_change_sent_at", &user.phone_change_sent_at);
    put_ts(&mut m, "invited_at", &user.invited_at);
    put_ts(
        &mut m,
        "reauthentication_sent_at",
        &user.reauthentication_sent_at,
    );
    put_ts(&mut m, "last_sign_in_at", &user.last_sign_in_at);
    m.insert("app_metadata".into(), user.app_metadata.clone());
    m.insert("user_metadata".into(), user.user_metadata.clone());
    m.insert("identities".into(), Value::Array(identities));
    if !factors.is_empty() {
        m.insert("factors".into(), Value::Array(factors));
    }
    put_ts(&mut m, "created_at", &user.created_at);
    put_ts(&mut m, "updated_at", &user.updated_at);
    put_ts(&mut m, "banned_until", &user.banned_until);
    put_ts(&mut m, "deleted_at", &user.deleted_at);
    m.insert("is_anonymous".into(), user.is_anonymous.into());
    Value::Object(m)
}

/// The user's MFA factors as JSON.
pub async fn factors_json(db: &impl GenericClient, user_id: Uuid) -> Result<Vec<Value>, ApiError> {
    let list: Value = db.query_one(FACTORS_JSONB, &[&user_id]).await?.get(0);
    Ok(rows(&list).iter().map(factor_json).collect())
}

/// Merge `patch` into a metadata object: keys set to `null` are removed.
pub fn merge_metadata(base: &Value, patch: &Value) -> Value {
    let mut out = match base {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    if let Value::Object(p) = patch {
        for (k, v) in p {
            if v.is_null() {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Give the user a new password hash. Whatever was sent for the old one (confirmation,
/// recovery, email and phone change, reauthentication tokens) is void, and every session ends
/// but `keep` (the session that changed it, if any).
pub async fn set_password(
    db: &impl GenericClient,
    id: Uuid,
    hash: &str,
    keep: Option<Uuid>,
) -> Result<(), ApiError> {
    db.execute(
        "UPDATE auth.users SET encrypted_password = $2, confirmation_token = '', \
           confirmation_sent_at = NULL, recovery_token = '', recovery_sent_at = NULL, \
           email_change_token_current = '', email_change_token_new = '', \
           email_change_sent_at = NULL, phone_change_token = '', phone_change_sent_at = NULL, \
           reauthentication_token = '', reauthentication_sent_at = NULL, updated_at = now() \
         WHERE id = $1",
        &[&id, &hash],
    )
    .await?;
    db.execute(
        "DELETE FROM auth.one_time_tokens WHERE user_id = $1",
        &[&id],
    )
    .await?;
    db.execute(
        "DELETE FROM auth.sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2",
        &[&id, &keep],
    )
    .await?;
    Ok(())
}

/// Normalise and check an email address the way GoTrue does (lower-cased, `x@y.z` shape).
pub fn validate_email(email: &str) -> Result<String, ApiError> {
    if email.is_empty() {
        return Err(ApiError::Validation("An email address is required".into()));
    }
    if email.len() > 255 {
        return Err(ApiError::Validation("An email address is too long".into()));
    }
    if !email_shape(email) {
        return Err(ApiError::Validation(
            "Unable to validate email address: invalid format".into(),
        ));
    }
    Ok(email.to_lowercase())
}

/// The address shape Supabase Auth accepts: a local part of ASCII letters, digits and
/// ``.!#$%&'*+/=?^_`{|}~-``, one `@`, then one or more dot-separated labels of 1–63 letters,
/// digits and inner hyphens (`user@localhost` passes; spaces, non-ASCII and a trailing dot do
/// not).
fn email_shape(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b));
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        (1..=63).contains(&b.len())
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    local_ok && domain.split('.').all(label_ok)
}

/// Check a phone number as E.164 (a leading `+` and spaces dropped; 2–15 digits, no leading 0)
/// and give it as stored, digits only.
pub fn validate_phone(phone: &str) -> Result<String, ApiError> {
    let digits = format_phone(phone);
    let b = digits.as_bytes();
    let e164 = (2..=15).contains(&b.len())
        && matches!(b.first(), Some(b'1'..=b'9'))
        && b.iter().all(u8::is_ascii_digit);
    if !e164 {
        return Err(ApiError::Validation(
            "Invalid phone number format (E.164 required)".into(),
        ));
    }
    Ok(digits)
}

/// A phone number as stored: one leading `+` and any spaces removed, nothing else changed.
pub fn format_phone(phone: &str) -> String {
    phone.strip_prefix('+').unwrap_or(phone).replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(validate_email("A@B.co").unwrap(), "a@b.co");
        assert!(validate_email(" a@b.co ").is_err());
        assert!(validate_email("").is_err());
        assert!(validate_email("nope").is_err());
        assert!(validate_email("a@localhost").is_ok());
        assert!(validate_email("a..b+tag@c.de").is_ok());
        assert!(validate_email("a b@c.d").is_err());
        assert!(validate_email("a@b.co.").is_err());
        assert!(validate_email("a@-b.co").is_err());
        assert!(validate_email("a@b@c.co").is_err());
        assert!(validate_email("üser@c.de").is_err());
        assert!(validate_email(&format!("{}@b.co", "a".repeat(300))).is_err());
    }

    #[test]
    fn phones() {
        assert_eq!(validate_phone("+1 555 123 4567").unwrap(), "15551234567");
        assert_eq!(validate_phone("12").unwrap(), "12");
        assert!(validate_phone("+1 (555) 123-4567").is_err());
        assert!(validate_phone("0123456789").is_err());
        assert!(validate_phone("++15551234567").is_err());
        assert!(validate_phone("1").is_err());
        assert!(validate_phone("1234567890123456").is_err());
        assert!(validate_phone("+1555abc4567").is_err());
    }

    #[test]
    fn metadata_merge() {
        let base = json!({"a": 1, "b": 2});
        let merged = merge_metadata(&base, &json!({"b": null, "c": 3}));
        assert_eq!(merged, json!({"a": 1, "c": 3}));
        assert_eq!(
            merge_metadata(&Value::Null, &json!({"x": 1})),
            json!({"x": 1})
        );
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ts(&t), "2024-01-01T00:00:00Z");
    }
}
