//! The plan stage: what a parsed request does, as a value. [`plan`] turns an [`ApiRequest`] and
//! the schema cache into an [`ActionPlan`] without touching the database: which relation or
//! function, the read tree, the payload, the media type, the count asked for, and how the
//! transaction ends. [`crate::statement`] builds its SQL and [`crate::respond`] its HTTP
//! response, as PostgREST's `Plan.hs` → `Query.hs` → `Response.hs`.

mod call;
mod info;
mod read;
mod write;

pub use call::{CallAction, CallShape};
pub use info::InfoAction;
pub use read::ReadAction;
pub use write::{MutateAction, Mutation};

use axum::http::{header, HeaderMap};

use crate::config::{Config, TxEnd};
use crate::error::ApiError;
use crate::main_statement::MainRow;
use crate::request::{
    self, Action, ApiRequest, Media, PreferenceApplied, PreferenceScope, Producer, QueryParams,
};
use crate::schema::SchemaCache;

/// What a request does once parsed and resolved against the schema cache.
// One plan lives per request, on the stack of the handler: boxing a variant would cost an
// allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ActionPlan<'a> {
    /// `GET`/`HEAD` on a table or view.
    Read(ReadAction),
    /// `POST`, `PATCH`, `PUT`, `DELETE` on a table or view.
    Mutate(MutateAction<'a>),
    /// `/rpc/name`.
    Call(CallAction),
    /// `OPTIONS`: answered without the database.
    Info(InfoAction),
}

/// Everything planning reads: the parsed request, its headers and body, the configuration and
/// the schema cache. Planning is pure: the same input gives the same plan.
pub struct PlanInput<'a> {
    pub req: &'a ApiRequest,
    pub config: &'a Config,
    pub cache: &'a SchemaCache,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// How a plan's transaction runs and ends, and what it checks on the main row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxPlan {
    /// `SET TRANSACTION READ ONLY`.
    pub read_only: bool,
    /// Singular media: the statement must give exactly one row (else PGRST116).
    pub singular: bool,
    /// `handling=strict` with `max-affected`: more rows touched fail (PGRST124).
    pub strict_max: Option<i64>,
    /// Whether the transaction commits (configuration and `Prefer: tx=`).
    pub commit: bool,
}

impl TxPlan {
    /// Commit (`Ok(true)`) or roll back (`Ok(false)`) once the main statement gave `row`, or
    /// fail: singular responses need exactly one row, strict `max-affected` caps the rows.
    pub fn decide(&self, row: &MainRow) -> Result<bool, ApiError> {
        if self.singular && row.page != 1 {
            return Err(crate::respond::singular_error(row.page));
        }
        if let Some(m) = self.strict_max {
            if row.page > m {
                return Err(ApiError::new(
                    crate::error::Code::MaxAffected,
                    "Query result exceeds max-affected preference constraint",
                )
                .with_details(format!("The query affects {} rows", row.page)));
            }
        }
        Ok(self.commit)
    }

    /// The transaction's end when it does not depend on the main row (nothing to check): it is
    /// then known before the statement runs and joins the pipeline.
    pub fn end(&self) -> Option<bool> {
        (!self.singular && self.strict_max.is_none()).then_some(self.commit)
    }
}

impl ActionPlan<'_> {
    /// The plan's transaction (`None`: answered without the database).
    pub fn tx(&self) -> Option<TxPlan> {
        match self {
            ActionPlan::Read(a) => Some(a.tx),
            ActionPlan::Mutate(a) => Some(a.tx),
            ActionPlan::Call(a) => Some(a.tx),
            ActionPlan::Info(_) => None,
        }
    }
}

/// Plan the request (`Action::Root` is not planned here: the OpenAPI document or the root
/// function is served by the handler).
pub fn plan<'a>(input: &PlanInput<'a>) -> Result<ActionPlan<'a>, ApiError> {
    match &input.req.action {
        Action::Info(target) => info::plan(input, target).map(ActionPlan::Info),
        Action::Read(name) => read::plan(input, name).map(ActionPlan::Read),
        Action::Insert(name) => write::insert(input, name).map(ActionPlan::Mutate),
        Action::Update(name) => write::update(input, name).map(ActionPlan::Mutate),
        Action::Upsert(name) => write::put(input, name).map(ActionPlan::Mutate),
        Action::Delete(name) => write::delete(input, name).map(ActionPlan::Mutate),
        Action::Call(name) => call::plan(input, name).map(ActionPlan::Call),
        Action::Root => Err(ApiError::internal("the root is not planned")),
    }
}

