//! The GraphQL schema pg_graphql reflects from a [`Catalog`], as plain data: type and field
//! names, what each field reads in SQL, scalar mappings. Both the introspectable schema
//! ([`crate::gql`]) and the planner ([`crate::plan`]) read it.

use std::collections::HashMap;

use serde_json::Value;

use crate::catalog::{Catalog, Column, TypeRef};
use crate::names;

/// pg_graphql's default page size.
pub const DEFAULT_MAX_ROWS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    Int,
    Float,
    String,
    Boolean,
    Id,
    BigInt,
    BigFloat,
    Uuid,
    Date,
    Time,
    Datetime,
    Json,
    Opaque,
    Cursor,
}

impl Scalar {
    pub fn name(self) -> &'static str {
        match self {
            Scalar::Int => "Int",
            Scalar::Float => "Float",
            Scalar::String => "String",
            Scalar::Boolean => "Boolean",
            Scalar::Id => "ID",
            Scalar::BigInt => "BigInt",
            Scalar::BigFloat => "BigFloat",
            Scalar::Uuid => "UUID",
            Scalar::Date => "Date",
            Scalar::Time => "Time",
            Scalar::Datetime => "Datetime",
            Scalar::Json => "JSON",
            Scalar::Opaque => "Opaque",
            Scalar::Cursor => "Cursor",
        }
    }

    /// The scalar pg_graphql maps a base type to (by OID, `citext` by name).
    pub fn of_oid(oid: i64, name: &str) -> Scalar {
        match oid {
            20 => Scalar::BigInt,
            16 => Scalar::Boolean,
            1082 => Scalar::Date,
            1184 | 1114 => Scalar::Datetime,
            701 | 700 => Scalar::Float,
            23 | 21 => Scalar::Int,
            3802 | 114 => Scalar::Json,
            1083 => Scalar::Time,
            2950 => Scalar::Uuid,
            1700 => Scalar::BigFloat,
            25 | 18 | 1042 | 1043 => Scalar::String,
            _ if name == "citext" => Scalar::String,
            _ => Scalar::Opaque,
        }
    }

    /// Filter operators of `<Scalar>Filter`, in pg_graphql's order.
    pub fn filter_ops(self) -> &'static [&'static str] {
        const ORD: &[&str] = &["eq", "neq", "lt", "lte", "gt", "gte", "in", "is"];
        match self {
            Scalar::Id => &["eq"],
            Scalar::Uuid => &["eq", "neq", "in", "is"],
            Scalar::Boolean | Scalar::Opaque => &["eq", "is"],
            Scalar::String => &[
                "eq",
                "neq",
                "lt",
                "lte",
                "gt",
                "gte",
                "in",
                "is",
                "startsWith",
                "like",
                "ilike",
                "regex",
                "iregex",
            ],
            Scalar::Json | Scalar::Cursor => &[],
            _ => ORD,
        }
    }
}

/// A column's or argument's GraphQL type (nullability is separate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Scalar(Scalar),
    /// Index into [`Model::enums`].
    Enum(usize),
    List(Box<Ty>),
}

#[derive(Debug, Clone)]
pub struct EnumM {
    pub type_name: String,
    /// Qualified SQL type, quoted.
    pub sql_type: String,
    /// (GraphQL value, SQL label), in sort order.
    pub values: Vec<(String, String)>,
    pub mapped: bool,
}

impl EnumM {
    pub fn to_sql(&self, gql: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(g, _)| g == gql)
            .map(|(_, s)| s.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct ColumnM {
    pub name: String,
    pub field: String,
    pub ty: Ty,
    pub type_oid: i64,
    /// Qualified SQL type for casts, quoted.
    pub sql_type: String,
    pub not_null: bool,
    pub selectable: bool,
    pub insertable: bool,
    pub updatable: bool,
    pub description: Option<String>,
}

/// An aggregate of a connection's `aggregate` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
}

impl AggOp {
    pub const ALL: [AggOp; 4] = [AggOp::Sum, AggOp::Avg, AggOp::Min, AggOp::Max];

    /// The field on `<Type>Aggregate` and the SQL aggregate function.
    pub fn name(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Min => "min",
            AggOp::Max => "max",
        }
    }

