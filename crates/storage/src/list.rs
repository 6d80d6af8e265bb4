//! Listing a "folder": the direct children of a prefix, with deeper names folded into folder
//! entries, as storage-api's `storage.search()` returns them (the prefix and `search` match
//! case-insensitively, names sort case-insensitively). The options are parsed and
//! validated here and turned into one SQL statement with bind parameters; sort columns come
//! from a fixed list.

use serde::Deserialize;

use crate::error::ApiError;

/// `sortBy` of a list request.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
pub struct SortBy {
    pub column: Option<String>,
    pub order: Option<String>,
}

/// The body of `POST /object/list/{bucket}`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListOptions {
    /// Required, as in storage-api's schema: a body without it is refused.
    pub prefix: String,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub sort_by: Option<SortBy>,
    pub search: Option<String>,
}

/// A planned list query: SQL plus its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPlan {
    pub sql: String,
    /// The prefix, ending in `/` unless empty.
    pub prefix: String,
    /// LIKE pattern matching the children's names.
    pub pattern: String,
    pub limit: i64,
    pub offset: i64,
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A paging parameter checked as storage-api's request schemas check it: absent, or an integer
/// no smaller than `min`. `field` names it the way the error message does (`body/limit`).
pub fn at_least(field: &str, v: Option<i64>, min: i64) -> Result<Option<i64>, ApiError> {
    match v {
        Some(n) if n < min => Err(ApiError::InvalidRequest(format!(
            "{field} must be >= {min}"
        ))),
        v => Ok(v),
    }
}

/// An integer query-string parameter no smaller than `min`, when present.
pub fn query_int(query: &str, name: &str, min: i64) -> Result<Option<i64>, ApiError> {
    let field = format!("querystring/{name}");
    let v = crate::app::query_param(query, name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::InvalidRequest(format!("{field} must be integer")))
        })
        .transpose()?;
    at_least(&field, v, min)
}

/// Plans a list query. Parameters: `$1` bucket, `$2` prefix, `$3` pattern, `$4` limit,
/// `$5` offset.
pub fn plan(opts: &ListOptions) -> Result<ListPlan, ApiError> {
    let mut prefix = opts.prefix.clone();
    prefix = prefix.trim_start_matches('/').to_string();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    // At most 1,500 entries a page, as storage-api's search() answers.
    let limit = at_least("body/limit", opts.limit, 1)?
        .unwrap_or(100)
        .min(1500);
    let offset = at_least("body/offset", opts.offset, 0)?.unwrap_or(0);
    let sort = opts.sort_by.clone().unwrap_or_default();
    let column = match sort.column.as_deref().unwrap_or("name") {
        "name" => "name",
        "updated_at" => "updated_at",
        "created_at" => "created_at",
        "last_accessed_at" => "last_accessed_at",
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "Invalid sort column: {other}"
            )))
        }
    };
    let order = match sort
        .order
        .as_deref()
        .unwrap_or("asc")
        .to_ascii_lowercase()
        .as_str()
    {
        "asc" => "ASC",
        "desc" => "DESC",
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "Invalid sort order: {other}"
            )))
        }
    };
    let search = opts.search.clone().unwrap_or_default();
    let pattern = format!("{}%", escape_like(&search));
    // As storage-api: names sort case-insensitively by byte, a folder where its names start
    // (`dir/…` after `dir.txt`, before `dir2`); other columns list the folders first, by name
    // in the same order, then the objects.
    let key = if column == "name" {
        format!("lower(name || CASE WHEN id IS NULL THEN '/' ELSE '' END) COLLATE \"C\" {order}")
    } else {
        format!("\"{column}\" {order} NULLS FIRST, lower(name) COLLATE \"C\" {order}")
    };
    let sql = format!(
        "WITH m AS ( \
           SELECT o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata, \
                  substr(o.name, char_length($2::text) + 1) AS rest \
           FROM storage.objects o \
           WHERE o.bucket_id = $1 AND starts_with(lower(o.name), lower($2::text)) \
         ), e AS ( \
           SELECT split_part(rest, '/', 1) AS name, NULL::uuid AS id, NULL::timestamptz AS updated_at, \
                  NULL::timestamptz AS created_at, NULL::timestamptz AS last_accessed_at, NULL::jsonb AS metadata \
           FROM m WHERE strpos(rest, '/') > 0 GROUP BY 1 \
           UNION ALL \
           SELECT rest, id, updated_at, created_at, last_accessed_at, metadata FROM m WHERE strpos(rest, '/') = 0 \
         ) \
         SELECT coalesce(json_agg(json_build_object('name', name, 'id', id, \
                  'updated_at', {u}, 'created_at', {c}, 'last_accessed_at', {l}, 'metadata', metadata) \
                  ORDER BY {key}), '[]'::json) \
         FROM (SELECT * FROM e WHERE name ILIKE $3 ORDER BY {key} \
               LIMIT $4 OFFSET $5) page",
        u = crate::db::iso("updated_at"),
        c = crate::db::iso("created_at"),
        l = crate::db::iso("last_accessed_at"),
    );
    Ok(ListPlan {
        sql,
        prefix,
        pattern,
        limit,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let p = plan(&ListOptions::default()).expect("plan");
        assert_eq!(p.prefix, "");
        assert_eq!(p.pattern, "%");
        assert_eq!((p.limit, p.offset), (100, 0));
        assert!(p.sql.contains(
            "ORDER BY lower(name || CASE WHEN id IS NULL THEN '/' ELSE '' END) COLLATE \"C\" ASC"
        ));
    }

    #[test]
    fn options() {
        let opts: ListOptions = serde_json::from_value(serde_json::json!({
            "prefix": "folder", "limit": 10, "offset": 5,
            "sortBy": {"column": "created_at", "order": "desc"}, "search": "a_b"
        }))
        .expect("parse");
        let p = plan(&opts).expect("plan");
        assert_eq!(p.prefix, "folder/");
        assert_eq!(p.pattern, "a\\_b%");
        assert_eq!((p.limit, p.offset), (10, 5));
        let many = ListOptions {
            limit: Some(5000),
            ..Default::default()
        };
        assert_eq!(plan(&many).expect("plan").limit, 1500);
        assert!(p
            .sql
            .contains("ORDER BY \"created_at\" DESC NULLS FIRST, lower(name) COLLATE \"C\" DESC"));
    }

    #[test]
    fn refuses_unknown_columns() {
        let opts = ListOptions {
            sort_by: Some(SortBy {
                column: Some("name; drop table storage.objects".into()),
                order: None,
            }),
            ..Default::default()
        };
        assert!(plan(&opts).is_err());
        let opts = ListOptions {
            sort_by: Some(SortBy {
                column: None,
                order: Some("sideways".into()),
            }),
            ..Default::default()
        };
        assert!(plan(&opts).is_err());
    }

    #[test]
    fn refuses_negative_paging() {
        for (limit, offset) in [(Some(-1), None), (Some(0), None), (None, Some(-1))] {
            let opts = ListOptions {
                limit,
                offset,
                ..Default::default()
            };
            assert!(plan(&opts).is_err(), "{limit:?} {offset:?}");
        }
        assert!(query_int("limit=-1", "limit", 1).is_err());
        assert!(query_int("limit=x", "limit", 1).is_err());
        assert_eq!(query_int("limit=5", "limit", 1).ok(), Some(Some(5)));
        assert_eq!(query_int("", "limit", 1).ok(), Some(None));
    }
}
