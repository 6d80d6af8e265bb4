//! The CORS layer in front of every request, as PostgREST's: a request with an `Origin` the
//! configuration allows either is a preflight (`OPTIONS` with `Access-Control-Request-Method`),
//! answered here without reaching the resource, or gets the CORS headers added to its
//! response. A request the policy does not admit (an origin not listed, an `OPTIONS` that is no
//! valid preflight) goes on as if there were no CORS at all.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::config::Cors;

/// The methods a preflight may ask for, and the `Access-Control-Allow-Methods` answered.
const METHODS: [&str; 7] = ["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD"];

/// The headers always allowed after the requested ones (the CORS "simple" headers but
/// `Content-Type`, whose simple values are limited).
const SIMPLE_HEADERS: [&str; 3] = ["Accept", "Accept-Language", "Content-Language"];

/// The response headers a page may read.
const EXPOSED: &str = "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, \
                       Location, Server, Transfer-Encoding, Range-Unit";

/// A preflight's `Access-Control-Max-Age` (one day).
const MAX_AGE: &str = "86400";

/// What the CORS layer does with a request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Not a CORS request, or one the policy does not admit: it goes on without CORS headers.
    PassThrough,
    /// A preflight: answer 200 with these headers and an empty body.
    Preflight(HeaderMap),
    /// An actual request: add these headers to its response.
    Actual(HeaderMap),
}

/// The verdict for a request with `method` and `headers` under the configured `cors`.
pub(super) fn verdict(cors: &Cors, method: &Method, headers: &HeaderMap) -> Verdict {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return Verdict::PassThrough;
    };
    let mut h = HeaderMap::new();
    match cors {
        Cors::Off => return Verdict::PassThrough,
        Cors::AnyOrigin => {
            h.append(allow_origin(), HeaderValue::from_static("*"));
        }
        Cors::Origins(list) => {
            if !list.iter().any(|o| o.as_bytes() == origin.as_bytes()) {
                return Verdict::PassThrough;
            }
            h.append(allow_origin(), origin.clone());
            h.append(
                HeaderName::from_static("access-control-allow-credentials"),
                HeaderValue::from_static("true"),
            );
        }
    }
    if method != Method::OPTIONS {
        h.append(
            HeaderName::from_static("access-control-expose-headers"),
            HeaderValue::from_static(EXPOSED),
        );
        return Verdict::Actual(h);
    }
    let asked = headers
        .get("access-control-request-method")
        .map(HeaderValue::as_bytes);
    if !asked.is_some_and(|m| METHODS.iter().any(|s| s.as_bytes() == m)) {
        return Verdict::PassThrough;
    }
    h.append(
        HeaderName::from_static("access-control-allow-methods"),
        HeaderValue::from_static("GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD"),
    );
    if let Some(requested) = headers.get("access-control-request-headers") {
        if let Ok(v) = HeaderValue::from_bytes(&allowed_headers(requested.as_bytes())) {
            h.append(HeaderName::from_static("access-control-allow-headers"), v);
        }
    }
    h.append(
        HeaderName::from_static("access-control-max-age"),
        HeaderValue::from_static(MAX_AGE),
    );
    Verdict::Preflight(h)
}

fn allow_origin() -> HeaderName {
    HeaderName::from_static("access-control-allow-origin")
}

/// `Access-Control-Allow-Headers` for a preflight's `Access-Control-Request-Headers`: every
/// header asked for is allowed. `Authorization`, then the requested names as sent (split at
/// commas, trimmed, duplicates kept), then the simple headers not among them (compared without
/// case), joined by `, `.
fn allowed_headers(requested: &[u8]) -> Vec<u8> {
    let mut names: Vec<&[u8]> = vec![b"Authorization"];
    if !requested.is_empty() {
        names.extend(requested.split(|b| *b == b',').map(trim));
    }
    let extra: Vec<&[u8]> = SIMPLE_HEADERS
        .iter()
        .map(|s| s.as_bytes())
        .filter(|s| !names.iter().any(|n| n.eq_ignore_ascii_case(s)))
        .collect();
    names.extend(extra);
    names.join(&b", "[..])
}

