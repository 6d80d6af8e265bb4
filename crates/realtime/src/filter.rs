//! `postgres_changes` subscriptions: the `event`/`schema`/`table`/`filter` supabase-js sends,
//! parsed once at join time and matched against decoded rows.
//!
//! Filter grammar (as realtime-js writes it): `column=op.value`, several joined by `,` (AND),
//! an optional `not.` before the operator, `in.(a,b,"c,d")` lists. Operators: `eq`, `neq`, `lt`,
//! `lte`, `gt`, `gte`, `in`, `is` (`null`, `true`, `false`), `like`, `ilike`, `isdistinct`. Cells
//! arrive in Postgres' text format; numeric columns compare as numbers, booleans by truth value,
//! everything else as text, and SQL NULL matches nothing but `is.null` and `isdistinct` (SQL
//! three-valued logic).

use serde_json::Value;

/// Which change kinds a subscription wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Insert,
    Update,
    Delete,
    All,
}

impl EventKind {
    /// Parse `INSERT`/`UPDATE`/`DELETE`/`*` (case-insensitive).
    pub fn parse(s: &str) -> Option<EventKind> {
        match s.to_ascii_uppercase().as_str() {
            "INSERT" => Some(EventKind::Insert),
            "UPDATE" => Some(EventKind::Update),
            "DELETE" => Some(EventKind::Delete),
            "*" => Some(EventKind::All),
            _ => None,
        }
    }

    /// Whether a change of kind `change` is wanted.
    pub fn wants(self, change: EventKind) -> bool {
        self == EventKind::All || self == change
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    Is,
    /// SQL `LIKE` (`%`, `_`, `\` escapes).
    Like,
    /// SQL `ILIKE`: `LIKE` ignoring case.
    Ilike,
    /// `IS DISTINCT FROM`: unequal, and NULL is distinct from every value.
    IsDistinct,
}

/// One `column=op.value` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub column: String,
    pub op: Op,
    pub negate: bool,
    /// One value, or several for `in`.
    pub values: Vec<String>,
    /// The value as a subscription records it: unquoted, or `{a,b}` for an `in` list.
    pub text: String,
}

/// A parsed `postgres_changes` binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub event: EventKind,
    pub schema: String,
    /// `None` = every table of the schema.
    pub table: Option<String>,
    pub conds: Vec<Cond>,
}

/// Why a binding was refused (worded as the `system` message Supabase Realtime sends).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("postgres_changes entry must be an object")]
    NotObject,
    #[error("`{0}` must be a string")]
    Field(&'static str),
    /// A condition that is no `column=op.value`: the pieces it split into, as a list literal.
    #[error("Error parsing `filter` params: {0}")]
    Syntax(String),
    /// An unknown operator: `[operator, value]` as a list literal.
    #[error("Error parsing `filter` params: {0}")]
    Operator(String),
    #[error("Error parsing `filter` params: `in` filter value must be wrapped by parentheses")]
    InList(String),
    #[error(
        "Error parsing `filter` params: filter must not contain empty segments (check for extra commas)"
    )]
    EmptySegment,
}

/// `["a", "b"]`: strings as a list literal, the way filter parse errors quote the pieces.
pub fn list_literal(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| Value::from(*i).to_string()).collect();
    format!("[{}]", quoted.join(", "))
}

impl Binding {
    /// Parse one entry of `config.postgres_changes`.
    pub fn parse(v: &Value) -> Result<Binding, FilterError> {
        let o = v.as_object().ok_or(FilterError::NotObject)?;
        let s = |k: &'static str| -> Result<Option<&str>, FilterError> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(FilterError::Field(k)),
            }
        };
        // An event other than INSERT, UPDATE or DELETE means every event.
        let event = s("event")?
            .and_then(EventKind::parse)
            .unwrap_or(EventKind::All);
        let schema = s("schema")?.unwrap_or("public").to_owned();
        let table = s("table")?
            .filter(|t| !t.is_empty() && *t != "*")
            .map(str::to_owned);
        let conds = match s("filter")? {
            Some(f) if !f.trim().is_empty() => parse_filter(f)?,
            _ => Vec::new(),
        };
        Ok(Binding {
            event,
            schema,
            table,
            conds,
        })
    }

    /// Whether a change to `schema.table` of kind `kind` and row `row` is wanted. `row` gives a
    /// column's text value (`None` = NULL) and type name; `None` for an unknown column.
    pub fn matches<'a>(
        &self,
        schema: &str,
        table: &str,
        kind: EventKind,
        row: impl Fn(&str) -> Option<(Option<&'a str>, &'a str)>,
    ) -> bool {
        if !self.event.wants(kind) || self.schema != schema {
            return false;
        }
        if let Some(t) = &self.table {
            if t != table {
                return false;
            }
        }
        self.conds.iter().all(|c| match row(&c.column) {
            Some((cell, ty)) => c.matches(cell, ty),
            None => false,
        })
    }
}

