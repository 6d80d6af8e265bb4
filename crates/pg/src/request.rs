//! A request's transaction settings, as every API that runs statements for a caller applies them
//! (REST and GraphQL): the role's own settings (`ALTER ROLE … SET`, see [`RoleSettings`]), the
//! search path, the role, `request.jwt.claims`, `request.method`, `request.path`,
//! `request.headers` and `request.cookies`, `app.settings.*`, the time zone — all with
//! `set_config(name, value, true)` in one statement ([`setup_sql`]) — then the pre-request
//! function ([`pre_request_sql`]).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use crate::platform::ROLE_SETTINGS_SQL;
use crate::wire::{self, Step};

/// Each role's own settings, applied with `set_config(name, value, true)` in every transaction
/// that runs as the role (see [`ROLE_SETTINGS_SQL`]).
#[derive(Debug, Default)]
pub struct RoleSettings {
    by_role: HashMap<String, Vec<(String, String)>>,
}

impl RoleSettings {
    /// From `(role, name, value)` rows of [`ROLE_SETTINGS_SQL`].
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Self {
        let mut by_role: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (role, name, value) in rows {
            by_role
                .entry(role.to_string())
                .or_default()
                .push((name.to_string(), value.to_string()));
        }
        RoleSettings { by_role }
    }

    /// The settings of `role` (none when it has none).
    pub fn of(&self, role: &str) -> &[(String, String)] {
        self.by_role.get(role).map_or(&[], Vec::as_slice)
    }
}

/// The role settings of one schema generation, read once per generation (the owner bumps its
/// generation on schema reload, when roles may have changed).
#[derive(Default)]
pub struct RoleSettingsCache {
    held: std::sync::RwLock<Option<(u64, Arc<RoleSettings>)>>,
    /// Held while they are read, so one request reads them after a reload.
    reading: tokio::sync::Mutex<()>,
}

impl RoleSettingsCache {
    /// The settings of `generation`, read on `conn` when the ones held are older. Reading them
    /// can only fail on a broken connection.
    pub async fn get(
        &self,
        conn: &mut wire::Conn,
        generation: u64,
    ) -> Result<Arc<RoleSettings>, wire::Error> {
        let held = |c: &Self| {
            c.held
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .filter(|(g, _)| *g == generation)
                .map(|(_, r)| r.clone())
        };
        if let Some(r) = held(self) {
            return Ok(r);
        }
        let _reading = self.reading.lock().await;
        if let Some(r) = held(self) {
            return Ok(r);
        }
        let rows = conn.pipeline(&[Step::plain(ROLE_SETTINGS_SQL)]).await?;
        let settings = Arc::new(RoleSettings::from_rows(
            rows.iter()
                .flatten()
                .filter_map(|r| Some((r.text(0)?, r.text(1)?, r.text(2)?))),
        ));
        *self.held.write().unwrap_or_else(|e| e.into_inner()) =
            Some((generation, settings.clone()));
        Ok(settings)
    }
}

/// The caller's part of the settings: set only when the request runs as a caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The role to switch to (`None`: stay the connecting role).
    pub role: Option<&'a str>,
    /// `request.jwt.claims` (JSON text).
    pub claims: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// `request.headers` (a JSON object, see [`headers_json`]).
    pub headers: &'a str,
    /// `request.cookies` (a JSON object).
    pub cookies: &'a str,
}

/// Everything the settings statement sets, borrowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings<'a> {
    /// The search path, already quoted (`"public", "extensions"`).
    pub search_path: &'a str,
    pub caller: Option<Caller<'a>>,
    /// `(app.settings.<name>, value)`.
    pub app_settings: &'a [(String, String)],
    pub timezone: Option<&'a str>,
    /// The transaction is implicit: the statement makes it read-only itself.
    pub read_only: bool,
    /// The caller's role's own settings, set first so that the request's win where both name
    /// the same one.
    pub role_settings: &'a [(String, String)],
}

/// The name of a setting: written into the statement (basalt's own names) or bound.
enum Name<'a> {
    Fixed(&'static str),
    Bound(&'a str),
}

/// Append `set_config(name, value, true)` to the settings statement.
fn push_set<'a>(
    text: &mut String,
    params: &mut Vec<Option<&'a str>>,
    name: Name<'a>,
    value: &'a str,
) {
    if text.len() > "SELECT ".len() {
        text.push_str(", ");
    }
    match name {
        Name::Fixed(n) => {
            let _ = write!(text, "set_config('{n}', ");
        }
        Name::Bound(n) => {
            params.push(Some(n));
            let _ = write!(text, "set_config(${}, ", params.len());
        }
    }
    params.push(Some(value));
    let _ = write!(text, "${}, true)", params.len());
}

