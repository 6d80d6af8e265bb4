//! One-time tokens for email links and codes. Each is a random numeric code sent to the user;
//! only its hash (SHA-224 of address and code) is stored, in GoTrue's `auth.users` columns and
//! in `auth.one_time_tokens`, and the links carry the hash. Sending respects the per-user
//! minimum interval and the project-wide email limit.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::crypto;
use crate::error::ApiError;
use crate::mail::{Kind, Mail};
use crate::state::AppState;
use crate::users::User;

/// Which token of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Confirmation,
    Recovery,
    EmailChangeNew,
    EmailChangeCurrent,
    Reauthentication,
    PhoneChange,
}

impl Slot {
    /// Column of `auth.users` holding the hash (a fixed identifier, never client input).
    pub fn column(self) -> &'static str {
        match self {
            Slot::Confirmation => "confirmation_token",
            Slot::Recovery => "recovery_token",
            Slot::EmailChangeNew => "email_change_token_new",
            Slot::EmailChangeCurrent => "email_change_token_current",
            Slot::Reauthentication => "reauthentication_token",
            Slot::PhoneChange => "phone_change_token",
        }
    }

    /// Column of `auth.users` holding when it was sent.
    fn sent_at_column(self) -> &'static str {
        match self {
            Slot::Confirmation => "confirmation_sent_at",
            Slot::Recovery => "recovery_sent_at",
            Slot::EmailChangeNew | Slot::EmailChangeCurrent => "email_change_sent_at",
            Slot::Reauthentication => "reauthentication_sent_at",
            Slot::PhoneChange => "phone_change_sent_at",
        }
    }

    fn one_time_type(self) -> &'static str {
        match self {
            Slot::PhoneChange => "phone_change_token",
            Slot::Confirmation => "confirmation_token",
            Slot::Recovery => "recovery_token",
            Slot::EmailChangeNew => "email_change_token_new",
            Slot::EmailChangeCurrent => "email_change_token_current",
            Slot::Reauthentication => "reauthentication_token",
        }
    }

    /// The stored hash of this slot in a user row.
    pub fn hash_of(self, user: &User) -> &str {
        match self {
            Slot::Confirmation => &user.confirmation_token,
            Slot::Recovery => &user.recovery_token,
            Slot::EmailChangeNew => &user.email_change_token_new,
            Slot::EmailChangeCurrent => &user.email_change_token_current,
            Slot::Reauthentication => &user.reauthentication_token,
            Slot::PhoneChange => &user.phone_change_token,
        }
    }

    /// When this slot's token was sent.
    pub fn sent_at(self, user: &User) -> Option<DateTime<Utc>> {
        match self {
            Slot::Confirmation => user.confirmation_sent_at,
            Slot::Recovery => user.recovery_sent_at,
            Slot::EmailChangeNew | Slot::EmailChangeCurrent => user.email_change_sent_at,
            Slot::Reauthentication => user.reauthentication_sent_at,
            Slot::PhoneChange => user.phone_change_sent_at,
        }
    }
}

/// A token made for a user: the code to send and the hash the link carries.
#[derive(Debug, Clone)]
pub struct Issued {
    pub otp: String,
    pub hash: String,
}

/// Make and store a new token in `slot` for `address`.
pub async fn issue(
    state: &AppState,
    db: &impl GenericClient,
    user_id: Uuid,
    slot: Slot,
    address: &str,
) -> Result<Issued, ApiError> {
    let otp = crypto::random_otp(state.config.mailer.otp_length);
    store(db, user_id, slot, address, otp).await
}

/// Store `otp`'s hash in `slot`.
async fn store(
    db: &impl GenericClient,
    user_id: Uuid,
    slot: Slot,
    address: &str,
    otp: String,
) -> Result<Issued, ApiError> {
    store_prefixed(db, user_id, slot, address, otp, "").await
}