    /// `<Type><Part>AggregateResult`.
    pub fn type_part(self) -> &'static str {
        match self {
            AggOp::Sum => "Sum",
            AggOp::Avg => "Avg",
            AggOp::Min => "Min",
            AggOp::Max => "Max",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            AggOp::Sum => "summation",
            AggOp::Avg => "average",
            AggOp::Min => "minimum",
            AggOp::Max => "maximum",
        }
    }

    /// The result type of this aggregate over a column (`None`: not aggregatable): sums and
    /// averages of numbers, minimum and maximum of numbers, strings, dates and times, booleans.
    pub fn result(self, c: &ColumnM) -> Option<Scalar> {
        let numeric = matches!(c.type_oid, 21 | 23 | 20 | 700 | 701 | 1700 | 790);
        let integer = matches!(c.type_oid, 21 | 23 | 20);
        let string =
            matches!(c.type_oid, 25 | 1043 | 18 | 1042 | 19) || c.sql_type.ends_with("\"citext\"");
        let datetime = matches!(c.type_oid, 1082 | 1083 | 1266 | 1114 | 1184);
        match self {
            AggOp::Sum if integer => Some(Scalar::BigInt),
            AggOp::Sum | AggOp::Avg if numeric => Some(Scalar::BigFloat),
            AggOp::Min | AggOp::Max if numeric || datetime => match c.ty {
                Ty::Scalar(s) => Some(s),
                _ => None,
            },
            AggOp::Min | AggOp::Max if string => Some(Scalar::String),
            AggOp::Min | AggOp::Max if c.type_oid == 16 => Some(Scalar::Boolean),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeField {
    NodeId,
    Column(usize),
    Relation(usize),
    /// A computed field: a function taking the row ([`Model::functions`] index).
    Function(usize),
}

#[derive(Debug, Clone)]
pub struct TableM {
    pub schema: String,
    pub name: String,
    pub type_name: String,
    pub description: Option<String>,
    pub columns: Vec<ColumnM>,
    pub pkey: Vec<usize>,
    pub max_rows: i64,
    pub total_count: bool,
    pub insertable: bool,
    pub updatable: bool,
    pub deletable: bool,
    /// The whole row is selectable (table-level SELECT): computed fields need it.
    pub row_selectable: bool,
    /// Row-level security is enabled: a row referenced by a foreign key may be hidden.
    pub rls: bool,
    /// `aggregate` on its connection (the `aggregate` comment directive).
    pub aggregate: bool,
    /// Field name → what it reads, in schema order.
    pub fields: Vec<(String, NodeField)>,
}

impl TableM {
    pub fn field(&self, name: &str) -> Option<NodeField> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| *f)
    }
    pub fn column_by_field(&self, field: &str) -> Option<usize> {
        match self.field(field) {
            Some(NodeField::Column(i)) => Some(i),
            _ => None,
        }
    }
    pub fn qualified(&self) -> String {
        basalt_pg::quote_qualified(&self.schema, &self.name)
    }
    /// The selectable columns `op` aggregates, as (field name, column, result type).
    pub fn aggregatable(&self, op: AggOp) -> Vec<(&str, usize, Scalar)> {
        self.fields
            .iter()
            .filter_map(|(n, f)| match f {
                NodeField::Column(ci) => {
                    op.result(&self.columns[*ci]).map(|s| (n.as_str(), *ci, s))
                }
                _ => None,
            })
            .collect()
    }
}

/// A relationship field on `from`'s node: rows of `to` whose `to_cols` equal `from_cols`.
#[derive(Debug, Clone)]
pub struct Relation {
    pub from: usize,
    pub to: usize,
    pub from_cols: Vec<usize>,
    pub to_cols: Vec<usize>,
    /// A connection (one-to-many) rather than a single node.
    pub many: bool,
    /// The single node may be absent.
    pub nullable: bool,
}

#[derive(Debug, Clone)]
pub struct ArgM {
    pub field: String,
    pub sql_name: String,
    pub ty: Ty,
    pub sql_type: String,
    pub has_default: bool,
    /// The default shown by introspection (a GraphQL literal), when it is a plain constant.
    pub default: Option<async_graphql::Value>,
}

#[derive(Debug, Clone)]
pub enum FnReturn {
    Scalar(Ty, i64),
    Node(usize),
    Connection(usize),
}

