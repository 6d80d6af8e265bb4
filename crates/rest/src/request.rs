//! From an HTTP request to an [`ApiRequest`]: the target (root, relation, function), the schema
//! (profile headers), `Prefer`, the negotiated media type, `Range`, and the query string split
//! into PostgREST's parameters. Pure: no database, no configuration beyond what is passed in.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method};

use crate::config::Config;
use crate::error::{ApiError, Code};
use crate::grammar::{self, Filter, Logic, OrderTerm, SelectItem};

/// What the path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Root,
    Relation(String),
    Rpc(String),
}

/// What a request asks to do, decided from its method and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `GET`/`HEAD /`: the OpenAPI document or the root function.
    Root,
    /// `GET`/`HEAD` on a relation.
    Read(String),
    /// `POST` on a relation.
    Insert(String),
    /// `PATCH` on a relation.
    Update(String),
    /// `PUT` on a relation.
    Upsert(String),
    /// `DELETE` on a relation.
    Delete(String),
    /// `GET`/`HEAD`/`POST` on `rpc/<name>`.
    Call(String),
    /// `OPTIONS`: what the target allows.
    Info(Target),
}

impl Action {
    /// The action `method` asks of `target` (405 when the target does not support it).
    pub fn of(method: &Method, target: &Target) -> Result<Action, ApiError> {
        let unsupported = |code: Code, m: &Method| {
            let message = match code {
                Code::RpcMethod => format!("Cannot use the {m} method on RPC"),
                _ => format!("Unsupported HTTP method: {m}"),
            };
            Err(ApiError::new(code, message))
        };
        if method == Method::OPTIONS {
            return Ok(Action::Info(target.clone()));
        }
        match target {
            Target::Root => match *method {
                Method::GET | Method::HEAD => Ok(Action::Root),
                _ => unsupported(Code::UnsupportedMethod, method),
            },
            Target::Relation(name) => {
                let name = name.clone();
                match *method {
                    Method::GET | Method::HEAD => Ok(Action::Read(name)),
                    Method::POST => Ok(Action::Insert(name)),
                    Method::PATCH => Ok(Action::Update(name)),
                    Method::PUT => Ok(Action::Upsert(name)),
                    Method::DELETE => Ok(Action::Delete(name)),
                    _ => unsupported(Code::UnsupportedMethod, method),
                }
            }
            Target::Rpc(name) => match *method {
                Method::GET | Method::HEAD | Method::POST => Ok(Action::Call(name.clone())),
                _ => unsupported(Code::RpcMethod, method),
            },
        }
    }
}

/// A request as the API understands it, parsed once: the action, the schema it addresses,
/// `Prefer`, and the query string split into PostgREST's parameters. Pure: the schema cache
/// and the database come later (planning, then execution).
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub action: Action,
    pub schema: String,
    /// The schema to echo in `Content-Profile`, when the client chose one.
    pub profile_echo: Option<String>,
    pub prefer: Prefer,
    /// The query string's parameters, or why they do not parse (reported when the action
    /// first needs them, after the errors PostgREST reports before them).
    params: Result<QueryParams, ApiError>,
}

