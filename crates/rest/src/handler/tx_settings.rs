//! The transaction settings of a request: role and claims, search path, `request.*` GUCs.

use axum::http::HeaderMap;

use super::Ctx;
use crate::db::TxSettings;

impl Ctx<'_> {
    /// The settings the request's transaction starts with.
    pub(super) fn settings(&self, read_only: bool) -> TxSettings {
        let mut search_path = vec![self.req.schema.clone()];
        for s in &self.app.config.extra_search_path {
            if !search_path.contains(s) {
                search_path.push(s.clone());
            }
        }
        let auth = self.app.config.auth_configured;
        let (headers, cookies) = if auth {
            headers_json(self.headers)
        } else {
            (String::new(), String::new())
        };
        TxSettings {
            identity: auth.then(|| self.identity.clone()),
            search_path,
            method: self.req.method.to_string(),
            path: self.req.path.clone(),
            headers,
            cookies,
            timezone: self.req.prefer.timezone.clone(),
            pre_request: if auth {
                self.app.config.pre_request.clone()
            } else {
                None
            },
            read_only,
            app_settings: self.app.config.app_settings.clone(),
        }
    }
}

/// `request.headers` and `request.cookies` as JSON objects, written from the header map
/// (`basalt_pg::request::headers_json`, shared with GraphQL).
fn headers_json(headers: &HeaderMap) -> (String, String) {
    basalt_pg::request::headers_json(
        headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn non_text_headers_are_left_out() {
        let mut h = HeaderMap::new();
        h.insert("x-bin", HeaderValue::from_bytes(b"\xff").unwrap());
        h.insert("cookie", HeaderValue::from_static("sid=1"));
        assert_eq!(headers_json(&h), ("{}".into(), "{\"sid\":\"1\"}".into()));
    }
}
