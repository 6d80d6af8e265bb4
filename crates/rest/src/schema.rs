//! The schema cache: relations, columns, keys, relationships (also through views) and functions,
//! loaded once with a few catalog queries and replaced as a whole on reload. Requests only read
//! it; nothing is introspected per request.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

/// A schema-qualified name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Qi {
    pub schema: String,
    pub name: String,
}

impl Qi {
    pub fn new(schema: &str, name: &str) -> Qi {
        Qi {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

/// A column of a relation.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `format_type` of the column type (e.g. `integer`, `text[]`, `character varying(20)`).
    pub type_name: String,
    /// Type name of the base type for domains, else the same as `type_name`.
    pub base_type: String,
    /// The type as PostgREST's schema cache names it (OpenAPI `format`): built-in types and
    /// domains over them without modifier (`character`, `numeric`), other types as declared.
    pub data_type: String,
    /// `character_maximum_length` (the `n` of `character(n)` / `character varying(n)`).
    pub max_len: Option<i32>,
    /// `typcategory` of the base type (`A` array, `N` numeric, `S` string, …).
    pub category: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub description: Option<String>,
    /// Enum labels when the column's type is an enum.
    pub enum_values: Vec<String>,
    /// Domain representation: function rendering the value as JSON (a `domain AS json` cast).
    pub to_json: Option<Qi>,
    /// Function parsing a JSON value into the domain (a `json AS domain` cast).
    pub from_json: Option<Qi>,
    /// Function parsing a filter's text into the domain (a `text AS domain` cast).
    pub from_text: Option<Qi>,
}

/// A table, view, materialized view or foreign table.
#[derive(Debug, Clone)]
pub struct Relation {
    pub qi: Qi,
    pub oid: u32,
    pub is_view: bool,
    pub columns: Vec<Column>,
    pub pk: Vec<String>,
    pub description: Option<String>,
    pub insertable: bool,
    pub updatable: bool,
    pub deletable: bool,
}

#[cfg(test)]
impl Column {
    /// A nullable column of type `ty` without default or representation functions (tests).
    pub fn plain(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            type_name: ty.into(),
            base_type: ty.into(),
            data_type: ty.into(),
            max_len: None,
            category: "N".into(),
            nullable: true,
            default: None,
            description: None,
            enum_values: Vec::new(),
            to_json: None,
            from_json: None,
            from_text: None,
        }
    }
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// How an embedded resource relates to its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cardinality {
    ManyToOne,
    OneToMany,
    OneToOne,
    /// Through a junction relation: `(junction, source→junction column pairs, junction→target pairs)`.
    ManyToMany {
        junction: Qi,
        source_cols: Vec<(String, String)>,
        target_cols: Vec<(String, String)>,
        source_constraint: String,
        target_constraint: String,
    },
}

/// A relationship from `source` to `target`.
#[derive(Debug, Clone)]
pub struct Relationship {
    pub source: Qi,
    pub target: Qi,
    pub cardinality: Cardinality,
    /// Column pairs `(source column, target column)` (empty for many-to-many and computed).
    pub columns: Vec<(String, String)>,
    pub constraint: String,
    /// A function that computes the relationship (`fn(source) returns setof target`).
    pub computed: Option<Qi>,
    /// A computed relationship returns at most one row.
    pub computed_single: bool,
}

impl Relationship {
    /// Whether the embedded value is one object (or null) rather than an array.
    pub fn to_one(&self) -> bool {
        if self.computed.is_some() {
            return self.computed_single;
        }
        matches!(
            self.cardinality,
            Cardinality::ManyToOne | Cardinality::OneToOne
        )
    }
}

/// One parameter of a function.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub type_name: String,
    pub has_default: bool,
    pub variadic: bool,
}

/// What a function returns.
#[derive(Debug, Clone)]
pub struct Routine {
    pub qi: Qi,
    pub params: Vec<Param>,
    pub returns_set: bool,
    /// Return type name (`format_type`).
    pub return_type: String,
    /// The relation whose row type is returned, if any.
    pub return_relation: Option<Qi>,
    /// Returns a composite (row type, OUT params or TABLE).
    pub returns_composite: bool,
    /// Returns `void`.
    pub returns_void: bool,
    /// `'v'`, `'s'` or `'i'`.
    pub volatility: char,
    pub rows: f32,
    pub description: Option<String>,
    /// The argument is the row type of this relation (computed column / relationship).
    pub single_row_arg: Option<Qi>,
    /// The function returns a domain named like a media type (`"image/png"`, `"*/*"`): its
    /// value is the response body, sent as that type.
    pub media_type: Option<MediaDomain>,
}

