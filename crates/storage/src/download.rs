//! Serving object bytes: the row is read (as the caller, or for public buckets and signed URLs
//! as the service), then the bytes stream from the store with `Range`, `ETag`,
//! `If-None-Match`, `If-Modified-Since`, `Last-Modified` and `?download` handled.

use std::ops::Range;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use crate::app::{query_param, State};
use crate::blob::object_key;
use crate::db::act_as;
use crate::error::ApiError;
use crate::route::Access;

/// What is needed to serve an object.
#[derive(Debug, Clone)]
pub struct Stored {
    pub version: String,
    pub metadata: Value,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub name: String,
}

const SELECT_STORED: &str = "SELECT o.version, coalesce(o.metadata, '{}'::jsonb), \
     coalesce(o.updated_at, o.created_at, now()), o.name FROM storage.objects o \
     WHERE o.bucket_id = $1 AND o.name = $2";

fn stored(row: &tokio_postgres::Row) -> Result<Stored, ApiError> {
    let version: Option<String> = row.get(0);
    Ok(Stored {
        version: version.ok_or(ApiError::NoSuchKey)?,
        metadata: row.get(1),
        updated_at: row.get(2),
        name: row.get(3),
    })
}

/// Prepares `tx` to read an object of `bucket` the way `access` allows, as storage-api's object
/// reads do: the bucket must exist (`NoSuchBucket`); a public bucket's objects are read without
/// row level security; otherwise the caller's policies decide. A caller without a valid token
/// (`Access::Optional` only; `Access::Authenticated` refuses it) and `Access::Public` read public
/// buckets only, and are told `NoSuchBucket` about any other.
pub async fn prepare_read(
    tx: &deadpool_postgres::Transaction<'_>,
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    access: Access,
) -> Result<(), ApiError> {
    let caller = match access {
        Access::Authenticated => Some(state.caller(h)?),
        Access::Optional => state.caller(h).ok(),
        Access::Public => None,
    };
    let public = tx
        .query_opt(
            "SELECT public FROM storage.buckets WHERE id = $1",
            &[&bucket],
        )
        .await?
        .map(|r| r.get::<_, Option<bool>>(0).unwrap_or(false));
    match (public, caller) {
        (Some(true), _) => Ok(()),
        (Some(false), Some(caller)) => act_as(tx, &caller).await,
        _ => Err(ApiError::NoSuchBucket),
    }
}

/// Looks an object up for a download or HEAD, as [`prepare_read`] allows.
pub async fn lookup(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    name: &str,
    access: Access,
) -> Result<Stored, ApiError> {
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    prepare_read(&tx, state, h, bucket, access).await?;
    read_in(tx, bucket, name).await
}

/// Reads the object's row in `tx` (prepared for the caller) and commits.
async fn read_in(
    tx: deadpool_postgres::Transaction<'_>,
    bucket: &str,
    name: &str,
) -> Result<Stored, ApiError> {
    let row = tx.query_opt(SELECT_STORED, &[&bucket, &name]).await?;
    tx.commit().await?;
    stored(&row.ok_or(ApiError::NoSuchKey)?)
}

/// Looks an object up as the caller of `h` (a valid token required), whose policies alone
/// decide, whatever the bucket: image renders and signing a URL.
pub async fn lookup_as_caller(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    name: &str,
) -> Result<Stored, ApiError> {
    let caller = state.caller(h)?;
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    read_in(tx, bucket, name).await
}

/// Looks an object up without a caller (signed URLs: the token already authorised it).
pub async fn lookup_as_service(
    state: &State,
    bucket: &str,
    name: &str,
) -> Result<Stored, ApiError> {
    let conn = state.db.conn().await?;
    let row = conn.query_opt(SELECT_STORED, &[&bucket, &name]).await?;
    stored(&row.ok_or(ApiError::NoSuchKey)?)
}

pub async fn handle(
    state: &State,
    h: &HeaderMap,
    query: &str,
    bucket: &str,
    name: &str,
    access: Access,
    head: bool,
) -> Result<Response, ApiError> {
    let obj = lookup(state, h, bucket, name, access).await?;
    serve(state, h, query, &obj, head, None).await
}

/// A parsed `Range` header, resolved against the object size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeSpec {
    /// No (usable) range: the whole object.
    Full,
    /// One satisfiable range, end exclusive.
    Part(Range<u64>),
    /// A range that cannot be satisfied.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` (a single range; other forms are ignored as
/// HTTP allows).
pub fn parse_range(header: Option<&str>, size: u64) -> RangeSpec {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        (true, true) => return RangeSpec::Full,
        (true, false) => match b.parse::<u64>() {
            Ok(0) => return RangeSpec::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size),
            Err(_) => return RangeSpec::Full,
        },
        (false, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return RangeSpec::Full;
            };
            let end = if b.is_empty() {
                size
            } else {
                match b.parse::<u64>() {
                    Ok(e) if e >= start => e.saturating_add(1).min(size),
                    _ => return RangeSpec::Full,
                }
            };
            (start, end)
        }
    };
    if parsed.0 >= size {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Part(parsed.0..parsed.1)
}

