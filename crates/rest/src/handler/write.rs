//! POST, PATCH, PUT and DELETE on a table or view: one statement writes and renders.

use super::*;

/// Parse the request body as rows for `rel`.
pub(super) fn payload(ctx: &Ctx<'_>, q: &QueryParams) -> Result<mutate::Payload, ApiError> {
    let ct = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if ct.starts_with("text/csv") {
        mutate::csv_payload(&ctx.body, q.columns.as_deref())
    } else {
        mutate::json_payload(&ctx.body, q.columns.as_deref())
    }
}

/// Shared tail of every write: render the response read from `pgrst_source`.
pub(super) struct WriteSpec<'a> {
    cte: String,
    sql: Sql,
    plan: &'a ReadPlan,
    rel_name: &'a str,
    pk: Vec<String>,
    /// Status when at least one row was inserted / otherwise.
    created: bool,
    /// A merge-duplicates upsert: 200 rather than 201 when it inserted nothing.
    merge: bool,
    track_inserts: bool,
    resolution_applied: bool,
    is_insert: bool,
}

pub(super) async fn write(
    ctx: &Ctx<'_>,
    spec: WriteSpec<'_>,
    timing: &mut Timing,
    t0: Instant,
) -> Result<Response, ApiError> {
    let media = ctx.media(Producer::Relation)?;
    let ret = ctx.req.prefer.return_.unwrap_or(Return::Minimal);
    let mut sql = spec.sql;
    let body = if ret == Return::Representation {
        body_for(ctx, &media)?
    } else {
        "NULL".to_string()
    };
    let location = if ret == Return::HeadersOnly && !spec.pk.is_empty() && spec.is_insert {
        let cols: Vec<String> = spec.pk.iter().map(|c| sql::ident(c)).collect();
        format!("(SELECT row_to_json(\"pgrst_l\")::text FROM (SELECT {} FROM \"pgrst_source\" LIMIT 1) AS \"pgrst_l\")", cols.join(", "))
    } else {
        "NULL".into()
    };
    let inserted = if spec.track_inserts {
        "(SELECT pg_catalog.count(*) FROM \"pgrst_source\" WHERE \"pgrst_ins\")".to_string()
    } else {
        "NULL".into()
    };
    // Nothing is read back for `return=minimal` (bar the row count), so the write returns no
    // columns and needs no SELECT privilege or policy.
    let minimal = ret == Return::Minimal && !spec.track_inserts;
    let cte = if minimal {
        mutate::returning_nothing(&spec.cte)
    } else {
        spec.cte.clone()
    };
    // Re-render the read from the CTE with the relation's alias.
    let mut read_sql_text = String::new();
    if minimal {
        read_sql_text.push_str("SELECT 1 FROM \"pgrst_source\"");
    } else {
        let mut p = spec.plan.clone();
        p.source = Source::Cte("pgrst_source".into());
        read_sql_text.push_str(&sql::read_sql(
            &mut sql,
            &ctx.cache,
            &p,
            None,
            ReadOptions {
                skip_conds: true,
                skip_paging: true,
                max_rows: None,
            },
        ));
    }
    sql.text = MainSelect {
        with: Some(&cte),
        from: &read_sql_text,
        body: Some(&body),
        location: Some(&location),
        inserted: Some(&inserted),
        ..Default::default()
    }
    .render();
    timing.plan = Some(ms(t0));
    let (singular, strict_max, end) = ctx.row_checks(&media);
    let job = Job {
        main: sql,
        planned: None,
        explain: plan_job(&media),
        end,
    };
    let t = Instant::now();
    let out = db::run(
        &ctx.app.wire,
        &ctx.app.gens,
        &ctx.settings(false),
        &job,
        ctx.identity.authenticated,
        |row, _| ctx.decide(row, singular, strict_max),
    )
    .await?;
    timing.transaction = Some(ms(t));
    if let Some(p) = out.plan {
        return Ok(explain_response(&media, p));
    }
    let row = out.row;
    let upsert = matches!(ctx.req.action, Action::Upsert(_));
    let status = if upsert && ret != Return::Representation {
        // A single-row PUT without a representation: nothing to show.
        StatusCode::NO_CONTENT
    } else if spec.is_insert {
        if spec.track_inserts {
            if row.inserted.unwrap_or(0) > 0 || !spec.merge {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            }
        } else if spec.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        }
    } else if ret == Return::Representation {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    };
    let mut resp = if ret == Return::Representation {
        body_response(status, &media, row.body.clone().unwrap_or_default())
    } else if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = status;
        r
    };
    // As PostgREST: updates say the range of rows they touched, inserts and deletes
    // `*/total`, a single-row PUT nothing.
    let total = ctx.req.prefer.count.map(|_| row.page);
    match &ctx.req.action {
        Action::Upsert(_) => {}
        Action::Update(_) => set(
            &mut resp,
            "content-range",
            &content_range(0, row.page, total),
        ),
        _ => {
            let t = total.map_or_else(|| "*".to_string(), |t| t.to_string());
            set(&mut resp, "content-range", &format!("*/{t}"))
        }
    }
    if let Some(loc) = &row.location {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(loc) {
            let q: Vec<String> = spec
                .pk
                .iter()
                .map(|k| {
                    let v = match m.get(k) {
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                        None => "null".into(),
                    };
                    format!(
                        "{k}=eq.{}",
                        percent_encoding::utf8_percent_encode(
                            &v,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )
                })
                .collect();
            set(
                &mut resp,
                "location",
                &format!("/{}?{}", spec.rel_name, q.join("&")),
            );
        }
    }
    if let Some(a) = ctx.applied(request::PreferenceScope::Write {
        resolution: spec.resolution_applied,
    }) {
        set(&mut resp, "preference-applied", &a);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}

pub(super) async fn insert(
    ctx: &Ctx<'_>,
    name: &str,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let planner0 = Planner::new(&ctx.cache, &ctx.req.schema, false);
    let rel = planner0.relation(name)?;
    let q = ctx.query_params()?;
    if let Some(cols) = &q.columns {
        mutate::check_columns(rel, cols)?;
    }
    let payload = payload(ctx, &q)?;
    if q.columns.is_none() {
        mutate::check_columns(rel, &payload.columns)?;
    }
    let on_conflict = match ctx.req.prefer.resolution {
        Some(res) => {
            let cols = q.on_conflict.clone().unwrap_or_else(|| rel.pk.clone());
            (!cols.is_empty()).then_some(OnConflict {
                columns: cols,
                resolution: res,
            })
        }
        None => None,
    };
    let track = on_conflict.is_some() && !rel.is_view && payload.rows > 0;
    let mut sql = Sql::default();
    let cte = mutate::insert_cte(
        &mut sql,
        rel,
        &payload,
        ctx.req.prefer.missing_default,
        on_conflict.as_ref(),
        track,
    );
    let mut planner = Planner::new(
        &ctx.cache,
        &ctx.req.schema,
        ctx.app.config.aggregates_enabled,
    );
    let plan = planner.read(
        Source::Cte("pgrst_source".into()),
        Some(rel.qi.clone()),
        &q,
        true,
    )?;
    // Only a merge that inserts nothing answers 200; any other insert answers 201, even one
    // whose rows were all ignored as duplicates.
    let merge = matches!(
        on_conflict,
        Some(OnConflict {
            resolution: Resolution::MergeDuplicates,
            ..
        })
    );
    let created = payload.rows > 0 || !merge;
    write(
        ctx,
        WriteSpec {
            cte,
            sql,
            plan: &plan,
            rel_name: name,
            pk: rel.pk.clone(),
            created,
            merge,
            track_inserts: track,
            resolution_applied: on_conflict.is_some() || ctx.req.prefer.missing_default,
            is_insert: true,
        },
        timing,
        t0,
    )
    .await
}

pub(super) fn safe_update_check(
    ctx: &Ctx<'_>,
    name: &str,
    q: &QueryParams,
    verb: &str,
) -> Result<(), ApiError> {
    if ctx.app.config.safe_update_tables.iter().any(|t| t == name) && !q.has_filters {
        return Err(ApiError::new(
            Code::SafeUpdate,
            format!("{verb} requires a WHERE clause"),
        ));
    }
    Ok(())
}

pub(super) async fn update(
    ctx: &Ctx<'_>,
    name: &str,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let rel = Planner::new(&ctx.cache, &ctx.req.schema, false).relation(name)?;
    let q = ctx.query_params()?;
    safe_update_check(ctx, name, &q, "UPDATE")?;
    let mut payload = payload(ctx, &q)?;
    if payload.rows > 1 {
        payload.values.truncate(1);
    }
    mutate::check_columns(rel, &payload.columns)?;
    filtered_write(ctx, rel, &q, timing, t0, |sql, plan, w| {
        mutate::update_cte(sql, rel, &payload, plan, w)
    })
    .await
}

/// PATCH and DELETE: the top-level filters select the rows, `cte` writes them.
pub(super) async fn filtered_write(
    ctx: &Ctx<'_>,
    rel: &crate::schema::Relation,
    q: &QueryParams,
    timing: &mut Timing,
    t0: Instant,
    cte: impl FnOnce(&mut Sql, &ReadPlan, &str) -> String,
) -> Result<Response, ApiError> {
    let mut planner = Planner::new(
        &ctx.cache,
        &ctx.req.schema,
        ctx.app.config.aggregates_enabled,
    );
    let plan = planner.read(
        Source::Relation(rel.qi.clone()),
        Some(rel.qi.clone()),
        q,
        true,
    )?;
    if (plan.limit.is_some() || plan.offset > 0) && rel.is_view {
        return Err(ApiError::new(
            Code::LimitOnView,
            "limit/offset on PATCH or DELETE needs a table",
        ));
    }
    let mut sql = Sql::default();
    let w = sql::write_where_sql(&mut sql, &plan, &rel.qi);
    let cte = cte(&mut sql, &plan, &w);
    write(
        ctx,
        WriteSpec {
            cte,
            sql,
            plan: &plan,
            rel_name: &rel.qi.name,
            pk: rel.pk.clone(),
            created: false,
            merge: false,
            track_inserts: false,
            resolution_applied: false,
            is_insert: false,
        },
        timing,
        t0,
    )
    .await
}

pub(super) async fn delete(
    ctx: &Ctx<'_>,
    name: &str,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let rel = Planner::new(&ctx.cache, &ctx.req.schema, false).relation(name)?;
    let q = ctx.query_params()?;
    safe_update_check(ctx, name, &q, "DELETE")?;
    filtered_write(ctx, rel, &q, timing, t0, |_, _, w| {
        mutate::delete_cte(rel, w)
    })
    .await
}

pub(super) async fn put(
    ctx: &Ctx<'_>,
    name: &str,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let rel = Planner::new(&ctx.cache, &ctx.req.schema, false).relation(name)?;
    let q = ctx.query_params()?;
    if !q.limit.is_empty() || !q.offset.is_empty() {
        return Err(ApiError::new(
            Code::PutLimit,
            "limit/offset querystring parameters are not allowed for PUT",
        ));
    }
    let mut planner = Planner::new(
        &ctx.cache,
        &ctx.req.schema,
        ctx.app.config.aggregates_enabled,
    );
    let plan = planner.read(
        Source::Cte("pgrst_source".into()),
        Some(rel.qi.clone()),
        &q,
        true,
    )?;
    let pk_vals = if rel.pk.is_empty() || !q.logic.is_empty() {
        None
    } else {
        mutate::pk_eq_values(&plan.conds, &rel.pk)
    };
    let Some(pk_vals) = pk_vals else {
        return Err(ApiError::new(
            Code::InvalidPut,
            "Filters must include all and only primary key columns with 'eq' operators",
        ));
    };
    let mut payload = payload(ctx, &q)?;
    mutate::check_columns(rel, &payload.columns)?;
    // As PostgREST does, the URL's primary key filters the payload: rows whose key differs are
    // not written, and exactly one row must be left.
    let matches = |row: &serde_json::Map<String, serde_json::Value>| {
        pk_vals.iter().all(|(col, v)| {
            row.get(col).and_then(mutate::json_scalar_text).as_deref() == Some(v.as_str())
        })
    };
    let kept: Vec<_> = payload
        .values
        .iter()
        .filter(|r| matches(r))
        .cloned()
        .collect();
    if kept.len() != 1 {
        return Err(ApiError::new(
            Code::PutPrimaryKey,
            "Payload values do not match URL in primary key column(s)",
        ));
    }
    if payload.rows != 1 {
        payload.json = serde_json::Value::Array(
            kept.iter()
                .cloned()
                .map(serde_json::Value::Object)
                .collect(),
        )
        .to_string();
        payload.rows = 1;
        payload.values = kept;
    }
    let oc = OnConflict {
        columns: rel.pk.clone(),
        resolution: Resolution::MergeDuplicates,
    };
    let track = !rel.is_view;
    let mut sql = Sql::default();
    let cte = mutate::insert_cte(&mut sql, rel, &payload, false, Some(&oc), track);
    write(
        ctx,
        WriteSpec {
            cte,
            sql,
            plan: &plan,
            rel_name: name,
            pk: rel.pk.clone(),
            created: true,
            merge: true,
            track_inserts: track,
            resolution_applied: false,
            is_insert: true,
        },
        timing,
        t0,
    )
    .await
}
