//! The HTTP face: `POST` with a JSON body `{query, variables, operationName}`, or `GET` with the
//! same as query parameters (`variables` JSON-encoded). The caller is the bearer token's role
//! (the `apikey` when no `Authorization` is sent), `anon` without a token; a refused token is a
//! 401. Everything else answers 200 with GraphQL's `data`/`errors`, as pg_graphql behind
//! Supabase's gateway does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::app::{errors, App, Caller, GqlRequest};

pub fn routes(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

/// The caller named by the request's token.
pub fn caller(app: &App, headers: &HeaderMap) -> Result<Caller, String> {
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = match auth {
        Some(h) => Some(basalt_identity::bearer(h).ok_or("Invalid Authorization header")?),
        None => headers
            .get("apikey")
            .and_then(|v| v.to_str().ok())
            .filter(|k| k.split('.').count() == 3),
    };
    let Some(token) = token else {
        let anon = &app.config.anon_role;
        return Ok(Caller {
            role: anon.clone(),
            claims: json!({ "role": anon }).to_string(),
            ..Caller::default()
        });
    };
    let claims = app.config.keys.verify(token).map_err(|e| e.to_string())?;
    let mut map = claims.map().clone();
    let role = match map.get("role").and_then(Value::as_str) {
        Some(r) => r.to_string(),
        None => {
            map.insert("role".into(), Value::String(app.config.anon_role.clone()));
            app.config.anon_role.clone()
        }
    };
    Ok(Caller {
        role,
        claims: Value::Object(map).to_string(),
        ..Caller::default()
    })
}

fn from_query(uri: &Uri) -> GqlRequest {
    let mut r = GqlRequest::default();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "query" => r.query = v.into_owned(),
            "variables" => r.variables = Some(Value::String(v.into_owned())),
            "operationName" => r.operation_name = Some(v.into_owned()).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    r
}

async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    OriginalUri(original): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    if !path.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "no route matched with those values"})),
        )
            .into_response();
    }
    let req = match method {
        Method::GET => from_query(&uri),
        Method::POST => match serde_json::from_slice::<GqlRequest>(&body) {
            Ok(r) => r,
            Err(e) => return Json(errors(format!("Invalid request body: {e}"))).into_response(),
        },
        _ => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(errors("Only GET and POST are supported")),
            )
                .into_response()
        }
    };
    let caller = match caller(&app, &headers) {
        Ok(mut c) => {
            // The request as `request.*` shows it, as REST sets it.
            c.method = method.to_string();
            c.path = original.path().to_string();
            (c.headers, c.cookies) = basalt_pg::request::headers_json(
                headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
            );
            c
        }
        Err(e) => {
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Bearer error=\"invalid_token\"")],
                Json(json!({"code": "PGRST301", "message": e, "errors": [{"message": e}]})),
            )
                .into_response()
        }
    };
    Json(app.execute(&caller, req).await).into_response()
}