/// A domain named like a media type, returned by a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDomain {
    /// The domain's name: the media type (`*/*` stands for any).
    pub media: String,
    /// Whether the domain is over `bytea` (else its text is sent as UTF-8).
    pub bytea: bool,
}

impl Routine {
    pub fn is_volatile(&self) -> bool {
        self.volatility == 'v'
    }
}

/// An aggregate rendering rows as a custom media type: its return type is a domain named after
/// the media type; its argument is a relation's row type or `anyelement` (any relation).
#[derive(Debug, Clone)]
pub struct MediaHandler {
    pub media: String,
    /// Base type of the domain (`jsonb`, `json`, `bytea`, `text`).
    pub base: String,
    pub aggregate: Qi,
    /// `None`: applies to every relation.
    pub target: Option<Qi>,
}

/// Everything the API knows about the database.
#[derive(Debug, Default)]
pub struct SchemaCache {
    pub relations: HashMap<Qi, Relation>,
    pub relationships: HashMap<Qi, Vec<Relationship>>,
    pub routines: HashMap<Qi, Vec<Routine>>,
    /// Computed columns: relation → function name → function.
    pub computed: HashMap<Qi, HashMap<String, Routine>>,
    /// Aggregates producing custom media types (domains named like `application/x`).
    pub media_handlers: Vec<MediaHandler>,
    /// Schema holding PostGIS' `st_asgeojson(record)`, when installed (GeoJSON responses).
    pub postgis: Option<String>,
}

const RELATIONS_SQL: &str = r#"
select c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text,
       obj_description(c.oid, 'pg_class'),
       c.relkind in ('r','p') or (c.relkind in ('v','f') and (pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8),
       c.relkind in ('r','p') or (c.relkind in ('v','f') and (pg_relation_is_updatable(c.oid::regclass, true) & 4) = 4),
       c.relkind in ('r','p') or (c.relkind in ('v','f') and (pg_relation_is_updatable(c.oid::regclass, true) & 16) = 16)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r','v','m','f','p')
  and n.nspname not in ('pg_catalog','information_schema','pg_toast')
  and n.nspname !~ '^pg_temp'
"#;

const COLUMNS_SQL: &str = r#"
select a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod),
       format_type(coalesce(nullif(t.typbasetype, 0), t.oid), null),
       bt.typcategory::text,
       not a.attnotnull,
       -- As PostgREST: an identity column by default takes its sequence's next value, a
       -- generated column has no default, a domain column its domain's.
       case when a.attgenerated = 's' then null
            when a.attidentity = 'd' and d.adbin is null
              then format('nextval(%L)', pg_get_serial_sequence(c.oid::regclass::text, a.attname))
            else coalesce(pg_get_expr(d.adbin, d.adrelid), t.typdefault) end,
       col_description(a.attrelid, a.attnum),
       coalesce((select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = bt.oid), '{}'),
       (select array[pn.nspname::text, p.proname::text] from pg_cast pc join pg_proc p on p.oid = pc.castfunc
          join pg_namespace pn on pn.oid = p.pronamespace
         where t.typtype = 'd' and pc.castsource = t.oid and pc.casttarget = 'json'::regtype limit 1),
       (select array[pn.nspname::text, p.proname::text] from pg_cast pc join pg_proc p on p.oid = pc.castfunc
          join pg_namespace pn on pn.oid = p.pronamespace
         where t.typtype = 'd' and pc.casttarget = t.oid and pc.castsource = 'json'::regtype limit 1),
       (select array[pn.nspname::text, p.proname::text] from pg_cast pc join pg_proc p on p.oid = pc.castfunc
          join pg_namespace pn on pn.oid = p.pronamespace
         where t.typtype = 'd' and pc.casttarget = t.oid and pc.castsource = 'text'::regtype limit 1),
       a.attnum::int4,
       case when t.typtype = 'd' and bt.typnamespace = 'pg_catalog'::regnamespace
              then format_type(bt.oid, null)
            when t.typtype <> 'd' and t.typnamespace = 'pg_catalog'::regnamespace
              then format_type(a.atttypid, null)
            else format_type(a.atttypid, a.atttypmod) end,
       information_schema._pg_char_max_length(information_schema._pg_truetypid(a.*, t.*),
                                              information_schema._pg_truetypmod(a.*, t.*))::int4
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
join pg_type bt on bt.oid = coalesce(nullif(t.typbasetype, 0), t.oid)
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attnum > 0 and not a.attisdropped
  and c.relkind in ('r','v','m','f','p')
  and n.nspname not in ('pg_catalog','information_schema','pg_toast')
