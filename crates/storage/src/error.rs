//! Every way a storage request can fail, and the one place that turns a failure into
//! storage-api's error body: `{"statusCode":"404","code":"NoSuchKey","error":"not_found",
//! "message":"Object not found"}`, sent with HTTP 400 for all but internal errors (500) and a
//! few exceptions (416 for unsatisfiable ranges, 507 when the byte store is full, TUS status
//! codes), as supabase-js expects.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What already exists when a write is refused as a duplicate: storage-api names each with its
/// own `code` (`KeyAlreadyExists`, `BucketAlreadyExists`, `ResourceAlreadyExists`), all with
/// `error` `Duplicate` and status 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// An object at that name (an upload, copy or signed upload without upsert).
    Key,
    /// A bucket with that id.
    Bucket,
    /// Any other unique row (a move onto an existing object).
    Resource,
}

/// A failed storage request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Bucket not found")]
    NoSuchBucket,
    #[error("Object not found")]
    NoSuchKey,
    #[error("Upload not found")]
    NoSuchUpload,
    #[error("The resource already exists")]
    Duplicate(Existing),
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    InvalidJwt(String),
    #[error("Invalid key: {0}")]
    InvalidKey(String),
    #[error("Bucket name invalid")]
    InvalidBucketName,
    #[error("The object exceeded the maximum allowed size")]
    EntityTooLarge,
    #[error("mime type {0} is not supported")]
    InvalidMimeType(String),
    #[error("invalid range provided")]
    InvalidRange { size: u64 },
    #[error("{0}")]
    InvalidRequest(String),
    /// A request body that does not fit the route's schema (`body must have required property
    /// 'prefix'`): `code` `InvalidRequest`, `error` `Error`, as request validation reports it.
    #[error("{0}")]
    Validation(String),
    #[error("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")]
    InvalidFileSizeLimit,
    #[error("Missing Required Parameter {0}")]
    MissingParameter(String),
    #[error("Invalid Parameter {0}")]
    InvalidParameter(String),
    #[error("The provided token has expired.")]
    ExpiredToken,
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    NotFound(String),
    /// A TUS protocol error with its own HTTP status.
    #[error("{message}")]
    Tus { status: u16, message: String },
    /// The byte store has no space left (the filesystem is full or a quota is exhausted): the
    /// write was refused and nothing of it kept. Sent as HTTP 507 Insufficient Storage.
    #[error("The storage backend has no space left for this object")]
    InsufficientStorage,
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    /// The real status, as reported in the body's `statusCode`.
    pub fn status(&self) -> u16 {
        use ApiError::*;
        match self {
            NoSuchBucket | NoSuchKey | NoSuchUpload | NotFound(_) => 404,
            Duplicate(_) | BucketNotEmpty => 409,
            AccessDenied(_) => 403,
            EntityTooLarge => 413,
            InvalidMimeType(_) => 415,
            InvalidRange { .. } => 416,
            Tus { status, .. } => *status,
            Internal(_) => 500,
            InsufficientStorage => 507,
            InvalidJwt(_) | InvalidKey(_) | InvalidBucketName | InvalidRequest(_)
            | Validation(_) | InvalidFileSizeLimit | MissingParameter(_) | InvalidParameter(_)
            | ExpiredToken | InvalidSignature(_) => 400,
        }
    }

    /// storage-api's `code`.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            NoSuchBucket => "NoSuchBucket",
            NoSuchKey => "NoSuchKey",
            NotFound(_) => "InvalidRequest",
            NoSuchUpload => "NoSuchUpload",
            Duplicate(Existing::Key) => "KeyAlreadyExists",
            Duplicate(Existing::Bucket) => "BucketAlreadyExists",
            Duplicate(Existing::Resource) => "ResourceAlreadyExists",
            BucketNotEmpty => "ResourceNotEmpty",
            AccessDenied(_) => "AccessDenied",
            InvalidJwt(_) => "InvalidJWT",
            InvalidKey(_) => "InvalidKey",
            InvalidBucketName => "InvalidBucketName",
            EntityTooLarge => "EntityTooLarge",
            InvalidMimeType(_) => "InvalidMimeType",
            InvalidRange { .. } => "InvalidRange",
            InvalidRequest(_) | Validation(_) | InvalidFileSizeLimit => "InvalidRequest",
            MissingParameter(_) => "MissingParameter",
            InvalidParameter(_) => "InvalidParameter",
            ExpiredToken => "ExpiredToken",
            InvalidSignature(_) => "InvalidSignature",
            Tus { .. } => "TusError",
            InsufficientStorage => "InsufficientStorage",
            Internal(_) => "InternalError",
        }
    }

    /// storage-api's backwards-compatible `error` field.
    pub fn error_name(&self) -> &'static str {
        use ApiError::*;
        match self {
            NoSuchBucket => "Bucket not found",
            NoSuchKey => "not_found",
            NotFound(_) => "Not Found",
            Duplicate(_) => "Duplicate",
            AccessDenied(_) => "Unauthorized",
            InvalidBucketName => "Invalid Input",
            EntityTooLarge => "Payload too large",
            InvalidMimeType(_) => "invalid_mime_type",
            InvalidRange { .. } => "invalid_range",
            InsufficientStorage => "Insufficient Storage",
            Validation(_) => "Error",
            other => other.code(),
        }
    }

    /// The HTTP status actually sent.
    pub fn http_status(&self) -> StatusCode {
        match self {
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::InvalidRange { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            // Unknown routes answer with a real 404, as the upstream web framework does.
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Tus { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "statusCode": self.status().to_string(),
            "code": self.code(),
            "error": self.error_name(),
            "message": self.to_string(),
        })
    }

    /// Maps a database error the way storage-api does: RLS refusals become `AccessDenied`,
    /// unique violations `Duplicate` (`ResourceAlreadyExists`; callers that know what was
    /// written name it more exactly), foreign-key violations on delete `ResourceNotEmpty`.
    pub fn from_db(e: &tokio_postgres::Error) -> ApiError {
        use tokio_postgres::error::SqlState;
        let Some(db) = e.as_db_error() else {
            return ApiError::Internal(e.to_string());
        };
        let code = db.code();
        if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            let msg = if db.message().contains("row-level security") {
                "new row violates row-level security policy".to_string()
            } else {
                db.message().to_string()
            };
            ApiError::AccessDenied(msg)
        } else if *code == SqlState::UNIQUE_VIOLATION {
            ApiError::Duplicate(Existing::Resource)
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            ApiError::BucketNotEmpty
        } else if *code == SqlState::INVALID_PARAMETER_VALUE || *code == SqlState::UNDEFINED_OBJECT
        {
            // `set_config('role', …)` with a role that does not exist.
            ApiError::AccessDenied(db.message().to_string())
        } else if *code == SqlState::QUERY_CANCELED {
            ApiError::Internal("The connection to the database timed out".into())
        } else {
            ApiError::Internal(format!("{}: {}", code.code(), db.message()))
        }
    }
}

