//! Planning: a parsed request resolved against the schema cache. Embeds become relationships,
//! filters and orders are attached to the resource they address, computed columns are found.
//! Pure: the result is rendered to SQL by [`crate::sql`].

use crate::error::{ApiError, Code};
use crate::grammar::{
    Aggregate, Field, Filter, IsValue, JoinKind, JsonStep, Logic, OpExpr, OrderTerm, Predicate,
    SelectItem,
};
use crate::request::QueryParams;
use crate::schema::{Qi, Relation, Relationship, SchemaCache};

/// Where a read takes its rows from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A table or view.
    Relation(Qi),
    /// A common table expression of the statement (rows written by a mutation).
    Cte(String),
    /// A set-returning function call, rendered by the caller (`FROM "s"."f"(args)`).
    Function {
        routine: Qi,
        args: Vec<(String, Option<String>, bool)>,
    },
    /// A computed relationship `fn(parent_row)`.
    Computed(Qi),
}

/// A column or computed column, possibly with a JSON path.
#[derive(Debug, Clone)]
pub struct FieldRef {
    pub column: String,
    /// `fn(row)` computing the column, and the row type it takes: the row is cast to it, as a
    /// row read back from a write's CTE is a bare record (which would make overloads ambiguous).
    pub computed: Option<(Qi, Qi)>,
    pub path: Vec<JsonStep>,
    /// The column is `json`/`jsonb` (else JSON paths go through `to_jsonb`).
    pub is_json: bool,
    /// The column is a `tsvector` (full-text search needs no `to_tsvector`).
    pub is_tsvector: bool,
    /// Domain representation functions of the column (output / filter input).
    pub to_json: Option<Qi>,
    pub from_text: Option<Qi>,
}

/// One output item of a read.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Item {
    /// `*`: every column (listed when known).
    Star(Option<Vec<String>>),
    Field {
        field: FieldRef,
        cast: Option<String>,
        aggregate: Option<Aggregate>,
        aggregate_cast: Option<String>,
        name: String,
    },
    /// `count()`
    CountAll { cast: Option<String>, name: String },
    /// An embedded resource (index into `embeds`).
    Embed(usize),
    /// The whole row, as column `pgrst_row` (input of custom media aggregates).
    WholeRow,
}

/// A condition of a `WHERE` clause.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Cond {
    Filter {
        field: FieldRef,
        expr: OpExpr,
    },
    /// `embed=is.null` / `embed=not.is.null`.
    EmbedNull {
        embed: usize,
        is_null: bool,
    },
    Tree {
        negated: bool,
        or: bool,
        children: Vec<Cond>,
    },
}

/// An `ORDER BY` term.
#[derive(Debug, Clone)]
pub struct Order {
    /// For `rel(col)`: the embed index whose column is ordered by.
    pub embed: Option<usize>,
    pub field: FieldRef,
    pub desc: bool,
    pub nulls_first: Option<bool>,
}

/// An embedded resource.
#[derive(Debug, Clone)]
pub struct EmbedPlan {
    pub rel: Relationship,
    pub plan: ReadPlan,
    /// Output key.
    pub name: String,
    /// The name the select gave the embedded resource (before any alias).
    pub target: String,
    pub inner: bool,
    pub spread: bool,
    /// `rel()` with an empty select: used only for filtering.
    pub hidden: bool,
}

/// A resolved read of one resource.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    pub source: Source,
    /// The relation whose columns the read sees (for column lists), if known.
    pub relation: Option<Qi>,
    /// Table alias in SQL.
    pub alias: String,
    pub items: Vec<Item>,
    pub conds: Vec<Cond>,
    pub order: Vec<Order>,
    pub limit: Option<i64>,
    pub offset: i64,
    pub embeds: Vec<EmbedPlan>,
}

impl ReadPlan {
    /// A read of every row of `source`, nothing selected yet.
    pub fn new(source: Source, relation: Option<Qi>, alias: String) -> ReadPlan {
        ReadPlan {
            source,
            relation,
            alias,
            items: Vec::new(),
            conds: Vec::new(),
            order: Vec::new(),
            limit: None,
            offset: 0,
            embeds: Vec::new(),
        }
    }

    /// Whether any item aggregates (then plain fields form the `GROUP BY`).
    pub fn has_aggregates(&self) -> bool {
        self.items.iter().any(|i| {
            matches!(
                i,
                Item::Field {
                    aggregate: Some(_),
                    ..
                } | Item::CountAll { .. }
            )
        })
    }