/// Store `otp`'s hash in `slot`, behind `prefix` (the PKCE marker, or nothing).
async fn store_prefixed(
    db: &impl GenericClient,
    user_id: Uuid,
    slot: Slot,
    address: &str,
    otp: String,
    prefix: &str,
) -> Result<Issued, ApiError> {
    let hash = format!("{prefix}{}", crypto::token_hash(address, &otp));
    let sql = format!(
        "UPDATE auth.users SET {} = $2, {} = now(), updated_at = now() WHERE id = $1",
        slot.column(),
        slot.sent_at_column()
    );
    db.execute(&sql, &[&user_id, &hash]).await?;
    db.execute(
        "INSERT INTO auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to) \
         VALUES (gen_random_uuid(), $1, $2::text::auth.one_time_token_type, $3, $4) \
         ON CONFLICT (user_id, token_type) DO UPDATE SET token_hash = excluded.token_hash, \
           relates_to = excluded.relates_to, updated_at = now()",
        &[&user_id, &slot.one_time_type(), &hash, &address],
    )
    .await?;
    Ok(Issued { otp, hash })
}

/// Whether a stored token hash is the one of the code a user typed (`expected`): equal, or
/// equal behind the PKCE marker.
pub fn code_matches(stored: &str, expected: &str) -> bool {
    let bare = stored
        .strip_prefix(crate::flow::TOKEN_PREFIX)
        .unwrap_or(stored);
    !bare.is_empty() && crypto::constant_time_eq(bare.as_bytes(), expected.as_bytes())
}

/// Clear a used token.
pub async fn clear(db: &impl GenericClient, user_id: Uuid, slot: Slot) -> Result<(), ApiError> {
    let sql = format!(
        "UPDATE auth.users SET {} = '', updated_at = now() WHERE id = $1",
        slot.column()
    );
    db.execute(&sql, &[&user_id]).await?;
    db.execute(
        "DELETE FROM auth.one_time_tokens WHERE user_id = $1 AND token_type = $2::text::auth.one_time_token_type",
        &[&user_id, &slot.one_time_type()],
    )
    .await?;
    Ok(())
}

/// Whether an email token sent at `sent_at` has expired.
pub fn expired(state: &AppState, sent_at: Option<DateTime<Utc>>) -> bool {
    expired_after(sent_at, state.config.mailer.otp_exp)
}

/// Whether a token sent at `sent_at` is older than `lifetime`.
pub fn expired_after(sent_at: Option<DateTime<Utc>>, lifetime: std::time::Duration) -> bool {
    match sent_at {
        None => true,
        Some(t) => {
            let exp = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::days(1));
            t + exp < Utc::now()
        }
    }
}

/// Refuse to send again to a user before the minimum interval has passed.
pub fn check_frequency(state: &AppState, last: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    let Some(last) = last else {
        return Ok(());
    };
    let min = chrono::Duration::from_std(state.config.mailer.max_frequency)
        .unwrap_or(chrono::Duration::seconds(60));
    let next = last + min;
    let now = Utc::now();
    if next > now {
        let left = (next - now).num_seconds().max(1);
        return Err(ApiError::OverEmailSendRateLimit(format!(
            "For security purposes, you can only request this after {left} seconds."
        )));
    }
    Ok(())
}

/// The verification link of a token.
pub fn link(state: &AppState, hash: &str, kind: &str, redirect_to: &str) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", hash)
        .append_pair("type", kind)
        .append_pair("redirect_to", redirect_to)
        .finish();
    format!("{}/verify?{q}", state.config.external_url)
}

/// Make a token in `slot`, then email it as a `kind` message to `address`, unless the user
/// was sent one too recently.
pub async fn send(
    state: &AppState,
    db: &impl GenericClient,
    user: &User,
    slot: Slot,
    kind: Kind,
    address: &str,
    redirect_to: &str,
) -> Result<Issued, ApiError> {
    check_frequency(state, slot.sent_at(user))?;
    deliver(state, db, user, slot, kind, address, redirect_to).await
}

