//! CORS headers: on every response to an allowed origin, and the preflight answer.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::Cors;

/// Add the CORS headers for `origin` (`preflight`: the answer to an `OPTIONS` preflight).
pub(super) fn cors_headers(cors: &Cors, origin: &str, h: &mut HeaderMap, preflight: bool) {
    let allow = match cors {
        Cors::Off => return,
        Cors::AnyOrigin => "*".to_string(),
        Cors::Origins(list) => {
            if list.iter().any(|o| o == origin) {
                origin.to_string()
            } else {
                return;
            }
        }
    };
    let set = |h: &mut HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(HeaderName::from_static(k), v);
        }
    };
    set(h, "access-control-allow-origin", &allow);
    if allow != "*" {
        set(h, "access-control-allow-credentials", "true");
    }
    if preflight {
        set(
            h,
            "access-control-allow-methods",
            "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD",
        );
        set(
            h,
            "access-control-allow-headers",
            "Authorization, Content-Type, Accept, Accept-Language, Content-Language, Prefer, Range, Range-Unit, Accept-Profile, Content-Profile, apikey, x-client-info",
        );
        set(h, "access-control-max-age", "86400");
    } else {
        set(
            h,
            "access-control-expose-headers",
            "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit",
        );
    }
}