impl ApiRequest {
    /// Parse what the handlers need from the request line and headers.
    pub fn parse(
        config: &Config,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Result<ApiRequest, ApiError> {
        ApiRequest::for_target(config, method, parse_target(path)?, path, query, headers)
    }

    /// [`ApiRequest::parse`] when the path's target is already known.
    pub fn for_target(
        config: &Config,
        method: &Method,
        target: Target,
        path: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Result<ApiRequest, ApiError> {
        let (schema, profile_echo) = match target {
            Target::Root => (config.schemas[0].clone(), None),
            _ => resolve_schema(config, method, headers)?,
        };
        let prefer = Prefer::parse(headers);
        if prefer.strict && !prefer.invalid.is_empty() {
            return Err(ApiError::new(
                Code::InvalidPreferences,
                "Invalid preferences given with handling=strict",
            )
            .with_details(format!(
                "Invalid preferences: {}",
                prefer.invalid.join(", ")
            )));
        }
        let action = Action::of(method, &target)?;
        let params = parse_query(&query_pairs(query), matches!(action, Action::Call(_)));
        Ok(ApiRequest {
            method: method.clone(),
            path: path.to_string(),
            query: query.to_string(),
            action,
            schema,
            profile_echo,
            prefer,
            params,
        })
    }

    /// The query string's parameters (PGRST100 when they do not parse).
    pub fn params(&self) -> Result<&QueryParams, ApiError> {
        self.params.as_ref().map_err(Clone::clone)
    }
}

/// Media types the API produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Json,
    /// `application/vnd.pgrst.object+json`
    Object {
        strip_nulls: bool,
    },
    /// `application/vnd.pgrst.array+json;nulls=stripped`
    ArrayStripped,
    Csv,
    OpenApi,
    GeoJson,
    OctetStream,
    TextPlain,
    /// The media type of a domain a function returns (its value is the body).
    Domain(String),
    /// `application/vnd.pgrst.plan`
    Plan {
        json: bool,
        for_media: String,
        options: Vec<String>,
    },
}

impl Media {
    /// The `Content-Type` of a successful response.
    pub fn content_type(&self) -> String {
        match self {
            Media::Json => "application/json; charset=utf-8".into(),
            Media::Object { strip_nulls: false } => {
                "application/vnd.pgrst.object+json; charset=utf-8".into()
            }
            Media::Object { strip_nulls: true } => {
                "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8".into()
            }
            Media::ArrayStripped => {
                "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8".into()
            }
            Media::Csv => "text/csv; charset=utf-8".into(),
            Media::OpenApi => "application/openapi+json; charset=utf-8".into(),
            Media::GeoJson => "application/geo+json; charset=utf-8".into(),
            Media::OctetStream => "application/octet-stream".into(),
            Media::TextPlain => "text/plain; charset=utf-8".into(),
            Media::Domain(t) => handler_content_type(t),
            Media::Plan {
                json,
                for_media,
                options,
            } => {
                let mut s = format!(
                    "application/vnd.pgrst.plan+{}; for=\"{}\"",
                    if *json { "json" } else { "text" },
                    for_media
                );
                if !options.is_empty() {
                    s.push_str(&format!("; options={}", options.join("|")));
                }
                s.push_str("; charset=utf-8");
                s
            }
        }
    }
    pub fn is_singular(&self) -> bool {
        matches!(self, Media::Object { .. })
    }
}

/// The `Content-Type` of a body a media type handler (a domain named after a media type)
/// produced. A type the API knows by name (compared without case) gets its canonical spelling
/// and `; charset=utf-8`, as its own responses (`application/octet-stream` none); `*/*` names no
/// type, so the body is bytes; any other type is answered as the domain names it.
pub fn handler_content_type(media: &str) -> String {
    let essence = media.split(';').next().unwrap_or("").trim();
    let known = [
        "application/json",
        "application/geo+json",
        "text/csv",
        "text/plain",
        "text/xml",
        "application/openapi+json",
        "application/x-www-form-urlencoded",
    ];
    if essence == "*/*" || essence.eq_ignore_ascii_case("application/octet-stream") {
        return "application/octet-stream".into();
    }
    match known.iter().find(|k| k.eq_ignore_ascii_case(essence)) {
        Some(k) => format!("{k}; charset=utf-8"),
        None => media.to_string(),
    }
}

/// One entry of the `Accept` header.
#[derive(Debug, Clone)]
struct AcceptItem {
    ty: String,
    params: HashMap<String, String>,
    q: f32,
}

fn parse_accept(h: &str) -> Vec<AcceptItem> {
    let mut items: Vec<AcceptItem> = h
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|part| {
            let mut it = part.split(';');
            let ty = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut params = HashMap::new();
            let mut q = 1.0;
            for p in it {
                if let Some((k, v)) = p.split_once('=') {
                    let k = k.trim().to_ascii_lowercase();
                    let v = v.trim().trim_matches('"').to_string();
                    if k == "q" {
                        q = v.parse().unwrap_or(1.0);
                    } else {
                        params.insert(k, v);
                    }
                }
            }
            AcceptItem { ty, params, q }
        })
        .collect();
    items.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    items
}

/// What the endpoint can produce, in preference order for wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    Root,
    Relation,
    /// RPC returning a scalar of this kind.
    Rpc {
        bytea: bool,
        text: bool,
    },
}

