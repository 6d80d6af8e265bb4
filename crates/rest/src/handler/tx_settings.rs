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

/// `request.headers` and `request.cookies` as JSON objects, written straight from the header map.
/// A name sent twice keeps its last value, as a JSON object read by Postgres does.
fn headers_json(headers: &HeaderMap) -> (String, String) {
    fn push_pair(out: &mut String, k: &str, v: &str) {
        out.push(if out.is_empty() { '{' } else { ',' });
        // Serialising a string cannot fail.
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    let mut h = String::with_capacity(512);
    let mut c = String::new();
    for (k, v) in headers {
        let Ok(v) = v.to_str() else { continue };
        if k == "cookie" {
            for pair in v.split(';') {
                if let Some((a, b)) = pair.trim().split_once('=') {
                    push_pair(&mut c, a, b);
                }
            }
            continue;
        }
        push_pair(&mut h, k.as_str(), v);
    }
    for out in [&mut h, &mut c] {
        if out.is_empty() {
            out.push('{');
        }
        out.push('}');
    }
    (h, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::Value;

    #[test]
    fn headers_and_cookies_become_json_objects() {
        let mut h = HeaderMap::new();
        h.insert("x-quote", HeaderValue::from_static("a\"b\\c"));
        h.insert("cookie", HeaderValue::from_static("sid=1; theme=dark"));
        h.append("x-twice", HeaderValue::from_static("first"));
        h.append("x-twice", HeaderValue::from_static("second"));
        let (headers, cookies) = headers_json(&h);
        let headers: Value = serde_json::from_str(&headers).unwrap();
        assert_eq!(headers["x-quote"], "a\"b\\c");
        assert_eq!(headers["x-twice"], "second");
        assert!(headers.get("cookie").is_none());
        let cookies: Value = serde_json::from_str(&cookies).unwrap();
        assert_eq!(cookies, serde_json::json!({"sid": "1", "theme": "dark"}));
        assert_eq!(headers_json(&HeaderMap::new()), ("{}".into(), "{}".into()));
    }
}
