//! The [`Model`] as an async-graphql dynamic schema: it parses, validates (depth and complexity
//! limits included) and answers introspection. Data fields are never resolved by it field by
//! field: [`Gate`] stops execution once the document is valid, and [`crate::plan`] translates the
//! whole operation into one SQL statement. Its resolvers only copy values computed beforehand
//! (an operation mixing `__schema` with data).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Interface, InterfaceField,
    Object, ResolverContext, Scalar as GScalar, Schema, TypeRef,
};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Response, Value};

use crate::model::{AggOp, FnReturn, Model, NodeField, RootField, Scalar, Ty};

/// Nesting allowed in a document (GraphiQL's introspection query needs 13).
pub const MAX_DEPTH: usize = 32;
/// Fields allowed in a document.
pub const MAX_COMPLEXITY: usize = 5000;

/// Per request: whether async-graphql should execute (introspection), and whether it got as far
/// as executing (the document is valid).
#[derive(Default)]
pub struct GateFlag {
    pub execute: bool,
    pub reached: AtomicBool,
    /// Values of the data root fields, by response key, for mixed operations.
    pub precomputed: Option<serde_json::Map<String, serde_json::Value>>,
}

pub struct Gate;

impl ExtensionFactory for Gate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GateExt)
    }
}

struct GateExt;

#[async_graphql::async_trait::async_trait]
impl Extension for GateExt {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(flag) = ctx.data_opt::<Arc<GateFlag>>() {
            flag.reached.store(true, Ordering::Relaxed);
            if !flag.execute {
                return Response::new(Value::Null);
            }
        }
        next.run(ctx, operation_name).await
    }
}

fn to_value(v: &serde_json::Value) -> Value {
    Value::from_json(v.clone()).unwrap_or(Value::Null)
}

fn field_value(v: &serde_json::Value) -> FieldValue<'static> {
    match v {
        serde_json::Value::Null => FieldValue::NULL,
        serde_json::Value::Array(a) => FieldValue::list(a.iter().map(field_value)),
        other => FieldValue::value(to_value(other)),
    }
}

/// Every field's resolver: the value under the field's response key in the parent (or, at the
/// root, in the precomputed values).
fn copy(ctx: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let key = ctx
            .field()
            .alias()
            .unwrap_or_else(|| ctx.field().name())
            .to_string();
        if let Some(parent) = ctx.parent_value.as_value() {
            if let Value::Object(o) = parent {
                let json = o
                    .get(key.as_str())
                    .map(|v| v.clone().into_json().unwrap_or_default())
                    .unwrap_or_default();
                return Ok(Some(field_value(&json)));
            }
            return Ok(None);
        }
        let flag = ctx.data::<Arc<GateFlag>>()?;
        let v = flag
            .precomputed
            .as_ref()
            .and_then(|p| p.get(&key))
            .cloned()
            .unwrap_or_default();
        Ok(Some(field_value(&v)))
    })
}

fn field(name: &str, ty: TypeRef) -> Field {
    Field::new(name, ty, copy)
}

fn ty_ref(m: &Model, ty: &Ty, non_null: bool) -> TypeRef {
    let base = match ty {
        Ty::List(inner) => TypeRef::List(Box::new(ty_ref(m, inner, false))),
        other => TypeRef::named(m.ty_name(other)),
    };
    if non_null {
        TypeRef::NonNull(Box::new(base))
    } else {
        base
    }
}

const CUSTOM_SCALARS: &[Scalar] = &[
    Scalar::BigInt,
    Scalar::BigFloat,
    Scalar::Uuid,
    Scalar::Date,
    Scalar::Time,
    Scalar::Datetime,
    Scalar::Json,
    Scalar::Opaque,
    Scalar::Cursor,
];

const FILTER_SCALARS: &[Scalar] = &[
    Scalar::Int,
    Scalar::Float,
    Scalar::String,
    Scalar::Boolean,
    Scalar::Id,
    Scalar::BigInt,
    Scalar::BigFloat,
    Scalar::Uuid,
    Scalar::Date,
    Scalar::Time,
    Scalar::Datetime,
    Scalar::Opaque,
];

/// The filter input type of a column type (`None`: not filterable).
pub fn filter_type(m: &Model, ty: &Ty) -> Option<String> {
    match ty {
        Ty::Scalar(Scalar::Json) | Ty::Scalar(Scalar::Cursor) => None,
        Ty::Scalar(s) => Some(format!("{}Filter", s.name())),
        Ty::Enum(e) => Some(format!("{}Filter", m.enums[*e].type_name)),
        Ty::List(inner) => match inner.as_ref() {
            Ty::Scalar(Scalar::Json) | Ty::Enum(_) | Ty::List(_) => None,
            other => Some(format!("{}ListFilter", m.ty_name(other))),
        },
    }
}

