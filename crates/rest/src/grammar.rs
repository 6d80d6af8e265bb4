//! The PostgREST query language: `select`, filters, `order`, logic trees (`or=(…)`), and the
//! query-string keys that carry them. Pure functions from strings to syntax trees; nothing here
//! knows the database. Every failure is a [`ApiError`] of code PGRST100 (400).

use crate::error::ApiError;

/// One JSON path step: `->key`, `->>key`, `->0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonStep {
    /// `true` for `->>` (text), `false` for `->` (json).
    pub text: bool,
    pub key: JsonKey,
}

/// The operand of a JSON path step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKey {
    Key(String),
    Index(i64),
}

/// A column, possibly followed by a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub path: Vec<JsonStep>,
}

impl Field {
    /// The key a selected field gets in the output when it has no alias: the last key of its
    /// JSON path (`data->1->mycol->>2` is `mycol`), else the column (`data->3` is `data`).
    pub fn output_name(&self) -> String {
        self.path
            .iter()
            .rev()
            .find_map(|s| match &s.key {
                JsonKey::Key(k) => Some(k.clone()),
                JsonKey::Index(_) => None,
            })
            .unwrap_or_else(|| self.name.clone())
    }
}

/// Aggregate functions available in `select` (when enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Avg,
    Max,
    Min,
}

impl Aggregate {
    pub fn sql_name(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Avg => "avg",
            Aggregate::Max => "max",
            Aggregate::Min => "min",
        }
    }
    fn parse(s: &str) -> Option<Aggregate> {
        Some(match s {
            "count" => Aggregate::Count,
            "sum" => Aggregate::Sum,
            "avg" => Aggregate::Avg,
            "max" => Aggregate::Max,
            "min" => Aggregate::Min,
            _ => return None,
        })
    }
}

/// How an embedded resource is joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Left,
    Inner,
}

/// One item of the `select` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`
    Star,
    /// A column (or `count()` when `field` is `None`), with alias, cast and aggregate.
    Field {
        alias: Option<String>,
        field: Option<Field>,
        cast: Option<String>,
        aggregate: Option<Aggregate>,
        aggregate_cast: Option<String>,
    },
    /// An embedded resource.
    Embed(Embed),
}

/// `alias:name!hint!inner(select)` or `...name(select)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embed {
    pub alias: Option<String>,
    pub name: String,
    pub hint: Option<String>,
    pub join: Option<JoinKind>,
    pub spread: bool,
    pub select: Vec<SelectItem>,
}

/// The comparison operators: `lhs <op> value`, or `lhs <op> ANY/ALL(array)` when quantified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
    Cs,
    Cd,
    Ov,
    Sl,
    Sr,
    Nxl,
    Nxr,
    Adj,
}

impl Cmp {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Neq => "<>",
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
            Cmp::Like => "LIKE",
            Cmp::Ilike => "ILIKE",
            Cmp::Match => "~",
            Cmp::Imatch => "~*",
            Cmp::Cs => "@>",
            Cmp::Cd => "<@",
            Cmp::Ov => "&&",
            Cmp::Sl => "<<",
            Cmp::Sr => ">>",
            Cmp::Nxl => "&>",
            Cmp::Nxr => "&<",
            Cmp::Adj => "-|-",
        }
    }

    /// Whether the value is a LIKE pattern (`*` stands for `%`).
    pub fn is_like(self) -> bool {
        matches!(self, Cmp::Like | Cmp::Ilike)
    }

    /// Whether `(any)`/`(all)` may modify it.
    fn quantifiable(self) -> bool {
        matches!(
            self,
            Cmp::Eq
                | Cmp::Neq
                | Cmp::Gt
                | Cmp::Gte
                | Cmp::Lt
                | Cmp::Lte
                | Cmp::Like
                | Cmp::Ilike
                | Cmp::Match
                | Cmp::Imatch
        )
    }
}

/// The full-text search operators, by the `tsquery` function they use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fts {
    /// `fts`: `to_tsquery`.
    Plain,
    /// `plfts`: `plainto_tsquery`.
    Words,
    /// `phfts`: `phraseto_tsquery`.
    Phrase,
    /// `wfts`: `websearch_to_tsquery`.
    Web,
}

impl Fts {
    /// The `tsquery` function.
    pub fn function(self) -> &'static str {
        match self {
            Fts::Plain => "to_tsquery",
            Fts::Words => "plainto_tsquery",
            Fts::Phrase => "phraseto_tsquery",
            Fts::Web => "websearch_to_tsquery",
        }
    }
}

/// A filter operator as named in the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpName {
    Cmp(Cmp),
    In,
    Is,
    IsDistinct,
    Fts(Fts),
}

impl OpName {
    fn parse(s: &str) -> Option<OpName> {
        Some(match s {
            "eq" => OpName::Cmp(Cmp::Eq),
            "neq" => OpName::Cmp(Cmp::Neq),
            "gt" => OpName::Cmp(Cmp::Gt),
            "gte" => OpName::Cmp(Cmp::Gte),
            "lt" => OpName::Cmp(Cmp::Lt),
            "lte" => OpName::Cmp(Cmp::Lte),
            "like" => OpName::Cmp(Cmp::Like),
            "ilike" => OpName::Cmp(Cmp::Ilike),
            "match" => OpName::Cmp(Cmp::Match),
            "imatch" => OpName::Cmp(Cmp::Imatch),
            "cs" => OpName::Cmp(Cmp::Cs),
            "cd" => OpName::Cmp(Cmp::Cd),
            "ov" => OpName::Cmp(Cmp::Ov),
            "sl" => OpName::Cmp(Cmp::Sl),
            "sr" => OpName::Cmp(Cmp::Sr),
            "nxl" => OpName::Cmp(Cmp::Nxl),
            "nxr" => OpName::Cmp(Cmp::Nxr),
            "adj" => OpName::Cmp(Cmp::Adj),
            "is" => OpName::Is,
            "isdistinct" => OpName::IsDistinct,
            "in" => OpName::In,
            "fts" => OpName::Fts(Fts::Plain),
            "plfts" => OpName::Fts(Fts::Words),
            "phfts" => OpName::Fts(Fts::Phrase),
            "wfts" => OpName::Fts(Fts::Web),
            _ => return None,
        })
    }
}

/// `any`/`all` modifier of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

/// The value of `is.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

/// What a filter asks of its field: each operator with the operand it takes, so an operator
/// without its rendering, or with the wrong operand, does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// `eq.5`: a comparison with one value (a bind parameter).
    Compare { op: Cmp, value: String },
    /// `like(any).{a*,b*}`: a comparison with any or all of a list.
    Quantified {
        op: Cmp,
        quantifier: Quantifier,
        items: Vec<String>,
    },
    /// `in.(a,b)`.
    In(Vec<String>),
    /// `is.null`, `is.true`, …
    Is(IsValue),
    /// `isdistinct.v`.
    IsDistinct(String),
    /// `fts(lang).query` and its kin.
    Fts {
        kind: Fts,
        lang: Option<String>,
        query: String,
    },
}

/// `op.value`, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpExpr {
    pub negated: bool,
    pub pred: Predicate,
}