/// Split on `sep` outside double quotes and parentheses.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    for ch in s.chars() {
        if escaped {
            cur.push(ch);
            escaped = false;
            continue;
        }
        match ch {
            '\\' if quoted => {
                cur.push(ch);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            '(' if !quoted => {
                depth += 1;
                cur.push(ch);
            }
            ')' if !quoted => {
                depth -= 1;
                cur.push(ch);
            }
            c if c == sep && !quoted && depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Remove surrounding double quotes and backslash escapes.
fn unquote(s: &str) -> String {
    let t = s.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        let inner = &t[1..t.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut esc = false;
        for ch in inner.chars() {
            if esc {
                out.push(ch);
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else {
                out.push(ch);
            }
        }
        out
    } else {
        s.to_owned()
    }
}

/// Parse a whole `filter` string.
pub fn parse_filter(f: &str) -> Result<Vec<Cond>, FilterError> {
    split_top(f, ',')
        .iter()
        .map(|part| parse_cond(part))
        .collect()
}

fn parse_cond(part: &str) -> Result<Cond, FilterError> {
    let part = part.trim();
    if part.is_empty() {
        return Err(FilterError::EmptySegment);
    }
    let syntax = || FilterError::Syntax(list_literal(&[part]));
    let (column, rest) = part.split_once('=').ok_or_else(syntax)?;
    let column = column.trim();
    if column.is_empty() {
        return Err(syntax());
    }
    let (negate, rest) = match rest.strip_prefix("not.") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (op_s, value) = rest
        .split_once('.')
        .ok_or_else(|| FilterError::Syntax(list_literal(&[rest])))?;
    let op = match op_s {
        "eq" => Op::Eq,
        "neq" => Op::Neq,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "in" => Op::In,
        "is" => Op::Is,
        "like" => Op::Like,
        "ilike" => Op::Ilike,
        "isdistinct" => Op::IsDistinct,
        other => return Err(FilterError::Operator(list_literal(&[other, value]))),
    };
    let mut text = None;
    let values = if op == Op::In {
        let inner = value
            .trim()
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| FilterError::InList(part.to_owned()))?;
        text = Some(format!("{{{inner}}}"));
        if inner.trim().is_empty() {
            Vec::new()
        } else {
            split_top(inner, ',').iter().map(|v| unquote(v)).collect()
        }
    } else if op == Op::Is {
        let v = value.to_ascii_lowercase();
        if !matches!(v.as_str(), "null" | "true" | "false" | "unknown") {
            return Err(FilterError::Syntax(part.to_owned()));
        }
        vec![v]
    } else {
        vec![unquote(value)]
    };
    Ok(Cond {
        column: unquote(column),
        op,
        negate,
        text: text.unwrap_or_else(|| values.first().cloned().unwrap_or_default()),
        values,
    })
}

/// How a column's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Bool,
    Text,
    CaseInsensitive,
}

fn kind_of(type_name: &str) -> Kind {
    match type_name {
        "int2" | "int4" | "int8" | "float4" | "float8" | "numeric" | "oid" | "money" => {
            Kind::Number
        }
        "bool" => Kind::Bool,
        "uuid" => Kind::CaseInsensitive,
        _ => Kind::Text,
    }
}

fn truth(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "t" | "true" | "1" | "yes" | "on" | "y" => Some(true),
        "f" | "false" | "0" | "no" | "off" | "n" => Some(false),
        _ => None,
    }
}

fn compare(cell: &str, value: &str, kind: Kind) -> Option<std::cmp::Ordering> {
    match kind {
        Kind::Number => {
            let a: f64 = cell.trim().parse().ok()?;
            let b: f64 = value.trim().parse().ok()?;
            a.partial_cmp(&b)
        }
        Kind::Bool => Some(truth(cell)?.cmp(&truth(value)?)),
        Kind::CaseInsensitive => Some(cell.to_ascii_lowercase().cmp(&value.to_ascii_lowercase())),
        Kind::Text => Some(cell.cmp(value)),
    }
}