fn orderable(ty: &Ty) -> bool {
    !matches!(ty, Ty::List(_) | Ty::Scalar(Scalar::Json))
}

/// Build the introspectable schema of `m`.
pub fn build(m: &Model) -> Result<Schema, String> {
    let has_mutation = !m.mutation.is_empty();
    let mut b = Schema::build("Query", has_mutation.then_some("Mutation"), None)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(Gate);
    if !m.introspection {
        b = b.disable_introspection();
    }
    for s in CUSTOM_SCALARS {
        b = b.register(GScalar::new(s.name()));
    }
    b = b.register(
        Enum::new("OrderByDirection")
            .item("AscNullsFirst")
            .item("AscNullsLast")
            .item("DescNullsFirst")
            .item("DescNullsLast"),
    );
    b = b.register(Enum::new("FilterIs").item("NULL").item("NOT_NULL"));
    b = b.register(
        Object::new("PageInfo")
            .field(field("endCursor", TypeRef::named(TypeRef::STRING)))
            .field(field("hasNextPage", TypeRef::named_nn(TypeRef::BOOLEAN)))
            .field(field(
                "hasPreviousPage",
                TypeRef::named_nn(TypeRef::BOOLEAN),
            ))
            .field(field("startCursor", TypeRef::named(TypeRef::STRING))),
    );
    let mut node = Interface::new("Node").field(InterfaceField::new(
        "nodeId",
        TypeRef::named_nn(TypeRef::ID),
    ));
    node = node.description("An object with a globally unique identifier");
    b = b.register(node);
    // Scalar filters and list filters.
    for s in FILTER_SCALARS {
        let mut f = InputObject::new(format!("{}Filter", s.name())).description(format!(
            "Boolean expression comparing fields on type \"{}\"",
            s.name()
        ));
        for op in s.filter_ops() {
            f = f.field(filter_op(op, TypeRef::named(s.name())));
        }
        b = b.register(f);
        if *s != Scalar::Id {
            b = b.register(list_filter(s.name()));
        }
    }
    for e in &m.enums {
        let mut en = Enum::new(&e.type_name);
        for (g, _) in &e.values {
            en = en.item(g.as_str());
        }
        b = b.register(en);
        b = b.register(
            InputObject::new(format!("{}Filter", e.type_name))
                .field(filter_op("eq", TypeRef::named(&e.type_name)))
                .field(filter_op("in", TypeRef::named(&e.type_name)))
                .field(filter_op("is", TypeRef::named(&e.type_name)))
                .field(filter_op("neq", TypeRef::named(&e.type_name))),
        );
        b = b.register(list_filter(&e.type_name));
    }
    let mut query = Object::new("Query").description("The root type for querying data");
    let mut mutation =
        Object::new("Mutation").description("The root type for creating and mutating data");
    // pg_graphql lists mutation fields by name.
    let mut mutation_fields: std::collections::HashMap<String, Field> =
        std::collections::HashMap::new();
    for (ti, t) in m.tables.iter().enumerate() {
        let tn = &t.type_name;
        // The node type.
        let mut obj = Object::new(tn).implement("Node");
        if let Some(d) = &t.description {
            obj = obj.description(d);
        }
        for (name, f) in &t.fields {
            let fl = match f {
                NodeField::NodeId => field(name, TypeRef::named_nn(TypeRef::ID))
                    .description("Globally Unique Record Identifier"),
                NodeField::Column(ci) => {
                    let c = &t.columns[*ci];
                    let mut x = field(name, ty_ref(m, &c.ty, c.not_null));
                    if let Some(d) = &c.description {
                        x = x.description(d);
                    }
                    x
                }
                NodeField::Function(fi) => function_field(m, *fi),
                NodeField::Relation(ri) => {
                    let r = &m.relations[*ri];
                    let target = &m.tables[r.to].type_name;
                    if r.many {
                        connection_args(
                            field(name, TypeRef::named(format!("{target}Connection"))),
                            target,
                        )
                    } else if r.nullable {
                        field(name, TypeRef::named(target))
                    } else {
                        field(name, TypeRef::named_nn(target))
                    }
                }
            };
            obj = obj.field(fl);
        }
        b = b.register(obj);
        b = b.register(
            Object::new(format!("{tn}Edge"))
                .field(field("cursor", TypeRef::named_nn(TypeRef::STRING)))
                .field(field("node", TypeRef::named_nn(tn))),
        );
        let mut conn = Object::new(format!("{tn}Connection"))
            .field(field(
                "edges",
                TypeRef::named_nn_list_nn(format!("{tn}Edge")),
            ))
            .field(field("pageInfo", TypeRef::named_nn("PageInfo")));
        if t.total_count {
            conn = conn.field(
                field("totalCount", TypeRef::named_nn(TypeRef::INT))
                    .description("The total number of records matching the `filter` criteria"),
            );
        }
        if t.aggregate {
            conn = conn.field(field("aggregate", TypeRef::named(format!("{tn}Aggregate"))));
            b = register_aggregate(b, t);
        }
        b = b.register(conn);
        // Filter and order.
        let mut filter = InputObject::new(format!("{tn}Filter"));
        let mut order = InputObject::new(format!("{tn}OrderBy"));
        for (name, f) in &t.fields {
            if let NodeField::Column(ci) = f {
                let c = &t.columns[*ci];
                if let Some(ft) = filter_type(m, &c.ty) {
                    filter = filter.field(InputValue::new(name, TypeRef::named(ft)));
                }
                if orderable(&c.ty) {
                    order = order.field(InputValue::new(name, TypeRef::named("OrderByDirection")));
                }
            }
        }
        // `nodeId`, `and`, `or` and `not`, unless a column has the name.
        let list = || TypeRef::List(Box::new(TypeRef::named_nn(format!("{tn}Filter"))));
        for (name, ty) in [
            ("nodeId", TypeRef::named("IDFilter")),
            ("and", list()),
            ("or", list()),
            ("not", TypeRef::named(format!("{tn}Filter"))),
        ] {
            if t.column_by_field(name).is_none() {
                filter = filter.field(InputValue::new(name, ty));
            }
        }
        b = b.register(filter);
        b = b.register(order);
        // Mutation types.
        let records = |x: Object| {
            x.field(field("affectedCount", TypeRef::named_nn(TypeRef::INT)))
                .field(field("records", TypeRef::named_nn_list_nn(tn)))
        };
        let input = |x: &str, ok: fn(&crate::model::ColumnM) -> bool| {
            let mut input = InputObject::new(format!("{tn}{x}Input"));
            for c in t.fields.iter().filter_map(|(_, f)| match f {
                NodeField::Column(ci) => Some(&t.columns[*ci]),
                _ => None,
            }) {
                if !ok(c) {
                    continue;
                }
                input = input.field(InputValue::new(&c.field, ty_ref(m, &c.ty, false)));
            }
            input
        };
        let filter_arg = || InputValue::new("filter", TypeRef::named(format!("{tn}Filter")));
        let at_most = || {
            InputValue::new("atMost", TypeRef::named_nn(TypeRef::INT)).default_value(Value::from(1))
        };
        if t.insertable {
            b = b.register(input("Insert", |c| c.insertable));
            b = b.register(records(Object::new(format!("{tn}InsertResponse"))));
            mutation_fields.insert(
                format!("insertInto{tn}Collection"),
                field(
                    format!("insertInto{tn}Collection").as_str(),
                    TypeRef::named(format!("{tn}InsertResponse")),
                )
                .description(format!("Adds one or more `{tn}` records to the collection"))
                .argument(InputValue::new(
                    "objects",
                    TypeRef::named_nn_list_nn(format!("{tn}InsertInput")),
                )),
            );
        }
        if t.updatable {
            b = b.register(input("Update", |c| c.updatable));
            b = b.register(records(Object::new(format!("{tn}UpdateResponse"))));
            mutation_fields.insert(
                format!("update{tn}Collection"),
                field(
                    format!("update{tn}Collection").as_str(),
                    TypeRef::named_nn(format!("{tn}UpdateResponse")),
                )
                .description(format!(
                    "Updates zero or more records in the `{tn}` collection"
                ))
                .argument(InputValue::new(
                    "set",
                    TypeRef::named_nn(format!("{tn}UpdateInput")),
                ))
                .argument(filter_arg())
                .argument(at_most()),
            );
        }
        if t.deletable {
            b = b.register(records(Object::new(format!("{tn}DeleteResponse"))));
            mutation_fields.insert(
                format!("deleteFrom{tn}Collection"),
                field(
                    format!("deleteFrom{tn}Collection").as_str(),
                    TypeRef::named_nn(format!("{tn}DeleteResponse")),
                )
                .description(format!(
                    "Deletes zero or more records from the `{tn}` collection"
                ))
                .argument(filter_arg())
                .argument(at_most()),
            );
        }
        let _ = ti;
    }
    for (name, rf) in &m.query {
        let f = match rf {
            RootField::Node => field(name, TypeRef::named("Node"))
                .description("Retrieve a record by its `ID`")
                .argument(InputValue::new("nodeId", TypeRef::named_nn(TypeRef::ID))),
            RootField::Collection(t) => {
                let tn = &m.tables[*t].type_name;
                connection_args(
                    field(name, TypeRef::named_nn(format!("{tn}Connection"))),
                    tn,
                )
                .description(format!("A pagable collection of type `{tn}`"))
            }
            RootField::Function(fi) => function_field(m, *fi),
            RootField::ByPk(ti) => {
                let t = &m.tables[*ti];
                let mut f = field(name, TypeRef::named(&t.type_name)).description(format!(
                    "Retrieve a record of type `{}` by its primary key",
                    t.type_name
                ));
                for ci in &t.pkey {
                    let c = &t.columns[*ci];
                    f = f.argument(
                        InputValue::new(&c.field, ty_ref(m, &c.ty, true))
                            .description(format!("The record's `{}` value", c.name)),
                    );
                }
                f
            }
            _ => continue,
        };
        query = query.field(f);
    }
    for (name, rf) in &m.mutation {
        if let RootField::Function(fi) = rf {
            mutation_fields.insert(name.clone(), function_field(m, *fi));
        }
    }
    for (name, _) in &m.mutation {
        if let Some(f) = mutation_fields.remove(name) {
            mutation = mutation.field(f);
        }
    }
    b = b.register(query);
    if has_mutation {
        b = b.register(mutation);
    }
    b.finish().map_err(|e| e.to_string())
}