/// A filter on a field of some (possibly embedded) resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Embedded resource path (`clients.projects.id=…` has `["clients","projects"]`).
    pub path: Vec<String>,
    pub field: Field,
    pub expr: OpExpr,
}

/// A boolean tree of filters from `or=(…)`/`and=(…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logic {
    Filter(Filter),
    Tree {
        negated: bool,
        or: bool,
        children: Vec<Logic>,
    },
}

/// Sort direction and null placement of one `order` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// `Some(rel)` for `rel(col)` (order by a to-one embedded column).
    pub relation: Option<String>,
    pub field: Field,
    pub desc: bool,
    pub nulls_first: Option<bool>,
}

fn err(what: &str, input: &str, details: impl Into<String>) -> ApiError {
    ApiError::parse(
        format!("\"failed to parse {what} ({input})\""),
        details.into(),
    )
}

fn err_at(what: &str, input: &str, col: usize, details: impl Into<String>) -> ApiError {
    ApiError::parse(
        format!("\"failed to parse {what} ({input})\" (line 1, column {col})"),
        details.into(),
    )
}

/// A character cursor with 1-based column numbers for error messages.
struct Cursor<'a> {
    chars: Vec<char>,
    pos: usize,
    what: &'a str,
    /// The text errors show (the parameter's value; the parsed text may add a prefix to it).
    input: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(what: &'a str, input: &'a str) -> Self {
        Cursor::named(what, input, input)
    }

    /// A cursor over `parsed` whose errors show `shown`.
    fn named(what: &'a str, shown: &'a str, parsed: &str) -> Self {
        Cursor {
            chars: parsed.chars().collect(),
            pos: 0,
            what,
            input: shown,
        }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }
    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.pos += s.chars().count();
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.pos += 1;
        }
    }
    fn error(&self, details: impl Into<String>) -> ApiError {
        err_at(self.what, self.input, self.pos + 1, details)
    }
    fn unexpected(&self, expecting: &str) -> ApiError {
        match self.peek() {
            Some(c) => self.error(format!("unexpected \"{c}\" expecting {expecting}")),
            None => self.error(format!("unexpected end of input expecting {expecting}")),
        }
    }
    /// An identifier: a quoted `"name"` or a run of characters other than the delimiters.
    fn ident(&mut self, stops: &[char]) -> Result<String, ApiError> {
        self.skip_ws();
        if self.peek() == Some('"') {
            self.pos += 1;
            let mut out = String::new();
            loop {
                match self.peek() {
                    None => return Err(self.unexpected("\"\\\"\"")),
                    Some('"') => {
                        self.pos += 1;
                        break;
                    }
                    Some('\\') if self.peek_at(1).is_some() => {
                        out.push(self.peek_at(1).unwrap_or('\\'));
                        self.pos += 2;
                    }
                    Some(c) => {
                        out.push(c);
                        self.pos += 1;
                    }
                }
            }
            self.skip_ws();
            return Ok(out);
        }
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if stops.contains(&c) || c.is_whitespace() {
                break;
            }
            if c == '-' && matches!(self.peek_at(1), Some('>')) {
                break;
            }
            if c == ':' && self.peek_at(1) == Some(':') {
                break;
            }
            out.push(c);
            self.pos += 1;
        }
        if out.is_empty() {
            return Err(self.unexpected("field name (* or [a..z0..9_$])"));
        }
        self.skip_ws();
        Ok(out)
    }
    /// A type name after `::`.
    fn type_name(&mut self) -> Result<String, ApiError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' || c == '[' || c == ']' {
                out.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if out.is_empty() {
            return Err(self.unexpected("letter or digit"));
        }
        Ok(out)
    }
    /// JSON path steps after a field name.
    fn json_path(&mut self, _stops: &[char]) -> Result<Vec<JsonStep>, ApiError> {
        let mut path = Vec::new();
        loop {
            let text = if self.eat("->>") {
                true
            } else if self.eat("->") {
                false
            } else {
                break;
            };
            let key = self.json_operand()?;
            path.push(JsonStep { text, key });
        }
        Ok(path)
    }
}

impl Cursor<'_> {
    /// The operand after `->`/`->>`: an index (an optional minus and digits, ending where the
    /// path, a cast, an order direction or the list does) or else a key name.
    fn json_operand(&mut self) -> Result<JsonKey, ApiError> {
        let start = self.pos;
        if matches!(self.peek(), Some(c) if c == '-' || c.is_ascii_digit()) {
            let negative = self.eat("-");
            if !matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                return Err(self.unexpected("digit"));
            }
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.pos += 1;
            }
            let ends = self.done()
                || self.starts_with("->")
                || self.starts_with("::")
                || matches!(self.peek(), Some('.' | ',' | ')'));
            if ends {
                let s: String = self.chars[start..self.pos].iter().collect();
                return Ok(match s.parse::<i64>() {
                    Ok(i) => JsonKey::Index(i),
                    Err(_) => JsonKey::Key(s),
                });
            }
            if negative {
                let c = self.peek().unwrap_or(' ');
                return Err(self.error(format!(
                    "unexpected '{c}' expecting digit, \"->\", \"::\", \".\", \",\" or end of input"
                )));
            }
            // Digits followed by more text (`23-xy-45`, `0xy1`) make a key.
            self.pos = start;
        }
        self.json_key_name().map(JsonKey::Key)
    }

    /// A JSON key name: quoted, or runs of any characters but `(-:.,>)` joined by dashes that
    /// do not start an arrow; each run is trimmed.
    fn json_key_name(&mut self) -> Result<String, ApiError> {
        if self.peek() == Some('"') {
            return self.ident(&[]);
        }
        let mut parts: Vec<String> = Vec::new();
        loop {
            let from = self.pos;
            while matches!(self.peek(), Some(c) if !"(-:.,>)".contains(c)) {
                self.pos += 1;
            }
            if self.pos == from {
                return Err(self.unexpected(if parts.is_empty() {
                    "\"-\", digit or any non reserved character different from: .,>()"
                } else {
                    "any non reserved character different from: .,>()"
                }));
            }
            let run: String = self.chars[from..self.pos].iter().collect();
            parts.push(run.trim().to_string());
            if self.peek() == Some('-') && self.peek_at(1) != Some('>') {
                self.pos += 1;
                continue;
            }
            return Ok(parts.join("-"));
        }
    }
}

const SELECT_STOPS: &[char] = &[',', '(', ')', ':', '!', '.'];

/// How deeply parenthesised groups may nest: embeds inside `select`, and `and(…)`/`or(…)`
/// groups of a logic tree (the outer parentheses of `or=(…)` count as the first level).
/// PostgREST itself sets no limit; real queries stay within a handful of levels, and the
/// bound keeps every later walk over the parsed tree (planner, SQL builder) shallow.
pub const MAX_NESTING: usize = 64;

impl Cursor<'_> {
    /// The error for a group that would nest deeper than [`MAX_NESTING`].
    fn too_deep(&self) -> ApiError {
        self.error(format!(
            "nesting deeper than {MAX_NESTING} levels of parentheses"
        ))
    }
}

