//! Planning `POST`, `PATCH`, `PUT` and `DELETE` on a table or view: the rows written (the
//! payload and its conflict handling, or the filters selecting them) and the read that renders
//! what was written.

use super::{PlanInput, TxPlan};
use crate::error::{ApiError, Code};
use crate::mutate::{self, OnConflict, Payload};
use crate::plan::{Planner, ReadPlan, Source};
use crate::request::{Media, PreferenceScope, Producer, QueryParams, Resolution, Return};
use crate::schema::Relation;

/// What a write does to its relation.
#[derive(Debug)]
pub enum Mutation {
    /// `POST`: insert the payload, or upsert it with `on_conflict`.
    Insert {
        payload: Payload,
        on_conflict: Option<OnConflict>,
        /// `Prefer: missing=default`.
        missing_default: bool,
    },
    /// `PATCH`: set the payload's columns on the rows the filters select.
    Update {
        payload: Payload,
        /// `Prefer: missing=default`: `columns=` columns the payload lacks take their default.
        missing_default: bool,
    },
    /// `DELETE` the rows the filters select.
    Delete,
    /// `PUT`: the one row of the payload, merged on the primary key.
    Put { payload: Payload },
}

/// A write to a table or view.
#[derive(Debug)]
pub struct MutateAction<'a> {
    pub mutation: Mutation,
    pub rel: &'a Relation,
    /// The read of the written rows (`PATCH`/`DELETE`: its filters select the rows).
    pub plan: ReadPlan,
    pub media: Media,
    pub ret: Return,
    /// `Prefer: count=` was given.
    pub count: bool,
    /// Rows inserted are told apart from rows updated (`pgrst_ins`): an upsert into a table.
    pub track_inserts: bool,
    /// A merge-duplicates upsert: 200 rather than 201 when it inserted nothing.
    pub merge: bool,
    /// 201 (else 200) when inserts are not tracked.
    pub created: bool,
    pub tx: TxPlan,
    /// `Preference-Applied`.
    pub applied: Option<String>,
}

impl MutateAction<'_> {
    /// `POST` or `PUT`: rows are inserted (status 201/200, `Location`, `Content-Range: */n`).
    pub fn inserts(&self) -> bool {
        matches!(
            self.mutation,
            Mutation::Insert { .. } | Mutation::Put { .. }
        )
    }
}

/// The shared tail of every write plan: media type, transaction, applied preferences.
struct Shape {
    track_inserts: bool,
    merge: bool,
    created: bool,
    /// Which write this is, for `Preference-Applied`.
    scope: PreferenceScope,
}

fn action<'a>(
    input: &PlanInput<'_>,
    mutation: Mutation,
    rel: &'a Relation,
    plan: ReadPlan,
    shape: Shape,
) -> Result<MutateAction<'a>, ApiError> {
    let media = input.media(Producer::Relation)?;
    let prefer = &input.req.prefer;
    Ok(MutateAction {
        mutation,
        rel,
        plan,
        tx: input.tx(&media, false, true),
        media,
        ret: prefer.return_.unwrap_or(Return::Minimal),
        count: prefer.count.is_some(),
        track_inserts: shape.track_inserts,
        merge: shape.merge,
        created: shape.created,
        applied: input.applied(shape.scope),
    })
}

/// Parse the request body as rows (JSON, CSV or an HTML form).
fn payload(input: &PlanInput<'_>, q: &QueryParams) -> Result<Payload, ApiError> {
    let ct = input.content_type();
    if ct.starts_with("text/csv") {
        mutate::csv_payload(input.body, q.columns.as_deref())
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        mutate::form_payload(input.body, q.columns.as_deref())
    } else {
        mutate::json_payload(input.body, q.columns.as_deref())
    }
}

fn relation<'a>(input: &PlanInput<'a>, name: &str) -> Result<&'a Relation, ApiError> {
    Planner::new(input.cache, &input.req.schema, false).relation(name)
}

/// The read of the rows a write produced, from the `pgrst_source` CTE.
fn written_read(
    input: &PlanInput<'_>,
    rel: &Relation,
    q: &QueryParams,
    source: Source,
) -> Result<ReadPlan, ApiError> {
    let mut planner = Planner::new(
        input.cache,
        &input.req.schema,
        input.config.aggregates_enabled,
    );
    planner.read(source, Some(rel.qi.clone()), q, true)
}

