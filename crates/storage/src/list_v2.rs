//! `POST /object/list-v2/{bucket}` (supabase-js `listV2`), as storage-api answers it: names
//! under `prefix` (matched exactly), with `with_delimiter` the names below the next `/` folded
//! into one folder each (`name` the full prefix ending in `/`, `id` null); sorted by `name`
//! (byte order, a folder where its names start) or by `created_at`/`updated_at` (to the
//! millisecond, then by name; a folder counts as created, and updated, when its first object
//! was created), ascending or descending; paged by `limit` with an opaque `cursor` that
//! remembers the sort.

use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::app::{json, typed_body, State};
use crate::db::{act_as, iso};
use crate::error::ApiError;
use crate::objects::object_json;

#[derive(Deserialize, Default)]
struct SortBy {
    column: String,
    order: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Options {
    prefix: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    #[serde(rename = "with_delimiter")]
    with_delimiter: Option<bool>,
    sort_by: Option<SortBy>,
}

/// The sort of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Name,
    CreatedAt,
    UpdatedAt,
}

impl Column {
    fn parse(s: &str) -> Option<Column> {
        match s {
            "name" => Some(Column::Name),
            "created_at" => Some(Column::CreatedAt),
            "updated_at" => Some(Column::UpdatedAt),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::CreatedAt => "created_at",
            Column::UpdatedAt => "updated_at",
        }
    }
}

/// Where a page starts: after `key` (and, sorting by a time, after `after` at that key), in
/// the sort the first page asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub column: Column,
    pub descending: bool,
    /// The sort time of `key`, as `2024-01-01T00:00:00.000Z`.
    pub after: Option<String>,
}

