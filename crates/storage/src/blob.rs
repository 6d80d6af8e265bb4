//! Object bytes, through `object_store`: a local directory or an S3-compatible bucket.
//!
//! Every upload writes a new, never reused key derived from the object's `version`
//! (`objects/<2 hex>/<version>`); the database row points at it. A key therefore becomes
//! reachable only when the row naming its version commits, a move is a metadata update, and
//! bytes that no committed row references (a crash between writing and committing, or between
//! committing a delete and removing the bytes) are found and removed by [`Blobs::sweep`].
//! Writes stream in parts of a fixed size with a bounded number in flight, so memory stays flat
//! whatever the object's size.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, PutPayload, WriteMultipart,
};

use crate::config::Backend;
use crate::error::{from_io, ApiError};
use crate::Error;

/// Parts uploaded at once while streaming one object.
const PARTS_IN_FLIGHT: usize = 4;
/// Read size when streaming a local file out.
const READ_CHUNK: usize = 256 * 1024;
/// Part size on the local filesystem, where parts need not be large (S3 wants at least 5 MiB).
const LOCAL_PART: usize = 1024 * 1024;
/// Smallest part S3 accepts (all but the last).
const S3_MIN_PART: usize = 5 * 1024 * 1024;

/// The byte store.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// Root directory when the store is the local filesystem.
    local_root: Option<PathBuf>,
    part_size: usize,
}

/// A byte stream read from the store.
pub struct Download {
    pub stream: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// Where the bytes of version `version` live.
pub fn object_key(version: &str) -> Path {
    let shard = version.get(..2).unwrap_or("00");
    Path::from(format!("objects/{shard}/{version}"))
}

/// The version named by an object key, when it is one.
pub fn version_of(key: &Path) -> Option<String> {
    let mut parts = key.parts();
    let first = parts.next()?;
    if first.as_ref() != "objects" {
        return None;
    }
    parts.nth(1).map(|p| p.as_ref().to_string())
}

impl Blobs {
    /// Opens the configured backend (creating the local directory when needed).
    pub fn open(backend: &Backend, part_size: usize) -> Result<Blobs, Error> {
        match backend {
            Backend::File { root } => {
                std::fs::create_dir_all(root).map_err(|e| {
                    Error::Config(format!("storage directory {}: {e}", root.display()))
                })?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| Error::Config(format!("storage directory: {e}")))?
                    .with_automatic_cleanup(true);
                let root = std::fs::canonicalize(root)
                    .map_err(|e| Error::Config(format!("storage directory: {e}")))?;
                Ok(Blobs {
                    store: Arc::new(fs),
                    local_root: Some(root),
                    part_size: part_size.min(LOCAL_PART),
                })
            }
            Backend::S3(s3) => {
                // From the environment first, so session tokens and instance credentials work too.
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_virtual_hosted_style_request(!s3.force_path_style)
                    .with_allow_http(s3.allow_http);
                if let Some(e) = &s3.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(k) = &s3.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = &s3.secret_access_key {
                    b = b.with_secret_access_key(s);
                }
                let store = b
                    .build()
                    .map_err(|e| Error::Config(format!("S3 backend: {e}")))?;
                Ok(Blobs {
                    store: Arc::new(store),
                    local_root: None,
                    part_size: part_size.max(S3_MIN_PART),
                })
            }
        }
    }

