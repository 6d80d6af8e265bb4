//! SQL rendering: plans become statement text with `$n` bind parameters. Identifiers are always
//! quoted; values are always parameters, sent in text format so that Postgres parses them with
//! the type it infers (exactly like an untyped literal). Nothing here talks to the database.

use bytes::BytesMut;
use postgres_types::{to_sql_checked, Format, IsNull, ToSql, Type};

use crate::grammar::{IsValue, JsonKey, OpExpr, Predicate, Quantifier};
use crate::plan::{Cond, EmbedPlan, FieldRef, Item, Order, ReadPlan, Source};
use crate::schema::{Cardinality, Qi, SchemaCache};

/// A statement under construction.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<TextParam>,
}

impl Sql {
    /// Add a parameter and return its placeholder.
    pub fn bind(&mut self, v: impl Into<String>) -> String {
        self.params.push(TextParam(Some(v.into())));
        format!("${}", self.params.len())
    }
    /// Add a parameter that may be SQL NULL.
    pub fn bind_opt(&mut self, v: Option<String>) -> String {
        self.params.push(TextParam(v));
        format!("${}", self.params.len())
    }

    /// Whether the text uses exactly the bound parameters, `$1` to `$n` (a placeholder inside a
    /// quoted literal or identifier does not count). Checked before every statement is sent, so a
    /// builder that binds a value it does not use is an error of basalt's, never a protocol error
    /// from Postgres.
    pub fn placeholders_match(&self) -> bool {
        let n = self.params.len();
        let mut used = vec![false; n];
        let bytes = self.text.as_bytes();
        let mut i = 0;
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'\'' || b == b'"' => quote = Some(b),
                None if b == b'$' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && bytes[end].is_ascii_digit() {
                        end += 1;
                    }
                    if end > start {
                        let k: usize = self.text[start..end].parse().unwrap_or(0);
                        match used.get_mut(k.wrapping_sub(1)) {
                            Some(slot) => *slot = true,
                            None => return false,
                        }
                        i = end;
                        continue;
                    }
                }
                None => {}
            }
            i += 1;
        }
        used.into_iter().all(|u| u)
    }
}

/// A parameter sent in text format, for any type Postgres infers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextParam(pub Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }
    to_sql_checked!();
}

pub use basalt_pg::quote_ident as ident;

/// A quoted schema-qualified name.
pub fn qi(q: &Qi) -> String {
    basalt_pg::quote_qualified(&q.schema, &q.name)
}