/// The settings statement: its text and its parameters, borrowed.
pub fn setup_sql<'a>(s: &Settings<'a>) -> (String, Vec<Option<&'a str>>) {
    let mut text = String::with_capacity(400);
    text.push_str("SELECT ");
    let mut params: Vec<Option<&'a str>> = Vec::with_capacity(8 + 2 * s.role_settings.len());
    if s.read_only {
        text.push_str("set_config('transaction_read_only', 'on', true)");
    }
    let p = &mut params;
    for (name, value) in s.role_settings {
        push_set(&mut text, p, Name::Bound(name), value);
    }
    push_set(&mut text, p, Name::Fixed("search_path"), s.search_path);
    if let Some(c) = &s.caller {
        if let Some(role) = c.role {
            push_set(&mut text, p, Name::Fixed("role"), role);
        }
        push_set(&mut text, p, Name::Fixed("request.jwt.claims"), c.claims);
        push_set(&mut text, p, Name::Fixed("request.method"), c.method);
        push_set(&mut text, p, Name::Fixed("request.path"), c.path);
        push_set(&mut text, p, Name::Fixed("request.headers"), c.headers);
        push_set(&mut text, p, Name::Fixed("request.cookies"), c.cookies);
    }
    for (name, value) in s.app_settings {
        push_set(&mut text, p, Name::Bound(name), value);
    }
    if let Some(tz) = s.timezone {
        push_set(&mut text, p, Name::Fixed("timezone"), tz);
    }
    (text, params)
}

/// `SELECT "schema"."function"()`: the pre-request function call.
pub fn pre_request_sql(function: &str) -> String {
    let q: Vec<String> = function.split('.').map(crate::quote_ident).collect();
    format!("SELECT {}()", q.join("."))
}

/// `request.headers` and `request.cookies` as JSON objects, from `(lower-case name, value)`
/// pairs. A name sent twice keeps its last value, as a JSON object read by Postgres does.
pub fn headers_json<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> (String, String) {
    fn push_pair(out: &mut String, k: &str, v: &str) {
        out.push(if out.is_empty() { '{' } else { ',' });
        // Serialising a string cannot fail.
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    let mut h = String::with_capacity(512);
    let mut c = String::new();
    for (k, v) in headers {
        if k == "cookie" {
            for pair in v.split(';') {
                if let Some((a, b)) = pair.trim().split_once('=') {
                    push_pair(&mut c, a, b);
                }
            }
            continue;
        }
        push_pair(&mut h, k, v);
    }
    for out in [&mut h, &mut c] {
        if out.is_empty() {
            out.push('{');
        }
        out.push('}');
    }
    (h, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn headers_and_cookies_become_json_objects() {
        let pairs = [
            ("x-quote", "a\"b\\c"),
            ("cookie", "sid=1; theme=dark"),
            ("x-twice", "first"),
            ("x-twice", "second"),
        ];
        let (headers, cookies) = headers_json(pairs);
        let headers: Value = serde_json::from_str(&headers).unwrap();
        assert_eq!(headers["x-quote"], "a\"b\\c");
        assert_eq!(headers["x-twice"], "second");
        assert!(headers.get("cookie").is_none());
        let cookies: Value = serde_json::from_str(&cookies).unwrap();
        assert_eq!(cookies, serde_json::json!({"sid": "1", "theme": "dark"}));
        assert_eq!(headers_json([]), ("{}".into(), "{}".into()));
    }

    #[test]
    fn role_settings_come_first_and_values_are_bound() {
        let role = vec![("statement_timeout".to_string(), "1s".to_string())];
        let app = vec![("app.settings.x".to_string(), "y".to_string())];
        let (text, params) = setup_sql(&Settings {
            search_path: "\"public\"",
            caller: Some(Caller {
                role: Some("anon"),
                claims: "{}",
                method: "POST",
                path: "/graphql/v1",
                headers: "{}",
                cookies: "{}",
            }),
            app_settings: &app,
            timezone: None,
            read_only: true,
            role_settings: &role,
        });
        assert!(text.starts_with(
            "SELECT set_config('transaction_read_only', 'on', true), set_config($1, $2, true)"
        ));
        assert_eq!(params[0], Some("statement_timeout"));
        assert!(params.contains(&Some("/graphql/v1")));
        assert_eq!(params.last(), Some(&Some("y")));
        assert_eq!(pre_request_sql("a.b\"c"), "SELECT \"a\".\"b\"\"c\"()");
    }
}