    /// The aggregates a to-one spread of this plan lifts to the embedding level, by output
    /// name: the aggregate (`None` for `count()`) and the cast of its result. Nested to-one
    /// spreads lift theirs too.
    pub fn spread_aggregates(&self) -> Vec<(String, Option<Aggregate>, Option<String>)> {
        let mut out = Vec::new();
        for i in &self.items {
            match i {
                Item::Field {
                    aggregate: Some(a),
                    aggregate_cast,
                    name,
                    ..
                } => out.push((name.clone(), Some(*a), aggregate_cast.clone())),
                Item::CountAll { cast, name } => out.push((name.clone(), None, cast.clone())),
                Item::Embed(e) => {
                    let emb = &self.embeds[*e];
                    if emb.spread && emb.rel.to_one() && !emb.hidden {
                        out.extend(emb.plan.spread_aggregates());
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Whether a to-one spread of this plan lifts aggregates to it.
    pub fn hoists_aggregates(&self) -> bool {
        self.embeds.iter().any(|e| {
            e.spread && e.rel.to_one() && !e.hidden && !e.plan.spread_aggregates().is_empty()
        })
    }

    /// Output column names (for spreads and related orders).
    pub fn output_names(&self, cache: &SchemaCache) -> Vec<String> {
        let mut out = Vec::new();
        for i in &self.items {
            match i {
                Item::Star(cols) => {
                    if let Some(c) = cols {
                        out.extend(c.iter().cloned());
                    } else if let Some(r) =
                        self.relation.as_ref().and_then(|q| cache.relations.get(q))
                    {
                        out.extend(r.columns.iter().map(|c| c.name.clone()));
                    }
                }
                Item::Field { name, .. } | Item::CountAll { name, .. } => out.push(name.clone()),
                Item::WholeRow => out.push("pgrst_row".into()),
                Item::Embed(e) => {
                    let emb = &self.embeds[*e];
                    if emb.hidden {
                        continue;
                    }
                    if emb.spread {
                        out.extend(emb.plan.output_names(cache));
                    } else {
                        out.push(emb.name.clone());
                    }
                }
            }
        }
        out
    }
}

/// Context shared while planning one request.
pub struct Planner<'a> {
    pub cache: &'a SchemaCache,
    pub schema: &'a str,
    pub aggregates_enabled: bool,
    counter: usize,
}

fn is_json_type(t: &str) -> bool {
    t == "json" || t == "jsonb"
}

impl<'a> Planner<'a> {
    pub fn new(cache: &'a SchemaCache, schema: &'a str, aggregates_enabled: bool) -> Planner<'a> {
        Planner {
            cache,
            schema,
            aggregates_enabled,
            counter: 0,
        }
    }

    /// Find a relation of the request's schema (PGRST205 when missing).
    pub fn relation(&self, name: &str) -> Result<&'a Relation, ApiError> {
        self.cache
            .relations
            .get(&Qi::new(self.schema, name))
            .ok_or_else(|| {
                let e = ApiError::table_not_found(self.schema, name);
                match similar_table(self.cache, self.schema, name) {
                    Some(t) => {
                        e.with_hint(format!("Perhaps you meant the table '{}.{t}'", self.schema))
                    }
                    None => e,
                }
            })
    }

    fn field(&self, rel: Option<&Qi>, f: &Field) -> FieldRef {
        let relation = rel.and_then(|q| self.cache.relations.get(q));
        let column = relation.and_then(|r| r.column(&f.name));
        let computed = if column.is_none() {
            rel.and_then(|q| {
                let r = self.cache.computed.get(q)?.get(&f.name)?;
                Some((r.qi.clone(), q.clone()))
            })
        } else {
            None
        };
        let type_name = column.map(|c| c.base_type.as_str()).unwrap_or("");
        FieldRef {
            column: f.name.clone(),
            computed,
            path: f.path.clone(),
            is_json: is_json_type(type_name) || column.is_none(),
            is_tsvector: type_name == "tsvector",
            to_json: column.and_then(|c| c.to_json.clone()),
            from_text: column.and_then(|c| c.from_text.clone()),
        }
    }

    /// Plan a read of `source` (a relation `rel`) with the request's select/filters/order.
    pub fn read(
        &mut self,
        source: Source,
        rel: Option<Qi>,
        q: &QueryParams,
        default_select: bool,
    ) -> Result<ReadPlan, ApiError> {
        let select = match &q.select {
            Some(s) => s.clone(),
            None => vec![SelectItem::Star],
        };
        let _ = default_select;
        let alias = match &rel {
            Some(r) => r.name.clone(),
            None => "pgrst_rpc".to_string(),
        };
        let mut plan = self.node(source, rel, alias, &select, &[])?;
        self.attach(&mut plan, q, &[])?;
        Ok(plan)
    }

    fn next_alias(&mut self, name: &str) -> String {
        self.counter += 1;
        format!("{}_{}", name, self.counter)
    }

    fn node(
        &mut self,
        source: Source,
        rel: Option<Qi>,
        alias: String,
        select: &[SelectItem],
        _path: &[String],
    ) -> Result<ReadPlan, ApiError> {
        let mut plan = ReadPlan::new(source, rel.clone(), alias);
        // An empty select (`select=`, or an embed's `()`) reads every column, as PostgREST
        // does; an embed that selects nothing but empty embeds is left out of its parent.
        let star = [SelectItem::Star];
        let select = if select.is_empty() { &star[..] } else { select };
        for item in select {
            match item {
                SelectItem::Star => {
                    let cols = rel
                        .as_ref()
                        .and_then(|q| self.cache.relations.get(q))
                        .map(|r| r.columns.iter().map(|c| c.name.clone()).collect());
                    plan.items.push(Item::Star(cols));
                }
                SelectItem::Field {
                    alias,
                    field,
                    cast,
                    aggregate,
                    aggregate_cast,
                } => {
                    if aggregate.is_some() && !self.aggregates_enabled {
                        return Err(ApiError::new(
                            Code::AggregatesDisabled,
                            "Use of aggregate functions is not allowed",
                        ));
                    }
                    match field {
                        None => plan.items.push(Item::CountAll {
                            cast: aggregate_cast.clone(),
                            name: alias.clone().unwrap_or_else(|| "count".into()),
                        }),
                        Some(f) => {
                            let name = alias.clone().unwrap_or_else(|| match aggregate {
                                Some(a) => a.sql_name().to_string(),
                                None => f.output_name(),
                            });
                            plan.items.push(Item::Field {
                                field: self.field(rel.as_ref(), f),
                                cast: cast.clone(),
                                aggregate: *aggregate,
                                aggregate_cast: aggregate_cast.clone(),
                                name,
                            });
                        }
                    }
                }
                SelectItem::Embed(e) => {
                    let Some(src) = rel.clone() else {
                        return Err(ApiError::new(Code::NoRelationship, format!("Could not find a relationship between '{}' and '{}' in the schema cache", plan.alias, e.name),
                        ));
                    };
                    let found = self
                        .cache
                        .find_relationships(&src, &e.name, e.hint.as_deref());
                    let relationship = match found.len() {
                        0 => {
                            let details = match &e.hint {
                                Some(h) => format!(
                                    "Searched for a foreign key relationship between '{}' and '{}' using the hint '{}' in the schema '{}', but no matches were found.",
                                    src.name, e.name, h, self.schema
                                ),
                                None => format!(
                                    "Searched for a foreign key relationship between '{}' and '{}' in the schema '{}', but no matches were found.",
                                    src.name, e.name, self.schema
                                ),
                            };
                            let mut err = ApiError::new(Code::NoRelationship, format!(
                                    "Could not find a relationship between '{}' and '{}' in the schema cache",
                                    src.name, e.name
                                ),
                            )
                            .with_details(details);
                            err.hint = self.similar_target(&src, &e.name).map(|t| {
                                format!("Perhaps you meant '{t}' instead of '{}'.", e.name)
                            });
                            return Err(err);
                        }
                        1 => found[0].clone(),
                        _ => return Err(ambiguous(&src, &e.name, &found)),
                    };
                    let target = relationship.target.clone();
                    let name = e.alias.clone().unwrap_or_else(|| e.name.clone());
                    let source = match &relationship.computed {
                        Some(f) => Source::Computed(f.clone()),
                        None => Source::Relation(target.clone()),
                    };
                    let alias = self.next_alias(&target.name);
                    let child = self.node(source, Some(target), alias, &e.select, &[])?;
                    if e.spread && !relationship.to_one() && !child.spread_aggregates().is_empty() {
                        return Err(to_many_spread_aggregates());
                    }
                    let hidden = e.select.iter().all(|s| matches!(s, SelectItem::Embed(_)))
                        && child.embeds.iter().all(|c| c.hidden);
                    plan.embeds.push(EmbedPlan {
                        rel: relationship,
                        plan: child,
                        name,
                        target: e.name.clone(),
                        inner: e.join == Some(JoinKind::Inner),
                        spread: e.spread,
                        hidden,
                    });
                    plan.items.push(Item::Embed(plan.embeds.len() - 1));
                }
            }
        }
        Ok(plan)
    }

    /// Attach filters, logic trees, orders, limits and offsets to the plan nodes they address.
    fn attach(
        &mut self,
        plan: &mut ReadPlan,
        q: &QueryParams,
        _root: &[String],
    ) -> Result<(), ApiError> {
        for f in &q.filters {
            let node = find_node(plan, &f.path)?;
            let cond = self.filter_cond(node, f)?;
            node.conds.push(cond);
        }
        for (path, logic) in &q.logic {
            let node = find_node(plan, path)?;
            let cond = self.logic_cond(node, logic)?;
            node.conds.push(cond);
        }
        for (path, terms) in &q.order {
            let node = find_node(plan, path)?;
            for t in terms {
                let o = self.order(node, t)?;
                node.order.push(o);
            }
        }
        for (path, n) in &q.limit {
            find_node(plan, path)?.limit = Some(*n);
        }
        for (path, n) in &q.offset {
            find_node(plan, path)?.offset = (*n).max(0);
        }
        Ok(())
    }

    fn filter_cond(&self, node: &ReadPlan, f: &Filter) -> Result<Cond, ApiError> {
        if f.field.path.is_empty() {
            if let Some(idx) = node.embeds.iter().position(|e| e.name == f.field.name) {
                return match &f.expr.pred {
                    Predicate::Is(IsValue::Null) => Ok(Cond::EmbedNull {
                        embed: idx,
                        is_null: !f.expr.negated,
                    }),
                    Predicate::Is(IsValue::NotNull) => Ok(Cond::EmbedNull {
                        embed: idx,
                        is_null: f.expr.negated,
                    }),
                    _ => Err(ApiError::new(
                        Code::EmbeddedFilter,
                        "Only is null or not is null filters are allowed on embedded resources",
                    )),
                };
            }
        }
        Ok(Cond::Filter {
            field: self.field(node.relation.as_ref(), &f.field),
            expr: f.expr.clone(),
        })
    }

    fn logic_cond(&self, node: &ReadPlan, l: &Logic) -> Result<Cond, ApiError> {
        match l {
            Logic::Filter(f) => {
                if !f.path.is_empty() {
                    let (first, rest) = f
                        .path
                        .split_first()
                        .ok_or_else(|| ApiError::internal("empty path"))?;
                    let idx = node
                        .embeds
                        .iter()
                        .position(|e| &e.name == first)
                        .ok_or_else(|| not_embedded(first))?;
                    let child = &node.embeds[idx].plan;
                    let inner = Filter {
                        path: rest.to_vec(),
                        field: f.field.clone(),
                        expr: f.expr.clone(),
                    };
                    // A filter on an embedded column inside a tree: EXISTS-style via the lateral.
                    let c = self.logic_cond(child, &Logic::Filter(inner))?;
                    let _ = c;
                    return Err(ApiError::new(Code::Parse, "\"failed to parse logic tree\"")
                        .with_details(
                            "filters on embedded resources inside logic trees are not supported",
                        ));
                }
                self.filter_cond(node, f)
            }
            Logic::Tree {
                negated,
                or,
                children,
            } => Ok(Cond::Tree {
                negated: *negated,
                or: *or,
                children: children
                    .iter()
                    .map(|c| self.logic_cond(node, c))
                    .collect::<Result<_, _>>()?,
            }),
        }
    }

    fn order(&self, node: &ReadPlan, t: &OrderTerm) -> Result<Order, ApiError> {
        match &t.relation {
            None => Ok(Order {
                embed: None,
                field: self.field(node.relation.as_ref(), &t.field),
                desc: t.desc,
                nulls_first: t.nulls_first,
            }),
            Some(r) => {
                let idx = node
                    .embeds
                    .iter()
                    .position(|e| &e.name == r)
                    .ok_or_else(|| not_embedded(r))?;
                let emb = &node.embeds[idx];
                if !emb.rel.to_one() {
                    return Err(ApiError::new(
                        Code::RelatedOrder,
                        format!("A related order on '{r}' is not possible"),
                    )
                    .with_details(format!(
                        "'{}' and '{}' do not form a many-to-one or one-to-one relationship",
                        node.relation
                            .as_ref()
                            .map(|q| q.name.as_str())
                            .unwrap_or(""),
                        r
                    )));
                }
                Ok(Order {
                    embed: Some(idx),
                    field: self.field(Some(&emb.rel.target), &t.field),
                    desc: t.desc,
                    nulls_first: t.nulls_first,
                })
            }
        }
    }
}

/// PGRST108 for `name`, which no embed is called.
fn not_embedded(name: &str) -> ApiError {
    ApiError::new(
        Code::NotEmbedded,
        format!("'{name}' is not an embedded resource in this request"),
    )
    .with_hint(format!(
        "Verify that '{name}' is included in the 'select' query parameter."
    ))
}

/// PGRST108 for the `name.` prefix of a filter, order, limit or offset, which no embed of
/// `node` is called. When an aliased embed has `name` as its target, the error says to use the
/// alias instead.
fn not_embedded_in(node: &ReadPlan, name: &str) -> ApiError {
    match node
        .embeds
        .iter()
        .find(|e| e.target == name && e.name != name)
    {
        Some(aliased) => ApiError::new(
            Code::NotEmbedded,
            format!("'{name}' is not an embedded resource in this request"),
        )
        .with_details("Target names are not allowed in filters if they have an alias")
        .with_hint(format!(
            "Change '{name}' to '{}' in filters, orders or limits.",
            aliased.name
        )),
        None => not_embedded(name),
    }
}

fn find_node<'p>(plan: &'p mut ReadPlan, path: &[String]) -> Result<&'p mut ReadPlan, ApiError> {
    let mut node = plan;
    for seg in path {
        let Some(idx) = node.embeds.iter().position(|e| &e.name == seg) else {
            return Err(not_embedded_in(node, seg));
        };
        node = &mut node.embeds[idx].plan;
    }
    Ok(node)
}

