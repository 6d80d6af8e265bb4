//! The platform schema: roles, schemas, tables and functions Supabase projects expect to find.
//!
//! The SQL lives in `crates/pg/sql/*.sql`, one file per part, each idempotent. A version made of
//! a hash of all parts is recorded in `extensions.basalt_platform_version`; `apply` runs the parts
//! only when the recorded version differs, under an advisory lock so that several basalt nodes
//! starting at once against one database do not race.
//!
//! Everything basalt keeps for itself lives in the schemas Supabase tooling treats as the
//! platform's (`auth`, `net`, `vault`, `extensions`), so that a project's `supabase db dump` and
//! `supabase db advisors` see only the project's objects. Older installs had a schema `basalt`:
//! part `000_relocate` moves its tables, `095_retire_basalt_schema` drops what is left.

use tokio_postgres::Client;

/// The parts of the platform schema, in the order they are applied.
pub const PARTS: &[(&str, &str)] = &[
    ("000_relocate", include_str!("../sql/000_relocate.sql")),
    (
        "001_roles_schemas",
        include_str!("../sql/001_roles_schemas.sql"),
    ),
    ("010_auth", include_str!("../sql/010_auth.sql")),
    ("020_storage", include_str!("../sql/020_storage.sql")),
    ("030_realtime", include_str!("../sql/030_realtime.sql")),
    ("040_rest", include_str!("../sql/040_rest.sql")),
    ("070_realtime", include_str!("../sql/070_realtime.sql")),
    ("050_auth_extra", include_str!("../sql/050_auth_extra.sql")),
    (
        "052_auth_refresh",
        include_str!("../sql/052_auth_refresh.sql"),
    ),
    (
        "060_storage_extra",
        include_str!("../sql/060_storage_extra.sql"),
    ),
    ("080_net", include_str!("../sql/080_net.sql")),
    ("081_webhooks", include_str!("../sql/081_webhooks.sql")),
    ("082_cron", include_str!("../sql/082_cron.sql")),
    ("083_vault", include_str!("../sql/083_vault.sql")),
    ("084_stats", include_str!("../sql/084_stats.sql")),
    ("090_ownership", include_str!("../sql/090_ownership.sql")),
    (
        "095_retire_basalt_schema",
        include_str!("../sql/095_retire_basalt_schema.sql"),
    ),
];

/// The login role REST's and storage's request connections use under `basalt start`: granted
/// exactly the API roles (and whatever a project grants it), so Postgres refuses to switch to
/// any other role a token names.
pub const AUTHENTICATOR: &str = "authenticator";