/// Pick the response media type; `None` when nothing matches (→ 406 PGRST107).
pub fn negotiate(
    accept: Option<&str>,
    producer: Producer,
    plan_enabled: bool,
) -> Result<Media, ApiError> {
    let raw = accept.unwrap_or("*/*");
    let items = parse_accept(raw);
    if items.is_empty() {
        return Ok(default_media(producer));
    }
    for item in &items {
        let strip = item
            .params
            .get("nulls")
            .map(|v| v == "stripped")
            .unwrap_or(false);
        let m = match item.ty.as_str() {
            "*/*" | "application/*" => Some(default_media(producer)),
            "application/json" => match producer {
                Producer::Root => Some(Media::OpenApi),
                _ => Some(Media::Json),
            },
            "application/openapi+json" if producer == Producer::Root => Some(Media::OpenApi),
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object"
                if producer != Producer::Root =>
            {
                Some(Media::Object { strip_nulls: strip })
            }
            "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array"
                if producer != Producer::Root =>
            {
                Some(if strip {
                    Media::ArrayStripped
                } else {
                    Media::Json
                })
            }
            "text/csv" if producer != Producer::Root => Some(Media::Csv),
            "application/geo+json" if producer != Producer::Root => Some(Media::GeoJson),
            "application/octet-stream" => match producer {
                Producer::Rpc { bytea: true, .. } => Some(Media::OctetStream),
                _ => None,
            },
            "text/plain" => match producer {
                Producer::Rpc { text: true, .. } => Some(Media::TextPlain),
                _ => None,
            },
            t if is_plan(t) && plan_enabled && producer != Producer::Root => {
                let for_media = match item.params.get("for").map(String::as_str) {
                    Some("application/vnd.pgrst.object")
                    | Some("application/vnd.pgrst.object+json") => {
                        "application/vnd.pgrst.object+json".to_string()
                    }
                    Some("text/csv") => "text/csv".to_string(),
                    _ => "application/json".to_string(),
                };
                Some(plan_media(item, for_media))
            }
            _ => None,
        };
        if let Some(m) = m {
            return Ok(m);
        }
    }
    Err(unavailable(raw))
}

/// Whether `ty` asks for the plan (`application/vnd.pgrst.plan`, `+json`, `+text`).
fn is_plan(ty: &str) -> bool {
    matches!(
        ty,
        "application/vnd.pgrst.plan"
            | "application/vnd.pgrst.plan+json"
            | "application/vnd.pgrst.plan+text"
    )
}

