//! Uploads: the request body (raw, or the file part of a multipart form) streams into the store
//! while a transaction holds the object's row.
//!
//! Order of events, so that nothing half-done is ever visible:
//! 1. as the service: read the bucket's limits and lock any existing row of that name;
//! 2. as the caller: insert (or update) the row with a fresh `version` — RLS refuses here,
//!    before a single byte is stored, and before the existence of the row decides anything
//!    (a create of an existing name, an update of a missing one: see [`refusal_after_policy`]);
//! 3. stream the bytes to the key of that version, enforcing the size limit as they arrive;
//! 4. as the service: record size and ETag in the row; commit;
//! 5. after the commit, remove the bytes of the version the upload replaced.
//!
//! A failure before the commit rolls the row back and removes the new bytes; a crash leaves at
//! most unreferenced bytes, which the start-up sweep removes.

use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use http::{header, HeaderMap};
use serde_json::Value;

use crate::app::{json, State};
use crate::auth::Caller;
use crate::blob::object_key;
use crate::db::{act_as, act_as_system};
use crate::error::{ApiError, Existing};
use crate::limits::{mime_allowed, valid_bucket_name, valid_key};
use crate::route::UploadMode;

/// Largest accepted user metadata, in bytes of JSON.
const MAX_USER_METADATA: usize = 1024 * 1024;
/// Largest accepted non-file multipart field.
const MAX_FORM_FIELD: usize = 64 * 1024;

/// An upload body and what the request says about it.
pub struct Incoming {
    pub content_type: String,
    pub cache_control: String,
    pub user_metadata: Option<Value>,
    pub content_length: Option<u64>,
    pub stream: BoxStream<'static, Result<Bytes, ApiError>>,
}

/// Who uploads where.
pub struct Target<'a> {
    pub bucket: &'a str,
    pub name: &'a str,
    /// The caller whose policies decide; `None` when a signed token already authorised it.
    pub caller: Option<&'a Caller>,
    /// The `sub` recorded as owner.
    pub owner: Option<String>,
    pub mode: UploadMode,
}

/// Now as `2024-01-01T00:00:00.000Z`.
pub fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A request header's value, when it is text.
pub fn header_str<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `x-upsert` asks to overwrite.
pub fn upsert_header(h: &HeaderMap) -> bool {
    header_str(h, "x-upsert").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Decodes `x-metadata` (base64 of a JSON object).
pub fn parse_user_metadata_b64(v: &str) -> Result<Value, ApiError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.trim()))
        .map_err(|_| ApiError::InvalidRequest("Invalid x-metadata header".into()))?;
    if raw.len() > MAX_USER_METADATA {
        return Err(ApiError::EntityTooLarge);
    }
    serde_json::from_slice(&raw)
        .map_err(|_| ApiError::InvalidRequest("Invalid x-metadata header".into()))
}

/// `max-age=<n>` from a multipart `cacheControl` field (a bare number) or a header value.
pub fn cache_control_value(v: &str) -> String {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        format!("max-age={v}")
    } else {
        v.to_string()
    }
}

/// Reads the upload's description and body stream from a request.
pub async fn incoming(h: &HeaderMap, body: Body) -> Result<Incoming, ApiError> {
    let ct = header_str(h, header::CONTENT_TYPE.as_str())
        .unwrap_or("")
        .to_string();
    let body_stream = body
        .into_data_stream()
        .map_err(|e| ApiError::InvalidRequest(format!("request body: {e}")));
    if let Ok(boundary) = multer::parse_boundary(&ct) {
        return multipart_incoming(boundary, body_stream.boxed()).await;
    }
    let user_metadata = header_str(h, "x-metadata")
        .map(parse_user_metadata_b64)
        .transpose()?;
    Ok(Incoming {
        content_type: if ct.is_empty() {
            "text/plain;charset=UTF-8".into()
        } else {
            ct
        },
        cache_control: header_str(h, header::CACHE_CONTROL.as_str())
            .map(cache_control_value)
            .unwrap_or_else(|| "no-cache".into()),
        user_metadata,
        content_length: header_str(h, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok()),
        stream: body_stream.boxed(),
    })
}