#[derive(Debug, Clone)]
pub struct FunctionM {
    pub schema: String,
    pub name: String,
    pub field: String,
    pub args: Vec<ArgM>,
    pub ret: FnReturn,
    pub mutation: bool,
    pub description: Option<String>,
    /// A computed field of this table (index into [`Model::tables`]): the function's only
    /// argument is the table's row; it is not a root field.
    pub on_table: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootField {
    Collection(usize),
    /// `<type>ByPk`: one row by its primary key columns.
    ByPk(usize),
    Node,
    Function(usize),
    Insert(usize),
    Update(usize),
    Delete(usize),
}

/// What a named object type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Node(usize),
    Connection(usize),
    Edge(usize),
    PageInfo,
    InsertResponse(usize),
    UpdateResponse(usize),
    DeleteResponse(usize),
    Query,
    Mutation,
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub tables: Vec<TableM>,
    pub enums: Vec<EnumM>,
    pub relations: Vec<Relation>,
    pub functions: Vec<FunctionM>,
    pub query: Vec<(String, RootField)>,
    pub mutation: Vec<(String, RootField)>,
    /// Whether introspection is allowed (no exposed schema turned it off).
    pub introspection: bool,
}

fn quoted_type(schema: &str, name: &str) -> String {
    basalt_pg::quote_qualified(schema, name)
}

