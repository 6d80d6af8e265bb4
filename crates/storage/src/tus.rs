//! Resumable uploads over TUS 1.0.0 (`/upload/resumable`), as Supabase serves them to
//! tus-js-client: creation (with `Upload-Metadata` naming `bucketName`, `objectName`,
//! `contentType`, `cacheControl`, `metadata`), creation-with-upload, `HEAD` for the offset,
//! `PATCH` to append, and termination.
//!
//! Nodes keep no state: an upload is a description (`uploads/<id>/info`) and one key per
//! appended chunk (`uploads/<id>/p<offset>`) in the shared store, so any node can continue it.
//! When the last byte arrives the chunks stream, in order, through the ordinary upload path
//! (RLS check, limits, versioned key, commit) and are then removed.

use std::collections::HashMap;

use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use futures::TryStreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::app::State;
use crate::auth::{Caller, Scope, UrlClaims};
use crate::error::ApiError;
use crate::limits::{normalize_key, valid_bucket_name, valid_key};
use crate::route::UploadMode;
use crate::upload::{cache_control_value, probe, store, upsert_header, Incoming, Target};

/// What an upload was created for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UploadInfo {
    pub bucket: String,
    pub name: String,
    pub content_type: String,
    pub cache_control: String,
    pub user_metadata: Option<serde_json::Value>,
    pub length: u64,
    pub upsert: bool,
    /// `sub` of the creator. Only a caller with the same role and subject may see, continue
    /// or terminate the upload.
    pub owner: Option<String>,
    /// Role of the creator. Callers without a subject (the anon key, the service key) are told
    /// apart by role only: among callers of one role without a subject, the unguessable id is
    /// what keeps an upload to its creator. Descriptions written before the role was recorded
    /// have none and are refused to everyone.
    #[serde(default)]
    pub role: Option<String>,
    /// Created through `/upload/resumable/sign`: continued by whoever holds a signed upload
    /// URL's token for the object, and by no caller.
    #[serde(default)]
    pub signed: bool,
}

/// Who drives a resumable upload.
pub enum Actor {
    /// A caller, by bearer token: their policies decide.
    Caller(Caller),
    /// The `x-signature` header of `/upload/resumable/sign`: a signed upload URL's token, which
    /// authorised the write when it was made (its owner and upsert apply).
    Signed(Option<String>),
}

impl Actor {
    /// The actor of a request: the caller (refused here, in JSON, without a valid token) or,
    /// on the signed routes, the `x-signature` header.
    pub fn of(state: &State, h: &HeaderMap, signed: bool) -> Result<Actor, ApiError> {
        if signed {
            let token = h
                .get("x-signature")
                .and_then(|v| v.to_str().ok())
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            Ok(Actor::Signed(token))
        } else {
            Ok(Actor::Caller(state.caller(h)?))
        }
    }

    fn caller(&self) -> Option<&Caller> {
        match self {
            Actor::Caller(c) => Some(c),
            Actor::Signed(_) => None,
        }
    }

    /// The claims of the signed token for `bucket/name`.
    fn signature(&self, state: &State, bucket: &str, name: &str) -> Result<UrlClaims, ApiError> {
        let Actor::Signed(token) = self else {
            return Err(not_found());
        };
        let token = token
            .as_deref()
            .ok_or_else(|| ApiError::InvalidSignature("Missing x-signature header".into()))?;
        state
            .keys
            .verify_url(token, &format!("{bucket}/{name}"), Scope::Upload)
    }
}

impl UploadInfo {
    /// Whether `actor` may see and continue the upload: the caller who created it, or for a
    /// signed upload a valid token for its object.
    fn continued_by(&self, state: &State, actor: &Actor) -> Result<bool, ApiError> {
        Ok(match actor {
            Actor::Caller(caller) => {
                !self.signed
                    && self.role.as_deref() == Some(caller.role.as_str())
                    && self.owner.as_deref() == caller.sub()
            }
            Actor::Signed(_) => {
                self.signed && {
                    actor.signature(state, &self.bucket, &self.name)?;
                    true
                }
            }
        })
    }
}

