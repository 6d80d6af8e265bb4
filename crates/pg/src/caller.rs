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
//!   change its session user, and can always assume itself. Such a connection keeps its user and
//!   the hook says so once in the log; give basalt a URL that logs in as `authenticator` (or a
//!   superuser) to close that gap.
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
}