fn ambiguous(src: &Qi, name: &str, found: &[&Relationship]) -> ApiError {
    use crate::schema::Cardinality;
    // Foreign-key relationships first, then the many-to-many ones by junction name.
    let mut found = found.to_vec();
    found.sort_by_key(|r| match &r.cardinality {
        Cardinality::ManyToMany { junction, .. } => Some(junction.name.clone()),
        _ => None,
    });
    let details: Vec<serde_json::Value> = found
        .iter()
        .map(|r| {
            let fk = format!(
                "{} using {}({}) and {}({})",
                r.constraint,
                r.source.name,
                cols(&r.columns, true),
                r.target.name,
                cols(&r.columns, false)
            );
            let (card, rel) = match &r.cardinality {
                Cardinality::ManyToOne => ("many-to-one", fk),
                Cardinality::OneToMany => ("one-to-many", fk),
                Cardinality::OneToOne => ("one-to-one", fk),
                Cardinality::ManyToMany {
                    junction,
                    source_cols,
                    target_cols,
                    source_constraint,
                    target_constraint,
                } => {
                    // Both column lists name the junction's columns.
                    let src_cols: Vec<&str> = source_cols.iter().map(|c| c.1.as_str()).collect();
                    let tgt_cols: Vec<&str> = target_cols.iter().map(|c| c.0.as_str()).collect();
                    (
                        "many-to-many",
                        format!(
                            "{} using {}({}) and {}({})",
                            junction.name,
                            source_constraint,
                            src_cols.join(", "),
                            target_constraint,
                            tgt_cols.join(", ")
                        ),
                    )
                }
            };
            serde_json::json!({
                "cardinality": card,
                "embedding": format!("{} with {}", src.name, r.target.name),
                "relationship": rel,
            })
        })
        .collect();
    let options: Vec<String> = found
        .iter()
        .map(|r| match &r.cardinality {
            Cardinality::ManyToMany { junction, .. } => format!("'{}!{}'", name, junction.name),
            _ => format!("'{}!{}'", name, r.constraint),
        })
        .collect();
    let mut e = ApiError::new(Code::AmbiguousRelationship, format!("Could not embed because more than one relationship was found for '{}' and '{}'", src.name, name),
    )
    .with_hint(format!(
        "Try changing '{}' to one of the following: {}. Find the desired relationship in the 'details' key.",
        name,
        options.join(", ")
    ));
    e.body = Some(serde_json::json!({
        "code": Code::AmbiguousRelationship.as_str(),
        "details": details,
        "hint": e.hint,
        "message": e.message,
    }));
    e
}

