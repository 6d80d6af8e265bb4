//! The storage service as a Rust API, for other protocols over the same buckets, object rows and
//! byte store (the S3 endpoint, `basalt-s3`). Every call runs as a [`Caller`], in one
//! transaction with its role and claims, so the project's RLS policies decide exactly as they do
//! for `/storage/v1`; writes go through the same upload path (limits, versioned keys, commit
//! last). Multipart uploads keep their state in `storage.s3_multipart_uploads(_parts)` and their
//! parts in the byte store (`multipart/<upload>/<version>`), so any node can continue one.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use serde_json::Value;

use crate::app::State;
use crate::blob::object_key;
use crate::db::{act_as, act_as_system};
use crate::limits::{valid_bucket_name, valid_key};
use crate::route::UploadMode;
use crate::upload::{bucket_limits, probe, store, Incoming, Target};
use crate::{Config, Error};

pub use crate::auth::Caller;
pub use crate::error::{ApiError, Existing};

impl Caller {
    /// The service role: bypasses row level security.
    pub fn service() -> Caller {
        Caller {
            role: "service_role".into(),
            claims: serde_json::json!({ "role": "service_role" }),
        }
    }

    fn may_use_upload(&self, owner: Option<&str>) -> bool {
        self.role == "service_role" || owner == self.sub()
    }
}

/// A handle on the storage service's state (its own connection pool and the byte store).
#[derive(Clone)]
pub struct Storage {
    state: Arc<State>,
}

/// A bucket as listed.
#[derive(Debug, Clone)]
pub struct BucketEntry {
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What is known about a stored object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub name: String,
    pub version: String,
    pub size: u64,
    /// Quoted, as sent in `ETag`.
    pub etag: String,
    pub content_type: String,
    pub cache_control: Option<String>,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    pub user_metadata: Option<Value>,
}

/// How an object is described when written.
#[derive(Debug, Clone, Default)]
pub struct NewObject {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub user_metadata: Option<Value>,
    pub content_length: Option<u64>,
}

/// A listing request: names under `prefix`, grouped at `delimiter`, after `after`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: String,
    pub after: String,
    pub max_keys: i64,
}

/// One page of a listing, in byte order of the keys.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub objects: Vec<ObjectInfo>,
    pub prefixes: Vec<String>,
    /// The last key (object name or common prefix) of the page when more follow.
    pub next_after: Option<String>,
}

/// A stored part of a multipart upload.
#[derive(Debug, Clone)]
pub struct Part {
    pub number: i32,
    pub etag: String,
    pub size: u64,
    pub version: String,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub bucket: String,
    pub name: String,
    pub owner: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A body to store.
pub type ByteStream = BoxStream<'static, Result<Bytes, ApiError>>;

fn part_key(upload: &str, version: &str) -> Path {
    Path::from(format!("multipart/{upload}/{version}"))
}

fn quoted(version: &str) -> String {
    format!("\"{version}\"")
}

const SELECT_OBJECT: &str =
    "SELECT o.name, o.version, coalesce(o.metadata, '{}'::jsonb), o.user_metadata, \
     coalesce(o.updated_at, o.created_at, now()) FROM storage.objects o";

fn object_info(row: &tokio_postgres::Row) -> ObjectInfo {
    object_info_at(row, 0)
}

impl Storage {
    /// Builds the pool and opens the byte store (buckets declared in the configuration are
    /// created by the HTTP service, [`crate::router`]).
    pub fn connect(config: Config) -> Result<Storage, Error> {
        Ok(Storage {
            state: Arc::new(State::connect(config)?),
        })
    }

    /// The caller a JWT stands for, verified with the project's keys.
    pub fn caller(&self, token: &str) -> Result<Caller, ApiError> {
        self.state.keys.caller(Some(token))
    }

    async fn bucket_exists_as_service(&self, bucket: &str) -> Result<bool, ApiError> {
        let conn = self.state.db.conn().await?;
        Ok(conn
            .query_opt("SELECT 1 FROM storage.buckets WHERE id = $1", &[&bucket])
            .await?
            .is_some())
    }

    /// `NoSuchKey`, or `NoSuchBucket` when the bucket itself is missing.
    async fn missing(&self, bucket: &str) -> ApiError {
        match self.bucket_exists_as_service(bucket).await {
            Ok(false) => ApiError::NoSuchBucket,
            Ok(true) => ApiError::NoSuchKey,
            Err(e) => e,
        }
    }

