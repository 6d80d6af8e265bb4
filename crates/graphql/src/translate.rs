//! A validated GraphQL operation → SQL, as pg_graphql transpiles it: a query's root fields
//! become one statement whose single JSON value is the `data` object (connections, nested
//! relations and page info as correlated subqueries under `json_build_object`), each mutation
//! root field one statement run in the same transaction. Values are bind parameters (text,
//! cast to the column's type), identifiers are quoted by `basalt_pg::quote_ident`, and the JSON
//! keys are the response keys (GraphQL names, checked).

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::Positioned;
use async_graphql_value::{ConstValue, Value as DocValue};
use base64::Engine;

use crate::model::{AggOp, FnReturn, Kind, Model, NodeField, RootField, Scalar, TableM, Ty};
use basalt_pg::quote_ident;

/// A statement and its parameters (text format; `None` is NULL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

/// One mutation root field: its statement returns `(json, affected)`; more than `at_most`
/// affected rows fail the operation with `error`.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationStep {
    pub key: String,
    pub statement: Statement,
    pub at_most: Option<AtMost>,
}

/// The most rows a mutation may affect, and the error past it.
pub type AtMost = (i64, &'static str);

/// What an operation turns into.
#[derive(Debug, Clone, PartialEq)]
pub enum Translated {
    /// One read-only statement returning the `data` object as JSON text.
    Query(Statement),
    /// Statements run in order in one transaction; `__typename` keys answered without SQL.
    Mutation(Vec<MutationStep>, Vec<(String, String)>),
}

pub type Error = String;

/// The operation of `doc` to run (by name, or the only one).
pub fn operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Result<&'a Positioned<OperationDefinition>, Error> {
    let mut ops = doc.operations.iter();
    match name {
        Some(n) => ops
            .find(|(on, _)| on.map(|x| x.as_str()) == Some(n))
            .map(|(_, o)| o)
            .ok_or_else(|| "Operation not found".to_string()),
        None => {
            let first = ops.next().map(|(_, o)| o);
            if ops.next().is_some() {
                return Err("Operation not found".into());
            }
            first.ok_or_else(|| "No operation found".to_string())
        }
    }
}

/// Whether the operation selects `__schema` or `__type` at its root (async-graphql answers
/// those), and whether it selects anything else (answered by SQL).
pub fn root_kinds(doc: &ExecutableDocument, op: &OperationDefinition) -> (bool, bool) {
    let mut intro = false;
    let mut data = false;
    let mut stack = vec![&op.selection_set.node];
    while let Some(set) = stack.pop() {
        for s in &set.items {
            match &s.node {
                Selection::Field(f) => match f.node.name.node.as_str() {
                    "__schema" | "__type" => intro = true,
                    "__typename" => {}
                    _ => data = true,
                },
                Selection::FragmentSpread(fs) => {
                    if let Some(frag) = doc.fragments.get(&fs.node.fragment_name.node) {
                        stack.push(&frag.node.selection_set.node);
                    }
                }
                Selection::InlineFragment(i) => stack.push(&i.node.selection_set.node),
            }
        }
    }
    (intro, data)
}

/// Translate operation `op` of `doc` with `variables`. `only_data`: leave out root fields that
/// async-graphql answers (introspection).
pub fn translate(
    m: &Model,
    doc: &ExecutableDocument,
    op: &OperationDefinition,
    variables: &serde_json::Map<String, serde_json::Value>,
) -> Result<Translated, Error> {
    let mut vars: HashMap<String, ConstValue> = HashMap::new();
    for def in &op.variable_definitions {
        let name = def.node.name.node.to_string();
        let v = match variables.get(&name) {
            Some(v) => ConstValue::from_json(v.clone()).map_err(|e| e.to_string())?,
            None => match &def.node.default_value {
                Some(d) => d.node.clone(),
                None if !def.node.var_type.node.nullable => {
                    return Err(format!(
                        "Variable \"${name}\" of required type \"{}\" was not provided.",
                        def.node.var_type.node
                    ))
                }
                // Undefined: an object field naming it is left out.
                None => continue,
            },
        };
        if matches!(v, ConstValue::Null) && !def.node.var_type.node.nullable {
            return Err(format!(
                "Variable \"${name}\" of non-null type \"{}\" must not be null.",
                def.node.var_type.node
            ));
        }
        vars.insert(name, v);
    }
    let mut t = Tr {
        m,
        doc,
        vars,
        params: Vec::new(),
        alias: 0,
    };
    match op.ty {
        OperationType::Query => {
            let sels = t.collect(&[&op.selection_set.node], "Query")?;
            let mut pairs = Vec::new();
            for s in &sels {
                let name = s.field.name.node.as_str();
                let expr = match name {
                    "__typename" => lit("Query"),
                    "__schema" | "__type" => continue,
                    _ => {
                        let rf = m
                            .query
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, r)| *r)
                            .ok_or_else(|| format!("Unknown field \"{name}\" on type Query"))?;
                        t.root(rf, s)?
                    }
                };
                pairs.push((s.key.clone(), expr));
            }
            let sql = format!("select {}::text", object(&pairs));
            Ok(Translated::Query(Statement {
                sql,
                params: t.params,
            }))
        }
        OperationType::Mutation => {
            let sels = t.collect(&[&op.selection_set.node], "Mutation")?;
            let mut steps = Vec::new();
            let mut typenames = Vec::new();
            for s in &sels {
                let name = s.field.name.node.as_str();
                if name == "__typename" {
                    typenames.push((s.key.clone(), "Mutation".to_string()));
                    continue;
                }
                let rf = m
                    .mutation
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, r)| *r)
                    .ok_or_else(|| format!("Unknown field \"{name}\" on type Mutation"))?;
                t.params.clear();
                let (sql, at_most) = t.mutation(rf, s)?;
                steps.push(MutationStep {
                    key: s.key.clone(),
                    statement: Statement {
                        sql,
                        params: std::mem::take(&mut t.params),
                    },
                    at_most,
                });
            }
            Ok(Translated::Mutation(steps, typenames))
        }
        OperationType::Subscription => Err("Subscriptions are not supported".into()),
    }
}

/// A response key with the fields (merged) selected under it.
struct Sel<'a> {
    key: String,
    field: &'a Field,
    sets: Vec<&'a SelectionSet>,
}

struct Tr<'a> {
    m: &'a Model,
    doc: &'a ExecutableDocument,
    vars: HashMap<String, ConstValue>,
    params: Vec<Option<String>>,
    alias: usize,
}

/// A field's arguments as text, by name (to compare two selections of one field).
fn arguments(f: &Field) -> Vec<(String, String)> {
    let mut args: Vec<(String, String)> = f
        .arguments
        .iter()
        .map(|(n, v)| (n.node.to_string(), v.node.to_string()))
        .collect();
    args.sort();
    args
}