/// A Postgres array literal with every element quoted.
pub fn array_literal(items: &[String]) -> String {
    let mut s = String::from("{");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        for c in it.chars() {
            if c == '"' || c == '\\' {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('"');
    }
    s.push('}');
    s
}

/// The SQL of a field (column, computed column, JSON path) of the row `alias`.
pub fn field_sql(sql: &mut Sql, alias: &str, f: &FieldRef) -> String {
    let mut e = match &f.computed {
        Some((func, row_type)) => format!("{}({}::{})", qi(func), ident(alias), qi(row_type)),
        None => format!("{}.{}", ident(alias), ident(&f.column)),
    };
    if !f.path.is_empty() && !f.is_json {
        e = format!("to_jsonb({e})");
    }
    for step in &f.path {
        let op = if step.text { "->>" } else { "->" };
        match &step.key {
            JsonKey::Key(k) => {
                let p = sql.bind(k.clone());
                e = format!("{e}{op}{p}::text");
            }
            JsonKey::Index(i) => e = format!("{e}{op}({i})"),
        }
    }
    e
}

fn like_pattern(v: &str) -> String {
    v.replace('*', "%")
}

/// Render one filter expression on `lhs`.
pub fn op_sql(sql: &mut Sql, lhs: &str, f: &FieldRef, e: &OpExpr) -> String {
    let body = match &e.pred {
        Predicate::Is(v) => {
            let k = match v {
                IsValue::Null => "NULL",
                IsValue::NotNull => "NOT NULL",
                IsValue::True => "TRUE",
                IsValue::False => "FALSE",
                IsValue::Unknown => "UNKNOWN",
            };
            format!("{lhs} IS {k}")
        }
        Predicate::In(items) => {
            let p = sql.bind(array_literal(items));
            match &f.from_text {
                Some(func) => format!(
                    "{lhs} = ANY(ARRAY(SELECT {}(\"pgrst_v\") FROM unnest({p}::text[]) AS \"pgrst_v\"))",
                    qi(func)
                ),
                None => format!("{lhs} = ANY({p})"),
            }
        }
        Predicate::Fts { kind, lang, query } => {
            // Each use of the language is its own parameter: one typed by the `regconfig` cast
            // where it is used, never one bound and left unused.
            let config = |sql: &mut Sql| match lang {
                Some(l) => format!("{}::regconfig, ", sql.bind(l.clone())),
                None => String::new(),
            };
            let vec = if f.is_tsvector && f.path.is_empty() {
                lhs.to_string()
            } else {
                format!("to_tsvector({}{lhs})", config(sql))
            };
            let l2 = config(sql);
            let q = sql.bind(query.clone());
            format!("{vec} @@ {}({l2}{q})", kind.function())
        }
        Predicate::IsDistinct(v) => {
            let p = sql.bind(v.clone());
            format!("{lhs} IS DISTINCT FROM {p}")
        }
        Predicate::Quantified {
            op,
            quantifier,
            items,
        } => {
            let items: Vec<String> = if op.is_like() {
                items.iter().map(|i| like_pattern(i)).collect()
            } else {
                items.clone()
            };
            let p = sql.bind(array_literal(&items));
            let q = match quantifier {
                Quantifier::All => "ALL",
                Quantifier::Any => "ANY",
            };
            format!("{lhs} {} {q}({p})", op.sql())
        }
        Predicate::Compare { op, value } => {
            let v = if op.is_like() {
                like_pattern(value)
            } else {
                value.clone()
            };
            let p = sql.bind(v);
            let p = match &f.from_text {
                Some(func) if f.path.is_empty() => format!("{}({p}::text)", qi(func)),
                _ => p,
            };
            format!("{lhs} {} {p}", op.sql())
        }
    };
    if e.negated {
        format!("NOT ({body})")
    } else {
        body
    }
}

fn lateral_alias(plan: &ReadPlan, idx: usize) -> String {
    format!("{}_lat_{}", plan.alias, idx)
}

fn cond_sql(sql: &mut Sql, plan: &ReadPlan, c: &Cond) -> String {
    match c {
        Cond::Filter { field, expr } => {
            let lhs = field_sql(sql, &plan.alias, field);
            op_sql(sql, &lhs, field, expr)
        }
        Cond::EmbedNull { embed, is_null } => format!(
            "{}.\"pgrst_body\" IS {}NULL",
            ident(&lateral_alias(plan, *embed)),
            if *is_null { "" } else { "NOT " }
        ),
        Cond::Tree {
            negated,
            or,
            children,
        } => {
            let parts: Vec<String> = children.iter().map(|c| cond_sql(sql, plan, c)).collect();
            let joined = if parts.is_empty() {
                "TRUE".to_string()
            } else {
                parts.join(if *or { " OR " } else { " AND " })
            };
            if *negated {
                format!("NOT ({joined})")
            } else {
                format!("({joined})")
            }
        }
    }
}

fn order_sql(sql: &mut Sql, plan: &ReadPlan, o: &Order) -> String {
    let e = match o.embed {
        Some(i) => {
            let alias = lateral_alias(plan, i);
            field_sql(sql, &alias, &o.field)
        }
        None => field_sql(sql, &plan.alias, &o.field),
    };
    let mut s = format!("{e} {}", if o.desc { "DESC" } else { "ASC" });
    match o.nulls_first {
        Some(true) => s.push_str(" NULLS FIRST"),
        Some(false) => s.push_str(" NULLS LAST"),
        None => {}
    }
    s
}

/// The ` WHERE …` of a PATCH/DELETE: the plan's top-level conditions. With `limit`/`offset`
/// (tables only) the rows are chosen by `ctid` from the ordered, limited selection.
pub fn write_where_sql(sql: &mut Sql, plan: &ReadPlan, target: &Qi) -> String {
    let conds: Vec<String> = plan.conds.iter().map(|c| cond_sql(sql, plan, c)).collect();
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    if plan.limit.is_none() && plan.offset == 0 {
        return filter;
    }
    let alias = ident(&plan.alias);
    let mut inner = format!("SELECT {alias}.ctid FROM {} AS {alias}{filter}", qi(target));
    if !plan.order.is_empty() {
        let terms: Vec<String> = plan.order.iter().map(|o| order_sql(sql, plan, o)).collect();
        inner.push_str(&format!(" ORDER BY {}", terms.join(", ")));
    }
    if let Some(l) = plan.limit {
        inner.push_str(&format!(" LIMIT {}", l.max(0)));
    }
    if plan.offset > 0 {
        inner.push_str(&format!(" OFFSET {}", plan.offset));
    }
    format!(" WHERE {alias}.ctid = ANY(ARRAY({inner}))")
}

/// How the top of a read is rendered.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Leave out top-level conditions (already applied by a mutation).
    pub skip_conds: bool,
    /// Leave out top-level ORDER/LIMIT/OFFSET.
    pub skip_paging: bool,
    /// Extra cap on the number of rows (db-max-rows).
    pub max_rows: Option<i64>,
    /// The read is a to-one spread whose aggregates the embedding level computes: it selects
    /// each aggregate's input (named as the aggregate's output) and groups nothing.
    pub hoist: bool,
    /// Embedded values as `jsonb`, whose text (spacing, key order) a CSV body shows as
    /// PostgREST's does.
    pub jsonb_embeds: bool,
}

