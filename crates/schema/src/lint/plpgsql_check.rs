//! PL/pgSQL bodies checked by the `plpgsql_check` extension on a live database: references to
//! missing tables and columns, type mismatches, unused variables. The extension is created
//! inside a transaction that is rolled back, so the database is left as it was.

use tokio_postgres::Client;

use super::Finding;
use crate::error::Error;
use crate::finding::Level;

/// The rule name of these findings.
pub const RULE: &str = "plpgsql-check";

/// Check every PL/pgSQL function (trigger functions aside) of `schemas`.
pub async fn run(client: &mut Client, schemas: &[String]) -> Result<Vec<Finding>, Error> {
    let available = client
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check'",
            &[],
        )
        .await
        .map_err(|e| Error::query("look for plpgsql_check", &e))?
        .is_some();
    if !available {
        return Err(Error::Usage(
            "plpgsql_check is not installed on the database server (on Debian: apt-get install postgresql-15-plpgsql-check)".into(),
        ));
    }
    let tx = client
        .transaction()
        .await
        .map_err(|e| Error::query("begin", &e))?;
    tx.batch_execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
        .await
        .map_err(|e| Error::query("create extension plpgsql_check", &e))?;
    let rows = tx
        .query(
            "SELECT format('%s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
                    plpgsql_check_function(p.oid, format := 'json')
             FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             JOIN pg_language l ON l.oid = p.prolang
             WHERE l.lanname = 'plpgsql' AND p.prorettype <> 'trigger'::regtype
               AND n.nspname = ANY($1)
             ORDER BY 1",
            &[&schemas],
        )
        .await
        .map_err(|e| Error::query("plpgsql_check", &e))?;
    tx.rollback()
        .await
        .map_err(|e| Error::query("roll back", &e))?;
    let mut out = Vec::new();
    for r in rows {
        let function: String = r.get(0);
        let report: Option<String> = r.get(1);
        out.extend(findings(&function, report.as_deref().unwrap_or("")));
    }
    Ok(out)
}

/// The findings of one function's JSON report. Pure.
pub fn findings(function: &str, report: &str) -> Vec<Finding> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(report) else {
        return Vec::new();
    };
    let issues = json
        .get("issues")
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_default();
    issues
        .iter()
        .map(|issue| {
            let text = |path: &str| issue.pointer(path).and_then(|v| v.as_str()).unwrap_or("");
            let level = match text("/level") {
                "error" => Level::Error,
                "warning" | "warning extra" | "performance" => Level::Warning,
                _ => Level::Info,
            };
            let line = text("/statement/lineNumber").parse().unwrap_or(1);
            let mut message = text("/message").to_string();
            if !text("/query/text").is_empty() {
                message.push_str(&format!(" (in: {})", text("/query/text")));
            }
            Finding {
                rule: RULE,
                level,
                file: function.to_string(),
                line,
                column: 1,
                message,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_json_report() {
        let report = r#"{ "function":"1", "issues":[ { "level":"error", "message":"relation \"public.nope\" does not exist",
            "statement":{ "lineNumber":"3", "text":"RETURN" }, "query":{ "position":"23", "text":"(select count(*) from public.nope)" },
            "sqlState":"42P01" }, { "level":"warning extra", "message":"unused variable \"x\"" } ] }"#;
        let f = findings("public.f()", report);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].level, f[0].line), (Level::Error, 3));
        assert_eq!(
            f[0].message,
            "relation \"public.nope\" does not exist (in: (select count(*) from public.nope))"
        );
        assert_eq!(f[1].level, Level::Warning);
        assert!(findings("x", "{}").is_empty());
    }
}