    /// The buckets `caller` may see, by id.
    pub async fn list_buckets(&self, caller: &Caller) -> Result<Vec<BucketEntry>, ApiError> {
        let mut conn = self.state.db.conn().await?;
        let tx = conn.transaction().await?;
        act_as(&tx, caller).await?;
        let rows = tx
            .query(
                "SELECT id, coalesce(created_at, now()) FROM storage.buckets ORDER BY id COLLATE \"C\"",
                &[],
            )
            .await?;
        tx.commit().await?;
        Ok(rows
            .iter()
            .map(|r| BucketEntry {
                id: r.get(0),
                created_at: r.get(1),
            })
            .collect())
    }

    /// Whether `caller` sees the bucket.
    pub async fn bucket_visible(&self, caller: &Caller, bucket: &str) -> Result<bool, ApiError> {
        let mut conn = self.state.db.conn().await?;
        let tx = conn.transaction().await?;
        act_as(&tx, caller).await?;
        let found = tx
            .query_opt("SELECT 1 FROM storage.buckets WHERE id = $1", &[&bucket])
            .await?
            .is_some();
        tx.commit().await?;
        Ok(found)
    }

    /// Creates a private bucket with no limits of its own.
    pub async fn create_bucket(&self, caller: &Caller, bucket: &str) -> Result<(), ApiError> {
        if !valid_bucket_name(bucket) {
            return Err(ApiError::InvalidBucketName);
        }
        let new = crate::buckets::NewBucket {
            id: bucket,
            name: bucket,
            public: false,
            file_size_limit: None,
            allowed_mime_types: None,
        };
        crate::buckets::create_as(&self.state, caller, &new).await
    }

    /// Deletes an empty bucket.
    pub async fn delete_bucket(&self, caller: &Caller, bucket: &str) -> Result<(), ApiError> {
        crate::buckets::delete_as(&self.state, caller, bucket).await
    }

    /// An object's description, read as `caller`.
    pub async fn object(
        &self,
        caller: &Caller,
        bucket: &str,
        name: &str,
    ) -> Result<ObjectInfo, ApiError> {
        let mut conn = self.state.db.conn().await?;
        let tx = conn.transaction().await?;
        act_as(&tx, caller).await?;
        let row = tx
            .query_opt(
                &format!("{SELECT_OBJECT} WHERE o.bucket_id = $1 AND o.name = $2"),
                &[&bucket, &name],
            )
            .await?;
        tx.commit().await?;
        let Some(row) = row else {
            return Err(self.missing(bucket).await);
        };
        let mut info = object_info(&row);
        if info.version.is_empty() {
            return Err(ApiError::NoSuchKey);
        }
        if row.get::<_, Value>(2).get("size").is_none() {
            info.size = self.state.blobs.size(&object_key(&info.version)).await?;
        }
        Ok(info)
    }