impl Cursor {
    /// The cursor as sent to the client: base64 of `l:<key>`, `o:<order>`, `c:<column>`,
    /// `a:<time>` lines.
    pub fn encode(&self) -> String {
        let mut text = format!("l:{}", self.key);
        text.push_str(if self.descending {
            "\no:desc"
        } else {
            "\no:asc"
        });
        text.push_str("\nc:");
        text.push_str(self.column.as_str());
        if let Some(a) = &self.after {
            text.push_str("\na:");
            text.push_str(a);
        }
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// Reads a cursor made by [`Cursor::encode`].
    pub fn decode(s: &str) -> Result<Cursor, ApiError> {
        let invalid = || ApiError::InvalidParameter("continuation token".into());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut c = Cursor {
            key: String::new(),
            column: Column::Name,
            descending: false,
            after: None,
        };
        let mut has_key = false;
        for line in text.split('\n') {
            let (k, v) = line.split_once(':').ok_or_else(invalid)?;
            match k {
                "l" => {
                    c.key = v.to_string();
                    has_key = true;
                }
                "o" => c.descending = v == "desc",
                "c" => c.column = Column::parse(v).ok_or_else(invalid)?,
                "a" => c.after = Some(v.to_string()),
                _ => return Err(invalid()),
            }
        }
        if !has_key {
            return Err(invalid());
        }
        Ok(c)
    }
}

pub async fn handle(
    state: &State,
    h: &HeaderMap,
    bucket: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.caller(h)?;
    let o: Options = typed_body(body).await?;
    let prefix = o.prefix.unwrap_or_default();
    let limit = crate::list::at_least("body/limit", o.limit, 1)?
        .unwrap_or(1000)
        .min(1000);
    let delimiter = o.with_delimiter.unwrap_or(false);
    let cursor = o
        .cursor
        .filter(|c| !c.is_empty())
        .map(|c| Cursor::decode(&c))
        .transpose()?;
    let (column, descending) = match (&cursor, &o.sort_by) {
        (Some(c), _) => (c.column, c.descending),
        (None, Some(s)) => {
            let column = Column::parse(&s.column).ok_or_else(|| {
                ApiError::InvalidRequest(
                    "body/sortBy/column must be equal to one of the allowed values".into(),
                )
            })?;
            let descending = match s.order.as_deref().unwrap_or("asc") {
                "asc" => false,
                "desc" => true,
                _ => {
                    return Err(ApiError::InvalidRequest(
                        "body/sortBy/order must be equal to one of the allowed values".into(),
                    ))
                }
            };
            (column, descending)
        }
        (None, None) => (Column::Name, false),
    };
    let (op, dir) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    // `$6` (time sorts only) is the time the cursor's entry sorted at.
    let (sort, after) = match column {
        Column::Name => (
            format!("e.key COLLATE \"C\" {dir}"),
            format!("($3 = '' OR e.key COLLATE \"C\" {op} $3)"),
        ),
        Column::CreatedAt | Column::UpdatedAt => (
            format!("coalesce(e.at, 'epoch'::timestamptz) {dir}, e.key COLLATE \"C\" {dir}"),
            format!(
                "($3 = '' OR ROW(coalesce(e.at, 'epoch'::timestamptz), e.key COLLATE \"C\") {op} \
                 ROW(coalesce(nullif($6, '')::timestamptz, 'epoch'::timestamptz), $3))"
            ),
        ),
    };
    let time = match column {
        Column::UpdatedAt => "updated_at",
        _ => "created_at",
    };
    let sql = format!(
        "WITH m AS (SELECT o.*, substr(o.name, char_length($2::text) + 1) AS rest FROM storage.objects o \
           WHERE o.bucket_id = $1 AND starts_with(o.name, $2::text)), \
         e AS ( \
           SELECT CASE WHEN $5 AND strpos(rest, '/') > 0 THEN $2 || split_part(rest, '/', 1) || '/' ELSE name END AS key, \
                  bool_or($5 AND strpos(rest, '/') > 0) AS folder, \
                  (array_agg({obj}))[1] AS obj, \
                  date_trunc('milliseconds', CASE WHEN bool_or($5 AND strpos(rest, '/') > 0) \
                    THEN min(created_at) ELSE min({time}) END) AS at \
           FROM m o GROUP BY 1) \
         SELECT e.key, e.folder, e.obj, {at} FROM e WHERE {after} ORDER BY {sort} LIMIT $4",
        obj = object_json(),
        at = iso("e.at"),
    );
    let cursor_key = cursor.as_ref().map(|c| c.key.clone()).unwrap_or_default();
    let cursor_at = cursor.and_then(|c| c.after).unwrap_or_default();
    let mut conn = state.db.conn().await?;
    let tx = conn.transaction().await?;
    act_as(&tx, &caller).await?;
    let page = limit + 1;
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        vec![&bucket, &prefix, &cursor_key, &page, &delimiter];
    if column != Column::Name {
        params.push(&cursor_at);
    }
    let rows = tx.query(&sql, &params).await?;
    tx.commit().await?;
    let has_next = rows.len() as i64 > limit;
    let level = if prefix.is_empty() {
        1
    } else {
        prefix.split('/').count()
    };
    let mut folders = Vec::new();
    let mut objects = Vec::new();
    let mut last = None;
    for r in rows.iter().take(limit as usize) {
        let key: String = r.get(0);
        let folder: bool = r.get(1);
        if folder {
            folders.push(serde_json::json!({ "id": null, "name": key }));
        } else {
            let mut obj: Value = r.get(2);
            if let (true, Some(m)) = (delimiter, obj.as_object_mut()) {
                // The name's part at the prefix's level, as storage-api's `key`.
                let part = key.split('/').nth(level - 1).unwrap_or("").to_string();
                m.insert("key".into(), Value::String(part));
            }
            objects.push(obj);
        }
        last = Some((key, r.get::<_, Option<String>>(3)));
    }
    let mut out =
        serde_json::json!({ "hasNext": has_next, "folders": folders, "objects": objects });
    if let (true, Some((key, at))) = (has_next, last) {
        let next = Cursor {
            key: key.clone(),
            column,
            descending,
            after: if column == Column::Name { None } else { at },
        };
        out["nextCursor"] = Value::String(next.encode());
        out["nextCursorKey"] = Value::String(key);
    }
    Ok(json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            key: "dir/a:b.txt".into(),
            column: Column::UpdatedAt,
            descending: true,
            after: Some("2024-01-02T03:04:05.678Z".into()),
        };
        assert_eq!(Cursor::decode(&c.encode()).expect("decode"), c);
        let plain = Cursor {
            key: "x".into(),
            column: Column::Name,
            descending: false,
            after: None,
        };
        assert_eq!(Cursor::decode(&plain.encode()).expect("decode"), plain);
        for bad in ["%%%", "", "bm9wZQ==", "YzpzaXpl"] {
            assert!(
                matches!(Cursor::decode(bad), Err(ApiError::InvalidParameter(_))),
                "{bad}"
            );
        }
    }
}
