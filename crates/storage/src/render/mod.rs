//! Image transformations at Supabase's paths: `/render/image/authenticated/{bucket}/{name}`
//! (the caller's JWT and RLS decide, whatever the bucket),
//! `/render/image/public/{bucket}/{name}` (public buckets) and
//! `/render/image/sign/{bucket}/{name}?token=` (a signed URL whose token carries the
//! transformations, made by `POST /object/sign` with a `transform`). Options: `width`, `height`
//! (1 to the configured maximum, 2500 by default), `resize` (`cover`, `contain`, `fill`),
//! `quality` (20–100, default 80) and `format` (`origin` keeps the source's format; otherwise
//! WebP is served when the request's `Accept` names `image/webp`).
//!
//! Sources are PNG, JPEG, GIF (first frame) or WebP, at most `max_source_size` bytes and
//! `max_pixels` pixels, the latter read from the header before anything is decoded, so a
//! decompression bomb is refused at once. Decoding and resizing run on tokio's blocking pool
//! behind a semaphore of `workers` permits, which also bounds the memory of renders in flight.
//! Results are cached on local disk ([`cache`]) by object version and options.

pub mod cache;
pub mod engine;
pub mod options;

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use futures::TryStreamExt;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

use crate::app::{query_param, State};
use crate::auth::Scope;
use crate::blob::object_key;
use crate::download::{lookup, lookup_as_caller, lookup_as_service, Stored};
use crate::error::ApiError;
use crate::route::{Access, RenderAccess};

use cache::{Cache, Key};
use engine::{Bounds, Kind, RenderError};
use options::Format;
pub use options::Transform;

/// Settings of image transformations (`[storage.image_transformation]`, or storage-api's
/// `IMAGE_TRANSFORMATION_*` variables standalone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    /// Whether the `/render/image` routes answer (otherwise they are unknown routes, as in
    /// storage-api with the feature off).
    pub enabled: bool,
    /// Largest `width`/`height` accepted.
    pub max_dimension: u32,
    /// Largest source object, in bytes.
    pub max_source_size: u64,
    /// Most pixels a source may have.
    pub max_pixels: u64,
    /// Renders running at once (each holds one decoded image).
    pub workers: usize,
    /// Directory of the render cache (default: `basalt-render-cache` in the temp directory).
    pub cache_dir: Option<PathBuf>,
    /// Upper bound of the cache in bytes; 0 turns the cache off.
    pub cache_size: u64,
}

/// Supabase's documented limits: 2500 pixels a side, 25 MB and 50 megapixels a source.
impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            enabled: false,
            max_dimension: 2500,
            max_source_size: 25 * 1024 * 1024,
            max_pixels: 50_000_000,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            cache_dir: None,
            cache_size: 512 * 1024 * 1024,
        }
    }
}

/// The renderer: limits, the bounded pool and the cache.
pub struct Renderer {
    config: ImageConfig,
    permits: Arc<Semaphore>,
    cache: Option<Arc<Cache>>,
}

/// Header saying whether a render came from the cache (`hit`) or was made (`miss`).
pub const CACHE_HEADER: &str = "x-basalt-render-cache";

impl Renderer {
    /// Opens the cache directory (when the cache is on).
    pub fn open(config: &ImageConfig) -> Result<Renderer, crate::Error> {
        let cache = if config.cache_size > 0 {
            let dir = config
                .cache_dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("basalt-render-cache"));
            let cache = Cache::open(dir.clone(), config.cache_size).map_err(|e| {
                crate::Error::Config(format!("render cache {}: {e}", dir.display()))
            })?;
            Some(Arc::new(cache))
        } else {
            None
        };
        Ok(Renderer {
            permits: Arc::new(Semaphore::new(config.workers.max(1))),
            config: config.clone(),
            cache,
        })
    }

    /// The largest `width`/`height` accepted.
    pub fn max_dimension(&self) -> u32 {
        self.config.max_dimension
    }
}

/// What the response is encoded as, decided before the source is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Webp,
    Source,
}

fn output(t: &Transform, h: &HeaderMap) -> Output {
    match t.format {
        Some(Format::Webp) | Some(Format::Avif) => Output::Webp,
        Some(Format::Origin) => Output::Source,
        None => {
            let webp = h
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.to_ascii_lowercase().contains("image/webp"));
            if webp {
                Output::Webp
            } else {
                Output::Source
            }
        }
    }
}

/// `GET /render/image/{authenticated,public,sign}/{bucket}/{name}`.
pub async fn handle(
    state: &State,
    h: &HeaderMap,
    query: &str,
    bucket: &str,
    name: &str,
    access: RenderAccess,
    head: bool,
) -> Result<Response, ApiError> {
    let Some(renderer) = state.render.as_ref() else {
        return Err(ApiError::NotFound("Route not found".into()));
    };
    let max = renderer.max_dimension();
    let (obj, t, expires) = match access {
        RenderAccess::Authenticated => {
            let t = Transform::from_query(query, max)?;
            (lookup_as_caller(state, h, bucket, name).await?, t, None)
        }
        RenderAccess::Public => {
            let t = Transform::from_query(query, max)?;
            (
                lookup(state, h, bucket, name, Access::Public).await?,
                t,
                None,
            )
        }
        RenderAccess::Signed => {
            let token = query_param(query, "token")
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::MissingParameter("token".into()))?;
            let claims =
                state
                    .keys
                    .verify_url(&token, &format!("{bucket}/{name}"), Scope::Download)?;
            let t = Transform::from_claim(claims.transformations.as_deref().unwrap_or(""), max);

            let obj = lookup_as_service(state, bucket, name).await?;
            (obj, t, Some(crate::signed::http_date(claims.exp)))
        }
    };
    renderer
        .serve(state, h, query, bucket, &obj, &t, expires, head)
        .await
}