/// What a URI component escapes: every byte but ASCII letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The `Content-Disposition` of `?download=<file>`, as storage-api sends it: the name escaped
/// as a URI component, in both the plain and the RFC 5987 parameter (so `report.pdf` stays
/// `report.pdf` for clients that only read `filename`); a bare `?download` names no file (the
/// client takes the URL's).
pub(crate) fn attachment(file: &str) -> String {
    if file.is_empty() {
        return "attachment;".to_string();
    }
    let enc = percent_encoding::utf8_percent_encode(file, URI_COMPONENT);
    format!("attachment; filename={enc}; filename*=UTF-8''{enc}")
}

fn hv(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// Whether `If-None-Match` matches `etag` (weak comparison, `*` matches).
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

/// Streams `obj` as the response.
/// The `Content-Type` an object is served with: its own, except that HTML is served as plain
/// text, as storage-api serves it, so that stored pages never run as the project's origin.
pub fn served_type(mime: &str) -> &str {
    if mime.to_ascii_lowercase().contains("text/html") {
        "text/plain"
    } else {
        mime
    }
}

/// Serves `obj`'s bytes (or, for `head`, its headers). `expires` (an HTTP date: when a signed
/// URL's token expires) is sent as `Expires` instead of the object's `Cache-Control`.
pub async fn serve(
    state: &State,
    h: &HeaderMap,
    query: &str,
    obj: &Stored,
    head: bool,
    expires: Option<String>,
) -> Result<Response, ApiError> {
    let etag = obj
        .metadata
        .get("eTag")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("\"{}\"", obj.version));
    let mime = obj
        .metadata
        .get("mimetype")
        .and_then(Value::as_str)
        .unwrap_or("application/octet-stream")
        .to_string();
    let cache = obj
        .metadata
        .get("cacheControl")
        .and_then(Value::as_str)
        .unwrap_or("no-cache")
        .to_string();
    let last_modified = httpdate::fmt_http_date(std::time::SystemTime::from(obj.updated_at));

    let mut common = HeaderMap::new();
    if let Some(v) = hv(&etag) {
        common.insert(header::ETAG, v);
    }
    if let Some(v) = hv(&last_modified) {
        common.insert(header::LAST_MODIFIED, v);
    }
    match expires.as_deref() {
        Some(at) => {
            if let Some(v) = hv(at) {
                common.insert(header::EXPIRES, v);
            }
        }
        None => {
            if let Some(v) = hv(&cache) {
                common.insert(header::CACHE_CONTROL, v);
            }
        }
    }
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    common.insert("x-robots-tag", HeaderValue::from_static("none"));

    let not_modified = match h.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        Some(inm) => etag_matches(inm, &etag),
        None => h
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                std::time::SystemTime::from(obj.updated_at)
                    .duration_since(since)
                    .map(|d| d.as_secs() == 0)
                    .unwrap_or(true)
            }),
    };
    if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r.headers_mut().extend(common);
        return Ok(r);
    }

    let key = object_key(&obj.version);
    // Rows written by other tools may lack the size; the store knows it.
    let size = match obj.metadata.get("size").and_then(Value::as_u64) {
        Some(n) => n,
        None => state.blobs.size(&key).await?,
    };
    let range_header = h.get(header::RANGE).and_then(|v| v.to_str().ok());
    let spec = parse_range(range_header, size);
    if spec == RangeSpec::Unsatisfiable {
        return Err(ApiError::InvalidRange { size });
    }
    let mut resp = Response::new(Body::empty());
    if let Some(dl) = query_param(query, "download") {
        if let Some(v) = hv(&attachment(&dl)) {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    if let Some(v) = hv(served_type(&mime)) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.headers_mut().extend(common);
    let (status, range) = match &spec {
        RangeSpec::Part(r) => (StatusCode::PARTIAL_CONTENT, Some(r.clone())),
        _ => (StatusCode::OK, None),
    };
    if let Some(r) = &range {
        if let Some(v) = hv(&format!("bytes {}-{}/{}", r.start, r.end - 1, size)) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    *resp.status_mut() = status;
    let length = range.as_ref().map(|r| r.end - r.start).unwrap_or(size);
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if head {
        return Ok(resp);
    }
    let download = state.blobs.read(&key, range).await?;
    *resp.body_mut() = Body::from_stream(download.stream);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), RangeSpec::Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), RangeSpec::Part(0..5));
        assert_eq!(parse_range(Some("bytes=5-"), 10), RangeSpec::Part(5..10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), RangeSpec::Part(7..10));
        assert_eq!(parse_range(Some("bytes=-30"), 10), RangeSpec::Part(0..10));
        assert_eq!(parse_range(Some("bytes=2-100"), 10), RangeSpec::Part(2..10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), RangeSpec::Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeSpec::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeSpec::Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), RangeSpec::Full);
    }

    #[test]
    fn etags() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\", \"x\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
