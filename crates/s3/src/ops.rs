//! The S3 operations, each a call of the storage API as the request's [`Caller`] (put in the
//! request's extensions by the signature check, `crate::gate`).

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use basalt_storage::api::{
    ApiError, ByteStream, Caller, ListQuery, NewObject, ObjectInfo, Storage,
};
use futures::{Stream, StreamExt, TryStreamExt};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use crate::error::s3_error;

/// The S3 service over basalt storage.
pub struct BasaltS3 {
    pub storage: Storage,
    pub region: String,
}

type Out<T> = S3Result<S3Response<T>>;

fn caller<T>(req: &S3Request<T>) -> S3Result<Caller> {
    req.extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| s3_error!(AccessDenied, "Signature is required"))
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp::from(SystemTime::from(t))
}

/// `"v"` (as stored) to the ETag value `v`.
fn etag(stored: &str) -> ETag {
    ETag::Strong(stored.trim_matches('"').to_string())
}

fn ok<T>(v: T) -> Out<T> {
    Ok(S3Response::new(v))
}

/// A request body as the storage API reads it.
fn body_stream(body: Option<StreamingBlob>) -> ByteStream {
    match body {
        Some(b) => b
            .map_err(|e| ApiError::InvalidRequest(format!("request body: {e}")))
            .boxed(),
        None => futures::stream::empty().boxed(),
    }
}

/// `x-amz-meta-*` as the object's user metadata (a JSON object of strings), as Supabase keeps
/// it.
fn user_metadata(m: Option<Metadata>) -> Option<serde_json::Value> {
    let m = m.filter(|m| !m.is_empty())?;
    Some(serde_json::Value::Object(
        m.into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
    ))
}

fn metadata_of(info: &ObjectInfo) -> Option<Metadata> {
    let obj = info.user_metadata.as_ref()?.as_object()?;
    let m: HashMap<String, String> = obj
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k.clone(), v)
        })
        .collect();
    (!m.is_empty()).then_some(m)
}

/// A `Send` stream made `Sync` (it is only ever polled through `&mut`).
struct SyncStream<S>(std::sync::Mutex<S>);

impl<S: Stream + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        match self.get_mut().0.get_mut() {
            Ok(s) => Pin::new(s).poll_next(cx),
            Err(_) => Poll::Ready(None),
        }
    }
}

