//! Column values as typed JSON, the way Supabase Realtime writes `record` and `old_record`.
//!
//! pgoutput carries every value in its Postgres text form. Supabase Realtime reads changes with
//! wal2json and turns each value into JSON with Postgres' `to_jsonb` on the column's type, so a
//! client receives `"id": 17`, `"done": true`, `"tags": ["a", "b"]`, `"meta": {"k": 1}`. This
//! module does the same conversion from the text form, given the column's [`JsonType`]
//! (resolved once per relation from `pg_type` by [`resolve`]):
//!
//! * `int2`, `int4`, `int8`: JSON numbers with every digit (also beyond 2^53); `oid` is a
//!   string, as `to_jsonb` writes it.
//! * `numeric`: a JSON number with the exact text (`1.50`, 30-digit values included).
//! * `float4`, `float8`: a JSON number as `to_jsonb` writes it, in plain decimal notation
//!   (`1e+100` becomes `1` and 100 zeros, `1.5e-07` becomes `0.00000015`).
//! * `NaN`, `Infinity` and `-Infinity` of those three types are `null` as a column value (wal2json
//!   writes them so) and the strings `"NaN"`, `"Infinity"`, `"-Infinity"` inside arrays and
//!   composite values (where `to_jsonb` decides alone).
//! * `bool`: `true`/`false`. `json`, `jsonb`: the JSON value, as `jsonb` normalises it (keys in
//!   jsonb order, the last of duplicate keys, numbers in plain decimal notation).
//! * `timestamp`, `timestamptz`: ISO 8601 with a `T` and a `+HH:MM` offset
//!   (`2024-05-01T12:00:00.5+00:00`); `infinity` stays a string.
//! * `bytea`: the hex digits without `\x` as a column value, `"\\x…"` inside arrays.
//! * Arrays: JSON arrays (nested for several dimensions) of typed elements; composite types:
//!   JSON objects of typed fields; domains: their base type.
//! * Everything else (`text`, `uuid`, enums, `date`, `time`, ranges, …): the text as a string.
//!
//! A text that does not have the expected form becomes a JSON string; the output is always
//! valid JSON.

use std::cmp::Ordering;
use std::collections::HashMap;

/// How the text form of a type becomes JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum JsonType {
    /// `int2`, `int4`, `int8`.
    Integer,
    /// `float4`, `float8`.
    Float,
    /// `numeric`.
    Numeric,
    /// `bool`.
    Bool,
    /// `json`, `jsonb`.
    Json,
    /// `timestamp`, `timestamptz`.
    Timestamp,
    /// `bytea`.
    Bytea,
    /// An array whose elements are separated by `delim` (`,` for all types but `box`).
    Array { elem: Box<JsonType>, delim: char },
    /// A composite type: its attributes in order.
    Composite(Vec<(String, JsonType)>),
    /// A domain over a base type.
    Domain(Box<JsonType>),
    /// Any other type: a JSON string of the text.
    #[default]
    Text,
}

/// Write the JSON of a column value, given in its text form.
pub fn column_json(ty: &JsonType, text: &str, out: &mut String) {
    match ty {
        // wal2json writes these specials as `null` before `to_jsonb` sees them.
        JsonType::Float | JsonType::Numeric if is_special_number(text) => out.push_str("null"),
        // wal2json writes bytea without its `\x` prefix, and Realtime passes that text on.
        JsonType::Bytea => push_str(out, text.strip_prefix("\\x").unwrap_or(text)),
        _ => value_json(ty, text, out),
    }
}

fn is_special_number(text: &str) -> bool {
    ["NaN", "Infinity", "-Infinity"]
        .iter()
        .any(|s| text.eq_ignore_ascii_case(s))
}