async fn multipart_incoming(
    boundary: String,
    stream: BoxStream<'static, Result<Bytes, ApiError>>,
) -> Result<Incoming, ApiError> {
    let mut form = multer::Multipart::new(stream, boundary);
    let mut cache_control = None;
    let mut user_metadata = None;
    let mut content_type = None;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| ApiError::InvalidRequest(format!("multipart: {e}")))?
            .ok_or_else(|| ApiError::InvalidRequest("No content provided".into()))?;
        let is_file = field.file_name().is_some() || field.name().unwrap_or("").is_empty();
        if is_file {
            let ct = field
                .content_type()
                .map(|m| m.to_string())
                .or(content_type)
                .unwrap_or_else(|| "text/plain;charset=UTF-8".into());
            let stream = futures::stream::unfold((form, field), |(form, mut field)| async move {
                match field.chunk().await {
                    Ok(Some(b)) => Some((Ok(b), (form, field))),
                    Ok(None) => None,
                    Err(e) => Some((
                        Err(ApiError::InvalidRequest(format!("multipart: {e}"))),
                        (form, field),
                    )),
                }
            });
            return Ok(Incoming {
                content_type: ct,
                cache_control: cache_control.unwrap_or_else(|| "no-cache".into()),
                user_metadata,
                content_length: None,
                stream: stream.boxed(),
            });
        }
        let name = field.name().unwrap_or("").to_string();
        let mut value = Vec::new();
        let mut field = field;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::InvalidRequest(format!("multipart: {e}")))?
        {
            value.extend_from_slice(&chunk);
            if value.len() > MAX_FORM_FIELD.max(MAX_USER_METADATA) {
                return Err(ApiError::EntityTooLarge);
            }
        }
        let text = String::from_utf8_lossy(&value).into_owned();
        match name.as_str() {
            "cacheControl" => cache_control = Some(cache_control_value(&text)),
            "contentType" => content_type = Some(text),
            "metadata" => {
                user_metadata = Some(
                    serde_json::from_str(&text)
                        .map_err(|_| ApiError::InvalidRequest("Invalid metadata field".into()))?,
                )
            }
            _ => {}
        }
    }
}

/// `POST|PUT /object/{bucket}/{name}`.
pub async fn handle(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    name: &str,
    put: bool,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    // `PUT` (supabase-js `update`) creates a missing object too, as storage-api's does.
    let mode = if put || upsert_header(h) {
        UploadMode::Upsert
    } else {
        UploadMode::Create
    };
    let target = Target {
        bucket,
        name,
        caller: Some(&caller),
        owner: caller.sub().map(str::to_string),
        mode,
    };
    let inc = incoming(h, body).await?;
    let id = store(state, &target, inc).await?;
    Ok(json(
        serde_json::json!({ "Id": id, "Key": format!("{bucket}/{name}") }),
    ))
}

/// The metadata recorded for a stored object.
pub fn metadata(version: &str, size: u64, content_type: &str, cache_control: &str) -> Value {
    serde_json::json!({
        "eTag": format!("\"{version}\""),
        "size": size,
        "mimetype": content_type,
        "cacheControl": cache_control,
        "lastModified": now_iso(),
        "contentLength": size,
        "httpStatusCode": 200,
    })
}

/// What a bucket accepts: its effective size limit and its allowed MIME types.
pub struct BucketLimits {
    /// The smaller of the bucket's limit and the global one, in bytes.
    pub size: u64,
    /// `None` or empty: any type.
    pub mime_types: Option<Vec<String>>,
}

impl BucketLimits {
    /// Refuses content of a type the bucket does not allow or of a (declared) length above its
    /// limit; returns the size limit that applies to the bytes.
    pub fn check(&self, content_type: &str, length: Option<u64>) -> Result<u64, ApiError> {
        if let Some(allowed) = self.mime_types.as_ref().filter(|a| !a.is_empty()) {
            if !mime_allowed(content_type, allowed) {
                return Err(ApiError::InvalidMimeType(content_type.to_string()));
            }
        }
        if length.is_some_and(|n| n > self.size) {
            return Err(ApiError::EntityTooLarge);
        }
        Ok(self.size)
    }
}

/// The limits of `bucket`, read as whoever `tx` runs as (the service, before `act_as`);
/// `NoSuchBucket` when there is no such bucket.
pub async fn bucket_limits(
    tx: &deadpool_postgres::Transaction<'_>,
    state: &State,
    bucket: &str,
) -> Result<BucketLimits, ApiError> {
    let row = tx
        .query_opt(
            "SELECT file_size_limit, allowed_mime_types FROM storage.buckets WHERE id = $1",
            &[&bucket],
        )
        .await?
        .ok_or(ApiError::NoSuchBucket)?;
    let bucket_limit: Option<i64> = row.get(0);
    let size = bucket_limit
        .and_then(|l| u64::try_from(l).ok())
        .map_or(state.config.file_size_limit, |l| {
            l.min(state.config.file_size_limit)
        });
    Ok(BucketLimits {
        size,
        mime_types: row.get(1),
    })
}

/// Checks an upload against the bucket (existence, MIME types, declared length) and returns the
/// size limit that applies, as the service.
pub async fn check_bucket(
    tx: &deadpool_postgres::Transaction<'_>,
    state: &State,
    bucket: &str,
    content_type: &str,
    content_length: Option<u64>,
) -> Result<u64, ApiError> {
    bucket_limits(tx, state, bucket)
        .await?
        .check(content_type, content_length)
}

