//! Object metadata endpoints: info, list, remove, move and copy. Each runs in one transaction as
//! the caller; bytes that a committed change made unreachable are removed after the commit.
//! Copies, and moves into another bucket, obey the destination bucket's MIME types and size
//! limit as an upload there would.

use axum::body::Body;
use axum::response::Response;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::app::{json, typed_body, State};
use crate::blob::object_key;
use crate::db::{act_as, iso};
use crate::error::ApiError;
use crate::limits::{normalize_key, valid_bucket_name, valid_key};
use crate::list::{plan, ListOptions};
use crate::route::Access;
use crate::upload::bucket_limits;

/// The full object row as JSON (`FileObject`), from a row aliased `o`.
pub fn object_json() -> String {
    format!(
        "json_build_object('name', o.name, 'id', o.id, 'bucket_id', o.bucket_id, 'owner', coalesce(o.owner_id, o.owner::text), \
         'version', o.version, 'updated_at', {}, 'created_at', {}, 'last_accessed_at', {}, \
         'metadata', o.metadata, 'user_metadata', o.user_metadata)",
        iso("o.updated_at"),
        iso("o.created_at"),
        iso("o.last_accessed_at")
    )
}

pub async fn info(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    name: &str,
    access: Access,
) -> Result<Response, ApiError> {
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    crate::download::prepare_read(&tx, state, h, bucket, access).await?;
    let sql = format!(
        "SELECT json_build_object('id', o.id, 'version', o.version, 'name', o.name, 'bucket_id', o.bucket_id, \
           'size', (o.metadata->>'size')::bigint, 'content_type', o.metadata->>'mimetype', \
           'cache_control', o.metadata->>'cacheControl', 'etag', o.metadata->>'eTag', \
           'metadata', o.user_metadata, 'last_modified', {}, 'created_at', {}) \
         FROM storage.objects o WHERE o.bucket_id = $1 AND o.name = $2",
        iso("o.updated_at"),
        iso("o.created_at")
    );
    let row = tx.query_opt(&sql, &[&bucket, &name]).await?;
    tx.commit().await?;
    row.map(|r| json(r.get::<_, Value>(0)))
        .ok_or(ApiError::NoSuchKey)
}

pub async fn delete_one(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    let rows = tx
        .query(
            "DELETE FROM storage.objects WHERE bucket_id = $1 AND name = $2 RETURNING version",
            &[&bucket, &name],
        )
        .await?;
    tx.commit().await?;
    if rows.is_empty() {
        return Err(ApiError::NoSuchKey);
    }
    remove_versions(state, &rows, 0).await;
    Ok(json(
        serde_json::json!({ "message": "Successfully deleted" }),
    ))
}

/// Removes the bytes of versions whose rows were deleted (column `col` of `rows`).
async fn remove_versions(state: &State, rows: &[tokio_postgres::Row], col: usize) {
    let mut keys = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(v) = r.get::<_, Option<String>>(col) {
            keys.push(object_key(&v));
        }
    }
    state.blobs.delete_quietly(keys).await;
}

#[derive(Deserialize)]
struct Prefixes {
    prefixes: Vec<String>,
}

pub async fn delete_many(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let Prefixes { prefixes } = typed_body(body).await?;
    if prefixes.is_empty() || prefixes.len() > 1000 {
        return Err(ApiError::InvalidRequest(
            "body/prefixes must contain between 1 and 1000 items".into(),
        ));
    }
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    let sql = format!(
        "DELETE FROM storage.objects o WHERE o.bucket_id = $1 AND o.name = ANY($2) \
         RETURNING {}, o.version",
        object_json()
    );
    let rows = tx.query(&sql, &[&bucket, &prefixes]).await?;
    tx.commit().await?;
    let deleted: Vec<Value> = rows.iter().map(|r| r.get::<_, Value>(0)).collect();
    remove_versions(state, &rows, 1).await;
    Ok(json(Value::Array(deleted)))
}

