//! Bucket endpoints (`/bucket…`), each one transaction as the caller so that RLS on
//! `storage.buckets` decides; and the buckets declared in `config.toml`, created on start.

use axum::body::Body;
use axum::response::Response;
use http::HeaderMap;
use serde_json::Value;

use crate::app::{json, json_body, query_param, State};
use crate::db::{act_as, iso};
use crate::error::ApiError;
use crate::limits::{parse_size, valid_bucket_name};

/// The bucket JSON storage-api returns, built by Postgres from a row aliased `b`.
fn bucket_json() -> String {
    format!(
        "json_build_object('id', b.id, 'name', b.name, 'owner', coalesce(b.owner_id, b.owner::text, ''), \
         'public', coalesce(b.public, false), 'type', b.type, 'file_size_limit', b.file_size_limit, \
         'allowed_mime_types', b.allowed_mime_types, 'created_at', {}, 'updated_at', {})",
        iso("b.created_at"),
        iso("b.updated_at")
    )
}

/// `sortColumn` of `listBuckets`, mapped to a column name (never spliced from input).
fn sort_column(s: Option<&str>) -> Result<&'static str, ApiError> {
    Ok(match s.unwrap_or("name") {
        "id" => "id",
        "name" => "name",
        "created_at" => "created_at",
        "updated_at" => "updated_at",
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "querystring/sortColumn must be equal to one of the allowed values, got {other}"
            )))
        }
    })
}

fn sort_order(s: Option<&str>) -> Result<&'static str, ApiError> {
    match s.unwrap_or("asc").to_ascii_lowercase().as_str() {
        "asc" => Ok("ASC"),
        "desc" => Ok("DESC"),
        other => Err(ApiError::InvalidRequest(format!(
            "querystring/sortOrder must be asc or desc, got {other}"
        ))),
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn list(state: &State, h: &HeaderMap, query: &str) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let limit = crate::list::query_int(query, "limit", 1)?;
    let offset = crate::list::query_int(query, "offset", 0)?.unwrap_or(0);
    let search = query_param(query, "search").filter(|s| !s.is_empty());
    let col = sort_column(query_param(query, "sortColumn").as_deref())?;
    let dir = sort_order(query_param(query, "sortOrder").as_deref())?;
    let sql = format!(
        "SELECT coalesce(json_agg(j ORDER BY n), '[]'::json) FROM (\
           SELECT {} AS j, row_number() OVER (ORDER BY b.\"{col}\" {dir}, b.id) AS n \
           FROM storage.buckets b \
           WHERE ($1::text IS NULL OR b.name ILIKE '%' || $1 || '%') \
           ORDER BY b.\"{col}\" {dir}, b.id LIMIT $2 OFFSET $3) s",
        bucket_json()
    );
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    let search = search.map(|s| escape_like(&s));
    let row = tx.query_one(&sql, &[&search, &limit, &offset]).await?;
    tx.commit().await?;
    Ok(json(row.get::<_, Value>(0)))
}

pub async fn get(state: &State, h: &HeaderMap, id: &str) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    let sql = format!(
        "SELECT {} FROM storage.buckets b WHERE b.id = $1",
        bucket_json()
    );
    let row = tx.query_opt(&sql, &[&id]).await?;
    tx.commit().await?;
    row.map(|r| json(r.get::<_, Value>(0)))
        .ok_or(ApiError::NoSuchBucket)
}

/// `file_size_limit` as sent by clients: a number, a string such as `"1MB"`, or null.
fn size_limit(v: Option<&Value>, global: u64) -> Result<Option<i64>, ApiError> {
    let bytes = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().ok_or(ApiError::InvalidFileSizeLimit)?,
        Some(Value::String(s)) => parse_size(s).ok_or(ApiError::InvalidFileSizeLimit)?,
        Some(_) => return Err(ApiError::InvalidFileSizeLimit),
    };
    if bytes > global {
        return Err(ApiError::InvalidRequest(
            "the requested max file size exceeds the global limit".into(),
        ));
    }
    i64::try_from(bytes)
        .map(Some)
        .map_err(|_| ApiError::InvalidFileSizeLimit)
}

fn mime_types(v: Option<&Value>) -> Result<Option<Vec<String>>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let s = item.as_str().ok_or_else(|| {
                    ApiError::InvalidRequest("allowed_mime_types must be strings".into())
                })?;
                if !s.contains('/') || s.chars().any(char::is_whitespace) {
                    return Err(ApiError::InvalidRequest(format!("Invalid mime type {s}")));
                }
                out.push(s.to_string());
            }
            Ok(Some(out))
        }
        Some(_) => Err(ApiError::InvalidRequest(
            "allowed_mime_types must be an array".into(),
        )),
    }
}

pub async fn create(state: &State, h: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let b = json_body(body).await?;
    let name = b
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::InvalidRequest("body must have required property 'name'".into()))?
        .to_string();
    let id = b
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| name.clone());
    if !valid_bucket_name(&id) || !valid_bucket_name(&name) {
        return Err(ApiError::InvalidBucketName);
    }
    let public = b.get("public").and_then(Value::as_bool).unwrap_or(false);
    let limit = size_limit(b.get("file_size_limit"), state.config.file_size_limit)?;
    let mimes = mime_types(b.get("allowed_mime_types"))?;
    let new = NewBucket {
        id: &id,
        name: &name,
        public,
        file_size_limit: limit,
        allowed_mime_types: mimes,
    };
    create_as(state, &caller, &new).await?;
    // The name asked for, as storage-api answers (supabase-js sends the id as both).
    Ok(json(serde_json::json!({ "name": name })))
}

