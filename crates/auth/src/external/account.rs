//! Which user an external identity belongs to, decided as GoTrue decides it, and the rows that
//! follow: a known identity signs its user in (its data refreshed); a new identity whose
//! provider vouches for an address that a user (or that user's identities) already has joins
//! that user; anything else is a new user. Providers that do not verify addresses never join
//! an existing user.

use serde_json::{json, Value};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::profile::UserData;
use crate::error::ApiError;
use crate::users::{self, User};

/// What signing in with an identity did.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    /// A new user was created.
    pub created: bool,
}

/// The rules that apply to one sign-in.
pub struct Policy<'a> {
    pub provider: &'a str,
    pub aud: &'a str,
    /// `[auth.email] enable_confirmations = false`: every address counts as verified.
    pub autoconfirm: bool,
    pub disable_signup: bool,
    pub email_optional: bool,
    pub ip: Option<std::net::IpAddr>,
}

/// `taken` for a unique violation (an address another user has), else a database error.
fn conflict(e: tokio_postgres::Error, taken: ApiError) -> ApiError {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        taken
    } else {
        ApiError::from(e)
    }
}

fn identity_data(data: &UserData) -> Value {
    Value::Object(data.claims.clone())
}

/// Insert the identity `data` of `provider` for `user_id`.
pub async fn insert_identity(
    db: &impl GenericClient,
    user_id: Uuid,
    provider: &str,
    data: &UserData,
) -> Result<Uuid, ApiError> {
    let row = db
        .query_one(
            "INSERT INTO auth.identities (id, provider_id, user_id, identity_data, provider, \
               last_sign_in_at, created_at, updated_at) \
             VALUES (gen_random_uuid(), $1, $2, $3, $4, now(), now(), now()) RETURNING id",
            &[&data.subject(), &user_id, &identity_data(data), &provider],
        )
        .await?;
    Ok(row.get(0))
}

/// Merge identity data into the user's metadata.
async fn merge_user_metadata(
    db: &impl GenericClient,
    user_id: Uuid,
    data: &UserData,
) -> Result<(), ApiError> {
    db.execute(
        "UPDATE auth.users SET raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb) || $2, \
           updated_at = now() WHERE id = $1",
        &[&user_id, &identity_data(data)],
    )
    .await?;
    Ok(())
}

/// `app_metadata.providers`: the user's identities' providers, oldest first.
pub async fn update_providers(db: &impl GenericClient, user_id: Uuid) -> Result<(), ApiError> {
    db.execute(
        "UPDATE auth.users SET raw_app_meta_data = coalesce(raw_app_meta_data, '{}'::jsonb) || \
           jsonb_build_object('providers', coalesce((SELECT jsonb_agg(p ORDER BY first) FROM \
             (SELECT provider AS p, min(created_at) AS first FROM auth.identities \
              WHERE user_id = $1 GROUP BY provider) s), '[]'::jsonb)), \
           updated_at = now() WHERE id = $1",
        &[&user_id],
    )
    .await?;
    Ok(())
}

async fn user(db: &impl GenericClient, id: Uuid) -> Result<User, ApiError> {
    users::by_id(db, id)
        .await?
        .ok_or(ApiError::UserNotFound("User not found"))
}

/// GoTrue's linking decision.
enum Decision {
    Exists { user_id: Uuid, identity_id: Uuid },
    Link(Uuid),
    Create { email: Option<String> },
}