pub(super) fn insert<'a>(input: &PlanInput<'a>, name: &str) -> Result<MutateAction<'a>, ApiError> {
    let rel = relation(input, name)?;
    let q = input.query_params()?;
    if let Some(cols) = &q.columns {
        mutate::check_columns(rel, cols)?;
    }
    let payload = payload(input, &q)?;
    if q.columns.is_none() {
        mutate::check_columns(rel, &payload.columns)?;
    }
    let prefer = &input.req.prefer;
    let on_conflict = prefer.resolution.and_then(|resolution| {
        let columns = q.on_conflict.clone().unwrap_or_else(|| rel.pk.clone());
        (!columns.is_empty()).then_some(OnConflict {
            columns,
            resolution,
        })
    });
    let track_inserts = on_conflict.is_some() && !rel.is_view && payload.rows > 0;
    let plan = written_read(input, rel, &q, Source::Cte("pgrst_source".into()))?;
    // Only a merge that inserts nothing answers 200; any other insert answers 201, even one
    // whose rows were all ignored as duplicates.
    let merge = matches!(
        on_conflict,
        Some(OnConflict {
            resolution: Resolution::MergeDuplicates,
            ..
        })
    );
    let shape = Shape {
        track_inserts,
        merge,
        created: payload.rows > 0 || !merge,
        scope: PreferenceScope::Insert {
            resolution: on_conflict.is_some(),
        },
    };
    let mutation = Mutation::Insert {
        payload,
        on_conflict,
        missing_default: prefer.missing_default,
    };
    action(input, mutation, rel, plan, shape)
}

/// With `db-safe-update`-style protection on `name`, `PATCH`/`DELETE` need a filter.
fn safe_update_check(
    input: &PlanInput<'_>,
    name: &str,
    q: &QueryParams,
    verb: &str,
) -> Result<(), ApiError> {
    if input.config.safe_update_tables.iter().any(|t| t == name) && !q.has_filters {
        return Err(ApiError::new(
            Code::SafeUpdate,
            format!("{verb} requires a WHERE clause"),
        ));
    }
    Ok(())
}

/// The rows `PATCH` and `DELETE` touch: the top-level filters (and limit/offset on a table).
fn filtered<'a>(
    input: &PlanInput<'_>,
    rel: &'a Relation,
    q: &QueryParams,
    mutation: Mutation,
) -> Result<MutateAction<'a>, ApiError> {
    let scope = if matches!(mutation, Mutation::Update { .. }) {
        PreferenceScope::Update
    } else {
        PreferenceScope::Delete
    };
    let plan = written_read(input, rel, q, Source::Relation(rel.qi.clone()))?;
    if (plan.limit.is_some() || plan.offset > 0) && rel.is_view {
        return Err(ApiError::new(
            Code::LimitOnView,
            "limit/offset on PATCH or DELETE needs a table",
        ));
    }
    let shape = Shape {
        track_inserts: false,
        merge: false,
        created: false,
        scope,
    };
    action(input, mutation, rel, plan, shape)
}

pub(super) fn update<'a>(input: &PlanInput<'a>, name: &str) -> Result<MutateAction<'a>, ApiError> {
    let rel = relation(input, name)?;
    let q = input.query_params()?;
    safe_update_check(input, name, &q, "UPDATE")?;
    let mut payload = payload(input, &q)?;
    if payload.rows > 1 {
        payload.values.truncate(1);
    }
    mutate::check_columns(rel, &payload.columns)?;
    let missing_default = input.req.prefer.missing_default;
    filtered(
        input,
        rel,
        &q,
        Mutation::Update {
            payload,
            missing_default,
        },
    )
}

pub(super) fn delete<'a>(input: &PlanInput<'a>, name: &str) -> Result<MutateAction<'a>, ApiError> {
    let rel = relation(input, name)?;
    let q = input.query_params()?;
    safe_update_check(input, name, &q, "DELETE")?;
    filtered(input, rel, &q, Mutation::Delete)
}

pub(super) fn put<'a>(input: &PlanInput<'a>, name: &str) -> Result<MutateAction<'a>, ApiError> {
    let rel = relation(input, name)?;
    let q = input.query_params()?;
    if !q.limit.is_empty() || !q.offset.is_empty() {
        return Err(ApiError::new(
            Code::PutLimit,
            "limit/offset querystring parameters are not allowed for PUT",
        ));
    }
    let plan = written_read(input, rel, &q, Source::Cte("pgrst_source".into()))?;
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
    let mut payload = payload(input, &q)?;
    mutate::check_columns(rel, &payload.columns)?;
    keep_url_row(&mut payload, &pk_vals)?;
    let shape = Shape {
        track_inserts: !rel.is_view,
        merge: true,
        created: true,
        scope: PreferenceScope::Put,
    };
    action(input, Mutation::Put { payload }, rel, plan, shape)
}

/// As PostgREST does, the URL's primary key filters a `PUT` payload: rows whose key differs
/// are not written, and exactly one row must be left (else PGRST115).
fn keep_url_row(payload: &mut Payload, pk_vals: &[(String, String)]) -> Result<(), ApiError> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_keeps_the_row_the_url_names() {
        let mut p = mutate::json_payload(br#"[{"id":1,"v":"a"},{"id":2,"v":"b"}]"#, None).unwrap();
        keep_url_row(&mut p, &[("id".into(), "2".into())]).unwrap();
        assert_eq!(p.rows, 1);
        assert_eq!(p.json, r#"[{"id":2,"v":"b"}]"#);
        let mut p = mutate::json_payload(br#"[{"id":1}]"#, None).unwrap();
        let e = keep_url_row(&mut p, &[("id".into(), "3".into())]).unwrap_err();
        assert_eq!(e.code, "PGRST115");
    }
}