impl Planner<'_> {
    /// For an embed that matched no relationship of `src`: the target of one of `src`'s
    /// relationships whose name is closest to `name` (at least a third alike, not `name`
    /// itself), as PostgREST suggests it.
    fn similar_target(&self, src: &Qi, name: &str) -> Option<String> {
        let rels = self.cache.relationships.get(src)?;
        closest(
            rels.iter()
                .map(|r| r.target.name.as_str())
                .filter(|t| !t.eq_ignore_ascii_case(name)),
            name,
            0.33,
        )
        .map(str::to_string)
    }
}

/// The relation of `schema` whose name is closest to `name`, when at least 75% alike, as
/// PostgREST's fuzzy-set hint picks it.
fn similar_table<'c>(cache: &'c SchemaCache, schema: &str, name: &str) -> Option<&'c str> {
    closest(
        cache
            .relations
            .keys()
            .filter(|q| q.schema == schema)
            .map(|q| q.name.as_str()),
        name,
        0.75,
    )
}

/// The candidate most alike `wanted` (one minus the edit distance over the longer length,
/// case-insensitively) when its score reaches `min_score`; among equals, the first in order.
pub(crate) fn closest<'c>(
    candidates: impl Iterator<Item = &'c str>,
    wanted: &str,
    min_score: f64,
) -> Option<&'c str> {
    let wanted: Vec<char> = wanted.to_lowercase().chars().collect();
    candidates
        .map(|c| {
            let have: Vec<char> = c.to_lowercase().chars().collect();
            let longest = wanted.len().max(have.len()).max(1);
            let score = 1.0 - edit_distance(&wanted, &have) as f64 / longest as f64;
            (score, c)
        })
        .filter(|(score, _)| *score >= min_score)
        .min_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, n)| n)
}

