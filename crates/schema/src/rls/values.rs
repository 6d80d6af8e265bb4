//! Inventing a value for a column that needs one, as text to be cast to the column's type:
//! a constant its CHECK constraint names, the first label of an enum, or a harmless value of
//! the base type. Pure.

use super::catalog::Column;

/// Column names that tie a row to a user when they hold a uuid.
pub const OWNER_NAMES: &[&str] = &[
    "user_id",
    "owner_id",
    "owner",
    "created_by",
    "author_id",
    "profile_id",
    "account_id",
    "member_id",
];

/// A value for `column` in the world of user `tag` (`a`, `b`), `n` telling rows apart.
pub fn invent(column: &Column, tag: &str, n: usize) -> Option<String> {
    if let Some(c) = column.check_constants.first() {
        return Some(c.clone());
    }
    if let Some(label) = &column.first_enum_label {
        return Some(label.clone());
    }
    let v = match column.base.as_str() {
        "bool" => "true".to_string(),
        "int2" | "int4" | "int8" | "numeric" | "float4" | "float8" | "oid" => {
            let base = if tag == "a" { 1000 } else { 2000 };
            (base + n).to_string()
        }
        "uuid" => uuid::Uuid::new_v4().to_string(),
        "text" | "varchar" | "bpchar" | "citext" | "name" => format!("{tag}{n}"),
        "date" => "2000-01-01".to_string(),
        "timestamp" | "timestamptz" => "2000-01-01 00:00:00+00".to_string(),
        "time" | "timetz" => "00:00:00".to_string(),
        "interval" => "1 hour".to_string(),
        "json" | "jsonb" => "{}".to_string(),
        "bytea" => "\\x00".to_string(),
        "inet" | "cidr" => "127.0.0.1".to_string(),
        "macaddr" => "00:00:00:00:00:00".to_string(),
        _ if column.category == "A" => "{}".to_string(),
        _ if column.category == "S" => format!("{tag}{n}"),
        _ if column.category == "N" => "1".to_string(),
        _ => return None,
    };
    Some(v)
}

/// Whether the column ties a row to a user by its name or default.
pub fn is_owner_like(column: &Column) -> bool {
    (column.base == "uuid" && OWNER_NAMES.contains(&column.name.as_str()))
        || column.default_expr.contains("auth.uid()")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, base: &str, category: &str) -> Column {
        Column {
            name: name.into(),
            sql_type: base.into(),
            base: base.into(),
            category: category.into(),
            not_null: true,
            has_default: false,
            identity: String::new(),
            generated: String::new(),
            default_expr: String::new(),
            first_enum_label: None,
            check_constants: Vec::new(),
        }
    }

    #[test]
    fn values_follow_checks_enums_and_types() {
        let mut status = col("status", "text", "S");
        status.check_constants = vec!["trial".into(), "active".into()];
        assert_eq!(invent(&status, "a", 1).as_deref(), Some("trial"));
        let mut mood = col("mood", "mood", "E");
        mood.first_enum_label = Some("sad".into());
        assert_eq!(invent(&mood, "a", 1).as_deref(), Some("sad"));
        assert_eq!(
            invent(&col("n", "int4", "N"), "b", 3).as_deref(),
            Some("2003")
        );
        assert_eq!(
            invent(&col("tags", "_text", "A"), "a", 1).as_deref(),
            Some("{}")
        );
        assert!(invent(&col("shape", "polygon", "G"), "a", 1).is_none());
    }

    #[test]
    fn owner_columns_are_recognised() {
        assert!(is_owner_like(&col("user_id", "uuid", "U")));
        assert!(!is_owner_like(&col("user_id", "text", "S")));
        let mut c = col("creator", "uuid", "U");
        c.default_expr = "auth.uid()".into();
        assert!(is_owner_like(&c));
    }
}