/// Parse the `select` parameter.
///
/// Iterative: an explicit stack holds the embeds being parsed, so no input can exhaust the
/// thread's stack; nesting beyond [`MAX_NESTING`] is a parse error.
pub fn parse_select(input: &str) -> Result<Vec<SelectItem>, ApiError> {
    let mut c = Cursor::new("select parameter", input);
    // The embeds whose `(` is open, each with the items of the list it appears in.
    let mut open: Vec<(EmbedHead, Vec<SelectItem>)> = Vec::new();
    let mut items = Vec::new();
    let mut list_start = true;
    loop {
        c.skip_ws();
        let another = if list_start {
            !(c.done() || c.peek() == Some(')'))
        } else {
            c.eat(",")
        };
        list_start = false;
        if another {
            match select_item(&mut c)? {
                Parsed::Item(item) => items.push(item),
                Parsed::Open(head) => {
                    if open.len() >= MAX_NESTING {
                        return Err(c.too_deep());
                    }
                    open.push((head, std::mem::take(&mut items)));
                    list_start = true;
                }
            }
            continue;
        }
        // The current list ends here: either the whole parameter or an embed's `(…)`.
        let Some((head, parent)) = open.pop() else {
            break;
        };
        if !c.eat(")") {
            return Err(c.unexpected("\")\""));
        }
        c.skip_ws();
        let select = std::mem::replace(&mut items, parent);
        items.push(SelectItem::Embed(head.with_select(select)));
    }
    // What follows a complete list is left unread, as PostgREST's select parser leaves it
    // (`select=name,projects(count)'` reads as `name,projects(count)`).
    Ok(items)
}

/// An embed up to and including its `(`; its list follows.
struct EmbedHead {
    alias: Option<String>,
    name: String,
    hint: Option<String>,
    join: Option<JoinKind>,
    spread: bool,
}

impl EmbedHead {
    fn with_select(self, select: Vec<SelectItem>) -> Embed {
        Embed {
            alias: self.alias,
            name: self.name,
            hint: self.hint,
            join: self.join,
            spread: self.spread,
            select,
        }
    }
}

/// One step of an iterative parser: a complete item, or a group whose `(` was just consumed.
enum Parsed<I, G> {
    Item(I),
    Open(G),
}

/// One step of the select parser: an item, or an embed whose list starts next.
type SelectParsed = Parsed<SelectItem, EmbedHead>;

fn select_item(c: &mut Cursor) -> Result<SelectParsed, ApiError> {
    c.skip_ws();
    if c.eat("*") {
        c.skip_ws();
        return Ok(Parsed::Item(SelectItem::Star));
    }
    let spread = c.eat("...");
    let first = c.ident(SELECT_STOPS)?;
    // alias?
    let (alias, name) = if c.peek() == Some(':') && c.peek_at(1) != Some(':') {
        c.pos += 1;
        if spread {
            return Err(c.unexpected("field name"));
        }
        let n = c.ident(SELECT_STOPS)?;
        (Some(first), n)
    } else {
        (None, first)
    };
    // count()
    if name == "count" && c.starts_with("()") {
        c.pos += 2;
        let cast = if c.eat("::") {
            Some(c.type_name()?)
        } else {
            None
        };
        c.skip_ws();
        return Ok(Parsed::Item(SelectItem::Field {
            alias,
            field: None,
            cast: None,
            aggregate: Some(Aggregate::Count),
            aggregate_cast: cast,
        }));
    }
    // embed?
    if c.peek() == Some('!') || c.peek() == Some('(') {
        let mut hint = None;
        let mut join = None;
        while c.eat("!") {
            let h = c.ident(SELECT_STOPS)?;
            match h.as_str() {
                "inner" => join = Some(JoinKind::Inner),
                "left" => join = Some(JoinKind::Left),
                _ => hint = Some(h),
            }
        }
        if !c.eat("(") {
            return Err(c.unexpected("\"(\""));
        }
        return Ok(Parsed::Open(EmbedHead {
            alias,
            name,
            hint,
            join,
            spread,
        }));
    }
    if spread {
        return Err(c.unexpected("\"(\""));
    }
    let path = c.json_path(SELECT_STOPS)?;
    let mut cast = if c.eat("::") {
        Some(c.type_name()?)
    } else {
        None
    };
    let mut aggregate = None;
    let mut aggregate_cast = None;
    if c.peek() == Some('.') {
        c.pos += 1;
        let agg = c.ident(SELECT_STOPS)?;
        let a = Aggregate::parse(&agg)
            .filter(|_| c.starts_with("()"))
            .ok_or_else(|| c.unexpected("aggregate function"))?;
        c.pos += 2;
        aggregate = Some(a);
        if c.eat("::") {
            aggregate_cast = Some(c.type_name()?);
        }
    } else if cast.is_none() && c.eat("::") {
        cast = Some(c.type_name()?);
    }
    c.skip_ws();
    Ok(Parsed::Item(SelectItem::Field {
        alias,
        field: Some(Field { name, path }),
        cast,
        aggregate,
        aggregate_cast,
    }))
}

/// Parse a field (column with JSON path) used as a filter key or order term.
pub fn parse_field(input: &str, what: &str) -> Result<Field, ApiError> {
    let mut c = Cursor::new(what, input);
    let name = c.ident(&[',', '(', ')'])?;
    let path = c.json_path(&[',', '(', ')'])?;
    if !c.done() {
        return Err(c.unexpected("end of input"));
    }
    Ok(Field { name, path })
}

/// The value of `is.`: `null`, `not_null`, `true`, `false` or `unknown` in lower or upper
/// case letters, read as PostgREST reads it (what follows the word is ignored). Otherwise
/// PGRST100 at the furthest character any of the words matched up to.
fn is_value(operand: &str, value: &str) -> Result<IsValue, ApiError> {
    const WORDS: [(&str, IsValue); 5] = [
        ("null", IsValue::Null),
        ("not_null", IsValue::NotNull),
        ("true", IsValue::True),
        ("false", IsValue::False),
        ("unknown", IsValue::Unknown),
    ];
    let chars: Vec<char> = operand.chars().collect();
    // How far each word matches: a letter in lower or upper case.
    let matched = |word: &str| {
        word.chars()
            .zip(chars.iter())
            .take_while(|(w, c)| *c == w || **c == w.to_ascii_uppercase())
            .count()
    };
    if let Some((_, v)) = WORDS.iter().find(|(w, _)| matched(w) == w.len()) {
        return Ok(*v);
    }
    let furthest = WORDS.iter().map(|(w, _)| matched(w)).max().unwrap_or(0);
    let unexpected = chars
        .get(furthest)
        .map(|c| format!("\"{c}\""))
        .unwrap_or_else(|| "end of input".into());
    let col = value.chars().count() - chars.len() + furthest + 1;
    Err(err_at(
        "filter",
        value,
        col,
        format!("unexpected {unexpected} expecting isVal: (null, not_null, true, false, unknown)"),
    ))
}

/// The operator names a filter value may start with.
const OPERATOR_NAMES: &[&str] = &[
    "not",
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "like",
    "ilike",
    "match",
    "imatch",
    "cs",
    "cd",
    "ov",
    "sl",
    "sr",
    "nxl",
    "nxr",
    "adj",
    "is",
    "isdistinct",
    "in",
    "fts",
    "plfts",
    "phfts",
    "wfts",
];

