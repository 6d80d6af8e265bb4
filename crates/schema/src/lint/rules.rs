//! The catalogue of static lint rules: stable names, default levels and one-line descriptions.
//! Names follow squawk's where a squawk rule means the same thing, and splinter's meaning where
//! a rule mirrors a live-database advisor.

use crate::finding::Level;

/// One rule of `basalt db lint`.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub level: Level,
    pub description: &'static str,
}

macro_rules! rules {
    ($($id:ident = $name:literal, $level:ident, $desc:literal;)*) => {
        $(pub const $id: Rule = Rule { name: $name, level: Level::$level, description: $desc };)*
        /// Every rule, in documentation order.
        pub const ALL: &[Rule] = &[$($id),*];
    };
}

rules! {
    TABLE_WITHOUT_RLS = "table-without-rls", Error,
        "a table in an exposed schema never gets ENABLE ROW LEVEL SECURITY, so the API serves every row";
    POLICY_WITHOUT_RLS = "policy-without-rls", Error,
        "a policy is created on a table whose row level security is never enabled, so it has no effect";
    SECURITY_DEFINER_SEARCH_PATH = "security-definer-search-path", Error,
        "a SECURITY DEFINER function without SET search_path can be hijacked through objects on the caller's search_path";
    FUNCTION_SEARCH_PATH_MUTABLE = "function-search-path-mutable", Warning,
        "a function without SET search_path resolves names through the caller's search_path";
    VIEW_WITHOUT_SECURITY_INVOKER = "view-without-security-invoker", Error,
        "a view in an exposed schema without security_invoker runs with its owner's rights and bypasses RLS";
    POLICY_AUTH_CALL_PER_ROW = "policy-auth-call-per-row", Warning,
        "auth.uid(), auth.jwt(), auth.role() or current_setting() in a policy is evaluated for every row; wrap it as (select auth.uid())";
    POLICY_USES_USER_METADATA = "policy-uses-user-metadata", Error,
        "a policy trusts user_metadata from the JWT, which every user can edit";
    POLICY_ALWAYS_TRUE = "policy-always-true", Warning,
        "a permissive INSERT, UPDATE, DELETE or ALL policy whose condition is always true lets anyone it applies to write every row";
    UNINDEXED_FOREIGN_KEY = "unindexed-foreign-key", Warning,
        "a foreign key whose columns lead no index makes joins and deletes on the referenced table scan";
    MISSING_PRIMARY_KEY = "missing-primary-key", Warning,
        "a table without a primary key cannot be updated row by row through the API or replicated";
    PREFER_TIMESTAMPTZ = "prefer-timestamptz", Warning,
        "timestamp (without time zone) drops the UTC offset; use timestamptz";
    PREFER_TEXT_FIELD = "prefer-text-field", Warning,
        "varchar(n) needs an ACCESS EXCLUSIVE lock to change its length; use text with a CHECK constraint";
    BAN_CHAR_FIELD = "ban-char-field", Warning,
        "char(n) pads with blanks and is almost never what is meant; use text";
    REQUIRE_CONCURRENT_INDEX_CREATION = "require-concurrent-index-creation", Warning,
        "CREATE INDEX on an existing table blocks writes while it builds; use CREATE INDEX CONCURRENTLY in its own migration";
    ADDING_REQUIRED_FIELD = "adding-required-field", Error,
        "adding a NOT NULL column without a default to an existing table fails when the table has rows";
    RENAMING_COLUMN = "renaming-column", Warning,
        "renaming a column breaks every client that still uses the old name";
    RENAMING_TABLE = "renaming-table", Warning,
        "renaming a table breaks every client that still uses the old name";
    BAN_DROP_COLUMN = "ban-drop-column", Warning,
        "dropping a column loses its data and breaks clients that read it";
    BAN_DROP_TABLE = "ban-drop-table", Warning,
        "dropping a table loses its data and breaks clients that use it";
    CHANGING_COLUMN_TYPE = "changing-column-type", Warning,
        "changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock and may break clients";
    CONSTRAINT_MISSING_NOT_VALID = "constraint-missing-not-valid", Warning,
        "adding a CHECK or FOREIGN KEY constraint to an existing table scans it under lock; add it NOT VALID, then VALIDATE CONSTRAINT";
    REQUIRE_ENUM_VALUE_ORDERING = "require-enum-value-ordering", Warning,
        "ALTER TYPE … ADD VALUE without BEFORE or AFTER appends the value at the end, out of the intended order";
    CONCURRENTLY_IN_TRANSACTION = "concurrently-in-transaction", Error,
        "CONCURRENTLY cannot run inside a transaction, and every migration file runs as one; put it alone in its own file";
    PLPGSQL_SYNTAX = "plpgsql-syntax", Error,
        "the body of a PL/pgSQL function does not parse";
}

/// The rule named `name`.
pub fn by_name(name: &str) -> Option<&'static Rule> {
    ALL.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_kebab_case() {
        let mut names: Vec<&str> = ALL.iter().map(|r| r.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        for n in names {
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{n}");
        }
        assert_eq!(
            by_name("ban-drop-table").map(|r| r.level),
            Some(Level::Warning)
        );
    }
}