/// The plan `item` asks for, of the body `for_media` would have; options it does not know are
/// left out.
fn plan_media(item: &AcceptItem, for_media: String) -> Media {
    let options = item
        .params
        .get("options")
        .map(|o| {
            o.split('|')
                .map(|s| s.trim().to_string())
                .filter(|s| {
                    matches!(
                        s.as_str(),
                        "analyze" | "verbose" | "settings" | "buffers" | "wal"
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Media::Plan {
        json: item.ty.ends_with("+json"),
        for_media,
        options,
    }
}

/// PGRST107 naming the types `accept` listed.
fn unavailable(accept: &str) -> ApiError {
    let list: Vec<&str> = accept.split(',').map(str::trim).collect();
    ApiError::new(
        Code::MediaType,
        format!(
            "None of these media types are available: {}",
            list.join(", ")
        ),
    )
}

/// The media type a function returning the media-type domain `domain` answers `accept` with:
/// a `*/*` domain answers any type; another answers its own type when `accept` lists it, its
/// `type/*` range or `*/*`, or the plan of that body when a plan `for` it comes first
/// (PGRST107 otherwise).
pub fn negotiate_domain(
    accept: Option<&str>,
    domain: &str,
    plan_enabled: bool,
) -> Result<Media, ApiError> {
    if domain == "*/*" {
        return Ok(Media::Domain(domain.to_string()));
    }
    let raw = accept.unwrap_or("*/*");
    let items = parse_accept(raw);
    if items.is_empty() {
        return Ok(Media::Domain(domain.to_string()));
    }
    let range = domain.split('/').next().map(|t| format!("{t}/*"));
    for i in &items {
        if i.ty == domain || i.ty == "*/*" || Some(&i.ty) == range.as_ref() {
            return Ok(Media::Domain(domain.to_string()));
        }
        let for_domain = i
            .params
            .get("for")
            .is_some_and(|f| f.eq_ignore_ascii_case(domain));
        if plan_enabled && is_plan(&i.ty) && for_domain {
            return Ok(plan_media(i, domain.to_string()));
        }
    }
    Err(unavailable(raw))
}

fn default_media(p: Producer) -> Media {
    match p {
        Producer::Root => Media::OpenApi,
        _ => Media::Json,
    }
}

/// `Prefer: return=…`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Return {
    #[default]
    Minimal,
    Representation,
    HeadersOnly,
}

/// `Prefer: count=…`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Exact,
    Planned,
    Estimated,
}

/// `Prefer: resolution=…`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

/// The parsed `Prefer` header(s).
#[derive(Debug, Clone, Default)]
pub struct Prefer {
    pub return_: Option<Return>,
    pub count: Option<Count>,
    pub resolution: Option<Resolution>,
    pub missing_default: bool,
    pub strict: bool,
    pub lenient: bool,
    pub max_affected: Option<i64>,
    /// `Some(true)` commit, `Some(false)` rollback.
    pub tx_commit: Option<bool>,
    pub timezone: Option<String>,
    pub single_object: bool,
    /// Tokens that were not understood.
    pub invalid: Vec<String>,
}

/// What kind of request preferences are applied to: it decides which of them can take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferenceScope {
    Read,
    /// A `POST` insert; `resolution`: whether an on-conflict resolution took part (a primary
    /// key or `on_conflict` to resolve on).
    Insert {
        resolution: bool,
    },
    Update,
    Delete,
    /// A single-row `PUT` upsert.
    Put,
    Call,
}

/// The preferences that took effect, in the order `Preference-Applied` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreferenceApplied(Vec<String>);

impl PreferenceApplied {
    /// The tokens of `prefer` that `action` honours; `tx`: the transaction's end when the
    /// client may choose it (`Prefer: tx=`) and did. `handling`, `count` and `timezone` take
    /// effect everywhere; `return` on writes; `missing` on inserts and updates; `resolution` on
    /// inserts that resolve conflicts; `max-affected` (echoed with `handling=strict` only) on
    /// updates, deletes and calls.
    pub fn new(prefer: &Prefer, action: PreferenceScope, tx: Option<bool>) -> PreferenceApplied {
        use PreferenceScope as S;
        let resolution = matches!(action, S::Insert { resolution: true });
        let missing = matches!(action, S::Insert { .. } | S::Update);
        let returns = matches!(action, S::Insert { .. } | S::Update | S::Delete | S::Put);
        let max_affected = matches!(action, S::Update | S::Delete | S::Call);
        let mut out: Vec<String> = Vec::new();
        if prefer.single_object {
            out.push("params=single-object".into());
        }
        if resolution {
            match prefer.resolution {
                Some(Resolution::MergeDuplicates) => out.push("resolution=merge-duplicates".into()),
                Some(Resolution::IgnoreDuplicates) => {
                    out.push("resolution=ignore-duplicates".into())
                }
                None => {}
            }
        }
        if missing && prefer.missing_default {
            out.push("missing=default".into());
        }
        if returns {
            match prefer.return_ {
                Some(Return::Representation) => out.push("return=representation".into()),
                Some(Return::Minimal) => out.push("return=minimal".into()),
                Some(Return::HeadersOnly) => out.push("return=headers-only".into()),
                None => {}
            }
        }
        match prefer.count {
            Some(Count::Exact) => out.push("count=exact".into()),
            Some(Count::Planned) => out.push("count=planned".into()),
            Some(Count::Estimated) => out.push("count=estimated".into()),
            None => {}
        }
        if let Some(commit) = tx {
            out.push(if commit { "tx=commit" } else { "tx=rollback" }.into());
        }
        if prefer.strict {
            out.push("handling=strict".into());
        } else if prefer.lenient {
            out.push("handling=lenient".into());
        }
        if let Some(tz) = &prefer.timezone {
            out.push(format!("timezone={tz}"));
        }
        if let (true, true, Some(n)) = (max_affected, prefer.strict, prefer.max_affected) {
            out.push(format!("max-affected={n}"));
        }
        PreferenceApplied(out)
    }

    /// The header's value, when any preference took effect.
    pub fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join(", "))
    }
}