/// A SQL string literal of a GraphQL name or type name (checked: letters, digits, `_`).
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `json_build_object` of `(key, expr)` pairs (in chunks merged when past Postgres' 100
/// arguments).
fn object(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "json_build_object()".into();
    }
    let chunks: Vec<String> = pairs
        .chunks(50)
        .map(|c| {
            let inner: Vec<String> = c.iter().map(|(k, e)| format!("{}, {e}", lit(k))).collect();
            format!("json_build_object({})", inner.join(", "))
        })
        .collect();
    if chunks.len() == 1 {
        return chunks.into_iter().next().unwrap_or_default();
    }
    let parts: Vec<String> = chunks.iter().map(|c| format!("{c}::jsonb")).collect();
    format!("({})::json", parts.join(" || "))
}

/// pg_graphql's output casts: int8 and numeric as text, json as its text.
fn suffix(type_oid: i64) -> &'static str {
    match type_oid {
        20 | 1700 => "::text",
        114 | 3802 => " #>> '{}'",
        1016 | 199 | 3807 | 1231 => "::text[]",
        _ => "",
    }
}

/// An array literal of text elements.
fn array_literal(items: &[Option<String>]) -> String {
    let mut out = String::from("{");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match it {
            None => out.push_str("NULL"),
            Some(s) => {
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

fn list_of(v: &ConstValue) -> Vec<&ConstValue> {
    match v {
        ConstValue::List(l) => l.iter().collect(),
        ConstValue::Null => Vec::new(),
        other => vec![other],
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Dir {
    desc: bool,
    nulls_first: bool,
}

impl Dir {
    fn sql(self) -> &'static str {
        match (self.desc, self.nulls_first) {
            (false, true) => "asc nulls first",
            (false, false) => "asc nulls last",
            (true, true) => "desc nulls first",
            (true, false) => "desc nulls last",
        }
    }
    fn reverse(self) -> Dir {
        Dir {
            desc: !self.desc,
            nulls_first: !self.nulls_first,
        }
    }
}

/// Decode a nodeId: `[schema, table, pk...]`.
pub fn decode_node_id(id: &str) -> Option<(String, String, Vec<serde_json::Value>)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(id).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let a = v.as_array()?;
    let schema = a.first()?.as_str()?.to_string();
    let table = a.get(1)?.as_str()?.to_string();
    Some((schema, table, a[2..].to_vec()))
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl<'a> Tr<'a> {
    fn next_alias(&mut self) -> String {
        self.alias += 1;
        format!("b{}", self.alias)
    }

    /// Bind `v` as `$n::ty`.
    fn bind(&mut self, v: Option<String>, ty: &str) -> String {
        self.params.push(v);
        format!("${}::{ty}", self.params.len())
    }

    fn value(&self, v: &Positioned<DocValue>) -> Result<ConstValue, Error> {
        Ok(self.resolve(&v.node))
    }

    /// A document value with its variables substituted; an object field set to a variable
    /// the request did not define is left out (as if not written).
    fn resolve(&self, v: &DocValue) -> ConstValue {
        match v {
            DocValue::Variable(n) => self
                .vars
                .get(n.as_str())
                .cloned()
                .unwrap_or(ConstValue::Null),
            DocValue::List(l) => ConstValue::List(l.iter().map(|x| self.resolve(x)).collect()),
            DocValue::Object(o) => ConstValue::Object(
                o.iter()
                    .filter(|(_, x)| match x {
                        DocValue::Variable(n) => self.vars.contains_key(n.as_str()),
                        _ => true,
                    })
                    .map(|(k, x)| (k.clone(), self.resolve(x)))
                    .collect(),
            ),
            other => other.clone().into_const().unwrap_or(ConstValue::Null),
        }
    }

    fn arg(&self, f: &Field, name: &str) -> Result<Option<ConstValue>, Error> {
        match f.get_argument(name) {
            Some(v) => {
                let c = self.value(v)?;
                Ok((!matches!(c, ConstValue::Null)).then_some(c))
            }
            None => Ok(None),
        }
    }

    fn skipped(&self, dirs: &[Positioned<async_graphql::parser::types::Directive>]) -> bool {
        for d in dirs {
            let name = d.node.name.node.as_str();
            let cond = d
                .node
                .get_argument("if")
                .and_then(|v| self.value(v).ok())
                .map(|v| matches!(v, ConstValue::Boolean(true)));
            match (name, cond) {
                ("skip", Some(true)) | ("include", Some(false)) => return true,
                _ => {}
            }
        }
        false
    }

    fn applies(&self, cond: &str, type_name: &str) -> bool {
        cond == type_name
            || (cond == "Node" && matches!(self.m.kind_of(type_name), Some(Kind::Node(_))))
    }

    /// The fields selected on an object of type `type_name`, merged by response key.
    fn collect(&self, sets: &[&'a SelectionSet], type_name: &str) -> Result<Vec<Sel<'a>>, Error> {
        let mut out: Vec<Sel<'a>> = Vec::new();
        let mut stack: Vec<&'a SelectionSet> = sets.iter().rev().copied().collect();
        // Depth-first, in document order.
        fn walk<'a>(
            tr: &Tr<'a>,
            set: &'a SelectionSet,
            type_name: &str,
            out: &mut Vec<Sel<'a>>,
            depth: usize,
        ) -> Result<(), Error> {
            if depth > 64 {
                return Err("Fragment cycle or nesting too deep".into());
            }
            for s in &set.items {
                match &s.node {
                    Selection::Field(f) => {
                        if tr.skipped(&f.node.directives) {
                            continue;
                        }
                        let key = f.node.response_key().node.to_string();
                        match out.iter_mut().find(|x| x.key == key) {
                            Some(x) => {
                                // Fields merged under one response key must be the same field
                                // with the same arguments.
                                let (new, old) = (&f.node.name.node, &x.field.name.node);
                                if new != old {
                                    return Err(format!(
                                        "Fields `{new}` and `{old}` are different"
                                    ));
                                }
                                if arguments(&f.node) != arguments(x.field) {
                                    return Err(format!(
                                        "Two fields named `{new}` have different arguments"
                                    ));
                                }
                                x.sets.push(&f.node.selection_set.node)
                            }
                            None => out.push(Sel {
                                key,
                                field: &f.node,
                                sets: vec![&f.node.selection_set.node],
                            }),
                        }
                    }
                    Selection::FragmentSpread(fs) => {
                        if tr.skipped(&fs.node.directives) {
                            continue;
                        }
                        let frag = tr
                            .doc
                            .fragments
                            .get(&fs.node.fragment_name.node)
                            .ok_or_else(|| {
                                format!("Unknown fragment \"{}\"", fs.node.fragment_name.node)
                            })?;
                        if tr.applies(frag.node.type_condition.node.on.node.as_str(), type_name) {
                            walk(tr, &frag.node.selection_set.node, type_name, out, depth + 1)?;
                        }
                    }
                    Selection::InlineFragment(i) => {
                        if tr.skipped(&i.node.directives) {
                            continue;
                        }
                        let ok = match &i.node.type_condition {
                            Some(c) => tr.applies(c.node.on.node.as_str(), type_name),
                            None => true,
                        };
                        if ok {
                            walk(tr, &i.node.selection_set.node, type_name, out, depth + 1)?;
                        }
                    }
                }
            }
            Ok(())
        }
        while let Some(set) = stack.pop() {
            walk(self, set, type_name, &mut out, 0)?;
        }
        Ok(out)
    }

    fn root(&mut self, rf: RootField, s: &Sel<'a>) -> Result<String, Error> {
        match rf {
            RootField::Collection(t) => {
                let from = self.m.tables[t].qualified();
                self.connection(t, &from, None, s)
            }
            RootField::Node => self.node_by_id(s),
            RootField::ByPk(ti) => self.node_by_pk(ti, s),
            RootField::Function(fi) => self.function(fi, s),
            _ => Err("Mutations are not allowed in a query".into()),
        }
    }

    /// `<type>ByPk(<key columns>)`: the row or null.
    fn node_by_pk(&mut self, ti: usize, s: &Sel<'a>) -> Result<String, Error> {
        let t = &self.m.tables[ti];
        let b = self.next_alias();
        let mut conds = Vec::new();
        let mut missing = Vec::new();
        for ci in &t.pkey {
            let c = &t.columns[*ci];
            match self.arg(s.field, &c.field)? {
                Some(v) => {
                    let text = self.input_text(&v, &c.ty)?;
                    let p = self.bind(text, &c.sql_type);
                    conds.push(format!("{b}.{} = {p}", quote_ident(&c.name)));
                }
                None => missing.push(c.name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "Missing primary key column(s): {}",
                missing.join(", ")
            ));
        }
        let obj = self.node_object(ti, &b, &s.sets)?;
        Ok(format!(
            "(select {obj} from {} {b} where {})",
            t.qualified(),
            conds.join(" and ")
        ))
    }

    fn node_by_id(&mut self, s: &Sel<'a>) -> Result<String, Error> {
        let id = match self.arg(s.field, "nodeId")? {
            Some(ConstValue::String(id)) => id,
            _ => return Err("Invalid input for nodeId".into()),
        };
        let (schema, table, pk) = decode_node_id(&id).ok_or("Unable to decode nodeId")?;
        let Some(ti) = self
            .m
            .tables
            .iter()
            .position(|t| t.schema == schema && t.name == table)
        else {
            return Ok("null::json".into());
        };
        let t = &self.m.tables[ti];
        if pk.len() != t.pkey.len() {
            return Err("Invalid nodeId".into());
        }
        let b = self.next_alias();
        let mut conds = Vec::new();
        for (ci, v) in t.pkey.clone().iter().zip(&pk) {
            let c = &self.m.tables[ti].columns[*ci];
            let (name, ty) = (quote_ident(&c.name), c.sql_type.clone());
            let p = self.bind(json_text(v), &ty);
            conds.push(format!("{b}.{name} = {p}"));
        }
        let obj = self.node_object(ti, &b, &s.sets)?;
        Ok(format!(
            "(select {obj} from {} {b} where {})",
            self.m.tables[ti].qualified(),
            conds.join(" and ")
        ))
    }

    /// The JSON object of a row of table `ti` under alias `b`.
    fn node_object(
        &mut self,
        ti: usize,
        b: &str,
        sets: &[&'a SelectionSet],
    ) -> Result<String, Error> {
        let m = self.m;
        let t: &TableM = &m.tables[ti];
        let sels = self.collect(sets, &t.type_name)?;
        let mut pairs = Vec::with_capacity(sels.len());
        for s in &sels {
            let name = s.field.name.node.as_str();
            let expr = if name == "__typename" {
                lit(&t.type_name)
            } else {
                match t.field(name) {
                    Some(NodeField::NodeId) => node_id_expr(t, b),
                    Some(NodeField::Column(ci)) => self.column_expr(t, ci, b),
                    Some(NodeField::Function(fi)) => {
                        // The row rebuilt from the alias's columns (a page's rows carry extra
                        // columns; a mutation's rows are those it returned).
                        let cols: Vec<String> = t
                            .columns
                            .iter()
                            .map(|c| format!("{b}.{}", quote_ident(&c.name)))
                            .collect();
                        let row = format!("row({})::{}", cols.join(", "), t.qualified());
                        self.function_on(fi, s, Some(row))?
                    }
                    Some(NodeField::Relation(ri)) => {
                        let r = &m.relations[ri];
                        let to = r.to;
                        let c = self.next_alias();
                        let join: Vec<String> = r
                            .from_cols
                            .iter()
                            .zip(&r.to_cols)
                            .map(|(f, tc)| {
                                format!(
                                    "{c}.{} = {b}.{}",
                                    quote_ident(&m.tables[to].columns[*tc].name),
                                    quote_ident(&t.columns[*f].name)
                                )
                            })
                            .collect();
                        let join = join.join(" and ");
                        if r.many {
                            let from = m.tables[to].qualified();
                            self.connection_as(to, &from, &c, Some(join), s)?
                        } else {
                            let obj = self.node_object(to, &c, &s.sets)?;
                            format!(
                                "(select {obj} from {} {c} where {join})",
                                m.tables[to].qualified()
                            )
                        }
                    }
                    None => {
                        return Err(format!("Unknown field \"{name}\" on type {}", t.type_name))
                    }
                }
            };
            pairs.push((s.key.clone(), expr));
        }
        Ok(object(&pairs))
    }

    fn column_expr(&self, t: &TableM, ci: usize, b: &str) -> String {
        let c = &t.columns[ci];
        let col = format!("{b}.{}", quote_ident(&c.name));
        if let Ty::Enum(e) = &c.ty {
            let en = &self.m.enums[*e];
            if en.mapped {
                let cases: Vec<String> = en
                    .values
                    .iter()
                    .map(|(g, s)| format!("when {col}::text = {} then {}", lit(s), lit(g)))
                    .collect();
                return format!("case {} else {col}::text end", cases.join(" "));
            }
        }
        format!("{col}{}", suffix(c.type_oid))
    }

    fn connection(
        &mut self,
        ti: usize,
        from: &str,
        join: Option<String>,
        s: &Sel<'a>,
    ) -> Result<String, Error> {
        let b = self.next_alias();
        self.connection_as(ti, from, &b, join, s)
    }

    /// A connection over `from` (a table or a function call) aliased `b`, `join` a condition
    /// on `b` tying it to the parent row.
    fn connection_as(
        &mut self,
        ti: usize,
        from: &str,
        b: &str,
        join: Option<String>,
        s: &Sel<'a>,
    ) -> Result<String, Error> {
        let m = self.m;
        let t = &m.tables[ti];
        let f = s.field;
        let int_arg = |tr: &Self, name: &str| -> Result<Option<i64>, Error> {
            match tr.arg(f, name)? {
                None => Ok(None),
                Some(ConstValue::Number(n)) => match n.as_i64() {
                    Some(x) if x >= 0 => Ok(Some(x)),
                    _ => Err(format!("`{name}` must be an unsigned integer")),
                },
                Some(_) => Err(format!("`{name}` must be an unsigned integer")),
            }
        };
        let first = int_arg(self, "first")?;
        let last = int_arg(self, "last")?;
        let offset = int_arg(self, "offset")?;
        let str_arg = |tr: &Self, name: &str| -> Result<Option<String>, Error> {
            match tr.arg(f, name)? {
                None => Ok(None),
                Some(ConstValue::String(x)) => Ok(Some(x)),
                Some(_) => Err("Invalid cursor".into()),
            }
        };
        let before = str_arg(self, "before")?;
        let after = str_arg(self, "after")?;
        if first.is_some() && last.is_some() {
            return Err("only one of \"first\" and \"last\" may be provided".into());
        }
        if before.is_some() && after.is_some() {
            return Err("only one of \"before\" and \"after\" may be provided".into());
        }
        if first.is_some() && before.is_some() {
            return Err("\"first\" may only be used with \"after\"".into());
        }
        if last.is_some() && after.is_some() {
            return Err("\"last\" may only be used with \"before\"".into());
        }
        let reverse = last.is_some() || before.is_some();
        if reverse && offset.is_some() {
            return Err("\"offset\" may only be used with \"first\" and \"after\"".into());
        }
        let limit = first.or(last).unwrap_or(t.max_rows).min(t.max_rows).max(0);
        let offset = offset.unwrap_or(0);
        // Order: the requested columns, then the primary key.
        let mut order: Vec<(usize, Dir)> = Vec::new();
        if let Some(ob) = self.arg(f, "orderBy")? {
            for item in list_of(&ob) {
                let o = match item {
                    ConstValue::Object(o) => o,
                    ConstValue::Null => return Err("Invalid input for NonNull type".into()),
                    _ => return Err(format!("Invalid input for {}OrderBy type", t.type_name)),
                };
                for (k, v) in o {
                    let ci = t
                        .column_by_field(k.as_str())
                        .ok_or_else(|| format!("Unknown field \"{k}\" in orderBy"))?;
                    let dir = match v {
                        ConstValue::Enum(_) | ConstValue::String(_) => match enum_str(v) {
                            "AscNullsFirst" => Dir {
                                desc: false,
                                nulls_first: true,
                            },
                            "AscNullsLast" => Dir {
                                desc: false,
                                nulls_first: false,
                            },
                            "DescNullsFirst" => Dir {
                                desc: true,
                                nulls_first: true,
                            },
                            "DescNullsLast" => Dir {
                                desc: true,
                                nulls_first: false,
                            },
                            _ => return Err("Invalid input for OrderByDirection".into()),
                        },
                        ConstValue::Null => continue,
                        _ => return Err("Invalid input for OrderByDirection".into()),
                    };
                    if !order.iter().any(|(c, _)| *c == ci) {
                        order.push((ci, dir));
                    }
                }
            }
        }
        // The primary key always closes the order (and the cursor), even when ordered by already,
        // so cursors are pg_graphql's.
        for pk in &t.pkey {
            order.push((
                *pk,
                Dir {
                    desc: false,
                    nulls_first: false,
                },
            ));
        }
        let eff: Vec<(usize, Dir)> = if reverse {
            order.iter().map(|(c, d)| (*c, d.reverse())).collect()
        } else {
            order.clone()
        };
        let order_sql = |alias: &str, o: &[(usize, Dir)]| -> String {
            o.iter()
                .map(|(c, d)| format!("{alias}.{} {}", quote_ident(&t.columns[*c].name), d.sql()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Where: join, filter, cursor.
        let mut conds = Vec::new();
        if let Some(j) = &join {
            conds.push(j.clone());
        }
        if let Some(fv) = self.arg(f, "filter")? {
            conds.push(self.filter(ti, b, &fv)?);
        }
        let base_where = if conds.is_empty() {
            "true".to_string()
        } else {
            conds.join(" and ")
        };
        let cursor = before.or(after);
        let mut page_where = base_where.clone();
        if let Some(cur) = cursor {
            let vals = decode_cursor(&cur).ok_or("Invalid cursor")?;
            if vals.len() != eff.len() {
                return Err("Invalid cursor".into());
            }
            page_where = format!("{page_where} and {}", self.after_cursor(t, b, &eff, &vals));
        }
        let cols: Vec<String> = t
            .columns
            .iter()
            .filter(|c| c.selectable)
            .map(|c| format!("{b}.{}", quote_ident(&c.name)))
            .collect();
        let x = self.next_alias();
        let p = self.next_alias();
        let records = format!(
            "select {x}.*, row_number() over (order by {}) as __n from (select {} from {from} {b} where {page_where} order by {} limit {} offset {offset}) {x}",
            order_sql(&x, &eff),
            cols.join(", "),
            order_sql(b, &eff),
            limit + 1,
        );
        let page = format!("__page{}", self.alias);
        let sels = self.collect(&s.sets, &format!("{}Connection", t.type_name))?;
        let mut pairs = Vec::new();
        let cursor_of = |alias: &str| cursor_expr(t, alias, &order);
        for cs in &sels {
            let name = cs.field.name.node.as_str();
            let expr = match name {
                "__typename" => lit(&format!("{}Connection", t.type_name)),
                "totalCount" => format!("(select count(*) from {from} {b} where {base_where})"),
                "aggregate" if t.aggregate => {
                    let body = self.aggregate(ti, b, cs)?;
                    format!("(select {body} from {from} {b} where {base_where})")
                }
                "edges" => {
                    let esels = self.collect(&cs.sets, &format!("{}Edge", t.type_name))?;
                    let mut epairs = Vec::new();
                    for es in &esels {
                        let ename = es.field.name.node.as_str();
                        let e = match ename {
                            "__typename" => lit(&format!("{}Edge", t.type_name)),
                            "cursor" => cursor_of(&p),
                            "node" => self.node_object(ti, &p, &es.sets)?,
                            _ => {
                                return Err(format!(
                                    "Unknown field \"{ename}\" on type {}Edge",
                                    t.type_name
                                ))
                            }
                        };
                        epairs.push((es.key.clone(), e));
                    }
                    format!(
                        "coalesce((select json_agg({} order by {}) from {page} {p} where {p}.__n <= {limit}), '[]'::json)",
                        object(&epairs),
                        order_sql(&p, &order)
                    )
                }
                "pageInfo" => {
                    let psels = self.collect(&cs.sets, "PageInfo")?;
                    let more = format!("((select count(*) from {page}) > {limit})");
                    let pk_match: Vec<String> = t
                        .pkey
                        .iter()
                        .map(|c| {
                            let n = quote_ident(&t.columns[*c].name);
                            format!("{p}.{n} = {b}.{n}")
                        })
                        .collect();
                    let behind = format!(
                        "(exists(select 1 from {page} where __n <= {limit}) and coalesce((select not exists(select 1 from {page} {p} where {p}.__n <= {limit} and {}) from {from} {b} where {base_where} order by {} limit 1), false))",
                        pk_match.join(" and "),
                        order_sql(b, &eff)
                    );
                    let (next, prev) = if reverse {
                        (behind, more)
                    } else {
                        (more, behind)
                    };
                    let mut ppairs = Vec::new();
                    for ps in &psels {
                        let e = match ps.field.name.node.as_str() {
                            "__typename" => lit("PageInfo"),
                            "hasNextPage" => next.clone(),
                            "hasPreviousPage" => prev.clone(),
                            "startCursor" => format!(
                                "(select {} from {page} {p} where {p}.__n <= {limit} order by {} limit 1)",
                                cursor_of(&p),
                                order_sql(&p, &order)
                            ),
                            "endCursor" => format!(
                                "(select {} from {page} {p} where {p}.__n <= {limit} order by {} limit 1)",
                                cursor_of(&p),
                                order_sql(
                                    &p,
                                    &order.iter().map(|(c, d)| (*c, d.reverse())).collect::<Vec<_>>()
                                )
                            ),
                            other => return Err(format!("Unknown field \"{other}\" on type PageInfo")),
                        };
                        ppairs.push((ps.key.clone(), e));
                    }
                    object(&ppairs)
                }
                other => {
                    return Err(format!(
                        "Unknown field \"{other}\" on type {}Connection",
                        t.type_name
                    ))
                }
            };
            pairs.push((cs.key.clone(), expr));
        }
        Ok(format!(
            "(with {page} as ({records}) select {})",
            object(&pairs)
        ))
    }

    /// The `aggregate` object over the rows of table `ti` aliased `b` (filtered, not paged).
    fn aggregate(&mut self, ti: usize, b: &str, s: &Sel<'a>) -> Result<String, Error> {
        let t = &self.m.tables[ti];
        let tn = &t.type_name;
        let mut pairs = Vec::new();
        for a in &self.collect(&s.sets, &format!("{tn}Aggregate"))? {
            let name = a.field.name.node.as_str();
            let e = match name {
                "__typename" => lit(&format!("{tn}Aggregate")),
                "count" => "count(*)".to_string(),
                _ => {
                    let op = AggOp::ALL
                        .into_iter()
                        .find(|o| o.name() == name)
                        .ok_or_else(|| format!("Unknown field \"{name}\" on type {tn}Aggregate"))?;
                    let result = format!("{tn}{}AggregateResult", op.type_part());
                    let cols = t.aggregatable(op);
                    let mut inner = Vec::new();
                    for c in &self.collect(&a.sets, &result)? {
                        let cname = c.field.name.node.as_str();
                        let e = if cname == "__typename" {
                            lit(&result)
                        } else {
                            let (_, ci, _) =
                                cols.iter().find(|(n, _, _)| *n == cname).ok_or_else(|| {
                                    format!("Unknown field \"{cname}\" on type {result}")
                                })?;
                            let col = format!("{b}.{}", quote_ident(&t.columns[*ci].name));
                            match op {
                                AggOp::Avg => format!("avg({col}::numeric)"),
                                _ => format!("{}({col})", op.name()),
                            }
                        };
                        inner.push((c.key.clone(), e));
                    }
                    object(&inner)
                }
            };
            pairs.push((a.key.clone(), e));
        }
        Ok(object(&pairs))
    }

    /// Rows strictly after the cursor `vals` in the order `eff`.
    fn after_cursor(
        &mut self,
        t: &TableM,
        b: &str,
        eff: &[(usize, Dir)],
        vals: &[serde_json::Value],
    ) -> String {
        let mut ors = Vec::new();
        for i in 0..eff.len() {
            let mut ands = Vec::new();
            for (j, (c, _)) in eff.iter().enumerate().take(i) {
                let col = &t.columns[*c];
                let v = self.bind(json_text(&vals[j]), &col.sql_type.clone());
                ands.push(format!(
                    "{b}.{} is not distinct from {v}",
                    quote_ident(&col.name)
                ));
            }
            let (c, d) = eff[i];
            let col = &t.columns[c];
            let name = format!("{b}.{}", quote_ident(&col.name));
            let strict = match (&vals[i], d.nulls_first) {
                (serde_json::Value::Null, true) => format!("{name} is not null"),
                (serde_json::Value::Null, false) => "false".to_string(),
                (v, nulls_first) => {
                    let p = self.bind(json_text(v), &col.sql_type.clone());
                    let op = if d.desc { "<" } else { ">" };
                    if nulls_first {
                        format!("{name} {op} {p}")
                    } else {
                        format!("({name} {op} {p} or {name} is null)")
                    }
                }
            };
            ands.push(strict);
            ors.push(format!("({})", ands.join(" and ")));
        }
        format!("({})", ors.join(" or "))
    }

    /// The SQL text of an input value for a column or argument of type `ty`.
    fn input_text(&self, v: &ConstValue, ty: &Ty) -> Result<Option<String>, Error> {
        Ok(match (v, ty) {
            (ConstValue::Null, _) => None,
            (v, Ty::List(inner)) => {
                let items: Result<Vec<Option<String>>, Error> = list_of(v)
                    .into_iter()
                    .map(|x| self.input_text(x, inner.as_ref()))
                    .collect();
                Some(array_literal(&items?))
            }
            (ConstValue::Enum(n), Ty::Enum(e)) => Some(
                self.m.enums[*e]
                    .to_sql(n.as_str())
                    .ok_or_else(|| {
                        format!("Invalid input for {} type", self.m.enums[*e].type_name)
                    })?
                    .to_string(),
            ),
            (ConstValue::String(n), Ty::Enum(e)) => Some(
                self.m.enums[*e]
                    .to_sql(n)
                    .ok_or_else(|| {
                        format!("Invalid input for {} type", self.m.enums[*e].type_name)
                    })?
                    .to_string(),
            ),
            (ConstValue::Number(_), Ty::Scalar(Scalar::BigFloat)) => {
                return Err("Invalid input for BigFloat type. String required".into())
            }
            (ConstValue::Number(n), _) => Some(n.to_string()),
            (ConstValue::String(s), _) => Some(s.clone()),
            (ConstValue::Boolean(x), _) => Some(x.to_string()),
            (ConstValue::Enum(n), _) => Some(n.to_string()),
            (other, _) => Some(
                other
                    .clone()
                    .into_json()
                    .map_err(|e| e.to_string())?
                    .to_string(),
            ),
        })
    }

    /// A filter object on table `ti` under alias `b`.
    fn filter(&mut self, ti: usize, b: &str, v: &ConstValue) -> Result<String, Error> {
        let m = self.m;
        let t = &m.tables[ti];
        let ConstValue::Object(o) = v else {
            return Ok("true".into());
        };
        let mut ands = Vec::new();
        for (k, fv) in o {
            if matches!(fv, ConstValue::Null) {
                continue;
            }
            // A column named `and`, `or`, `not` or `nodeId` takes the name.
            let key = match t.column_by_field(k.as_str()) {
                Some(_) => "",
                None => k.as_str(),
            };
            match key {
                "and" | "or" => {
                    let parts: Result<Vec<String>, Error> = list_of(fv)
                        .into_iter()
                        .map(|x| self.filter(ti, b, x))
                        .collect();
                    let parts = parts?;
                    if k.as_str() == "and" {
                        if !parts.is_empty() {
                            ands.push(format!("({})", parts.join(" and ")));
                        }
                    } else if !parts.is_empty() {
                        // An empty `or` filters nothing, as in pg_graphql.
                        ands.push(format!("({})", parts.join(" or ")));
                    }
                }
                "not" => {
                    let inner = self.filter(ti, b, fv)?;
                    // An empty `not` filters nothing, as in pg_graphql.
                    if inner != "true" {
                        ands.push(format!("not ({inner})"));
                    }
                }
                "nodeId" => {
                    let ConstValue::Object(ops) = fv else {
                        continue;
                    };
                    for (op, val) in ops {
                        if op.as_str() != "eq" {
                            return Err(format!("Invalid filter operation on nodeId: {op}"));
                        }
                        let ConstValue::String(id) = val else {
                            continue;
                        };
                        let (schema, table, pk) =
                            decode_node_id(id).ok_or("Unable to decode nodeId")?;
                        if schema != t.schema || table != t.name || pk.len() != t.pkey.len() {
                            return Err("nodeId belongs to a different collection".into());
                        }
                        for (ci, pv) in t.pkey.iter().zip(&pk) {
                            let c = &t.columns[*ci];
                            let p = self.bind(json_text(pv), &c.sql_type.clone());
                            ands.push(format!("{b}.{} = {p}", quote_ident(&c.name)));
                        }
                    }
                }
                _ => {
                    let field = k.as_str();
                    let ci = t
                        .column_by_field(field)
                        .ok_or_else(|| format!("Unknown field \"{field}\" in filter"))?;
                    let c = &t.columns[ci];
                    let col = format!("{b}.{}", quote_ident(&c.name));
                    let ConstValue::Object(ops) = fv else {
                        return Err(format!("Invalid filter on \"{field}\""));
                    };
                    for (op, val) in ops {
                        if matches!(val, ConstValue::Null) {
                            continue;
                        }
                        let ty = c.sql_type.clone();
                        let cond = match (op.as_str(), &c.ty) {
                            ("is", _) => match enum_str(val) {
                                "NULL" => format!("{col} is null"),
                                "NOT_NULL" => format!("{col} is not null"),
                                _ => return Err("Invalid input for FilterIs".into()),
                            },
                            (
                                op @ ("contains" | "containedBy" | "overlaps" | "eq"),
                                Ty::List(_),
                            ) => {
                                let text = self.input_text(val, &c.ty)?;
                                let p = self.bind(text, &ty);
                                let sym = match op {
                                    "contains" => "@>",
                                    "containedBy" => "<@",
                                    "overlaps" => "&&",
                                    _ => "=",
                                };
                                format!("{col} {sym} {p}")
                            }
                            ("in", _) => {
                                let text =
                                    self.input_text(val, &Ty::List(Box::new(c.ty.clone())))?;
                                let p = self.bind(text, &format!("{ty}[]"));
                                format!("{col} = any({p})")
                            }
                            (op, _) => {
                                let text = self.input_text(val, &c.ty)?;
                                let sym = match op {
                                    "eq" => "=",
                                    "neq" => "<>",
                                    "lt" => "<",
                                    "lte" => "<=",
                                    "gt" => ">",
                                    "gte" => ">=",
                                    "like" => "like",
                                    "ilike" => "ilike",
                                    "regex" => "~",
                                    "iregex" => "~*",
                                    "startsWith" => {
                                        let p = self.bind(text, "text");
                                        ands.push(format!("starts_with({col}::text, {p})"));
                                        continue;
                                    }
                                    other => {
                                        return Err(format!("Invalid filter operation: {other}"))
                                    }
                                };
                                let p = if matches!(op, "like" | "ilike" | "regex" | "iregex") {
                                    self.bind(text, "text")
                                } else {
                                    self.bind(text, &ty)
                                };
                                format!("{col} {sym} {p}")
                            }
                        };
                        ands.push(cond);
                    }
                }
            }
        }
        if ands.is_empty() {
            Ok("true".into())
        } else {
            Ok(format!("({})", ands.join(" and ")))
        }
    }

    /// The call `"schema"."f"(name => $n::type, ...)` of function `fi` with `s`'s arguments
    /// (a computed field: with the row `row`).
    fn call(&mut self, fi: usize, s: &Sel<'a>, row: Option<String>) -> Result<String, Error> {
        let f = &self.m.functions[fi];
        let mut args: Vec<String> = row.into_iter().collect();
        for a in &f.args {
            let v = self.arg(s.field, &a.field)?;
            match v {
                None if a.has_default && s.field.get_argument(&a.field).is_none() => continue,
                v => {
                    let text = match &v {
                        Some(v) => self.input_text(v, &a.ty)?,
                        None => None,
                    };
                    let p = self.bind(text, &a.sql_type);
                    args.push(format!("{} => {p}", quote_ident(&a.sql_name)));
                }
            }
        }
        Ok(format!(
            "{}({})",
            basalt_pg::quote_qualified(&f.schema, &f.name),
            args.join(", ")
        ))
    }

    fn function(&mut self, fi: usize, s: &Sel<'a>) -> Result<String, Error> {
        self.function_on(fi, s, None)
    }

    /// Function `fi`'s value as JSON (`row`: a computed field's row).
    fn function_on(
        &mut self,
        fi: usize,
        s: &Sel<'a>,
        row: Option<String>,
    ) -> Result<String, Error> {
        let call = self.call(fi, s, row)?;
        match self.m.functions[fi].ret.clone() {
            FnReturn::Scalar(ty, oid) => {
                if let Ty::Enum(e) = ty {
                    if self.m.enums[e].mapped {
                        let en = &self.m.enums[e];
                        let cases: Vec<String> = en
                            .values
                            .iter()
                            .map(|(g, sv)| format!("when v::text = {} then {}", lit(sv), lit(g)))
                            .collect();
                        return Ok(format!(
                            "(select to_json(case {} else v::text end) from {call} v)",
                            cases.join(" ")
                        ));
                    }
                }
                Ok(format!("to_json(({call}){})", suffix(oid)))
            }
            FnReturn::Node(t) => {
                let b = self.next_alias();
                let obj = self.node_object(t, &b, &s.sets)?;
                let pk = quote_ident(&self.m.tables[t].columns[self.m.tables[t].pkey[0]].name);
                Ok(format!(
                    "(select {obj} from {call} {b} where {b}.{pk} is not null limit 1)"
                ))
            }
            FnReturn::Connection(t) => self.connection(t, &call, None, s),
        }
    }

    /// A mutation root field: its statement (returning the JSON and the affected count) and the
    /// `atMost` bound.
    fn mutation(&mut self, rf: RootField, s: &Sel<'a>) -> Result<(String, Option<AtMost>), Error> {
        let m = self.m;
        let at_most = |tr: &Self| -> Result<i64, Error> {
            match tr.arg(s.field, "atMost")? {
                None => Ok(1),
                Some(ConstValue::Number(n)) => {
                    n.as_i64().ok_or_else(|| "Invalid atMost".to_string())
                }
                Some(_) => Err("Invalid atMost".into()),
            }
        };
        match rf {
            RootField::Insert(ti) => {
                let t = &m.tables[ti];
                let objects = self.arg(s.field, "objects")?.unwrap_or(ConstValue::Null);
                let rows = list_of(&objects);
                if rows.is_empty() {
                    return Err("At least one record must be provided to objects".into());
                }
                // Columns named by any object, in table order.
                let mut used: Vec<usize> = Vec::new();
                for r in &rows {
                    let ConstValue::Object(o) = r else {
                        return Err(format!("Invalid input for {}InsertInput type", t.type_name));
                    };
                    for k in o.keys() {
                        let ci = t
                            .column_by_field(k.as_str())
                            .filter(|c| t.columns[*c].insertable)
                            .ok_or_else(|| {
                                format!(
                                    "Input for type {}InsertInput contains extra keys [\"{k}\"]",
                                    t.type_name
                                )
                            })?;
                        if !used.contains(&ci) {
                            used.push(ci);
                        }
                    }
                }
                used.sort_unstable();
                let mut values = Vec::new();
                for r in &rows {
                    let ConstValue::Object(o) = r else { continue };
                    let mut cells = Vec::new();
                    for ci in &used {
                        let c = &t.columns[*ci];
                        match o.get(c.field.as_str()) {
                            Some(v) => {
                                let text = self.input_text(v, &c.ty)?;
                                cells.push(self.bind(text, &c.sql_type.clone()));
                            }
                            None => cells.push("default".into()),
                        }
                    }
                    values.push(format!("({})", cells.join(", ")));
                }
                let insert = if used.is_empty() {
                    if rows.len() > 1 {
                        return Err("Each object must set at least one column".into());
                    }
                    format!("insert into {} default values", t.qualified())
                } else {
                    let cols: Vec<String> = used
                        .iter()
                        .map(|c| quote_ident(&t.columns[*c].name))
                        .collect();
                    format!(
                        "insert into {} ({}) values {}",
                        t.qualified(),
                        cols.join(", "),
                        values.join(", ")
                    )
                };
                let sql = self.records(ti, &insert, s, "InsertResponse")?;
                Ok((sql, None))
            }
            RootField::Update(ti) => {
                let t = &m.tables[ti];
                let b = self.next_alias();
                let set = self.arg(s.field, "set")?.unwrap_or(ConstValue::Null);
                let ConstValue::Object(o) = set else {
                    return Err("Invalid input for set".into());
                };
                let mut sets = Vec::new();
                for (k, v) in &o {
                    let ci = t
                        .column_by_field(k.as_str())
                        .filter(|c| t.columns[*c].updatable)
                        .ok_or_else(|| {
                            format!(
                                "Input for type {}UpdateInput contains extra keys [\"{k}\"]",
                                t.type_name
                            )
                        })?;
                    let c = &t.columns[ci];
                    let text = self.input_text(v, &c.ty)?;
                    let p = self.bind(text, &c.sql_type.clone());
                    sets.push(format!("{} = {p}", quote_ident(&c.name)));
                }
                if sets.is_empty() {
                    return Err("At least one mapping must be provided to set argument".into());
                }
                let filter = match self.arg(s.field, "filter")? {
                    Some(fv) => self.filter(ti, &b, &fv)?,
                    None => "true".into(),
                };
                let stmt = format!(
                    "update {} {b} set {} where {filter}",
                    t.qualified(),
                    sets.join(", ")
                );
                let sql = self.records(ti, &stmt, s, "UpdateResponse")?;
                Ok((
                    sql,
                    Some((at_most(self)?, "update impacts too many records")),
                ))
            }
            RootField::Delete(ti) => {
                let t = &m.tables[ti];
                let b = self.next_alias();
                let filter = match self.arg(s.field, "filter")? {
                    Some(fv) => self.filter(ti, &b, &fv)?,
                    None => "true".into(),
                };
                let stmt = format!("delete from {} {b} where {filter}", t.qualified());
                let sql = self.records(ti, &stmt, s, "DeleteResponse")?;
                Ok((
                    sql,
                    Some((at_most(self)?, "delete impacts too many records")),
                ))
            }
            RootField::Function(fi) => {
                let expr = self.function(fi, s)?;
                Ok((format!("select ({expr})::text, 0"), None))
            }
            _ => Err("Queries are not allowed in a mutation".into()),
        }
    }

    /// `with __affected as (<stmt> returning ...) select <response json>, count`.
    fn records(
        &mut self,
        ti: usize,
        stmt: &str,
        s: &Sel<'a>,
        suffix_name: &str,
    ) -> Result<String, Error> {
        let m = self.m;
        let t = &m.tables[ti];
        let cols: Vec<String> = t
            .columns
            .iter()
            .filter(|c| c.selectable)
            .map(|c| quote_ident(&c.name))
            .collect();
        let sels = self.collect(&s.sets, &format!("{}{suffix_name}", t.type_name))?;
        let mut pairs = Vec::new();
        for rs in &sels {
            let e = match rs.field.name.node.as_str() {
                "__typename" => lit(&format!("{}{suffix_name}", t.type_name)),
                "affectedCount" => "(select count(*) from __affected)::int".to_string(),
                "records" => {
                    let p = self.next_alias();
                    let obj = self.node_object(ti, &p, &rs.sets)?;
                    // Inserted rows in the order given; updated and deleted ones by key.
                    let order = if suffix_name == "InsertResponse" {
                        String::new()
                    } else {
                        let keys: Vec<String> = t
                            .pkey
                            .iter()
                            .map(|c| format!("{p}.{}", quote_ident(&t.columns[*c].name)))
                            .collect();
                        format!(" order by {}", keys.join(", "))
                    };
                    format!(
                        "coalesce((select json_agg({obj}{order}) from __affected {p}), '[]'::json)"
                    )
                }
                other => {
                    return Err(format!(
                        "Unknown field \"{other}\" on type {}{suffix_name}",
                        t.type_name
                    ))
                }
            };
            pairs.push((rs.key.clone(), e));
        }
        Ok(format!(
            "with __affected as ({stmt} returning {}) select {}::text, (select count(*) from __affected)",
            cols.join(", "),
            object(&pairs)
        ))
    }
}

fn node_id_expr(t: &TableM, b: &str) -> String {
    let mut parts = vec![lit(&t.schema) + "::text", lit(&t.name) + "::text"];
    for c in &t.pkey {
        parts.push(format!("{b}.{}", quote_ident(&t.columns[*c].name)));
    }
    format!(
        "translate(encode(convert_to(jsonb_build_array({})::text, 'utf-8'), 'base64'), E'\\n', '')",
        parts.join(", ")
    )
}

fn cursor_expr(t: &TableM, b: &str, order: &[(usize, Dir)]) -> String {
    let parts: Vec<String> = order
        .iter()
        .map(|(c, _)| format!("to_jsonb({b}.{})", quote_ident(&t.columns[*c].name)))
        .collect();
    format!(
        "translate(encode(convert_to(jsonb_build_array({})::text, 'utf-8'), 'base64'), E'\\n', '')",
        parts.join(", ")
    )
}

/// An enum value given inline (`AscNullsFirst`) or through a variable (`"AscNullsFirst"`).
fn enum_str(v: &ConstValue) -> &str {
    match v {
        ConstValue::Enum(e) => e.as_str(),
        ConstValue::String(s) => s.as_str(),
        _ => "",
    }
}

fn decode_cursor(c: &str) -> Option<Vec<serde_json::Value>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Array(a) => Some(a),
        _ => None,
    }
}

#[allow(dead_code)]
fn _scalar_used(s: Scalar) -> &'static str {
    s.name()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use serde_json::json;

    fn column(name: &str, oid: i64, ty: &str, not_null: bool) -> serde_json::Value {
        json!({"name": name, "type_oid": oid, "type_schema": "pg_catalog", "type_name": ty,
               "typtype": "b", "elem_oid": 0, "typmod": -1, "not_null": not_null,
               "has_default": false, "generated": false, "comment": null,
               "can_select": true, "can_insert": true, "can_update": true})
    }

    fn model() -> Model {
        let table = |oid: i64, name: &str, cols: Vec<serde_json::Value>| {
            json!({"oid": oid, "schema": "public", "name": name, "kind": "r", "comment": null, "rls": false,
                   "can_select": true, "can_insert": true, "can_update": true, "can_delete": true,
                   "columns": cols, "pkey": ["id"], "uniques": [["id"]]})
        };
        let cat: Catalog = serde_json::from_value(json!({
            "schemas": [{"name": "public", "comment": "@graphql({\"inflect_names\": true})"}],
            "tables": [
                table(1, "blog_post", vec![column("id", 23, "int4", true), column("title", 25, "text", false),
                                           column("author_id", 23, "int4", false)]),
                table(2, "author", vec![column("id", 23, "int4", true), column("na\"me", 25, "text", false)]),
            ],
            "fkeys": [{"name": "f", "local_oid": 1, "foreign_oid": 2, "local_columns": ["author_id"],
                       "foreign_columns": ["id"], "comment": null}],
            "enums": [], "functions": []
        }))
        .unwrap();
        Model::from_catalog(&cat)
    }

    fn sql_of(query: &str, vars: serde_json::Value) -> Statement {
        let m = model();
        let doc = async_graphql::parser::parse_query(query).unwrap();
        let op = operation(&doc, None).unwrap();
        let vars = vars.as_object().cloned().unwrap_or_default();
        match translate(&m, &doc, &op.node, &vars).unwrap() {
            Translated::Query(s) => s,
            Translated::Mutation(..) => panic!("a query"),
        }
    }

    #[test]
    fn names_follow_pg_graphql_inflection() {
        let m = model();
        let names: Vec<&str> = m.query.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "authorByPk",
                "authorCollection",
                "blogPostByPk",
                "blogPostCollection",
                "node"
            ]
        );
        let post = &m.tables[0];
        assert_eq!(post.type_name, "BlogPost");
        let fields: Vec<&str> = post.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(fields, ["nodeId", "id", "title", "authorId", "author"]);
        let author = &m.tables[1];
        assert!(author.field("blogPostCollection").is_some());
        assert!(m
            .mutation
            .iter()
            .any(|(n, _)| n == "insertIntoBlogPostCollection"));
    }

    #[test]
    fn values_are_bound_and_identifiers_quoted() {
        let s = sql_of(
            r#"query($t: String) { blogPostCollection(first: 2, filter: {title: {eq: $t}, id: {in: [1, 2]}}) {
                 edges { cursor node { title author { id } } } pageInfo { hasNextPage } } }"#,
            json!({"t": "x'; drop table author; --"}),
        );
        assert!(s.sql.contains("\"public\".\"blog_post\""), "{}", s.sql);
        assert!(
            !s.sql.contains("drop table"),
            "values never reach the SQL text"
        );
        assert!(s.params.contains(&Some("x'; drop table author; --".into())));
        assert!(s.params.contains(&Some("{\"1\",\"2\"}".into())));
        assert!(
            s.sql.contains("limit 3"),
            "one row more than asked for hasNextPage"
        );
    }

    #[test]
    fn pagination_arguments_are_checked() {
        let m = model();
        let doc = async_graphql::parser::parse_query(
            "{ blogPostCollection(first: 1, last: 1) { edges { cursor } } }",
        )
        .unwrap();
        let op = operation(&doc, None).unwrap();
        let e = translate(&m, &doc, &op.node, &serde_json::Map::new()).unwrap_err();
        assert_eq!(e, "only one of \"first\" and \"last\" may be provided");
    }

    #[test]
    fn node_ids_and_cursors_decode() {
        let (s, t, pk) = decode_node_id("WyJwdWJsaWMiLCAiYWNjb3VudCIsIDFd").unwrap();
        assert_eq!((s.as_str(), t.as_str()), ("public", "account"));
        assert_eq!(pk, vec![json!(1)]);
        assert_eq!(decode_cursor("WzFd"), Some(vec![json!(1)]));
        assert_eq!(
            array_literal(&[Some("a\"b".into()), None]),
            "{\"a\\\"b\",NULL}"
        );
    }
}
