//! Storage errors as S3 errors: the code and status an S3 client expects, with storage-api's
//! message.

use basalt_storage::api::{ApiError, Existing};
use http::StatusCode;
use s3s::{S3Error, S3ErrorCode};

fn custom(code: &str, status: StatusCode, message: String) -> S3Error {
    let code: S3ErrorCode = code.parse().unwrap_or(S3ErrorCode::InternalError);
    let mut e = S3Error::with_message(code, message);
    e.set_status_code(status);
    e
}

/// The S3 error for a storage error.
pub fn s3_error(e: ApiError) -> S3Error {
    use S3ErrorCode as C;
    let message = e.to_string();
    let (code, status) = match &e {
        ApiError::NoSuchBucket => (C::NoSuchBucket, StatusCode::NOT_FOUND),
        ApiError::NoSuchKey => (C::NoSuchKey, StatusCode::NOT_FOUND),
        ApiError::NoSuchUpload => (C::NoSuchUpload, StatusCode::NOT_FOUND),
        ApiError::NotFound(_) => (C::NoSuchKey, StatusCode::NOT_FOUND),
        ApiError::Duplicate(Existing::Bucket) => (C::BucketAlreadyExists, StatusCode::CONFLICT),
        ApiError::Duplicate(_) => return custom(e.code(), StatusCode::CONFLICT, message),
        ApiError::BucketNotEmpty => (C::BucketNotEmpty, StatusCode::CONFLICT),
        ApiError::AccessDenied(_) | ApiError::InvalidJwt(_) | ApiError::ExpiredToken => {
            (C::AccessDenied, StatusCode::FORBIDDEN)
        }
        ApiError::InvalidSignature(_) => (C::SignatureDoesNotMatch, StatusCode::FORBIDDEN),
        ApiError::InvalidKey(_) => return custom("InvalidKey", StatusCode::BAD_REQUEST, message),
        ApiError::InvalidBucketName => (C::InvalidBucketName, StatusCode::BAD_REQUEST),
        ApiError::EntityTooLarge => (C::EntityTooLarge, StatusCode::PAYLOAD_TOO_LARGE),
        ApiError::InvalidMimeType(_) => {
            return custom(
                "InvalidMimeType",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message,
            )
        }
        ApiError::InvalidRange { .. } => (C::InvalidRange, StatusCode::RANGE_NOT_SATISFIABLE),
        ApiError::InsufficientStorage => {
            return custom(
                "InsufficientStorage",
                StatusCode::INSUFFICIENT_STORAGE,
                message,
            )
        }
        ApiError::Internal(detail) => {
            tracing::error!(error = %detail, "s3: internal error");
            (C::InternalError, StatusCode::INTERNAL_SERVER_ERROR)
        }
        _ => (C::InvalidRequest, StatusCode::BAD_REQUEST),
    };
    let mut err = S3Error::with_message(code, message);
    err.set_status_code(status);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let e = s3_error(ApiError::NoSuchKey);
        assert_eq!(e.code(), &S3ErrorCode::NoSuchKey);
        assert_eq!(e.status_code(), Some(StatusCode::NOT_FOUND));
        let e = s3_error(ApiError::AccessDenied(
            "new row violates row-level security policy".into(),
        ));
        assert_eq!(e.code(), &S3ErrorCode::AccessDenied);
        assert_eq!(e.status_code(), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            e.message(),
            Some("new row violates row-level security policy")
        );
        let e = s3_error(ApiError::InvalidMimeType("a/b".into()));
        assert_eq!(e.code().as_str(), "InvalidMimeType");
        assert_eq!(e.status_code(), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        let e = s3_error(ApiError::BucketNotEmpty);
        assert_eq!(e.code(), &S3ErrorCode::BucketNotEmpty);
        assert_eq!(e.status_code(), Some(StatusCode::CONFLICT));
        let e = s3_error(ApiError::Duplicate(Existing::Bucket));
        assert_eq!(e.code(), &S3ErrorCode::BucketAlreadyExists);
        assert_eq!(e.status_code(), Some(StatusCode::CONFLICT));
        let e = s3_error(ApiError::InvalidKey("bad\u{e9}.txt".into()));
        assert_eq!(e.code().as_str(), "InvalidKey");
        assert_eq!(e.status_code(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(e.message(), Some("Invalid key: bad\u{e9}.txt"));
        let e = s3_error(ApiError::Duplicate(Existing::Key));
        assert_eq!(e.code().as_str(), "KeyAlreadyExists");
        assert_eq!(e.status_code(), Some(StatusCode::CONFLICT));
    }
}
