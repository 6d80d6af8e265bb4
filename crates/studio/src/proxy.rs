//! `/api/{rest,auth,storage,realtime}/…`: basalt's own APIs, called in-process with the service
//! role key. The browser never holds the key; the call goes through the same gateway a client's
//! does (apikey check, request id, the service's own rules).

use std::collections::HashMap;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use tower::ServiceExt;

use crate::session::{error, CSRF_HEADER};
use crate::Shared;

/// Headers of the dashboard's request that are not passed on.
const DROP: [HeaderName; 5] = [
    header::COOKIE,
    header::HOST,
    header::AUTHORIZATION,
    HeaderName::from_static("apikey"),
    HeaderName::from_static(CSRF_HEADER),
];

pub async fn call(
    State(state): State<Shared>,
    Path(params): Path<HashMap<String, String>>,
    req: Request,
) -> Response {
    let service = params.get("service").cloned().unwrap_or_default();
    let prefix = match service.as_str() {
        "rest" => "/rest/v1",
        "auth" => "/auth/v1",
        "storage" => "/storage/v1",
        // The Realtime inspector's WebSocket: the upgrade (hyper's `OnUpgrade` in the request's
        // extensions) travels in-process to the realtime service, which answers 101 and takes
        // the connection over; the socket acts with the service key, like the other calls.
        "realtime" => "/realtime/v1",
        _ => return error(StatusCode::NOT_FOUND, "no such API"),
    };
    let (mut parts, body) = req.into_parts();
    // `/api/rest/items?x` arrives here as `/rest/items?x` (the router strips `/api`).
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let tail = path_and_query
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(service.as_str()))
        .unwrap_or("");
    // The service's root (`/api/rest/`: the OpenAPI document) is asked for as `/rest/v1`, the
    // form every mount answers.
    let tail = if tail == "/" { "" } else { tail };
    let tail = tail
        .strip_prefix("/?")
        .map_or(tail.to_string(), |q| format!("?{q}"));
    let uri: Uri = match format!("{prefix}{tail}").parse() {
        Ok(u) => u,
        Err(_) => return error(StatusCode::BAD_REQUEST, "bad path"),
    };
    parts.uri = uri;
    for h in DROP {
        parts.headers.remove(h);
    }
    let key = &state.config.service_key;
    if let (Ok(apikey), Ok(bearer)) = (
        HeaderValue::from_str(key),
        HeaderValue::from_str(&format!("Bearer {key}")),
    ) {
        parts.headers.insert("apikey", apikey);
        parts.headers.insert(header::AUTHORIZATION, bearer);
    }
    let req = Request::from_parts(parts, body);
    match state.config.api.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}
