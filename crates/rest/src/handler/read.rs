//! GET and HEAD on a table or view.

use super::*;

pub(super) async fn read(
    ctx: &Ctx<'_>,
    name: &str,
    timing: &mut Timing,
) -> Result<Response, ApiError> {
    let t = Instant::now();
    // An unacceptable media type is reported before an unknown relation, unless a custom
    // handler of the relation produces it.
    let media = ctx.media(Producer::Relation);
    let rel = match Planner::new(&ctx.cache, &ctx.req.schema, false).relation(name) {
        Ok(r) => r.qi.clone(),
        Err(e) => {
            media?;
            return Err(e);
        }
    };
    let custom = custom_handler(ctx, Some(&rel));
    let media = match (media, &custom) {
        (Ok(m), _) => m,
        (Err(_), Some(_)) => Media::Json,
        (Err(e), None) => return Err(e),
    };
    let mut q = ctx.query_params()?;
    request::apply_range(&mut q, ctx.headers)?;
    let mut planner = Planner::new(
        &ctx.cache,
        &ctx.req.schema,
        ctx.app.config.aggregates_enabled,
    );
    let plan = planner.read(Source::Relation(rel.clone()), Some(rel.clone()), &q, true)?;
    if let Some(h) = custom {
        return custom_media(ctx, &h, plan, timing).await;
    }
    let max_rows = ctx.app.config.max_rows_for(&ctx.req.schema);
    let mut sql = Sql::default();
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
        Some(Count::Exact) | Some(Count::Estimated) => {
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
            // `estimated` counts exactly up to max-rows + 1; past that the planner's figure is
            // used (below).
            let cap = match (ctx.req.prefer.count, max_rows) {
                (Some(Count::Estimated), Some(m)) => format!(" LIMIT {}", m.saturating_add(1)),
                _ => String::new(),
            };
            format!("(SELECT pg_catalog.count(*) FROM ({inner}{cap}) AS \"pgrst_c\")")
        }
        _ => "NULL".to_string(),
    };
    let body = body_for(ctx, &media)?;
    sql.text = MainSelect {
        from: &from,
        total: Some(&total),
        body: Some(&body),
        ..Default::default()
    }
    .render();
    let planned = if matches!(
        ctx.req.prefer.count,
        Some(Count::Planned | Count::Estimated)
    ) {
        let mut p = Sql::default();
        let inner = sql::read_sql(
            &mut p,
            &ctx.cache,
            &plan,
            None,
            ReadOptions {
                skip_paging: true,
                ..Default::default()
            },
        );
        p.text = format!("EXPLAIN (FORMAT JSON) {inner}");
        Some(p)
    } else {
        None
    };
    timing.plan = Some(ms(t));
    let job = Job {
        main: sql,
        planned,
        explain: plan_job(&media),
        end: None,
    };
    let t = Instant::now();
    let singular = media.is_singular();
    let out = db::run(
        &ctx.app.wire,
        &ctx.app.gens,
        &ctx.settings(true),
        &job,
        ctx.identity.authenticated,
        |row, _| ctx.decide(row, singular, None),
    )
    .await?;
    timing.transaction = Some(ms(t));
    if let Some(p) = out.plan {
        return Ok(explain_response(&media, p));
    }
    let row = out.row;
    let total = match ctx.req.prefer.count {
        Some(Count::Planned) => out.planned,
        Some(Count::Estimated) => estimated_count(row.total, out.planned, max_rows),
        _ => row.total,
    };
    let offset = plan.offset;
    if let Some(t) = total {
        if offset > 0 && offset >= t && row.page == 0 {
            let mut e = ApiError::new(Code::InvalidRange, "Requested range not satisfiable")
                .with_details(format!(
                    "An offset of {offset} was requested, but there are only {t} rows."
                ));
            e.headers.push(("Content-Range".into(), format!("*/{t}")));
            return Err(e);
        }
    }
    let status = match total {
        Some(t) if row.page < t => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    };
    let mut resp = body_response(status, &media, row.body.clone().unwrap_or_default());
    set(
        &mut resp,
        "content-range",
        &content_range(offset, row.page, total),
    );
    let mut pairs = request::query_pairs(&ctx.req.query);
    pairs.sort();
    let loc = if pairs.is_empty() {
        format!("/{name}")
    } else {
        format!(
            "/{name}?{}",
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        )
    };
    set(&mut resp, "content-location", &loc);
    if let Some(a) = ctx.applied(request::PreferenceScope::Read) {
        set(&mut resp, "preference-applied", &a);
    }
    apply_gucs(&mut resp, &row)?;
    Ok(resp)
}

/// `count=estimated`: the exact count while it stays within max-rows, otherwise the larger of it
/// and the planner's estimate (without max-rows, always the larger of the two).
fn estimated_count(exact: Option<i64>, planned: Option<i64>, max_rows: Option<i64>) -> Option<i64> {
    match (exact, max_rows) {
        (Some(e), Some(m)) if e <= m => Some(e),
        (Some(e), _) => Some(planned.map_or(e, |p| p.max(e))),
        (None, _) => planned,
    }
}

#[cfg(test)]
mod tests {
    use super::estimated_count;

    #[test]
    fn estimated_count_is_exact_below_max_rows() {
        assert_eq!(estimated_count(Some(5), Some(900), Some(10)), Some(5));
        assert_eq!(estimated_count(Some(11), Some(900), Some(10)), Some(900));
        assert_eq!(estimated_count(Some(11), Some(3), Some(10)), Some(11));
        assert_eq!(estimated_count(Some(7), Some(9), None), Some(9));
        assert_eq!(estimated_count(Some(7), None, None), Some(7));
    }
}