impl Prefer {
    pub fn parse(headers: &HeaderMap) -> Prefer {
        let mut p = Prefer::default();
        for v in headers.get_all("prefer") {
            let Ok(v) = v.to_str() else { continue };
            for tok in v.split(',') {
                let tok = tok.trim();
                if tok.is_empty() {
                    continue;
                }
                match tok {
                    "return=minimal" => p.return_ = Some(Return::Minimal),
                    "return=representation" => p.return_ = Some(Return::Representation),
                    "return=headers-only" => p.return_ = Some(Return::HeadersOnly),
                    "count=exact" => p.count = Some(Count::Exact),
                    "count=planned" => p.count = Some(Count::Planned),
                    "count=estimated" => p.count = Some(Count::Estimated),
                    "count=none" => p.count = None,
                    "resolution=merge-duplicates" => {
                        p.resolution = Some(Resolution::MergeDuplicates)
                    }
                    "resolution=ignore-duplicates" => {
                        p.resolution = Some(Resolution::IgnoreDuplicates)
                    }
                    "missing=default" => p.missing_default = true,
                    "missing=null" => p.missing_default = false,
                    "handling=strict" => p.strict = true,
                    "handling=lenient" => p.lenient = true,
                    "tx=commit" => p.tx_commit = Some(true),
                    "tx=rollback" => p.tx_commit = Some(false),
                    "params=single-object" => p.single_object = true,
                    t => {
                        if let Some(n) = t.strip_prefix("max-affected=") {
                            match n.parse() {
                                Ok(n) => p.max_affected = Some(n),
                                Err(_) => p.invalid.push(t.to_string()),
                            }
                        } else if let Some(tz) = t.strip_prefix("timezone=") {
                            p.timezone = Some(tz.to_string());
                        } else {
                            p.invalid.push(t.to_string());
                        }
                    }
                }
            }
        }
        p
    }
}

/// Query-string parameters, split by meaning.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    pub select: Option<Vec<SelectItem>>,
    /// Filters with their embed path.
    pub filters: Vec<Filter>,
    /// Logic trees with their embed path.
    pub logic: Vec<(Vec<String>, Logic)>,
    pub order: Vec<(Vec<String>, Vec<OrderTerm>)>,
    pub limit: Vec<(Vec<String>, i64)>,
    pub offset: Vec<(Vec<String>, i64)>,
    pub columns: Option<Vec<String>>,
    pub on_conflict: Option<Vec<String>>,
    /// Every non-reserved `key=value` pair, raw (RPC arguments for GET).
    pub raw: Vec<(String, String)>,
    /// Whether the query string had any filter (for safe updates).
    pub has_filters: bool,
}

fn split_key(key: &str) -> (Vec<String>, String) {
    // The last dotted segment is the parameter; dots inside `->` paths are not expected.
    let mut parts: Vec<String> = key.split('.').map(str::to_string).collect();
    if parts.len() >= 2 && parts[parts.len() - 2] == "not" {
        let last = parts.pop().unwrap_or_default();
        parts.pop();
        return (parts, format!("not.{last}"));
    }
    let last = parts.pop().unwrap_or_default();
    (parts, last)
}

/// Split `(key, value)` pairs into PostgREST parameters. `rpc_get` keeps unparseable values as
/// raw arguments instead of failing.
pub fn parse_query(pairs: &[(String, String)], rpc: bool) -> Result<QueryParams, ApiError> {
    let mut q = QueryParams::default();
    for (k, v) in pairs {
        let (path, last) = split_key(k);
        match last.as_str() {
            "select" if path.is_empty() => q.select = Some(grammar::parse_select(v)?),
            "order" => {
                if !v.is_empty() {
                    q.order.push((path, grammar::parse_order(v)?));
                }
            }
            "limit" => {
                let n = v.trim().parse::<i64>().map_err(|_| {
                    ApiError::parse(
                        format!("\"failed to parse limit parameter ({v})\""),
                        "expecting an integer".into(),
                    )
                })?;
                if n < 0 {
                    return Err(ApiError::new(
                        Code::InvalidRange,
                        "Requested range not satisfiable",
                    )
                    .with_details("Limit should be greater than or equal to zero."));
                }
                q.limit.push((path, n));
            }
            "offset" => {
                let n = v.trim().parse::<i64>().map_err(|_| {
                    ApiError::parse(
                        format!("\"failed to parse offset parameter ({v})\""),
                        "expecting an integer".into(),
                    )
                })?;
                q.offset.push((path, n));
            }
            "columns" if path.is_empty() => {
                q.columns = Some(grammar::parse_columns(v, "columns parameter")?)
            }
            "on_conflict" if path.is_empty() => {
                q.on_conflict = Some(grammar::parse_columns(v, "on_conflict parameter")?)
            }
            "or" | "and" | "not.or" | "not.and" => {
                let negated = last.starts_with("not.");
                let or = last.ends_with("or");
                q.logic.push((path, grammar::parse_logic(negated, or, v)?));
                q.has_filters = true;
            }
            _ => {
                q.raw.push((k.clone(), v.clone()));
                if rpc {
                    // Arguments or filters: decided later against the function's parameters.
                    continue;
                }
                let field = grammar::parse_field(&last, "filter")?;
                let expr = grammar::parse_op_expr(v)?;
                q.filters.push(Filter { path, field, expr });
                q.has_filters = true;
            }
        }
    }
    Ok(q)
}