fn object_entry(o: &ObjectInfo) -> Object {
    Object {
        key: Some(o.name.clone()),
        size: Some(i64::try_from(o.size).unwrap_or(i64::MAX)),
        e_tag: Some(etag(&o.etag)),
        last_modified: Some(ts(o.last_modified)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

struct Page {
    objects: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    next: Option<String>,
}

impl BasaltS3 {
    /// `NoSuchBucket` unless `caller` sees the bucket.
    async fn visible(&self, caller: &Caller, bucket: &str) -> S3Result<()> {
        match self.storage.bucket_visible(caller, bucket).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(s3_error(ApiError::NoSuchBucket)),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn page(&self, caller: &Caller, bucket: &str, q: ListQuery) -> S3Result<Page> {
        let listing = self
            .storage
            .list(caller, bucket, &q)
            .await
            .map_err(s3_error)?;
        Ok(Page {
            objects: listing.objects.iter().map(object_entry).collect(),
            prefixes: listing
                .prefixes
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(p) })
                .collect(),
            next: listing.next_after,
        })
    }
}

fn part_number(n: i32) -> S3Result<i32> {
    if (1..=10_000).contains(&n) {
        Ok(n)
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

#[async_trait::async_trait]
impl S3 for BasaltS3 {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> Out<ListBucketsOutput> {
        let c = caller(&req)?;
        let buckets = self.storage.list_buckets(&c).await.map_err(s3_error)?;
        ok(ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| Bucket {
                        name: Some(b.id),
                        creation_date: Some(ts(b.created_at)),
                        bucket_region: Some(self.region.clone()),
                    })
                    .collect(),
            ),
            owner: Some(Owner {
                display_name: Some("basalt".into()),
                id: Some("basalt".into()),
            }),
            ..Default::default()
        })
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> Out<CreateBucketOutput> {
        let c = caller(&req)?;
        let bucket = &req.input.bucket;
        self.storage
            .create_bucket(&c, bucket)
            .await
            .map_err(s3_error)?;
        ok(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        })
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> Out<DeleteBucketOutput> {
        let c = caller(&req)?;
        self.storage
            .delete_bucket(&c, &req.input.bucket)
            .await
            .map_err(s3_error)?;
        ok(DeleteBucketOutput {})
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> Out<HeadBucketOutput> {
        self.visible(&caller(&req)?, &req.input.bucket).await?;
        ok(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        })
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> Out<GetBucketLocationOutput> {
        self.visible(&caller(&req)?, &req.input.bucket).await?;
        ok(GetBucketLocationOutput {
            location_constraint: Some(BucketLocationConstraint::from(self.region.clone())),
        })
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> Out<HeadObjectOutput> {
        let c = caller(&req)?;
        let info = self
            .storage
            .object(&c, &req.input.bucket, &req.input.key)
            .await
            .map_err(s3_error)?;
        ok(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(i64::try_from(info.size).unwrap_or(i64::MAX)),
            content_type: Some(info.content_type.clone()),
            cache_control: info.cache_control.clone(),
            e_tag: Some(etag(&info.etag)),
            last_modified: Some(ts(info.last_modified)),
            metadata: metadata_of(&info),
            ..Default::default()
        })
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> Out<GetObjectOutput> {
        let c = caller(&req)?;
        let info = self
            .storage
            .object(&c, &req.input.bucket, &req.input.key)
            .await
            .map_err(s3_error)?;
        let range = match &req.input.range {
            None => None,
            Some(r) => Some(
                r.check(info.size)
                    .map_err(|_| s3_error(ApiError::InvalidRange { size: info.size }))?,
            ),
        };
        let content_range = range
            .as_ref()
            .map(|r| format!("bytes {}-{}/{}", r.start, r.end - 1, info.size));
        let length = range.as_ref().map_or(info.size, |r| r.end - r.start);
        let stream = self.storage.read(&info, range).await.map_err(s3_error)?;
        let mut resp = S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(SyncStream(std::sync::Mutex::new(
                stream,
            )))),
            accept_ranges: Some("bytes".into()),
            content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
            content_range,
            content_type: Some(info.content_type.clone()),
            cache_control: info.cache_control.clone(),
            e_tag: Some(etag(&info.etag)),
            last_modified: Some(ts(info.last_modified)),
            metadata: metadata_of(&info),
            ..Default::default()
        });
        if req.input.range.is_some() {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> Out<PutObjectOutput> {
        let c = caller(&req)?;
        let input = req.input;
        let o = NewObject {
            content_type: input.content_type,
            cache_control: input.cache_control,
            user_metadata: user_metadata(input.metadata),
            content_length: input.content_length.and_then(|n| u64::try_from(n).ok()),
        };
        let info = self
            .storage
            .put(&c, &input.bucket, &input.key, o, body_stream(input.body))
            .await
            .map_err(s3_error)?;
        ok(PutObjectOutput {
            e_tag: Some(etag(&info.etag)),
            size: Some(i64::try_from(info.size).unwrap_or(i64::MAX)),
            ..Default::default()
        })
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> Out<DeleteObjectOutput> {
        let c = caller(&req)?;
        self.storage
            .delete(&c, &req.input.bucket, std::slice::from_ref(&req.input.key))
            .await
            .map_err(s3_error)?;
        let mut resp = S3Response::new(DeleteObjectOutput::default());
        resp.status = Some(http::StatusCode::NO_CONTENT);
        Ok(resp)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> Out<DeleteObjectsOutput> {
        let c = caller(&req)?;
        let keys: Vec<String> = req
            .input
            .delete
            .objects
            .iter()
            .map(|o| o.key.clone())
            .collect();
        if keys.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "The request may contain at most 1000 keys"
            ));
        }
        let quiet = req.input.delete.quiet.unwrap_or(false);
        let out = match self.storage.delete(&c, &req.input.bucket, &keys).await {
            // As S3: a key that names nothing is deleted too.
            Ok(_) => DeleteObjectsOutput {
                deleted: (!quiet).then(|| {
                    keys.iter()
                        .map(|k| DeletedObject {
                            key: Some(k.clone()),
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            },
            Err(e) => {
                let e = s3_error(e);
                DeleteObjectsOutput {
                    errors: Some(
                        keys.iter()
                            .map(|k| Error {
                                key: Some(k.clone()),
                                code: Some(e.code().as_str().to_string()),
                                message: e.message().map(str::to_string),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }
            }
        };
        ok(out)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> Out<CopyObjectOutput> {
        let c = caller(&req)?;
        let (src_bucket, src_key) = match &req.input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Only bucket/key copy sources are supported"
                ))
            }
        };
        // `REPLACE`: the copy has the request's type, caching and metadata, as Supabase
        // Storage's S3 endpoint gives it; `COPY` (the default) keeps the source's.
        let i = req.input;
        let replace = i
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == "REPLACE")
            .then(|| NewObject {
                content_type: i.content_type.clone(),
                cache_control: i.cache_control.clone(),
                user_metadata: user_metadata(i.metadata.clone()),
                content_length: None,
            });
        let info = self
            .storage
            .copy(&c, (&src_bucket, &src_key), (&i.bucket, &i.key), replace)
            .await
            .map_err(s3_error)?;
        ok(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&info.etag)),
                last_modified: Some(ts(info.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> Out<ListObjectsV2Output> {
        let c = caller(&req)?;
        let i = req.input;
        let max_keys = i.max_keys.unwrap_or(1000);
        let after = match (&i.continuation_token, &i.start_after) {
            (Some(t), _) => t.clone(),
            (None, Some(s)) => s.clone(),
            (None, None) => String::new(),
        };
        let q = ListQuery {
            prefix: i.prefix.clone().unwrap_or_default(),
            delimiter: i.delimiter.clone().unwrap_or_default(),
            after,
            max_keys: i64::from(max_keys),
        };
        let page = self.page(&c, &i.bucket, q).await?;
        let key_count = i32::try_from(page.objects.len() + page.prefixes.len()).unwrap_or(0);
        ok(ListObjectsV2Output {
            name: Some(i.bucket),
            prefix: i.prefix,
            delimiter: i.delimiter,
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            continuation_token: i.continuation_token,
            start_after: i.start_after,
            is_truncated: Some(page.next.is_some()),
            next_continuation_token: page.next,
            contents: Some(page.objects),
            common_prefixes: (!page.prefixes.is_empty()).then_some(page.prefixes),
            encoding_type: i.encoding_type,
            ..Default::default()
        })
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> Out<ListObjectsOutput> {
        let c = caller(&req)?;
        let i = req.input;
        let max_keys = i.max_keys.unwrap_or(1000);
        let q = ListQuery {
            prefix: i.prefix.clone().unwrap_or_default(),
            delimiter: i.delimiter.clone().unwrap_or_default(),
            after: i.marker.clone().unwrap_or_default(),
            max_keys: i64::from(max_keys),
        };
        let page = self.page(&c, &i.bucket, q).await?;
        ok(ListObjectsOutput {
            name: Some(i.bucket),
            prefix: i.prefix,
            delimiter: i.delimiter,
            marker: i.marker,
            max_keys: Some(max_keys),
            is_truncated: Some(page.next.is_some()),
            next_marker: page.next,
            contents: Some(page.objects),
            common_prefixes: (!page.prefixes.is_empty()).then_some(page.prefixes),
            encoding_type: i.encoding_type,
            ..Default::default()
        })
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> Out<CreateMultipartUploadOutput> {
        let c = caller(&req)?;
        let i = req.input;
        let o = NewObject {
            content_type: i.content_type,
            cache_control: i.cache_control,
            user_metadata: user_metadata(i.metadata),
            content_length: None,
        };
        let id = self
            .storage
            .create_multipart(&c, &i.bucket, &i.key, o)
            .await
            .map_err(s3_error)?;
        ok(CreateMultipartUploadOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            upload_id: Some(id),
            ..Default::default()
        })
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> Out<UploadPartOutput> {
        let c = caller(&req)?;
        let i = req.input;
        let n = part_number(i.part_number)?;
        let tag = self
            .storage
            .upload_part(&c, &i.bucket, &i.key, &i.upload_id, n, body_stream(i.body))
            .await
            .map_err(s3_error)?;
        ok(UploadPartOutput {
            e_tag: Some(etag(&tag)),
            ..Default::default()
        })
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> Out<ListPartsOutput> {
        let c = caller(&req)?;
        let i = req.input;
        let (_, parts) = self
            .storage
            .list_parts(&c, &i.bucket, &i.key, &i.upload_id)
            .await
            .map_err(s3_error)?;
        let marker = i.part_number_marker.unwrap_or(0);
        let max = usize::try_from(i.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let after: Vec<_> = parts.into_iter().filter(|p| p.number > marker).collect();
        let truncated = after.len() > max;
        let page: Vec<Part> = after
            .iter()
            .take(max)
            .map(|p| Part {
                part_number: Some(p.number),
                e_tag: Some(etag(&p.etag)),
                size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                last_modified: Some(ts(p.last_modified)),
                ..Default::default()
            })
            .collect();
        ok(ListPartsOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            upload_id: Some(i.upload_id),
            max_parts: i.max_parts,
            part_number_marker: i.part_number_marker,
            is_truncated: Some(truncated),
            next_part_number_marker: page.last().and_then(|p| p.part_number),
            parts: Some(page),
            ..Default::default()
        })
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> Out<CompleteMultipartUploadOutput> {
        let c = caller(&req)?;
        let i = req.input;
        let asked = i.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let (_, stored) = self
            .storage
            .list_parts(&c, &i.bucket, &i.key, &i.upload_id)
            .await
            .map_err(s3_error)?;
        let mut numbers = Vec::with_capacity(asked.len());
        for p in &asked {
            let n = p
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "A part has no number"))?;
            if numbers.last().is_some_and(|last| *last >= n) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order"
                ));
            }
            let found = stored
                .iter()
                .find(|s| s.number == n)
                .ok_or_else(|| s3_error!(InvalidPart, "Part {n} was not uploaded"))?;
            if let Some(tag) = &p.e_tag {
                if tag.value() != found.etag.trim_matches('"') {
                    return Err(s3_error!(
                        InvalidPart,
                        "Part {n}'s ETag does not match the uploaded part"
                    ));
                }
            }
            numbers.push(n);
        }
        let info = self
            .storage
            .complete_multipart(&c, &i.bucket, &i.key, &i.upload_id, &numbers)
            .await
            .map_err(s3_error)?;
        ok(CompleteMultipartUploadOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            e_tag: Some(etag(&info.etag)),
            location: Some(format!("/{}/{}", i.bucket, i.key)),
            ..Default::default()
        })
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> Out<AbortMultipartUploadOutput> {
        let c = caller(&req)?;
        let i = req.input;
        self.storage
            .abort_multipart(&c, &i.bucket, &i.key, &i.upload_id)
            .await
            .map_err(s3_error)?;
        let mut resp = S3Response::new(AbortMultipartUploadOutput::default());
        resp.status = Some(http::StatusCode::NO_CONTENT);
        Ok(resp)
    }
}
