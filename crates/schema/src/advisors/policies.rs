//! Advisors about row level security policies. Each policy's expressions are read back from the
//! catalog with `pg_get_expr` and parsed again, so `(select auth.uid())` and `auth.uid()` are told
//! apart by structure rather than by matching text.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::{Advisory, Category, Lint};
use crate::db::internal_schemas;
use crate::error::Error;
use crate::finding::Level;
use crate::policy_expr::{parse_expr, per_row_calls, uses_user_metadata};

const AUTH_RLS_INITPLAN: Lint = Lint {
    name: "auth_rls_initplan",
    title: "Auth RLS initialization plan",
    level: Level::Warning,
    category: Category::Performance,
    description: "A policy calls auth.<function>() or current_setting() for every row instead of once per statement.",
    remediation: "Wrap the call in a sub-select: (select auth.uid()).",
};

const MULTIPLE_PERMISSIVE: Lint = Lint {
    name: "multiple_permissive_policies",
    title: "Multiple permissive policies",
    level: Level::Warning,
    category: Category::Performance,
    description: "Several permissive policies apply to the same role and action on a table; every one of them runs for every row.",
    remediation: "Merge them into one policy with OR.",
};

const USER_METADATA: Lint = Lint {
    name: "rls_references_user_metadata",
    title: "RLS references user metadata",
    level: Level::Error,
    category: Category::Security,
    description: "A policy trusts user_metadata, which every user can edit for themselves.",
    remediation: "Base the decision on app_metadata or on a table the user cannot write.",
};

const ALWAYS_TRUE: Lint = Lint {
    name: "rls_policy_always_true",
    title: "RLS policy always true",
    level: Level::Warning,
    category: Category::Security,
    description: "A permissive policy for INSERT, UPDATE, DELETE or ALL is always true, so it lets everyone it applies to write every row.",
    remediation: "Restrict the policy's condition, e.g. to the row's owner.",
};

/// The lints of this module.
pub static LINTS: &[&Lint] = &[
    &AUTH_RLS_INITPLAN,
    &MULTIPLE_PERMISSIVE,
    &USER_METADATA,
    &ALWAYS_TRUE,
];

struct Policy {
    schema: String,
    table: String,
    name: String,
    permissive: bool,
    command: String,
    roles: Vec<String>,
    qual: Option<String>,
    with_check: Option<String>,
}

impl Policy {
    fn actions(&self) -> Vec<&'static str> {
        match self.command.as_str() {
            "r" => vec!["SELECT"],
            "a" => vec!["INSERT"],
            "w" => vec!["UPDATE"],
            "d" => vec!["DELETE"],
            _ => vec!["SELECT", "INSERT", "UPDATE", "DELETE"],
        }
    }

    fn advisory(&self, lint: &Lint, key: &str, detail: String) -> Advisory {
        let mut a = Advisory::new(lint, &self.schema, &self.table, "table", detail);
        a.cache_key = format!("{}_{}_{}_{}", lint.name, self.schema, self.table, key);
        a
    }
}

/// Run the policy lints.
pub async fn run(client: &Client, _exposed: &[String]) -> Result<Vec<Advisory>, Error> {
    let internal = internal_schemas();
    let rows = client
        .query(
            "SELECT n.nspname, c.relname, p.polname, p.polpermissive, p.polcmd::text,
                    ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
                          FROM unnest(p.polroles) r) AS roles,
                    pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
             FROM pg_policy p
             JOIN pg_class c ON c.oid = p.polrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relrowsecurity AND NOT n.nspname = ANY($1)
             ORDER BY n.nspname, c.relname, p.polname",
            &[&internal],
        )
        .await
        .map_err(|e| Error::query("read policies", &e))?;
    let policies: Vec<Policy> = rows
        .iter()
        .map(|r| Policy {
            schema: r.get(0),
            table: r.get(1),
            name: r.get(2),
            permissive: r.get(3),
            command: r.get(4),
            roles: r.get(5),
            qual: r.get(6),
            with_check: r.get(7),
        })
        .collect();
    let mut out = Vec::new();
    for p in &policies {
        let exprs: Vec<pg_query::Node> = p
            .qual
            .iter()
            .chain(p.with_check.iter())
            .filter_map(|t| parse_expr(t))
            .collect();
        let mut calls: Vec<String> = exprs
            .iter()
            .flat_map(per_row_calls)
            .map(|(n, _)| format!("{n}()"))
            .collect();
        calls.dedup();
        if !calls.is_empty() {
            out.push(p.advisory(
                &AUTH_RLS_INITPLAN,
                &p.name,
                format!(
                    "Table {}.{} has policy \"{}\" that re-evaluates {} for each row",
                    p.schema,
                    p.table,
                    p.name,
                    calls.join(", ")
                ),
            ));
        }
        if exprs.iter().any(uses_user_metadata) {
            out.push(p.advisory(
                &USER_METADATA,
                &p.name,
                format!(
                    "Table {}.{} has policy \"{}\" that references user_metadata",
                    p.schema, p.table, p.name
                ),
            ));
        }
        let writes = p.command != "r";
        let always = [&p.qual, &p.with_check].iter().any(|e| {
            e.as_deref()
                .and_then(parse_expr)
                .is_some_and(|n| crate::ast::is_always_true(&n))
        });
        if p.permissive && writes && always {
            out.push(p.advisory(
                &ALWAYS_TRUE,
                &p.name,
                format!(
                    "Table {}.{} has policy \"{}\" for {} whose condition is always true, for roles {}",
                    p.schema,
                    p.table,
                    p.name,
                    p.actions().join(", "),
                    p.roles.join(", ")
                ),
            ));
        }
    }
    out.extend(multiple_permissive(&policies));
    Ok(out)
}

/// Roles that never go through policies, or are not API callers.
fn is_api_role(role: &str) -> bool {
    !matches!(role, "service_role" | "postgres" | "supabase_admin") && !role.starts_with("pg_")
}

fn multiple_permissive(policies: &[Policy]) -> Vec<Advisory> {
    let mut groups: BTreeMap<(String, String, String, &'static str), Vec<&Policy>> =
        BTreeMap::new();
    for p in policies.iter().filter(|p| p.permissive) {
        let roles: Vec<String> = p
            .roles
            .iter()
            .flat_map(|r| {
                if r == "public" {
                    vec!["anon".to_string(), "authenticated".to_string()]
                } else {
                    vec![r.clone()]
                }
            })
            .filter(|r| is_api_role(r))
            .collect();
        for role in roles {
            for action in p.actions() {
                groups
                    .entry((p.schema.clone(), p.table.clone(), role.clone(), action))
                    .or_default()
                    .push(p);
            }
        }
    }
    groups
        .into_iter()
        .filter(|(_, ps)| ps.len() > 1)
        .map(|((schema, table, role, action), ps)| {
            let names: Vec<String> = ps.iter().map(|p| format!("\"{}\"", p.name)).collect();
            let mut a = Advisory::new(
                &MULTIPLE_PERMISSIVE,
                &schema,
                &table,
                "table",
                format!(
                    "Table {schema}.{table} has multiple permissive policies for role {role} for action {action}: {}",
                    names.join(", ")
                ),
            );
            a.cache_key = format!(
                "{}_{schema}_{table}_{role}_{}",
                MULTIPLE_PERMISSIVE.name,
                action.to_ascii_lowercase()
            );
            a
        })
        .collect()
}