    /// The bytes of an object (a range of them, end exclusive).
    pub async fn read(
        &self,
        info: &ObjectInfo,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, ApiError> {
        Ok(self
            .state
            .blobs
            .read(&object_key(&info.version), range)
            .await?
            .stream)
    }

    async fn object_by_id(&self, id: uuid::Uuid) -> Result<ObjectInfo, ApiError> {
        let conn = self.state.db.conn().await?;
        let row = conn
            .query_opt(&format!("{SELECT_OBJECT} WHERE o.id = $1"), &[&id])
            .await?
            .ok_or(ApiError::NoSuchKey)?;
        Ok(object_info(&row))
    }

    /// Stores (creates or replaces) an object as `caller`.
    pub async fn put(
        &self,
        caller: &Caller,
        bucket: &str,
        name: &str,
        o: NewObject,
        body: ByteStream,
    ) -> Result<ObjectInfo, ApiError> {
        let target = upsert_target(caller, bucket, name);
        let inc = Incoming {
            content_type: o
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            cache_control: o.cache_control.unwrap_or_else(|| "no-cache".into()),
            user_metadata: o.user_metadata,
            content_length: o.content_length,
            stream: body,
        };
        let id = store(&self.state, &target, inc).await?;
        self.object_by_id(id).await
    }

    /// Deletes objects as `caller`; returns the names that were deleted.
    pub async fn delete(
        &self,
        caller: &Caller,
        bucket: &str,
        names: &[String],
    ) -> Result<Vec<String>, ApiError> {
        let mut conn = self.state.db.conn().await?;
        let tx = conn.transaction().await?;
        act_as(&tx, caller).await?;
        let rows = tx
            .query(
                "DELETE FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2) RETURNING name, version",
                &[&bucket, &names],
            )
            .await?;
        tx.commit().await?;
        let keys = rows
            .iter()
            .filter_map(|r| r.get::<_, Option<String>>(1))
            .map(|v| object_key(&v));
        self.state
            .blobs
            .delete_quietly(keys.collect::<Vec<_>>())
            .await;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Copies an object as `caller`, replacing any object at the destination. With `replace`
    /// the copy has that type, caching and user metadata (an absent type or caching is
    /// dropped) instead of the source's.
    pub async fn copy(
        &self,
        caller: &Caller,
        from: (&str, &str),
        to: (&str, &str),
        replace: Option<NewObject>,
    ) -> Result<ObjectInfo, ApiError> {
        for k in [from.1, to.1] {
            if !valid_key(k) {
                return Err(ApiError::InvalidKey(k.to_string()));
            }
        }
        let copy = crate::objects::Copy {
            src_bucket: from.0,
            src: from.1,
            dst_bucket: to.0,
            dst: to.1,
            upsert: true,
            own_metadata: replace.map(|o| crate::objects::OwnMetadata {
                file: crate::objects::FileMetadata {
                    cache_control: o.cache_control,
                    mimetype: o.content_type,
                },
                user: o.user_metadata,
                keep_unspecified: false,
            }),
        };
        match crate::objects::copy_as(&self.state, caller, &copy).await {
            Ok((id, _)) => self.object_by_id(id).await,
            Err(ApiError::NoSuchKey) => Err(self.missing(from.0).await),
            Err(e) => Err(e),
        }
    }

    /// One page of the names in `bucket` that `caller` may see.
    pub async fn list(
        &self,
        caller: &Caller,
        bucket: &str,
        q: &ListQuery,
    ) -> Result<Listing, ApiError> {
        if !self.bucket_exists_as_service(bucket).await? {
            return Err(ApiError::NoSuchBucket);
        }
        let limit = q.max_keys.clamp(0, 1000);
        if limit == 0 {
            return Ok(Listing::default());
        }
        let mut conn = self.state.db.conn().await?;
        let tx = conn.transaction().await?;
        act_as(&tx, caller).await?;
        // Names after the cursor, folded at the delimiter into common prefixes; a name is never
        // smaller than its prefix, so filtering names first and keys again is exact.
        let sql = "WITH m AS ( \
               SELECT o.*, substr(o.name, char_length($2::text) + 1) AS rest FROM storage.objects o \
               WHERE o.bucket_id = $1 AND starts_with(o.name, $2::text) AND o.name COLLATE \"C\" > $3::text), \
             e AS ( \
               SELECT CASE WHEN $5::text <> '' AND strpos(m.rest, $5::text) > 0 \
                        THEN $2::text || substr(m.rest, 1, strpos(m.rest, $5::text) + char_length($5::text) - 1) \
                        ELSE m.name END AS key, m.* FROM m) \
             SELECT DISTINCT ON (e.key COLLATE \"C\") e.key, e.key <> e.name AS folder, \
               e.name, e.version, coalesce(e.metadata, '{}'::jsonb), e.user_metadata, \
               coalesce(e.updated_at, e.created_at, now()) \
             FROM e WHERE e.key COLLATE \"C\" > $3::text ORDER BY e.key COLLATE \"C\" LIMIT $4";
        let rows = tx
            .query(
                sql,
                &[&bucket, &q.prefix, &q.after, &(limit + 1), &q.delimiter],
            )
            .await?;
        tx.commit().await?;
        let mut out = Listing::default();
        let mut last = None;
        for (i, r) in rows.iter().enumerate() {
            if i as i64 == limit {
                out.next_after = last.take();
                break;
            }
            let key: String = r.get(0);
            let folder: bool = r.get(1);
            if folder {
                out.prefixes.push(key.clone());
            } else {
                out.objects.push(object_info_at(r, 2));
            }
            last = Some(key);
        }
        Ok(out)
    }

    /// Starts a multipart upload of `bucket/name` as `caller`, after asking its policies whether
    /// it may write there. Returns the upload id.
    pub async fn create_multipart(
        &self,
        caller: &Caller,
        bucket: &str,
        name: &str,
        o: NewObject,
    ) -> Result<String, ApiError> {
        if !valid_bucket_name(bucket) {
            return Err(ApiError::InvalidBucketName);
        }
        let content_type = o
            .content_type
            .unwrap_or_else(|| "application/octet-stream".into());
        let target = upsert_target(caller, bucket, name);
        probe(&self.state, &target, Some((&content_type, 0))).await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let version = uuid::Uuid::new_v4().simple().to_string();
        let metadata = serde_json::json!({
            "contentType": content_type,
            "cacheControl": o.cache_control,
            "userMetadata": o.user_metadata,
        });
        let conn = self.state.db.conn().await?;
        conn.execute(
            "INSERT INTO storage.s3_multipart_uploads (id, upload_signature, bucket_id, key, version, owner_id, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&id, &version, &bucket, &name, &version, &caller.sub(), &metadata],
        )
        .await?;
        Ok(id)
    }

    /// The upload, when it exists for `bucket/name` and belongs to `caller`.
    async fn upload(
        &self,
        caller: &Caller,
        bucket: &str,
        name: &str,
        id: &str,
    ) -> Result<(Upload, Value), ApiError> {
        let conn = self.state.db.conn().await?;
        let row = conn
            .query_opt(
                "SELECT owner_id, created_at, coalesce(metadata, '{}'::jsonb) FROM storage.s3_multipart_uploads \
                 WHERE id = $1 AND bucket_id = $2 AND key = $3",
                &[&id, &bucket, &name],
            )
            .await?
            .ok_or(ApiError::NoSuchUpload)?;
        let owner: Option<String> = row.get(0);
        if !caller.may_use_upload(owner.as_deref()) {
            return Err(ApiError::NoSuchUpload);
        }
        let upload = Upload {
            id: id.to_string(),
            bucket: bucket.to_string(),
            name: name.to_string(),
            owner,
            created_at: row.get(1),
        };
        Ok((upload, row.get(2)))
    }

    /// Stores part `number` of an upload (replacing an earlier one of that number). Returns
    /// its ETag.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part(
        &self,
        caller: &Caller,
        bucket: &str,
        name: &str,
        id: &str,
        number: i32,
        body: ByteStream,
    ) -> Result<String, ApiError> {
        let (upload, _) = self.upload(caller, bucket, name, id).await?;
        let limit = {
            let mut conn = self.state.db.conn().await?;
            let tx = conn.transaction().await?;
            bucket_limits(&tx, &self.state, bucket).await?.size
        };
        let version = uuid::Uuid::new_v4().simple().to_string();
        let key = part_key(&upload.id, &version);
        let size = self.state.blobs.write(&key, body, limit).await?;
        let etag = quoted(&version);
        let recorded = async {
            let mut conn = self.state.db.conn().await?;
            let tx = conn.transaction().await?;
            act_as_system(&tx).await?;
            let old = tx
                .query(
                    "DELETE FROM storage.s3_multipart_uploads_parts WHERE upload_id = $1 AND part_number = $2 \
                     RETURNING version",
                    &[&upload.id, &number],
                )
                .await?;
            let size_i = i64::try_from(size).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO storage.s3_multipart_uploads_parts \
                 (upload_id, size, part_number, bucket_id, key, etag, owner_id, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&upload.id, &size_i, &number, &bucket, &name, &etag, &upload.owner, &version],
            )
            .await
            .map_err(|e| match ApiError::from_db(&e) {
                // The upload was completed or aborted meanwhile.
                ApiError::BucketNotEmpty => ApiError::NoSuchUpload,
                other => other,
            })?;
            tx.execute(
                "UPDATE storage.s3_multipart_uploads SET in_progress_size = \
                 (SELECT coalesce(sum(size), 0) FROM storage.s3_multipart_uploads_parts WHERE upload_id = $1) \
                 WHERE id = $1",
                &[&upload.id],
            )
            .await?;
            tx.commit().await?;
            Ok::<_, ApiError>(
                old.iter()
                    .map(|r| part_key(&upload.id, &r.get::<_, String>(0)))
                    .collect::<Vec<_>>(),
            )
        }
        .await;
        match recorded {
            Ok(replaced) => {
                self.state.blobs.delete_quietly(replaced).await;
                Ok(etag)
            }
            Err(e) => {
                self.state.blobs.delete_quietly([key]).await;
                Err(e)
            }
        }
    }