/// Write the JSON of a value as `to_jsonb` does it (inside arrays and composites).
fn value_json(ty: &JsonType, text: &str, out: &mut String) {
    match ty {
        JsonType::Integer => match integer(text) {
            Some(n) => out.push_str(n),
            None => push_str(out, text),
        },
        JsonType::Float | JsonType::Numeric => match plain_decimal(text) {
            Some(n) => out.push_str(&n),
            None => push_str(out, text),
        },
        JsonType::Bool => match text {
            "t" | "true" => out.push_str("true"),
            "f" | "false" => out.push_str("false"),
            _ => push_str(out, text),
        },
        JsonType::Json => match json::parse(text) {
            Some(v) => json::write(&v, out),
            None => push_str(out, text),
        },
        JsonType::Timestamp => push_str(out, &iso_timestamp(text)),
        JsonType::Array { elem, delim } => match array::parse(text, *delim) {
            Some(items) => write_array(&items, elem, out),
            None => push_str(out, text),
        },
        JsonType::Composite(fields) => match composite::parse(text) {
            Some(values) if values.len() == fields.len() => {
                let mut pairs: Vec<(&str, Option<&str>, &JsonType)> = fields
                    .iter()
                    .zip(&values)
                    .map(|((name, ty), v)| (name.as_str(), v.as_deref(), ty))
                    .collect();
                pairs.sort_by(|a, b| jsonb_key_order(a.0, b.0));
                out.push('{');
                for (i, (name, v, ty)) in pairs.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str(out, name);
                    out.push(':');
                    match v {
                        Some(v) => value_json(ty, v, out),
                        None => out.push_str("null"),
                    }
                }
                out.push('}');
            }
            _ => push_str(out, text),
        },
        JsonType::Domain(base) => value_json(base, text, out),
        JsonType::Bytea | JsonType::Text => push_str(out, text),
    }
}

fn write_array(items: &[array::Node], elem: &JsonType, out: &mut String) {
    out.push('[');
    for (i, n) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match n {
            array::Node::Null => out.push_str("null"),
            array::Node::Value(v) => value_json(elem, v, out),
            array::Node::Sub(items) => write_array(items, elem, out),
        }
    }
    out.push(']');
}

/// The order of keys in a `jsonb` object: shorter keys first, then bytewise.
pub fn jsonb_key_order(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Write `s` as a JSON string.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An integer's text when it is one (`-12`), as a JSON number is written.
fn integer(text: &str) -> Option<&str> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let valid = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    valid.then_some(text)
}

/// A number in the plain decimal notation Postgres' `numeric` prints: the value and scale that
/// `numeric_in` gives the text (`1.50` stays `1.50`, `1e+2` becomes `100`, `1.5e-7` becomes
/// `0.00000015`, `-0` becomes `0`). None when the text is not a JSON number.
pub fn plain_decimal(text: &str) -> Option<String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => {
            let e = &rest[i + 1..];
            let e = e.strip_prefix('+').unwrap_or(e);
            let (neg, d) = match e.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, e),
            };
            if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // numeric refuses exponents this large; keep the text then.
            let v: i64 = d.parse().ok().filter(|v| *v <= 100_000)?;
            (&rest[..i], if neg { -v } else { v })
        }
        None => (rest, 0),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let json_int = int == "0" || (!int.is_empty() && !int.starts_with('0'));
    if !json_int
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (mantissa.contains('.') && frac.is_empty())
    {
        return None;
    }
    if exp == 0 {
        let zero = mantissa.bytes().all(|b| b == b'0' || b == b'.');
        let sign = if negative && !zero { "-" } else { "" };
        return Some(format!("{sign}{mantissa}"));
    }
    let digits = format!("{int}{frac}");
    // Position of the decimal point from the left of `digits`.
    let point = int.len() as i64 + exp;
    let (mut whole, fraction) = if point <= 0 {
        (
            String::from("0"),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        let (w, f) = digits.split_at(point as usize);
        (w.to_owned(), f.to_owned())
    };
    let trimmed = whole.trim_start_matches('0');
    whole = if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    };
    let zero = whole == "0" && fraction.bytes().all(|b| b == b'0');
    let mut s = String::with_capacity(whole.len() + fraction.len() + 2);
    if negative && !zero {
        s.push('-');
    }
    s.push_str(&whole);
    if !fraction.is_empty() {
        s.push('.');
        s.push_str(&fraction);
    }
    Some(s)
}