impl Model {
    pub fn from_catalog(cat: &Catalog) -> Model {
        let mut m = Model {
            introspection: true,
            ..Model::default()
        };
        let mut schema_dir: HashMap<&str, Value> = HashMap::new();
        for s in &cat.schemas {
            let (d, _) = names::directive(s.comment.as_deref());
            if d.get("introspection").and_then(Value::as_bool) == Some(false) {
                m.introspection = false;
            }
            schema_dir.insert(s.name.as_str(), d);
        }
        let inflect_of = |schema: &str| {
            schema_dir
                .get(schema)
                .and_then(|d| d.get("inflect_names"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let schema_max_rows = |schema: &str| {
            schema_dir
                .get(schema)
                .and_then(|d| d.get("max_rows"))
                .and_then(Value::as_u64)
                .and_then(|n| i64::try_from(n).ok())
        };
        // Enums.
        let mut enum_by_oid: HashMap<i64, usize> = HashMap::new();
        for e in &cat.enums {
            let (d, _) = names::directive(e.comment.as_deref());
            let type_name = names::base_type_name(
                &e.name,
                names::name_override(&d).as_deref(),
                inflect_of(&e.schema),
            );
            if !names::valid(&type_name) {
                continue;
            }
            let mappings = d.get("mappings").and_then(Value::as_object);
            let values = e
                .values
                .iter()
                .map(|v| {
                    let g = mappings
                        .and_then(|mp| mp.get(v))
                        .and_then(Value::as_str)
                        .unwrap_or(v);
                    (g.to_string(), v.clone())
                })
                .filter(|(g, _)| names::valid(g))
                .collect();
            enum_by_oid.insert(e.oid, m.enums.len());
            m.enums.push(EnumM {
                type_name,
                sql_type: quoted_type(&e.schema, &e.name),
                values,
                mapped: mappings.is_some(),
            });
        }
        let base_ty = |oid: i64, name: &str, typtype: &str| -> Ty {
            if typtype == "e" {
                return match enum_by_oid.get(&oid) {
                    Some(i) => Ty::Enum(*i),
                    None => Ty::Scalar(Scalar::Opaque),
                };
            }
            Ty::Scalar(Scalar::of_oid(oid, name))
        };
        let col_ty = |c: &Column| -> Ty {
            if c.elem_oid != 0 && c.type_name.starts_with('_') {
                let elem = enum_by_oid
                    .get(&c.elem_oid)
                    .map(|i| Ty::Enum(*i))
                    .unwrap_or_else(|| Ty::Scalar(Scalar::of_oid(c.elem_oid, &c.type_name[1..])));
                return Ty::List(Box::new(elem));
            }
            base_ty(c.type_oid, &c.type_name, &c.typtype)
        };
        // Tables.
        let mut table_by_oid: HashMap<i64, usize> = HashMap::new();
        for t in &cat.tables {
            if !t.can_select && !t.columns.iter().any(|c| c.can_select) {
                continue;
            }
            let inflect = inflect_of(&t.schema);
            let (d, description) = names::directive(t.comment.as_deref());
            let type_name =
                names::base_type_name(&t.name, names::name_override(&d).as_deref(), inflect);
            if !names::valid(&type_name) {
                continue;
            }
            let columns: Vec<ColumnM> = t
                .columns
                .iter()
                .map(|c| {
                    let (cd, cdesc) = names::directive(c.comment.as_deref());
                    ColumnM {
                        name: c.name.clone(),
                        field: names::column_field(
                            &c.name,
                            names::name_override(&cd).as_deref(),
                            inflect,
                        ),
                        ty: col_ty(c),
                        type_oid: c.type_oid,
                        sql_type: quoted_type(&c.type_schema, &c.type_name),
                        not_null: c.not_null,
                        selectable: c.can_select,
                        insertable: c.can_insert && !c.generated,
                        updatable: c.can_update && !c.generated,
                        description: cdesc,
                    }
                })
                .collect();
            let pkey_names: Vec<String> = if t.pkey.is_empty() {
                strings(&d, "primary_key_columns")
            } else {
                t.pkey.clone()
            };
            let pkey: Vec<usize> = pkey_names
                .iter()
                .filter_map(|n| columns.iter().position(|c| &c.name == n))
                .collect();
            if pkey.is_empty() || pkey.len() != pkey_names.len() {
                continue;
            }
            let max_rows = d
                .get("max_rows")
                .and_then(Value::as_u64)
                .and_then(|n| i64::try_from(n).ok())
                .or_else(|| schema_max_rows(&t.schema))
                .unwrap_or(DEFAULT_MAX_ROWS);
            let total_count = d
                .get("totalCount")
                .and_then(|v| v.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let aggregate = d
                .get("aggregate")
                .and_then(|v| v.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut fields = vec![("nodeId".to_string(), NodeField::NodeId)];
            for (i, c) in columns.iter().enumerate() {
                if c.selectable && names::valid(&c.field) {
                    // Two columns with one field name (`_id` and `id` inflected): the later wins.
                    fields.retain(|(n, _)| n != &c.field);
                    fields.push((c.field.clone(), NodeField::Column(i)));
                }
            }
            let writable = t.kind == "r" || t.kind == "p" || t.kind == "v" || t.kind == "f";
            table_by_oid.insert(t.oid, m.tables.len());
            m.tables.push(TableM {
                schema: t.schema.clone(),
                name: t.name.clone(),
                type_name,
                description,
                insertable: writable && t.can_insert && columns.iter().any(|c| c.insertable),
                updatable: writable && t.can_update && columns.iter().any(|c| c.updatable),
                deletable: writable && t.can_delete,
                row_selectable: t.can_select,
                rls: t.rls,
                aggregate,
                columns,
                pkey,
                max_rows,
                total_count,
                fields,
            });
        }
        // Functions; those taking a table's row are computed fields of its node, after the
        // columns and before the relationships.
        // An overloaded name is ambiguous as a root field (a computed field is told apart by its
        // table).
        let mut name_count: HashMap<&str, usize> = HashMap::new();
        for f in &cat.functions {
            *name_count.entry(f.name.as_str()).or_default() += 1;
        }
        for f in &cat.functions {
            if let Some(fm) = function(f, &m, &table_by_oid, &enum_by_oid, inflect_of(&f.schema)) {
                if fm.on_table.is_none() && name_count.get(f.name.as_str()) > Some(&1) {
                    continue;
                }
                let idx = m.functions.len();
                if let Some(t) = fm.on_table {
                    // A computed field named like a column replaces it, as in pg_graphql.
                    m.tables[t].fields.retain(|(n, _)| n != &fm.field);
                    push_field(&mut m.tables[t], fm.field.clone(), NodeField::Function(idx));
                }
                m.functions.push(fm);
            }
        }
        // Foreign keys: from the catalog, and declared on views' comments.
        struct Fk {
            local: usize,
            foreign: usize,
            local_cols: Vec<String>,
            foreign_cols: Vec<String>,
            local_name: Option<String>,
            foreign_name: Option<String>,
        }
        let mut fks: Vec<Fk> = Vec::new();
        for f in &cat.fkeys {
            let (Some(&l), Some(&r)) = (
                table_by_oid.get(&f.local_oid),
                table_by_oid.get(&f.foreign_oid),
            ) else {
                continue;
            };
            let (d, _) = names::directive(f.comment.as_deref());
            fks.push(Fk {
                local: l,
                foreign: r,
                local_cols: f.local_columns.clone(),
                foreign_cols: f.foreign_columns.clone(),
                local_name: d.get("local_name").and_then(Value::as_str).map(Into::into),
                foreign_name: d
                    .get("foreign_name")
                    .and_then(Value::as_str)
                    .map(Into::into),
            });
        }
        for t in &cat.tables {
            let Some(&l) = table_by_oid.get(&t.oid) else {
                continue;
            };
            let (d, _) = names::directive(t.comment.as_deref());
            for fk in d
                .get("foreign_keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let s = |k: &str| fk.get(k).and_then(Value::as_str).map(str::to_string);
                let cols = |k: &str| strings(fk, k);
                let (Some(fs), Some(ft)) = (s("foreign_schema"), s("foreign_table")) else {
                    continue;
                };
                let Some(r) = m.tables.iter().position(|x| x.schema == fs && x.name == ft) else {
                    continue;
                };
                fks.push(Fk {
                    local: l,
                    foreign: r,
                    local_cols: cols("local_columns"),
                    foreign_cols: cols("foreign_columns"),
                    local_name: s("local_name"),
                    foreign_name: s("foreign_name"),
                });
            }
        }
        for fk in fks {
            let pos = |t: usize, names: &[String]| -> Option<Vec<usize>> {
                names
                    .iter()
                    .map(|n| m.tables[t].columns.iter().position(|c| &c.name == n))
                    .collect()
            };
            let (Some(lc), Some(fc)) = (
                pos(fk.local, &fk.local_cols),
                pos(fk.foreign, &fk.foreign_cols),
            ) else {
                continue;
            };
            if lc.is_empty() || lc.len() != fc.len() {
                continue;
            }
            let local_sql = cat
                .tables
                .iter()
                .find(|t| table_by_oid.get(&t.oid) == Some(&fk.local));
            // Is the referencing side unique (one-to-one)?
            let mut sorted = fk.local_cols.clone();
            sorted.sort();
            let local_unique = local_sql.is_some_and(|t| {
                t.uniques.iter().flatten().any(|u| {
                    let mut u = u.clone();
                    u.sort();
                    u == sorted
                })
            }) || {
                let mut pk: Vec<String> = m.tables[fk.local]
                    .pkey
                    .iter()
                    .map(|i| m.tables[fk.local].columns[*i].name.clone())
                    .collect();
                pk.sort();
                pk == sorted
            };
            let local_inflect = inflect_of(&m.tables[fk.local].schema);
            let foreign_inflect = inflect_of(&m.tables[fk.foreign].schema);
            // Many-to-one, on the referencing table.
            let to_one = names::relation_field(
                &m.tables[fk.foreign].type_name,
                &fk.local_cols,
                foreign_inflect,
                true,
                fk.foreign_name.as_deref(),
            );
            // Non-null when a referencing column is, unless row-level security may hide the
            // referenced row.
            let nullable = m.tables[fk.foreign].rls
                || !lc.iter().any(|i| m.tables[fk.local].columns[*i].not_null);
            let idx = m.relations.len();
            m.relations.push(Relation {
                from: fk.local,
                to: fk.foreign,
                from_cols: lc.clone(),
                to_cols: fc.clone(),
                many: false,
                nullable,
            });
            push_field(&mut m.tables[fk.local], to_one, NodeField::Relation(idx));
            // One-to-many (or one-to-one), on the referenced table.
            let back = names::relation_field(
                &m.tables[fk.local].type_name,
                &fk.foreign_cols,
                local_inflect,
                local_unique,
                fk.local_name.as_deref(),
            );
            let idx = m.relations.len();
            m.relations.push(Relation {
                from: fk.foreign,
                to: fk.local,
                from_cols: fc,
                to_cols: lc,
                many: !local_unique,
                nullable: true,
            });
            push_field(&mut m.tables[fk.foreign], back, NodeField::Relation(idx));
        }
        // Root fields.
        m.query.push(("node".into(), RootField::Node));
        for (i, t) in m.tables.iter().enumerate() {
            let base = names::lower_first(&t.type_name);
            m.query
                .push((format!("{base}Collection"), RootField::Collection(i)));
            // Keys of integer, text and uuid types only.
            let by_pk = t.pkey.iter().all(|c| {
                let c = &t.columns[*c];
                matches!(c.type_oid, 21 | 23 | 20 | 25 | 1043 | 1042 | 18 | 2950)
                    || c.sql_type.ends_with("\"citext\"")
            });
            if by_pk && t.pkey.iter().all(|c| t.columns[*c].selectable) {
                m.query.push((format!("{base}ByPk"), RootField::ByPk(i)));
            }
            if t.insertable {
                m.mutation.push((
                    format!("insertInto{}Collection", t.type_name),
                    RootField::Insert(i),
                ));
            }
            if t.updatable {
                m.mutation.push((
                    format!("update{}Collection", t.type_name),
                    RootField::Update(i),
                ));
            }
            if t.deletable {
                m.mutation.push((
                    format!("deleteFrom{}Collection", t.type_name),
                    RootField::Delete(i),
                ));
            }
        }
        for (i, f) in m.functions.iter().enumerate() {
            if f.on_table.is_some() {
                continue;
            }
            let list = if f.mutation {
                &mut m.mutation
            } else {
                &mut m.query
            };
            if !list.iter().any(|(n, _)| n == &f.field) {
                list.push((f.field.clone(), RootField::Function(i)));
            }
        }
        m.query.sort_by(|a, b| a.0.cmp(&b.0));
        m.mutation.sort_by(|a, b| a.0.cmp(&b.0));
        m
    }

    /// What the object type named `name` is.
    pub fn kind_of(&self, name: &str) -> Option<Kind> {
        match name {
            "Query" => return Some(Kind::Query),
            "Mutation" => return Some(Kind::Mutation),
            "PageInfo" => return Some(Kind::PageInfo),
            _ => {}
        }
        for (i, t) in self.tables.iter().enumerate() {
            let Some(rest) = name.strip_prefix(t.type_name.as_str()) else {
                continue;
            };
            let k = match rest {
                "" => Kind::Node(i),
                "Connection" => Kind::Connection(i),
                "Edge" => Kind::Edge(i),
                "InsertResponse" => Kind::InsertResponse(i),
                "UpdateResponse" => Kind::UpdateResponse(i),
                "DeleteResponse" => Kind::DeleteResponse(i),
                _ => continue,
            };
            return Some(k);
        }
        None
    }

    pub fn type_name(&self, k: Kind) -> String {
        match k {
            Kind::Query => "Query".into(),
            Kind::Mutation => "Mutation".into(),
            Kind::PageInfo => "PageInfo".into(),
            Kind::Node(t) => self.tables[t].type_name.clone(),
            Kind::Connection(t) => format!("{}Connection", self.tables[t].type_name),
            Kind::Edge(t) => format!("{}Edge", self.tables[t].type_name),
            Kind::InsertResponse(t) => format!("{}InsertResponse", self.tables[t].type_name),
            Kind::UpdateResponse(t) => format!("{}UpdateResponse", self.tables[t].type_name),
            Kind::DeleteResponse(t) => format!("{}DeleteResponse", self.tables[t].type_name),
        }
    }

    /// The GraphQL name of a type (lists as `[X]`).
    pub fn ty_name(&self, ty: &Ty) -> String {
        match ty {
            Ty::Scalar(s) => s.name().to_string(),
            Ty::Enum(e) => self.enums[*e].type_name.clone(),
            Ty::List(inner) => format!("[{}]", self.ty_name(inner)),
        }
    }
}

/// The strings of the array `d[key]`.
fn strings(d: &Value, key: &str) -> Vec<String> {
    d.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn push_field(t: &mut TableM, name: String, f: NodeField) {
    if names::valid(&name) && !t.fields.iter().any(|(n, _)| n == &name) {
        t.fields.push((name, f));
    }
}

/// The introspectable defaults of `f`'s arguments, by position: constants of integer, boolean,
/// float and text arguments (anything else, and a null default, shows none).
fn arg_defaults(f: &crate::catalog::Function) -> Vec<Option<async_graphql::Value>> {
    let n = f.arg_types.len();
    let mut out = vec![None; n];
    let (Some(text), Ok(k)) = (&f.arg_defaults, usize::try_from(f.nargdefaults)) else {
        return out;
    };
    let exprs: Vec<&str> = text.split(',').map(str::trim).collect();
    if k == 0 || exprs.len() != k || k > n {
        return out;
    }
    for (j, e) in exprs.iter().enumerate() {
        let i = n - k + j;
        out[i] = match f.arg_types[i].oid {
            _ if e.starts_with("NULL::") => None,
            21 | 23 => e.parse::<i32>().ok().map(async_graphql::Value::from),
            16 => e.parse::<bool>().ok().map(async_graphql::Value::from),
            700 | 701 => e.parse::<f64>().ok().map(async_graphql::Value::from),
            25 => e
                .strip_suffix("::text")
                .and_then(|s| s.strip_prefix('\''))
                .and_then(|s| s.strip_suffix('\''))
                .map(|s| async_graphql::Value::from(s.replace("''", "'"))),
            _ => None,
        };
    }
    out
}

fn function(
    f: &crate::catalog::Function,
    m: &Model,
    tables: &HashMap<i64, usize>,
    enums: &HashMap<i64, usize>,
    inflect: bool,
) -> Option<FunctionM> {
    // Only IN arguments, all named.
    if let Some(modes) = &f.arg_modes {
        if modes.iter().any(|x| x != "i") {
            return None;
        }
    }
    let ty_of = |t: &TypeRef| -> Option<Ty> {
        if t.typtype == "p" {
            return None;
        }
        if t.elem_oid != 0 && t.name.starts_with('_') {
            // Arrays of base types only (no arrays of rows, ranges, domains, ...).
            if !matches!(t.elem_typtype.as_deref(), Some("b") | Some("e")) {
                return None;
            }
            let inner = enums
                .get(&t.elem_oid)
                .map(|i| Ty::Enum(*i))
                .unwrap_or_else(|| Ty::Scalar(Scalar::of_oid(t.elem_oid, &t.name[1..])));
            return Some(Ty::List(Box::new(inner)));
        }
        if t.typtype == "e" {
            return Some(
                enums
                    .get(&t.oid)
                    .map_or(Ty::Scalar(Scalar::Opaque), |i| Ty::Enum(*i)),
            );
        }
        if t.typtype == "c" {
            return None;
        }
        Some(Ty::Scalar(Scalar::of_oid(t.oid, &t.name)))
    };
    let nargs = f.nargs as usize;
    // The only argument a table's row: a computed field of that table (when the whole row is
    // selectable).
    let on_table = match f.arg_types.as_slice() {
        [t] if t.typtype == "c" => {
            let ti = *tables.get(&t.relid)?;
            if !m.tables[ti].row_selectable {
                return None;
            }
            Some(ti)
        }
        _ => None,
    };
    // Root fields take and return no enums (nor arrays of them), as in pg_graphql.
    let is_enum = |t: &TypeRef| t.typtype == "e" || enums.contains_key(&t.elem_oid);
    if on_table.is_none() && (is_enum(&f.ret) || f.arg_types.iter().any(is_enum)) {
        return None;
    }
    let defaults = arg_defaults(f);
    let mut args = Vec::with_capacity(nargs);
    for (i, t) in f.arg_types.iter().enumerate() {
        if on_table.is_some() {
            break;
        }
        let sql_name = f.arg_names.get(i).cloned().unwrap_or_default();
        if sql_name.is_empty() {
            return None;
        }
        let ty = ty_of(t)?;
        args.push(ArgM {
            field: names::lower_first(&names::base_type_name(&sql_name, None, inflect)),
            sql_name,
            ty,
            sql_type: quoted_type(&t.schema, &t.name),
            has_default: i + (f.nargdefaults as usize) >= nargs,
            default: defaults.get(i).cloned().flatten(),
        });
    }
    let ret = if f.ret.typtype == "c" {
        let t = *tables.get(&f.ret.relid)?;
        if f.returns_set && !f.single_row {
            FnReturn::Connection(t)
        } else {
            FnReturn::Node(t)
        }
    } else {
        if f.returns_set {
            return None;
        }
        FnReturn::Scalar(ty_of(&f.ret)?, f.ret.oid)
    };
    // A connection's own arguments may not be taken by the function's.
    const CONNECTION_ARGS: [&str; 7] = [
        "first", "last", "before", "after", "offset", "filter", "orderBy",
    ];
    if matches!(ret, FnReturn::Connection(_))
        && args
            .iter()
            .any(|a| CONNECTION_ARGS.contains(&a.field.as_str()))
    {
        return None;
    }
    let (d, description) = names::directive(f.comment.as_deref());
    let trimmed = f.name.strip_prefix('_').unwrap_or(&f.name);
    let field = match names::name_override(&d) {
        Some(n) => n,
        None => names::lower_first(&names::base_type_name(trimmed, None, inflect)),
    };
    if !names::valid(&field) {
        return None;
    }
    Some(FunctionM {
        schema: f.schema.clone(),
        name: f.name.clone(),
        field,
        args,
        ret,
        mutation: f.volatility == "v" && on_table.is_none(),
        description,
        on_table,
    })
}