    /// The stored parts of an upload, by number.
    pub async fn list_parts(
        &self,
        caller: &Caller,
        bucket: &str,
        name: &str,
        id: &str,
    ) -> Result<(Upload, Vec<Part>), ApiError> {
        let (upload, _) = self.upload(caller, bucket, name, id).await?;
        let parts = self.parts(id).await?;
        Ok((upload, parts))
    }

    async fn parts(&self, id: &str) -> Result<Vec<Part>, ApiError> {
        let conn = self.state.db.conn().await?;
        let rows = conn
            .query(
                "SELECT part_number, etag, size, version, created_at FROM storage.s3_multipart_uploads_parts \
                 WHERE upload_id = $1 ORDER BY part_number",
                &[&id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Part {
                number: r.get(0),
                etag: r.get(1),
                size: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                version: r.get(3),
                last_modified: r.get(4),
            })
            .collect())
    }

    /// Completes an upload: the parts numbered `numbers`, in that order, become the object (as
    /// an upload of it by `caller`), then the upload and all its parts are removed. The caller
    /// has checked that the numbers name stored parts.
    pub async fn complete_multipart(
        &self,
        caller: &Caller,
        bucket: &str,
        name: &str,
        id: &str,
        numbers: &[i32],
    ) -> Result<ObjectInfo, ApiError> {
        let (upload, metadata) = self.upload(caller, bucket, name, id).await?;
        let stored = self.parts(id).await?;
        let mut chosen = Vec::with_capacity(numbers.len());
        for n in numbers {
            let part = stored
                .iter()
                .find(|p| p.number == *n)
                .ok_or_else(|| ApiError::InvalidRequest(format!("part {n} was not uploaded")))?;
            chosen.push(part.clone());
        }
        let total: u64 = chosen.iter().map(|p| p.size).sum();
        let keys: Vec<Path> = chosen
            .iter()
            .map(|p| part_key(&upload.id, &p.version))
            .collect();
        let stream = self.state.blobs.concat(keys);
        let text = |k: &str| metadata.get(k).and_then(Value::as_str).map(str::to_string);
        let o = NewObject {
            content_type: text("contentType"),
            cache_control: text("cacheControl"),
            user_metadata: metadata
                .get("userMetadata")
                .filter(|v| !v.is_null())
                .cloned(),
            content_length: Some(total),
        };
        let info = self.put(caller, bucket, name, o, stream).await?;
        self.remove_upload(&upload.id, &stored).await;
        Ok(info)
    }

