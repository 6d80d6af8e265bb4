//! The TypeScript `Database` type, laid out exactly as `supabase gen types typescript` prints it
//! (its generator's text after prettier with an 80-column width and no semicolons): unions and
//! inline objects break only when a line would pass 80 columns. Pure: a [`Model`] in, text out.

use std::cmp::Ordering;

use super::model::{Column, Function, Model, Relation, Relationship};

const WIDTH: usize = 80;

/// The fixed helper types that follow the `Database` type.
const HELPERS: &str = include_str!("helpers.ts.in");

const JSON_TYPE: &str = "export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]
";

/// Order of names as the generator sorts them (`localeCompare`): punctuation before digits
/// before letters, letters without regard to case first.
pub fn locale_cmp(a: &str, b: &str) -> Ordering {
    fn key(c: char) -> (u8, char) {
        if c.is_ascii_alphabetic() {
            (2, c.to_ascii_lowercase())
        } else if c.is_ascii_digit() {
            (1, c)
        } else {
            (0, c)
        }
    }
    let primary = a.chars().map(key).cmp(b.chars().map(key));
    primary.then_with(|| {
        // Same letters: lower case first.
        a.chars()
            .map(|c| !c.is_ascii_lowercase())
            .cmp(b.chars().map(|c| !c.is_ascii_lowercase()))
    })
}