/// A function call with named (or positional, when unnamed) bound arguments.
pub fn call_sql(sql: &mut Sql, routine: &Qi, args: &[(String, Option<String>, bool)]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|(name, value, variadic)| {
            let p = sql.bind_opt(value.clone());
            let v = if *variadic { "VARIADIC " } else { "" };
            if name.is_empty() {
                format!("{v}{p}")
            } else {
                format!("{v}{} := {p}", ident(name))
            }
        })
        .collect();
    format!("{}({})", qi(routine), parts.join(", "))
}

/// The source expression of a plan, with `parent` the alias of the embedding row.
fn source_sql(sql: &mut Sql, cache: &SchemaCache, plan: &ReadPlan, parent: Option<&str>) -> String {
    match &plan.source {
        Source::Relation(q) => qi(q),
        // The relation's columns only (a write may return more, e.g. `pgrst_ins`), so the row
        // casts to the relation's type.
        Source::Cte(name) => match plan.relation.as_ref().and_then(|q| cache.relations.get(q)) {
            Some(rel) if !rel.columns.is_empty() => {
                let cols: Vec<String> = rel.columns.iter().map(|c| ident(&c.name)).collect();
                format!("(SELECT {} FROM {})", cols.join(", "), ident(name))
            }
            _ => ident(name),
        },
        Source::Function { routine, args } => call_sql(sql, routine, args),
        Source::Computed(f) => format!("{}({})", qi(f), ident(parent.unwrap_or(""))),
    }
}

