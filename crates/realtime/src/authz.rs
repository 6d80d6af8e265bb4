//! Private channels: what a subscriber may do on a topic, decided by the RLS policies on
//! `realtime.messages` as Supabase does it. In one transaction that is always rolled back, a probe
//! row per extension is written as the superuser; then, as the subscriber's role with its claims
//! and `realtime.topic()` set, reading the probe back tests SELECT (receive) and inserting a row
//! tests INSERT (send).

use deadpool_postgres::Pool;

use crate::token::Token;

/// What a subscriber may do on one private topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Perms {
    pub broadcast_read: bool,
    pub broadcast_write: bool,
    pub presence_read: bool,
    pub presence_write: bool,
}

impl Perms {
    /// Everything (public channels).
    pub const ALL: Perms = Perms {
        broadcast_read: true,
        broadcast_write: true,
        presence_read: true,
        presence_write: true,
    };

    /// May join: at least one of the extensions may be read.
    pub fn can_join(&self) -> bool {
        self.broadcast_read || self.presence_read
    }
}

/// Why permissions could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("authorisation query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
}

/// Check a subscriber's permissions on `sub_topic` (the channel name without `realtime:`).
/// A token whose role is not one a subscriber may act as (see [`crate::rls::ALLOWED_ROLES`]; a
/// superuser, say) may do nothing.
pub async fn check(pool: &Pool, token: &Token, sub_topic: &str) -> Result<Perms, AuthzError> {
    let mut client = pool.get().await?;
    if crate::rls::allowed_roles(&client, &[token.role.as_str()])
        .await?
        .is_empty()
    {
        return Ok(Perms::default());
    }
    let tx = client.transaction().await?;
    let mut perms = Perms::default();
    for (ext, read, write) in [
        (
            "broadcast",
            &mut perms.broadcast_read,
            &mut perms.broadcast_write,
        ),
        (
            "presence",
            &mut perms.presence_read,
            &mut perms.presence_write,
        ),
    ] {
        let probe: uuid::Uuid = tx
            .query_one(
                "INSERT INTO realtime.messages (topic, extension, private, event, payload)
                 VALUES ($1, $2, true, 'basalt_authorization_probe', '{}'::jsonb) RETURNING id",
                &[&sub_topic, &ext],
            )
            .await?
            .get(0);
        tx.batch_execute("SAVEPOINT basalt_authz").await?;
        tx.query(
            "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
                    set_config('realtime.topic', $3, true)",
            &[&token.role, &&*token.claims, &sub_topic],
        )
        .await?;
        tx.batch_execute("SAVEPOINT basalt_authz_read").await?;
        *read = match tx
            .query_opt("SELECT 1 FROM realtime.messages WHERE id = $1", &[&probe])
            .await
        {
            Ok(row) => row.is_some(),
            Err(_) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT basalt_authz_read")
                    .await?;
                false
            }
        };
        tx.batch_execute("SAVEPOINT basalt_authz_write").await?;
        *write = match tx
            .execute(
                "INSERT INTO realtime.messages (topic, extension, private, event, payload)
                 VALUES ($1, $2, true, 'basalt_authorization_probe', '{}'::jsonb)",
                &[&sub_topic, &ext],
            )
            .await
        {
            Ok(_) => true,
            Err(_) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT basalt_authz_write")
                    .await?;
                false
            }
        };
        tx.batch_execute("ROLLBACK TO SAVEPOINT basalt_authz")
            .await?;
    }
    tx.rollback().await?;
    Ok(perms)
}
