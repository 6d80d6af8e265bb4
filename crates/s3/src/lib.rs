//! basalt-s3: Supabase's S3 protocol endpoint, `/storage/v1/s3`, over the storage service's
//! buckets, `storage.objects` rows and byte store (`basalt_storage::api`): an object written
//! through S3 is listed, downloaded and policed through the Storage API, and the reverse.
//!
//! The protocol is served by the `s3s` crate (request parsing, SigV4 with header, presigned and
//! chunked payloads, XML bodies, S3 errors); this crate implements its `S3` trait (`ops`) and
//! the credential check (`gate`): the project's S3 access key runs as `service_role`; Supabase's
//! session-token mode (access key id = project ref, secret = anon key, session token = a user's
//! JWT) runs as that user's role and claims, so RLS applies. Operations: ListBuckets,
//! CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation, HeadObject, GetObject (Range),
//! PutObject, DeleteObject, DeleteObjects, CopyObject, ListObjects(V2), and multipart uploads
//! (Create, UploadPart, Complete, Abort, ListParts) whose state lives in Postgres and the byte
//! store, so several nodes can serve one upload.

mod error;
mod gate;
mod ops;

use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::validation::NameValidation;

/// The S3 endpoint's settings.
#[derive(Clone)]
pub struct Config {
    /// The storage service's configuration (database, keys, byte store, limits).
    pub storage: basalt_storage::Config,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The project's anon key: the secret of session-token mode.
    pub anon_key: String,
    /// Reported as the buckets' region (`local`, as `supabase start`).
    pub region: String,
}

/// Why the endpoint could not be built.
#[derive(Debug, thiserror::Error)]
#[error("s3: {0}")]
pub struct Error(String);

/// The Supabase CLI's fixed local S3 keys (`supabase start` prints them).
pub const CLI_LOCAL_KEYS: (&str, &str) = (
    "625729a08b95bf1b7ff351a663f3a23c",
    "850181e4652dd023b7a98c58ae0d2d34bd487ee0cc3254aed6eda37307425907",
);

/// The S3 access key pair of a project: `S3_PROTOCOL_ACCESS_KEY_ID` and
/// `S3_PROTOCOL_ACCESS_KEY_SECRET` (storage-api's variables) when both are set; the Supabase
/// CLI's local pair when the project uses the CLI's local JWT secret; otherwise derived from the
/// JWT secret (stable across restarts, as secret as it).
pub fn credentials(
    jwt_secret: &str,
    cli_local_secret: bool,
    env: impl Fn(&str) -> Option<String>,
) -> (String, String) {
    if let (Some(id), Some(secret)) = (
        env("S3_PROTOCOL_ACCESS_KEY_ID"),
        env("S3_PROTOCOL_ACCESS_KEY_SECRET"),
    ) {
        return (id, secret);
    }
    if cli_local_secret {
        return (CLI_LOCAL_KEYS.0.into(), CLI_LOCAL_KEYS.1.into());
    }
    use hmac::Mac;
    let derive = |label: &str| -> String {
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(jwt_secret.as_bytes()) else {
            return String::new();
        };
        mac.update(label.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let id = derive("basalt s3 access key id");
    (id[..32].to_string(), derive("basalt s3 secret access key"))
}

/// Bucket names as storage accepts them (s3s's default follows AWS's stricter rules).
struct StorageNames;

impl NameValidation for StorageNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_!-.*'() &$@=;:+,?".contains(c))
            && name != "."
            && name != ".."
    }
}

/// Where the endpoint is served under `basalt start`.
pub const BASE_PATH: &str = "/storage/v1/s3";

/// The endpoint's routes, `/s3`, `/s3/` and `/s3/…` relative to the storage service's mount
/// point, to be merged into its router (clients sign the full path, [`BASE_PATH`]).
pub fn router(config: Config) -> Result<axum::Router, Error> {
    let mut storage = config.storage.clone();
    // Its own pool, smaller than the HTTP service's.
    storage.pool_size = storage.pool_size.min(10);
    let storage =
        basalt_storage::api::Storage::connect(storage).map_err(|e| Error(e.to_string()))?;
    let mut inner = S3ServiceBuilder::new(ops::BasaltS3 {
        storage: storage.clone(),
        region: config.region.clone(),
    });
    inner.set_validation(StorageNames);
    let keys = Arc::new(gate::Keys {
        access_key_id: config.access_key_id,
        secret_access_key: config.secret_access_key,
        anon_key: config.anon_key,
    });
    // The gate's own operations are never reached: its route takes every signed request.
    let mut outer = S3ServiceBuilder::new(ops::BasaltS3 {
        storage: storage.clone(),
        region: config.region,
    });
    // It parses the full path too: its first segment stands where a bucket would.
    outer.set_validation(StorageNames);
    outer.set_auth(gate::Auth(keys.clone()));
    outer.set_route(gate::Forward {
        keys,
        storage,
        inner: inner.build(),
    });
    let gate = outer.build();
    let handler = axum::routing::any(move |req: Request| serve(gate.clone(), req));
    Ok(axum::Router::new()
        .route("/s3", handler.clone())
        .route("/s3/", handler.clone())
        .route("/s3/{*path}", handler)
        .layer(axum::extract::DefaultBodyLimit::disable()))
}

/// The path below the endpoint: after [`BASE_PATH`] in the path the client called, else after
/// `/s3` in the path this router saw.
fn inner_path<'a>(original: &'a str, routed: &'a str) -> &'a str {
    let rest = original
        .strip_prefix(BASE_PATH)
        .or_else(|| routed.strip_prefix("/s3"))
        .unwrap_or(routed);
    if rest.is_empty() {
        "/"
    } else {
        rest
    }
}

async fn serve(gate: S3Service, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let original = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.clone(), |u| u.0.clone());
    let path = inner_path(original.path(), parts.uri.path());
    let inner = match original.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    if let Ok(inner) = inner.parse() {
        parts.extensions.insert(gate::InnerUri(inner));
    }
    // The signature covers the path the client called.
    parts.uri = original;
    let req = http::Request::from_parts(parts, s3s::Body::http_body_unsync(body));
    match gate.call(req).await {
        Ok(resp) => resp.map(AxumBody::new).into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "s3: request failed");
            http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_order() {
        let none = |_: &str| None;
        assert_eq!(
            credentials("super-secret", true, none),
            (CLI_LOCAL_KEYS.0.to_string(), CLI_LOCAL_KEYS.1.to_string())
        );
        let (id, secret) = credentials("s1", false, none);
        assert_eq!(id.len(), 32);
        assert_eq!(secret.len(), 64);
        assert_eq!(credentials("s1", false, none), (id.clone(), secret));
        assert_ne!(credentials("s2", false, none).0, id);
        let env = |k: &str| match k {
            "S3_PROTOCOL_ACCESS_KEY_ID" => Some("k".to_string()),
            "S3_PROTOCOL_ACCESS_KEY_SECRET" => Some("s".to_string()),
            _ => None,
        };
        assert_eq!(
            credentials("s1", true, env),
            ("k".to_string(), "s".to_string())
        );
        assert!(StorageNames.validate_bucket_name("User_Files"));
        assert_eq!(inner_path("/storage/v1/s3", "/s3"), "/");
        assert_eq!(inner_path("/storage/v1/s3/", "/s3/"), "/");
        assert_eq!(inner_path("/storage/v1/s3/b/k", "/s3/b/k"), "/b/k");
        assert_eq!(inner_path("", "/s3/b"), "/b");
        assert!(!StorageNames.validate_bucket_name("a/b"));
    }
}