pub async fn list(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    body: Body,
) -> Result<Response, ApiError> {
    // The body is validated before the caller is authenticated, as request validation precedes
    // authentication in storage-api.
    let opts: ListOptions = typed_body(body).await?;
    let caller = state.caller(h)?;
    let p = plan(&opts)?;
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    let row = tx
        .query_one(
            &p.sql,
            &[&bucket, &p.prefix, &p.pattern, &p.limit, &p.offset],
        )
        .await?;
    tx.commit().await?;
    Ok(json(row.get::<_, Value>(0)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveCopy {
    bucket_id: String,
    source_key: String,
    destination_key: String,
    destination_bucket: Option<String>,
    /// Copy only: the copy's own `cacheControl` / `mimetype`, with `copyMetadata: false`.
    #[serde(default)]
    metadata: Option<FileMetadata>,
    /// Copy only: whether the copy takes the source's metadata (default) or its own.
    copy_metadata: Option<bool>,
}

/// `metadata` of a copy request.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct FileMetadata {
    pub cache_control: Option<String>,
    pub mimetype: Option<String>,
}

impl MoveCopy {
    fn checked(&self) -> Result<(String, String, String, String), ApiError> {
        let dest_bucket = self
            .destination_bucket
            .clone()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| self.bucket_id.clone());
        let src = normalize_key(&self.source_key);
        let dst = normalize_key(&self.destination_key);
        for k in [&src, &dst] {
            if !valid_key(k) {
                return Err(ApiError::InvalidKey(k.clone()));
            }
        }
        if !valid_bucket_name(&self.bucket_id) || !valid_bucket_name(&dest_bucket) {
            return Err(ApiError::InvalidBucketName);
        }
        Ok((self.bucket_id.clone(), src, dest_bucket, dst))
    }
}

/// Type and declared size of a stored object, from its metadata, to hold against the limits
/// of the bucket it is copied to.
fn content_of(metadata: Option<&Value>) -> (&str, Option<u64>) {
    let field = |k: &str| metadata.and_then(|m| m.get(k));
    (
        field("mimetype")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream"),
        field("size").and_then(Value::as_u64),
    )
}

/// Renames an object: a metadata update only, since bytes are keyed by version. Into another
/// bucket too, the caller's update policy alone decides: as in Supabase Storage, the destination
/// bucket's file size limit and allowed MIME types are not held against the object (only that
/// the bucket exists).
pub async fn move_object(state: &State, h: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let (src_bucket, src, dst_bucket, dst) = typed_body::<MoveCopy>(body).await?.checked()?;
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    bucket_limits(&tx, state, &dst_bucket).await?;
    act_as(&tx, &caller).await?;
    let n = tx
        .execute(
            "UPDATE storage.objects SET bucket_id = $3, name = $4, updated_at = now() \
             WHERE bucket_id = $1 AND name = $2",
            &[&src_bucket, &src, &dst_bucket, &dst],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::NoSuchKey);
    }
    tx.commit().await?;
    Ok(json(serde_json::json!({ "message": "Successfully moved" })))
}

/// Copies an object: a new row (the caller's insert policy decides) pointing at a copy of the
/// bytes under a fresh version. Answers the new row, with `Id` and `Key` (`bucket/name`).
pub async fn copy_object(state: &State, h: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let upsert = crate::upload::upsert_header(h);
    let req = typed_body::<MoveCopy>(body).await?;
    let (src_bucket, src, dst_bucket, dst) = req.checked()?;
    // With `copyMetadata: false` the copy has the request's metadata: `metadata` for its type
    // and caching, `x-metadata` for its user metadata.
    let own = if req.copy_metadata == Some(false) {
        let user = crate::upload::header_str(h, "x-metadata")
            .map(crate::upload::parse_user_metadata_b64)
            .transpose()?;
        Some(OwnMetadata {
            file: req.metadata.clone().unwrap_or_default(),
            user,
            keep_unspecified: true,
        })
    } else {
        None
    };
    let copy = Copy {
        src_bucket: &src_bucket,
        src: &src,
        dst_bucket: &dst_bucket,
        dst: &dst,
        upsert,
        own_metadata: own,
    };
    let (id, _version) = copy_as(state, &caller, &copy).await?;
    let conn = state.db.conn().await?;
    let row = conn
        .query_one(
            &format!(
                "SELECT {} FROM storage.objects o WHERE o.id = $1",
                object_json()
            ),
            &[&id],
        )
        .await?;
    let mut out: Value = row.get(0);
    if let Some(m) = out.as_object_mut() {
        m.insert("Id".into(), Value::String(id.to_string()));
        m.insert("Key".into(), Value::String(format!("{dst_bucket}/{dst}")));
    }
    Ok(json(out))
}