impl Cond {
    /// Whether a cell (text format, `None` = NULL) of type `type_name` satisfies this condition.
    pub fn matches(&self, cell: Option<&str>, type_name: &str) -> bool {
        use std::cmp::Ordering::*;
        if self.op == Op::Is {
            let v = self.values.first().map(String::as_str).unwrap_or("null");
            let r = match (v, cell) {
                ("null", c) => c.is_none(),
                ("unknown", c) => c.is_none(),
                ("true", Some(c)) => truth(c) == Some(true),
                ("false", Some(c)) => truth(c) == Some(false),
                _ => false,
            };
            return r != self.negate;
        }
        let kind = kind_of(type_name);
        if self.op == Op::IsDistinct {
            let value = self.values.first().map(String::as_str).unwrap_or("");
            let r = cell.is_none_or(|c| compare(c, value, kind) != Some(Equal));
            return r != self.negate;
        }
        // Any comparison with NULL is unknown, and so is its negation.
        let Some(cell) = cell else {
            return false;
        };
        let one = |v: &str| compare(cell, v, kind);
        let value = self.values.first().map(String::as_str).unwrap_or("");
        let r = match self.op {
            Op::Eq => one(value) == Some(Equal),
            Op::Neq => matches!(one(value), Some(Less | Greater)),
            Op::Lt => one(value) == Some(Less),
            Op::Lte => matches!(one(value), Some(Less | Equal)),
            Op::Gt => one(value) == Some(Greater),
            Op::Gte => matches!(one(value), Some(Greater | Equal)),
            Op::In => self.values.iter().any(|v| one(v) == Some(Equal)),
            Op::Like => like(value, cell, false),
            Op::Ilike => like(value, cell, true),
            Op::Is | Op::IsDistinct => false,
        };
        r != self.negate
    }
}

/// One element of a `LIKE` pattern.
#[derive(Clone, Copy, PartialEq)]
enum Pat {
    /// `%`: any run of characters.
    Any,
    /// `_`: one character.
    One,
    Lit(char),
}

