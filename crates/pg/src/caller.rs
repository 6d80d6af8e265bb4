//! Connections that run statements as a request's caller (REST, GraphQL, storage): each becomes
//! an `authenticator` session before its first request, whatever user the connection string
//! names, so that the role a token claims is one Postgres lets `authenticator` assume (`anon`,
//! `authenticated`, `service_role` and what a project grants it) and nothing else.
//!
//! A request switches role with `set_config('role', <claim>, true)`, which Postgres allows only
//! for roles the *session* user is a member of. Over the embedded cluster's socket the pools log
//! in as `authenticator` itself ([`crate::platform::local_url_as`]). A `--db-url` over TCP
//! carries one password, the URL user's, so the pools log in as that user and then:
//!
//! - a superuser runs `SET SESSION AUTHORIZATION authenticator` ([`assume_sql`], in the pools'
//!   `post_create` hook, before the connection serves anything). From then on the session user
//!   is `authenticator`: a token claiming `postgres`, `supabase_admin` or the URL's own user is
//!   refused by Postgres (42501 `permission denied to set role`), exactly as on the embedded
//!   cluster, and `RESET ROLE` falls back to `authenticator`, not to the superuser. Nothing
//!   resets it: the general pools recycle with `RecyclingMethod::Fast` (no `DISCARD ALL`, which
//!   would run `SET SESSION AUTHORIZATION DEFAULT`), the wire pool sends nothing on recycling,
//!   and `RESET ALL` leaves `session_authorization` alone. A pool that asks for a session role
//!   (storage's `service_role` for its own bookkeeping) gets it set again after the switch, so
//!   that Postgres checks it against `authenticator` too. What stays superuser is only the
//!   login itself: SQL a project writes (a function a request calls) could still run
//!   `RESET SESSION AUTHORIZATION`, which Postgres allows because the login is a superuser; no
//!   request can send such a statement itself.
//! - `authenticator` itself needs nothing.
//! - any other role (a `CREATEROLE` admin on a managed database, [`crate::privileges`]) cannot
//!   change its session user, and can always assume itself. So under `basalt start` the request
//!   pools do not log in as it: they log in as `authenticator` with a password every node
//!   derives from the project secret ([`authenticator_password`]), which the admin sets on the
//!   role at start when it does not work yet ([`authenticator_login`]). A standalone service
//!   given such a URL keeps its user, and the hook says so once in the log.
//!
//! Realtime keeps one pool for its own work and its checks: before it sets a subscriber's role it
//! asks Postgres whether `authenticator` is a member of it (`pg_has_role`), and a token naming
//! any other role may do nothing.
//!
//! Services that need their own admin role (auth as its own role, storage's migrations, the HTTP
//! queue, cron, realtime's replication, migrations) build their pools without this hook.

/// The role request connections act as.
pub use crate::platform::AUTHENTICATOR;

/// Turns a superuser session into an `authenticator` session, then sets `session_role` (if any)
/// as its current role, which Postgres checks against `authenticator`. A no-op for any other
/// session user, and on a database without an `authenticator` role: there `basalt rest` stands
/// in for PostgREST, whose authenticator is the URL's user itself (PostgREST's own test
/// database logs in as a superuser that switches to its roles).
pub fn assume_sql(session_role: Option<&str>) -> String {
    let role = session_role.map_or_else(String::new, |r| {
        format!(
            "\n    PERFORM set_config('role', '{}', false);",
            r.replace('\'', "''")
        )
    });
    format!(
        "DO $basalt$
BEGIN
  IF session_user::text <> '{AUTHENTICATOR}'
     AND (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user)
     AND EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{AUTHENTICATOR}') THEN
    SET SESSION AUTHORIZATION {AUTHENTICATOR};{role}
  END IF;
END
$basalt$"
    )
}

/// The session user once [`assume_sql`] ran: anything but `authenticator` is logged
/// ([`note_session_user`]).
pub const SESSION_USER_SQL: &str = "SELECT session_user::text";

/// Log, once per process, when request connections keep a user other than `authenticator`.
pub fn note_session_user(user: &str) {
    if user == AUTHENTICATOR {
        return;
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            user,
            "request connections log in as {user:?}, which is neither {AUTHENTICATOR:?} nor a \
             superuser: a token signed with the project secret may claim the role {user:?} \
             itself; give --db-url a superuser, or a URL that logs in as {AUTHENTICATOR:?}"
        );
    });
}

/// The password request connections log in with as `authenticator` on a database basalt
/// reaches over TCP with a role that is neither a superuser nor `authenticator` (hex, 64
/// characters): derived from the project secret, so that every node computes the same one.
pub fn authenticator_password(jwt_secret: &str) -> String {
    basalt_identity::derive(jwt_secret, "basalt authenticator password")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `url` logging in as `user` with `password` (which must be URL- and key/value-safe, as
/// [`authenticator_password`]'s are); everything else (host, database, TLS) is kept. Both
/// forms read later settings over earlier ones, so the login is appended.
pub fn url_as(url: &str, user: &str, password: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}user={user}&password={password}")
    } else {
        format!("{url} user={user} password={password}")
    }
}