order by a.attrelid, a.attnum
"#;
// (The last column, `a.attnum`, names the columns a view's stored query refers to.)

const CONSTRAINTS_SQL: &str = r#"
select c.contype::text, c.conname::text, c.conrelid::int8, c.confrelid::int8,
       array(select a.attname::text from unnest(c.conkey) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i),
       array(select a.attname::text from unnest(coalesce(c.confkey, '{}')) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.i)
from pg_constraint c
join pg_namespace n on n.oid = c.connamespace
where c.contype in ('p','u','f')
  and n.nspname not in ('pg_catalog','information_schema')
"#;

/// The stored query of every view (its `_RETURN` rule), read by [`crate::view_targets`].
const VIEW_TARGETS_SQL: &str = r#"
select r.ev_class::int8, r.ev_action::text
from pg_rewrite r
join pg_class v on v.oid = r.ev_class and v.relkind in ('v','m')
join pg_namespace n on n.oid = v.relnamespace
where r.rulename = '_RETURN'
  and n.nspname not in ('pg_catalog','information_schema')
"#;

/// View column → base relation column, as recorded by the view's rewrite rule dependencies
/// (by name: the fallback for a view whose stored query is not understood).
const VIEW_DEPS_SQL: &str = r#"
select distinct r.ev_class::int8, d.refobjid::int8, a.attname::text
from pg_rewrite r
join pg_class v on v.oid = r.ev_class and v.relkind in ('v','m')
join pg_depend d on d.objid = r.oid and d.classid = 'pg_rewrite'::regclass
                 and d.refclassid = 'pg_class'::regclass and d.refobjsubid > 0
join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
join pg_namespace n on n.oid = v.relnamespace
where d.refobjid <> r.ev_class
  and n.nspname not in ('pg_catalog','information_schema')
"#;

const ROUTINES_SQL: &str = r#"
select n.nspname::text, p.proname::text,
       coalesce(p.proargnames, '{}')::text[],
       array(select format_type(t, null) from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(t, i) order by i),
       coalesce(p.proargmodes::text[], '{}'),
       p.pronargdefaults::int4, p.proretset, format_type(p.prorettype, null),
       p.provolatile::text, p.prorows::float4, obj_description(p.oid, 'pg_proc'),
       rt.typtype::text, rc.oid::int8, rn.nspname::text, rc.relname::text,
       p.provariadic <> 0,
       p.pronargs::int4,
       array(select t::int8 from unnest(p.proargtypes::oid[]) t),
       case when rt.typtype = 'd' and rt.typname like '%/%' then rt.typname::text end,
       rt.typbasetype = 'bytea'::regtype
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
left join pg_class rc on rc.oid = rt.typrelid
left join pg_namespace rn on rn.oid = rc.relnamespace
where n.nspname = any($1) and p.prokind = 'f'
"#;

const ROW_TYPES_SQL: &str = r#"
select t.oid::int8, n.nspname::text, c.relname::text
from pg_type t join pg_class c on c.oid = t.typrelid join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r','v','m','f','p') and n.nspname = any($1)
"#;

/// Every role's own settings (`ALTER ROLE … SET`), as a role switched to would have had them at
/// login; defined with the platform, which storage shares.
pub use basalt_pg::platform::ROLE_SETTINGS_SQL;

/// Each role's own settings (`basalt_pg::request`, shared with GraphQL), applied in every
/// transaction that runs as the role. Read again after each schema reload.
pub use basalt_pg::request::RoleSettings;

fn qi_of(v: Option<Vec<String>>) -> Option<Qi> {
    match v.as_deref() {
        Some([s, n]) => Some(Qi::new(s, n)),
        _ => None,
    }
}

struct Fk {
    name: String,
    rel: u32,
    frel: u32,
    cols: Vec<String>,
    fcols: Vec<String>,
}

