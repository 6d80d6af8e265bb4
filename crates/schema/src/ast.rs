//! Small helpers over the `pg_query` syntax tree: qualified names, type names, and a generic
//! walk over expressions (through the tree's JSON form) that knows whether it is inside a
//! sub-select.

use pg_query::protobuf::{a_const, RangeVar, TypeName};
use pg_query::{Node, NodeEnum};

/// A schema-qualified name; unqualified names resolve to `public`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualName {
    pub schema: String,
    pub name: String,
}

impl QualName {
    pub fn new(schema: &str, name: &str) -> QualName {
        QualName {
            schema: schema.to_string(),
            name: name.to_string(),
        }
    }

    /// The name of a relation in a statement.
    pub fn of(rv: &RangeVar) -> QualName {
        let schema = if rv.schemaname.is_empty() {
            "public"
        } else {
            &rv.schemaname
        };
        QualName::new(schema, &rv.relname)
    }

    /// A name given as a list of strings (`schema.name` or `name`).
    pub fn of_list(nodes: &[Node]) -> Option<QualName> {
        let parts = strings(nodes);
        match parts.as_slice() {
            [name] => Some(QualName::new("public", name)),
            [.., schema, name] => Some(QualName::new(schema, name)),
            [] => None,
        }
    }
}

impl std::fmt::Display for QualName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// The string values of a list of `String` nodes.
pub fn strings(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match n.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

/// The last component of a type's name (`timestamp`, `varchar`, `bpchar`, …).
pub fn type_base(t: &TypeName) -> String {
    strings(&t.names).pop().unwrap_or_default()
}

/// Whether a node is the constant `true`, or an equality of two equal constants (`1 = 1`).
pub fn is_always_true(node: &Node) -> bool {
    match node.node.as_ref() {
        Some(NodeEnum::AConst(c)) => matches!(&c.val, Some(a_const::Val::Boolval(b)) if b.boolval),
        Some(NodeEnum::TypeCast(tc)) => {
            let to_bool = tc
                .type_name
                .as_ref()
                .is_some_and(|t| matches!(type_base(t).as_str(), "bool" | "boolean"));
            let true_text = |n: &Node| match n.node.as_ref() {
                Some(NodeEnum::AConst(c)) => matches!(&c.val, Some(a_const::Val::Sval(s))
                    if matches!(s.sval.to_ascii_lowercase().as_str(), "t" | "true" | "on" | "yes" | "1")),
                _ => false,
            };
            tc.arg
                .as_deref()
                .is_some_and(|a| is_always_true(a) || (to_bool && true_text(a)))
        }
        Some(NodeEnum::AExpr(e)) => {
            let op = strings(&e.name);
            let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
                return false;
            };
            op == ["="] && constant_text(l).is_some() && constant_text(l) == constant_text(r)
        }
        _ => false,
    }
}

fn constant_text(node: &Node) -> Option<String> {
    match node.node.as_ref() {
        Some(NodeEnum::AConst(c)) => Some(format!("{:?}", c.val)),
        _ => None,
    }
}

/// A node's JSON form, for generic walks.
pub fn to_json<T: serde::Serialize>(node: &T) -> serde_json::Value {
    serde_json::to_value(node).unwrap_or(serde_json::Value::Null)
}

/// Calls `f(kind, body, inside_subselect)` for every node under `value`.
pub fn walk(value: &serde_json::Value, f: &mut impl FnMut(&str, &serde_json::Value, bool)) {
    walk_inner(value, false, f)
}

fn walk_inner(
    value: &serde_json::Value,
    in_sub: bool,
    f: &mut impl FnMut(&str, &serde_json::Value, bool),
) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let is_kind = key.chars().next().is_some_and(|c| c.is_ascii_uppercase());
                if is_kind {
                    f(key, child, in_sub);
                }
                let sub = in_sub || key == "SubLink" || key == "SelectStmt";
                walk_inner(child, sub, f);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                walk_inner(item, in_sub, f);
            }
        }
        _ => {}
    }
}

/// The dotted name of a `FuncCall` body in JSON form (`auth.uid`, `current_setting`).
pub fn func_name(body: &serde_json::Value) -> String {
    body.get("funcname")
        .and_then(|v| v.as_array())
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.pointer("/node/String/sval").and_then(|s| s.as_str()))
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default()
}

/// Every string constant under `value`.
pub fn string_constants(value: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(value, &mut |kind, body, _| {
        if kind == "AConst" {
            if let Some(s) = body.pointer("/val/Sval/sval").and_then(|s| s.as_str()) {
                out.push(s.to_string());
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(sql: &str) -> Node {
        let parsed = pg_query::parse(&format!("select {sql}"), pg_query::ParserOptions::DEFAULT)
            .expect("parses");
        let stmt = parsed.protobuf.stmts[0].stmt.clone().expect("stmt");
        match stmt.node {
            Some(NodeEnum::SelectStmt(s)) => match s.target_list[0].node.clone() {
                Some(NodeEnum::ResTarget(rt)) => *rt.val.expect("val"),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recognises_always_true_expressions() {
        assert!(is_always_true(&expr("true")));
        assert!(is_always_true(&expr("1 = 1")));
        assert!(is_always_true(&expr("'t'::boolean")));
        assert!(!is_always_true(&expr("1 = 2")));
        assert!(!is_always_true(&expr("auth.uid() = user_id")));
    }

    #[test]
    fn walk_knows_about_subselects() {
        let mut calls = Vec::new();
        walk(
            &to_json(&expr("auth.uid() = a and (select auth.uid()) = b")),
            &mut |kind, body, sub| {
                if kind == "FuncCall" {
                    calls.push((func_name(body), sub));
                }
            },
        );
        assert_eq!(
            calls,
            vec![
                ("auth.uid".to_string(), false),
                ("auth.uid".to_string(), true)
            ]
        );
    }

    #[test]
    fn finds_string_constants() {
        let v = to_json(&expr("auth.jwt() -> 'user_metadata' ->> 'role'"));
        assert_eq!(string_constants(&v), vec!["user_metadata", "role"]);
    }
}