/// Levenshtein distance.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn cols(pairs: &[(String, String)], source: bool) -> String {
    pairs
        .iter()
        .map(|(a, b)| if source { a.clone() } else { b.clone() })
        .collect::<Vec<_>>()
        .join(", ")
}

/// PGRST127: a to-many spread (one array per column) cannot hold aggregates, its own or those
/// a to-one spread inside it lifts.
fn to_many_spread_aggregates() -> ApiError {
    ApiError::new(Code::NotImplemented, "Feature not implemented")
        .with_details("Aggregates are not implemented for one-to-many or many-to-many spreads.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Cardinality, Column};

    #[test]
    fn unknown_tables_hint_at_a_name_at_least_75_percent_alike() {
        let mut c = SchemaCache::default();
        for name in ["projects", "items"] {
            c.relations
                .insert(Qi::new("test", name), relation(name, &[]));
        }
        let hint = |name: &str| {
            Planner::new(&c, "test", false)
                .relation(name)
                .expect_err("unknown")
                .hint
        };
        let projects = Some("Perhaps you meant the table 'test.projects'".to_string());
        assert_eq!(hint("projectx"), projects);
        assert_eq!(hint("projecxx"), projects);
        assert_eq!(hint("projxxxx"), None);
        assert_eq!(hint("garlic"), None);
        assert_eq!(edit_distance(&['a', 'b'], &['b']), 1);
    }

    fn column(name: &str, ty: &str) -> Column {
        Column::plain(name, ty)
    }

    fn relation(name: &str, cols: &[(&str, &str)]) -> Relation {
        Relation {
            qi: Qi::new("public", name),
            oid: 0,
            is_view: false,
            columns: cols.iter().map(|(n, t)| column(n, t)).collect(),
            pk: vec!["id".into()],
            description: None,
            insertable: true,
            updatable: true,
            deletable: true,
        }
    }

    fn fk(
        source: &str,
        target: &str,
        card: Cardinality,
        cols: (&str, &str),
        name: &str,
    ) -> Relationship {
        Relationship {
            source: Qi::new("public", source),
            target: Qi::new("public", target),
            cardinality: card,
            columns: vec![(cols.0.into(), cols.1.into())],
            constraint: name.into(),
            computed: None,
            computed_single: false,
        }
    }

    /// clients 1—n projects (by `client_id`); projects has two foreign keys to people
    /// (`owner_id`, `reviewer_id`), so embedding people from projects is ambiguous.
    fn cache() -> SchemaCache {
        let mut c = SchemaCache::default();
        for r in [
            relation("clients", &[("id", "integer"), ("name", "text")]),
            relation(
                "projects",
                &[
                    ("id", "integer"),
                    ("name", "text"),
                    ("client_id", "integer"),
                    ("owner_id", "integer"),
                    ("reviewer_id", "integer"),
                    ("meta", "jsonb"),
                ],
            ),
            relation("people", &[("id", "integer"), ("name", "text")]),
        ] {
            c.relations.insert(r.qi.clone(), r);
        }
        let rels = [
            fk(
                "clients",
                "projects",
                Cardinality::OneToMany,
                ("id", "client_id"),
                "projects_client_id_fkey",
            ),
            fk(
                "projects",
                "clients",
                Cardinality::ManyToOne,
                ("client_id", "id"),
                "projects_client_id_fkey",
            ),
            fk(
                "projects",
                "people",
                Cardinality::ManyToOne,
                ("owner_id", "id"),
                "projects_owner_id_fkey",
            ),
            fk(
                "projects",
                "people",
                Cardinality::ManyToOne,
                ("reviewer_id", "id"),
                "projects_reviewer_id_fkey",
            ),
            fk(
                "people",
                "projects",
                Cardinality::OneToMany,
                ("id", "owner_id"),
                "projects_owner_id_fkey",
            ),
        ];
        for r in rels {
            c.relationships.entry(r.source.clone()).or_default().push(r);
        }
        c
    }

    fn plan(cache: &SchemaCache, table: &str, query: &str) -> Result<ReadPlan, ApiError> {
        plan_with(cache, table, query, true)
    }

    fn plan_with(
        cache: &SchemaCache,
        table: &str,
        query: &str,
        aggregates: bool,
    ) -> Result<ReadPlan, ApiError> {
        let q = crate::request::parse_query(&crate::request::query_pairs(query), false)?;
        let mut p = Planner::new(cache, "public", aggregates);
        let rel = p.relation(table)?.qi.clone();
        p.read(Source::Relation(rel.clone()), Some(rel), &q, true)
    }

    #[test]
    fn to_many_spreads_refuse_aggregates() {
        let c = cache();
        for q in [
            "select=name,...projects(name,id.sum())",
            "select=...projects(count())",
            "select=...projects(...clients(id.max()))",
        ] {
            let e = plan(&c, "clients", q).expect_err(q);
            assert_eq!((e.code(), e.status.as_u16()), ("PGRST127", 400), "{q}");
            assert_eq!(
                e.details.as_deref(),
                Some("Aggregates are not implemented for one-to-many or many-to-many spreads.")
            );
        }
        plan(&c, "clients", "select=name,...projects(name)").expect("no aggregate");
        plan(&c, "projects", "select=...clients(id.max())").expect("to-one");
    }

    #[test]
    fn a_target_name_with_an_alias_is_no_embed_name() {
        let c = cache();
        let e = plan(
            &c,
            "clients",
            "select=id,the_projects:projects(id)&projects.id=eq.1",
        )
        .expect_err("target name");
        assert_eq!(e.code(), "PGRST108");
        assert_eq!(
            e.details.as_deref(),
            Some("Target names are not allowed in filters if they have an alias")
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("Change 'projects' to 'the_projects' in filters, orders or limits.")
        );
        let e = plan(&c, "clients", "select=id,projects(id)&other.limit=1").expect_err("unknown");
        assert_eq!(e.details, None);
        plan(
            &c,
            "clients",
            "select=id,the_projects:projects(id)&the_projects.id=eq.1",
        )
        .expect("alias");
    }

    #[test]
    fn unknown_tables_are_pgrst205() {
        let e = plan(&cache(), "nope", "").expect_err("unknown");
        assert_eq!((e.code(), e.status.as_u16()), ("PGRST205", 404));
    }

    #[test]
    fn embeds_resolve_to_relationships_with_their_cardinality() {
        let c = cache();
        let p = plan(&c, "clients", "select=name,projects(name,clients(name))").expect("plan");
        assert_eq!(p.embeds.len(), 1);
        let e = &p.embeds[0];
        assert_eq!(e.name, "projects");
        assert_eq!(e.rel.cardinality, Cardinality::OneToMany);
        assert!(!e.rel.to_one());
        let back = &e.plan.embeds[0];
        assert_eq!(back.rel.cardinality, Cardinality::ManyToOne);
        assert!(back.rel.to_one());
        // Every node gets its own alias.
        assert_ne!(e.plan.alias, back.plan.alias);
    }

    #[test]
    fn missing_and_ambiguous_relationships() {
        let c = cache();
        let e = plan(&c, "clients", "select=people(*)").expect_err("none");
        assert_eq!((e.code(), e.status.as_u16()), ("PGRST200", 400));
        let e = plan(&c, "projects", "select=people(*)").expect_err("two");
        assert_eq!((e.code(), e.status.as_u16()), ("PGRST201", 300));
        // A hint naming the foreign key picks one.
        let p = plan(&c, "projects", "select=people!projects_owner_id_fkey(name)").expect("hint");
        assert_eq!(
            p.embeds[0].rel.columns,
            vec![("owner_id".to_string(), "id".to_string())]
        );
        // So does an alias per relationship.
        let p = plan(
            &c,
            "projects",
            "select=owner:people!owner_id(name),reviewer:people!reviewer_id(name)",
        )
        .expect("column hints");
        assert_eq!(p.embeds.len(), 2);
        assert_eq!(p.embeds[1].name, "reviewer");
        // A misspelt embed: the closest related table is suggested; none for a far name.
        let e = plan(&c, "projects", "select=clientsx(*)").expect_err("misspelt");
        assert_eq!(
            e.hint.as_deref(),
            Some("Perhaps you meant 'clients' instead of 'clientsx'.")
        );
        let e = plan(&c, "projects", "select=zzzzzzzzzz(*)").expect_err("far");
        assert_eq!(e.hint, None);
    }

    #[test]
    fn filters_orders_and_limits_attach_to_their_embed() {
        let c = cache();
        let p = plan(
            &c,
            "clients",
            "select=id,projects(id)&projects.name=eq.x&projects.order=id.desc&projects.limit=2&id=gt.1",
        )
        .expect("plan");
        assert_eq!(p.conds.len(), 1);
        let e = &p.embeds[0].plan;
        assert_eq!(e.conds.len(), 1);
        assert_eq!(e.order.len(), 1);
        assert!(e.order[0].desc);
        assert_eq!(e.limit, Some(2));
        let e = plan(&c, "clients", "select=id&projects.name=eq.x").expect_err("not embedded");
        assert_eq!((e.code(), e.status.as_u16()), ("PGRST108", 400));
    }

    #[test]
    fn embedded_resources_are_filtered_by_null_only() {
        let c = cache();
        let p = plan(&c, "clients", "select=id,projects(id)&projects=not.is.null").expect("plan");
        assert!(matches!(
            p.conds[0],
            Cond::EmbedNull {
                embed: 0,
                is_null: false
            }
        ));
        let e = plan(&c, "clients", "select=id,projects(id)&projects=eq.1").expect_err("op");
        assert_eq!(e.code(), "PGRST120");
    }

    #[test]
    fn ordering_by_a_related_column_needs_a_to_one_embed() {
        let c = cache();
        let p = plan(
            &c,
            "projects",
            "select=id,clients(name)&order=clients(name).desc",
        )
        .expect("to-one");
        assert_eq!(p.order[0].embed, Some(0));
        // Through the embed's alias.
        let p = plan(
            &c,
            "projects",
            "select=id,cl:clients(name)&order=cl(name).desc",
        )
        .expect("alias");
        assert_eq!(p.order[0].embed, Some(0));
        let e = plan(
            &c,
            "clients",
            "select=id,projects(name)&order=projects(name)",
        )
        .expect_err("to-many");
        assert_eq!(e.code(), "PGRST118");
        // The details name the embed as the request does (its alias here).
        let e = plan(
            &c,
            "clients",
            "select=id,pros:projects(name)&order=pros(name)",
        )
        .expect_err("to-many through an alias");
        assert_eq!(
            e.details().as_deref(),
            Some("'clients' and 'pros' do not form a many-to-one or one-to-one relationship")
        );
    }

    #[test]
    fn json_paths_and_aggregates() {
        let c = cache();
        let p = plan(&c, "projects", "select=id&meta->>kind=eq.a").expect("plan");
        let Cond::Filter { field, .. } = &p.conds[0] else {
            panic!("filter expected")
        };
        assert!(field.is_json);
        assert_eq!(field.path.len(), 1);
        let p = plan(&c, "projects", "select=client_id,id.count()").expect("aggregate");
        assert!(p.has_aggregates());
        let e = plan_with(&c, "projects", "select=id.count()", false).expect_err("disabled");
        assert_eq!(e.code(), "PGRST123");
    }
}