/// `<Type>Aggregate` and its `<Type><Op>AggregateResult` types (sum and avg when a column is
/// numeric, min and max when one is comparable).
fn register_aggregate(
    mut b: async_graphql::dynamic::SchemaBuilder,
    t: &crate::model::TableM,
) -> async_graphql::dynamic::SchemaBuilder {
    let tn = &t.type_name;
    let mut agg = Object::new(format!("{tn}Aggregate"))
        .description(format!("Aggregate results for `{tn}`"))
        .field(
            field("count", TypeRef::named_nn(TypeRef::INT))
                .description("The number of records matching the query"),
        );
    for op in AggOp::ALL {
        let cols = t.aggregatable(op);
        if cols.is_empty() {
            continue;
        }
        let result = format!("{tn}{}AggregateResult", op.type_part());
        let mut obj = Object::new(&result).description(format!(
            "Result of {} aggregation for `{tn}`",
            op.description()
        ));
        for (name, _, scalar) in cols {
            obj = obj.field(field(name, TypeRef::named(scalar.name())));
        }
        b = b.register(obj);
        let what = match op {
            AggOp::Sum | AggOp::Avg => "numeric",
            AggOp::Min | AggOp::Max => "comparable",
        };
        let word = match op {
            AggOp::Sum => "Summation",
            AggOp::Avg => "Average",
            AggOp::Min => "Minimum",
            AggOp::Max => "Maximum",
        };
        agg = agg.field(
            field(op.name(), TypeRef::named(result))
                .description(format!("{word} aggregates for {what} fields")),
        );
    }
    b.register(agg)
}