/// Make a token in `slot` and email it, counting it against the project's email limit.
pub async fn deliver(
    state: &AppState,
    db: &impl GenericClient,
    user: &User,
    slot: Slot,
    kind: Kind,
    address: &str,
    redirect_to: &str,
) -> Result<Issued, ApiError> {
    crate::ratelimit::email_sent(state, db).await?;
    let otp = crypto::random_otp(state.config.mailer.otp_length);
    let prefix = if crate::flow::started_now(db, user.id).await? {
        crate::flow::TOKEN_PREFIX
    } else {
        ""
    };
    let issued = store_prefixed(db, user.id, slot, address, otp, prefix).await?;
    let link = (kind != Kind::Reauthentication)
        .then(|| link(state, &issued.hash, kind.name(), redirect_to));
    let new_email = (kind == Kind::EmailChange && !user.email_change.is_empty())
        .then(|| user.email_change.clone());
    state
        .mailer
        .send(
            db,
            &Mail {
                to: address.to_string(),
                kind,
                link,
                otp: issued.otp.clone(),
                token_hash: issued.hash.clone(),
                site_url: state.config.site_url.clone(),
                redirect_to: redirect_to.to_string(),
                new_email,
                data: user.user_metadata.clone(),
            },
        )
        .await?;
    Ok(issued)
}

/// Supabase Auth's words for a channel it cannot send over.
const INVALID_CHANNEL: &str = "Invalid channel, supported values are 'sms' or 'whatsapp'. \
     'whatsapp' is only supported if Twilio or Twilio Verify is used as the provider.";

/// The channel a request asks codes to be sent over (`sms` when it names none): `whatsapp`
/// only through Twilio or Twilio Verify.
pub fn channel(state: &AppState, requested: Option<&str>) -> Result<&'static str, ApiError> {
    let twilio = state
        .sms
        .as_ref()
        .is_some_and(|s| matches!(s.provider().name(), "twilio" | "twilio_verify"));
    match requested.unwrap_or("") {
        "" | "sms" => Ok("sms"),
        "whatsapp" if twilio => Ok("whatsapp"),
        _ => Err(ApiError::Validation(INVALID_CHANNEL.into())),
    }
}

/// Text a sign-in or confirmation code to the user's phone, as GoTrue's
/// `sendPhoneConfirmation`: test numbers get their fixed code and no message; otherwise the
/// per-user interval (`[auth.sms] max_frequency`) and the project's SMS limit apply, and the
/// code goes through the SMS provider (`[auth.sms] template`) or, without one, into the
/// development mailbox. A provider's refusal is 422 `sms_send_failed`. Returns the provider's
/// message id, when a provider sent it.
pub async fn send_sms(
    state: &AppState,
    db: &impl GenericClient,
    user: &User,
    slot: Slot,
    phone: &str,
    channel: &'static str,
) -> Result<Option<String>, ApiError> {
    let sms = &state.config.sms;
    if let Some(fixed) = sms.test_otp.get(phone) {
        store(db, user.id, slot, phone, fixed.clone()).await?;
        return Ok(None);
    }
    if let Some(last) = slot.sent_at(user) {
        let min = chrono::Duration::from_std(sms.max_frequency).unwrap_or_default();
        let left = (last + min - Utc::now()).num_milliseconds();
        if left > 0 {
            return Err(ApiError::Coded {
                status: 429,
                code: "over_sms_send_rate_limit",
                message: format!(
                    "For security purposes, you can only request this after {} seconds.",
                    left / 1000
                ),
            });
        }
    }
    crate::ratelimit::sms_sent(state, db).await?;
    let otp = crypto::random_otp(sms.otp_length);
    let issued = store(db, user.id, slot, phone, otp).await?;
    let Some(sender) = &state.sms else {
        state
            .mailer
            .send(
                db,
                &Mail {
                    to: phone.to_string(),
                    kind: Kind::Sms,
                    link: None,
                    otp: issued.otp,
                    token_hash: issued.hash,
                    site_url: state.config.site_url.clone(),
                    redirect_to: String::new(),
                    new_email: None,
                    data: user.user_metadata.clone(),
                },
            )
            .await?;
        return Ok(None);
    };
    let message = crate::sms::render(&sms.template, &issued.otp);
    match sender.send(phone, &message, channel, &issued.otp).await {
        Ok(id) => {
            tracing::debug!(provider = sender.provider().name(), message_id = %id, "text sent");
            Ok(Some(id).filter(|id| !id.is_empty()))
        }
        Err(e) => {
            let kind = match slot {
                Slot::PhoneChange => "phone_change",
                Slot::Reauthentication => "reauthentication",
                _ => "confirmation",
            };
            Err(ApiError::Coded {
                status: 422,
                code: "sms_send_failed",
                message: format!("Error sending {kind} OTP to provider: {e}"),
            })
        }
    }
}