    /// Aborts an upload: its row and every stored part are removed.
    pub async fn abort_multipart(
        &self,
        caller: &Caller,
        bucket: &str,
        name: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        let (upload, _) = self.upload(caller, bucket, name, id).await?;
        let stored = self.parts(id).await?;
        self.remove_upload(&upload.id, &stored).await;
        Ok(())
    }

    async fn remove_upload(&self, id: &str, parts: &[Part]) {
        let removed = async {
            let conn = self.state.db.conn().await?;
            conn.execute(
                "DELETE FROM storage.s3_multipart_uploads WHERE id = $1",
                &[&id],
            )
            .await?;
            Ok::<_, ApiError>(())
        }
        .await;
        if let Err(e) = removed {
            tracing::warn!(upload = %id, error = %e, "storage: could not remove a multipart upload");
            return;
        }
        let keys: Vec<Path> = parts.iter().map(|p| part_key(id, &p.version)).collect();
        self.state.blobs.delete_quietly(keys).await;
    }
}

/// [`object_info`] for a row whose name, version, metadata, user metadata and time start at
/// column `at`.
fn object_info_at(row: &tokio_postgres::Row, at: usize) -> ObjectInfo {
    let version: Option<String> = row.get(at + 1);
    let version = version.unwrap_or_default();
    let metadata: Value = row.get(at + 2);
    let text = |k: &str| metadata.get(k).and_then(Value::as_str).map(str::to_string);
    ObjectInfo {
        name: row.get(at),
        size: metadata.get("size").and_then(Value::as_u64).unwrap_or(0),
        etag: text("eTag").unwrap_or_else(|| quoted(&version)),
        content_type: text("mimetype").unwrap_or_else(|| "application/octet-stream".into()),
        cache_control: text("cacheControl"),
        last_modified: row.get(at + 4),
        user_metadata: row.get(at + 3),
        version,
    }
}

fn upsert_target<'a>(caller: &'a Caller, bucket: &'a str, name: &'a str) -> Target<'a> {
    Target {
        bucket,
        name,
        caller: Some(caller),
        owner: caller.sub().map(str::to_string),
        mode: UploadMode::Upsert,
    }
}
