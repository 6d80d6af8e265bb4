//! What a database role needs for basalt, checked before the platform schema is installed on a
//! database basalt does not own (`--db-url` with a role that is not a superuser). Each missing
//! privilege is one line: what is missing, why, and the statement a DBA runs.
//!
//! A superuser needs nothing. Otherwise, installing or upgrading the platform schema needs a
//! superuser once (it creates roles with SUPERUSER, BYPASSRLS or REPLICATION, changes the
//! attributes of `authenticator`, and creates event triggers, which only superusers may); after
//! that basalt runs as the role itself, provided it bypasses row level security (as the
//! superuser it stands in for does), can create schemas in the database, act as the API and
//! service roles, and use what the installer owns and basalt's own work touches as this role:
//! the migration history and the tables and functions of `net`, `realtime`, `vault` and
//! `supabase_functions`. Realtime's `postgres_changes` needs REPLICATION; without it
//! realtime says so and refuses those subscriptions, so that line does not stop a start.

use tokio_postgres::Client;

/// One missing privilege.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing and what it is needed for.
    pub what: String,
    /// What a DBA runs.
    pub statement: String,
    /// Whether basalt cannot start without it.
    pub blocking: bool,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} — a DBA runs: {}", self.what, self.statement)
    }
}

/// Roles the platform makes that a role without SUPERUSER cannot make.
const PRIVILEGED_ROLES: &[(&str, &str, &str)] = &[
    (
        "service_role",
        "BYPASSRLS",
        "CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;",
    ),
    (
        "supabase_admin",
        "SUPERUSER",
        "CREATE ROLE supabase_admin LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;",
    ),
    (
        "postgres",
        "SUPERUSER",
        "CREATE ROLE postgres LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;",
    ),
    (
        "dashboard_user",
        "REPLICATION",
        "CREATE ROLE dashboard_user NOLOGIN CREATEROLE CREATEDB REPLICATION;",
    ),
];

/// Roles basalt's services act as once the platform is installed.
const SERVICE_ROLES: &[&str] = &[
    "anon",
    "authenticated",
    "service_role",
    "supabase_auth_admin",
    "supabase_storage_admin",
];

/// What the connected role lacks. `platform_installed`: the platform schema of this basalt is
/// already in the database (so nothing needs a superuser).
pub async fn missing(
    client: &Client,
    platform_installed: bool,
) -> Result<Vec<Missing>, tokio_postgres::Error> {
    let me = client
        .query_one(
            "SELECT current_user::text, current_database()::text, r.rolsuper,
                    r.rolcreaterole, r.rolreplication,
                    has_database_privilege(current_database(), 'CREATE'), r.rolbypassrls
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await?;
    let (user, db): (String, String) = (me.get(0), me.get(1));
    let (superuser, createrole, replication, create_db): (bool, bool, bool, bool) =
        (me.get(2), me.get(3), me.get(4), me.get(5));
    let bypass_rls: bool = me.get(6);
    if superuser {
        return Ok(Vec::new());
    }
    let u = crate::quote_ident(&user);
    let mut out = Vec::new();
    if !bypass_rls {
        out.push(Missing {
            what: format!(
                "role {u} does not bypass row level security: auth, the HTTP queue and realtime \
                 write the platform's tables as this role (API requests still switch to anon, \
                 authenticated or service_role)"
            ),
            statement: format!("ALTER ROLE {u} BYPASSRLS;"),
            blocking: true,
        });
    }
    if !create_db {
        out.push(Missing {
            what: format!("role {u} cannot create schemas in database {db}"),
            statement: format!(
                "GRANT CREATE ON DATABASE {} TO {u};",
                crate::quote_ident(&db)
            ),
            blocking: true,
        });
    }
    if !platform_installed {
        if !createrole {
            out.push(Missing {
                what: format!("role {u} cannot create the API roles (anon, authenticated, …)"),
                statement: format!("ALTER ROLE {u} CREATEROLE;"),
                blocking: true,
            });
        }
        for (role, attr, statement) in PRIVILEGED_ROLES {
            let exists = client
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[role])
                .await?
                .is_some();
            if !exists {
                out.push(Missing {
                    what: format!(
                        "role {role} ({attr}) does not exist and only a superuser makes it"
                    ),
                    statement: (*statement).to_string(),
                    blocking: true,
                });
            }
        }
        out.push(Missing {
            what: format!(
                "installing the platform schema needs a superuser once (event triggers, the \
                 attributes of role authenticator); afterwards basalt runs as {u}"
            ),
            statement: format!("basalt db push --db-url '<a superuser URL of database {db}>'"),
            blocking: true,
        });
    } else {
        let version_table = client
            .query_one(
                "SELECT coalesce(bool_and(has_schema_privilege(n.oid, 'USAGE')
                                          AND has_table_privilege(c.oid, 'SELECT')), false)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'extensions' AND c.relname = 'basalt_platform_version'",
                &[],
            )
            .await?
            .get::<_, bool>(0);
        if !version_table {
            out.push(Missing {
                what: format!("role {u} cannot read the platform's version"),
                statement: format!(
                    "GRANT USAGE ON SCHEMA extensions TO {u}; \
                     GRANT SELECT ON extensions.basalt_platform_version TO {u};"
                ),
                blocking: true,
            });
        }
        let mut not_member = Vec::new();
        for role in SERVICE_ROLES {
            let member = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
                            AND pg_has_role(current_user, $1, 'MEMBER')",
                    &[role],
                )
                .await?
                .get::<_, bool>(0);
            if !member {
                not_member.push(*role);
            }
        }
        if !not_member.is_empty() {
            out.push(Missing {
                what: format!(
                    "role {u} cannot act as {} (auth, storage and REST switch to them)",
                    not_member.join(", ")
                ),
                statement: format!("GRANT {} TO {u};", not_member.join(", ")),
                blocking: true,
            });
        }
        // The migration history the superuser's install made: basalt records migrations and
        // seeds in it on every start.
        let history = client
            .query_one(
                "SELECT to_regnamespace('supabase_migrations') IS NULL
                        OR (has_schema_privilege('supabase_migrations', 'USAGE, CREATE')
                            AND coalesce(bool_and(has_table_privilege(c.oid,
                                'SELECT, INSERT, UPDATE, DELETE')), true))
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'supabase_migrations' AND c.relkind = 'r'",
                &[],
            )
            .await?
            .get::<_, bool>(0);
        if !history {
            out.push(Missing {
                what: format!("role {u} cannot record migrations (schema supabase_migrations)"),
                statement: format!(
                    "GRANT USAGE, CREATE ON SCHEMA supabase_migrations TO {u}; \
                     GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \
                     supabase_migrations TO {u};"
                ),
                blocking: true,
            });
        }
        let internal = internal_schemas_lacking(client).await?;
        if !internal.is_empty() {
            let list = internal.join(", ");
            out.push(Missing {
                what: format!(
                    "role {u} cannot use basalt's own tables and functions in {list} (the HTTP \
                     queue, realtime's nodes, the vault), which the superuser's install owns"
                ),
                statement: format!(
                    "GRANT USAGE ON SCHEMA {list} TO {u}; \
                     GRANT ALL ON ALL TABLES IN SCHEMA {list} TO {u}; \
                     GRANT ALL ON ALL SEQUENCES IN SCHEMA {list} TO {u}; \
                     GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {list} TO {u};"
                ),
                blocking: true,
            });
        }
    }
    if !replication {
        out.push(Missing {
            what: format!(
                "role {u} has no REPLICATION privilege: realtime refuses postgres_changes"
            ),
            statement: format!("ALTER ROLE {u} REPLICATION;"),
            blocking: false,
        });
    }
    Ok(out)
}

