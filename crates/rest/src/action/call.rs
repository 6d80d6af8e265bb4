//! Planning `/rpc/name` with `GET`, `HEAD` and `POST`: the arguments (query string, JSON,
//! form or raw body), the overload they fit, and the read of its result.

use axum::http::Method;
use serde_json::{Map, Value};

use super::{PlanInput, TxPlan};
use crate::error::ApiError;
use crate::plan::{Planner, ReadPlan, Source};
use crate::request::{self, Count, Media, PreferenceScope, Producer, QueryParams, Return};
use crate::rpc::{self, ArgSource, Args};
use crate::schema::{MediaHandler, Qi, Routine};

/// How a function's result is read.
#[allow(clippy::large_enum_variant)] // one per request, never stored
#[derive(Debug)]
pub enum CallShape {
    /// Rows of a composite or relation type, read like a table (select, filters, embeds).
    Rows(ReadPlan),
    /// A scalar (or set of scalars, or void).
    Scalar,
}

/// A function call.
#[derive(Debug)]
pub struct CallAction {
    pub routine: Routine,
    /// Call arguments `(name, text value, variadic)`.
    pub args: Vec<(String, Option<String>, bool)>,
    pub shape: CallShape,
    pub media: Media,
    /// A custom media handler (aggregate) renders the rows instead of `media`.
    pub custom: Option<MediaHandler>,
    pub count: Option<Count>,
    /// The schema's `max-rows`.
    pub max_rows: Option<i64>,
    /// A scalar result sent as raw bytes (`application/octet-stream`, `text/plain`).
    pub raw_body: bool,
    /// `POST` with `return=minimal`: 204 without a body.
    pub minimal: bool,
    pub tx: TxPlan,
    /// `Preference-Applied`.
    pub applied: Option<String>,
}

impl CallAction {
    /// The offset the result starts at (for `Content-Range`).
    pub fn offset(&self) -> i64 {
        match &self.shape {
            CallShape::Rows(plan) => plan.offset,
            CallShape::Scalar => 0,
        }
    }
}

pub(super) fn plan(input: &PlanInput<'_>, name: &str) -> Result<CallAction, ApiError> {
    let req = input.req;
    let is_get = req.method == Method::GET || req.method == Method::HEAD;
    let mut q = input.query_params()?;
    let (args, source) = if is_get {
        (query_args(input, name, &q), ArgSource::Text)
    } else {
        body_args(input, &q)?
    };
    let call = rpc::resolve_from(input.cache, &req.schema, name, &args, !is_get, source)?;
    let routine = call.routine;
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
    if req.method == Method::GET {
        request::apply_range(&mut q, input.headers)?;
    }
    let producer = Producer::Rpc {
        bytea: routine.return_type == "bytea",
        text: routine.return_type == "text",
    };
    let table_like = routine.returns_composite || routine.return_relation.is_some();
    let custom = if routine.returns_set && table_like {
        input.custom_handler(routine.return_relation.as_ref())
    } else {
        None
    };
    let negotiated = match &routine.media_type {
        // A function returning a media-type domain answers with that type.
        Some(d) if !table_like => request::negotiate_domain(
            input.header(axum::http::header::ACCEPT),
            &d.media,
            input.config.plan_enabled,
        ),
        _ => input.media(producer),
    };
    let media = match (negotiated, &custom) {
        (Ok(m), _) => m,
        (Err(_), Some(_)) => Media::Json,
        (Err(e), None) => return Err(e),
    };
    let shape = if table_like {
        let source = Source::Function {
            routine: routine.qi.clone(),
            args: call.args.clone(),
        };
        let mut planner = Planner::new(input.cache, &req.schema, input.config.aggregates_enabled);
        let mut plan = planner.read(source, routine.return_relation.clone(), &q, true)?;
        plan.alias = routine.qi.name.clone();
        CallShape::Rows(plan)
    } else {
        CallShape::Scalar
    };
    let read_only = is_get || !routine.is_volatile();
    let mut tx = input.tx(&media, read_only, true);
    if custom.is_some() {
        tx.singular = false;
        tx.strict_max = None;
    }
    Ok(CallAction {
        // The plan of a media-type domain's body explains the statement that sends it raw.
        raw_body: match &media {
            Media::OctetStream | Media::TextPlain | Media::Domain(_) => !table_like,
            Media::Plan { for_media, .. } => {
                !table_like
                    && routine
                        .media_type
                        .as_ref()
                        .is_some_and(|d| &d.media == for_media)
            }
            _ => false,
        },
        minimal: req.prefer.return_ == Some(Return::Minimal) && !is_get,
        routine,
        args: call.args,
        shape,
        media,
        custom,
        count: req.prefer.count,
        max_rows: input.config.max_rows_for(&req.schema),
        tx,
        applied: input.applied(PreferenceScope::Call),
    })
}