    /// Streams `body` to `key`, refusing it once more than `limit` bytes arrived. Small bodies
    /// (under one part) are written with a single request; larger ones in parts. On any failure
    /// nothing is left under `key`; a full filesystem fails with
    /// [`ApiError::InsufficientStorage`]. Returns the number of bytes written.
    pub async fn write<S>(&self, key: &Path, body: S, limit: u64) -> Result<u64, ApiError>
    where
        S: Stream<Item = Result<Bytes, ApiError>> + Unpin,
    {
        let mut body = body;
        let mut total: u64 = 0;
        let mut first: Vec<Bytes> = Vec::new();
        let mut buffered = 0usize;
        // Gather the first part; most objects end here.
        while buffered < self.part_size {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    total += chunk.len() as u64;
                    if total > limit {
                        return Err(ApiError::EntityTooLarge);
                    }
                    buffered += chunk.len();
                    first.push(chunk);
                }
                None => {
                    let payload: PutPayload = first.into_iter().collect();
                    self.store.put(key, payload).await?;
                    self.durable_or_remove(key).await?;
                    return Ok(total);
                }
            }
        }
        let upload = self.store.put_multipart(key).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        for b in first {
            w.put(b);
        }
        let result: Result<(), ApiError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                total += chunk.len() as u64;
                if total > limit {
                    return Err(ApiError::EntityTooLarge);
                }
                w.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                w.put(chunk);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                // A part that fails here (the disk filled up) drops the upload, which removes
                // its staging file.
                w.finish().await?;
                self.durable_or_remove(key).await?;
                Ok(total)
            }
            Err(e) => {
                if let Err(abort) = w.abort().await {
                    tracing::warn!(error = %abort, "storage: aborting a partial upload failed");
                }
                Err(e)
            }
        }
    }

    /// [`Blobs::make_durable`], removing the bytes under `key` when that fails, so that a write
    /// that could not be made durable leaves nothing behind.
    async fn durable_or_remove(&self, key: &Path) -> Result<(), ApiError> {
        if let Err(e) = self.make_durable(key).await {
            self.delete_quietly([key.clone()]).await;
            return Err(e);
        }
        Ok(())
    }

    /// On the local filesystem, flushes the file and its directory to disk (S3 acknowledges a
    /// write only once it is durable).
    async fn make_durable(&self, key: &Path) -> Result<(), ApiError> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let path = root.join(key.as_ref());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&path)?.sync_all()?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| ApiError::Internal(format!("sync task: {e}")))?
        .map_err(|e| from_io("sync", e))
    }

    /// Reads `key`, optionally a byte range of it.
    pub async fn read(&self, key: &Path, range: Option<Range<u64>>) -> Result<Download, ApiError> {
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self.store.get_opts(key, opts).await?;
        let range = got.range.clone();
        let stream = match got.payload {
            GetResultPayload::File(file, _path) => local_stream(file, range.clone()).await?,
            GetResultPayload::Stream(s) => s.map_err(std::io::Error::other).boxed(),
        };
        Ok(Download { stream })
    }

    /// The bytes under `keys`, one after the other, as one stream.
    pub fn concat(&self, keys: Vec<Path>) -> BoxStream<'static, Result<Bytes, ApiError>> {
        let blobs = self.clone();
        futures::stream::iter(keys)
            .then(move |k| {
                let blobs = blobs.clone();
                async move { blobs.read(&k, None).await }
            })
            .map_ok(|d| {
                d.stream
                    .map_err(|e| ApiError::Internal(format!("read part: {e}")))
            })
            .try_flatten()
            .boxed()
    }

    /// The size of the bytes under `key`.
    pub async fn size(&self, key: &Path) -> Result<u64, ApiError> {
        Ok(self.store.head(key).await?.size)
    }

    /// Removes `key`; a missing key is not an error.
    pub async fn delete(&self, key: &Path) -> Result<(), ApiError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes keys, logging (not failing on) errors: used after a commit made them garbage,
    /// which the sweep collects if this does not.
    pub async fn delete_quietly(&self, keys: impl IntoIterator<Item = Path>) {
        for k in keys {
            if let Err(e) = self.delete(&k).await {
                tracing::warn!(key = %k, error = %e, "storage: could not remove bytes");
            }
        }
    }

    /// Copies `from` to the new key `to`.
    pub async fn copy(&self, from: &Path, to: &Path) -> Result<(), ApiError> {
        self.store.copy(from, to).await?;
        self.durable_or_remove(to).await
    }

    /// Writes a small object in one request.
    pub async fn put_small(&self, key: &Path, bytes: Bytes) -> Result<(), ApiError> {
        self.store.put(key, PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Reads a small object whole.
    pub async fn get_small(&self, key: &Path) -> Result<Bytes, ApiError> {
        Ok(self.store.get(key).await?.bytes().await?)
    }

    /// Keys under `prefix` with their sizes and modification times.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<object_store::ObjectMeta>, ApiError> {
        Ok(self.store.list(Some(prefix)).try_collect().await?)
    }

    /// Keys under `objects/` older than `grace`, in pages.
    pub fn list_objects(
        &self,
    ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        let store = self.store.clone();
        futures::stream::once(async move { store.list(Some(&Path::from("objects"))) })
            .flatten()
            .boxed()
    }

    /// On the local filesystem, removes staging files of writes that never finished (a crash
    /// mid-write) and are older than `grace`. S3 never shows unfinished multipart uploads.
    pub async fn remove_stale_staging(&self, grace: Duration) -> usize {
        let Some(root) = self.local_root.clone() else {
            return 0;
        };
        tokio::task::spawn_blocking(move || remove_staging(&root, grace))
            .await
            .unwrap_or(0)
    }
}