/// PGRST100 for a filter value that starts with no operator at all (`id=0`): the error is
/// at column 1 and shows the first character that departs from `not`, as PostgREST says it.
fn no_operator(value: &str) -> Option<ApiError> {
    if OPERATOR_NAMES.iter().any(|op| value.starts_with(op)) {
        return None;
    }
    let unexpected = value
        .chars()
        .zip("not".chars().map(Some).chain(std::iter::repeat(None)))
        .find(|(c, n)| Some(*c) != *n)
        .map(|(c, _)| format!("\"{c}\""))
        .unwrap_or_else(|| "end of input".into());
    Some(err_at(
        "filter",
        value,
        1,
        format!("unexpected {unexpected} expecting \"not\" or operator (eq, gt, ...)"),
    ))
}

/// Split a filter value `not.op(mod).rest` into an [`OpExpr`].
pub fn parse_op_expr(value: &str) -> Result<OpExpr, ApiError> {
    if let Some(e) = no_operator(value) {
        return Err(e);
    }
    let (negated, rest) = match value.strip_prefix("not.") {
        Some(r) => (true, r),
        None => (false, value),
    };
    let (op_part, operand) = match rest.find('.') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => {
            return Err(err(
                "filter",
                value,
                "unexpected end of input expecting operator (eq, gt, ...)",
            ))
        }
    };
    let (op_name, modifier) = match op_part.find('(') {
        Some(i) if op_part.ends_with(')') => {
            (&op_part[..i], Some(&op_part[i + 1..op_part.len() - 1]))
        }
        _ => (op_part, None),
    };
    let op = OpName::parse(op_name)
        .ok_or_else(|| err("filter", value, format!("unknown operator \"{op_name}\"")))?;
    let filter_err = |d: &str| err("filter", value, d.to_string());
    let no_modifier = || match modifier {
        Some(_) => Err(filter_err("unexpected modifier")),
        None => Ok(()),
    };
    let pred = match op {
        OpName::Fts(kind) => Predicate::Fts {
            kind,
            lang: modifier.map(str::to_string),
            query: operand.to_string(),
        },
        OpName::Is => {
            no_modifier()?;
            Predicate::Is(is_value(operand, value)?)
        }
        OpName::In => {
            no_modifier()?;
            Predicate::In(parse_in_list(operand, value)?)
        }
        OpName::IsDistinct => match modifier {
            None => Predicate::IsDistinct(operand.to_string()),
            Some("any" | "all") => return Err(filter_err("operator does not accept a modifier")),
            Some(_) => return Err(filter_err("unknown modifier, expecting any or all")),
        },
        OpName::Cmp(op) => match modifier {
            None => Predicate::Compare {
                op,
                value: operand.to_string(),
            },
            Some(m) => {
                let quantifier = match m {
                    "any" => Quantifier::Any,
                    "all" => Quantifier::All,
                    _ => return Err(filter_err("unknown modifier, expecting any or all")),
                };
                if !op.quantifiable() {
                    return Err(filter_err("operator does not accept a modifier"));
                }
                Predicate::Quantified {
                    op,
                    quantifier,
                    items: parse_list(operand, '{', '}', value)?,
                }
            }
        },
    };
    Ok(OpExpr { negated, pred })
}

/// The list of `in.(…)`: spaces and tabs may surround the parentheses; an item is a quoted
/// value (`\` escaping any character) when a `,` or `)` follows its closing quote, otherwise
/// the text up to the next `,` or `)` as it is (quotes, backslashes and spaces included).
/// `()` (or only blanks inside) is the empty list.
fn parse_in_list(s: &str, whole: &str) -> Result<Vec<String>, ApiError> {
    let chars: Vec<char> = s.chars().collect();
    let blanks = |mut i: usize| {
        while matches!(chars.get(i), Some(' ' | '\t')) {
            i += 1;
        }
        i
    };
    let enclosed = || err("filter", whole, "expecting a list enclosed in ()");
    let mut i = blanks(0);
    if chars.get(i) != Some(&'(') {
        return Err(enclosed());
    }
    i = blanks(i + 1);
    let mut items = Vec::new();
    loop {
        let (item, end) = quoted_item(&chars, i).unwrap_or_else(|| {
            let mut j = i;
            while j < chars.len() && chars[j] != ',' && chars[j] != ')' {
                j += 1;
            }
            (chars[i..j].iter().collect(), j)
        });
        items.push(item);
        i = end;
        if chars.get(i) != Some(&',') {
            break;
        }
        i += 1;
    }
    if chars.get(i) != Some(&')') || blanks(i + 1) != chars.len() {
        return Err(enclosed());
    }
    if items.len() == 1 && items[0].is_empty() {
        items.clear();
    }
    Ok(items)
}

/// A `"…"` item of an `in` list starting at `at`, with the index after its closing quote, when
/// that quote is followed by `,` or `)`.
fn quoted_item(chars: &[char], at: usize) -> Option<(String, usize)> {
    if chars.get(at) != Some(&'"') {
        return None;
    }
    let mut out = String::new();
    let mut j = at + 1;
    loop {
        match chars.get(j)? {
            '"' => break,
            '\\' => {
                out.push(*chars.get(j + 1)?);
                j += 2;
            }
            c => {
                out.push(*c);
                j += 1;
            }
        }
    }
    matches!(chars.get(j + 1), Some(',' | ')')).then_some((out, j + 1))
}

/// `(a,"b,c",d)` → items; double quotes group, `\` escapes inside quotes.
fn parse_list(s: &str, open: char, close: char, whole: &str) -> Result<Vec<String>, ApiError> {
    let inner = s
        .trim()
        .strip_prefix(open)
        .and_then(|r| r.strip_suffix(close))
        .ok_or_else(|| {
            err(
                "filter",
                whole,
                format!("expecting a list enclosed in {open}{close}"),
            )
        })?;
    let mut items = Vec::new();
    if inner.trim().is_empty() {
        return Ok(items);
    }
    let chars: Vec<char> = inner.chars().collect();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        let mut item = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                item.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err(err("filter", whole, "unterminated quoted value"));
            }
            i += 1;
            while i < chars.len() && chars[i] == ' ' {
                i += 1;
            }
        } else {
            while i < chars.len() && chars[i] != ',' {
                item.push(chars[i]);
                i += 1;
            }
            item = item.trim().to_string();
        }
        items.push(item);
        if i >= chars.len() {
            break;
        }
        if chars[i] != ',' {
            return Err(err("filter", whole, "expecting \",\" between list items"));
        }
        i += 1;
    }
    Ok(items)
}

