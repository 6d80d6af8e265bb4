//! Signed URLs. Creating one needs the caller to be allowed to read (download URLs) or write
//! (upload URLs) the object, checked by RLS in a transaction; using one needs only the token, a
//! JWT signed with the project secret that names `bucket/name` and expires.

use axum::body::Body;
use axum::response::Response;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::app::{json, query_param, typed_body, State};
use crate::auth::Scope;
use crate::db::act_as;
use crate::download::{lookup_as_caller, lookup_as_service, serve};
use crate::error::ApiError;
use crate::render::Transform;
use crate::route::UploadMode;
use crate::upload::{incoming, probe, store, upsert_header, Target};

/// Lifetime of a signed upload URL (two hours, as storage-api).
const UPLOAD_URL_SECONDS: i64 = 2 * 3600;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignBody {
    expires_in: Value,
    /// Image transformations: the URL then renders (`/render/image/sign/…`).
    #[serde(default)]
    transform: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignManyBody {
    expires_in: Value,
    paths: Vec<String>,
}

fn expires(v: &Value) -> Result<i64, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| ApiError::InvalidRequest("body/expiresIn must be a number".into()))?;
    // Also refuses NaN.
    if !(1.0..=1e12).contains(&n) {
        return Err(ApiError::InvalidRequest(
            "body/expiresIn must be >= 1".into(),
        ));
    }
    Ok(n as i64)
}

fn sign_path(bucket: &str, name: &str, token: &str) -> String {
    format!("/object/sign/{bucket}/{name}?token={token}")
}

/// `POST /object/sign/{bucket}/{name}`.
pub async fn sign_one(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    name: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let b: SignBody = typed_body(body).await?;
    let secs = expires(&b.expires_in)?;
    // As storage-api: the transformations go into the token when the feature is on.
    let transform = match (&state.render, &b.transform) {
        (Some(r), Some(t)) if !t.is_null() => {
            Some(Transform::from_json(t, r.max_dimension())?).filter(|t| !t.is_identity())
        }
        _ => None,
    };
    lookup_as_caller(state, h, bucket, name).await?;
    if let Some(t) = transform {
        let token = state
            .keys
            .sign_render_url(format!("{bucket}/{name}"), secs, t.claim())?;
        return Ok(json(serde_json::json!({
            "signedURL": format!("/render/image/sign/{bucket}/{name}?token={token}")
        })));
    }
    let token = state.keys.sign_url(format!("{bucket}/{name}"), secs)?;
    Ok(json(
        serde_json::json!({ "signedURL": sign_path(bucket, name, &token) }),
    ))
}

/// `POST /object/sign/{bucket}`: one entry per path, in order.
pub async fn sign_many(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let b: SignManyBody = typed_body(body).await?;
    let secs = expires(&b.expires_in)?;
    if b.paths.is_empty() || b.paths.len() > 1000 {
        return Err(ApiError::InvalidRequest(
            "body/paths must contain between 1 and 1000 items".into(),
        ));
    }
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    let rows = tx
        .query(
            "SELECT name FROM storage.objects WHERE bucket_id = $1 AND name = ANY($2)",
            &[&bucket, &b.paths],
        )
        .await?;
    tx.commit().await?;
    let visible: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut out = Vec::with_capacity(b.paths.len());
    for p in &b.paths {
        if visible.contains(p) {
            let token = state.keys.sign_url(format!("{bucket}/{p}"), secs)?;
            out.push(serde_json::json!({
                "error": null, "path": p, "signedURL": sign_path(bucket, p, &token)
            }));
        } else {
            out.push(serde_json::json!({
                "error": "Either the object does not exist or you do not have access to it",
                "path": p, "signedURL": null
            }));
        }
    }
    Ok(json(Value::Array(out)))
}

fn token_of(query: &str) -> Result<String, ApiError> {
    query_param(query, "token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::MissingParameter("token".into()))
}

/// `GET /object/sign/{bucket}/{name}?token=…`.
pub async fn download(
    state: &State,
    h: &HeaderMap,
    query: &str,
    bucket: &str,
    name: &str,
    head: bool,
) -> Result<Response, ApiError> {
    let token = token_of(query)?;
    let claims = state
        .keys
        .verify_url(&token, &format!("{bucket}/{name}"), Scope::Download)?;
    let obj = lookup_as_service(state, bucket, name).await?;
    serve(state, h, query, &obj, head, Some(http_date(claims.exp))).await
}

/// The HTTP date of a token's `exp` (seconds since the epoch).
pub fn http_date(exp: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(exp).unwrap_or(0));
    httpdate::fmt_http_date(at)
}

/// `POST /object/upload/sign/{bucket}/{name}`: checks, by attempting the row write in a
/// transaction that is rolled back, that the caller may upload there.
pub async fn sign_upload(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let upsert = upsert_header(h);
    let target = Target {
        bucket,
        name,
        caller: Some(&caller),
        owner: caller.sub().map(str::to_string),
        mode: if upsert {
            UploadMode::Upsert
        } else {
            UploadMode::Create
        },
    };
    probe(state, &target, None).await?;
    let token = state.keys.sign_upload_url(
        format!("{bucket}/{name}"),
        UPLOAD_URL_SECONDS,
        caller.sub().map(str::to_string),
        upsert,
    )?;
    Ok(json(serde_json::json!({
        "url": format!("/object/upload/sign/{bucket}/{name}?token={token}"),
        "token": token,
    })))
}

/// `PUT /object/upload/sign/{bucket}/{name}?token=…`: the token is the authorisation.
pub async fn upload(
    state: &State,
    h: &HeaderMap,
    query: &str,
    bucket: &str,
    name: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let token = token_of(query)?;
    let claims = state
        .keys
        .verify_url(&token, &format!("{bucket}/{name}"), Scope::Upload)?;
    let target = Target {
        bucket,
        name,
        caller: None,
        owner: claims.owner.clone(),
        mode: if claims.upsert.unwrap_or(false) {
            UploadMode::Upsert
        } else {
            UploadMode::Create
        },
    };
    let inc = incoming(h, body).await?;
    let id = store(state, &target, inc).await?;
    Ok(json(
        serde_json::json!({ "Id": id, "Key": format!("{bucket}/{name}") }),
    ))
}
