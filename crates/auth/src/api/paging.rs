//! Paging of the admin user list as Supabase Auth reads it: `page` and `per_page` (whole
//! numbers; absent or empty for the defaults), `sort` (`created_at`, then `asc` or `desc`), and
//! the `Link` header it answers with, which repeats the request's parameters (sorted by name)
//! with `page` set to the next and the last page.

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::extract::Query;

/// Users per page when the request does not say.
pub const DEFAULT_PER_PAGE: i64 = 50;

/// A requested page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// The number of the last page for `total` rows (0 when there are none).
    pub fn last(&self, total: i64) -> i64 {
        (total + self.per_page - 1) / self.per_page
    }
}

/// A whole number as Go's `strconv.ParseUint` reads it, with its error words.
fn parse_uint(v: &str) -> Result<i64, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {v:?}: invalid syntax"));
    }
    v.parse::<i64>()
        .map_err(|_| format!("strconv.ParseUint: parsing {v:?}: value out of range"))
}

/// The page a request asks for.
pub fn page(query: &Query) -> Result<Page, ApiError> {
    let read = |name: &str, default: i64| match query.get(name) {
        None => Ok(default),
        Some(v) => parse_uint(v)
            .map_err(|e| ApiError::Validation(format!("Bad Pagination Parameters: {e}"))),
    };
    let page = read("page", 1)?.max(1);
    let per_page = read("per_page", DEFAULT_PER_PAGE)?;
    if per_page == 0 {
        return Err(ApiError::Validation(
            "Bad Pagination Parameters: per_page must be greater than 0".into(),
        ));
    }
    Ok(Page { page, per_page })
}

/// Whether the list runs newest first (the default) rather than oldest first.
pub fn newest_first(query: &Query) -> Result<bool, ApiError> {
    let Some(sort) = query.get("sort") else {
        return Ok(true);
    };
    let bad = |why: String| ApiError::Validation(format!("Bad Sort Parameters: {why}"));
    let (field, dir) = sort.split_once(' ').unwrap_or((sort, ""));
    if field != "created_at" {
        return Err(bad(format!("bad field for sort '{field}'")));
    }
    match dir.to_ascii_uppercase().as_str() {
        "" | "DESC" => Ok(true),
        "ASC" => Ok(false),
        _ => Err(bad(format!(
            "bad direction for sort '{dir}', only 'asc' and 'desc' allowed"
        ))),
    }
}

/// The `Link` header of `page` of a list at `path` with `total` rows.
pub fn link(path: &str, query: &Query, page: Page, total: i64) -> String {
    let at = |n: i64| {
        let mut params: BTreeMap<&str, String> = query
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        params.insert("page", n.to_string());
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(params);
        format!("<{path}?{}>", q.finish())
    };
    let last = page.last(total);
    let mut parts = Vec::new();
    if last > page.page {
        parts.push(format!("{}; rel=\"next\"", at(page.page + 1)));
    }
    parts.push(format!("{}; rel=\"last\"", at(last)));
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Query {
        Query(crate::extract::parse_query(q))
    }

    #[test]
    fn pages_and_their_errors() {
        assert_eq!(
            page(&query("")).unwrap(),
            Page {
                page: 1,
                per_page: 50
            }
        );
        assert_eq!(page(&query("page=&per_page=")).unwrap().per_page, 50);
        assert_eq!(page(&query("page=3&per_page=2")).unwrap().offset(), 4);
        match page(&query("per_page=abc")) {
            Err(ApiError::Validation(m)) => assert_eq!(
                m,
                "Bad Pagination Parameters: strconv.ParseUint: parsing \"abc\": invalid syntax"
            ),
            other => panic!("unexpected {other:?}"),
        }
        assert!(page(&query("page=-1")).is_err());
    }

    #[test]
    fn sorting() {
        assert!(newest_first(&query("")).unwrap());
        assert!(!newest_first(&query("sort=created_at+asc")).unwrap());
        assert!(newest_first(&query("sort=created_at")).unwrap());
        assert!(newest_first(&query("sort=email")).is_err());
        assert!(newest_first(&query("sort=created_at+up")).is_err());
    }

    #[test]
    fn links_repeat_the_request() {
        let q = query("page=1&per_page=2");
        let p = page(&q).unwrap();
        assert_eq!(
            link("/admin/users", &q, p, 5),
            "</admin/users?page=2&per_page=2>; rel=\"next\", </admin/users?page=3&per_page=2>; rel=\"last\""
        );
        let q = query("");
        assert_eq!(
            link("/admin/users", &q, page(&q).unwrap(), 0),
            "</admin/users?page=0>; rel=\"last\""
        );
    }
}