/// `s` without surrounding white space.
fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0x0b)
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace() && *b != 0x0b)
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn get<'a>(h: &'a HeaderMap, k: &str) -> Option<&'a str> {
        h.get(k).and_then(|v| v.to_str().ok())
    }

    fn listed() -> Cors {
        Cors::Origins(vec!["http://a.test".into(), "http://b.test".into()])
    }

    #[test]
    fn no_origin_or_cors_off_passes_through() {
        let plain = req(&[("accept", "*/*")]);
        assert_eq!(
            verdict(&Cors::AnyOrigin, &Method::GET, &plain),
            Verdict::PassThrough
        );
        let o = req(&[("origin", "http://a.test")]);
        assert_eq!(verdict(&Cors::Off, &Method::GET, &o), Verdict::PassThrough);
    }

    #[test]
    fn actual_request_from_a_listed_origin() {
        let o = req(&[("origin", "http://b.test")]);
        let Verdict::Actual(h) = verdict(&listed(), &Method::GET, &o) else {
            panic!("not an actual request");
        };
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("http://b.test")
        );
        assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(get(&h, "access-control-expose-headers"), Some(EXPOSED));
        assert_eq!(get(&h, "access-control-allow-methods"), None);
        let other = req(&[("origin", "http://c.test")]);
        assert_eq!(
            verdict(&listed(), &Method::GET, &other),
            Verdict::PassThrough
        );
    }

    #[test]
    fn any_origin_answers_star_without_credentials() {
        let o = req(&[("origin", "http://c.test")]);
        let Verdict::Actual(h) = verdict(&Cors::AnyOrigin, &Method::POST, &o) else {
            panic!("not an actual request");
        };
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
    }

    #[test]
    fn preflight_echoes_the_requested_headers() {
        let p = req(&[
            ("origin", "http://a.test"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "Foo, Bar ,apikey"),
        ]);
        let Verdict::Preflight(h) = verdict(&listed(), &Method::OPTIONS, &p) else {
            panic!("not a preflight");
        };
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("http://a.test")
        );
        assert_eq!(
            get(&h, "access-control-allow-methods"),
            Some("GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD")
        );
        assert_eq!(
            get(&h, "access-control-allow-headers"),
            Some("Authorization, Foo, Bar, apikey, Accept, Accept-Language, Content-Language")
        );
        assert_eq!(get(&h, "access-control-max-age"), Some("86400"));
        assert_eq!(get(&h, "access-control-expose-headers"), None);
    }

    #[test]
    fn preflight_without_requested_headers_allows_none() {
        let p = req(&[
            ("origin", "http://x.test"),
            ("access-control-request-method", "DELETE"),
        ]);
        let Verdict::Preflight(h) = verdict(&Cors::AnyOrigin, &Method::OPTIONS, &p) else {
            panic!("not a preflight");
        };
        assert_eq!(get(&h, "access-control-allow-headers"), None);
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
    }

    #[test]
    fn options_that_is_no_preflight_passes_through() {
        // No method asked for, one not allowed, one not spelled as a method is.
        for asked in [None, Some("TRACE"), Some("post")] {
            let mut h = req(&[("origin", "http://a.test")]);
            if let Some(m) = asked {
                h.append("access-control-request-method", HeaderValue::from_static(m));
            }
            assert_eq!(
                verdict(&listed(), &Method::OPTIONS, &h),
                Verdict::PassThrough
            );
        }
    }

    #[test]
    fn allowed_headers_keep_duplicates_and_skip_simple_ones_asked_for() {
        assert_eq!(
            allowed_headers(b"authorization, accept, content-type"),
            b"Authorization, authorization, accept, content-type, Accept-Language, Content-Language"
                .to_vec()
        );
        assert_eq!(
            allowed_headers(b""),
            b"Authorization, Accept, Accept-Language, Content-Language".to_vec()
        );
    }
}
