//! Shaping responses: the main statement's columns, body media types (JSON, CSV, GeoJSON,
//! custom aggregates), `Content-Range`, and the `response.headers`/`response.status` GUCs.

use super::*;

/// Apply `response.headers` / `response.status` set by SQL.
pub(super) fn apply_gucs(resp: &mut Response, row: &MainRow) -> Result<(), ApiError> {
    if let Some(h) = &row.headers {
        let bad = || {
            ApiError::new(Code::ResponseHeaders, "response.headers guc must be a JSON array composed of objects with a single key and a string value",
            )
        };
        let v: Value = serde_json::from_str(h).map_err(|_| bad())?;
        let arr = v.as_array().ok_or_else(bad)?;
        let mut replaced: Vec<String> = Vec::new();
        for item in arr {
            let obj = item.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
            for (k, v) in obj {
                let v = v.as_str().ok_or_else(bad)?;
                let name = HeaderName::try_from(k.as_str()).map_err(|_| bad())?;
                let value = HeaderValue::from_str(v).map_err(|_| bad())?;
                if name == header::SET_COOKIE {
                    resp.headers_mut().append(name, value);
                } else {
                    if !replaced.contains(&k.to_ascii_lowercase()) {
                        resp.headers_mut().remove(&name);
                        replaced.push(k.to_ascii_lowercase());
                    }
                    resp.headers_mut().append(name, value);
                }
            }
        }
    }
    if let Some(s) = &row.status {
        let code: u16 = s.trim().parse().map_err(|_| {
            ApiError::new(
                Code::ResponseStatus,
                "response.status guc must be a valid status code",
            )
        })?;
        *resp.status_mut() = StatusCode::from_u16(code).map_err(|_| {
            ApiError::new(
                Code::ResponseStatus,
                "response.status guc must be a valid status code",
            )
        })?;
    }
    Ok(())
}

pub(super) fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

pub(super) fn content_range(offset: i64, page: i64, total: Option<i64>) -> String {
    let t = total.map(|t| t.to_string()).unwrap_or_else(|| "*".into());
    if page <= 0 {
        format!("*/{t}")
    } else {
        format!("{}-{}/{t}", offset, offset + page - 1)
    }
}

/// A custom media handler (aggregate) the `Accept` header asks for on `rel`: the first accepted
/// type that has one, unless a built-in type is accepted before it.
pub(super) fn custom_handler(
    ctx: &Ctx<'_>,
    rel: Option<&Qi>,
) -> Option<crate::schema::MediaHandler> {
    if ctx.cache.media_handlers.is_empty() {
        return None;
    }
    let accept = ctx
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    for item in accept.split(',') {
        let ty = item
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let mut found: Vec<&crate::schema::MediaHandler> = ctx
            .cache
            .media_handlers
            .iter()
            .filter(|h| h.media == ty && (h.target.is_none() || h.target.as_ref() == rel))
            .collect();
        found.sort_by_key(|h| h.target.is_none());
        if let Some(h) = found.first() {
            return Some((*h).clone());
        }
        if request::negotiate(Some(&ty), Producer::Relation, ctx.app.config.plan_enabled).is_ok() {
            return None;
        }
    }
    None
}

/// Run a read whose rows a custom aggregate renders; the body is the aggregate's value.
pub(super) async fn custom_media(
    ctx: &Ctx<'_>,
    handler: &crate::schema::MediaHandler,
    mut plan: ReadPlan,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    plan.items = vec![crate::plan::Item::WholeRow];
    let mut sql = Sql::default();
    let from = sql::read_sql(&mut sql, &ctx.cache, &plan, None, ReadOptions::default());
    let value = format!(
        "{}(\"_postgrest_t\".\"pgrst_row\")",
        sql::qi(&handler.aggregate)
    );
    let bytes = match handler.base.as_str() {
        "jsonb" => format!("jsonb_send({value}::jsonb)"),
        "bytea" => format!("{value}::bytea"),
        _ => format!("convert_to({value}::text, 'UTF8')"),
    };
    sql.text = MainSelect {
        from: &from,
        bytes: Some(&bytes),
        ..Default::default()
    }
    .render();
    let job = Job {
        main: sql,
        planned: None,
        explain: None,
        end: None,
    };
    let t = Instant::now();
    let out = db::run(
        &ctx.app.wire,
        &ctx.app.gens,
        &ctx.settings(true),
        &job,
        ctx.identity.authenticated,
        |row, _| ctx.decide(row, false, None),
    )
    .await?;
    timing.transaction = Some(ms(t));
    let mut resp = (StatusCode::OK, out.row.bytes.clone().unwrap_or_default()).into_response();
    let ct = if handler.media == "application/json" {
        "application/json; charset=utf-8".to_string()
    } else {
        handler.media.clone()
    };
    set(&mut resp, "content-type", &ct);
    apply_gucs(&mut resp, &out.row)?;
    Ok(resp)
}

/// The body expression for `media` (GeoJSON needs PostGIS).
pub(super) fn body_for(ctx: &Ctx<'_>, media: &Media) -> Result<String, ApiError> {
    match media {
        Media::GeoJson => {
            let Some(schema) = &ctx.cache.postgis else {
                return Err(ApiError::new(
                    Code::MediaType,
                    "None of these media types are available: application/geo+json",
                ));
            };
            Ok(format!(
                "json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg({}.st_asgeojson(\"_postgrest_t\")::json), '[]'))::text",
                sql::ident(schema)
            ))
        }
        _ => Ok(sql::body_expr(shape_of(media)).to_string()),
    }
}

pub(super) fn shape_of(media: &Media) -> BodyShape {
    match media {
        Media::Object { strip_nulls } => BodyShape::Object {
            strip_nulls: *strip_nulls,
        },
        Media::ArrayStripped => BodyShape::ArrayStripped,
        Media::Plan { for_media, .. } if for_media.contains("object") => {
            BodyShape::Object { strip_nulls: false }
        }
        _ => BodyShape::Array,
    }
}

pub(super) fn singular_error(n: i64) -> ApiError {
    ApiError::new(
        Code::Singular,
        "Cannot coerce the result to a single JSON object",
    )
    .with_details(format!("The result contains {n} rows"))
}

/// Render a JSON array body as CSV.
pub(super) fn json_to_csv(body: &str) -> String {
    let rows: Vec<Map<String, Value>> = serde_json::from_str(body).unwrap_or_default();
    let Some(first) = rows.first() else {
        return String::new();
    };
    let cols: Vec<String> = first.keys().cloned().collect();
    let esc = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = cols.iter().map(|c| esc(c)).collect::<Vec<_>>().join(",");
    for r in &rows {
        out.push('\n');
        let line: Vec<String> = cols
            .iter()
            .map(|c| match r.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => esc(s),
                Some(v) => esc(&v.to_string()),
            })
            .collect();
        out.push_str(&line.join(","));
    }
    out
}

pub(super) fn body_response(status: StatusCode, media: &Media, body: String) -> Response {
    let body = match media {
        Media::Csv => json_to_csv(&body),
        _ => body,
    };
    let mut r = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(&media.content_type()) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(super) fn explain_response(media: &Media, plan: String) -> Response {
    let mut r = (StatusCode::OK, plan).into_response();
    if let Ok(v) = HeaderValue::from_str(&media.content_type()) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(super) fn plan_job(media: &Media) -> Option<(bool, Vec<String>)> {
    match media {
        Media::Plan { json, options, .. } => Some((*json, options.clone())),
        _ => None,
    }
}