/// Render the `SELECT` of a read. `parent` is `(alias of parent row, embed)` for embedded reads.
pub fn read_sql(
    sql: &mut Sql,
    cache: &SchemaCache,
    plan: &ReadPlan,
    parent: Option<(&str, &EmbedPlan)>,
    opts: ReadOptions,
) -> String {
    let alias = ident(&plan.alias);
    let mut select = Vec::new();
    let mut group = Vec::new();
    let aggregating = !opts.hoist && (plan.has_aggregates() || plan.hoists_aggregates());
    for item in &plan.items {
        match item {
            Item::Star(Some(cols)) => {
                let rel = plan.relation.as_ref().and_then(|q| cache.relations.get(q));
                for c in cols {
                    let mut e = format!("{alias}.{}", ident(c));
                    if aggregating {
                        group.push(e.clone());
                    }
                    if let Some(f) = rel
                        .and_then(|r| r.column(c))
                        .and_then(|col| col.to_json.as_ref())
                    {
                        e = format!("{}({e}) AS {}", qi(f), ident(c));
                    }
                    select.push(e);
                }
            }
            Item::Star(None) => select.push(format!("{alias}.*")),
            Item::Field {
                field,
                cast,
                aggregate,
                aggregate_cast,
                name,
            } => {
                let mut e = field_sql(sql, &plan.alias, field);
                if let (Some(f), true) = (&field.to_json, field.path.is_empty()) {
                    if aggregate.is_none() {
                        e = format!("{}({e})", qi(f));
                    }
                }
                if let Some(t) = cast {
                    e = format!("CAST({e} AS {t})");
                }
                match aggregate {
                    Some(_) if opts.hoist => {}
                    Some(a) => {
                        e = format!("{}({e})", a.sql_name());
                        if let Some(t) = aggregate_cast {
                            e = format!("CAST({e} AS {t})");
                        }
                    }
                    None => {
                        if aggregating {
                            group.push(e.clone());
                        }
                    }
                }
                select.push(format!("{e} AS {}", ident(name)));
            }
            Item::WholeRow => select.push(format!("{alias} AS \"pgrst_row\"")),
            Item::CountAll { name, .. } if opts.hoist => {
                select.push(format!("NULL AS {}", ident(name)));
            }
            Item::CountAll { cast, name } => {
                let mut e = "pg_catalog.count(*)".to_string();
                if let Some(t) = cast {
                    e = format!("CAST({e} AS {t})");
                }
                select.push(format!("{e} AS {}", ident(name)));
            }
            Item::Embed(i) => {
                let emb = &plan.embeds[*i];
                if emb.hidden {
                    continue;
                }
                let lat = ident(&lateral_alias(plan, *i));
                // Next to aggregates, embedded values are grouping keys: as jsonb, since json
                // has no equality.
                let cast = if aggregating || opts.jsonb_embeds {
                    "::jsonb"
                } else {
                    ""
                };
                if emb.spread {
                    let to_many = !emb.rel.to_one();
                    // A hoisting read passes nested aggregates' inputs on as they are.
                    let lifted = if to_many || opts.hoist {
                        Vec::new()
                    } else {
                        emb.plan.spread_aggregates()
                    };
                    for n in emb.plan.output_names(cache) {
                        // An aggregate of a to-one spread is computed here, over its input.
                        if let Some((_, agg, agg_cast)) = lifted.iter().find(|l| l.0 == n) {
                            let mut e = match agg {
                                Some(a) => format!("{}({lat}.{})", a.sql_name(), ident(&n)),
                                None => "pg_catalog.count(*)".to_string(),
                            };
                            if let Some(t) = agg_cast {
                                e = format!("CAST({e} AS {t})");
                            }
                            select.push(format!("{e} AS {}", ident(&n)));
                            continue;
                        }
                        // Spread from a to-many embed, each column is the array of its values.
                        let e = if to_many {
                            format!("COALESCE({lat}.{}{cast}, '[]'{cast})", ident(&n))
                        } else {
                            format!("{lat}.{}", ident(&n))
                        };
                        if aggregating {
                            group.push(e.clone());
                        }
                        select.push(format!("{e} AS {}", ident(&n)));
                    }
                } else {
                    let e = if emb.rel.to_one() {
                        format!("{lat}.\"pgrst_body\"{cast}")
                    } else {
                        format!("COALESCE({lat}.\"pgrst_body\"{cast}, '[]'{cast})")
                    };
                    if aggregating {
                        group.push(e.clone());
                    }
                    select.push(format!("{e} AS {}", ident(&emb.name)));
                }
            }
        }
    }
    // A select of only hidden embeds has no columns: each row is an empty object.
    let from = source_sql(sql, cache, plan, parent.map(|(a, _)| a));
    let mut text = format!("SELECT {} FROM {from} AS {alias}", select.join(", "));
    // Embeds as lateral joins.
    let mut where_ = Vec::new();
    for (i, emb) in plan.embeds.iter().enumerate() {
        let lat = ident(&lateral_alias(plan, i));
        let to_one = emb.rel.to_one();
        let child = read_sql(
            sql,
            cache,
            &emb.plan,
            Some((&plan.alias, emb)),
            ReadOptions {
                hoist: emb.spread && to_one,
                // db-max-rows caps every level of the read, not only the top one.
                max_rows: opts.max_rows,
                // What a to-one spread passes up to an aggregating read is grouped by there,
                // embedded values included: those must be jsonb (json has no equality).
                jsonb_embeds: emb.spread
                    && to_one
                    && (aggregating || opts.hoist && opts.jsonb_embeds),
                ..ReadOptions::default()
            },
        );
        let body = if to_one {
            // At most one row; the LIMIT keeps the join a per-row lookup that preserves the
            // parent's order.
            format!("SELECT row_to_json(\"pgrst_x\".*) AS \"pgrst_body\", \"pgrst_x\".* FROM ({child}) AS \"pgrst_x\" LIMIT 1")
        } else {
            // A spread to-many embed also aggregates each of its columns on its own.
            let columns: String = if emb.spread {
                emb.plan
                    .output_names(cache)
                    .iter()
                    .map(|n| format!(", json_agg(\"pgrst_x\".{0}) AS {0}", ident(n)))
                    .collect()
            } else {
                String::new()
            };
            format!("SELECT json_agg(\"pgrst_x\") AS \"pgrst_body\"{columns} FROM ({child}) AS \"pgrst_x\"")
        };
        let join = if emb.inner && to_one {
            "JOIN"
        } else {
            "LEFT JOIN"
        };
        text.push_str(&format!(" {join} LATERAL ({body}) AS {lat} ON TRUE"));
        if emb.inner && !to_one {
            where_.push(format!("{lat}.\"pgrst_body\" IS NOT NULL"));
        }
    }
    // Join condition with the parent.
    if let Some((palias, emb)) = parent {
        let p = ident(palias);
        match &emb.rel.cardinality {
            _ if emb.rel.computed.is_some() => {}
            Cardinality::ManyToMany {
                junction,
                source_cols,
                target_cols,
                ..
            } => {
                let j = ident("pgrst_junction");
                let mut conds = Vec::new();
                for (scol, jcol) in source_cols {
                    conds.push(format!("{j}.{} = {p}.{}", ident(jcol), ident(scol)));
                }
                for (jcol, tcol) in target_cols {
                    conds.push(format!("{j}.{} = {alias}.{}", ident(jcol), ident(tcol)));
                }
                where_.push(format!(
                    "EXISTS (SELECT 1 FROM {} AS {j} WHERE {})",
                    qi(junction),
                    conds.join(" AND ")
                ));
            }
            _ => {
                for (scol, tcol) in &emb.rel.columns {
                    where_.push(format!("{alias}.{} = {p}.{}", ident(tcol), ident(scol)));
                }
            }
        }
    }
    if !(opts.skip_conds && parent.is_none()) {
        for c in &plan.conds {
            where_.push(cond_sql(sql, plan, c));
        }
    }
    if !where_.is_empty() {
        text.push_str(&format!(" WHERE {}", where_.join(" AND ")));
    }
    if aggregating && !group.is_empty() {
        text.push_str(&format!(" GROUP BY {}", group.join(", ")));
    }
    if opts.skip_paging && parent.is_none() {
        return text;
    }
    if !plan.order.is_empty() {
        let terms: Vec<String> = plan.order.iter().map(|o| order_sql(sql, plan, o)).collect();
        text.push_str(&format!(" ORDER BY {}", terms.join(", ")));
    }
    let limit = match (plan.limit, opts.max_rows) {
        (Some(l), Some(m)) => Some(l.min(m)),
        (l, m) => l.or(m),
    };
    if let Some(l) = limit {
        text.push_str(&format!(" LIMIT {}", l.max(0)));
    }
    if plan.offset > 0 {
        text.push_str(&format!(" OFFSET {}", plan.offset));
    }
    text
}