/// A `timestamp`/`timestamptz` in ISO text form (`2024-05-01 12:00:00.5+00`) as `to_jsonb`
/// writes it (`2024-05-01T12:00:00.5+00:00`); other forms (`infinity`) unchanged.
pub fn iso_timestamp(text: &str) -> String {
    let Some((date, rest)) = text.split_once(' ') else {
        return text.to_owned();
    };
    let date_ok = date.len() >= 10
        && date.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && rest.len() >= 8
        && rest.as_bytes()[2] == b':';
    if !date_ok {
        return text.to_owned();
    }
    let (rest, bc) = match rest.strip_suffix(" BC") {
        Some(r) => (r, " BC"),
        None => (rest, ""),
    };
    // The offset, when present, starts at the first sign after the time.
    let (time, offset) = match rest.find(['+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let offset = if offset.len() == 3 {
        format!("{offset}:00")
    } else {
        offset.to_owned()
    };
    format!("{date}T{time}{offset}{bc}")
}

/// Array literals as `array_out` writes them.
mod array {
    /// One element or sub-array.
    #[derive(Debug, PartialEq)]
    pub enum Node {
        Null,
        Value(String),
        Sub(Vec<Node>),
    }

    /// Parse `{…}` (optionally after `[1:2]=` bounds) into its elements.
    pub fn parse(text: &str, delim: char) -> Option<Vec<Node>> {
        let body = if text.starts_with('[') {
            &text[text.find('=')? + 1..]
        } else {
            text
        };
        let chars: Vec<char> = body.chars().collect();
        let mut pos = 0;
        let items = level(&chars, &mut pos, delim, 0)?;
        (pos == chars.len()).then_some(items)
    }

    fn level(c: &[char], pos: &mut usize, delim: char, depth: usize) -> Option<Vec<Node>> {
        if depth > 6 || c.get(*pos) != Some(&'{') {
            return None;
        }
        *pos += 1;
        let mut items = Vec::new();
        if c.get(*pos) == Some(&'}') {
            *pos += 1;
            return Some(items);
        }
        loop {
            match c.get(*pos)? {
                '{' => items.push(Node::Sub(level(c, pos, delim, depth + 1)?)),
                '"' => {
                    *pos += 1;
                    let mut s = String::new();
                    loop {
                        match c.get(*pos)? {
                            '\\' => {
                                s.push(*c.get(*pos + 1)?);
                                *pos += 2;
                            }
                            '"' => {
                                *pos += 1;
                                break;
                            }
                            ch => {
                                s.push(*ch);
                                *pos += 1;
                            }
                        }
                    }
                    items.push(Node::Value(s));
                }
                _ => {
                    let mut s = String::new();
                    while let Some(&ch) = c.get(*pos) {
                        if ch == delim || ch == '}' {
                            break;
                        }
                        if ch == '\\' {
                            s.push(*c.get(*pos + 1)?);
                            *pos += 2;
                        } else {
                            s.push(ch);
                            *pos += 1;
                        }
                    }
                    items.push(if s.eq_ignore_ascii_case("NULL") {
                        Node::Null
                    } else {
                        Node::Value(s)
                    });
                }
            }
            match c.get(*pos)? {
                '}' => {
                    *pos += 1;
                    return Some(items);
                }
                ch if *ch == delim => *pos += 1,
                _ => return None,
            }
        }
    }
}

/// Composite literals as `record_out` writes them.
mod composite {
    /// Parse `(a,"b c",,"")` into its fields (None for NULL).
    pub fn parse(text: &str) -> Option<Vec<Option<String>>> {
        let inner = text.strip_prefix('(')?.strip_suffix(')')?;
        let c: Vec<char> = inner.chars().collect();
        let mut fields = Vec::new();
        let mut pos = 0;
        loop {
            let mut s = String::new();
            let mut quoted = false;
            let mut saw_quote = false;
            while let Some(&ch) = c.get(pos) {
                match ch {
                    ',' if !quoted => break,
                    '"' if quoted && c.get(pos + 1) == Some(&'"') => {
                        s.push('"');
                        pos += 2;
                    }
                    '"' => {
                        quoted = !quoted;
                        saw_quote = true;
                        pos += 1;
                    }
                    '\\' => {
                        s.push(*c.get(pos + 1)?);
                        pos += 2;
                    }
                    _ => {
                        s.push(ch);
                        pos += 1;
                    }
                }
            }
            if quoted {
                return None;
            }
            // An empty unquoted field is NULL; `""` is the empty string.
            fields.push(if s.is_empty() && !saw_quote {
                None
            } else {
                Some(s)
            });
            if pos >= c.len() {
                return Some(fields);
            }
            pos += 1;
        }
    }
}

/// JSON as `jsonb` holds it.
mod json {
    use super::{jsonb_key_order, plain_decimal, push_str};

    /// A parsed JSON value; numbers keep their text.
    pub enum Value {
        Null,
        Bool(bool),
        Number(String),
        String(String),
        Array(Vec<Value>),
        Object(Vec<(String, Value)>),
    }

    /// Parse a JSON text (None when it is not JSON or nests deeper than 256 levels).
    pub fn parse(text: &str) -> Option<Value> {
        let mut p = Parser {
            b: text.as_bytes(),
            pos: 0,
            text,
        };
        let v = p.value(0)?;
        p.ws();
        (p.pos == p.b.len()).then_some(v)
    }

    /// Write a value as `jsonb` outputs it: object keys in jsonb order, the last of duplicate
    /// keys, numbers in plain decimal notation.
    pub fn write(v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) => match plain_decimal(n) {
                Some(d) => out.push_str(&d),
                None => out.push_str(n),
            },
            Value::String(s) => push_str(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            Value::Object(pairs) => {
                // Stable sort then keep the last of equal keys.
                let mut sorted: Vec<&(String, Value)> = pairs.iter().collect();
                sorted.sort_by(|a, b| jsonb_key_order(&a.0, &b.0));
                out.push('{');
                let mut first = true;
                for (i, (k, x)) in sorted.iter().map(|p| (&p.0, &p.1)).enumerate() {
                    if sorted.get(i + 1).is_some_and(|next| &next.0 == k) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    push_str(out, k);
                    out.push(':');
                    write(x, out);
                }
                out.push('}');
            }
        }
    }

    struct Parser<'a> {
        b: &'a [u8],
        pos: usize,
        text: &'a str,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while matches!(self.b.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.pos += 1;
            }
        }

        fn eat(&mut self, lit: &str) -> Option<()> {
            let end = self.pos + lit.len();
            (self.b.get(self.pos..end)? == lit.as_bytes()).then(|| self.pos = end)
        }

        fn value(&mut self, depth: usize) -> Option<Value> {
            if depth > 256 {
                return None;
            }
            self.ws();
            match *self.b.get(self.pos)? {
                b'n' => self.eat("null").map(|_| Value::Null),
                b't' => self.eat("true").map(|_| Value::Bool(true)),
                b'f' => self.eat("false").map(|_| Value::Bool(false)),
                b'"' => self.string().map(Value::String),
                b'[' => {
                    self.pos += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.eat("]").is_some() {
                        return Some(Value::Array(items));
                    }
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match *self.b.get(self.pos)? {
                            b',' => self.pos += 1,
                            b']' => {
                                self.pos += 1;
                                return Some(Value::Array(items));
                            }
                            _ => return None,
                        }
                    }
                }
                b'{' => {
                    self.pos += 1;
                    let mut pairs = Vec::new();
                    self.ws();
                    if self.eat("}").is_some() {
                        return Some(Value::Object(pairs));
                    }
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.ws();
                        self.eat(":")?;
                        pairs.push((k, self.value(depth + 1)?));
                        self.ws();
                        match *self.b.get(self.pos)? {
                            b',' => self.pos += 1,
                            b'}' => {
                                self.pos += 1;
                                return Some(Value::Object(pairs));
                            }
                            _ => return None,
                        }
                    }
                }
                _ => {
                    let start = self.pos;
                    while matches!(
                        self.b.get(self.pos),
                        Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    ) {
                        self.pos += 1;
                    }
                    let n = self.text.get(start..self.pos)?;
                    plain_decimal(n).map(|_| Value::Number(n.to_owned()))
                }
            }
        }

        fn string(&mut self) -> Option<String> {
            if self.b.get(self.pos) != Some(&b'"') {
                return None;
            }
            self.pos += 1;
            let mut s = String::new();
            loop {
                let rest = self.text.get(self.pos..)?;
                let stop = rest.find(['"', '\\'])?;
                s.push_str(&rest[..stop]);
                self.pos += stop;
                if self.b[self.pos] == b'"' {
                    self.pos += 1;
                    return Some(s);
                }
                // A backslash escape.
                let e = *self.b.get(self.pos + 1)?;
                self.pos += 2;
                match e {
                    b'"' => s.push('"'),
                    b'\\' => s.push('\\'),
                    b'/' => s.push('/'),
                    b'b' => s.push('\u{8}'),
                    b'f' => s.push('\u{c}'),
                    b'n' => s.push('\n'),
                    b'r' => s.push('\r'),
                    b't' => s.push('\t'),
                    b'u' => {
                        let hi = self.hex4()?;
                        let c = if (0xd800..0xdc00).contains(&hi) {
                            self.eat("\\u")?;
                            let lo = self.hex4()?;
                            if !(0xdc00..0xe000).contains(&lo) {
                                return None;
                            }
                            char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))?
                        } else {
                            char::from_u32(hi)?
                        };
                        s.push(c);
                    }
                    _ => return None,
                }
            }
        }

        fn hex4(&mut self) -> Option<u32> {
            let h = self.text.get(self.pos..self.pos + 4)?;
            let v = u32::from_str_radix(h, 16).ok()?;
            self.pos += 4;
            Some(v)
        }
    }
}