/// The id and version of the object `bucket/name`, locked for the rest of `tx`.
pub async fn existing_row(
    tx: &deadpool_postgres::Transaction<'_>,
    bucket: &str,
    name: &str,
) -> Result<Option<(uuid::Uuid, Option<String>)>, ApiError> {
    Ok(tx
        .query_opt(
            "SELECT id, version FROM storage.objects WHERE bucket_id = $1 AND name = $2 FOR UPDATE",
            &[&bucket, &name],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// Checks, before any byte is accepted, that `t.caller` may write the row of `t` (the write is
/// attempted as the caller, then rolled back) and, when `content` (type and length) is given,
/// that the bucket takes it. Used for signed upload URLs and resumable uploads.
pub async fn probe(
    state: &State,
    t: &Target<'_>,
    content: Option<(&str, u64)>,
) -> Result<(), ApiError> {
    if !valid_key(t.name) {
        return Err(ApiError::InvalidKey(t.name.to_string()));
    }
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    match content {
        Some((ct, len)) => {
            check_bucket(&tx, state, t.bucket, ct, Some(len)).await?;
        }
        None => {
            if tx
                .query_opt("SELECT 1 FROM storage.buckets WHERE id = $1", &[&t.bucket])
                .await?
                .is_none()
            {
                return Err(ApiError::NoSuchBucket);
            }
        }
    }
    let existing = existing_row(&tx, t.bucket, t.name).await?;
    if let Some(c) = t.caller {
        act_as(&tx, c).await?;
    }
    let version = uuid::Uuid::new_v4().simple().to_string();
    let owner = t
        .owner
        .as_deref()
        .and_then(|s| uuid::Uuid::parse_str(s).ok());
    if existing.is_some() && t.mode == UploadMode::Create {
        return Err(refusal_after_policy(
            &tx,
            t,
            &version,
            owner,
            ApiError::Duplicate(Existing::Key),
        )
        .await);
    }
    write_row(&tx, t, &existing, &version, owner, &Value::Null, &None).await?;
    tx.rollback().await?;
    Ok(())
}

/// Stores an object (see the module doc for the order of events). Returns the object's id.
pub async fn store(state: &State, t: &Target<'_>, inc: Incoming) -> Result<uuid::Uuid, ApiError> {
    if !valid_bucket_name(t.bucket) {
        return Err(ApiError::InvalidBucketName);
    }
    if !valid_key(t.name) {
        return Err(ApiError::InvalidKey(t.name.to_string()));
    }
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    let limit = check_bucket(&tx, state, t.bucket, &inc.content_type, inc.content_length).await?;
    let existing = existing_row(&tx, t.bucket, t.name).await?;
    if let Some(c) = t.caller {
        act_as(&tx, c).await?;
    }
    let version = uuid::Uuid::new_v4().simple().to_string();
    let owner_uuid = t
        .owner
        .as_deref()
        .and_then(|s| uuid::Uuid::parse_str(s).ok());
    let refusal = match (t.mode, &existing) {
        (UploadMode::Create, Some(_)) => Some(ApiError::Duplicate(Existing::Key)),
        _ => None,
    };
    if let Some(refusal) = refusal {
        return Err(refusal_after_policy(&tx, t, &version, owner_uuid, refusal).await);
    }
    let provisional = metadata(&version, 0, &inc.content_type, &inc.cache_control);
    let (id, replaced) = write_row(
        &tx,
        t,
        &existing,
        &version,
        owner_uuid,
        &provisional,
        &inc.user_metadata,
    )
    .await?;

    let key = object_key(&version);
    let size = state.blobs.write(&key, inc.stream, limit).await?;
    let finish = async {
        act_as_system(&tx).await?;
        let md = metadata(&version, size, &inc.content_type, &inc.cache_control);
        tx.execute(
            "UPDATE storage.objects SET metadata = $2 WHERE id = $1",
            &[&id, &md],
        )
        .await?;
        tx.commit().await?;
        Ok::<(), ApiError>(())
    };
    if let Err(e) = finish.await {
        state.blobs.delete_quietly([key]).await;
        return Err(e);
    }
    if let Some(old) = replaced {
        state.blobs.delete_quietly([object_key(&old)]).await;
    }
    Ok(id)
}

/// The answer to a write that the object's state refuses (a create of a name that exists, an
/// update of one that does not), given only after the caller's insert policy was asked: the
/// row is inserted as whoever `tx` runs as, so that a caller who may not write at that name is
/// refused by its policies whether or not an object is stored there, and cannot use the answer
/// to probe other users' names. `tx` is left unusable and must be dropped (rolled back).
pub async fn refusal_after_policy(
    tx: &deadpool_postgres::Transaction<'_>,
    t: &Target<'_>,
    version: &str,
    owner: Option<uuid::Uuid>,
    refusal: ApiError,
) -> ApiError {
    let insert = Target {
        bucket: t.bucket,
        name: t.name,
        caller: t.caller,
        owner: t.owner.clone(),
        mode: UploadMode::Create,
    };
    match write_row(tx, &insert, &None, version, owner, &Value::Null, &None).await {
        Ok(_) | Err(ApiError::Duplicate(_)) => refusal,
        Err(e) => e,
    }
}

/// The row written by an upload: its id and the version it replaced, if any.
pub type Written = (uuid::Uuid, Option<String>);

/// Inserts the row, or points the existing one at the new version, as whoever `tx` runs as.
/// An upsert that loses a race with a concurrent create replaces the row that won.
pub async fn write_row(
    tx: &deadpool_postgres::Transaction<'_>,
    t: &Target<'_>,
    existing: &Option<(uuid::Uuid, Option<String>)>,
    version: &str,
    owner: Option<uuid::Uuid>,
    metadata: &Value,
    user_metadata: &Option<Value>,
) -> Result<Written, ApiError> {
    let row = RowValues {
        version,
        owner,
        metadata,
        user_metadata,
    };
    if let Some(found) = existing {
        return update_row(tx, t, found, &row).await;
    }
    let id = uuid::Uuid::new_v4();
    let sql = if t.mode == UploadMode::Upsert {
        "INSERT INTO storage.objects (id, bucket_id, name, owner, owner_id, version, metadata, user_metadata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (bucket_id, name) DO NOTHING"
    } else {
        "INSERT INTO storage.objects (id, bucket_id, name, owner, owner_id, version, metadata, user_metadata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    };
    let n = tx
        .execute(
            sql,
            &[
                &id,
                &t.bucket,
                &t.name,
                &owner,
                &t.owner,
                &version,
                metadata,
                user_metadata,
            ],
        )
        .await
        .map_err(|e| ApiError::from_db(&e).naming(Existing::Key))?;
    if n == 1 {
        return Ok((id, None));
    }
    // A concurrent upload created the object after we looked: replace it.
    let found = existing_row(tx, t.bucket, t.name)
        .await?
        .ok_or(ApiError::Duplicate(Existing::Key))?;
    update_row(tx, t, &found, &row).await
}

struct RowValues<'a> {
    version: &'a str,
    owner: Option<uuid::Uuid>,
    metadata: &'a Value,
    user_metadata: &'a Option<Value>,
}

async fn update_row(
    tx: &deadpool_postgres::Transaction<'_>,
    t: &Target<'_>,
    found: &(uuid::Uuid, Option<String>),
    row: &RowValues<'_>,
) -> Result<Written, ApiError> {
    let n = tx
        .execute(
            "UPDATE storage.objects SET version = $3, owner = $4, owner_id = $5, metadata = $6, \
             user_metadata = $7, updated_at = now(), last_accessed_at = now() \
             WHERE bucket_id = $1 AND name = $2",
            &[
                &t.bucket,
                &t.name,
                &row.version,
                &row.owner,
                &t.owner,
                row.metadata,
                row.user_metadata,
            ],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::AccessDenied(
            "new row violates row-level security policy".into(),
        ));
    }
    Ok(found.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parsing() {
        assert_eq!(cache_control_value("3600"), "max-age=3600");
        assert_eq!(cache_control_value("max-age=60"), "max-age=60");
        let b64 = base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#);
        assert_eq!(
            parse_user_metadata_b64(&b64).expect("meta"),
            serde_json::json!({"a": 1})
        );
        assert!(parse_user_metadata_b64("!!!").is_err());
        let mut h = HeaderMap::new();
        h.insert("x-upsert", http::HeaderValue::from_static("TRUE"));
        assert!(upsert_header(&h));
        let m = metadata("abc", 3, "image/png", "max-age=60");
        assert_eq!(m["eTag"], "\"abc\"");
        assert_eq!(m["size"], 3);
    }

    #[tokio::test]
    async fn multipart_fields_before_file() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n60\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"k\":\"v\"}\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"\"; filename=\"blob\"\r\n\
                    Content-Type: image/png\r\n\r\nabc\r\n--XX--\r\n";
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("multipart/form-data; boundary=XX"),
        );
        let inc = incoming(&h, Body::from(body)).await.expect("incoming");
        assert_eq!(inc.content_type, "image/png");
        assert_eq!(inc.cache_control, "max-age=60");
        assert_eq!(inc.user_metadata, Some(serde_json::json!({"k": "v"})));
        let bytes: Vec<Bytes> = inc.stream.try_collect().await.expect("bytes");
        assert_eq!(bytes.concat(), b"abc".to_vec());
    }
}