/// A bucket to create.
pub struct NewBucket<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub public: bool,
    pub file_size_limit: Option<i64>,
    pub allowed_mime_types: Option<Vec<String>>,
}

/// Creates a bucket as `caller` (RLS on `storage.buckets` decides).
pub async fn create_as(
    state: &State,
    caller: &crate::auth::Caller,
    b: &NewBucket<'_>,
) -> Result<(), ApiError> {
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, caller).await?;
    tx.execute(
        "INSERT INTO storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &b.id,
            &b.name,
            &caller.owner_uuid(),
            &caller.sub(),
            &b.public,
            &b.file_size_limit,
            &b.allowed_mime_types,
        ],
    )
    .await
    .map_err(|e| ApiError::from_db(&e).naming(crate::error::Existing::Bucket))?;
    tx.commit().await?;
    Ok(())
}

pub async fn update(
    state: &State,
    h: &HeaderMap,
    id: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let b = json_body(body).await?;
    let public = b.get("public").and_then(Value::as_bool);
    let set_limit = b.get("file_size_limit").is_some();
    let limit = size_limit(b.get("file_size_limit"), state.config.file_size_limit)?;
    let set_mimes = b.get("allowed_mime_types").is_some();
    let mimes = mime_types(b.get("allowed_mime_types"))?;
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    let n = tx
        .execute(
            "UPDATE storage.buckets SET public = coalesce($2, public), \
             file_size_limit = CASE WHEN $3 THEN $4 ELSE file_size_limit END, \
             allowed_mime_types = CASE WHEN $5 THEN $6 ELSE allowed_mime_types END, \
             updated_at = now() WHERE id = $1",
            &[&id, &public, &set_limit, &limit, &set_mimes, &mimes],
        )
        .await?;
    tx.commit().await?;
    if n == 0 {
        return Err(ApiError::NoSuchBucket);
    }
    Ok(json(
        serde_json::json!({ "message": "Successfully updated" }),
    ))
}

pub async fn delete(state: &State, h: &HeaderMap, id: &str) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    delete_as(state, &caller, id).await?;
    Ok(json(
        serde_json::json!({ "message": "Successfully deleted" }),
    ))
}

/// Deletes an empty bucket as `caller` (RLS on `storage.buckets` decides).
pub async fn delete_as(
    state: &State,
    caller: &crate::auth::Caller,
    id: &str,
) -> Result<(), ApiError> {
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    // Refused while any object exists, whoever may see it (the foreign key decides too).
    let has_objects = tx
        .query_opt(
            "SELECT 1 FROM storage.objects WHERE bucket_id = $1 LIMIT 1",
            &[&id],
        )
        .await?
        .is_some();
    act_as(&tx, caller).await?;
    let n = tx
        .execute("DELETE FROM storage.buckets WHERE id = $1", &[&id])
        .await?;
    if n == 0 {
        return Err(ApiError::NoSuchBucket);
    }
    if has_objects {
        return Err(ApiError::BucketNotEmpty);
    }
    tx.commit().await?;
    Ok(())
}

pub async fn empty(state: &State, h: &HeaderMap, id: &str) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    if tx
        .query_opt("SELECT 1 FROM storage.buckets WHERE id = $1", &[&id])
        .await?
        .is_none()
    {
        return Err(ApiError::NoSuchBucket);
    }
    let rows = tx
        .query(
            "DELETE FROM storage.objects WHERE bucket_id = $1 RETURNING version",
            &[&id],
        )
        .await?;
    tx.commit().await?;
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(v) = r.get::<_, Option<String>>(0) {
            keys.push(crate::blob::object_key(&v));
        }
    }
    state.blobs.delete_quietly(keys).await;
    Ok(json(
        serde_json::json!({ "message": "Successfully emptied" }),
    ))
}

/// Creates or updates the buckets declared in the configuration (as the administrative role).
pub async fn seed(state: &State) -> Result<(), ApiError> {
    if state.config.buckets.is_empty() {
        return Ok(());
    }
    let conn = state.db.conn().await?;
    for (name, b) in &state.config.buckets {
        if !valid_bucket_name(name) {
            tracing::warn!(bucket = %name, "storage: invalid bucket name in config, skipped");
            continue;
        }
        let limit = b.file_size_limit.and_then(|l| i64::try_from(l).ok());
        conn.execute(
            "INSERT INTO storage.buckets (id, name, public, file_size_limit, allowed_mime_types) \
             VALUES ($1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET public = excluded.public, \
             file_size_limit = excluded.file_size_limit, allowed_mime_types = excluded.allowed_mime_types, \
             updated_at = now()",
            &[name, &b.public, &limit, &b.allowed_mime_types],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_sorting() {
        assert_eq!(
            size_limit(Some(&serde_json::json!("1MB")), u64::MAX).ok(),
            Some(Some(1_000_000))
        );
        assert_eq!(
            size_limit(Some(&serde_json::json!(42)), u64::MAX).ok(),
            Some(Some(42))
        );
        assert_eq!(size_limit(Some(&Value::Null), 10).ok(), Some(None));
        assert!(size_limit(Some(&serde_json::json!("huge")), u64::MAX).is_err());
        assert!(size_limit(Some(&serde_json::json!(100)), 10).is_err());
        assert!(sort_column(Some("id; drop table x")).is_err());
        assert_eq!(sort_column(None).ok(), Some("name"));
        assert_eq!(sort_order(Some("DESC")).ok(), Some("DESC"));
        assert!(mime_types(Some(&serde_json::json!(["image/png", "text/*"]))).is_ok());
        assert!(mime_types(Some(&serde_json::json!(["png"]))).is_err());
        assert_eq!(escape_like("a%_b"), "a\\%\\_b");
    }
}
