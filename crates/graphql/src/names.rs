//! Names as pg_graphql reflects them: comment directives (`@graphql({...})`), inflection from
//! `snake_case` to `PascalCase`/`camelCase` when the schema asks for it, and the names derived
//! from a table's type name.

use serde_json::Value;

/// The JSON of a `@graphql(...)` directive in a comment (`Null` when there is none or it does not
/// parse), and the comment's text without it.
pub fn directive(comment: Option<&str>) -> (Value, Option<String>) {
    let Some(c) = comment else {
        return (Value::Null, None);
    };
    let Some(start) = c.find("@graphql(") else {
        return (
            Value::Null,
            Some(c.trim().to_string()).filter(|s| !s.is_empty()),
        );
    };
    let rest = &c[start + "@graphql(".len()..];
    // The JSON ends at the last `)` that closes a parseable object.
    let mut found = Value::Null;
    let mut end = start;
    for (i, ch) in rest.char_indices().rev() {
        if ch == ')' {
            if let Ok(v) = serde_json::from_str::<Value>(&rest[..i]) {
                found = v;
                end = start + "@graphql(".len() + i + 1;
                break;
            }
        }
    }
    let text = if found.is_null() {
        c.to_string()
    } else {
        format!("{}{}", &c[..start], &c[end..])
    };
    // `@graphql({"description": …})` names the description outright.
    if let Some(d) = found.get("description").and_then(Value::as_str) {
        let d = d.to_string();
        return (found, Some(d));
    }
    let text = text.trim().to_string();
    (found, Some(text).filter(|s| !s.is_empty()))
}

/// `name` in the directive, if any.
pub fn name_override(d: &Value) -> Option<String> {
    d.get("name").and_then(Value::as_str).map(str::to_string)
}

/// pg_graphql's base type name: the override, else with inflection each word's first letter
/// upper-cased and the underscores dropped (`account_by_email` → `AccountByEmail`, `orderBy` →
/// `OrderBy`), else the SQL name.
pub fn base_type_name(name: &str, over: Option<&str>, inflect: bool) -> String {
    if let Some(o) = over {
        return o.to_string();
    }
    if !inflect {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut prev_alnum = false;
    for c in name.chars() {
        if prev_alnum {
            out.push(c);
        } else {
            out.extend(c.to_uppercase());
        }
        prev_alnum = c.is_alphanumeric();
    }
    out.replace('_', "")
}

/// `Hello` → `hello`.
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The field name of a column.
pub fn column_field(name: &str, over: Option<&str>, inflect: bool) -> String {
    if let Some(o) = over {
        return o.to_string();
    }
    let base = base_type_name(name, None, inflect);
    if inflect {
        lower_first(&base)
    } else {
        base
    }
}

/// Whether GraphQL accepts `name` as a name.
pub fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c == '_' || c.is_ascii_alphabetic())
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !name.starts_with("__")
}

/// The name of a relationship field: to one row, `<column without _id>` (one column named like
/// that) or the table's field name; to many, `<table>Collection`.
pub fn relation_field(
    target_base: &str,
    columns: &[String],
    inflect: bool,
    unique: bool,
    over: Option<&str>,
) -> String {
    if let Some(o) = over {
        return o.to_string();
    }
    let as_field = lower_first(target_base);
    if !unique {
        return format!("{as_field}Collection");
    }
    match columns {
        [c] => {
            let stripped = if inflect {
                c.strip_suffix("_id")
            } else {
                c.strip_suffix("Id")
            };
            match stripped {
                Some(s) => lower_first(&base_type_name(s, None, inflect)),
                None => as_field,
            }
        }
        _ => as_field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflection_as_pg_graphql() {
        assert_eq!(
            base_type_name("account_holder", None, true),
            "AccountHolder"
        );
        // Letters after the first of a word keep their case (`orderBy` stays `OrderBy`).
        assert_eq!(
            base_type_name("account_BY_email", None, true),
            "AccountBYEmail"
        );
        assert_eq!(base_type_name("orderBy", None, true), "OrderBy");
        assert_eq!(
            base_type_name("account_holder", None, false),
            "account_holder"
        );
        assert_eq!(base_type_name("x", Some("Y"), true), "Y");
        assert_eq!(column_field("created_at", None, true), "createdAt");
        assert_eq!(column_field("created_at", None, false), "created_at");
        assert_eq!(lower_first("Blog"), "blog");
        assert_eq!(lower_first("用户"), "用户");
    }

    #[test]
    fn relation_names() {
        let cols = vec!["author_id".to_string()];
        assert_eq!(relation_field("Account", &cols, true, true, None), "author");
        assert_eq!(
            relation_field("BlogPost", &cols, true, false, None),
            "blogPostCollection"
        );
        let cols = vec!["owner".to_string()];
        assert_eq!(
            relation_field("Account", &cols, true, true, None),
            "account"
        );
        let cols = vec!["authorId".to_string()];
        assert_eq!(
            relation_field("account", &cols, false, true, None),
            "author"
        );
    }

    #[test]
    fn directives_in_comments() {
        let (d, text) = directive(Some(
            r#"Blogs @graphql({"name": "Post", "totalCount": {"enabled": true}})"#,
        ));
        assert_eq!(name_override(&d).as_deref(), Some("Post"));
        assert_eq!(d["totalCount"]["enabled"], Value::Bool(true));
        assert_eq!(text.as_deref(), Some("Blogs"));
        let (d, text) = directive(Some("just words"));
        assert!(d.is_null());
        assert_eq!(text.as_deref(), Some("just words"));
        assert!(valid("blogCollection"));
        assert!(!valid("1x"));
        assert!(!valid("a-b"));
    }
}
