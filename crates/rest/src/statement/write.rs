//! The SQL of a write: one statement whose `pgrst_source` CTE writes the rows and whose main
//! select renders them (or only counts them for `return=minimal`).

use super::{body_for, explain, names_rows};
use crate::action::{MutateAction, Mutation};
use crate::db::Job;
use crate::error::ApiError;
use crate::main_statement::MainSelect;
use crate::mutate::{self, OnConflict};
use crate::plan::Source;
use crate::request::{Resolution, Return};
use crate::schema::SchemaCache;
use crate::sql::{self, ReadOptions, Sql};

pub(super) fn job(a: &MutateAction<'_>, cache: &SchemaCache) -> Result<Job, ApiError> {
    let mut sql = Sql::default();
    let rel = a.rel;
    let cte = match &a.mutation {
        Mutation::Insert {
            payload,
            on_conflict,
            missing_default,
        } => mutate::insert_cte(
            &mut sql,
            rel,
            payload,
            *missing_default,
            on_conflict.as_ref(),
            a.track_inserts,
        ),
        Mutation::Put { payload } => {
            let oc = OnConflict {
                columns: rel.pk.clone(),
                resolution: Resolution::MergeDuplicates,
            };
            mutate::insert_cte(&mut sql, rel, payload, false, Some(&oc), a.track_inserts)
        }
        Mutation::Update {
            payload,
            missing_default,
        } => {
            let w = sql::write_where_sql(&mut sql, &a.plan, &rel.qi);
            mutate::update_cte(&mut sql, rel, payload, &a.plan, &w, *missing_default)
        }
        Mutation::Delete => {
            let w = sql::write_where_sql(&mut sql, &a.plan, &rel.qi);
            mutate::delete_cte(rel, &w)
        }
    };
    let body = if a.ret == Return::Representation {
        body_for(cache, &a.media)?
    } else {
        "NULL".to_string()
    };
    let location = if a.ret == Return::HeadersOnly && !rel.pk.is_empty() && a.inserts() {
        let cols: Vec<String> = rel.pk.iter().map(|c| sql::ident(c)).collect();
        format!("(SELECT row_to_json(\"pgrst_l\")::text FROM (SELECT {} FROM \"pgrst_source\" LIMIT 1) AS \"pgrst_l\")", cols.join(", "))
    } else {
        "NULL".into()
    };
    let inserted = if a.track_inserts {
        "(SELECT pg_catalog.count(*) FROM \"pgrst_source\" WHERE \"pgrst_ins\")".to_string()
    } else {
        "NULL".into()
    };
    // Nothing is read back for `return=minimal` (bar the row count), so the write returns no
    // columns and needs no SELECT privilege or policy.
    let minimal = a.ret == Return::Minimal && !a.track_inserts;
    let (cte, from) = if minimal {
        (
            mutate::returning_nothing(&cte),
            "SELECT 1 FROM \"pgrst_source\"".to_string(),
        )
    } else {
        // Re-render the read from the CTE with the relation's alias: the write applied the
        // filters, limit and offset; the order still sorts the rows returned.
        let mut p = a.plan.clone();
        p.source = Source::Cte("pgrst_source".into());
        p.limit = None;
        p.offset = 0;
        let opts = ReadOptions {
            skip_conds: true,
            skip_paging: false,
            max_rows: None,
            hoist: false,
            jsonb_embeds: names_rows(&a.media),
        };
        let from = sql::read_sql(&mut sql, cache, &p, None, opts);
        (cte, from)
    };
    sql.text = MainSelect {
        with: Some(&cte),
        from: &from,
        body: Some(&body),
        location: Some(&location),
        inserted: Some(&inserted),
        name_rows: a.ret == Return::Representation && names_rows(&a.media),
        ..Default::default()
    }
    .render();
    Ok(Job {
        main: sql,
        planned: None,
        explain: explain(&a.media),
        end: a.tx.end(),
    })
}