/// `GET`: every query key naming a parameter of a `name` overload is an argument, and so is any
/// key whose value does not parse as a filter.
fn query_args(input: &PlanInput<'_>, name: &str, q: &QueryParams) -> Args {
    let qi = Qi::new(&input.req.schema, name);
    let names: Vec<String> = input
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
        .filter(|(k, _)| names.contains(k) || !looks_like_filter(q, k))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Args::Named(pairs)
}

/// `POST`: the arguments of the body, as its media type gives them.
fn body_args(input: &PlanInput<'_>, q: &QueryParams) -> Result<(Args, ArgSource), ApiError> {
    let ct = input.content_type();
    let body = input.body;
    if ct.starts_with("application/octet-stream")
        || ct.starts_with("text/plain")
        || ct.starts_with("application/xml")
    {
        return Ok((Args::Raw(body.to_vec()), ArgSource::Text));
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        // An HTML form: repeated keys fill a variadic argument, as repeated query keys do.
        let pairs = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        return Ok((Args::Named(pairs), ArgSource::Text));
    }
    if ct.starts_with("text/csv") {
        // The first row's fields, named by the header, are the arguments (as a JSON array's
        // first object is).
        let p = crate::mutate::csv_payload(body, q.columns.as_deref())?;
        let row = p.values.into_iter().next().unwrap_or_default();
        return Ok((Args::Named(named_args(row, q)), ArgSource::Text));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Args::Named(Vec::new()), ArgSource::Json));
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::body("Empty or invalid json"))?;
    let v = match v {
        Value::Array(a) => a.into_iter().next().unwrap_or(Value::Object(Map::new())),
        other => other,
    };
    if input.req.prefer.single_object {
        return Ok((Args::Single(v), ArgSource::Json));
    }
    let args = match v {
        Value::Object(m) => Args::Named(named_args(m, q)),
        other => Args::Single(other),
    };
    Ok((args, ArgSource::Json))
}

/// The keys of a body object that are arguments: `columns=` names them; the others are ignored.
fn named_args(m: Map<String, Value>, q: &QueryParams) -> Vec<(String, Value)> {
    m.into_iter()
        .filter(|(k, _)| q.columns.as_ref().is_none_or(|c| c.contains(k)))
        .collect()
}

/// A GET parameter whose value parses as a filter and is not a parameter name is a filter.
fn looks_like_filter(q: &QueryParams, key: &str) -> bool {
    q.raw
        .iter()
        .filter(|(k, _)| k == key)
        .all(|(_, v)| crate::grammar::parse_op_expr(v).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::request::ApiRequest;
    use crate::schema::SchemaCache;
    use axum::http::{header, HeaderMap};

    /// The arguments of a `POST /rpc/f?query` with a CSV body.
    fn csv_args(query: &str, body: &[u8]) -> Result<Args, ApiError> {
        let config = Config {
            schemas: vec!["public".into()],
            ..Config::default()
        };
        let cache = SchemaCache::default();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "text/csv".parse().unwrap());
        let req = ApiRequest::parse(&config, &Method::POST, "/rpc/f", query, &headers).unwrap();
        let input = PlanInput {
            req: &req,
            config: &config,
            cache: &cache,
            headers: &headers,
            body,
        };
        body_args(&input, &input.query_params()?).map(|(args, _)| args)
    }

    #[test]
    fn a_csv_body_names_the_arguments_of_its_first_row() {
        let Args::Named(args) = csv_args("", b"a,b\n1,NULL\n4,6").unwrap() else {
            panic!("named");
        };
        assert_eq!(
            args,
            [
                ("a".to_string(), Value::String("1".into())),
                ("b".to_string(), Value::Null)
            ]
        );
        let Args::Named(args) = csv_args("columns=b", b"a,b\n1,2").unwrap() else {
            panic!("named");
        };
        assert_eq!(args, [("b".to_string(), Value::String("2".into()))]);
        let Args::Named(args) = csv_args("", b"a,b\n").unwrap() else {
            panic!("named");
        };
        assert!(args.is_empty());
        let e = csv_args("", b"a,b\n1,2\n3").unwrap_err();
        assert_eq!(e.message, "All lines must have same number of fields");
    }
}