/// Parse a logic tree value such as `(a.eq.1,and(b.gt.2,c.lt.3))` for key `or`/`and`.
///
/// Iterative like [`parse_select`]: groups nested beyond [`MAX_NESTING`] are a parse error.
pub fn parse_logic(negated: bool, or: bool, value: &str) -> Result<Logic, ApiError> {
    // Parsed as the operator followed by the value (`or(…)`), as PostgREST parses it, so
    // columns in errors count from the operator; errors show the value.
    let op = match (negated, or) {
        (false, true) => "or",
        (false, false) => "and",
        (true, true) => "not.or",
        (true, false) => "not.and",
    };
    let whole = format!("{op}{value}");
    let mut c = Cursor::named("logic tree", value, &whole);
    c.pos = op.len();
    c.skip_ws();
    if !c.eat("(") {
        return Err(c.unexpected("\"(\""));
    }
    // The enclosing groups whose `(` is open, each with its children so far.
    let mut open: Vec<(bool, bool, Vec<Logic>)> = Vec::new();
    let mut children = Vec::new();
    loop {
        c.skip_ws();
        match logic_item(&mut c)? {
            Parsed::Item(item) => children.push(item),
            Parsed::Open(group) => {
                // `open` holds the enclosing groups, plus the current one and the new one.
                if open.len() + 2 > MAX_NESTING {
                    return Err(c.too_deep());
                }
                open.push((group.negated, group.or, std::mem::take(&mut children)));
                continue;
            }
        }
        // After an item: more items, or the end of one or more groups.
        loop {
            c.skip_ws();
            if c.eat(",") {
                break;
            }
            if !c.eat(")") {
                return Err(c.unexpected("\",\" or \")\""));
            }
            let Some((negated, or, parent)) = open.pop() else {
                // Whatever follows the outermost `)` is ignored, as PostgREST's parser stops
                // there: `and=(id.eq.1,id.neq.2))` filters on both conditions.
                return Ok(Logic::Tree {
                    negated,
                    or,
                    children,
                });
            };
            let inner = std::mem::replace(&mut children, parent);
            children.push(Logic::Tree {
                negated,
                or,
                children: inner,
            });
        }
    }
}

/// A nested `and(`/`or(`/`not.and(`/`not.or(` group, its `(` consumed.
struct LogicGroup {
    negated: bool,
    or: bool,
}

/// One step of the logic tree parser: a filter, or a group whose children start next.
type LogicParsed = Parsed<Logic, LogicGroup>;

fn logic_item(c: &mut Cursor) -> Result<LogicParsed, ApiError> {
    for (prefix, negated, or) in [
        ("not.and", true, false),
        ("not.or", true, true),
        ("and", false, false),
        ("or", false, true),
    ] {
        if c.starts_with(prefix) {
            let save = c.pos;
            c.pos += prefix.len();
            c.skip_ws();
            if c.eat("(") {
                return Ok(Parsed::Open(LogicGroup { negated, or }));
            }
            c.pos = save;
        }
    }
    // field[.embed...].[not.]op.value  — value runs to the next top-level `,` or `)`.
    if matches!(c.peek(), None | Some(',' | '(' | ')')) {
        return Err(c.unexpected(
            "field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)",
        ));
    }
    let start = c.pos;
    let mut segments: Vec<String> = Vec::new();
    let field = loop {
        let name = c.ident(&[',', '(', ')', '.'])?;
        let path = c.json_path(&[',', '(', ')', '.'])?;
        if !c.eat(".") {
            return Err(c.unexpected("\".\""));
        }
        // Is what follows an operator?
        let rest: String = c.chars[c.pos..].iter().collect();
        let next = rest
            .split(['.', '(', ',', ')'])
            .next()
            .unwrap_or_default()
            .to_string();
        if OpName::parse(&next).is_some() || next == "not" {
            break Field { name, path };
        }
        if !path.is_empty() {
            return Err(c.unexpected("operator"));
        }
        segments.push(name);
    };
    let vstart = c.pos;
    let mut depth = 0i32;
    let mut in_quotes = false;
    while let Some(ch) = c.peek() {
        if in_quotes {
            if ch == '\\' {
                c.pos += 1;
            } else if ch == '"' {
                in_quotes = false;
            }
        } else if ch == '"' {
            in_quotes = true;
        } else if ch == '(' || ch == '{' || ch == '[' {
            depth += 1;
        } else if ch == ')' || ch == '}' || ch == ']' {
            if depth == 0 && ch == ')' {
                break;
            }
            depth -= 1;
        } else if ch == ',' && depth == 0 {
            break;
        }
        c.pos += 1;
    }
    let raw: String = c.chars[vstart..c.pos].iter().collect();
    let raw = raw.trim_end().to_string();
    if raw.is_empty() {
        c.pos = start;
        return Err(c.unexpected("filter"));
    }
    let mut expr = parse_op_expr(&raw)?;
    match &mut expr.pred {
        Predicate::Compare { value: v, .. }
        | Predicate::IsDistinct(v)
        | Predicate::Fts { query: v, .. } => *v = unquote(v),
        Predicate::Quantified { .. } | Predicate::In(_) | Predicate::Is(_) => {}
    }
    Ok(Parsed::Item(Logic::Filter(Filter {
        path: segments,
        field,
        expr,
    })))
}

/// Strip surrounding double quotes from a logic-tree value, resolving `\` escapes.
fn unquote(v: &str) -> String {
    let t = v.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        let mut out = String::new();
        let mut it = t[1..t.len() - 1].chars();
        while let Some(ch) = it.next() {
            if ch == '\\' {
                if let Some(n) = it.next() {
                    out.push(n);
                }
            } else {
                out.push(ch);
            }
        }
        out
    } else {
        v.to_string()
    }
}

/// Parse the `order` parameter.
pub fn parse_order(input: &str) -> Result<Vec<OrderTerm>, ApiError> {
    let mut terms = Vec::new();
    let mut c = Cursor::new("order", input);
    loop {
        c.skip_ws();
        let first = c.ident(&[',', '(', ')', '.'])?;
        let (relation, field) = if c.eat("(") {
            let name = c.ident(&[',', '(', ')', '.'])?;
            let path = c.json_path(&[',', '(', ')', '.'])?;
            if !c.eat(")") {
                return Err(c.unexpected("\")\""));
            }
            (Some(first), Field { name, path })
        } else {
            let path = c.json_path(&[',', '(', ')', '.'])?;
            (None, Field { name: first, path })
        };
        let mut desc = false;
        let mut nulls_first = None;
        // `.asc`/`.desc`, then `.nullsfirst`/`.nullslast`, each optional, in that order.
        let mut options: &[&str] = &["asc", "desc", "nullsfirst", "nullslast"];
        while !options.is_empty() && c.peek() == Some('.') {
            c.pos += 1;
            let Some(k) = options.iter().copied().find(|k| c.starts_with(k)) else {
                // PostgREST shows where the first choice departs from the input, at the
                // column where the word starts.
                let at = c.pos;
                let first = options[0];
                let unexpected = first
                    .chars()
                    .enumerate()
                    .map(|(i, k)| c.peek_at(i).filter(|&x| x != k))
                    .find(|d| d.is_some())
                    .flatten()
                    .or_else(|| c.peek_at(first.chars().count()));
                let unexpected = unexpected
                    .map(|x| format!("\"{x}\""))
                    .unwrap_or_else(|| "end of input".into());
                let expecting = if options.len() == 4 {
                    "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
                } else {
                    "\"nullsfirst\" or \"nullslast\""
                };
                c.pos = at;
                return Err(c.error(format!("unexpected {unexpected} expecting {expecting}")));
            };
            c.pos += k.len();
            match k {
                "asc" | "desc" => {
                    desc = k == "desc";
                    options = &["nullsfirst", "nullslast"];
                }
                _ => {
                    nulls_first = Some(k == "nullsfirst");
                    options = &[];
                }
            }
            // The term ends after a modifier, or another modifier follows.
            match c.peek() {
                None | Some(',') => {}
                Some('.') if !options.is_empty() => {}
                Some(next) => {
                    return Err(c.error(format!(
                        "unexpected '{next}' expecting \",\" or end of input"
                    )))
                }
            }
        }
        terms.push(OrderTerm {
            relation,
            field,
            desc,
            nulls_first,
        });
        c.skip_ws();
        if c.done() {
            break;
        }
        if !c.eat(",") {
            return Err(c.unexpected("\",\""));
        }
    }
    Ok(terms)
}