/// How the rows of a response body are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    /// A JSON array.
    Array,
    /// A JSON array with null-valued keys removed.
    ArrayStripped,
    /// The first row as one object (the caller checks there is exactly one).
    Object { strip_nulls: bool },
    /// CSV: a header line of the first row's column names (unquoted, comma-separated), a line
    /// feed, then one line per row as Postgres writes a record as text without its parentheses
    /// (values quoted when empty or holding `"`, `\`, `(`, `)`, `,` or white space; NULL
    /// empty). No rows give a lone line feed. The header reads the rows again from the
    /// [`crate::main_statement::ROWS_CTE`] list entry, so the statement must name them.
    Csv,
}

/// The expression rendering `_postgrest_t` rows as the body text.
pub fn body_expr(shape: BodyShape) -> &'static str {
    match shape {
        BodyShape::Array => "coalesce(json_agg(\"_postgrest_t\"), '[]')",
        BodyShape::ArrayStripped => {
            "coalesce(json_agg(json_strip_nulls(row_to_json(\"_postgrest_t\"))), '[]')::text"
        }
        BodyShape::Object { strip_nulls: false } => {
            "coalesce(json_agg(\"_postgrest_t\")->0, 'null')"
        }
        BodyShape::Object { strip_nulls: true } => {
            "coalesce(json_strip_nulls(json_agg(\"_postgrest_t\")->0)::text, '')"
        }
        BodyShape::Csv => CSV_BODY,
    }
}