impl ApiError {
    /// A duplicate named as `what`; any other error unchanged.
    pub fn naming(self, what: Existing) -> ApiError {
        match self {
            ApiError::Duplicate(_) => ApiError::Duplicate(what),
            other => other,
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        ApiError::from_db(&e)
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError::Internal(format!("database pool: {e}"))
    }
}

impl From<object_store::Error> for ApiError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => ApiError::NoSuchKey,
            other if is_out_of_space(&other) => {
                tracing::warn!(error = %other, "storage: the byte store is out of space");
                ApiError::InsufficientStorage
            }
            other => ApiError::Internal(format!("object store: {other}")),
        }
    }
}

/// Turns an I/O error of the byte store into a request error: a full filesystem or exhausted
/// quota is [`ApiError::InsufficientStorage`], anything else internal, described by `context`.
pub fn from_io(context: &str, e: std::io::Error) -> ApiError {
    if is_out_of_space(&e) {
        tracing::warn!(error = %e, "storage: the byte store is out of space ({context})");
        ApiError::InsufficientStorage
    } else {
        ApiError::Internal(format!("{context}: {e}"))
    }
}

/// Whether `e`, or an error in its chain of sources, is an I/O error saying the filesystem has
/// no space left (`ENOSPC`) or the quota is exhausted (`EDQUOT`).
pub fn is_out_of_space(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) {
                return true;
            }
            // An I/O error wrapping another reports the inner one's source, not the inner
            // one itself.
            if io.get_ref().is_some_and(|inner| is_out_of_space(inner)) {
                return true;
            }
        }
        next = err.source();
    }
    false
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "storage: internal error");
        }
        let mut resp = (self.http_status(), axum::Json(self.body())).into_response();
        if let ApiError::InvalidRange { size } = &self {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(http::header::CONTENT_RANGE, v);
            }
        }
        if matches!(self, ApiError::Tus { .. }) {
            resp.headers_mut()
                .insert("tus-resumable", HeaderValue::from_static("1.0.0"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering() {
        let e = ApiError::NoSuchKey;
        assert_eq!(e.http_status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.body(),
            serde_json::json!({"statusCode":"404","code":"NoSuchKey","error":"not_found","message":"Object not found"})
        );
        for (kind, code) in [
            (Existing::Key, "KeyAlreadyExists"),
            (Existing::Bucket, "BucketAlreadyExists"),
            (Existing::Resource, "ResourceAlreadyExists"),
        ] {
            let d = ApiError::Duplicate(kind).body();
            assert_eq!(d["statusCode"], "409");
            assert_eq!(d["code"], code);
            assert_eq!(d["error"], "Duplicate");
            assert_eq!(d["message"], "The resource already exists");
        }
        assert_eq!(
            ApiError::Internal("x".into()).http_status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(ApiError::EntityTooLarge.body()["statusCode"], "413");
        assert_eq!(
            ApiError::InvalidMimeType("a/b".into()).body()["message"],
            "mime type a/b is not supported"
        );
        let full = ApiError::InsufficientStorage;
        assert_eq!(full.http_status(), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(full.body()["statusCode"], "507");
        assert_eq!(full.body()["code"], "InsufficientStorage");
    }

    #[test]
    fn out_of_space_is_found_in_the_source_chain() {
        let enospc = std::io::Error::from_raw_os_error(28);
        assert!(is_out_of_space(&enospc));
        let wrapped = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::other(std::io::Error::from_raw_os_error(
                122,
            ))),
        };
        assert!(matches!(
            ApiError::from(wrapped),
            ApiError::InsufficientStorage
        ));
        let other = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from_raw_os_error(13)),
        };
        assert!(matches!(ApiError::from(other), ApiError::Internal(_)));
        assert!(matches!(
            from_io("sync", std::io::Error::from_raw_os_error(28)),
            ApiError::InsufficientStorage
        ));
    }
}