/// Parse a comma-separated column list (`columns=`, `on_conflict=`).
pub fn parse_columns(input: &str, what: &str) -> Result<Vec<String>, ApiError> {
    let mut c = Cursor::new(what, input);
    let mut out = Vec::new();
    loop {
        out.push(c.ident(&[',', '(', ')'])?);
        if c.done() {
            break;
        }
        if !c.eat(",") {
            return Err(c.unexpected("\",\""));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_with_embeds_aliases_casts() {
        let s = parse_select("id, name:n::text, clients!inner(*), ...tasks(id,x:data->a->>0)")
            .expect("parses");
        assert_eq!(s.len(), 4);
        match &s[1] {
            SelectItem::Field {
                alias, field, cast, ..
            } => {
                assert_eq!(alias.as_deref(), Some("name"));
                assert_eq!(field.as_ref().map(|f| f.name.as_str()), Some("n"));
                assert_eq!(cast.as_deref(), Some("text"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match &s[3] {
            SelectItem::Embed(e) => {
                assert!(e.spread);
                assert_eq!(e.select.len(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn select_bad_json_path_matches_postgrest() {
        let e = parse_select("data->>--34").expect_err("fails");
        assert_eq!(
            e.message(),
            "\"failed to parse select parameter (data->>--34)\" (line 1, column 9)"
        );
        assert_eq!(
            e.details().as_deref(),
            Some("unexpected \"-\" expecting digit")
        );
    }

    #[test]
    fn what_follows_a_complete_select_list_is_left_unread() {
        let s = parse_select("name,projects(count)'").expect("stray quote");
        assert_eq!(s.len(), 2);
        let s = parse_select("name,...processes(name,...process_costs(cost)))").expect("extra )");
        assert_eq!(s.len(), 2);
        // Inside an embed the list must still close.
        let e = parse_select("name,projects(count").expect_err("unclosed");
        assert_eq!(e.code(), "PGRST100");
    }

    #[test]
    fn aggregates() {
        let s = parse_select("total:invoice_total.sum()::text,count()").expect("parses");
        assert!(matches!(
            &s[0],
            SelectItem::Field { aggregate: Some(Aggregate::Sum), aggregate_cast: Some(t), .. } if t == "text"
        ));
        assert!(matches!(&s[1], SelectItem::Field { field: None, .. }));
    }

    #[test]
    fn parse_errors_name_what_was_expected_as_postgrest_does() {
        let e = parse_logic(false, true, "()").expect_err("zero conditions");
        assert_eq!(
            e.message,
            "\"failed to parse logic tree (())\" (line 1, column 4)"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("unexpected \")\" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)")
        );
        let e = parse_order("id.asc.nullslasttt").expect_err("bad order");
        assert_eq!(
            e.message,
            "\"failed to parse order (id.asc.nullslasttt)\" (line 1, column 17)"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("unexpected 't' expecting \",\" or end of input")
        );
    }

    #[test]
    fn json_keys_take_special_characters_and_dashes() {
        let f = parse_field("data->!@#$%^&*_d->>!@#$%^&*_e", "select").expect("parses");
        assert_eq!(f.path[0].key, JsonKey::Key("!@#$%^&*_d".into()));
        assert_eq!(f.output_name(), "!@#$%^&*_e");
        let s = parse_select("data->0->0xy1->1->23-xy-45->1->xy-6->>0::int").expect("parses");
        let SelectItem::Field { field: Some(f), .. } = &s[0] else {
            panic!("field")
        };
        let keys: Vec<_> = f.path.iter().map(|s| s.key.clone()).collect();
        assert_eq!(
            keys,
            vec![
                JsonKey::Index(0),
                JsonKey::Key("0xy1".into()),
                JsonKey::Index(1),
                JsonKey::Key("23-xy-45".into()),
                JsonKey::Index(1),
                JsonKey::Key("xy-6".into()),
                JsonKey::Index(0),
            ]
        );
        let e = parse_select("data->(!@#$%^&*_d->>!@#$%^&*_e::integer").expect_err("reserved");
        assert_eq!(
            e.message(),
            "\"failed to parse select parameter (data->(!@#$%^&*_d->>!@#$%^&*_e::integer)\" (line 1, column 7)"
        );
        assert_eq!(
            e.details().as_deref(),
            Some("unexpected \"(\" expecting \"-\", digit or any non reserved character different from: .,>()")
        );
        let e = parse_select("data->>-78xy").expect_err("bad index");
        assert_eq!(
            e.details().as_deref(),
            Some("unexpected 'x' expecting digit, \"->\", \"::\", \".\", \",\" or end of input")
        );
    }

    #[test]
    fn in_lists_read_items_as_postgrest_does() {
        let items = |v: &str| match parse_op_expr(v).expect(v).pred {
            Predicate::In(items) => items,
            other => panic!("{other:?}"),
        };
        assert_eq!(items("in.(a,\"b,c\",d)"), vec!["a", "b,c", "d"]);
        // Blanks after `(` go; others stay with the item.
        assert_eq!(items("in.( a, b )"), vec!["a", " b "]);
        assert_eq!(items("in.(    )"), Vec::<String>::new());
        assert_eq!(items("in.()"), Vec::<String>::new());
        assert_eq!(items("in.( ,3,4)"), vec!["", "3", "4"]);
        // A lone or unbalanced quote, and backslashes outside quotes, are plain characters.
        assert_eq!(items("in.(\")"), vec!["\""]);
        assert_eq!(
            items("in.(Double\"Quote\"McGraw\")"),
            vec!["Double\"Quote\"McGraw\""]
        );
        assert_eq!(
            items("in.(/\\Slash/\\Beast/\\)"),
            vec!["/\\Slash/\\Beast/\\"]
        );
        // Inside quotes a backslash takes the next character as it is.
        assert_eq!(items("in.(\"\\\\\")"), vec!["\\"]);
        assert_eq!(items("in.(\"D\\a\\vid\")"), vec!["David"]);
        assert!(parse_op_expr("in.(1,2").is_err());
        assert!(parse_op_expr("in.1,2").is_err());
    }

    #[test]
    fn a_value_without_an_operator_fails_at_column_one() {
        let e = parse_op_expr("0").expect_err("no operator");
        assert_eq!(
            e.message(),
            "\"failed to parse filter (0)\" (line 1, column 1)"
        );
        assert_eq!(
            e.details().as_deref(),
            Some("unexpected \"0\" expecting \"not\" or operator (eq, gt, ...)")
        );
        let e = parse_op_expr("noop.0").expect_err("no operator");
        assert_eq!(
            e.details().as_deref(),
            Some("unexpected \"o\" expecting \"not\" or operator (eq, gt, ...)")
        );
        let e = parse_op_expr("").expect_err("empty");
        assert_eq!(
            e.details().as_deref(),
            Some("unexpected end of input expecting \"not\" or operator (eq, gt, ...)")
        );
    }

    #[test]
    fn order_modifiers_fail_as_postgrest_reports_them() {
        let e = |v: &str| {
            let e = parse_order(v).expect_err(v);
            (e.message, e.details.unwrap_or_default())
        };
        assert_eq!(
            e("id.nulsfist"),
            (
                "\"failed to parse order (id.nulsfist)\" (line 1, column 4)".to_string(),
                "unexpected \"n\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
                    .to_string()
            )
        );
        assert_eq!(
            e("id.asc.nlsfst"),
            (
                "\"failed to parse order (id.asc.nlsfst)\" (line 1, column 8)".to_string(),
                "unexpected \"l\" expecting \"nullsfirst\" or \"nullslast\"".to_string()
            )
        );
        assert_eq!(
            e("id.asc.desc").1,
            "unexpected \"d\" expecting \"nullsfirst\" or \"nullslast\""
        );
        assert_eq!(
            e("id.asc.nullslasttt"),
            (
                "\"failed to parse order (id.asc.nullslasttt)\" (line 1, column 17)".to_string(),
                "unexpected 't' expecting \",\" or end of input".to_string()
            )
        );
        assert_eq!(
            e("id.nullsfirst.asc").1,
            "unexpected '.' expecting \",\" or end of input"
        );
        let t = parse_order("id.desc.nullslast,name.nullsfirst,x").expect("parses");
        assert!(t[0].desc && t[0].nulls_first == Some(false));
        assert!(!t[1].desc && t[1].nulls_first == Some(true));
        assert!(!t[2].desc && t[2].nulls_first.is_none());
    }

    #[test]
    fn is_values_read_as_postgrest_reads_them() {
        let is = |v: &str| match parse_op_expr(v).expect(v).pred {
            Predicate::Is(k) => k,
            other => panic!("{other:?}"),
        };
        assert_eq!(is("is.NoT_NuLl"), IsValue::NotNull);
        assert_eq!(is("is.UNKNOWN"), IsValue::Unknown);
        assert_eq!(is("not.is.FAlSe"), IsValue::False);
        let e = parse_op_expr("is.nil").expect_err("nil");
        assert_eq!(
            e.message,
            "\"failed to parse filter (is.nil)\" (line 1, column 5)"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("unexpected \"i\" expecting isVal: (null, not_null, true, false, unknown)")
        );
        let e = parse_op_expr("not.is.ok").expect_err("ok");
        assert_eq!(
            e.message,
            "\"failed to parse filter (not.is.ok)\" (line 1, column 8)"
        );
        let e = parse_op_expr("is.nul").expect_err("short");
        assert_eq!(
            e.details.as_deref(),
            Some("unexpected end of input expecting isVal: (null, not_null, true, false, unknown)")
        );
    }

    #[test]
    fn json_path_output_names() {
        let name = |s: &str| parse_field(s, "select").expect("field").output_name();
        assert_eq!(name("data->0"), "data");
        assert_eq!(name("data->1->mycol->>2"), "mycol");
        assert_eq!(name("data->a->>b"), "b");
        assert_eq!(name("plain"), "plain");
    }

    #[test]
    fn filters() {
        let e = parse_op_expr("not.in.(1,\"a,b\",3)").expect("parses");
        assert!(e.negated);
        assert_eq!(
            e.pred,
            Predicate::In(vec!["1".into(), "a,b".into(), "3".into()])
        );
        let e = parse_op_expr("like(any).{a*,b*}").expect("parses");
        assert_eq!(
            e.pred,
            Predicate::Quantified {
                op: Cmp::Like,
                quantifier: Quantifier::Any,
                items: vec!["a*".into(), "b*".into()]
            }
        );
        let e = parse_op_expr("is.NoT_NuLl").expect("parses");
        assert_eq!(e.pred, Predicate::Is(IsValue::NotNull));
        let e = parse_op_expr("wfts(english).cat").expect("parses");
        assert_eq!(
            e.pred,
            Predicate::Fts {
                kind: Fts::Web,
                lang: Some("english".into()),
                query: "cat".into()
            }
        );
        assert!(parse_op_expr("in(any).(1)").is_err());
        assert!(parse_op_expr("cs(any).{1}").is_err());
        assert!(parse_op_expr("isdistinct(all).{1}").is_err());
        assert!(parse_op_expr("foo.bar").is_err());
        assert!(parse_op_expr("eq").is_err());
    }

    #[test]
    fn logic_trees() {
        let l = parse_logic(
            false,
            false,
            "( and ( id.in.( 1, 2, 3 ) , id.eq.3 ) , or ( id.eq.2 , id.eq.3 ) )",
        )
        .expect("parses");
        match l {
            Logic::Tree { children, .. } => assert_eq!(children.len(), 2),
            _ => panic!("tree expected"),
        }
        let l = parse_logic(
            false,
            true,
            "(name.eq.\"(grandchild,entity,4)\",jsonb_col->a->>b.eq.foo,rel.col.not.is.null)",
        )
        .expect("parses");
        let Logic::Tree { children, .. } = l else {
            panic!("tree expected")
        };
        let Logic::Filter(f) = &children[0] else {
            panic!("filter expected")
        };
        assert_eq!(
            f.expr.pred,
            Predicate::Compare {
                op: Cmp::Eq,
                value: "(grandchild,entity,4)".into()
            }
        );
        let Logic::Filter(f) = &children[2] else {
            panic!("filter expected")
        };
        assert_eq!(f.path, vec!["rel".to_string()]);
        // Text after the outermost `)` is ignored (the spec's `and=(id.eq.1,id.neq.2))`).
        let Logic::Tree { children, .. } =
            parse_logic(false, false, "(id.eq.1,id.neq.2))").expect("parses")
        else {
            panic!("tree expected")
        };
        assert_eq!(children.len(), 2);
    }

    #[test]
    fn order_terms() {
        let o = parse_order("client_id.desc.nullslast,clients(name).nullsfirst,data->>x")
            .expect("parses");
        assert_eq!(o.len(), 3);
        assert!(o[0].desc);
        assert_eq!(o[1].relation.as_deref(), Some("clients"));
        assert_eq!(o[2].field.path.len(), 1);
        assert!(parse_order("id.sideways").is_err());
    }

    /// Runs `f` on a thread with a 256 KiB stack, so a parser that recurses per nesting level
    /// overflows here (aborting the test binary) long before 10,000 levels.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("parser panicked")
    }

    fn nested_select(levels: usize) -> String {
        format!("{}id{}", "a(".repeat(levels), ")".repeat(levels))
    }

    /// `levels` groups in all, counting the outer parentheses of `or=(…)`.
    fn nested_logic(levels: usize) -> String {
        let inner = levels.saturating_sub(1);
        format!("({}id.eq.1{})", "or(".repeat(inner), ")".repeat(inner))
    }

    fn depth_of_select(items: &[SelectItem]) -> usize {
        let mut depth = 0;
        let mut level: Vec<&SelectItem> = items.iter().collect();
        while !level.is_empty() {
            level = level
                .into_iter()
                .filter_map(|i| match i {
                    SelectItem::Embed(e) => Some(e.select.iter()),
                    _ => None,
                })
                .flatten()
                .collect();
            depth += 1;
        }
        depth
    }

    fn assert_too_deep(e: &ApiError) {
        assert_eq!(e.code(), "PGRST100");
        assert_eq!(
            e.details().as_deref(),
            Some("nesting deeper than 64 levels of parentheses")
        );
    }

    #[test]
    fn select_nesting_is_bounded() {
        on_small_stack(|| {
            let ok = parse_select(&nested_select(MAX_NESTING)).expect("64 levels parse");
            assert_eq!(depth_of_select(&ok), MAX_NESTING + 1);
            let e = parse_select(&nested_select(MAX_NESTING + 1)).expect_err("65 levels");
            assert_too_deep(&e);
            assert!(
                e.message().ends_with("(line 1, column 131)"),
                "{}",
                e.message()
            );
            assert_too_deep(&parse_select(&nested_select(10_000)).expect_err("deep"));
            // Unbalanced: only openings, only closings.
            assert_too_deep(&parse_select(&"a(".repeat(10_000)).expect_err("open"));
            // Closings with nothing open end the (empty) list; the rest is left unread.
            assert!(parse_select(&")".repeat(10_000)).expect("close").is_empty());
        });
    }

    #[test]
    fn logic_nesting_is_bounded() {
        on_small_stack(|| {
            let l = parse_logic(false, true, &nested_logic(MAX_NESTING)).expect("64 levels");
            let mut depth = 0;
            let mut node = &l;
            while let Logic::Tree { children, .. } = node {
                depth += 1;
                node = &children[0];
            }
            assert_eq!(depth, MAX_NESTING);
            for deep in [MAX_NESTING + 1, 10_000] {
                let e = parse_logic(false, true, &nested_logic(deep)).expect_err("too deep");
                assert_too_deep(&e);
            }
            let e = parse_logic(true, false, &"not.and(".repeat(10_000)).expect_err("open");
            assert_eq!(e.code(), "PGRST100");
            let e = parse_logic(false, false, &format!("({}", "and(".repeat(10_000)))
                .expect_err("open");
            assert_too_deep(&e);
        });
    }

    #[test]
    fn flat_parsers_take_deep_input_in_their_stride() {
        on_small_stack(|| {
            let parens = "(".repeat(10_000);
            let arrows = format!("data{}", "->a".repeat(10_000));
            for s in [parens.as_str(), arrows.as_str()] {
                let _ = parse_order(s);
                let _ = parse_columns(s, "columns");
                let _ = parse_field(s, "filter");
                let _ = parse_op_expr(&format!("in.{s}"));
                let _ = parse_op_expr(&format!("eq(any).{s}"));
            }
            assert_eq!(
                parse_field(&arrows, "filter").expect("path").path.len(),
                10_000
            );
            assert_eq!(parse_order(&parens).expect_err("parens").code(), "PGRST100");
            assert_eq!(
                parse_op_expr(&format!("in.{parens}"))
                    .expect_err("list")
                    .code(),
                "PGRST100"
            );
        });
    }

    /// Fragments of the query language; any sequence of them is some (mostly invalid) input.
    const TOKENS: &[&str] = &[
        "a",
        "id",
        "(",
        ")",
        ",",
        "or(",
        "and(",
        "not.or(",
        "not.and(",
        ".eq.1",
        ".in.(1,2)",
        "->",
        "->>",
        "0",
        "!inner",
        "!hint",
        "::text",
        "...",
        ":",
        "\"",
        "\\",
        " ",
        ".",
        "*",
        "count()",
        ".sum()",
        "{",
        "}",
        "desc",
        "nullsfirst",
        "é",
    ];

    fn token_soup() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(TOKENS), 0..400).prop_map(|v| v.concat())
    }

    /// Groups the select parser opens, and groups the logic tree parser opens.
    const SELECT_OPENERS: &[&str] = &["a(", "x!inner(", "...y(", "b:c!hint(", "d!left("];
    const LOGIC_OPENERS: &[&str] = &["or(", "and(", "not.or(", "not.and(", "or (", "and  ("];

    /// Well-formed nesting of a random depth around random filler: `(depth, opener, logic
    /// tree value, select value)`.
    fn deep_nesting(
    ) -> impl proptest::strategy::Strategy<Value = (usize, &'static str, String, String)> {
        let openers: Vec<&'static str> = SELECT_OPENERS
            .iter()
            .chain(LOGIC_OPENERS)
            .copied()
            .collect();
        (
            0usize..200,
            proptest::sample::select(openers),
            "[a-z.(),:!>-]{0,6}",
        )
            .prop_map(|(depth, open, filler)| {
                (
                    depth,
                    open,
                    format!("({}{filler}{})", open.repeat(depth), ")".repeat(depth)),
                    format!("{}{filler}{}", open.repeat(depth), ")".repeat(depth)),
                )
            })
    }

    fn all_parsers(s: &str) -> Vec<Result<(), ApiError>> {
        vec![
            parse_select(s).map(drop),
            parse_logic(false, true, s).map(drop),
            parse_logic(true, false, s).map(drop),
            parse_order(s).map(drop),
            parse_columns(s, "columns").map(drop),
            parse_field(s, "filter").map(drop),
            parse_op_expr(s).map(drop),
        ]
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 512, ..Default::default() })]

        #[test]
        fn select_parser_never_panics(s in "\\PC{0,40}") {
            let _ = parse_select(&s);
        }
        #[test]
        fn select_grammar_chars_never_panic(s in "[a-z*!:.,()\"\\->0-9 ]{0,40}") {
            if let Err(e) = parse_select(&s) { proptest::prop_assert_eq!(e.code(), "PGRST100"); }
        }
        #[test]
        fn filter_parser_never_panics(s in "[a-z.(),{}\"\\\\*0-9 ]{0,40}") {
            let _ = parse_op_expr(&s);
            let _ = parse_logic(false, true, &s);
            let _ = parse_order(&s);
        }
        #[test]
        fn arbitrary_strings_give_parse_errors(s in "\\PC{0,200}") {
            for r in all_parsers(&s) {
                if let Err(e) = r { proptest::prop_assert_eq!(e.code(), "PGRST100"); }
            }
        }
        #[test]
        fn token_soup_gives_parse_errors(s in token_soup()) {
            for r in all_parsers(&s) {
                if let Err(e) = r { proptest::prop_assert_eq!(e.code(), "PGRST100"); }
            }
        }
        #[test]
        fn deep_nesting_is_parsed_or_refused((depth, open, logic, select) in deep_nesting()) {
            for r in all_parsers(&logic).into_iter().chain(all_parsers(&select)) {
                if let Err(e) = r { proptest::prop_assert_eq!(e.code(), "PGRST100"); }
            }
            // Beyond the limit, the nesting itself is what the parsers refuse.
            if depth + 1 > MAX_NESTING && LOGIC_OPENERS.contains(&open) {
                let e = parse_logic(false, true, &logic).expect_err("too deep");
                proptest::prop_assert!(e.details().unwrap_or_default().starts_with("nesting deeper"));
            }
            if depth > MAX_NESTING && SELECT_OPENERS.contains(&open) {
                let e = parse_select(&select).expect_err("too deep");
                proptest::prop_assert!(e.details().unwrap_or_default().starts_with("nesting deeper"));
            }
        }
    }
}