/// A property key: bare when it is an identifier, else a JSON string.
fn key(name: &str) -> String {
    let mut chars = name.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        name.to_string()
    } else {
        json(name)
    }
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The members of a top-level union (`a | b | null` → `[a, b, null]`).
fn union_members(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_str = false;
    let mut start = 0;
    let bytes = t.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if in_str {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'(' | b'[' | b'{' | b'<' => depth += 1,
                b')' | b']' | b'}' | b'>' => depth -= 1,
                b'|' if depth == 0 && i > 0 && bytes[i - 1] == b' ' => {
                    out.push(t[start..i - 1].trim().to_string());
                    start = i + 1;
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.push(t[start..].trim().to_string());
    out
}

/// Text being laid out, line by line.
#[derive(Default)]
struct Out {
    text: String,
}

impl Out {
    fn line(&mut self, indent: usize, s: &str) {
        for _ in 0..indent {
            self.text.push(' ');
        }
        self.text.push_str(s);
        self.text.push('\n');
    }

    /// `key: type`, broken into `| member` lines when too wide.
    fn member(&mut self, indent: usize, k: &str, ty: &str) {
        let one = format!("{k}: {ty}");
        let members = union_members(ty);
        if indent + one.len() <= WIDTH || members.len() < 2 {
            self.line(indent, &one);
        } else {
            self.line(indent, &format!("{k}:"));
            for m in members {
                self.line(indent + 2, &format!("| {m}"));
            }
        }
    }

    /// `key: { … }` with its members on their own lines (`{}` when empty).
    fn object(&mut self, indent: usize, head: &str, members: &[(String, String)], tail: &str) {
        if members.is_empty() {
            self.line(indent, &format!("{head}{{}}{tail}"));
            return;
        }
        self.line(indent, &format!("{head}{{"));
        for (k, t) in members {
            self.member(indent + 2, k, t);
        }
        self.line(indent, &format!("}}{tail}"));
    }
}

struct Ctx<'a> {
    model: &'a Model,
}

impl Ctx<'_> {
    fn in_schemas(&self, schema: &str) -> bool {
        self.model.schemas.iter().any(|s| s == schema)
    }

    /// The TypeScript type of a Postgres type name, seen from `schema`.
    fn ts_type(&self, schema: &str, pg: &str) -> String {
        match pg {
            "bool" => return "boolean".into(),
            "int2" | "int4" | "int8" | "float4" | "float8" | "numeric" => return "number".into(),
            "bytea" | "bpchar" | "varchar" | "date" | "text" | "citext" | "time" | "timetz"
            | "timestamp" | "timestamptz" | "uuid" | "vector" | "interval" => {
                return "string".into()
            }
            "json" | "jsonb" => return "Json".into(),
            "void" => return "undefined".into(),
            "record" => return "Record<string, unknown>".into(),
            _ => {}
        }
        if let Some(inner) = pg.strip_prefix('_') {
            let t = self.ts_type(schema, inner);
            return if union_members(&t).len() > 1 {
                format!("({t})[]")
            } else {
                format!("{t}[]")
            };
        }
        let pick = |schemas: Vec<&str>| -> Option<String> {
            schemas
                .iter()
                .find(|s| **s == schema)
                .or(schemas.first())
                .map(|s| s.to_string())
        };
        let m = self.model;
        if let Some(s) = pick(
            m.enums
                .iter()
                .filter(|e| e.name == pg)
                .map(|e| e.schema.as_str())
                .collect(),
        ) {
            if self.in_schemas(&s) {
                return format!("Database[{}][\"Enums\"][{}]", json(&s), json(pg));
            }
            let e = m.enums.iter().find(|e| e.name == pg && e.schema == s);
            return e
                .map(|e| {
                    e.labels
                        .iter()
                        .map(|l| json(l))
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .unwrap_or_else(|| "unknown".into());
        }
        let composites: Vec<(&str, &str)> = m
            .composites
            .iter()
            .map(|c| (c.schema.as_str(), c.name.as_str()))
            .collect();
        let tables: Vec<(&str, &str)> = m
            .tables
            .iter()
            .map(|t| (t.schema.as_str(), t.name.as_str()))
            .collect();
        let views: Vec<(&str, &str)> = m
            .views
            .iter()
            .map(|t| (t.schema.as_str(), t.name.as_str()))
            .collect();
        for (objects, path) in [
            (composites, "[\"CompositeTypes\"]"),
            (tables, "[\"Tables\"]"),
            (views, "[\"Views\"]"),
        ] {
            let found = objects
                .iter()
                .filter(|(_, n)| *n == pg)
                .map(|(s, _)| *s)
                .collect();
            if let Some(s) = pick(found) {
                let row = if path.contains("CompositeTypes") {
                    ""
                } else {
                    "[\"Row\"]"
                };
                return format!("Database[{}]{path}[{}]{row}", json(&s), json(pg));
            }
        }
        "unknown".into()
    }

    /// A column's type with its nullability: `T | null`, and `NonNullable<Json>` for a NOT NULL
    /// json column (the `Json` type itself includes null).
    fn nullable(&self, t: String, nullable: bool) -> String {
        if t == "Json" && !nullable {
            format!("NonNullable<{t}>")
        } else if nullable && t != "unknown" && t != "any" {
            format!("{t} | null")
        } else {
            t
        }
    }

    fn column(&self, schema: &str, c: &Column, optional: bool, nullable: bool) -> (String, String) {
        let k = format!("{}{}", key(&c.name), if optional { "?" } else { "" });
        (k, self.nullable(self.ts_type(schema, &c.format), nullable))
    }
}

fn sorted_columns(r: &Relation) -> Vec<&Column> {
    let mut cols: Vec<&Column> = r.columns.iter().collect();
    cols.sort_by(|a, b| locale_cmp(&a.name, &b.name));
    cols
}

fn relationships(out: &mut Out, indent: usize, rels: &[Relationship]) {
    if rels.is_empty() {
        out.line(indent, "Relationships: []");
        return;
    }
    let mut rels: Vec<&Relationship> = rels.iter().collect();
    rels.sort_by(|a, b| {
        locale_cmp(&a.foreign_key_name, &b.foreign_key_name)
            .then_with(|| locale_cmp(&a.referenced_relation, &b.referenced_relation))
            .then_with(|| {
                locale_cmp(
                    &serde_json::to_string(&a.referenced_columns).unwrap_or_default(),
                    &serde_json::to_string(&b.referenced_columns).unwrap_or_default(),
                )
            })
    });
    let list = |cols: &[String]| {
        format!(
            "[{}]",
            cols.iter().map(|c| json(c)).collect::<Vec<_>>().join(", ")
        )
    };
    out.line(indent, "Relationships: [");
    for r in rels {
        out.line(indent + 2, "{");
        out.line(
            indent + 4,
            &format!("foreignKeyName: {}", json(&r.foreign_key_name)),
        );
        out.line(indent + 4, &format!("columns: {}", list(&r.columns)));
        out.line(indent + 4, &format!("isOneToOne: {}", r.is_one_to_one));
        out.line(
            indent + 4,
            &format!("referencedRelation: {}", json(&r.referenced_relation)),
        );
        out.line(
            indent + 4,
            &format!("referencedColumns: {}", list(&r.referenced_columns)),
        );
        out.line(indent + 2, "},");
    }
    out.line(indent, "]");
}

fn never(out: &mut Out, indent: usize, head: &str) {
    out.line(indent, &format!("{head}: {{"));
    out.line(indent + 2, "[_ in never]: never");
    out.line(indent, "}");
}

fn tables(out: &mut Out, ctx: &Ctx, schema: &str, rels: &[&Relation]) {
    if rels.is_empty() {
        return never(out, 4, "Tables");
    }
    out.line(4, "Tables: {");
    for t in rels {
        let cols = sorted_columns(t);
        out.line(6, &format!("{}: {{", key(&t.name)));
        let row: Vec<(String, String)> = cols
            .iter()
            .map(|c| ctx.column(schema, c, false, c.is_nullable))
            .collect();
        out.object(8, "Row: ", &row, "");
        let write = |update: bool| -> Vec<(String, String)> {
            cols.iter()
                .map(|c| {
                    if c.identity_always || c.is_generated {
                        (format!("{}?", key(&c.name)), "never".to_string())
                    } else {
                        let optional = update || c.is_nullable || c.is_identity || c.has_default;
                        ctx.column(schema, c, optional, c.is_nullable)
                    }
                })
                .collect()
        };
        out.object(8, "Insert: ", &write(false), "");
        out.object(8, "Update: ", &write(true), "");
        relationships(out, 8, &t.relationships);
        out.line(6, "}");
    }
    out.line(4, "}");
}

fn views(out: &mut Out, ctx: &Ctx, schema: &str, rels: &[&Relation]) {
    if rels.is_empty() {
        return never(out, 4, "Views");
    }
    out.line(4, "Views: {");
    for v in rels {
        let cols = sorted_columns(v);
        out.line(6, &format!("{}: {{", key(&v.name)));
        let row: Vec<(String, String)> = cols
            .iter()
            .map(|c| ctx.column(schema, c, false, c.is_nullable))
            .collect();
        out.object(8, "Row: ", &row, "");
        let write: Vec<(String, String)> = cols
            .iter()
            .map(|c| {
                if c.is_updatable {
                    ctx.column(schema, c, true, true)
                } else {
                    (format!("{}?", key(&c.name)), "never".to_string())
                }
            })
            .collect();
        if v.insert_enabled {
            out.object(8, "Insert: ", &write, "");
        }
        if v.update_enabled {
            out.object(8, "Update: ", &write, "");
        }
        relationships(out, 8, &v.relationships);
        out.line(6, "}");
    }
    out.line(4, "}");
}

/// Whether PostgREST can call the function (named arguments, or one unnamed json/text one).
fn callable(f: &Function) -> bool {
    let inputs: Vec<_> = f
        .args
        .iter()
        .filter(|a| matches!(a.mode.as_str(), "in" | "inout" | "variadic"))
        .collect();
    inputs.is_empty()
        || inputs.iter().all(|a| !a.name.is_empty())
        || (inputs.len() == 1 && matches!(inputs[0].type_name.as_str(), "json" | "jsonb" | "text"))
}

/// A function signature: `Args` inline text, and `Returns` as lines (one when inline).
struct Signature {
    args: Vec<(String, String)>,
    returns: Vec<String>,
    setof: Option<[String; 4]>,
}

impl Signature {
    fn args_inline(&self) -> String {
        if self.args.is_empty() {
            return "Record<PropertyKey, never>".into();
        }
        let inner: Vec<String> = self.args.iter().map(|(k, t)| format!("{k}: {t}")).collect();
        format!("{{ {} }}", inner.join("; "))
    }

    fn inline(&self) -> Option<String> {
        if self.returns.len() != 1 || self.setof.is_some() {
            return None;
        }
        Some(format!(
            "{{ Args: {}; Returns: {} }}",
            self.args_inline(),
            self.returns[0]
        ))
    }

    /// The expanded form: members at `indent`, closing brace at `indent - 2`.
    fn expanded(&self, out: &mut Out, indent: usize) {
        let args = format!("Args: {}", self.args_inline());
        if indent + args.len() <= WIDTH || self.args.is_empty() {
            out.line(indent, &args);
        } else {
            out.object(indent, "Args: ", &self.args, "");
        }
        let (first, rest) = self
            .returns
            .split_first()
            .map(|(f, r)| (f.as_str(), r))
            .unwrap_or(("unknown", &[]));
        out.line(indent, &format!("Returns: {first}"));
        for (i, l) in rest.iter().enumerate() {
            let extra = if i + 1 == rest.len() { 0 } else { 2 };
            out.line(indent + extra, l);
        }
        if let Some([from, to, one, set]) = &self.setof {
            out.line(indent, "SetofOptions: {");
            out.line(indent + 2, &format!("from: {from}"));
            out.line(indent + 2, &format!("to: {to}"));
            out.line(indent + 2, &format!("isOneToOne: {one}"));
            out.line(indent + 2, &format!("isSetofReturn: {set}"));
            out.line(indent, "}");
        }
    }
}

fn signature(ctx: &Ctx, schema: &str, f: &Function) -> Signature {
    let mut all = f.args.clone();
    all.sort_by(|a, b| locale_cmp(&a.name, &b.name));
    let args = all
        .iter()
        .filter(|a| matches!(a.mode.as_str(), "in" | "inout" | "variadic"))
        .map(|a| {
            (
                format!("{}{}", key(&a.name), if a.has_default { "?" } else { "" }),
                ctx.ts_type(schema, &a.type_name),
            )
        })
        .collect();
    let table: Vec<_> = all.iter().filter(|a| a.mode == "table").collect();
    let relation = f.return_relation.and_then(|oid| {
        ctx.model
            .tables
            .iter()
            .chain(ctx.model.views.iter())
            .find(|r| r.oid == oid)
    });
    let multiple = f.rows > 1.0;
    let mut setof = None;
    let mut returns = if !table.is_empty() {
        let mut lines = vec!["{".to_string()];
        for a in table {
            lines.push(format!(
                "{}: {}",
                key(&a.name),
                ctx.ts_type(schema, &a.type_name)
            ));
        }
        lines.push("}".into());
        lines
    } else if let Some(r) = relation {
        let mut lines = vec!["{".to_string()];
        for c in sorted_columns(r) {
            let (k, t) = ctx.column(schema, c, false, c.is_nullable);
            lines.push(format!("{k}: {t}"));
        }
        lines.push("}".into());
        setof = Some([
            "\"*\"".to_string(),
            json(&r.name),
            (!multiple).to_string(),
            f.returns_set.to_string(),
        ]);
        lines
    } else {
        vec![ctx.ts_type(schema, &f.return_type)]
    };
    let collapsible = !multiple && relation.is_some();
    if f.returns_set && !collapsible {
        if let Some(last) = returns.last_mut() {
            last.push_str("[]");
        }
    }
    Signature {
        args,
        returns,
        setof,
    }
}

fn functions(out: &mut Out, ctx: &Ctx, schema: &str) {
    let mut fns: Vec<&Function> = ctx
        .model
        .functions
        .iter()
        .filter(|f| f.schema == schema && callable(f))
        .collect();
    if fns.is_empty() {
        return never(out, 4, "Functions");
    }
    fns.sort_by(|a, b| {
        locale_cmp(&a.name, &b.name)
            .then_with(|| locale_cmp(&a.identity_args, &b.identity_args))
            .then_with(|| locale_cmp(&a.return_type, &b.return_type))
    });
    out.line(4, "Functions: {");
    let mut i = 0;
    while i < fns.len() {
        let group: Vec<&Function> = fns[i..]
            .iter()
            .take_while(|f| f.name == fns[i].name)
            .copied()
            .collect();
        i += group.len();
        let k = key(&group[0].name);
        let sigs: Vec<Signature> = group.iter().map(|f| signature(ctx, schema, f)).collect();
        if sigs.len() == 1 {
            let s = &sigs[0];
            match s.inline() {
                Some(inline) if 6 + k.len() + 2 + inline.len() <= WIDTH => {
                    out.line(6, &format!("{k}: {inline}"));
                }
                _ => {
                    out.line(6, &format!("{k}: {{"));
                    s.expanded(out, 8);
                    out.line(6, "}");
                }
            }
            continue;
        }
        let inlines: Option<Vec<String>> = sigs.iter().map(Signature::inline).collect();
        if let Some(parts) = &inlines {
            let one = format!("{k}: {}", parts.join(" | "));
            if 6 + one.len() <= WIDTH {
                out.line(6, &one);
                continue;
            }
        }
        out.line(6, &format!("{k}:"));
        for s in &sigs {
            match s.inline() {
                Some(inline) if 8 + 2 + inline.len() <= WIDTH => {
                    out.line(8, &format!("| {inline}"));
                }
                _ => {
                    out.line(8, "| {");
                    s.expanded(out, 12);
                    out.line(10, "}");
                }
            }
        }
    }
    out.line(4, "}");
}

fn enums(out: &mut Out, model: &Model, schema: &str) {
    let mut list: Vec<_> = model.enums.iter().filter(|e| e.schema == schema).collect();
    if list.is_empty() {
        return never(out, 4, "Enums");
    }
    list.sort_by(|a, b| locale_cmp(&a.name, &b.name));
    out.line(4, "Enums: {");
    for e in list {
        let ty = e
            .labels
            .iter()
            .map(|l| json(l))
            .collect::<Vec<_>>()
            .join(" | ");
        out.member(6, &key(&e.name), &ty);
    }
    out.line(4, "}");
}

fn composites(out: &mut Out, ctx: &Ctx, schema: &str) {
    let mut list: Vec<_> = ctx
        .model
        .composites
        .iter()
        .filter(|c| c.schema == schema)
        .collect();
    if list.is_empty() {
        return never(out, 4, "CompositeTypes");
    }
    list.sort_by(|a, b| locale_cmp(&a.name, &b.name));
    out.line(4, "CompositeTypes: {");
    for c in list {
        let members: Vec<(String, String)> = c
            .attributes
            .iter()
            .map(|(n, t)| (key(n), ctx.nullable(ctx.ts_type(schema, t), true)))
            .collect();
        out.object(6, &format!("{}: ", key(&c.name)), &members, "");
    }
    out.line(4, "}");
}

fn constants(out: &mut Out, model: &Model) {
    out.line(0, "export const Constants = {");
    for schema in &model.schemas {
        out.line(2, &format!("{}: {{", key(schema)));
        let mut list: Vec<_> = model.enums.iter().filter(|e| e.schema == *schema).collect();
        list.sort_by(|a, b| locale_cmp(&a.name, &b.name));
        if list.is_empty() {
            out.line(4, "Enums: {},");
        } else {
            out.line(4, "Enums: {");
            for e in list {
                let labels: Vec<String> = e.labels.iter().map(|l| json(l)).collect();
                let one = format!("{}: [{}],", key(&e.name), labels.join(", "));
                if 6 + one.len() <= WIDTH {
                    out.line(6, &one);
                } else {
                    out.line(6, &format!("{}: [", key(&e.name)));
                    for l in labels {
                        out.line(8, &format!("{l},"));
                    }
                    out.line(6, "],");
                }
            }
            out.line(4, "},");
        }
        out.line(2, "},");
    }
    out.line(0, "} as const");
}

/// Render the whole file.
pub fn render(model: &Model) -> String {
    let ctx = Ctx { model };
    let mut out = Out::default();
    out.text.push_str(JSON_TYPE);
    out.line(0, "");
    out.line(0, "export type Database = {");
    let mut schemas = model.schemas.clone();
    schemas.sort_by(|a, b| locale_cmp(a, b));
    for schema in &schemas {
        out.line(2, &format!("{}: {{", key(schema)));
        let mut ts: Vec<&Relation> = model
            .tables
            .iter()
            .filter(|t| t.schema == *schema)
            .collect();
        ts.sort_by(|a, b| locale_cmp(&a.name, &b.name));
        tables(&mut out, &ctx, schema, &ts);
        let mut vs: Vec<&Relation> = model.views.iter().filter(|t| t.schema == *schema).collect();
        vs.sort_by(|a, b| locale_cmp(&a.name, &b.name));
        views(&mut out, &ctx, schema, &vs);
        functions(&mut out, &ctx, schema);
        enums(&mut out, model, schema);
        composites(&mut out, &ctx, schema);
        out.line(2, "}");
    }
    out.line(0, "}");
    out.line(0, "");
    out.text.push_str(HELPERS);
    constants(&mut out, model);
    // The CLI writes the generator's output followed by a newline of its own: files made by
    // `supabase gen types typescript > types.ts` end in a blank line.
    out.line(0, "");
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_like_locale_compare() {
        let mut v = vec!["b", "a_b", "A", "a1", "a"];
        v.sort_by(|a, b| locale_cmp(a, b));
        assert_eq!(v, vec!["a", "A", "a_b", "a1", "b"]);
    }

    #[test]
    fn keys_are_quoted_only_when_needed() {
        assert_eq!(key("user_id"), "user_id");
        assert_eq!(key("user-id"), "\"user-id\"");
        assert_eq!(key(""), "\"\"");
    }

    #[test]
    fn long_unions_break_one_member_per_line() {
        let mut out = Out::default();
        out.member(14, "short", "string | null");
        out.member(
            14,
            "test_unnamed_row_composite",
            "Database[\"public\"][\"CompositeTypes\"][\"composite_type_with_array_attribute\"] | null",
        );
        assert_eq!(
            out.text,
            "              short: string | null\n              test_unnamed_row_composite:\n                | Database[\"public\"][\"CompositeTypes\"][\"composite_type_with_array_attribute\"]\n                | null\n"
        );
    }

    #[test]
    fn union_members_respect_nesting() {
        assert_eq!(
            union_members("(\"a\" | \"b\")[] | null"),
            vec!["(\"a\" | \"b\")[]", "null"]
        );
    }
}