/// Re-parse the raw pairs of an RPC GET that are not arguments as filters.
pub fn rpc_filters(q: &mut QueryParams, args: &[String]) -> Result<(), ApiError> {
    for (k, v) in q.raw.clone() {
        if args.contains(&k) {
            continue;
        }
        let (path, last) = split_key(&k);
        let field = grammar::parse_field(&last, "filter")?;
        let expr = grammar::parse_op_expr(&v)?;
        q.filters.push(Filter { path, field, expr });
        q.has_filters = true;
    }
    Ok(())
}

/// Decode a query string: `+` is a space, `%XX` escapes.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Parse the path (relative to the mount point) into a target.
pub fn parse_target(path: &str) -> Result<Target, ApiError> {
    let decoded: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    match decoded.as_slice() {
        [] => Ok(Target::Root),
        [rel] => Ok(Target::Relation(rel.clone())),
        [rpc, f] if rpc == "rpc" => Ok(Target::Rpc(f.clone())),
        _ => Err(ApiError::new(
            Code::InvalidPath,
            "Invalid path specified in request URL",
        )),
    }
}

/// The schema a request runs against and the `Content-Profile` to echo.
pub fn resolve_schema(
    config: &Config,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(String, Option<String>), ApiError> {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let profile = if method == Method::GET || method == Method::HEAD {
        get("accept-profile")
    } else {
        get("content-profile").or_else(|| get("accept-profile"))
    };
    let default_schema = config.schemas[0].clone();
    let Some(profile) = profile else {
        return Ok((default_schema, None));
    };
    if let Some(s) = config.schema_aliases.get(&profile) {
        return Ok((s.clone(), None));
    }
    if profile == "headers" || profile == "multi" {
        let schema = if config.schemas.contains(&profile) {
            profile.clone()
        } else {
            config.profile_default.clone().unwrap_or(default_schema)
        };
        return Ok((schema, config.profile_default.clone()));
    }
    if config.schemas.contains(&profile) {
        let echo = if config.profile_schemas.is_empty() {
            (config.schemas.len() > 1).then(|| profile.clone())
        } else {
            config
                .profile_schemas
                .contains(&profile)
                .then(|| profile.clone())
        };
        return Ok((profile, echo));
    }
    let listed = if config.profile_schemas.is_empty() {
        &config.schemas
    } else {
        &config.profile_schemas
    };
    Err(ApiError::new(
        Code::UnacceptableSchema,
        format!("Invalid schema: {profile}"),
    )
    .with_hint(format!(
        "Only the following schemas are exposed: {}",
        listed.join(", ")
    )))
}

/// Page `q` by the `Range` header, if any: it replaces the top-level `limit`/`offset`.
pub fn apply_range(q: &mut QueryParams, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some((from, to)) = parse_range(headers)? {
        q.offset.retain(|(p, _)| !p.is_empty());
        q.limit.retain(|(p, _)| !p.is_empty());
        q.offset.push((vec![], from));
        if let Some(to) = to {
            q.limit.push((vec![], to - from + 1));
        }
    }
    Ok(())
}

/// `Range: 0-9` (with `Range-Unit: items`) as (offset, optional last index).
pub fn parse_range(headers: &HeaderMap) -> Result<Option<(i64, Option<i64>)>, ApiError> {
    let Some(r) = headers.get("range").and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let r = r.trim();
    let r = r.strip_prefix("items=").unwrap_or(r);
    let Some((a, b)) = r.split_once('-') else {
        return Ok(None);
    };
    let Ok(from) = a.trim().parse::<i64>() else {
        return Ok(None);
    };
    let to = if b.trim().is_empty() {
        None
    } else {
        match b.trim().parse::<i64>() {
            Ok(t) => Some(t),
            Err(_) => return Ok(None),
        }
    };
    if let Some(t) = to {
        if t < from {
            return Err(ApiError::new(Code::InvalidRange, "Requested range not satisfiable").with_details(
                "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
            ));
        }
    }
    Ok(Some((from, to)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("/").expect("root"), Target::Root);
        assert_eq!(
            parse_target("/items").expect("rel"),
            Target::Relation("items".into())
        );
        assert_eq!(
            parse_target("/rpc/f").expect("rpc"),
            Target::Rpc("f".into())
        );
        assert_eq!(parse_target("/a/b/c").expect_err("bad").code, "PGRST125");
    }

    #[test]
    fn accept_negotiation() {
        let p = Producer::Relation;
        assert_eq!(
            negotiate(Some("text/csv, */*"), p, false).expect("csv"),
            Media::Csv
        );
        assert_eq!(
            negotiate(
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                p,
                false
            )
            .expect("json"),
            Media::Json
        );
        assert_eq!(
            negotiate(Some("application/octet-stream"), p, false)
                .expect_err("406")
                .code,
            "PGRST107"
        );
        assert_eq!(
            negotiate(None, Producer::Root, false).expect("root"),
            Media::OpenApi
        );
    }

    #[test]
    fn query_split() {
        let pairs = query_pairs(
            "select=id&id=eq.1&tasks.order=name.asc&tasks.limit=2&or=(a.eq.1,b.eq.2)&name=eq.a+b",
        );
        let q = parse_query(&pairs, false).expect("parses");
        assert_eq!(q.filters.len(), 2);
        assert_eq!(q.order[0].0, vec!["tasks".to_string()]);
        assert_eq!(q.limit[0], (vec!["tasks".to_string()], 2));
        assert_eq!(q.logic.len(), 1);
        assert!(
            matches!(&q.filters[1].expr.pred, grammar::Predicate::Compare { value, .. } if value == "a b")
        );
    }

    #[test]
    fn prefer_tokens() {
        let mut h = HeaderMap::new();
        h.append(
            "prefer",
            "return=representation, count=exact".parse().expect("hv"),
        );
        h.append("prefer", "max-affected=5, bogus".parse().expect("hv"));
        let p = Prefer::parse(&h);
        assert_eq!(p.return_, Some(Return::Representation));
        assert_eq!(p.count, Some(Count::Exact));
        assert_eq!(p.max_affected, Some(5));
        assert_eq!(p.invalid, vec!["bogus".to_string()]);
    }

    proptest::proptest! {
        #[test]
        fn query_strings_never_panic_and_fail_as_400(
            key in "(select|order|limit|offset|or|and|columns|[a-z]{1,6}(\\.[a-z]{1,4})?)",
            value in "[a-z0-9.,()\\[\\]{}\"*:!>\\- ]{0,30}",
        ) {
            if let Err(e) = parse_query(&[(key, value)], false) {
                proptest::prop_assert_eq!(e.status.as_u16(), 400);
                proptest::prop_assert!(e.code.starts_with("PGRST"));
            }
        }
    }

    #[test]
    fn preference_applied_by_action() {
        let mut h = HeaderMap::new();
        h.insert(
            "prefer",
            "return=representation, count=exact, resolution=merge-duplicates, missing=default, handling=strict, max-affected=5, timezone=UTC"
                .parse()
                .expect("header"),
        );
        let p = Prefer::parse(&h);
        assert_eq!(
            PreferenceApplied::new(&p, PreferenceScope::Read, None)
                .header()
                .as_deref(),
            Some("count=exact, handling=strict, timezone=UTC")
        );
        assert_eq!(
            PreferenceApplied::new(&p, PreferenceScope::Insert { resolution: true }, Some(false))
                .header()
                .as_deref(),
            Some("resolution=merge-duplicates, missing=default, return=representation, count=exact, tx=rollback, handling=strict, timezone=UTC")
        );
        assert_eq!(
            PreferenceApplied::new(&p, PreferenceScope::Insert { resolution: false }, None)
                .header()
                .as_deref(),
            Some("missing=default, return=representation, count=exact, handling=strict, timezone=UTC")
        );
        assert_eq!(
            PreferenceApplied::new(&p, PreferenceScope::Update, None)
                .header()
                .as_deref(),
            Some(
                "missing=default, return=representation, count=exact, handling=strict, timezone=UTC, max-affected=5"
            )
        );
        assert_eq!(
            PreferenceApplied::new(&p, PreferenceScope::Delete, None)
                .header()
                .as_deref(),
            Some(
                "return=representation, count=exact, handling=strict, timezone=UTC, max-affected=5"
            )
        );
        assert_eq!(
            PreferenceApplied::new(&p, PreferenceScope::Put, None)
                .header()
                .as_deref(),
            Some("return=representation, count=exact, handling=strict, timezone=UTC")
        );
        assert_eq!(
            PreferenceApplied::new(&p, PreferenceScope::Call, None)
                .header()
                .as_deref(),
            Some("count=exact, handling=strict, timezone=UTC, max-affected=5")
        );
        assert_eq!(
            PreferenceApplied::new(&Prefer::default(), PreferenceScope::Read, None).header(),
            None
        );
    }

    #[test]
    fn media_type_domains_answer_their_own_type() {
        let any = negotiate_domain(Some("app/bingo"), "*/*", true).expect("any");
        assert_eq!(any.content_type(), "application/octet-stream");
        let png = |accept| negotiate_domain(Some(accept), "image/png", true);
        for accept in ["image/png", "image/*", "text/html, */*;q=0.8"] {
            assert_eq!(
                png(accept).expect(accept),
                Media::Domain("image/png".into())
            );
        }
        assert_eq!(png("image/png").expect("png").content_type(), "image/png");
        let plan = negotiate_domain(
            Some("application/vnd.pgrst.plan+json; for=\"Text/XML\"; options=verbose"),
            "text/xml",
            true,
        );
        assert_eq!(
            plan.expect("plan").content_type(),
            "application/vnd.pgrst.plan+json; for=\"text/xml\"; options=verbose; charset=utf-8"
        );
        let off = negotiate_domain(
            Some("application/vnd.pgrst.plan; for=\"text/xml\""),
            "text/xml",
            false,
        );
        assert_eq!(off.expect_err("406").code, "PGRST107");
        for (domain, ct) in [
            ("text/plain", "text/plain; charset=utf-8"),
            ("Text/XML", "text/xml; charset=utf-8"),
            ("application/json", "application/json; charset=utf-8"),
            (
                "application/geo+json",
                "application/geo+json; charset=utf-8",
            ),
            ("application/octet-stream", "application/octet-stream"),
            ("text/special", "text/special"),
        ] {
            assert_eq!(Media::Domain(domain.into()).content_type(), ct);
        }
        let e = png("text/csv, app/x").expect_err("406");
        assert_eq!(
            e.message,
            "None of these media types are available: text/csv, app/x"
        );
    }

    #[test]
    fn api_requests_are_parsed_once_into_actions() {
        let config = Config {
            schemas: vec!["public".into(), "other".into()],
            ..Config::default()
        };
        let parse = |m: Method, path: &str, query: &str, headers: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in headers {
                h.insert(*k, v.parse().expect("header"));
            }
            ApiRequest::parse(&config, &m, path, query, &h)
        };
        let r = parse(Method::GET, "/items", "select=id&id=eq.1", &[]).expect("read");
        assert_eq!(r.action, Action::Read("items".into()));
        assert_eq!(r.schema, "public");
        assert_eq!(r.params().expect("params").filters.len(), 1);
        let r = parse(Method::PUT, "/items", "", &[("content-profile", "other")]).expect("put");
        assert_eq!(r.action, Action::Upsert("items".into()));
        assert_eq!(
            (r.schema.as_str(), r.profile_echo.as_deref()),
            ("other", Some("other"))
        );
        let r = parse(Method::POST, "/rpc/f", "x=1", &[]).expect("call");
        assert_eq!(r.action, Action::Call("f".into()));
        let r = parse(Method::OPTIONS, "/", "", &[]).expect("info");
        assert_eq!(r.action, Action::Info(Target::Root));
        // Errors, each with its code and status.
        let e = parse(Method::PATCH, "/rpc/f", "", &[]).expect_err("405");
        assert_eq!((e.code(), e.status.as_u16()), ("PGRST101", 405));
        let e = parse(Method::POST, "/", "", &[]).expect_err("405");
        assert_eq!((e.code(), e.status.as_u16()), ("PGRST117", 405));
        let e = parse(Method::GET, "/a/b/c", "", &[]).expect_err("path");
        assert_eq!(e.code(), "PGRST125");
        let e = parse(Method::GET, "/items", "", &[("accept-profile", "nope")]).expect_err("406");
        assert_eq!(e.code(), "PGRST106");
        let e = parse(
            Method::GET,
            "/items",
            "",
            &[("prefer", "handling=strict, bogus=1")],
        )
        .expect_err("strict");
        assert_eq!(e.code(), "PGRST122");
        // A query string that does not parse is kept until the action needs it.
        let r = parse(Method::GET, "/items", "select=a(", &[]).expect("parsed lazily");
        assert_eq!(r.params().expect_err("100").code(), "PGRST100");
    }
}
