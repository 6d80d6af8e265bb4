//! The SQL of a read: the rows, their count when asked for, and the planner's estimate.

use super::{body_for, count_sql, custom_media, explain, names_rows, unpaged};
use crate::action::ReadAction;
use crate::db::Job;
use crate::error::ApiError;
use crate::main_statement::MainSelect;
use crate::request::Count;
use crate::schema::SchemaCache;
use crate::sql::{self, ReadOptions, Sql};

pub(super) fn job(a: &ReadAction, cache: &SchemaCache) -> Result<Job, ApiError> {
    if let Some(h) = &a.custom {
        return Ok(custom_media(cache, h, &a.plan));
    }
    let mut sql = Sql::default();
    let from = sql::read_sql(
        &mut sql,
        cache,
        &a.plan,
        None,
        ReadOptions {
            max_rows: a.max_rows,
            jsonb_embeds: names_rows(&a.media),
            ..Default::default()
        },
    );
    let total = match a.count {
        // `estimated` counts exactly up to max-rows + 1; past that the planner's figure is
        // used (see `respond`).
        Some(Count::Exact) => count_sql(&mut sql, cache, &a.plan, None),
        Some(Count::Estimated) => count_sql(
            &mut sql,
            cache,
            &a.plan,
            a.max_rows.map(|m| m.saturating_add(1)),
        ),
        _ => "NULL".to_string(),
    };
    let body = body_for(cache, &a.media)?;
    sql.text = MainSelect {
        from: &from,
        total: Some(&total),
        body: Some(&body),
        name_rows: names_rows(&a.media),
        ..Default::default()
    }
    .render();
    let planned = matches!(a.count, Some(Count::Planned | Count::Estimated)).then(|| {
        let mut p = Sql::default();
        let inner = unpaged(&mut p, cache, &a.plan);
        p.text = format!("EXPLAIN (FORMAT JSON) {inner}");
        p
    });
    Ok(Job {
        main: sql,
        planned,
        explain: explain(&a.media),
        end: None,
    })
}