fn hv(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

fn etag_of(obj: &Stored) -> String {
    obj.metadata
        .get("eTag")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("\"{}\"", obj.version))
}

fn from_render(e: RenderError) -> ApiError {
    match e {
        RenderError::Unsupported | RenderError::TooManyPixels => {
            ApiError::InvalidRequest(e.to_string())
        }
        RenderError::Encode(m) => ApiError::Internal(m),
    }
}

impl Renderer {
    #[allow(clippy::too_many_arguments)]
    async fn serve(
        &self,
        state: &State,
        h: &HeaderMap,
        query: &str,
        bucket: &str,
        obj: &Stored,
        t: &Transform,
        expires: Option<String>,
        head: bool,
    ) -> Result<Response, ApiError> {
        let etag = etag_of(obj);
        let out = output(t, h);
        let mut headers = HeaderMap::new();
        if let Some(v) = hv(&etag) {
            headers.insert(header::ETAG, v);
        }
        let last_modified = httpdate::fmt_http_date(std::time::SystemTime::from(obj.updated_at));
        if let Some(v) = hv(&last_modified) {
            headers.insert(header::LAST_MODIFIED, v);
        }
        match expires.as_deref().and_then(hv) {
            Some(v) => {
                headers.insert(header::EXPIRES, v);
            }
            None => {
                let cache_control = obj
                    .metadata
                    .get("cacheControl")
                    .and_then(Value::as_str)
                    .unwrap_or("no-cache");
                if let Some(v) = hv(cache_control) {
                    headers.insert(header::CACHE_CONTROL, v);
                }
            }
        }
        if t.format != Some(Format::Origin) {
            headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        }
        headers.insert("x-robots-tag", HeaderValue::from_static("none"));
        let claim = t.claim();
        if let Some(v) = hv(&claim).filter(|_| !claim.is_empty()) {
            headers.insert("x-transformations", v);
        }
        if let Some(dl) = query_param(query, "download") {
            if let Some(v) = hv(&crate::download::attachment(&dl)) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
        }
        let not_modified = h
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|inm| {
                let bare = |s: &str| s.trim().trim_start_matches("W/").to_string();
                inm.split(',')
                    .any(|x| x.trim() == "*" || bare(x) == bare(&etag))
            });
        if not_modified {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            *r.headers_mut() = headers;
            return Ok(r);
        }

        let options = format!(
            "{};out={}",
            t.canonical(),
            if out == Output::Webp {
                "webp"
            } else {
                "source"
            }
        );
        let key = Key::new(bucket, &obj.name, &obj.version, &options);
        if let Some(path) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            if let Ok(resp) = cached_response(&path, headers.clone(), head).await {
                return Ok(resp);
            }
        }

        let rendered = self.render(state, obj, t, out).await?;
        if let Some(cache) = self.cache.clone() {
            let (bytes, key) = (rendered.1.clone(), key.clone());
            let stored = tokio::task::spawn_blocking(move || cache.put(&key, &bytes)).await;
            if let Ok(Err(e)) = stored {
                tracing::warn!(error = %e, "storage: render cache write failed");
            }
        }
        let (kind, bytes) = rendered;
        Ok(respond(
            headers,
            kind,
            bytes.len() as u64,
            "miss",
            head,
            || Body::from(bytes),
        ))
    }

    /// Reads the source (within the limits) and renders it on the blocking pool, holding one of
    /// the pool's permits from the read to the end of the render.
    async fn render(
        &self,
        state: &State,
        obj: &Stored,
        t: &Transform,
        out: Output,
    ) -> Result<(Kind, Vec<u8>), ApiError> {
        let too_large =
            || ApiError::InvalidRequest("The source image file is too large to process".into());
        let limit = self.config.max_source_size;
        if obj
            .metadata
            .get("size")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > limit)
        {
            return Err(too_large());
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("render pool closed".into()))?;
        let mut stream = state
            .blobs
            .read(&object_key(&obj.version), None)
            .await?
            .stream;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| ApiError::Internal(format!("read source: {e}")))?
        {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let bounds = Bounds {
            max_pixels: self.config.max_pixels,
        };
        let t = *t;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let kind = engine::sniff(&bytes).ok_or(RenderError::Unsupported)?;
            let target = match out {
                Output::Webp => Kind::Webp,
                Output::Source => kind,
            };
            engine::render(&bytes, kind, &t, target, bounds).map(|b| (target, b))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("render task: {e}")))?
        .map_err(from_render)
    }
}

fn respond(
    mut headers: HeaderMap,
    kind: Kind,
    len: u64,
    cache: &'static str,
    head: bool,
    body: impl FnOnce() -> Body,
) -> Response {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(CACHE_HEADER, HeaderValue::from_static(cache));
    let mut r = Response::new(if head { Body::empty() } else { body() });
    *r.headers_mut() = headers;
    r
}

/// A cached render, streamed from its file.
async fn cached_response(
    path: &std::path::Path,
    headers: HeaderMap,
    head: bool,
) -> std::io::Result<Response> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let mut magic = [0u8; 16];
    let n = file.read(&mut magic).await?;
    let kind = engine::sniff(&magic[..n]).ok_or_else(|| std::io::Error::other("unknown format"))?;
    let file = tokio::fs::File::open(path).await?;
    Ok(respond(headers, kind, len, "hit", head, || {
        Body::from_stream(tokio_util::io::ReaderStream::new(file))
    }))
}