/// Schemas whose tables basalt's background work reads and writes as its own role (not as an
/// API or service role): on a database basalt does not own, the superuser who installed the
/// platform owns them.
const INTERNAL_SCHEMAS: &[&str] = &["net", "realtime", "vault", "supabase_functions"];

/// Those of [`INTERNAL_SCHEMAS`] holding a table, sequence or function the connected role may
/// not use.
async fn internal_schemas_lacking(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    let schemas: Vec<String> = INTERNAL_SCHEMAS.iter().map(|s| (*s).to_string()).collect();
    let rows = client
        .query(
            "SELECT n.nspname::text FROM pg_namespace n
             WHERE n.nspname = ANY($1)
               AND (NOT has_schema_privilege(n.oid, 'USAGE')
                    OR EXISTS (SELECT 1 FROM pg_class c
                               WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'S')
                                 AND NOT CASE WHEN c.relkind = 'S'
                                              THEN has_sequence_privilege(c.oid, 'USAGE, UPDATE')
                                              ELSE has_table_privilege(c.oid,
                                                     'SELECT, INSERT, UPDATE, DELETE') END)
                    OR EXISTS (SELECT 1 FROM pg_proc p
                               WHERE p.pronamespace = n.oid
                                 AND NOT has_function_privilege(p.oid, 'EXECUTE')))
             ORDER BY array_position($1, n.nspname::text)",
            &[&schemas],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whether this basalt's platform schema is recorded in the database.
pub async fn platform_installed(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT count(*) > 0,
                    bool_and(has_schema_privilege(n.oid, 'USAGE')
                             AND has_table_privilege(c.oid, 'SELECT'))
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'extensions' AND c.relname = 'basalt_platform_version'",
            &[],
        )
        .await?;
    if !row.get::<_, bool>(0) {
        return Ok(false);
    }
    if row.get::<_, Option<bool>>(1) != Some(true) {
        // Installed by someone else and not readable here: [`missing`] names the grant.
        return Ok(true);
    }
    let v = client
        .query_opt(
            "SELECT version FROM extensions.basalt_platform_version",
            &[],
        )
        .await?
        .map(|r| r.get::<_, String>(0));
    Ok(v.as_deref() == Some(crate::platform::version().as_str()))
}

/// Check before installing: `Err` with one line per blocking privilege (and the others), `Ok`
/// with the lines that do not stop a start (to be said as warnings).
pub async fn check(client: &Client) -> Result<Vec<Missing>, String> {
    let installed = platform_installed(client)
        .await
        .map_err(|e| crate::pool::describe(&e))?;
    let missing = missing(client, installed)
        .await
        .map_err(|e| crate::pool::describe(&e))?;
    if missing.iter().any(|m| m.blocking) {
        let lines: Vec<String> = missing.iter().map(|m| format!("  - {m}")).collect();
        return Err(format!(
            "the database role lacks what basalt needs; each line names what a DBA runs:\n{}",
            lines.join("\n")
        ));
    }
    Ok(missing)
}