impl PlanInput<'_> {
    /// The media type `Accept` asks for from `producer`.
    pub fn media(&self, producer: Producer) -> Result<Media, ApiError> {
        request::negotiate(
            self.header(header::ACCEPT),
            producer,
            self.config.plan_enabled,
        )
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The request body's media type, lower-cased (JSON when absent).
    fn content_type(&self) -> String {
        self.header(header::CONTENT_TYPE)
            .unwrap_or("application/json")
            .to_ascii_lowercase()
    }

    /// The request's query parameters (PGRST100 when they do not parse).
    fn query_params(&self) -> Result<QueryParams, ApiError> {
        self.req.params().cloned()
    }

    /// Whether the transaction commits, given `Prefer: tx=`.
    pub fn commits(&self) -> bool {
        match self.config.tx_end {
            TxEnd::Commit => true,
            TxEnd::Rollback => false,
            TxEnd::CommitAllowOverride => self.req.prefer.tx_commit.unwrap_or(true),
            TxEnd::RollbackAllowOverride => self.req.prefer.tx_commit.unwrap_or(false),
        }
    }

    /// `Preference-Applied` for the tokens `scope` honoured.
    fn applied(&self, scope: PreferenceScope) -> Option<String> {
        let overridable = matches!(
            self.config.tx_end,
            TxEnd::CommitAllowOverride | TxEnd::RollbackAllowOverride
        );
        let tx = (overridable && self.req.prefer.tx_commit.is_some()).then(|| self.commits());
        PreferenceApplied::new(&self.req.prefer, scope, tx).header()
    }

    /// The transaction of a statement producing `media`; `checked`: whether strict
    /// `max-affected` applies (writes and calls).
    fn tx(&self, media: &Media, read_only: bool, checked: bool) -> TxPlan {
        let strict_max = if checked && self.req.prefer.strict {
            self.req.prefer.max_affected
        } else {
            None
        };
        TxPlan {
            read_only,
            singular: media.is_singular(),
            strict_max,
            commit: self.commits(),
        }
    }

    /// A custom media handler (aggregate) the `Accept` header asks for on `rel`: the first
    /// accepted type that has one, unless a built-in type is accepted before it.
    ///
    /// As PostgREST, a handler of the relation itself applies only to the default select
    /// (`select` absent or `*`), and one of the relation for `*/*` then answers any type but
    /// the vendored `application/vnd.pgrst.*` ones.
    fn custom_handler(
        &self,
        rel: Option<&crate::schema::Qi>,
    ) -> Option<crate::schema::MediaHandler> {
        if self.cache.media_handlers.is_empty() {
            return None;
        }
        let default_select = self.req.params().is_ok_and(|q| {
            q.select
                .as_ref()
                .is_none_or(|s| matches!(s.as_slice(), [crate::grammar::SelectItem::Star]))
        });
        let of_rel = |h: &&crate::schema::MediaHandler, ty: &str| {
            h.media == ty && default_select && h.target.is_some() && h.target.as_ref() == rel
        };
        let accept = self.header(header::ACCEPT).unwrap_or("application/json");
        for item in accept.split(',') {
            let ty = item
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !ty.starts_with("application/vnd.pgrst.") {
                let any = self.cache.media_handlers.iter().find(|h| of_rel(h, "*/*"));
                if let Some(h) = any {
                    return Some(h.clone());
                }
            }
            let found = (self.cache.media_handlers.iter().find(|h| of_rel(h, &ty))).or_else(|| {
                let mut any_rel = self.cache.media_handlers.iter();
                any_rel.find(|h| h.media == ty && h.target.is_none())
            });
            if let Some(h) = found {
                return Some(h.clone());
            }
            if request::negotiate(Some(&ty), Producer::Relation, self.config.plan_enabled).is_ok() {
                return None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{MediaHandler, Qi};
    use axum::http::Method;

    /// The handler chosen for a read of `public.nums` with `query` and `accept`.
    fn handler_for(handlers: &[(&str, bool)], query: &str, accept: &str) -> Option<String> {
        let config = Config {
            schemas: vec!["public".into()],
            ..Config::default()
        };
        let mut cache = SchemaCache::default();
        for (media, of_rel) in handlers {
            cache.media_handlers.push(MediaHandler {
                media: media.to_string(),
                base: "bytea".into(),
                aggregate: Qi::new("public", "agg"),
                target: of_rel.then(|| Qi::new("public", "nums")),
            });
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept.parse().unwrap());
        let req = ApiRequest::parse(&config, &Method::GET, "/nums", query, &headers).unwrap();
        let input = PlanInput {
            req: &req,
            config: &config,
            cache: &cache,
            headers: &headers,
            body: b"",
        };
        input
            .custom_handler(Some(&Qi::new("public", "nums")))
            .map(|h| h.media)
    }

    #[test]
    fn a_relations_any_type_handler_answers_every_type_but_the_vendored_ones() {
        let any = [("*/*", true)];
        assert_eq!(handler_for(&any, "", "*/*").as_deref(), Some("*/*"));
        assert_eq!(
            handler_for(&any, "", "magic/number").as_deref(),
            Some("*/*")
        );
        assert_eq!(
            handler_for(&any, "select=*", "application/json").as_deref(),
            Some("*/*")
        );
        assert_eq!(
            handler_for(&any, "", "application/vnd.pgrst.object+json"),
            None
        );
        // Only with the default select.
        assert_eq!(handler_for(&any, "select=val", "*/*"), None);
        // A handler for any relation of one type, and none at all.
        let geo = [("application/vnd.geo2+json", false)];
        assert_eq!(
            handler_for(&geo, "select=val", "application/vnd.geo2+json").as_deref(),
            Some("application/vnd.geo2+json")
        );
        assert_eq!(handler_for(&geo, "", "application/json"), None);
    }

    fn row(page: i64) -> MainRow {
        MainRow {
            page,
            ..Default::default()
        }
    }

    #[test]
    fn singular_needs_one_row_and_strict_max_caps_rows() {
        let tx = TxPlan {
            read_only: false,
            singular: true,
            strict_max: None,
            commit: true,
        };
        assert!(tx.decide(&row(1)).unwrap());
        assert_eq!(tx.decide(&row(2)).unwrap_err().status.as_u16(), 406);
        assert_eq!(tx.end(), None);
        let tx = TxPlan {
            singular: false,
            strict_max: Some(1),
            commit: false,
            ..tx
        };
        assert!(!tx.decide(&row(1)).unwrap());
        assert_eq!(tx.decide(&row(2)).unwrap_err().code, "PGRST124");
        let tx = TxPlan {
            strict_max: None,
            ..tx
        };
        assert_eq!(tx.end(), Some(false));
    }
}
