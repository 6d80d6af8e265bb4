//! The audit trail GoTrue keeps in `auth.audit_log_entries` (sign-ups, sign-ins, refreshes,
//! sign-outs, recoveries, password changes, deletions), in its payload shape, written in the
//! request's transaction.

use std::net::IpAddr;

use serde_json::{json, Value};
use tokio_postgres::GenericClient;

use crate::error::ApiError;
use crate::users::User;

/// What happened, with GoTrue's action names and log types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignedUp,
    Login,
    Logout,
    TokenRefreshed,
    RecoveryRequested,
    UpdatedPassword,
    Deleted,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::SignedUp => "user_signedup",
            Action::Login => "login",
            Action::Logout => "logout",
            Action::TokenRefreshed => "token_refreshed",
            Action::RecoveryRequested => "user_recovery_requested",
            Action::UpdatedPassword => "user_updated_password",
            Action::Deleted => "user_deleted",
        }
    }

    fn log_type(self) -> &'static str {
        match self {
            Action::SignedUp | Action::Deleted => "team",
            Action::Login | Action::Logout => "account",
            Action::TokenRefreshed => "token",
            Action::RecoveryRequested | Action::UpdatedPassword => "user",
        }
    }
}

/// Record `action` by `user` (from `ip`), with extra `traits`.
pub async fn record(
    db: &impl GenericClient,
    user: &User,
    action: Action,
    ip: Option<IpAddr>,
    traits: Value,
) -> Result<(), ApiError> {
    let username = if user.email.is_empty() {
        &user.phone
    } else {
        &user.email
    };
    let mut payload = json!({
        "actor_id": user.id.to_string(),
        "actor_username": username,
        "actor_via_sso": false,
        "action": action.name(),
        "log_type": action.log_type(),
    });
    if traits.as_object().is_some_and(|t| !t.is_empty()) {
        payload["traits"] = traits;
    }
    let ip = ip.map(|i| i.to_string()).unwrap_or_default();
    db.execute(
        "INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address) \
         VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), $1::jsonb::json, now(), $2)",
        &[&payload, &ip],
    )
    .await?;
    Ok(())
}