/// `url` logging in as `user` instead of its own user, when that needs no password: a
/// `postgres://` URL over a unix socket, which the embedded cluster trusts. `None` for TCP URLs
/// (their password is the superuser's) and libpq key/value strings.
pub fn local_url_as(url: &str, user: &str) -> Option<String> {
    let scheme = ["postgresql://", "postgres://"]
        .into_iter()
        .find(|s| url.starts_with(s))?;
    let rest = &url[scheme.len()..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let query = tail.split_once('?').map_or("", |(_, q)| q);
    let socket_param = query.split('&').any(|kv| {
        kv.strip_prefix("host=")
            .is_some_and(|h| h.starts_with('/') || h.to_ascii_lowercase().starts_with("%2f"))
    });
    let socket_host = host.to_ascii_lowercase().starts_with("%2f");
    let tcp_param = query.split('&').any(|kv| {
        kv.strip_prefix("host=")
            .is_some_and(|h| !h.starts_with('/') && !h.to_ascii_lowercase().starts_with("%2f"))
    });
    if !(socket_host || socket_param && host.is_empty()) || tcp_param {
        return None;
    }
    let user: String = user
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    Some(format!("{scheme}{user}@{host}{tail}"))
}

/// The settings of every role that has some (`ALTER ROLE … SET`), as a role switched to with
/// `set_config('role', …)` would have had them had it logged in: role-wide ones and those for the
/// current database merged, the latter winning. Only settings a role may change for itself
/// (`user` context, or custom `x.y` names) are kept; `role` and `session_authorization` never.
/// Columns: role, name, value, ordered by role. Readable by any role (no privilege on the
/// catalogs needed). REST reads them with its schema cache; storage applies them per request.
pub const ROLE_SETTINGS_SQL: &str = r#"
select r.rolname::text, kv.name, kv.value
from (
  select s.setrole, split_part(c, '=', 1) as name, substr(c, strpos(c, '=') + 1) as value,
         row_number() over (partition by s.setrole, split_part(c, '=', 1)
                            order by s.setdatabase desc) as n
  from pg_db_role_setting s, unnest(s.setconfig) as c
  where s.setrole <> 0
    and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
) kv
join pg_roles r on r.oid = kv.setrole
left join pg_settings ps on ps.name = kv.name
where kv.n = 1
  and kv.name not in ('role', 'session_authorization')
  and (ps.context = 'user' or (ps.name is null and kv.name like '%.%'))
order by 1, 2
"#;

/// Advisory lock key basalt holds while installing the platform schema or running migrations.
pub const LOCK_KEY: i64 = 0x6261_7361_6c74; // "basalt"

/// A stable version string for the current platform SQL (FNV-1a over every part).
pub fn version() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, sql) in PARTS {
        for b in name.bytes().chain(sql.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Failure while installing the platform schema.
#[derive(Debug, thiserror::Error)]
#[error("platform schema part {part}: {source}")]
pub struct PlatformError {
    pub part: String,
    #[source]
    pub source: tokio_postgres::Error,
}

/// Makes the version table (moving an older install's `basalt.platform_version`) where it is
/// missing.
const BOOTSTRAP: &str = "DO $$
BEGIN
  IF to_regclass('extensions.basalt_platform_version') IS NOT NULL THEN
    RETURN;
  END IF;
  IF to_regnamespace('extensions') IS NULL THEN
    CREATE SCHEMA extensions;
  END IF;
  IF to_regclass('basalt.platform_version') IS NOT NULL THEN
    ALTER TABLE basalt.platform_version RENAME TO basalt_platform_version;
    ALTER TABLE basalt.basalt_platform_version RENAME CONSTRAINT platform_version_pkey
      TO basalt_platform_version_pkey;
    ALTER TABLE basalt.basalt_platform_version RENAME CONSTRAINT platform_version_id_check
      TO basalt_platform_version_id_check;
    ALTER TABLE basalt.basalt_platform_version SET SCHEMA extensions;
  ELSE
    CREATE TABLE extensions.basalt_platform_version (
      id boolean PRIMARY KEY DEFAULT true CHECK (id), version text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now());
  END IF;
END
$$";

/// Install or upgrade the platform schema. Returns `true` when something was applied.
pub async fn apply(client: &mut Client) -> Result<bool, PlatformError> {
    let err = |part: &str| {
        let part = part.to_string();
        move |source| PlatformError { part, source }
    };
    let want = version();
    let table = client
        .query_one(
            "SELECT to_regclass('extensions.basalt_platform_version') IS NOT NULL",
            &[],
        )
        .await
        .map_err(err("version"))?
        .get::<_, bool>(0);
    let recorded = if table {
        client
            .query_opt(
                "SELECT version FROM extensions.basalt_platform_version",
                &[],
            )
            .await
            .map_err(err("version"))?
            .map(|r| r.get::<_, String>(0))
    } else {
        None
    };
    if recorded.as_deref() == Some(want.as_str()) {
        return Ok(false);
    }
    // Everything from here on is one transaction: an install that fails leaves nothing behind.
    let tx = client.transaction().await.map_err(err("begin"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(err("lock"))?;
    tx.batch_execute(BOOTSTRAP)
        .await
        .map_err(err("bootstrap"))?;
    for (name, sql) in PARTS {
        tx.batch_execute(sql).await.map_err(err(name))?;
    }
    tx.execute(
        "INSERT INTO extensions.basalt_platform_version (version) VALUES ($1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, applied_at = now()",
        &[&want],
    )
    .await
    .map_err(err("record"))?;
    tx.commit().await.map_err(err("commit"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls_change_user() {
        assert_eq!(
            local_url_as(
                "postgresql://postgres@/db?host=%2Ftmp%2Fs&port=5",
                "authenticator"
            )
            .as_deref(),
            Some("postgresql://authenticator@/db?host=%2Ftmp%2Fs&port=5")
        );
        assert_eq!(
            local_url_as("postgres://u:pw@%2Frun%2Fpg/db", "authenticator").as_deref(),
            Some("postgres://authenticator@%2Frun%2Fpg/db")
        );
        assert_eq!(
            local_url_as(
                "postgresql://postgres:pw@127.0.0.1:5432/db",
                "authenticator"
            ),
            None
        );
        assert_eq!(
            local_url_as("postgresql:///db?host=127.0.0.1", "authenticator"),
            None
        );
        assert_eq!(
            local_url_as("host=/tmp user=postgres", "authenticator"),
            None
        );
    }
}
