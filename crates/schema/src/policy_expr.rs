//! What a row level security expression does, judged on its syntax tree. Shared by the static
//! linter (expressions from `CREATE POLICY`) and the advisors (expressions read back from the
//! catalog with `pg_get_expr`, parsed again).

use pg_query::{Node, NodeEnum};

use crate::ast;

/// Functions whose value is the same for every row of a statement: in a policy they should be
/// wrapped as `(select auth.uid())` so Postgres evaluates them once.
pub const PER_STATEMENT_CALLS: &[&str] = &[
    "auth.uid",
    "auth.jwt",
    "auth.role",
    "auth.email",
    "current_setting",
];

/// Calls of [`PER_STATEMENT_CALLS`] outside any sub-select: `(name, byte location)`.
pub fn per_row_calls(expr: &Node) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    ast::walk(&ast::to_json(expr), &mut |kind, body, in_sub| {
        if kind == "FuncCall" && !in_sub {
            let name = ast::func_name(body);
            if PER_STATEMENT_CALLS.contains(&name.as_str()) {
                let loc = body.get("location").and_then(|l| l.as_i64()).unwrap_or(-1);
                out.push((name, loc as i32));
            }
        }
    });
    out
}

/// Whether the expression reads `user_metadata` (from the JWT or `raw_user_meta_data`).
pub fn uses_user_metadata(expr: &Node) -> bool {
    let json = ast::to_json(expr);
    let mut found = ast::string_constants(&json)
        .iter()
        .any(|s| s.contains("user_metadata"));
    ast::walk(&json, &mut |kind, body, _| {
        if kind == "ColumnRef" && body.to_string().contains("\"raw_user_meta_data\"") {
            found = true;
        }
    });
    found
}

/// Parse a standalone SQL expression (as `pg_get_expr` prints it).
pub fn parse_expr(text: &str) -> Option<Node> {
    let parsed =
        pg_query::parse(&format!("SELECT {text}"), pg_query::ParserOptions::DEFAULT).ok()?;
    let stmt = parsed.protobuf.stmts.first()?.stmt.as_ref()?;
    match stmt.node.as_ref()? {
        NodeEnum::SelectStmt(s) => match s.target_list.first()?.node.as_ref()? {
            NodeEnum::ResTarget(rt) => rt.val.as_deref().cloned(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(text: &str) -> Node {
        parse_expr(text).expect("parses")
    }

    #[test]
    fn per_row_calls_skip_wrapped_ones() {
        assert_eq!(
            per_row_calls(&expr("auth.uid() = user_id")),
            vec![("auth.uid".to_string(), 7)]
        );
        assert!(per_row_calls(&expr("( SELECT auth.uid() AS uid) = user_id")).is_empty());
        let calls = per_row_calls(&expr(
            "(current_setting('request.jwt.claims', true)::json ->> 'role') = 'service_role'",
        ));
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn user_metadata_is_found_in_catalog_text() {
        assert!(uses_user_metadata(&expr(
            "((auth.jwt() -> 'user_metadata'::text) ->> 'role'::text) = 'admin'::text"
        )));
        assert!(!uses_user_metadata(&expr(
            "((auth.jwt() -> 'app_metadata'::text) ->> 'role'::text) = 'admin'::text"
        )));
    }
}
