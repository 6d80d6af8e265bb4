//! The OpenAPI (Swagger 2.0) document served at the root, built from the schema cache. In
//! `follow-privileges` mode only what the caller's role may use is listed (asked of Postgres).

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};

use crate::app::App;
use crate::config::OpenApiMode;
use crate::db::TxSettings;
use crate::error::{ApiError, Code};
use crate::schema::{Column, Relation, Routine, SchemaCache};

fn type_of(t: &str) -> (&'static str, Option<Value>) {
    let base = strip_typmod(t);
    let base = base.as_str();
    if let Some(inner) = base.strip_suffix("[]") {
        let (it, _) = type_of(inner);
        let items = if it.is_empty() {
            json!({})
        } else {
            json!({ "type": it })
        };
        return ("array", Some(items));
    }
    let ty = match base {
        "integer" | "smallint" | "bigint" => "integer",
        "numeric" | "real" | "double precision" => "number",
        "boolean" => "boolean",
        "json" | "jsonb" => "",
        _ => "string",
    };
    (ty, None)
}

/// `character(1)[]` → `character[]`.
fn strip_typmod(t: &str) -> String {
    match (t.find('('), t.find(')')) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &t[..a], &t[b + 1..]).trim().to_string(),
        _ => t.trim().to_string(),
    }
}

fn property(c: &Column, pk: bool, fk: Option<(&str, &str)>) -> Value {
    let mut p = Map::new();
    let fmt = if c.type_name.ends_with("[]") {
        strip_typmod(&c.type_name)
    } else {
        c.type_name.clone()
    };
    let (ty, items) = type_of(&c.type_name);
    if let Some(d) = &c.default {
        let v = default_value(d, ty);
        if let Some(v) = v {
            p.insert("default".into(), v);
        }
    }
    let mut desc = c.description.clone().unwrap_or_default();
    if pk {
        if !desc.is_empty() {
            desc.push_str("\n\n");
        }
        desc.push_str("Note:\nThis is a Primary Key.<pk/>");
    }
    if let Some((t, col)) = fk {
        if !desc.is_empty() {
            desc.push_str("\n\n");
        }
        desc.push_str(&format!(
            "Note:\nThis is a Foreign Key to `{t}.{col}`.<fk table='{t}' column='{col}'/>"
        ));
    }
    if !desc.is_empty() {
        p.insert("description".into(), Value::String(desc));
    }
    if !c.enum_values.is_empty() {
        p.insert("enum".into(), json!(c.enum_values));
    }
    p.insert("format".into(), Value::String(fmt));
    if let Some(i) = items {
        p.insert("items".into(), i);
    }
    if !ty.is_empty() {
        p.insert("type".into(), Value::String(ty.into()));
    }
    Value::Object(p)
}

fn default_value(d: &str, ty: &str) -> Option<Value> {
    let raw = d.split("::").next().unwrap_or(d).trim();
    if raw.contains('(') {
        return None;
    }
    let unq = raw.trim_matches('\'');
    match ty {
        "integer" => unq.parse::<i64>().ok().map(Value::from),
        "number" => unq.parse::<f64>().ok().map(Value::from),
        "boolean" => unq.parse::<bool>().ok().map(Value::from),
        _ => Some(Value::String(unq.to_string())),
    }
}