impl SchemaCache {
    /// Load everything for the exposed `schemas`.
    pub async fn load(
        client: &Client,
        schemas: &[String],
    ) -> Result<SchemaCache, tokio_postgres::Error> {
        let schemas_param: Vec<String> = schemas.to_vec();
        let p1: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&schemas_param];
        let p2: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&schemas_param];
        let (rels, cols, cons, deps, targets, routines, rowtypes) = futures::try_join!(
            client.query(RELATIONS_SQL, &[]),
            client.query(COLUMNS_SQL, &[]),
            client.query(CONSTRAINTS_SQL, &[]),
            client.query(VIEW_DEPS_SQL, &[]),
            client.query(VIEW_TARGETS_SQL, &[]),
            client.query(ROUTINES_SQL, &p1),
            client.query(ROW_TYPES_SQL, &p2),
        )?;
        let mut by_oid: HashMap<u32, Relation> = HashMap::new();
        for r in &rels {
            let oid = r.get::<_, i64>(0) as u32;
            let kind: String = r.get(3);
            by_oid.insert(
                oid,
                Relation {
                    qi: Qi::new(r.get(1), r.get(2)),
                    oid,
                    is_view: kind != "r" && kind != "p",
                    columns: Vec::new(),
                    pk: Vec::new(),
                    description: r.get(4),
                    insertable: r.get::<_, Option<bool>>(5).unwrap_or(false),
                    updatable: r.get::<_, Option<bool>>(6).unwrap_or(false),
                    deletable: r.get::<_, Option<bool>>(7).unwrap_or(false),
                },
            );
        }
        let mut attnames: HashMap<(u32, i32), String> = HashMap::new();
        for r in &cols {
            let oid = r.get::<_, i64>(0) as u32;
            attnames.insert((oid, r.get(12)), r.get(1));
            if let Some(rel) = by_oid.get_mut(&oid) {
                rel.columns.push(Column {
                    name: r.get(1),
                    type_name: r.get(2),
                    base_type: r.get(3),
                    data_type: r.get(13),
                    max_len: r.get(14),
                    category: r.get(4),
                    nullable: r.get(5),
                    default: r.get(6),
                    description: r.get(7),
                    enum_values: r.get(8),
                    to_json: qi_of(r.get(9)),
                    from_json: qi_of(r.get(10)),
                    from_text: qi_of(r.get(11)),
                });
            }
        }
        let mut uniques: HashMap<u32, Vec<Vec<String>>> = HashMap::new();
        let mut fks = Vec::new();
        for r in &cons {
            let kind: String = r.get(0);
            let rel = r.get::<_, i64>(2) as u32;
            let cols: Vec<String> = r.get(4);
            match kind.as_str() {
                "p" => {
                    if let Some(x) = by_oid.get_mut(&rel) {
                        x.pk = cols.clone();
                    }
                    uniques.entry(rel).or_default().push(cols);
                }
                "u" => uniques.entry(rel).or_default().push(cols),
                _ => fks.push(Fk {
                    name: r.get(1),
                    rel,
                    frel: r.get::<_, i64>(3) as u32,
                    cols,
                    fcols: r.get(5),
                }),
            }
        }
        // View columns and the base columns they read: from each view's stored query (a
        // renamed column too: `s.id AS sponsor_id`), else by name among the columns its rules
        // depend on.
        let mut view_cols: HashMap<u32, Vec<(String, u32, String)>> = HashMap::new();
        let mut parsed: HashSet<u32> = HashSet::new();
        for r in &targets {
            let view = r.get::<_, i64>(0) as u32;
            let Some(cols) = crate::view_targets::target_columns(r.get(1)) else {
                continue;
            };
            parsed.insert(view);
            for c in cols {
                if let Some(base) = c.origin.and_then(|o| attnames.get(&o).map(|n| (o.0, n))) {
                    let entry = (c.name, base.0, base.1.clone());
                    view_cols.entry(view).or_default().push(entry);
                }
            }
        }
        if parsed.len() < targets.len() {
            tracing::debug!(
                views = targets.len(),
                unread = targets.len() - parsed.len(),
                "view queries not understood; their columns are matched by name"
            );
        }
        let mut view_bases: HashMap<u32, Vec<(u32, String)>> = HashMap::new();
        for r in &deps {
            let view = r.get::<_, i64>(0) as u32;
            if !parsed.contains(&view) {
                let base = (r.get::<_, i64>(1) as u32, r.get(2));
                view_bases.entry(view).or_default().push(base);
            }
        }
        for (view, bases) in &view_bases {
            let Some(vrel) = by_oid.get(view) else {
                continue;
            };
            for col in &vrel.columns {
                for (boid, bcol) in bases.iter().filter(|(_, c)| *c == col.name) {
                    let entry = (col.name.clone(), *boid, bcol.clone());
                    view_cols.entry(*view).or_default().push(entry);
                }
            }
        }
        // Lineage: (base oid, base column) -> [(view oid, view column)], followed through views
        // of views.
        let mut lineage: HashMap<(u32, String), Vec<(u32, String)>> = HashMap::new();
        for (view, cols) in &view_cols {
            for (vcol, boid, bcol) in cols {
                let mut todo = vec![(*boid, bcol.clone())];
                let mut seen = HashSet::new();
                while let Some(base) = todo.pop() {
                    if !seen.insert(base.clone()) {
                        continue;
                    }
                    if let Some(next) = view_cols.get(&base.0) {
                        let deeper = next.iter().filter(|(c, _, _)| *c == base.1);
                        todo.extend(deeper.map(|(_, o, c)| (*o, c.clone())));
                    }
                    lineage.entry(base).or_default().push((*view, vcol.clone()));
                }
            }
        }
        // Relations that expose all of `cols` of base `oid`, with their column names.
        let expose = |oid: u32, cols: &[String]| -> Vec<(u32, Vec<String>)> {
            let mut out = vec![(oid, cols.to_vec())];
            let mut per_view: HashMap<u32, Vec<Option<String>>> = HashMap::new();
            for (i, c) in cols.iter().enumerate() {
                if let Some(vs) = lineage.get(&(oid, c.clone())) {
                    for (v, vc) in vs {
                        let e = per_view.entry(*v).or_insert_with(|| vec![None; cols.len()]);
                        e[i] = Some(vc.clone());
                    }
                }
            }
            for (v, mapped) in per_view {
                if mapped.iter().all(Option::is_some) {
                    out.push((v, mapped.into_iter().flatten().collect()));
                }
            }
            out
        };
        // Views inherit the primary key of every base table whose key columns they all expose
        // (a join of two tables has both keys), in the view's column order.
        let pks: Vec<(u32, Vec<String>)> = by_oid
            .values()
            .filter(|r| !r.is_view && !r.pk.is_empty())
            .map(|r| (r.oid, r.pk.clone()))
            .collect();
        let mut view_pks: HashMap<u32, HashSet<String>> = HashMap::new();
        for (oid, pk) in pks {
            for (v, cols) in expose(oid, &pk) {
                if v != oid {
                    view_pks.entry(v).or_default().extend(cols);
                }
            }
        }
        for (v, cols) in view_pks {
            if let Some(view) = by_oid.get_mut(&v) {
                if view.is_view && view.pk.is_empty() {
                    view.pk = view
                        .columns
                        .iter()
                        .filter(|c| cols.contains(&c.name))
                        .map(|c| c.name.clone())
                        .collect();
                }
            }
        }
        let exposed: HashSet<&str> = schemas.iter().map(String::as_str).collect();
        let mut relationships: HashMap<Qi, Vec<Relationship>> = HashMap::new();
        // Direct relationships per exposed schema.
        struct Edge {
            src: u32,
            src_cols: Vec<String>,
            tgt: u32,
            tgt_cols: Vec<String>,
            name: String,
            unique: bool,
        }
        let mut edges: Vec<Edge> = Vec::new();
        for fk in &fks {
            let unique = uniques
                .get(&fk.rel)
                .map(|us| {
                    us.iter().any(|u| {
                        let a: HashSet<&String> = u.iter().collect();
                        let b: HashSet<&String> = fk.cols.iter().collect();
                        a == b
                    })
                })
                .unwrap_or(false);
            for (s, scols) in expose(fk.rel, &fk.cols) {
                for (t, tcols) in expose(fk.frel, &fk.fcols) {
                    let (Some(sr), Some(tr)) = (by_oid.get(&s), by_oid.get(&t)) else {
                        continue;
                    };
                    if sr.qi.schema != tr.qi.schema || !exposed.contains(sr.qi.schema.as_str()) {
                        continue;
                    }
                    edges.push(Edge {
                        src: s,
                        src_cols: scols.clone(),
                        tgt: t,
                        tgt_cols: tcols.clone(),
                        name: fk.name.clone(),
                        unique,
                    });
                }
            }
        }
        for e in &edges {
            let (Some(sr), Some(tr)) = (by_oid.get(&e.src), by_oid.get(&e.tgt)) else {
                continue;
            };
            let pairs: Vec<(String, String)> = e
                .src_cols
                .iter()
                .cloned()
                .zip(e.tgt_cols.iter().cloned())
                .collect();
            relationships
                .entry(sr.qi.clone())
                .or_default()
                .push(Relationship {
                    source: sr.qi.clone(),
                    target: tr.qi.clone(),
                    cardinality: if e.unique {
                        Cardinality::OneToOne
                    } else {
                        Cardinality::ManyToOne
                    },
                    columns: pairs.clone(),
                    constraint: e.name.clone(),
                    computed: None,
                    computed_single: false,
                });
            relationships
                .entry(tr.qi.clone())
                .or_default()
                .push(Relationship {
                    source: tr.qi.clone(),
                    target: sr.qi.clone(),
                    cardinality: if e.unique {
                        Cardinality::OneToOne
                    } else {
                        Cardinality::OneToMany
                    },
                    columns: pairs.iter().map(|(a, b)| (b.clone(), a.clone())).collect(),
                    constraint: e.name.clone(),
                    computed: None,
                    computed_single: false,
                });
        }
        // Many-to-many through junctions: a relation with two foreign keys whose columns are all
        // part of its primary key.
        let mut by_junction: HashMap<u32, Vec<&Edge>> = HashMap::new();
        for e in &edges {
            by_junction.entry(e.src).or_default().push(e);
        }
        for (j, es) in &by_junction {
            let Some(jr) = by_oid.get(j) else { continue };
            for a in es {
                for b in es {
                    if std::ptr::eq(*a, *b)
                        || a.name == b.name
                        || !junction_keys(&jr.pk, &a.src_cols, &b.src_cols)
                    {
                        continue;
                    }
                    let (Some(ar), Some(br)) = (by_oid.get(&a.tgt), by_oid.get(&b.tgt)) else {
                        continue;
                    };
                    relationships
                        .entry(ar.qi.clone())
                        .or_default()
                        .push(Relationship {
                            source: ar.qi.clone(),
                            target: br.qi.clone(),
                            cardinality: Cardinality::ManyToMany {
                                junction: jr.qi.clone(),
                                source_cols: a
                                    .tgt_cols
                                    .iter()
                                    .cloned()
                                    .zip(a.src_cols.iter().cloned())
                                    .collect(),
                                target_cols: b
                                    .src_cols
                                    .iter()
                                    .cloned()
                                    .zip(b.tgt_cols.iter().cloned())
                                    .collect(),
                                source_constraint: a.name.clone(),
                                target_constraint: b.name.clone(),
                            },
                            columns: Vec::new(),
                            constraint: String::new(),
                            computed: None,
                            computed_single: false,
                        });
                }
            }
        }
        let mut relations: HashMap<Qi, Relation> = HashMap::new();
        for (_, r) in by_oid {
            relations.insert(r.qi.clone(), r);
        }
        // Functions.
        let rowtype: HashMap<u32, Qi> = rowtypes
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u32, Qi::new(r.get(1), r.get(2))))
            .collect();
        let mut by_name: HashMap<Qi, Vec<Routine>> = HashMap::new();
        let mut computed: HashMap<Qi, HashMap<String, Routine>> = HashMap::new();
        for r in &routines {
            let qi = Qi::new(r.get(0), r.get(1));
            let names: Vec<String> = r.get(2);
            let types: Vec<String> = r.get(3);
            let modes: Vec<String> = r.get(4);
            let ndefaults = r.get::<_, i32>(5) as usize;
            let returns_set: bool = r.get(6);
            let return_type: String = r.get(7);
            let volatility: String = r.get(8);
            let rows: f32 = r.get(9);
            let description: Option<String> = r.get(10);
            let typtype: String = r.get(11);
            let ret_rel = match (
                r.get::<_, Option<String>>(13),
                r.get::<_, Option<String>>(14),
            ) {
                (Some(s), Some(n)) => Some(Qi::new(&s, &n)),
                _ => None,
            };
            let variadic: bool = r.get(15);
            let in_types: Vec<i64> = r.get(17);
            let media_type = r.get::<_, Option<String>>(18).map(|name| MediaDomain {
                media: name,
                bytea: r.get(19),
            });
            // Input parameters: modes i, b, v (absent modes = all in).
            let mut params = Vec::new();
            let mut out_count = 0;
            for (i, ty) in types.iter().enumerate() {
                let mode = modes.get(i).map(String::as_str).unwrap_or("i");
                if mode == "o" || mode == "t" {
                    out_count += 1;
                    continue;
                }
                if mode == "b" {
                    out_count += 1;
                }
                params.push(Param {
                    name: names.get(i).cloned().unwrap_or_default(),
                    type_name: ty.clone(),
                    has_default: false,
                    variadic: mode == "v",
                });
            }
            let n = params.len();
            for p in params.iter_mut().skip(n.saturating_sub(ndefaults)) {
                p.has_default = true;
            }
            if variadic {
                if let Some(p) = params.last_mut() {
                    p.variadic = true;
                }
            }
            let single_row_arg = if in_types.len() == 1 {
                rowtype.get(&(in_types[0] as u32)).cloned()
            } else {
                None
            };
            let routine = Routine {
                qi: qi.clone(),
                params,
                returns_set,
                return_type: return_type.clone(),
                return_relation: ret_rel.clone(),
                returns_composite: typtype == "c" || out_count > 0,
                returns_void: return_type == "void",
                volatility: volatility.chars().next().unwrap_or('v'),
                rows,
                description,
                single_row_arg: single_row_arg.clone(),
                media_type,
            };
            if let Some(src) = &single_row_arg {
                if let Some(tgt) = &ret_rel {
                    if src.schema == qi.schema && tgt.schema == qi.schema {
                        relationships
                            .entry(src.clone())
                            .or_default()
                            .push(Relationship {
                                source: src.clone(),
                                target: tgt.clone(),
                                cardinality: if returns_set && rows != 1.0 {
                                    Cardinality::OneToMany
                                } else {
                                    Cardinality::ManyToOne
                                },
                                columns: Vec::new(),
                                constraint: qi.name.clone(),
                                computed: Some(qi.clone()),
                                computed_single: !returns_set || rows == 1.0,
                            });
                    }
                } else if !returns_set {
                    computed
                        .entry(src.clone())
                        .or_default()
                        .insert(qi.name.clone(), routine.clone());
                }
            }
            by_name.entry(qi).or_default().push(routine);
        }
        let postgis = client
            .query_opt(
                "select n.nspname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                 where p.proname = 'st_asgeojson' and p.proargtypes[0] = 'record'::regtype limit 1",
                &[],
            )
            .await?
            .map(|r| r.get(0));
        let media_handlers = client
            .query(
                "select n.nspname::text, p.proname::text, t.typname::text, format_type(t.typbasetype, null),
                        rn.nspname::text, rc.relname::text
                 from pg_proc p
                 join pg_namespace n on n.oid = p.pronamespace
                 join pg_type t on t.oid = p.prorettype and t.typtype = 'd' and t.typname like '%/%'
                 left join pg_type at on at.oid = p.proargtypes[0]
                 left join pg_class rc on rc.oid = at.typrelid
                 left join pg_namespace rn on rn.oid = rc.relnamespace
                 where p.prokind = 'a' and p.pronargs = 1 and n.nspname = any($1)
                   and (p.proargtypes[0] = 'anyelement'::regtype or rc.oid is not null)",
                &p1,
            )
            .await?
            .iter()
            .map(|r| MediaHandler {
                aggregate: Qi::new(r.get(0), r.get(1)),
                media: r.get(2),
                base: r.get(3),
                target: match (r.get::<_, Option<String>>(4), r.get::<_, Option<String>>(5)) {
                    (Some(s), Some(n)) => Some(Qi::new(&s, &n)),
                    _ => None,
                },
            })
            .collect();
        for rels in relationships.values_mut() {
            override_by_computed(rels);
        }
        Ok(SchemaCache {
            relations,
            relationships,
            routines: by_name,
            computed,
            postgis,
            media_handlers,
        })
    }

    /// The relationships of `source` that an embed named `name` with `hint` may mean.
    pub fn find_relationships(
        &self,
        source: &Qi,
        name: &str,
        hint: Option<&str>,
    ) -> Vec<&Relationship> {
        let Some(all) = self.relationships.get(source) else {
            return Vec::new();
        };
        // A self-referencing foreign key gives two relationships (many-to-one and one-to-many)
        // that the general rules below cannot tell apart. As PostgREST does, the table's name
        // selects the one-to-many side (a hint names the referencing column:
        // `organizations!referee`), and the referencing column selects the many-to-one side
        // (`referee(*)`).
        let self_match = |r: &Relationship| {
            let one_col = r.columns.len() == 1;
            match (&r.cardinality, hint) {
                (Cardinality::OneToMany, None) => r.target.name == name,
                (Cardinality::ManyToOne, None) => one_col && r.columns[0].0 == name,
                (Cardinality::OneToMany, Some(h)) => {
                    r.target.name == name && one_col && r.columns[0].1 == h
                }
                _ => false,
            }
        };
        let by_name = |r: &Relationship| match &r.computed {
            Some(f) => f.name == name,
            None => {
                r.target.name == name
                    || (hint.is_none()
                        && matches!(
                            r.cardinality,
                            Cardinality::ManyToOne | Cardinality::OneToOne
                        )
                        && r.columns.len() == 1
                        && r.columns[0].0 == name)
                    || (hint.is_none() && !r.constraint.is_empty() && r.constraint == name)
            }
        };
        let by_hint = |r: &Relationship| match (hint, &r.cardinality) {
            (None, _) => true,
            (
                Some(h),
                Cardinality::ManyToMany {
                    junction,
                    source_constraint,
                    target_constraint,
                    ..
                },
            ) => junction.name == h || source_constraint == h || target_constraint == h,
            (Some(h), _) => {
                r.constraint == h
                    || (r.columns.len() == 1 && (r.columns[0].0 == h || r.columns[0].1 == h))
            }
        };
        all.iter()
            .filter(|r| {
                let is_self = r.computed.is_none()
                    && r.source == r.target
                    && matches!(
                        r.cardinality,
                        Cardinality::ManyToOne | Cardinality::OneToMany
                    );
                if is_self {
                    self_match(r)
                } else {
                    by_name(r) && by_hint(r)
                }
            })
            .collect()
    }
}