/// Whether `text` matches the SQL `LIKE` pattern `pattern` (ignoring case with `fold`), in
/// time linear in the product of their lengths at worst.
fn like(pattern: &str, text: &str, fold: bool) -> bool {
    let norm = |c: char| {
        if fold {
            c.to_lowercase().next().unwrap_or(c)
        } else {
            c
        }
    };
    let mut pat = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '%' => Pat::Any,
            '_' => Pat::One,
            '\\' => Pat::Lit(norm(chars.next().unwrap_or('\\'))),
            c => Pat::Lit(norm(c)),
        });
    }
    let text: Vec<char> = text.chars().map(norm).collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(Pat::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Pat::One) => {
                p += 1;
                t += 1;
            }
            Some(Pat::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|x| *x == Pat::Any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(f: &str) -> Cond {
        parse_filter(f).unwrap().remove(0)
    }

    #[test]
    fn parses_bindings() {
        let b = Binding::parse(
            &json!({"event":"INSERT","schema":"public","table":"messages","filter":"room_id=eq.1"}),
        )
        .unwrap();
        assert_eq!(b.event, EventKind::Insert);
        assert_eq!(b.table.as_deref(), Some("messages"));
        assert_eq!(b.conds[0].op, Op::Eq);
        assert_eq!(b.conds[0].values, vec!["1"]);
        let all = Binding::parse(&json!({"event":"*","schema":"public"})).unwrap();
        assert_eq!(all.table, None);
        assert!(all.conds.is_empty());
        assert_eq!(
            Binding::parse(&json!({"event":"UPSERT","schema":"public"}))
                .unwrap()
                .event,
            EventKind::All
        );
        assert_eq!(Binding::parse(&json!(3)), Err(FilterError::NotObject));
        assert_eq!(
            Binding::parse(&json!({"event":"*","schema":1})),
            Err(FilterError::Field("schema"))
        );
    }

    #[test]
    fn parses_operators_and_lists() {
        assert_eq!(cond("a=neq.x").op, Op::Neq);
        let c = cond(r#"name=in.(alice,"b,c",d)"#);
        assert_eq!(c.op, Op::In);
        assert_eq!(c.values, vec!["alice", "b,c", "d"]);
        let c = cond("a=not.eq.3");
        assert!(c.negate);
        let many = parse_filter("a=eq.1,b=in.(1,2),c=gte.5").unwrap();
        assert_eq!(many.len(), 3);
        assert_eq!(many[1].values, vec!["1", "2"]);
        assert_eq!(
            parse_filter("a=regex.x").unwrap_err().to_string(),
            r#"Error parsing `filter` params: ["regex", "x"]"#
        );
        assert_eq!(
            parse_filter("undefined").unwrap_err().to_string(),
            r#"Error parsing `filter` params: ["undefined"]"#
        );
        assert_eq!(
            parse_filter("a=eq.1,,b=eq.2").unwrap_err(),
            FilterError::EmptySegment
        );
        assert_eq!(cond(r#"a=in.(1,"x y")"#).text, r#"{1,"x y"}"#);
        assert_eq!(cond(r#"a=eq."q""#).text, "q");
        assert!(matches!(
            parse_filter("nonsense"),
            Err(FilterError::Syntax(_))
        ));
        assert!(matches!(
            parse_filter("a=in.1,2"),
            Err(FilterError::InList(_))
        ));
        assert!(matches!(parse_filter("=eq.1"), Err(FilterError::Syntax(_))));
    }

    #[test]
    fn like_ilike_and_is_distinct() {
        assert!(cond("t=like.ab%").matches(Some("abc"), "text"));
        assert!(!cond("t=like.ab%").matches(Some("Abc"), "text"));
        assert!(cond("t=ilike.ab%").matches(Some("ABC"), "text"));
        assert!(cond("t=like.a_c").matches(Some("abc"), "text"));
        assert!(!cond("t=like.a_c").matches(Some("abbc"), "text"));
        assert!(cond("t=like.%b%c").matches(Some("xxbyyc"), "text"));
        assert!(cond(r"t=like.50\%").matches(Some("50%"), "text"));
        assert!(!cond(r"t=like.50\%").matches(Some("500"), "text"));
        assert!(!cond("t=like.a%").matches(None, "text"));
        assert!(cond("t=not.like.a%").matches(Some("b"), "text"));
        assert!(cond("n=isdistinct.1").matches(None, "int4"));
        assert!(cond("n=isdistinct.1").matches(Some("2"), "int4"));
        assert!(!cond("n=isdistinct.1").matches(Some("1"), "int4"));
        assert!(!cond("n=not.isdistinct.1").matches(None, "int4"));
        let long = format!("{}b", "a".repeat(2000));
        assert!(!cond(&format!("t=like.{}", "%a".repeat(50) + "%c")).matches(Some(&long), "text"));
    }

    #[test]
    fn numeric_comparisons() {
        assert!(cond("n=eq.1").matches(Some("1"), "int8"));
        assert!(cond("n=eq.1.0").matches(Some("1"), "numeric"));
        assert!(!cond("n=eq.1").matches(Some("2"), "int4"));
        assert!(cond("n=lt.10").matches(Some("9"), "int4"));
        assert!(!cond("n=lt.10").matches(Some("10"), "int4"));
        assert!(cond("n=lte.10").matches(Some("10"), "int4"));
        // numeric, not lexicographic: "9" > "10" as text
        assert!(cond("n=gt.9").matches(Some("10"), "int4"));
        assert!(cond("n=gte.10").matches(Some("10"), "float8"));
        assert!(cond("n=neq.3").matches(Some("4"), "int2"));
        assert!(cond("n=in.(1,2,3)").matches(Some("2"), "int8"));
        assert!(!cond("n=in.(1,2,3)").matches(Some("5"), "int8"));
        assert!(!cond("n=eq.abc").matches(Some("1"), "int8"));
    }

    #[test]
    fn text_bool_uuid_and_null() {
        assert!(cond("s=eq.hello").matches(Some("hello"), "text"));
        assert!(cond("s=lt.b").matches(Some("a"), "text"));
        assert!(cond("f=eq.true").matches(Some("t"), "bool"));
        assert!(!cond("f=eq.true").matches(Some("f"), "bool"));
        assert!(cond("u=eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")
            .matches(Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "uuid"));
        assert!(!cond("s=eq.x").matches(None, "text"));
        assert!(!cond("s=neq.x").matches(None, "text"));
        assert!(!cond("s=not.eq.x").matches(None, "text"));
        assert!(cond("s=is.null").matches(None, "text"));
        assert!(cond("s=not.is.null").matches(Some("x"), "text"));
        assert!(cond("f=is.true").matches(Some("t"), "bool"));
        assert!(cond("s=not.eq.x").matches(Some("y"), "text"));
    }

    #[test]
    fn binding_matches_rows() {
        let b = Binding::parse(
            &json!({"event":"UPDATE","schema":"public","table":"t","filter":"room=eq.1,n=gt.5"}),
        )
        .unwrap();
        let row = |c: &str| match c {
            "room" => Some((Some("1"), "int4")),
            "n" => Some((Some("6"), "int4")),
            _ => None,
        };
        assert!(b.matches("public", "t", EventKind::Update, row));
        assert!(!b.matches("public", "t", EventKind::Insert, row));
        assert!(!b.matches("public", "u", EventKind::Update, row));
        assert!(!b.matches("other", "t", EventKind::Update, row));
        let unknown =
            Binding::parse(&json!({"event":"*","schema":"public","filter":"zz=eq.1"})).unwrap();
        assert!(!unknown.matches("public", "t", EventKind::Insert, row));
    }
}