/// What [`resolve`] reads of one type from `pg_type`.
struct TypeRow {
    typtype: String,
    basetype: u32,
    elem: u32,
    delim: String,
    attr_names: Vec<String>,
    attr_types: Vec<u32>,
}

/// The [`JsonType`] of each of `oids`, looking up domains, array elements and composite
/// attributes in `pg_type` (types not found are [`JsonType::Text`]).
pub async fn resolve(
    client: &tokio_postgres::Client,
    oids: &[u32],
) -> Result<HashMap<u32, JsonType>, tokio_postgres::Error> {
    let mut rows: HashMap<u32, TypeRow> = HashMap::new();
    let mut wanted: Vec<u32> = oids
        .iter()
        .copied()
        .filter(|o| builtin(*o).is_none())
        .collect();
    // Nested types are looked up level by level; a few levels are plenty.
    for _ in 0..8 {
        wanted.retain(|o| !rows.contains_key(o));
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            break;
        }
        let found = client
            .query(
                "SELECT t.oid, t.typtype::text, t.typbasetype,
                        CASE WHEN t.typcategory = 'A' AND t.typlen = -1 THEN t.typelem ELSE 0::oid END,
                        coalesce(e.typdelim::text, ','),
                        coalesce(a.names, '{}'), coalesce(a.types, '{}')
                 FROM pg_type t
                 LEFT JOIN pg_type e ON e.oid = t.typelem
                 LEFT JOIN LATERAL (
                     SELECT array_agg(attname::text ORDER BY attnum) AS names,
                            array_agg(atttypid ORDER BY attnum) AS types
                     FROM pg_attribute
                     WHERE t.typtype = 'c' AND attrelid = t.typrelid AND attnum > 0
                       AND NOT attisdropped) a ON true
                 WHERE t.oid = ANY($1)",
                &[&wanted],
            )
            .await?;
        let mut next = Vec::new();
        for r in found {
            let row = TypeRow {
                typtype: r.get(1),
                basetype: r.get(2),
                elem: r.get(3),
                delim: r.get(4),
                attr_names: r.get(5),
                attr_types: r.get(6),
            };
            next.push(row.basetype);
            next.push(row.elem);
            next.extend(row.attr_types.iter().copied());
            rows.insert(r.get(0), row);
        }
        wanted = next
            .into_iter()
            .filter(|o| *o != 0 && builtin(*o).is_none())
            .collect();
    }
    Ok(oids.iter().map(|&o| (o, build(o, &rows, 0))).collect())
}

