//! The OpenAPI (Swagger 2.0) document served at the root, built from the schema cache. In
//! `follow-privileges` mode only what the caller's role may use is listed (asked of Postgres).

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};

use crate::app::App;
use crate::config::OpenApiMode;
use crate::db::TxSettings;
use crate::error::{ApiError, Code};
use crate::schema::{Column, Relation, Routine, SchemaCache};

/// PostgREST's Swagger type of a Postgres type name (`None` for json/jsonb: any value).
fn swagger_type(t: &str) -> Option<&'static str> {
    match t {
        "boolean" => Some("boolean"),
        "smallint" | "integer" | "bigint" => Some("integer"),
        "numeric" | "real" | "double precision" => Some("number"),
        "json" | "jsonb" => None,
        _ if t.ends_with("[]") => Some("array"),
        _ => Some("string"),
    }
}

/// PostgREST's Swagger format: the integer widths by name, any other type as it is named.
fn swagger_format(t: &str) -> &str {
    match t {
        "smallint" | "integer" => "int32",
        "bigint" => "int64",
        _ => t,
    }
}

/// The `items` of an array type: the element's Swagger type (`{}` for json elements).
fn array_items(t: &str) -> Option<Value> {
    let elem = t.strip_suffix("[]")?;
    Some(match swagger_type(elem) {
        Some(ty) => json!({ "type": ty }),
        None => json!({}),
    })
}

/// A schema object (column or RPC argument): `format`, `items`, `type` as PostgREST writes
/// them for the type `t`.
fn typed_schema(t: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("format".into(), json!(swagger_format(t)));
    if let Some(i) = array_items(t) {
        m.insert("items".into(), i);
    }
    if let Some(ty) = swagger_type(t) {
        m.insert("type".into(), json!(ty));
    }
    m
}

fn property(c: &Column, pk: bool, fk: Option<(&str, &str)>) -> Value {
    let ty = c.data_type.as_str();
    let mut p = typed_schema(ty);
    if let Some(v) = c.default.as_deref().and_then(|d| default_value(d, ty)) {
        p.insert("default".into(), v);
    }
    let mut notes = Vec::new();
    if pk {
        notes.push("This is a Primary Key.<pk/>".to_string());
    }
    if let Some((t, col)) = fk {
        notes.push(format!(
            "This is a Foreign Key to `{t}.{col}`.<fk table='{t}' column='{col}'/>"
        ));
    }
    let desc = if notes.is_empty() {
        c.description.clone()
    } else {
        let mut d = c
            .description
            .as_ref()
            .map(|d| format!("{d}\n\n"))
            .unwrap_or_default();
        d.push_str("Note:\n");
        d.push_str(&notes.join("\n"));
        Some(d)
    };
    if let Some(d) = desc {
        p.insert("description".into(), Value::String(d));
    }
    if !c.enum_values.is_empty() {
        p.insert("enum".into(), json!(c.enum_values));
    }
    if let Some(n) = c.max_len {
        p.insert("maxLength".into(), json!(n));
    }
    Value::Object(p)
}

/// The column default as PostgREST reports it: for string types the literal without its
/// `::type` cast and quotes, for others the default itself when it reads as JSON (`42`,
/// `false`); expressions (`nextval(...)`, `now()`) have none.
fn default_value(d: &str, ty: &str) -> Option<Value> {
    if swagger_type(ty) == Some("string") {
        let text = match d.strip_suffix(&format!("::{ty}")) {
            Some(lit) => lit.trim_matches('\''),
            None => d,
        };
        serde_json::from_str(&format!("\"{text}\"")).ok()
    } else {
        serde_json::from_str(d).ok()
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
        if !c.nullable {
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
        let m = typed_schema(&p.type_name);
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
    paths.insert("post".into(), with_rpc_produces(post));
    if !r.is_volatile() {
        let params: Vec<Value> = r
            .params
            .iter()
            .map(|p| {
                let t = p.type_name.as_str();
                let mut m = Map::new();
                match t.strip_suffix("[]").filter(|_| p.variadic) {
                    // A VARIADIC argument repeats: `?v=a&v=b`.
                    Some(elem) => {
                        m.insert("collectionFormat".into(), json!("multi"));
                        let mut items = Map::new();
                        items.insert("format".into(), json!(swagger_format(elem)));
                        if let Some(ty) = swagger_type(elem) {
                            items.insert("type".into(), json!(ty));
                        }
                        m.insert("items".into(), Value::Object(items));
                        m.insert("type".into(), json!("array"));
                    }
                    // Query parameters are typed; arrays (`{a,b}`) and json are strings.
                    None => {
                        m.insert("format".into(), json!(swagger_format(t)));
                        let ty = match swagger_type(t) {
                            Some("array") | None => "string",
                            Some(ty) => ty,
                        };
                        m.insert("type".into(), json!(ty));
                    }
                }
                m.insert("in".into(), json!("query"));
                m.insert("name".into(), json!(p.name));
                m.insert("required".into(), json!(!p.has_default && !p.variadic));
                Value::Object(m)
            })
            .collect();
        paths.insert(
            "get".into(),
            with_rpc_produces(op(
                &tag,
                &summary,
                &description,
                params,
                json!({"200": {"description": "OK"}}),
            )),
        );
    }
    Value::Object(paths)
}

/// An RPC operation lists the media types a call answers with.
fn with_rpc_produces(mut op: Value) -> Value {
    if let Some(o) = op.as_object_mut() {
        o.insert(
            "produces".into(),
            json!([
                "application/json",
                "application/vnd.pgrst.object+json;nulls=stripped",
                "application/vnd.pgrst.object+json"
            ]),
        );
    }
    op
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
            json!({"name": "Prefer", "description": "Preference", "required": false, "in": "header", "type": "string"}),
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
            let mut f = Map::new();
            if let Some(d) = &c.description {
                f.insert("description".into(), json!(d));
            }
            f.insert("in".into(), json!("query"));
            f.insert("name".into(), json!(c.name));
            f.insert("required".into(), json!(false));
            f.insert("type".into(), json!("string"));
            parameters.insert(format!("rowFilter.{name}.{}", c.name), Value::Object(f));
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
        // As PostgREST: a relation that takes any write lists every write.
        let writable = r.insertable || r.updatable || r.deletable;
        if writable {
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
        if writable {
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
        if writable {
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
    // The server's own address, or the proxy's when one is configured.
    let (scheme, host, base) = match app
        .config
        .openapi_server_proxy_uri
        .as_deref()
        .and_then(crate::config::parse_proxy_uri)
    {
        Some(p) => (p.scheme, format!("{}:{}", p.host, p.port), p.path),
        None => {
            let port = app.config.listen.map_or(3000, |a| a.port());
            let host = format!("{}:{port}", app.config.server_host);
            ("http".to_string(), host, "/".to_string())
        }
    };
    doc.insert("host".into(), json!(host));
    doc.insert("basePath".into(), json!(base));
    doc.insert("schemes".into(), json!([scheme]));
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