fn remove_staging(dir: &std::path::Path, grace: Duration) -> usize {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            removed += remove_staging(&path, grace);
        } else if is_staging_name(&entry.file_name().to_string_lossy()) {
            let old = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age >= grace);
            if old && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Whether a file name is a local-filesystem staging file (`<name>#<digits>`).
fn is_staging_name(name: &str) -> bool {
    name.split_once('#')
        .is_some_and(|(_, s)| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

async fn local_stream(
    file: std::fs::File,
    range: Range<u64>,
) -> Result<BoxStream<'static, Result<Bytes, std::io::Error>>, ApiError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::from_std(file);
    f.seek(std::io::SeekFrom::Start(range.start))
        .await
        .map_err(|e| ApiError::Internal(format!("seek: {e}")))?;
    let limited = f.take(range.end.saturating_sub(range.start));
    Ok(tokio_util::io::ReaderStream::with_capacity(limited, READ_CHUNK).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let k = object_key("abcdef");
        assert_eq!(k.as_ref(), "objects/ab/abcdef");
        assert_eq!(version_of(&k).as_deref(), Some("abcdef"));
        assert_eq!(version_of(&Path::from("uploads/x/y")), None);
        assert!(is_staging_name("abcdef#12"));
        assert!(!is_staging_name("abcdef"));
        assert!(!is_staging_name("a#b"));
    }

    #[tokio::test]
    async fn write_small_and_large_then_read_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(
            &Backend::File {
                root: dir.path().to_path_buf(),
            },
            1024,
        )
        .expect("open");
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<Result<Bytes, ApiError>> = data
            .chunks(700)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let key = object_key("ffee01");
        let n = blobs
            .write(&key, futures::stream::iter(chunks), 10_000)
            .await
            .expect("write");
        assert_eq!(n, 5000);
        let d = blobs.read(&key, Some(100..200)).await.expect("read");
        let got: Vec<Bytes> = d.stream.try_collect().await.expect("bytes");
        assert_eq!(got.concat(), data[100..200].to_vec());

        let small = object_key("aa0001");
        blobs
            .write(
                &small,
                futures::stream::iter(vec![Ok(Bytes::from_static(b"hi"))]),
                10,
            )
            .await
            .expect("small");
        assert_eq!(
            blobs.get_small(&small).await.expect("get"),
            Bytes::from_static(b"hi")
        );
    }

    #[tokio::test]
    async fn over_limit_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(
            &Backend::File {
                root: dir.path().to_path_buf(),
            },
            1024,
        )
        .expect("open");
        let chunks: Vec<Result<Bytes, ApiError>> =
            (0..10).map(|_| Ok(Bytes::from(vec![7u8; 600]))).collect();
        let key = object_key("bb0002");
        let r = blobs.write(&key, futures::stream::iter(chunks), 4000).await;
        assert!(matches!(r, Err(ApiError::EntityTooLarge)));
        assert!(blobs
            .list(&Path::from("objects"))
            .await
            .expect("list")
            .is_empty());
        assert_eq!(blobs.remove_stale_staging(Duration::ZERO).await, 0);
    }
}
