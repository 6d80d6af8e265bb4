//! The SQL of a function call: its rows read like a table's, or its scalar result.

use super::{body_for, count_sql, custom_media, explain, names_rows};
use crate::action::{CallAction, CallShape};
use crate::db::Job;
use crate::error::ApiError;
use crate::main_statement::MainSelect;
use crate::request::Media;
use crate::schema::SchemaCache;
use crate::sql::{self, ReadOptions, Sql};

pub(super) fn job(a: &CallAction, cache: &SchemaCache) -> Result<Job, ApiError> {
    let routine = &a.routine;
    let mut sql = Sql::default();
    let (from, body, total) = match &a.shape {
        CallShape::Rows(plan) => {
            if let Some(h) = &a.custom {
                return Ok(custom_media(cache, h, plan));
            }
            let opts = ReadOptions {
                max_rows: a.max_rows,
                jsonb_embeds: names_rows(&a.media),
                ..Default::default()
            };
            let from = sql::read_sql(&mut sql, cache, plan, None, opts);
            let total = match a.count {
                Some(_) => count_sql(&mut sql, cache, plan, None),
                None => "NULL".into(),
            };
            let body = if !routine.returns_set
                && !a.media.is_singular()
                && !matches!(a.media, Media::GeoJson | Media::Csv)
            {
                // A single composite: the object itself (or null).
                "coalesce((json_agg(\"_postgrest_t\")->0)::text, 'null')".to_string()
            } else {
                body_for(cache, &a.media)?
            };
            (from, body, total)
        }
        CallShape::Scalar => {
            let call_sql = sql::call_sql(&mut sql, &routine.qi, &a.args);
            let from = scalar_source(&call_sql, routine.returns_set, &routine.return_type);
            let body = if routine.returns_void {
                "NULL".to_string()
            } else if names_rows(&a.media) {
                body_for(cache, &a.media)?
            } else if routine.returns_set {
                "coalesce(json_agg(\"_postgrest_t\".\"pgrst_scalar\"), '[]')::text".to_string()
            } else {
                "(json_agg(\"_postgrest_t\".\"pgrst_scalar\")->0)::text".to_string()
            };
            let total = if a.count.is_some() {
                "pg_catalog.count(*)".to_string()
            } else {
                "NULL".into()
            };
            (from, body, total)
        }
    };
    sql.text = if a.raw_body {
        let value = "(array_agg(\"_postgrest_t\".\"pgrst_scalar\"))[1]";
        let bytes = match &routine.media_type {
            // A media-type domain: its bytes, or its text as UTF-8.
            Some(d) if d.bytea => format!("{value}::bytea"),
            Some(_) => format!("convert_to({value}::text, 'UTF8')"),
            // A text result is sent as its characters' bytes.
            None if routine.return_type == "text" => format!("{value}::text"),
            None => value.to_string(),
        };
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
            name_rows: !routine.returns_void && names_rows(&a.media),
            ..Default::default()
        }
        .render()
    };
    Ok(Job {
        main: sql,
        planned: None,
        explain: explain(&a.media),
        end: a.tx.end(),
    })
}

/// The rows of a call whose result is not a table: one value per row, named `pgrst_scalar`. A
/// set of anonymous records has no columns to name in `FROM`, so such a function runs in the
/// select list, each record one value.
fn scalar_source(call_sql: &str, returns_set: bool, return_type: &str) -> String {
    if returns_set && return_type != "record" {
        format!("SELECT \"pgrst_v\" AS \"pgrst_scalar\" FROM {call_sql} AS \"pgrst_v\"")
    } else {
        format!("SELECT {call_sql} AS \"pgrst_scalar\"")
    }
}

#[cfg(test)]
mod tests {
    use super::scalar_source;

    #[test]
    fn sets_of_records_are_called_in_the_select_list() {
        assert_eq!(
            scalar_source("f()", true, "record"),
            "SELECT f() AS \"pgrst_scalar\""
        );
        assert_eq!(
            scalar_source("f()", true, "int4"),
            "SELECT \"pgrst_v\" AS \"pgrst_scalar\" FROM f() AS \"pgrst_v\""
        );
        assert_eq!(
            scalar_source("f()", false, "int4"),
            "SELECT f() AS \"pgrst_scalar\""
        );
    }
}
