//! The build stage: the SQL of an [`ActionPlan`], as a [`Job`] for [`crate::db::run`]. Every
//! main statement answers one row in the shape of [`crate::main_statement`]; values travel as
//! bind parameters only. Pure: unit-tested without a database.

mod call;
mod read;
mod write;

use crate::action::ActionPlan;
use crate::db::Job;
use crate::error::{ApiError, Code};
use crate::main_statement::MainSelect;
use crate::plan::{Item, ReadPlan};
use crate::request::Media;
use crate::schema::{MediaHandler, SchemaCache};
use crate::sql::{self, BodyShape, ReadOptions, Sql};

/// The statements a plan runs (`None` for a plan answered without the database).
pub fn job(plan: &ActionPlan<'_>, cache: &SchemaCache) -> Result<Option<Job>, ApiError> {
    Ok(Some(match plan {
        ActionPlan::Info(_) => return Ok(None),
        ActionPlan::Read(a) => read::job(a, cache)?,
        ActionPlan::Mutate(a) => write::job(a, cache)?,
        ActionPlan::Call(a) => call::job(a, cache)?,
    }))
}

/// The body expression for `media` (GeoJSON needs PostGIS).
fn body_for(cache: &SchemaCache, media: &Media) -> Result<String, ApiError> {
    match media {
        Media::GeoJson => {
            let Some(schema) = &cache.postgis else {
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

fn shape_of(media: &Media) -> BodyShape {
    match media {
        Media::Object { strip_nulls } => BodyShape::Object {
            strip_nulls: *strip_nulls,
        },
        Media::ArrayStripped => BodyShape::ArrayStripped,
        Media::Csv => BodyShape::Csv,
        Media::Plan { for_media, .. } if for_media.contains("object") => {
            BodyShape::Object { strip_nulls: false }
        }
        _ => BodyShape::Array,
    }
}

/// Whether the body for `media` reads the rows twice (the CSV header), so the statement names
/// them (see [`MainSelect::name_rows`]).
fn names_rows(media: &Media) -> bool {
    *media == Media::Csv
}

/// `EXPLAIN` options when the client asked for the plan instead of the rows.
fn explain(media: &Media) -> Option<(bool, Vec<String>)> {
    match media {
        Media::Plan { json, options, .. } => Some((*json, options.clone())),
        _ => None,
    }
}

/// A read whose whole rows a custom aggregate renders; the body is the aggregate's value.
fn custom_media(cache: &SchemaCache, handler: &MediaHandler, plan: &ReadPlan) -> Job {
    let mut plan = plan.clone();
    plan.items = vec![Item::WholeRow];
    let mut sql = Sql::default();
    let from = sql::read_sql(&mut sql, cache, &plan, None, ReadOptions::default());
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
    Job {
        main: sql,
        planned: None,
        explain: None,
        end: None,
    }
}

/// `count(*)` over the read without its paging; `cap` limits the rows counted.
fn count_sql(sql: &mut Sql, cache: &SchemaCache, plan: &ReadPlan, cap: Option<i64>) -> String {
    let inner = unpaged(sql, cache, plan);
    let cap = cap.map(|c| format!(" LIMIT {c}")).unwrap_or_default();
    format!("(SELECT pg_catalog.count(*) FROM ({inner}{cap}) AS \"pgrst_c\")")
}

/// The read without limit and offset.
fn unpaged(sql: &mut Sql, cache: &SchemaCache, plan: &ReadPlan) -> String {
    sql::read_sql(
        sql,
        cache,
        plan,
        None,
        ReadOptions {
            skip_paging: true,
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geojson_needs_postgis() {
        let cache = SchemaCache::default();
        let e = body_for(&cache, &Media::GeoJson).unwrap_err();
        assert_eq!(e.code, "PGRST107");
        assert!(body_for(&cache, &Media::Json).unwrap().contains("json_agg"));
    }

    #[test]
    fn csv_reads_the_named_rows_for_its_header() {
        let cache = SchemaCache::default();
        let body = body_for(&cache, &Media::Csv).unwrap();
        assert!(body.contains(&format!("FROM \"{}\" AS", crate::main_statement::ROWS_CTE)));
        assert!(body.contains("substring(\"_postgrest_t\"::text, 2"));
        assert!(names_rows(&Media::Csv));
        assert!(!names_rows(&Media::Json));
    }
}