fn definition(cache: &SchemaCache, r: &Relation) -> Value {
    let mut props = Map::new();
    let fks: Vec<(String, String, String)> = cache
        .relationships
        .get(&r.qi)
        .map(|rs| {
            rs.iter()
                .filter(|x| {
                    x.computed.is_none()
                        && matches!(
                            x.cardinality,
                            crate::schema::Cardinality::ManyToOne
                                | crate::schema::Cardinality::OneToOne
                        )
                        && x.columns.len() == 1
                        && x.constraint_is_fk_from(&r.qi)
                })
                .map(|x| {
                    (
                        x.columns[0].0.clone(),
                        x.target.name.clone(),
                        x.columns[0].1.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut required = Vec::new();
    for c in &r.columns {
        let fk = fks
            .iter()
            .find(|(col, _, _)| col == &c.name)
            .map(|(_, t, tc)| (t.as_str(), tc.as_str()));
        props.insert(c.name.clone(), property(c, r.pk.contains(&c.name), fk));
        if !c.nullable && c.default.is_none() {
            required.push(c.name.clone());
        }
    }
    let mut d = Map::new();
    if let Some(desc) = &r.description {
        d.insert("description".into(), Value::String(desc.clone()));
    }
    d.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        d.insert("required".into(), json!(required));
    }
    d.insert("type".into(), json!("object"));
    Value::Object(d)
}

fn summary_description(desc: &Option<String>) -> (Option<String>, Option<String>) {
    match desc {
        None => (None, None),
        Some(d) => match d.split_once('\n') {
            Some((s, rest)) => (
                Some(s.trim().to_string()),
                Some(rest.trim_start_matches('\n').to_string()),
            ),
            None => (Some(d.clone()), None),
        },
    }
}

fn op(
    tag: &str,
    summary: &Option<String>,
    description: &Option<String>,
    params: Vec<Value>,
    responses: Value,
) -> Value {
    let mut m = Map::new();
    if let Some(s) = summary {
        m.insert("summary".into(), json!(s));
    }
    if let Some(d) = description {
        m.insert("description".into(), json!(d));
    }
    m.insert("parameters".into(), Value::Array(params));
    m.insert("responses".into(), responses);
    m.insert("tags".into(), json!([tag]));
    Value::Object(m)
}

fn rpc_paths(r: &Routine) -> Value {
    let (summary, description) = summary_description(&r.description);
    let tag = format!("(rpc) {}", r.qi.name);
    let mut props = Map::new();
    let mut required = Vec::new();
    for p in &r.params {
        let (ty, items) = type_of(&p.type_name);
        let mut m = Map::new();
        m.insert("format".into(), json!(p.type_name));
        if let Some(i) = items {
            m.insert("items".into(), i);
        }
        if !ty.is_empty() {
            m.insert("type".into(), json!(ty));
        }
        props.insert(p.name.clone(), Value::Object(m));
        if !p.has_default && !p.variadic {
            required.push(p.name.clone());
        }
    }
    let mut schema = Map::new();
    let full = match (&summary, &description) {
        (Some(s), Some(d)) => Some(format!("{s}\n\n{d}")),
        (Some(s), None) => Some(s.clone()),
        _ => None,
    };
    if let Some(f) = full {
        schema.insert("description".into(), json!(f));
    }
    schema.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema.insert("type".into(), json!("object"));
    let post = op(
        &tag,
        &summary,
        &description,
        vec![
            json!({"in": "body", "name": "args", "required": true, "schema": Value::Object(schema)}),
            json!({"$ref": "#/parameters/preferParams"}),
        ],
        json!({"200": {"description": "OK"}}),
    );
    let mut paths = Map::new();
    paths.insert("post".into(), post);
    if !r.is_volatile() {
        let params: Vec<Value> = r
            .params
            .iter()
            .map(|p| {
                let (ty, items) = type_of(&p.type_name);
                let mut m = Map::new();
                if p.variadic {
                    m.insert("collectionFormat".into(), json!("multi"));
                }
                if let Some(mut i) = items {
                    if let Some(o) = i.as_object_mut() {
                        o.insert("format".into(), json!(p.type_name.trim_end_matches("[]")));
                    }
                    m.insert("items".into(), i);
                } else {
                    m.insert("format".into(), json!(p.type_name));
                }
                m.insert("in".into(), json!("query"));
                m.insert("name".into(), json!(p.name));
                m.insert("required".into(), json!(!p.has_default && !p.variadic));
                m.insert(
                    "type".into(),
                    json!(if ty.is_empty() { "string" } else { ty }),
                );
                Value::Object(m)
            })
            .collect();
        paths.insert(
            "get".into(),
            op(
                &tag,
                &summary,
                &description,
                params,
                json!({"200": {"description": "OK"}}),
            ),
        );
    }
    Value::Object(paths)
}

/// Build the document for `schema`.
pub async fn document(
    app: &App,
    cache: &SchemaCache,
    schema: &str,
    settings: &TxSettings,
    authenticated: bool,
) -> Result<String, ApiError> {
    // Which relations and functions the role may use.
    let (visible_rels, visible_fns): (Option<HashSet<String>>, Option<HashSet<String>>) = if app
        .config
        .openapi_mode
        == OpenApiMode::FollowPrivileges
    {
        let role = settings.identity.as_ref().and_then(|i| i.role.clone());
        let client = app.pool.get().await.map_err(|e| {
            ApiError::new(
                Code::PoolTimeout,
                "Timed out acquiring connection from connection pool.",
            )
            .with_details(e.to_string())
        })?;
        let role_expr = role.unwrap_or_else(|| "".into());
        let rows = client
                .query(
                    "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
                     where n.nspname = $1 and c.relkind in ('r','v','m','f','p')
                       and (case when $2 = '' then true else
                            has_table_privilege($2, c.oid, 'SELECT') or has_table_privilege($2, c.oid, 'INSERT')
                            or has_table_privilege($2, c.oid, 'UPDATE') or has_table_privilege($2, c.oid, 'DELETE') end)",
                    &[&schema, &role_expr],
                )
                .await
                .map_err(|e| ApiError::from_pg(&e, authenticated))?;
        let fns = client
                .query(
                    "select p.proname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                     where n.nspname = $1 and (case when $2 = '' then true else has_function_privilege($2, p.oid, 'EXECUTE') end)",
                    &[&schema, &role_expr],
                )
                .await
                .map_err(|e| ApiError::from_pg(&e, authenticated))?;
        (
            Some(rows.iter().map(|r| r.get(0)).collect()),
            Some(fns.iter().map(|r| r.get(0)).collect()),
        )
    } else {
        (None, None)
    };
    let mut rels: Vec<&Relation> = cache
        .relations
        .values()
        .filter(|r| r.qi.schema == schema)
        .filter(|r| {
            visible_rels
                .as_ref()
                .map(|v| v.contains(&r.qi.name))
                .unwrap_or(true)
        })
        .collect();
    rels.sort_by(|a, b| a.qi.name.cmp(&b.qi.name));
    let mut paths: BTreeMap<String, Value> = BTreeMap::new();
    let mut definitions = Map::new();
    let mut parameters = Map::new();
    for (k, v) in [
        (
            "preferParams",
            json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["params=single-object"], "in": "header", "type": "string"}),
        ),
        (
            "preferReturn",
            json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["return=representation", "return=minimal", "return=none"], "in": "header", "type": "string"}),
        ),
        (
            "preferCount",
            json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["count=none"], "in": "header", "type": "string"}),
        ),
        (
            "preferPost",
            json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["return=representation", "return=minimal", "return=none", "resolution=ignore-duplicates", "resolution=merge-duplicates"], "in": "header", "type": "string"}),
        ),
        (
            "select",
            json!({"name": "select", "description": "Filtering Columns", "required": false, "in": "query", "type": "string"}),
        ),
        (
            "on_conflict",
            json!({"name": "on_conflict", "description": "On Conflict", "required": false, "in": "query", "type": "string"}),
        ),
        (
            "order",
            json!({"name": "order", "description": "Ordering", "required": false, "in": "query", "type": "string"}),
        ),
        (
            "range",
            json!({"name": "Range", "description": "Limiting and Pagination", "required": false, "in": "header", "type": "string"}),
        ),
        (
            "rangeUnit",
            json!({"name": "Range-Unit", "description": "Limiting and Pagination", "required": false, "default": "items", "in": "header", "type": "string"}),
        ),
        (
            "offset",
            json!({"name": "offset", "description": "Limiting and Pagination", "required": false, "in": "query", "type": "string"}),
        ),
        (
            "limit",
            json!({"name": "limit", "description": "Limiting and Pagination", "required": false, "in": "query", "type": "string"}),
        ),
    ] {
        parameters.insert(k.into(), v);
    }
    for r in &rels {
        let name = &r.qi.name;
        definitions.insert(name.clone(), definition(cache, r));
        parameters.insert(format!("body.{name}"), json!({"name": name, "description": name, "required": false, "in": "body", "schema": {"$ref": format!("#/definitions/{name}")}}));
        let mut row_filters = Vec::new();
        for c in &r.columns {
            parameters.insert(
                format!("rowFilter.{name}.{}", c.name),
                json!({"name": c.name, "required": false, "format": c.type_name, "in": "query", "type": "string"}),
            );
            row_filters.push(json!({"$ref": format!("#/parameters/rowFilter.{name}.{}", c.name)}));
        }
        let (summary, description) = summary_description(&r.description);
        let mut get_params = row_filters.clone();
        for p in [
            "select",
            "order",
            "range",
            "rangeUnit",
            "offset",
            "limit",
            "preferCount",
        ] {
            get_params.push(json!({"$ref": format!("#/parameters/{p}")}));
        }
        let mut ops = Map::new();
        ops.insert(
            "get".into(),
            op(name, &summary, &description, get_params, json!({"200": {"description": "OK", "schema": {"items": {"$ref": format!("#/definitions/{name}")}, "type": "array"}}, "206": {"description": "Partial Content"}})),
        );
        if !r.is_view || r.insertable {
            ops.insert(
                "post".into(),
                op(
                    name,
                    &summary,
                    &description,
                    vec![
                        json!({"$ref": format!("#/parameters/body.{name}")}),
                        json!({"$ref": "#/parameters/select"}),
                        json!({"$ref": "#/parameters/preferPost"}),
                    ],
                    json!({"201": {"description": "Created"}}),
                ),
            );
        }
        if !r.is_view || r.updatable {
            let mut p = row_filters.clone();
            p.push(json!({"$ref": format!("#/parameters/body.{name}")}));
            p.push(json!({"$ref": "#/parameters/preferReturn"}));
            ops.insert(
                "patch".into(),
                op(
                    name,
                    &summary,
                    &description,
                    p,
                    json!({"204": {"description": "No Content"}}),
                ),
            );
        }
        if !r.is_view || r.deletable {
            let mut p = row_filters.clone();
            p.push(json!({"$ref": "#/parameters/preferReturn"}));
            ops.insert(
                "delete".into(),
                op(
                    name,
                    &summary,
                    &description,
                    p,
                    json!({"204": {"description": "No Content"}}),
                ),
            );
        }
        paths.insert(format!("/{name}"), Value::Object(ops));
    }
    let mut fns: Vec<&Routine> = cache
        .routines
        .iter()
        .filter(|(q, _)| q.schema == schema)
        .filter(|(q, _)| {
            visible_fns
                .as_ref()
                .map(|v| v.contains(&q.name))
                .unwrap_or(true)
        })
        .filter_map(|(_, rs)| rs.first())
        .filter(|r| r.single_row_arg.is_none())
        .collect();
    fns.sort_by(|a, b| a.qi.name.cmp(&b.qi.name));
    for r in fns {
        paths.insert(format!("/rpc/{}", r.qi.name), rpc_paths(r));
    }
    paths.insert("/".into(), json!({"get": {"produces": ["application/openapi+json", "application/json"], "responses": {"200": {"description": "OK"}}, "summary": "OpenAPI description (this document)", "tags": ["Introspection"]}}));
    let schema_comment = schema_description(app, schema).await;
    let (title, description) = match schema_comment {
        Some(c) => {
            let (s, d) = summary_description(&Some(c));
            (s.unwrap_or_default(), d.unwrap_or_default())
        }
        None => (
            "PostgREST API".to_string(),
            "This is a dynamic API generated by PostgREST".to_string(),
        ),
    };
    let mut doc = Map::new();
    doc.insert("swagger".into(), json!("2.0"));
    doc.insert(
        "info".into(),
        json!({"description": description, "title": title, "version": env!("CARGO_PKG_VERSION")}),
    );
    doc.insert("externalDocs".into(), json!({"description": "PostgREST Documentation", "url": "https://postgrest.org/en/v14/references/api.html"}));
    doc.insert("host".into(), json!("0.0.0.0:3000"));
    doc.insert("basePath".into(), json!("/"));
    doc.insert("schemes".into(), json!(["http"]));
    doc.insert(
        "consumes".into(),
        json!([
            "application/json",
            "application/vnd.pgrst.object+json;nulls=stripped",
            "application/vnd.pgrst.object+json",
            "text/csv"
        ]),
    );
    doc.insert(
        "produces".into(),
        json!([
            "application/json",
            "application/vnd.pgrst.object+json;nulls=stripped",
            "application/vnd.pgrst.object+json",
            "text/csv"
        ]),
    );
    doc.insert("paths".into(), Value::Object(paths.into_iter().collect()));
    doc.insert("definitions".into(), Value::Object(definitions));
    doc.insert("parameters".into(), Value::Object(parameters));
    if app.config.openapi_security_active {
        doc.insert("security".into(), json!([{"JWT": []}]));
        doc.insert("securityDefinitions".into(), json!({"JWT": {"description": "Add the token prepending \"Bearer \" (without quotes) to it", "in": "header", "name": "Authorization", "type": "apiKey"}}));
    }
    Ok(Value::Object(doc).to_string())
}

async fn schema_description(app: &App, schema: &str) -> Option<String> {
    let client = app.pool.get().await.ok()?;
    let row = client
        .query_opt(
            "select obj_description(n.oid, 'pg_namespace') from pg_namespace n where n.nspname = $1",
            &[&schema],
        )
        .await
        .ok()??;
    row.get(0)
}

impl crate::schema::Relationship {
    /// Whether this to-one relationship is a foreign key held by `source` (not its reverse).
    pub fn constraint_is_fk_from(&self, source: &crate::schema::Qi) -> bool {
        &self.source == source
            && matches!(
                self.cardinality,
                crate::schema::Cardinality::ManyToOne | crate::schema::Cardinality::OneToOne
            )
    }
}