/// The JSON type of a built-in scalar type that `to_jsonb` treats specially.
fn builtin(oid: u32) -> Option<JsonType> {
    Some(match oid {
        20 | 21 | 23 => JsonType::Integer,
        700 | 701 => JsonType::Float,
        1700 => JsonType::Numeric,
        16 => JsonType::Bool,
        114 | 3802 => JsonType::Json,
        1114 | 1184 => JsonType::Timestamp,
        17 => JsonType::Bytea,
        _ => return None,
    })
}

fn build(oid: u32, rows: &HashMap<u32, TypeRow>, depth: usize) -> JsonType {
    if let Some(t) = builtin(oid) {
        return t;
    }
    let Some(r) = rows.get(&oid) else {
        return JsonType::Text;
    };
    if depth > 8 {
        return JsonType::Text;
    }
    if r.elem != 0 {
        return JsonType::Array {
            elem: Box::new(build(r.elem, rows, depth + 1)),
            delim: r.delim.chars().next().unwrap_or(','),
        };
    }
    match r.typtype.as_str() {
        "d" => JsonType::Domain(Box::new(build(r.basetype, rows, depth + 1))),
        "c" => JsonType::Composite(
            r.attr_names
                .iter()
                .cloned()
                .zip(r.attr_types.iter().map(|t| build(*t, rows, depth + 1)))
                .collect(),
        ),
        _ => JsonType::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: &JsonType, text: &str) -> String {
        let mut s = String::new();
        column_json(ty, text, &mut s);
        s
    }

    fn arr(elem: JsonType) -> JsonType {
        JsonType::Array {
            elem: Box::new(elem),
            delim: ',',
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(
            col(&JsonType::Integer, "9007199254740993"),
            "9007199254740993"
        );
        assert_eq!(col(&JsonType::Integer, "-17"), "-17");
        assert_eq!(col(&JsonType::Numeric, "1.50"), "1.50");
        assert_eq!(col(&JsonType::Numeric, "-0.001"), "-0.001");
        assert_eq!(
            col(&JsonType::Numeric, "123456789012345678901234567890.123"),
            "123456789012345678901234567890.123"
        );
        assert_eq!(col(&JsonType::Numeric, "NaN"), "null");
        assert_eq!(col(&JsonType::Float, "-Infinity"), "null");
        assert_eq!(
            col(&JsonType::Float, "1e+100"),
            format!("1{}", "0".repeat(100))
        );
        assert_eq!(col(&JsonType::Float, "1.5e-07"), "0.00000015");
        assert_eq!(col(&JsonType::Float, "-0"), "0");
        assert_eq!(col(&JsonType::Float, "1.2345e+2"), "123.45");
        assert_eq!(col(&JsonType::Float, "2.5e+1"), "25");
        assert_eq!(plain_decimal("1.0e2").as_deref(), Some("100"));
        assert_eq!(plain_decimal("1.50e1").as_deref(), Some("15.0"));
        assert_eq!(plain_decimal("-0.00").as_deref(), Some("0.00"));
        assert_eq!(plain_decimal("-1e0").as_deref(), Some("-1"));
        assert_eq!(plain_decimal("01"), None);
        assert_eq!(plain_decimal("1."), None);
        assert_eq!(plain_decimal("1e"), None);
        // Inside arrays to_jsonb decides: specials are strings.
        assert_eq!(
            col(&arr(JsonType::Numeric), "{1.5,NaN,NULL,Infinity}"),
            r#"[1.5,"NaN",null,"Infinity"]"#
        );
        // A domain over numeric is cast by to_jsonb, not written by wal2json.
        assert_eq!(
            col(&JsonType::Domain(Box::new(JsonType::Numeric)), "NaN"),
            r#""NaN""#
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(col(&JsonType::Bool, "t"), "true");
        assert_eq!(col(&JsonType::Bool, "f"), "false");
        assert_eq!(col(&JsonType::Text, "a \"q\"\n"), r#""a \"q\"\n""#);
        assert_eq!(col(&JsonType::Bytea, "\\xdeadbeef"), r#""deadbeef""#);
        assert_eq!(col(&arr(JsonType::Bytea), r#"{"\\xde"}"#), r#"["\\xde"]"#);
        assert_eq!(
            col(&JsonType::Timestamp, "2024-05-01 12:00:00.5+00"),
            r#""2024-05-01T12:00:00.5+00:00""#
        );
        assert_eq!(
            col(&JsonType::Timestamp, "2024-05-01 12:00:00-03:30"),
            r#""2024-05-01T12:00:00-03:30""#
        );
        assert_eq!(
            col(&JsonType::Timestamp, "0044-03-15 12:00:00+00:19:32 BC"),
            r#""0044-03-15T12:00:00+00:19:32 BC""#
        );
        assert_eq!(
            col(&JsonType::Timestamp, "2024-05-01 12:00:00"),
            r#""2024-05-01T12:00:00""#
        );
        assert_eq!(col(&JsonType::Timestamp, "infinity"), r#""infinity""#);
    }

    #[test]
    fn json_is_normalised_like_jsonb() {
        assert_eq!(
            col(
                &JsonType::Json,
                r#"{"bb": 1.0e2, "a": [true, null, "x\u00e9"], "a": 2}"#
            ),
            r#"{"a":2,"bb":100}"#
        );
        assert_eq!(col(&JsonType::Json, r#""\ud83d\ude00""#), "\"\u{1f600}\"");
        assert_eq!(col(&JsonType::Json, "not json"), r#""not json""#);
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert!(col(&JsonType::Json, &deep).starts_with('"'));
    }

    #[test]
    fn arrays_and_composites() {
        assert_eq!(
            col(&arr(JsonType::Text), r#"{a,"b c","NULL",NULL,"q\"\\"}"#),
            r#"["a","b c","NULL",null,"q\"\\"]"#
        );
        assert_eq!(
            col(&arr(JsonType::Integer), "{{1,2},{3,4}}"),
            "[[1,2],[3,4]]"
        );
        assert_eq!(col(&arr(JsonType::Integer), "[0:1]={1,2}"), "[1,2]");
        assert_eq!(col(&arr(JsonType::Integer), "{}"), "[]");
        assert_eq!(col(&arr(JsonType::Bool), "{t,f}"), "[true,false]");
        let boxes = JsonType::Array {
            elem: Box::new(JsonType::Text),
            delim: ';',
        };
        assert_eq!(
            col(&boxes, "{(1,1),(0,0);(2,2),(1,1)}"),
            r#"["(1,1),(0,0)","(2,2),(1,1)"]"#
        );
        let pair = JsonType::Composite(vec![
            ("name".into(), JsonType::Text),
            ("n".into(), JsonType::Integer),
            ("tags".into(), arr(JsonType::Text)),
            ("gone".into(), JsonType::Text),
        ]);
        assert_eq!(
            col(&pair, r#"("a ""b"" \\",7,"{x,""y z""}",)"#),
            r#"{"n":7,"gone":null,"name":"a \"b\" \\","tags":["x","y z"]}"#
        );
        assert_eq!(
            col(&arr(pair.clone()), r#"{"(x,1,{},\"\")"}"#),
            r#"[{"n":1,"gone":"","name":"x","tags":[]}]"#
        );
        // Malformed texts stay strings.
        assert_eq!(col(&pair, "(1,2)"), r#""(1,2)""#);
        assert_eq!(col(&arr(JsonType::Integer), "{1,2"), r#""{1,2""#);
        assert_eq!(col(&arr(JsonType::Integer), "{x}"), r#"["x"]"#);
    }
}
