//! The signature check. Clients sign the path they call, prefix included
//! (`/storage/v1/s3/<bucket>/<key>`), while the operation is read from the path below the
//! prefix; s3s does both from one URI. So a request passes two s3s services: the gate verifies
//! the SigV4 signature (headers, presigned query, chunked payloads) over the full URI and turns
//! the credentials into a [`Caller`]; then a route that takes every request hands it, with the
//! payload already decoded and the caller in its extensions, to the inner service, which sees
//! the path below the prefix, no signature, and dispatches the operation.
//!
//! Credentials: the project's S3 access key (service role, bypassing RLS), or Supabase's
//! session-token mode: any other access key id (the project ref) signed with the anon key, and
//! `x-amz-security-token` carrying a user's JWT, verified with the project's keys; the request
//! then runs as that user.

use basalt_storage::api::{Caller, Storage};
use http::{HeaderMap, Method, Uri};
use s3s::auth::{S3Auth, SecretKey};
use s3s::route::S3Route;
use s3s::service::S3Service;
use s3s::{s3_error, Body, S3Request, S3Response, S3Result};

/// The URI below the mount point, as the router saw it.
#[derive(Clone)]
pub struct InnerUri(pub Uri);

/// Access keys and their secrets.
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The secret of session-token mode: the project's anon key.
    pub anon_key: String,
}

/// The secret a request's signature is checked with.
pub struct Auth(pub std::sync::Arc<Keys>);

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.0.access_key_id {
            Ok(SecretKey::from(self.0.secret_access_key.as_str()))
        } else {
            Ok(SecretKey::from(self.0.anon_key.as_str()))
        }
    }
}

/// Hands every signed request to the inner service.
pub struct Forward {
    pub keys: std::sync::Arc<Keys>,
    pub storage: Storage,
    pub inner: S3Service,
}

const SIGNATURE_PARAMS: &[&str] = &[
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
];

/// The session token of a request: the header, or the presigned URL's query parameter.
fn session_token(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_string());
    }
    let query = uri.query()?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.eq_ignore_ascii_case("x-amz-security-token").then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `uri` without the query parameters of a presigned URL's signature.
fn unsigned_uri(uri: &Uri) -> Uri {
    let Some(query) = uri.query() else {
        return uri.clone();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| {
            let k = kv.split_once('=').map_or(*kv, |(k, _)| k);
            !SIGNATURE_PARAMS.iter().any(|p| k.eq_ignore_ascii_case(p))
        })
        .collect();
    let pq = if kept.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    pq.parse().unwrap_or_else(|_| uri.clone())
}

/// Headers without what the gate has dealt with (signature, chunked payload encoding).
fn unsigned_headers(mut h: HeaderMap) -> HeaderMap {
    for name in [
        "authorization",
        "x-amz-content-sha256",
        "x-amz-security-token",
        "x-amz-decoded-content-length",
        "x-amz-trailer",
    ] {
        h.remove(name);
    }
    let encoding = h
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|e| !e.eq_ignore_ascii_case("aws-chunked") && !e.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        });
    if let Some(rest) = encoding {
        match http::HeaderValue::from_str(&rest) {
            Ok(v) if !rest.is_empty() => {
                h.insert(http::header::CONTENT_ENCODING, v);
            }
            _ => {
                h.remove(http::header::CONTENT_ENCODING);
            }
        }
    }
    h
}

#[async_trait::async_trait]
impl S3Route for Forward {
    fn is_match(
        &self,
        _method: &Method,
        _uri: &Uri,
        _headers: &HeaderMap,
        _extensions: &mut http::Extensions,
    ) -> bool {
        true
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let Some(cred) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        let caller = if cred.access_key == self.keys.access_key_id {
            Caller::service()
        } else {
            let token = session_token(&req.headers, &req.uri).ok_or_else(|| {
                s3_error!(
                    AccessDenied,
                    "The session token should be a valid JWT token"
                )
            })?;
            self.storage
                .caller(&token)
                .map_err(|e| s3_error!(AccessDenied, "Invalid session token: {e}"))?
        };
        req.extensions.insert(caller);
        Ok(())
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let inner_uri = req
            .extensions
            .get::<InnerUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| req.uri.clone());
        let mut builder = http::Request::builder()
            .method(req.method)
            .uri(unsigned_uri(&inner_uri));
        if let Some(h) = builder.headers_mut() {
            *h = unsigned_headers(req.headers);
        }
        let mut inner_req = builder
            .body(req.input)
            .map_err(|e| s3_error!(InternalError, "forward: {e}"))?;
        *inner_req.extensions_mut() = req.extensions;
        let resp = self
            .inner
            .call(inner_req)
            .await
            .map_err(|e| s3_error!(InternalError, "forward: {:?}", e))?;
        let (parts, body) = resp.into_parts();
        let mut out = S3Response::new(body);
        out.status = Some(parts.status);
        out.headers = parts.headers;
        out.extensions = parts.extensions;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_parameters_are_dropped() {
        let u: Uri =
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&uploadId=7&X-Amz-Signature=ab&partNumber=2"
                .parse()
                .unwrap();
        assert_eq!(unsigned_uri(&u).to_string(), "/b/k?uploadId=7&partNumber=2");
        let u: Uri = "/b/k?X-Amz-Signature=ab".parse().unwrap();
        assert_eq!(unsigned_uri(&u).to_string(), "/b/k");
    }

    #[test]
    fn session_token_from_header_or_query() {
        let mut h = HeaderMap::new();
        let u: Uri = "/b/k?X-Amz-Security-Token=a%2Eb.c".parse().unwrap();
        assert_eq!(session_token(&h, &u).as_deref(), Some("a.b.c"));
        h.insert("x-amz-security-token", "x.y.z".parse().unwrap());
        assert_eq!(session_token(&h, &u).as_deref(), Some("x.y.z"));
        assert_eq!(
            session_token(&HeaderMap::new(), &"/b".parse().unwrap()),
            None
        );
    }

    #[test]
    fn chunked_encoding_is_removed() {
        let mut h = HeaderMap::new();
        h.insert("content-encoding", "aws-chunked, gzip".parse().unwrap());
        h.insert("authorization", "AWS4-HMAC-SHA256 x".parse().unwrap());
        let h = unsigned_headers(h);
        assert_eq!(h.get("content-encoding").unwrap(), "gzip");
        assert!(h.get("authorization").is_none());
        let mut h = HeaderMap::new();
        h.insert("content-encoding", "aws-chunked".parse().unwrap());
        assert!(unsigned_headers(h).get("content-encoding").is_none());
    }
}