fn filter_op(op: &str, scalar: TypeRef) -> InputValue {
    match op {
        "in" => InputValue::new(
            "in",
            TypeRef::List(Box::new(TypeRef::NonNull(Box::new(scalar)))),
        ),
        "is" => InputValue::new("is", TypeRef::named("FilterIs")),
        _ => InputValue::new(op, scalar),
    }
}

fn list_filter(name: &str) -> InputObject {
    let list = || TypeRef::List(Box::new(TypeRef::named_nn(name)));
    InputObject::new(format!("{name}ListFilter"))
        .field(InputValue::new("containedBy", list()))
        .field(InputValue::new("contains", list()))
        .field(InputValue::new("eq", list()))
        .field(InputValue::new("is", TypeRef::named("FilterIs")))
        .field(InputValue::new("overlaps", list()))
}

fn connection_args(f: Field, tn: &str) -> Field {
    f.argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("last", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("before", TypeRef::named("Cursor")))
        .argument(InputValue::new("after", TypeRef::named("Cursor")))
        .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new(
            "filter",
            TypeRef::named(format!("{tn}Filter")),
        ))
        .argument(InputValue::new(
            "orderBy",
            TypeRef::List(Box::new(TypeRef::named_nn(format!("{tn}OrderBy")))),
        ))
}

fn function_field(m: &Model, fi: usize) -> Field {
    let f = &m.functions[fi];
    let mut out = match &f.ret {
        FnReturn::Scalar(ty, _) => field(&f.field, ty_ref(m, ty, false)),
        FnReturn::Node(t) => field(&f.field, TypeRef::named(&m.tables[*t].type_name)),
        FnReturn::Connection(t) => field(
            &f.field,
            TypeRef::named(format!("{}Connection", m.tables[*t].type_name)),
        ),
    };
    // The function's arguments, then a connection's.
    for a in &f.args {
        let mut arg = InputValue::new(&a.field, ty_ref(m, &a.ty, !a.has_default));
        if let Some(d) = &a.default {
            arg = arg.default_value(d.clone());
        }
        out = out.argument(arg);
    }
    if let FnReturn::Connection(t) = &f.ret {
        out = connection_args(out, &m.tables[*t].type_name);
    }
    if let Some(d) = &f.description {
        out = out.description(d);
    }
    out
}