fn tus_err(status: u16, message: &str) -> ApiError {
    ApiError::Tus {
        status,
        message: message.to_string(),
    }
}

/// The refusal of an upload longer than the bucket or server allows, in the TUS server's words.
fn too_large() -> ApiError {
    tus_err(413, "Maximum size exceeded\n")
}

/// A failed TUS request as Supabase's TUS server answers it: the error's own status
/// (`statusCode`: 404 for a missing bucket, 403 for a refusing policy, 409 for an existing
/// object…) with its message as a plain-text body, which tus-js-client hands to `onError`.
/// Requests refused before reaching the TUS server (no valid token) keep the JSON error body.
pub fn plain(result: Result<Response, ApiError>) -> Result<Response, ApiError> {
    let e = match result {
        Ok(r) => return Ok(r),
        Err(e) => e,
    };
    if let ApiError::Internal(detail) = &e {
        tracing::error!(error = %detail, "storage: internal error in a resumable upload");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = tus_response(status);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    *r.body_mut() = Body::from(e.to_string());
    Ok(r)
}

/// Parses `Upload-Metadata`: `key base64,key base64,key`.
pub fn parse_metadata(h: &str) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for pair in h.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once(' ').unwrap_or((pair, ""));
        let v = base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .map_err(|_| tus_err(400, "Upload-Metadata is invalid"))?;
        let v = String::from_utf8(v).map_err(|_| tus_err(400, "Upload-Metadata is invalid"))?;
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

fn info_key(id: &str) -> Path {
    Path::from(format!("uploads/{id}/info"))
}

fn part_key(id: &str, offset: u64) -> Path {
    Path::from(format!("uploads/{id}/p{offset:020}"))
}

fn valid_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

fn tus_response(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r.headers_mut()
        .insert("tus-resumable", HeaderValue::from_static("1.0.0"));
    r
}

/// The request headers a TUS exchange uses, as the TUS server lists them in its CORS answers.
const TUS_HEADERS: &str = "Authorization, Content-Type, Location, Tus-Extension, Tus-Max-Size, \
     Tus-Resumable, Tus-Version, Upload-Concat, Upload-Defer-Length, Upload-Length, \
     Upload-Metadata, Upload-Offset, X-HTTP-Method-Override, X-Requested-With, \
     X-Forwarded-Host, X-Forwarded-Proto, Forwarded";

/// The headers Supabase Storage adds to those a client may send.
const STORAGE_HEADERS: &str = "Authorization, X-Upsert, Upload-Expires, ApiKey, x-signature";

/// `OPTIONS`: what this server supports, as Supabase Storage's TUS server answers it: 204 with
/// the protocol version and extensions, the largest upload allowed (`max_size`, the global
/// file size limit; 0 leaves it out) and the CORS headers a browser's preflight needs.
pub fn options(max_size: u64) -> Response {
    let mut r = tus_response(StatusCode::NO_CONTENT);
    let h = r.headers_mut();
    h.insert("tus-version", HeaderValue::from_static("1.0.0"));
    h.insert(
        "tus-extension",
        HeaderValue::from_static("creation,creation-with-upload,termination"),
    );
    if max_size > 0 {
        h.insert("tus-max-size", HeaderValue::from(max_size));
    }
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, HEAD, PATCH, OPTIONS, DELETE"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{TUS_HEADERS}, {STORAGE_HEADERS}")) {
        h.insert("access-control-allow-headers", v);
    }
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(TUS_HEADERS),
    );
    r
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// `POST /upload/resumable`.
pub async fn create(
    state: &State,
    actor: &Actor,
    h: &HeaderMap,
    base_path: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let length = header_u64(h, "upload-length")
        .ok_or_else(|| tus_err(400, "Upload-Length or Upload-Defer-Length header required"))?;
    let meta = parse_metadata(
        h.get("upload-metadata")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )?;
    let bucket = meta
        .get("bucketName")
        .cloned()
        .ok_or_else(|| ApiError::MissingParameter("bucketName".into()))?;
    let name = normalize_key(
        meta.get("objectName")
            .ok_or_else(|| ApiError::MissingParameter("objectName".into()))?,
    );
    if !valid_bucket_name(&bucket) {
        return Err(ApiError::InvalidBucketName);
    }
    if !valid_key(&name) {
        return Err(ApiError::InvalidKey(name));
    }
    let user_metadata = meta
        .get("metadata")
        .map(|m| {
            serde_json::from_str(m).map_err(|_| ApiError::InvalidRequest("Invalid metadata".into()))
        })
        .transpose()?;
    // Whose upload it is and whether it may overwrite: the caller's and `x-upsert`, or what the
    // signed token says.
    let (owner, role, upsert) = match actor {
        Actor::Caller(c) => (
            c.sub().map(str::to_string),
            Some(c.role.clone()),
            upsert_header(h),
        ),
        Actor::Signed(_) => {
            let claims = actor.signature(state, &bucket, &name)?;
            (claims.owner, None, claims.upsert.unwrap_or(false))
        }
    };
    let info = UploadInfo {
        content_type: meta
            .get("contentType")
            .cloned()
            .unwrap_or_else(|| "application/octet-stream".into()),
        cache_control: meta
            .get("cacheControl")
            .map(|c| cache_control_value(c))
            .unwrap_or_else(|| "no-cache".into()),
        user_metadata,
        length,
        upsert,
        owner,
        role,
        signed: matches!(actor, Actor::Signed(_)),
        bucket,
        name,
    };
    probe(
        state,
        &target(actor, &info),
        Some((&info.content_type, info.length)),
    )
    .await
    .map_err(|e| match e {
        ApiError::EntityTooLarge => too_large(),
        other => other,
    })?;
    let id = uuid::Uuid::new_v4().to_string();
    let bytes = serde_json::to_vec(&info).map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .blobs
        .put_small(&info_key(&id), Bytes::from(bytes))
        .await?;

    let location = format!("{}/{id}", base_path.trim_end_matches('/'));
    let has_body = h
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/offset+octet-stream"));
    let offset = if has_body {
        append(state, actor, &id, &info, 0, body).await?
    } else {
        0
    };
    let mut r = tus_response(StatusCode::CREATED);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r.headers_mut()
        .insert("upload-offset", HeaderValue::from(offset));
    Ok(r)
}

