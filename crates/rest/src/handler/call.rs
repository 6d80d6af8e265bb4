//! `/rpc/name`: function calls with GET, HEAD and POST.

use super::*;

pub(super) async fn call(
    ctx: &Ctx<'_>,
    name: &str,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let is_get = ctx.req.method == Method::GET || ctx.req.method == Method::HEAD;
    let mut q = ctx.query_params()?;
    let ct = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let args = if is_get {
        let qi = Qi::new(&ctx.req.schema, name);
        let names: Vec<String> = ctx
            .cache
            .routines
            .get(&qi)
            .map(|rs| {
                rs.iter()
                    .flat_map(|r| r.params.iter().map(|p| p.name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let pairs: Vec<(String, Value)> = q
            .raw
            .iter()
            .filter(|(k, _)| names.contains(k) || !looks_like_filter(&q, k))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Args::Named(pairs)
    } else if ct.starts_with("application/octet-stream")
        || ct.starts_with("text/plain")
        || ct.starts_with("application/xml")
    {
        Args::Raw(ctx.body.to_vec())
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        // An HTML form: repeated keys fill a variadic argument, as repeated query keys do.
        Args::Named(
            form_urlencoded::parse(&ctx.body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        )
    } else if ctx.body.iter().all(u8::is_ascii_whitespace) {
        Args::Named(Vec::new())
    } else {
        let v: Value = serde_json::from_slice(&ctx.body)
            .map_err(|_| ApiError::body("Empty or invalid json"))?;
        let v = match v {
            Value::Array(a) => a.into_iter().next().unwrap_or(Value::Object(Map::new())),
            other => other,
        };
        if ctx.req.prefer.single_object {
            Args::Single(v)
        } else {
            match v {
                // `columns=` names the keys that are arguments; the others are ignored.
                Value::Object(m) => Args::Named(
                    m.into_iter()
                        .filter(|(k, _)| q.columns.as_ref().is_none_or(|c| c.contains(k)))
                        .collect(),
                ),
                other => Args::Single(other),
            }
        }
    };
    let call = rpc::resolve(&ctx.cache, &ctx.req.schema, name, &args, !is_get)?;
    let routine = call.routine.clone();
    // GET: query keys naming arguments are arguments, the rest filter the result; POST: the
    // arguments came in the body, so every key filters.
    let arg_names: Vec<String> = if is_get {
        call.args.iter().map(|(n, _, _)| n.clone()).collect()
    } else {
        Vec::new()
    };
    q.filters.clear();
    request::rpc_filters(&mut q, &arg_names)?;
    // A Range header pages a GET call's result like a read's (PostgREST reads it for GET only).
    if ctx.req.method == Method::GET {
        request::apply_range(&mut q, ctx.headers)?;
    }
    let producer = Producer::Rpc {
        bytea: routine.return_type == "bytea",
        text: routine.return_type == "text",
    };
    let custom = if routine.returns_set
        && (routine.returns_composite || routine.return_relation.is_some())
    {
        custom_handler(ctx, routine.return_relation.as_ref())
    } else {
        None
    };
    let media = match (ctx.media(producer), &custom) {
        (Ok(m), _) => m,
        (Err(_), Some(_)) => Media::Json,
        (Err(e), None) => return Err(e),
    };
    let source = Source::Function {
        routine: routine.qi.clone(),
        args: call.args.clone(),
    };
    let table_like = routine.returns_composite || routine.return_relation.is_some();
    let mut sql = Sql::default();
    let mut offset = 0;
    let (from, body, total) = if table_like {
        let mut planner = Planner::new(
            &ctx.cache,
            &ctx.req.schema,
            ctx.app.config.aggregates_enabled,
        );
        let mut plan = planner.read(source, routine.return_relation.clone(), &q, true)?;
        plan.alias = routine.qi.name.clone();
        if let Some(h) = &custom {
            return custom_media(ctx, h, plan, timing).await;
        }
        offset = plan.offset;
        let max_rows = ctx.app.config.max_rows_for(&ctx.req.schema);
        let from = sql::read_sql(
            &mut sql,
            &ctx.cache,
            &plan,
            None,
            ReadOptions {
                max_rows,
                ..Default::default()
            },
        );
        let total = match ctx.req.prefer.count {
            Some(_) => {
                let inner = sql::read_sql(
                    &mut sql,
                    &ctx.cache,
                    &plan,
                    None,
                    ReadOptions {
                        skip_paging: true,
                        ..Default::default()
                    },
                );
                format!("(SELECT pg_catalog.count(*) FROM ({inner}) AS \"pgrst_c\")")
            }
            None => "NULL".into(),
        };
        let body = if !routine.returns_set && !media.is_singular() && media != Media::GeoJson {
            // A single composite: the object itself (or null).
            "coalesce((json_agg(\"_postgrest_t\")->0)::text, 'null')".to_string()
        } else {
            body_for(ctx, &media)?
        };
        (from, body, total)
    } else {
        let call_sql = sql::call_sql(&mut sql, &routine.qi, &call.args);
        let from = if routine.returns_set {
            format!("SELECT \"pgrst_v\" AS \"pgrst_scalar\" FROM {call_sql} AS \"pgrst_v\"")
        } else {
            format!("SELECT {call_sql} AS \"pgrst_scalar\"")
        };
        let body = if routine.returns_void {
            "NULL".to_string()
        } else if routine.returns_set {
            "coalesce(json_agg(\"_postgrest_t\".\"pgrst_scalar\"), '[]')::text".to_string()
        } else {
            "(json_agg(\"_postgrest_t\".\"pgrst_scalar\")->0)::text".to_string()
        };
        let total = if ctx.req.prefer.count.is_some() {
            "pg_catalog.count(*)".to_string()
        } else {
            "NULL".into()
        };
        (from, body, total)
    };
    let raw_body = matches!(media, Media::OctetStream | Media::TextPlain) && !table_like;
    sql.text = if raw_body {
        // A text result is sent as its characters' bytes.
        let cast = if routine.return_type == "text" {
            "::text"
        } else {
            ""
        };
        let bytes = format!("(array_agg(\"_postgrest_t\".\"pgrst_scalar\"))[1]{cast}");
        MainSelect {
            from: &from,
            bytes: Some(&bytes),
            ..Default::default()
        }
        .render()
    } else {
        MainSelect {
            from: &from,
            total: Some(&total),
            body: Some(&body),
            ..Default::default()
        }
        .render()
    };
    timing.plan = Some(ms(t0));
    let (singular, strict_max, end) = ctx.row_checks(&media);
    let job = Job {
        main: sql,
        planned: None,
        explain: plan_job(&media),
        end,
    };
    let t = Instant::now();
    let read_only = is_get || !routine.is_volatile();
    let out = db::run(
        &ctx.app.wire,
        &ctx.app.gens,
        &ctx.settings(read_only),
        &job,
        ctx.identity.authenticated,
        |row, _| ctx.decide(row, singular, strict_max),
    )
    .await
    .map_err(|e| {
        if e.code == "25006" {
            let mut e = e;
            e.status = StatusCode::METHOD_NOT_ALLOWED;
            e
        } else {
            e
        }
    })?;
    timing.transaction = Some(ms(t));
    if let Some(p) = out.plan {
        return Ok(explain_response(&media, p));
    }
    let row = out.row;
    let mut resp = if routine.returns_void {
        StatusCode::NO_CONTENT.into_response()
    } else if raw_body {
        let mut r = (StatusCode::OK, row.bytes.clone().unwrap_or_default()).into_response();
        if let Ok(v) = HeaderValue::from_str(&media.content_type()) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    } else if ctx.req.prefer.return_ == Some(Return::Minimal) && !is_get {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let total = row.total;
        let status = match total {
            Some(t) if row.page < t => StatusCode::PARTIAL_CONTENT,
            _ => StatusCode::OK,
        };
        let mut r = body_response(status, &media, row.body.clone().unwrap_or_default());
        set(
            &mut r,
            "content-range",
            &content_range(offset, row.page, total),
        );
        r
    };
    if let Some(a) = ctx.applied(request::PreferenceScope::Call) {
        set(&mut resp, "preference-applied", &a);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}

/// A GET parameter whose value parses as a filter and is not a parameter name is a filter.
pub(super) fn looks_like_filter(q: &QueryParams, key: &str) -> bool {
    q.raw
        .iter()
        .filter(|(k, _)| k == key)
        .all(|(_, v)| crate::grammar::parse_op_expr(v).is_ok())
}