/// The CSV body of [`BodyShape::Csv`].
const CSV_BODY: &str = concat!(
    "(SELECT coalesce(string_agg(\"pgrst_h\".\"k\", ','), '') FROM (",
    "SELECT json_object_keys(\"pgrst_f\".\"r\")::text AS \"k\" FROM (",
    "SELECT row_to_json(\"pgrst_r\") AS \"r\" FROM \"pgrst_rows\" AS \"pgrst_r\" LIMIT 1",
    ") AS \"pgrst_f\") AS \"pgrst_h\")",
    " || E'\\n' || ",
    "coalesce(string_agg(substring(\"_postgrest_t\"::text, 2, length(\"_postgrest_t\"::text) - 2), E'\\n'), '')"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar;
    use crate::plan::Planner;
    use crate::request::{parse_query, query_pairs};
    use crate::schema::{Column, Relation, Relationship};

    fn col(name: &str, ty: &str) -> Column {
        Column::plain(name, ty)
    }

    fn cache() -> SchemaCache {
        let mut c = SchemaCache::default();
        for (name, cols) in [
            (
                "projects",
                vec![
                    col("id", "integer"),
                    col("name", "text"),
                    col("client_id", "integer"),
                ],
            ),
            ("clients", vec![col("id", "integer"), col("name", "text")]),
        ] {
            c.relations.insert(
                Qi::new("s", name),
                Relation {
                    qi: Qi::new("s", name),
                    oid: 0,
                    is_view: false,
                    columns: cols,
                    pk: vec!["id".into()],
                    description: None,
                    insertable: true,
                    updatable: true,
                    deletable: true,
                },
            );
        }
        c.relationships.insert(
            Qi::new("s", "projects"),
            vec![Relationship {
                source: Qi::new("s", "projects"),
                target: Qi::new("s", "clients"),
                cardinality: Cardinality::ManyToOne,
                columns: vec![("client_id".into(), "id".into())],
                constraint: "fk".into(),
                computed: None,
                computed_single: false,
            }],
        );
        c
    }

    /// [`cache`] with the one-to-many relationship clients -> projects too.
    fn cache_with_clients_projects() -> SchemaCache {
        let mut c = cache();
        c.relationships.insert(
            Qi::new("s", "clients"),
            vec![Relationship {
                source: Qi::new("s", "clients"),
                target: Qi::new("s", "projects"),
                cardinality: Cardinality::OneToMany,
                columns: vec![("id".into(), "client_id".into())],
                constraint: "fk".into(),
                computed: None,
                computed_single: false,
            }],
        );
        c
    }

    /// The SQL of a read of projects in schema `s` with `query`, aggregates allowed.
    fn aggregating_read(c: &SchemaCache, query: &str) -> String {
        let q = parse_query(&query_pairs(query), false).expect("parses");
        let plan = Planner::new(c, "s", true)
            .read(
                Source::Relation(Qi::new("s", "projects")),
                Some(Qi::new("s", "projects")),
                &q,
                true,
            )
            .expect("plans");
        read_sql(&mut Sql::default(), c, &plan, None, ReadOptions::default())
    }

    /// The plan of a read of `table` in schema `s`.
    fn plan_of(c: &SchemaCache, table: &str, q: &crate::request::QueryParams) -> ReadPlan {
        Planner::new(c, "s", false)
            .read(
                Source::Relation(Qi::new("s", table)),
                Some(Qi::new("s", table)),
                q,
                true,
            )
            .expect("plans")
    }

    /// The SQL of a read of `projects` from `source`.
    fn projects_sql(
        c: &SchemaCache,
        source: Source,
        q: &crate::request::QueryParams,
    ) -> (String, Sql) {
        let plan = Planner::new(c, "s", false)
            .read(source, Some(Qi::new("s", "projects")), q, true)
            .expect("plans");
        let mut sql = Sql::default();
        let text = read_sql(&mut sql, c, &plan, None, ReadOptions::default());
        (text, sql)
    }

    #[test]
    fn values_are_parameters_and_identifiers_quoted() {
        let c = cache();
        let q = parse_query(
            &query_pairs(
                "select=id,clients(name)&name=eq.x';drop table y;--&id=in.(1,2)&order=id.desc",
            ),
            false,
        )
        .expect("parses");
        let source = Source::Relation(Qi::new("s", "projects"));
        let (text, sql) = projects_sql(&c, source, &q);
        assert!(!text.contains("drop table"), "{text}");
        assert!(text.contains("\"projects\".\"name\" = $"), "{text}");
        assert!(text.contains("= ANY($"), "{text}");
        assert!(text.contains("LEFT JOIN LATERAL"), "{text}");
        assert!(text.contains("ORDER BY \"projects\".\"id\" DESC"), "{text}");
        assert!(sql
            .params
            .contains(&TextParam(Some("{\"1\",\"2\"}".into()))));
        assert!(sql
            .params
            .contains(&TextParam(Some("x';drop table y;--".into()))));
    }

    #[test]
    fn embeds_are_jsonb_when_asked() {
        let c = cache();
        let q = parse_query(&query_pairs("select=id,clients(name)"), false).expect("parses");
        let plan = plan_of(&c, "projects", &q);
        let json = read_sql(&mut Sql::default(), &c, &plan, None, ReadOptions::default());
        assert!(!json.contains("::jsonb"), "{json}");
        let opts = ReadOptions {
            jsonb_embeds: true,
            ..ReadOptions::default()
        };
        let text = read_sql(&mut Sql::default(), &c, &plan, None, opts);
        assert!(
            text.contains("\"pgrst_body\"::jsonb AS \"clients\""),
            "{text}"
        );
    }

    #[test]
    fn max_rows_caps_embedded_reads_too() {
        let c = cache();
        let q = parse_query(&query_pairs("select=id,clients(name)"), false).expect("parses");
        let plan = plan_of(&c, "projects", &q);
        let opts = ReadOptions {
            max_rows: Some(2),
            ..ReadOptions::default()
        };
        let text = read_sql(&mut Sql::default(), &c, &plan, None, opts);
        assert_eq!(text.matches("LIMIT 2").count(), 2, "{text}");
    }

    #[test]
    fn a_spread_to_many_embed_gives_each_column_as_an_array() {
        let c = cache_with_clients_projects();
        let q = parse_query(
            &query_pairs("select=client:name,...projects(project:name,id)"),
            false,
        )
        .expect("parses");
        let plan = plan_of(&c, "clients", &q);
        let text = read_sql(&mut Sql::default(), &c, &plan, None, ReadOptions::default());
        for col in ["project", "id"] {
            assert!(
                text.contains(&format!("json_agg(\"pgrst_x\".\"{col}\") AS \"{col}\"")),
                "{text}"
            );
            assert!(
                text.contains(&format!(".\"{col}\", '[]') AS \"{col}\"")),
                "{text}"
            );
        }
    }

    #[test]
    fn aggregates_of_a_to_one_spread_are_computed_by_the_embedding_read() {
        let text = aggregating_read(&cache(), "select=...clients(name,n:id.count())");
        // The spread selects the aggregate's input; the outer read aggregates and groups.
        assert!(
            text.contains("count(\"projects_lat_0\".\"n\") AS \"n\""),
            "{text}"
        );
        assert!(text.contains("\"clients_1\".\"id\" AS \"n\""), "{text}");
        assert!(
            text.contains("GROUP BY \"projects_lat_0\".\"name\""),
            "{text}"
        );
    }

    #[test]
    fn embeds_a_to_one_spread_passes_to_an_aggregating_read_are_jsonb() {
        let c = cache_with_clients_projects();
        let read = |select: &str| aggregating_read(&c, select);
        // Grouped by the embedded projects the spread passes up: jsonb.
        let grouped = read("select=...clients(projects(name),n:id.count())");
        assert!(
            grouped.contains("'[]'::jsonb) AS \"projects\""),
            "{grouped}"
        );
        // Without aggregates the embed keeps its json.
        let plain = read("select=...clients(projects(name))");
        assert!(!plain.contains("jsonb"), "{plain}");
    }

    #[test]
    fn rows_read_back_from_a_write_are_the_relations_columns() {
        let c = cache();
        let q = parse_query(&query_pairs("select=id"), false).expect("parses");
        let (text, _) = projects_sql(&c, Source::Cte("pgrst_source".into()), &q);
        assert!(
            text.contains("FROM (SELECT \"id\", \"name\", \"client_id\" FROM \"pgrst_source\")"),
            "{text}"
        );
    }

    fn json_field(column: &str) -> FieldRef {
        FieldRef {
            column: column.into(),
            computed: None,
            path: Vec::new(),
            is_json: true,
            is_tsvector: false,
            to_json: None,
            from_text: None,
        }
    }

    #[test]
    fn computed_columns_cast_the_row_to_their_argument_type() {
        let mut sql = Sql::default();
        let f = FieldRef {
            computed: Some((Qi::new("s", "full"), Qi::new("s", "projects"))),
            ..json_field("full")
        };
        assert_eq!(
            field_sql(&mut sql, "projects", &f),
            "\"s\".\"full\"(\"projects\"::\"s\".\"projects\")"
        );
    }

    #[test]
    fn array_literals_escape() {
        assert_eq!(
            array_literal(&["a\"b".into(), "c\\".into()]),
            "{\"a\\\"b\",\"c\\\\\"}"
        );
    }

    #[test]
    fn json_paths_bind_keys() {
        let mut sql = Sql::default();
        let f = FieldRef {
            path: grammar::parse_field("data->a->>-3", "f").expect("ok").path,
            ..json_field("data")
        };
        assert_eq!(
            field_sql(&mut sql, "t", &f),
            "\"t\".\"data\"->$1::text->>(-3)"
        );
    }

    #[test]
    fn placeholders_must_match_the_bound_parameters() {
        let mut sql = Sql::default();
        let a = sql.bind("x");
        let b = sql.bind("y");
        sql.text = format!("SELECT {a}, {b}");
        assert!(sql.placeholders_match());
        sql.text = format!("SELECT {a}");
        assert!(!sql.placeholders_match(), "an unused parameter");
        sql.text = format!("SELECT {a}, {b}, $3");
        assert!(
            !sql.placeholders_match(),
            "a placeholder without a parameter"
        );
        sql.text = format!("SELECT {a}, '$2', {b}");
        assert!(sql.placeholders_match(), "quoted text is not a placeholder");
        sql.text = format!("SELECT {a}, \"$2\"");
        assert!(!sql.placeholders_match());
        let mut ten = Sql::default();
        let ps: Vec<String> = (0..10).map(|i| ten.bind(i.to_string())).collect();
        ten.text = ps.join(", ");
        assert!(ten.placeholders_match());
    }
}