fn target<'a>(actor: &'a Actor, info: &'a UploadInfo) -> Target<'a> {
    Target {
        bucket: &info.bucket,
        name: &info.name,
        caller: actor.caller(),
        owner: info.owner.clone(),
        mode: if info.upsert {
            UploadMode::Upsert
        } else {
            UploadMode::Create
        },
    }
}

/// An upload that does not exist (or is not the caller's), in the TUS server's words.
fn not_found() -> ApiError {
    tus_err(404, "The file for this url was not found\n")
}

/// The upload's description, visible only to the role and subject who created it (or, for a
/// signed upload, to holders of a token for its object).
async fn load(state: &State, actor: &Actor, id: &str) -> Result<UploadInfo, ApiError> {
    if !valid_id(id) {
        return Err(not_found());
    }
    let raw = state
        .blobs
        .get_small(&info_key(id))
        .await
        .map_err(|e| match e {
            ApiError::NoSuchKey => not_found(),
            other => other,
        })?;
    let info: UploadInfo =
        serde_json::from_slice(&raw).map_err(|e| ApiError::Internal(e.to_string()))?;
    if !info.continued_by(state, actor)? {
        return Err(not_found());
    }
    Ok(info)
}

/// Stored chunks in order, stopping at the first gap; and the offset they reach.
async fn chunks(state: &State, id: &str) -> Result<(Vec<(u64, Path)>, u64), ApiError> {
    let mut parts: Vec<(u64, Path, u64)> = state
        .blobs
        .list(&Path::from(format!("uploads/{id}")))
        .await?
        .into_iter()
        .filter_map(|m| {
            let file = m.location.filename()?.to_string();
            let off = file.strip_prefix('p')?.parse::<u64>().ok()?;
            Some((off, m.location, m.size))
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    let mut offset = 0;
    let mut out = Vec::new();
    for (off, path, size) in parts {
        if off != offset {
            break;
        }
        offset += size;
        out.push((off, path));
    }
    Ok((out, offset))
}

/// `HEAD /upload/resumable/{id}`.
pub async fn head(state: &State, actor: &Actor, id: &str) -> Result<Response, ApiError> {
    let info = load(state, actor, id).await?;
    let (_, offset) = chunks(state, id).await?;
    let mut r = tus_response(StatusCode::OK);
    let hs = r.headers_mut();
    hs.insert("upload-offset", HeaderValue::from(offset));
    hs.insert("upload-length", HeaderValue::from(info.length));
    hs.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// `PATCH /upload/resumable/{id}`.
pub async fn patch(
    state: &State,
    actor: &Actor,
    h: &HeaderMap,
    id: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let ct_ok = h
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/offset+octet-stream"));
    if !ct_ok {
        return Err(tus_err(
            415,
            "Content-Type must be application/offset+octet-stream",
        ));
    }
    let claimed = header_u64(h, "upload-offset")
        .ok_or_else(|| tus_err(400, "Upload-Offset header required"))?;
    let info = load(state, actor, id).await?;
    let offset = append(state, actor, id, &info, claimed, body).await?;
    let mut r = tus_response(StatusCode::NO_CONTENT);
    r.headers_mut()
        .insert("upload-offset", HeaderValue::from(offset));
    Ok(r)
}

/// Appends a chunk at `claimed`; completes the upload when it is whole. Returns the new offset.
async fn append(
    state: &State,
    actor: &Actor,
    id: &str,
    info: &UploadInfo,
    claimed: u64,
    body: Body,
) -> Result<u64, ApiError> {
    let (_, offset) = chunks(state, id).await?;
    if claimed != offset {
        return Err(tus_err(409, "Upload-Offset conflict"));
    }
    let remaining = info.length.saturating_sub(offset);
    let stream = body
        .into_data_stream()
        .map_err(|e| ApiError::InvalidRequest(format!("request body: {e}")));
    let n = if remaining == 0 {
        0
    } else {
        state
            .blobs
            .write(&part_key(id, offset), stream, remaining)
            .await
            .map_err(|e| match e {
                ApiError::EntityTooLarge => too_large(),
                other => other,
            })?
    };
    let new_offset = offset + n;
    if new_offset == info.length {
        finish(state, actor, id, info).await?;
    }
    Ok(new_offset)
}

/// Streams the chunks, in order, through the ordinary upload path, then removes them.
async fn finish(state: &State, actor: &Actor, id: &str, info: &UploadInfo) -> Result<(), ApiError> {
    let (parts, _) = chunks(state, id).await?;
    let paths: Vec<Path> = parts.iter().map(|(_, p)| p.clone()).collect();
    let stream = state.blobs.concat(paths.clone());
    let inc = Incoming {
        content_type: info.content_type.clone(),
        cache_control: info.cache_control.clone(),
        user_metadata: info.user_metadata.clone(),
        content_length: Some(info.length),
        stream,
    };
    store(state, &target(actor, info), inc).await?;
    let mut all = paths;
    all.push(info_key(id));
    state.blobs.delete_quietly(all).await;
    Ok(())
}

/// `DELETE /upload/resumable/{id}`.
pub async fn delete(state: &State, actor: &Actor, id: &str) -> Result<Response, ApiError> {
    load(state, actor, id).await?;
    let (parts, _) = chunks(state, id).await?;
    let mut all: Vec<Path> = parts.into_iter().map(|(_, p)| p).collect();
    all.push(info_key(id));
    state.blobs.delete_quietly(all).await;
    Ok(tus_response(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_header() {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let h = format!("bucketName {},objectName {},empty", b("av"), b("u/a.png"));
        let m = parse_metadata(&h).expect("parse");
        assert_eq!(m["bucketName"], "av");
        assert_eq!(m["objectName"], "u/a.png");
        assert_eq!(m["empty"], "");
        assert!(parse_metadata("bucketName !!!").is_err());
        assert_eq!(part_key("x", 5).as_ref(), "uploads/x/p00000000000000000005");
        assert!(valid_id("8b8c6a4e-3c8d-4e5f-9a0b-1c2d3e4f5a6b"));
        assert!(!valid_id("../etc"));
    }
}
