//! The service: shared state, start-up (pool, store, declared buckets, sweep) and the single
//! handler that resolves a request to a [`Route`] and runs it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use crate::auth::{Caller, Keys};
use crate::blob::Blobs;
use crate::config::Config;
use crate::db::Db;
use crate::error::ApiError;
use crate::route::{resolve, Route};
use crate::{buckets, download, list_v2, objects, render, signed, sweep, tus, upload, Error};

/// What every request needs.
pub struct State {
    pub config: Config,
    pub db: Db,
    pub blobs: Blobs,
    pub keys: Keys,
    /// Image transformations, when enabled.
    pub render: Option<crate::render::Renderer>,
}

impl State {
    /// Builds the pool and opens the store (no I/O against the database yet).
    pub fn connect(config: Config) -> Result<State, Error> {
        // Requests run as their callers on an `authenticator` session, and storage's own
        // bookkeeping as `service_role` (see `basalt_pg::caller`), whatever user the URL names.
        let pool = basalt_pg::pool::build_for_callers(
            &config.db_url,
            config.pool_size,
            Some("service_role"),
        )
        .map_err(|e| Error::Database(e.to_string()))?;
        let blobs = Blobs::open(&config.backend, config.part_size)?;
        let render = if config.image.enabled {
            Some(crate::render::Renderer::open(&config.image)?)
        } else {
            None
        };
        Ok(State {
            render,
            keys: Keys::new(&config.jwt_secret, config.keys.clone()),
            db: Db::new(pool),
            blobs,
            config,
        })
    }

    /// The verified caller of a request.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let auth = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.keys.caller(auth)
    }
}

/// Shared handle on the state.
pub type Shared = Arc<State>;

pub async fn build(config: Config) -> Result<axum::Router, Error> {
    let state = Arc::new(State::connect(config)?);
    buckets::seed(&state)
        .await
        .map_err(|e| Error::Database(e.to_string()))?;
    let sweeper = state.clone();
    tokio::spawn(async move {
        let report = sweep::run(&sweeper).await;
        tracing::info!(?report, "storage: start-up sweep done");
    });
    Ok(axum::Router::new()
        .fallback(dispatch)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state))
}

async fn dispatch(
    axum::extract::State(state): axum::extract::State<Shared>,
    req: Request,
) -> Response {
    // An unknown route names itself, as storage-api's answer does: `Route GET:/nowhere not found`.
    let route = format!(
        "{}:{}",
        req.method(),
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    match run(state, req).await {
        Ok(r) => r,
        Err(ApiError::NotFound(_)) => {
            ApiError::NotFound(format!("Route {route} not found")).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn run(state: Shared, req: Request) -> Result<Response, ApiError> {
    let route = resolve(req.method(), req.uri().path())?;
    let (parts, body): (http::request::Parts, Body) = req.into_parts();
    let head = parts.method == http::Method::HEAD;
    let full_path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let query = parts.uri.query().unwrap_or("").to_string();
    let h = &parts.headers;
    match route {
        Route::ListBuckets => buckets::list(&state, h, &query).await,
        Route::CreateBucket => buckets::create(&state, h, body).await,
        Route::GetBucket(id) => buckets::get(&state, h, &id).await,
        Route::UpdateBucket(id) => buckets::update(&state, h, &id, body).await,
        Route::DeleteBucket(id) => buckets::delete(&state, h, &id).await,
        Route::EmptyBucket(id) => buckets::empty(&state, h, &id).await,
        Route::Upload { bucket, name, put } => {
            upload::handle(&state, h, &bucket, &name, put, body).await
        }
        Route::Download {
            bucket,
            name,
            access,
        } => download::handle(&state, h, &query, &bucket, &name, access, head).await,
        Route::Info {
            bucket,
            name,
            access,
        } => objects::info(&state, h, &bucket, &name, access).await,
        Route::DeleteObject { bucket, name } => {
            objects::delete_one(&state, h, &bucket, &name).await
        }
        Route::DeleteObjects { bucket } => objects::delete_many(&state, h, &bucket, body).await,
        Route::List { bucket } => objects::list(&state, h, &bucket, body).await,
        Route::ListV2 { bucket } => list_v2::handle(&state, h, &bucket, body).await,
        Route::Move => objects::move_object(&state, h, body).await,
        Route::Copy => objects::copy_object(&state, h, body).await,
        Route::SignUrl { bucket, name } => signed::sign_one(&state, h, &bucket, &name, body).await,
        Route::SignUrls { bucket } => signed::sign_many(&state, h, &bucket, body).await,
        Route::SignedDownload { bucket, name } => {
            signed::download(&state, h, &query, &bucket, &name, head).await
        }
        Route::SignUploadUrl { bucket, name } => {
            signed::sign_upload(&state, h, &bucket, &name).await
        }
        Route::SignedUpload { bucket, name } => {
            signed::upload(&state, h, &query, &bucket, &name, body).await
        }
        Route::Render {
            bucket,
            name,
            access,
        } => render::handle(&state, h, &query, &bucket, &name, access, head).await,
        Route::TusOptions => Ok(tus::options(state.config.file_size_limit)),
        // A caller's token is checked before the TUS server sees the request; what the server
        // refuses after that (a signed upload's `x-signature` too) is answered in its
        // plain-text form.
        Route::TusCreate { signed } => {
            let actor = tus::Actor::of(&state, h, signed)?;
            tus::plain(tus::create(&state, &actor, h, &full_path, body).await)
        }
        Route::TusHead { id, signed } => {
            let actor = tus::Actor::of(&state, h, signed)?;
            tus::plain(tus::head(&state, &actor, &id).await)
        }
        Route::TusPatch { id, signed } => {
            let actor = tus::Actor::of(&state, h, signed)?;
            tus::plain(tus::patch(&state, &actor, h, &id, body).await)
        }
        Route::TusDelete { id, signed } => {
            let actor = tus::Actor::of(&state, h, signed)?;
            tus::plain(tus::delete(&state, &actor, &id).await)
        }
    }
}

/// Reads a small JSON request body (at most 1 MiB). An empty body reads as `{}`.
pub async fn json_body(body: Body) -> Result<serde_json::Value, ApiError> {
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .map_err(|_| ApiError::InvalidRequest("Request body too large or unreadable".into()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::InvalidRequest(format!("Invalid JSON body: {e}")))
}

/// Deserializes a JSON body into `T`. A missing field is described as storage-api's request
/// validation describes it (`body must have required property 'paths'`).
pub async fn typed_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let v = json_body(body).await?;
    serde_json::from_value(v).map_err(|e| ApiError::Validation(body_error(&e.to_string())))
}

/// The message for a body that does not fit its schema, from serde's.
fn body_error(serde: &str) -> String {
    match serde
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
    {
        Some((field, _)) => format!("body must have required property '{field}'"),
        None => format!("body/{serde}"),
    }
}

/// A JSON response with status 200.
pub fn json(v: serde_json::Value) -> Response {
    axum::Json(v).into_response()
}

/// A query parameter, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_errors_read_like_request_validation() {
        assert_eq!(
            super::body_error("missing field `paths`"),
            "body must have required property 'paths'"
        );
        assert_eq!(
            super::body_error("invalid type: string \"x\", expected i64"),
            "body/invalid type: string \"x\", expected i64"
        );
    }
}