/// What a copy copies where; `upsert` replaces an object at the destination. `own_metadata`:
/// the copy's own metadata instead of the source's.
pub struct Copy<'a> {
    pub src_bucket: &'a str,
    pub src: &'a str,
    pub dst_bucket: &'a str,
    pub dst: &'a str,
    pub upsert: bool,
    pub own_metadata: Option<OwnMetadata>,
}

/// A copy's own metadata: its type and caching, its user metadata, and whether a type or
/// caching not given is kept from the source (the Storage API) or dropped (S3's `REPLACE`).
pub struct OwnMetadata {
    pub file: FileMetadata,
    pub user: Option<Value>,
    pub keep_unspecified: bool,
}

/// Copies an object as `caller`: its read policy on the source and insert (or, replacing,
/// update) policy on the destination decide. Returns the new row's id and version.
pub async fn copy_as(
    state: &State,
    caller: &crate::auth::Caller,
    c: &Copy<'_>,
) -> Result<(uuid::Uuid, String), ApiError> {
    let (src_bucket, src, dst_bucket, dst, upsert) =
        (c.src_bucket, c.src, c.dst_bucket, c.dst, c.upsert);
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    let limits = bucket_limits(&tx, state, dst_bucket).await?;
    let existing = crate::upload::existing_row(&tx, dst_bucket, dst).await?;
    act_as(&tx, caller).await?;
    let source = tx
        .query_opt(
            "SELECT version, metadata, user_metadata FROM storage.objects WHERE bucket_id = $1 AND name = $2",
            &[&src_bucket, &src],
        )
        .await?
        .ok_or(ApiError::NoSuchKey)?;
    let src_version: Option<String> = source.get(0);
    let src_version = src_version.ok_or(ApiError::NoSuchKey)?;
    let mut metadata: Option<Value> = source.get(1);
    let mut user_metadata: Option<Value> = source.get(2);
    if let Some(own) = &c.own_metadata {
        if let Some(m) = metadata.as_mut().and_then(Value::as_object_mut) {
            for (key, value) in [
                ("cacheControl", &own.file.cache_control),
                ("mimetype", &own.file.mimetype),
            ] {
                match value {
                    Some(v) => {
                        m.insert(key.into(), Value::String(v.clone()));
                    }
                    None if !own.keep_unspecified => {
                        m.remove(key);
                    }
                    None => {}
                }
            }
        }
        user_metadata = own.user.clone();
    }
    let (content_type, size) = content_of(metadata.as_ref());
    limits.check(content_type, size)?;
    let version = uuid::Uuid::new_v4().simple().to_string();
    let metadata = metadata.map(|mut m| {
        if let Some(o) = m.as_object_mut() {
            o.insert("eTag".into(), Value::String(format!("\"{version}\"")));
            o.insert(
                "lastModified".into(),
                Value::String(crate::upload::now_iso()),
            );
        }
        m
    });
    let target = crate::upload::Target {
        bucket: dst_bucket,
        name: dst,
        caller: Some(caller),
        owner: caller.sub().map(str::to_string),
        mode: if upsert {
            crate::route::UploadMode::Upsert
        } else {
            crate::route::UploadMode::Create
        },
    };
    if existing.is_some() && !upsert {
        let refusal = ApiError::Duplicate(crate::error::Existing::Key);
        let owner = caller.owner_uuid();
        return Err(
            crate::upload::refusal_after_policy(&tx, &target, &version, owner, refusal).await,
        );
    }
    let metadata = metadata.unwrap_or(Value::Null);
    let (id, replaced) = crate::upload::write_row(
        &tx,
        &target,
        &existing,
        &version,
        caller.owner_uuid(),
        &metadata,
        &user_metadata,
    )
    .await?;
    let new_key = object_key(&version);
    state
        .blobs
        .copy(&object_key(&src_version), &new_key)
        .await?;
    if let Err(e) = tx.commit().await {
        state.blobs.delete_quietly([new_key]).await;
        return Err(e.into());
    }
    if let Some(old) = replaced {
        state.blobs.delete_quietly([object_key(&old)]).await;
    }
    Ok((id, version))
}