/// Whether a relation with primary key `pk` joins two others as a junction through foreign keys
/// on `a` and `b`: every column of both keys is part of the primary key.
fn junction_keys(pk: &[String], a: &[String], b: &[String]) -> bool {
    a.iter().chain(b).all(|c| pk.contains(c))
}

/// A computed relationship named after a relation replaces the relationships its source table
/// has with that relation (foreign keys, many-to-many through a junction): the function is the
/// user's definition of how the two relate.
fn override_by_computed(rels: &mut Vec<Relationship>) {
    let overriding: Vec<Qi> = rels.iter().filter_map(|r| r.computed.clone()).collect();
    rels.retain(|r| r.computed.is_some() || !overriding.contains(&r.target));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junctions_hold_both_foreign_keys_in_their_primary_key() {
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pk = cols(&["user_id", "task_id"]);
        assert!(junction_keys(&pk, &cols(&["user_id"]), &cols(&["task_id"])));
        // organizations(id) with manager_id and referee foreign keys is no junction.
        assert!(!junction_keys(
            &cols(&["id"]),
            &cols(&["manager_id"]),
            &cols(&["referee"])
        ));
        assert!(!junction_keys(&[], &cols(&["a"]), &cols(&["b"])));
    }

    #[test]
    fn computed_relationships_named_after_a_table_replace_its_foreign_keys() {
        let mut rels = vec![
            rel(
                "videogames",
                "designers",
                Cardinality::ManyToOne,
                &[("designer_id", "id")],
                "fk",
            ),
            rel(
                "videogames",
                "studios",
                Cardinality::ManyToOne,
                &[("studio_id", "id")],
                "fk2",
            ),
            Relationship {
                computed: Some(Qi::new("s", "designers")),
                computed_single: true,
                ..rel(
                    "videogames",
                    "designers",
                    Cardinality::ManyToOne,
                    &[],
                    "designers",
                )
            },
            Relationship {
                computed: Some(Qi::new("s", "computed_studios")),
                computed_single: true,
                ..rel(
                    "videogames",
                    "studios",
                    Cardinality::ManyToOne,
                    &[],
                    "computed_studios",
                )
            },
        ];
        override_by_computed(&mut rels);
        let kept: Vec<&str> = rels.iter().map(|r| r.constraint.as_str()).collect();
        assert_eq!(kept, ["fk2", "designers", "computed_studios"]);
    }

    fn rel(
        src: &str,
        tgt: &str,
        card: Cardinality,
        cols: &[(&str, &str)],
        c: &str,
    ) -> Relationship {
        Relationship {
            source: Qi::new("s", src),
            target: Qi::new("s", tgt),
            cardinality: card,
            columns: cols
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            constraint: c.into(),
            computed: None,
            computed_single: false,
        }
    }

    #[test]
    fn finds_by_name_column_and_hint() {
        let mut sc = SchemaCache::default();
        sc.relationships.insert(
            Qi::new("s", "projects"),
            vec![
                rel(
                    "projects",
                    "clients",
                    Cardinality::ManyToOne,
                    &[("client_id", "id")],
                    "projects_client_id_fkey",
                ),
                rel(
                    "projects",
                    "tasks",
                    Cardinality::OneToMany,
                    &[("id", "project_id")],
                    "tasks_project_id_fkey",
                ),
            ],
        );
        let p = Qi::new("s", "projects");
        assert_eq!(sc.find_relationships(&p, "clients", None).len(), 1);
        assert_eq!(sc.find_relationships(&p, "client_id", None).len(), 1);
        assert_eq!(
            sc.find_relationships(&p, "clients", Some("projects_client_id_fkey"))
                .len(),
            1
        );
        assert_eq!(
            sc.find_relationships(&p, "clients", Some("client_id"))
                .len(),
            1
        );
        assert!(sc
            .find_relationships(&p, "clients", Some("nonexistent"))
            .is_empty());
        assert!(sc.find_relationships(&p, "nothing", None).is_empty());
    }
}
