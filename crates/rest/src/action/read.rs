//! Planning `GET`/`HEAD` on a table or view.

use super::{PlanInput, TxPlan};
use crate::error::ApiError;
use crate::plan::{Planner, ReadPlan, Source};
use crate::request::{self, Count, Media, PreferenceScope, Producer};
use crate::schema::MediaHandler;

/// A read of a table or view.
#[derive(Debug)]
pub struct ReadAction {
    pub plan: ReadPlan,
    pub media: Media,
    /// A custom media handler (aggregate) renders the rows instead of `media`.
    pub custom: Option<MediaHandler>,
    pub count: Option<Count>,
    /// The schema's `max-rows`.
    pub max_rows: Option<i64>,
    /// `Content-Location`: the path with its query parameters sorted.
    pub location: String,
    pub tx: TxPlan,
    /// `Preference-Applied`.
    pub applied: Option<String>,
}

pub(super) fn plan(input: &PlanInput<'_>, name: &str) -> Result<ReadAction, ApiError> {
    let req = input.req;
    // An unacceptable media type is reported before an unknown relation, unless a custom
    // handler of the relation produces it.
    let media = input.media(Producer::Relation);
    let rel = match Planner::new(input.cache, &req.schema, false).relation(name) {
        Ok(r) => r.qi.clone(),
        Err(e) => {
            media?;
            return Err(e);
        }
    };
    let custom = input.custom_handler(Some(&rel));
    let media = match (media, &custom) {
        (Ok(m), _) => m,
        (Err(_), Some(_)) => Media::Json,
        (Err(e), None) => return Err(e),
    };
    let mut q = input.query_params()?;
    request::apply_range(&mut q, input.headers)?;
    let mut planner = Planner::new(input.cache, &req.schema, input.config.aggregates_enabled);
    let plan = planner.read(Source::Relation(rel.clone()), Some(rel), &q, true)?;
    let tx = TxPlan {
        singular: media.is_singular() && custom.is_none(),
        ..input.tx(&media, true, false)
    };
    Ok(ReadAction {
        plan,
        media,
        custom,
        count: req.prefer.count,
        max_rows: input.config.max_rows_for(&req.schema),
        location: content_location(name, &req.query),
        tx,
        applied: input.applied(PreferenceScope::Read),
    })
}

/// `/name?k=v…` with the query's parameters sorted.
fn content_location(name: &str, query: &str) -> String {
    let mut pairs = request::query_pairs(query);
    if pairs.is_empty() {
        return format!("/{name}");
    }
    pairs.sort();
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("/{name}?{}", q.join("&"))
}

#[cfg(test)]
mod tests {
    use super::content_location;

    #[test]
    fn content_location_sorts_the_query() {
        assert_eq!(content_location("items", ""), "/items");
        assert_eq!(
            content_location("items", "select=id&id=eq.1"),
            "/items?id=eq.1&select=id"
        );
    }
}