async fn decide(
    db: &impl GenericClient,
    p: &Policy<'_>,
    data: &UserData,
) -> Result<Decision, ApiError> {
    if let Some(row) = db
        .query_opt(
            "SELECT id, user_id FROM auth.identities WHERE provider_id = $1 AND provider = $2",
            &[&data.subject(), &p.provider],
        )
        .await?
    {
        return Ok(Decision::Exists {
            identity_id: row.get(0),
            user_id: row.get(1),
        });
    }
    let verified: Vec<String> = data
        .emails
        .iter()
        .filter(|e| e.verified || p.autoconfirm)
        .map(|e| e.email.to_lowercase())
        .collect();
    let candidate = data
        .emails
        .iter()
        .find(|e| e.primary)
        .map(|e| e.email.to_lowercase())
        .filter(|e| !e.is_empty());
    if verified.is_empty() {
        // Nobody vouches for the address: a new user, without it if someone has it already.
        let email = match candidate {
            Some(e) if users::by_email(db, &e).await?.is_none() => Some(e),
            _ => None,
        };
        return Ok(Decision::Create { email });
    }
    let identity_users: Vec<Uuid> = db
        .query(
            "SELECT DISTINCT user_id FROM auth.identities \
             WHERE email = ANY($1) AND provider NOT LIKE 'sso:%'",
            &[&verified],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let similar_users: Vec<Uuid> = db
        .query(
            "SELECT id FROM auth.users WHERE lower(email) = ANY($1) AND is_sso_user = false \
               AND aud = $2",
            &[&verified, &p.aud],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let multiple = || ApiError::Coded {
        status: 500,
        code: "unexpected_failure",
        message: "Multiple accounts with the same email address in the same linking domain \
                  detected: default"
            .into(),
    };
    match (identity_users.as_slice(), similar_users.as_slice()) {
        ([], []) => Ok(Decision::Create { email: candidate }),
        ([], [one]) => Ok(Decision::Link(*one)),
        ([], _) => Err(multiple()),
        ([one], _) => Ok(Decision::Link(*one)),
        _ => Err(multiple()),
    }
}

/// Sign in with an external identity: find, link or create its user.
pub async fn sign_in(
    db: &impl GenericClient,
    p: &Policy<'_>,
    data: &UserData,
) -> Result<SignedIn, ApiError> {
    let decision = decide(db, p, data).await?;
    let (mut user, identity_id, created, candidate) = match decision {
        Decision::Exists {
            user_id,
            identity_id,
        } => {
            db.execute(
                "UPDATE auth.identities SET identity_data = $2, last_sign_in_at = now(), \
                   updated_at = now() WHERE id = $1",
                &[&identity_id, &identity_data(data)],
            )
            .await?;
            merge_user_metadata(db, user_id, data).await?;
            update_providers(db, user_id).await?;
            let u = user(db, user_id).await?;
            let email = Some(u.email.clone()).filter(|e| !e.is_empty());
            (u, identity_id, false, email)
        }
        Decision::Link(user_id) => {
            let identity_id = insert_identity(db, user_id, p.provider, data).await?;
            merge_user_metadata(db, user_id, data).await?;
            update_providers(db, user_id).await?;
            let candidate = data
                .emails
                .iter()
                .find(|e| e.primary)
                .map(|e| e.email.to_lowercase());
            (user(db, user_id).await?, identity_id, false, candidate)
        }
        Decision::Create { email } => {
            if p.disable_signup {
                return Err(ApiError::SignupDisabled);
            }
            let new = users::insert(
                db,
                users::NewUser {
                    id: Uuid::new_v4(),
                    aud: p.aud,
                    role: "authenticated",
                    email: None,
                    phone: None,
                    encrypted_password: "",
                    app_metadata: json!({"provider": p.provider, "providers": [p.provider]}),
                    user_metadata: identity_data(data),
                    confirmed: false,
                    phone_confirmed: false,
                    is_anonymous: false,
                    invited: false,
                },
            )
            .await?;
            if let Some(e) = &email {
                db.execute(
                    "UPDATE auth.users SET email = $2 WHERE id = $1",
                    &[&new.id, e],
                )
                .await
                .map_err(|e| conflict(e, ApiError::EmailExists))?;
            }
            let identity_id = insert_identity(db, new.id, p.provider, data).await?;
            crate::audit::record(
                db,
                &new,
                crate::audit::Action::SignedUp,
                p.ip,
                json!({"provider": p.provider}),
            )
            .await?;
            (user(db, new.id).await?, identity_id, true, email)
        }
    };
    if user.is_banned() {
        return Err(ApiError::UserBanned { status: 403 });
    }
    let has_email = !(p.email_optional && candidate.as_deref().unwrap_or("").is_empty());
    if has_email && !user.is_confirmed() {
        remove_unconfirmed_identities(db, &user, identity_id, data, p.provider).await?;
        let verified = data
            .emails
            .iter()
            .find(|e| e.primary)
            .is_some_and(|e| e.verified);
        if !(verified || p.autoconfirm) {
            return Err(ApiError::Coded {
                status: 422,
                code: "provider_email_needs_verification",
                message: format!(
                    "Unverified email with {0}. Verify the email with {0} in order to sign in",
                    p.provider
                ),
            });
        }
        db.execute(
            "UPDATE auth.users SET email_confirmed_at = coalesce(email_confirmed_at, now()), \
               updated_at = now() WHERE id = $1",
            &[&user.id],
        )
        .await?;
        user = self::user(db, user.id).await?;
    }
    Ok(SignedIn { user, created })
}

/// An unconfirmed user gains a provider identity: other ways in (a password, other identities
/// nobody verified) could belong to someone else, so they go.
async fn remove_unconfirmed_identities(
    db: &impl GenericClient,
    user: &User,
    keep: Uuid,
    data: &UserData,
    provider: &str,
) -> Result<(), ApiError> {
    if provider != "email" && provider != "phone" {
        db.execute(
            "UPDATE auth.users SET encrypted_password = '' WHERE id = $1",
            &[&user.id],
        )
        .await?;
    }
    db.execute(
        "UPDATE auth.users SET raw_user_meta_data = $2, updated_at = now() WHERE id = $1",
        &[&user.id, &identity_data(data)],
    )
    .await?;
    db.execute(
        "DELETE FROM auth.identities WHERE user_id = $1 AND id <> $2",
        &[&user.id, &keep],
    )
    .await?;
    update_providers(db, user.id).await
}

/// Link an external identity to a signed-in user (manual linking).
pub async fn link(
    db: &impl GenericClient,
    target: &User,
    provider: &str,
    data: &UserData,
) -> Result<User, ApiError> {
    if let Some(row) = db
        .query_opt(
            "SELECT user_id FROM auth.identities WHERE provider_id = $1 AND provider = $2",
            &[&data.subject(), &provider],
        )
        .await?
    {
        let owner: Uuid = row.get(0);
        return Err(ApiError::Coded {
            status: 422,
            code: "identity_already_exists",
            message: if owner == target.id {
                "Identity is already linked".into()
            } else {
                "Identity is already linked to another user".into()
            },
        });
    }
    insert_identity(db, target.id, provider, data).await?;
    if target.email.is_empty() {
        let email = data.claims.get("email").and_then(Value::as_str);
        let verified = data
            .claims
            .get("email_verified")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(email) = email {
            db.execute(
                "UPDATE auth.users SET email = $2, \
                   email_confirmed_at = CASE WHEN $3 THEN coalesce(email_confirmed_at, now()) END, \
                   is_anonymous = CASE WHEN $3 THEN false ELSE is_anonymous END, \
                   updated_at = now() WHERE id = $1",
                &[&target.id, &email, &verified],
            )
            .await
            .map_err(|e| conflict(e, ApiError::EmailExists))?;
        }
    }
    update_providers(db, target.id).await?;
    user(db, target.id).await
}

/// Unlink (delete) one of the user's identities, as `DELETE /user/identities/{id}`.
pub async fn unlink(
    db: &impl GenericClient,
    user: &User,
    identity_id: Uuid,
) -> Result<(), ApiError> {
    let rows = db
        .query(
            "SELECT id, provider, email, coalesce((identity_data->>'email_verified')::boolean, false) \
             FROM auth.identities WHERE user_id = $1 ORDER BY created_at, id FOR UPDATE",
            &[&user.id],
        )
        .await?;
    if rows.len() <= 1 {
        return Err(ApiError::Coded {
            status: 422,
            code: "single_identity_not_deletable",
            message: "User must have at least 1 identity after unlinking".into(),
        });
    }
    let Some(gone) = rows.iter().find(|r| r.get::<_, Uuid>(0) == identity_id) else {
        return Err(ApiError::Coded {
            status: 422,
            code: "identity_not_found",
            message: "Identity doesn't exist".into(),
        });
    };
    let provider: String = gone.get(1);
    db.execute("DELETE FROM auth.identities WHERE id = $1", &[&identity_id])
        .await?;
    if provider == "phone" {
        db.execute(
            "UPDATE auth.users SET phone = NULL, phone_confirmed_at = NULL, updated_at = now() \
             WHERE id = $1",
            &[&user.id],
        )
        .await?;
    } else {
        // The user keeps an address one of the remaining identities has, verified ones first.
        let remaining: Vec<(String, bool)> = rows
            .iter()
            .filter(|r| r.get::<_, Uuid>(0) != identity_id)
            .filter_map(|r| Some((r.get::<_, Option<String>>(2)?, r.get::<_, bool>(3))))
            .filter(|(e, _)| !e.is_empty())
            .collect();
        let current = user.email.to_lowercase();
        if !current.is_empty() && !remaining.iter().any(|(e, _)| *e == current) {
            let next = remaining
                .iter()
                .find(|(_, v)| *v)
                .or(remaining.first())
                .cloned();
            let (email, verified) = match next {
                Some((e, v)) => (Some(e), v),
                None => (None, false),
            };
            db.execute(
                "UPDATE auth.users SET email = $2, \
                   email_confirmed_at = CASE WHEN $3 THEN email_confirmed_at END, \
                   updated_at = now() WHERE id = $1",
                &[&user.id, &email, &verified],
            )
            .await
            .map_err(|e| {
                let taken = ApiError::Coded {
                    status: 422,
                    code: "email_conflict_identity_not_deletable",
                    message: "Unable to unlink identity due to email conflict".into(),
                };
                conflict(e, taken)
            })?;
        }
    }
    update_providers(db, user.id).await
}
