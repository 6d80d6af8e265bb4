//! Rust types for a database: one serde struct per table and view (its row), one enum per enum
//! type. Text-like and time types stay `String` so the output needs only `serde` and
//! `serde_json`. Pure.

use super::model::{Model, Relation};
use super::typescript::locale_cmp;

/// `snake_case` or any name → `PascalCase`.
fn pascal(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

/// A name usable as a Rust field: non-identifier characters become `_`, keywords get `r#`.
fn field(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe",
        "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
        "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
    ];
    if KEYWORDS.contains(&out.as_str()) {
        out.insert_str(0, "r#");
    }
    out
}

fn rust_type(model: &Model, pg: &str) -> String {
    if let Some(inner) = pg.strip_prefix('_') {
        return format!("Vec<{}>", rust_type(model, inner));
    }
    match pg {
        "bool" => "bool".into(),
        "int2" => "i16".into(),
        "int4" => "i32".into(),
        "int8" => "i64".into(),
        "float4" => "f32".into(),
        "float8" | "numeric" => "f64".into(),
        "json" | "jsonb" => "serde_json::Value".into(),
        "bytea" | "bpchar" | "varchar" | "date" | "text" | "citext" | "time" | "timetz"
        | "timestamp" | "timestamptz" | "uuid" | "interval" | "name" | "inet" | "cidr" => {
            "String".into()
        }
        _ if model.enums.iter().any(|e| e.name == pg) => pascal(pg),
        _ => "serde_json::Value".into(),
    }
}

fn structure(out: &mut String, model: &Model, r: &Relation) {
    let mut cols: Vec<_> = r.columns.iter().collect();
    cols.sort_by(|a, b| locale_cmp(&a.name, &b.name));
    out.push_str(&format!(
        "/// A row of `{}.{}`.\n#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]\npub struct {} {{\n",
        r.schema,
        r.name,
        pascal(&r.name)
    ));
    for c in cols {
        let f = field(&c.name);
        if f.trim_start_matches("r#") != c.name {
            out.push_str(&format!("    #[serde(rename = {:?})]\n", c.name));
        }
        let t = rust_type(model, &c.format);
        let t = if c.is_nullable {
            format!("Option<{t}>")
        } else {
            t
        };
        out.push_str(&format!("    pub {f}: {t},\n"));
    }
    out.push_str("}\n\n");
}

/// Render the whole file.
pub fn render(model: &Model) -> String {
    let mut out = String::from(
        "//! Row types of the database, written by `basalt gen types --lang rust`.\n\nuse serde::{Deserialize, Serialize};\n\n",
    );
    let mut enums: Vec<_> = model
        .enums
        .iter()
        .filter(|e| model.schemas.contains(&e.schema))
        .collect();
    enums.sort_by(|a, b| locale_cmp(&a.name, &b.name));
    for e in enums {
        out.push_str(&format!(
            "/// The enum `{}.{}`.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]\npub enum {} {{\n",
            e.schema,
            e.name,
            pascal(&e.name)
        ));
        for l in &e.labels {
            out.push_str(&format!(
                "    #[serde(rename = {l:?})]\n    {},\n",
                pascal(l)
            ));
        }
        out.push_str("}\n\n");
    }
    let mut rels: Vec<&Relation> = model.tables.iter().chain(model.views.iter()).collect();
    rels.sort_by(|a, b| locale_cmp(&a.name, &b.name).then_with(|| a.schema.cmp(&b.schema)));
    for r in rels {
        structure(&mut out, model, r);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::{Column, EnumType};
    use super::*;

    #[test]
    fn renders_structs_and_enums() {
        let col = |name: &str, format: &str, nullable: bool| Column {
            name: name.into(),
            format: format.into(),
            is_nullable: nullable,
            has_default: false,
            is_identity: false,
            identity_always: false,
            is_updatable: true,
            is_generated: false,
        };
        let model = Model {
            schemas: vec!["public".into()],
            tables: vec![Relation {
                oid: 1,
                schema: "public".into(),
                name: "user_notes".into(),
                columns: vec![
                    col("id", "int8", false),
                    col("type", "note_kind", true),
                    col("user-id", "uuid", false),
                    col("tags", "_text", true),
                ],
                relationships: vec![],
                insert_enabled: false,
                update_enabled: false,
            }],
            enums: vec![EnumType {
                schema: "public".into(),
                name: "note_kind".into(),
                labels: vec!["plain".into(), "to-do".into()],
            }],
            ..Model::default()
        };
        let text = render(&model);
        assert!(text.contains("pub enum NoteKind {\n    #[serde(rename = \"plain\")]\n    Plain,\n    #[serde(rename = \"to-do\")]\n    ToDo,\n}"), "{text}");
        assert!(text.contains("pub struct UserNotes {\n    pub id: i64,\n    pub tags: Option<Vec<String>>,\n    pub r#type: Option<NoteKind>,\n    #[serde(rename = \"user-id\")]\n    pub user_id: String,\n}"), "{text}");
    }
}