/// Under `basalt start` on a database reached with `admin_url`: the password with which request
/// connections log in as `authenticator`, or `None` when they need none (a unix socket the
/// embedded cluster trusts, a superuser URL whose sessions switch, a URL that already logs in as
/// `authenticator`, or a database without that role). Logging in with the derived password is
/// tried first; when Postgres refuses it the admin sets it (as a SCRAM verifier, so that no
/// plain password reaches the server's logs) and it is tried again. `Err` says in one line what
/// is wrong and what a DBA runs.
pub async fn authenticator_login(
    admin_url: &str,
    jwt_secret: &str,
) -> Result<Option<String>, String> {
    if crate::platform::local_url_as(admin_url, AUTHENTICATOR).is_some() {
        return Ok(None);
    }
    let describe = |e: tokio_postgres::Error| crate::pool::describe(&e);
    let admin = crate::pool::connect(admin_url).await.map_err(describe)?;
    let me = admin
        .query_one(
            "SELECT session_user::text, r.rolsuper,
                    EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)
             FROM pg_catalog.pg_roles r WHERE r.rolname = session_user",
            &[&AUTHENTICATOR],
        )
        .await
        .map_err(describe)?;
    let (user, superuser, exists): (String, bool, bool) = (me.get(0), me.get(1), me.get(2));
    if user == AUTHENTICATOR || superuser || !exists {
        return Ok(None);
    }
    let password = authenticator_password(jwt_secret);
    let caller_url = url_as(admin_url, AUTHENTICATOR, &password);
    if crate::pool::connect(&caller_url).await.is_ok() {
        return Ok(Some(password));
    }
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    let u = crate::quote_ident(&user);
    admin
        .batch_execute(&format!(
            "ALTER ROLE {AUTHENTICATOR} WITH LOGIN PASSWORD '{verifier}'"
        ))
        .await
        .map_err(|e| {
            format!(
                "request connections log in as {AUTHENTICATOR} with a password derived from the \
                 project's JWT secret, and role {u} cannot set it ({}) — a DBA runs: \
                 GRANT {AUTHENTICATOR} TO {u} WITH ADMIN OPTION;",
                describe(e)
            )
        })?;
    crate::pool::connect(&caller_url).await.map_err(|e| {
        format!(
            "request connections log in as {AUTHENTICATOR}, and the database refused that login \
             ({}): allow role {AUTHENTICATOR} to log in with a password from basalt's hosts \
             (pg_hba.conf, or the provider's settings)",
            describe(e)
        )
    })?;
    tracing::info!("request connections log in as {AUTHENTICATOR} (its password was set)");
    Ok(Some(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_role_is_set_after_the_switch_and_quoted() {
        let plain = assume_sql(None);
        assert!(
            plain.contains("SET SESSION AUTHORIZATION authenticator;\n  END IF;"),
            "{plain}"
        );
        let s = assume_sql(Some("it's"));
        assert!(
            s.contains("PERFORM set_config('role', 'it''s', false);"),
            "{s}"
        );
    }

    #[test]
    fn the_authenticator_login_is_appended_to_either_form_and_derived_alike() {
        let p = authenticator_password("a-project-secret-a-project-secret");
        assert_eq!(p.len(), 64);
        assert_eq!(
            p,
            authenticator_password("a-project-secret-a-project-secret")
        );
        assert_ne!(
            p,
            authenticator_password("another-secret-another-secret-xx")
        );
        assert_eq!(
            url_as(
                "postgres://dba:pw@db:5432/app?sslmode=require",
                "authenticator",
                "x1"
            ),
            "postgres://dba:pw@db:5432/app?sslmode=require&user=authenticator&password=x1"
        );
        assert_eq!(
            url_as("postgresql://db/app", "authenticator", "x1"),
            "postgresql://db/app?user=authenticator&password=x1"
        );
        assert_eq!(
            url_as("host=db user=dba password=pw", "authenticator", "x1"),
            "host=db user=dba password=pw user=authenticator password=x1"
        );
        for url in [
            url_as(
                "postgres://dba:pw@db:5432/app?sslmode=require",
                "authenticator",
                "x1",
            ),
            url_as("host=db user=dba password=pw", "authenticator", "x1"),
        ] {
            let c = crate::tls::parse(&url).unwrap().pg;
            assert_eq!(c.get_user(), Some("authenticator"), "{url}");
            assert_eq!(c.get_password(), Some(&b"x1"[..]), "{url}");
        }
    }
}
