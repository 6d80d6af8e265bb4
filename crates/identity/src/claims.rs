//! Verified claims, and reading a bearer token from a header.

use std::sync::Arc;

use serde_json::{Map, Value};

/// The claims of a verified token: the object, its JSON text (what `request.jwt.claims` is set
/// to), and its time claims. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Claims {
    map: Arc<Map<String, Value>>,
    json: Arc<str>,
}

impl Claims {
    /// Claims from an object (also used for the anonymous caller's synthetic claims).
    pub fn new(map: Map<String, Value>) -> Claims {
        let json: Arc<str> = Value::Object(map.clone()).to_string().into();
        Claims {
            map: Arc::new(map),
            json,
        }
    }

    /// The claims object.
    pub fn map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The claims object, shared.
    pub fn map_arc(&self) -> Arc<Map<String, Value>> {
        self.map.clone()
    }

    /// The claims as JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The claims as JSON text, shared.
    pub fn json_arc(&self) -> Arc<str> {
        self.json.clone()
    }

    /// One claim.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// A string claim.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(Value::as_str)
    }

    /// The `role` claim, when it is a non-empty string.
    pub fn role(&self) -> Option<&str> {
        self.str("role").filter(|r| !r.is_empty())
    }

    /// `exp`, seconds since the epoch.
    pub fn exp(&self) -> Option<i64> {
        number(self.map.get("exp"))
    }

    /// `nbf`, seconds since the epoch.
    pub fn nbf(&self) -> Option<i64> {
        number(self.map.get("nbf"))
    }
}

fn number(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// The token of an `Authorization: Bearer <token>` header value. The scheme is matched in any
/// case (`bearer`, `BEARER`), as HTTP says; an empty token is none.
pub fn bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }

    #[test]
    fn claims_accessors() {
        let mut m = Map::new();
        m.insert("role".into(), "authenticated".into());
        m.insert("exp".into(), serde_json::json!(12.5));
        let c = Claims::new(m);
        assert_eq!(c.role(), Some("authenticated"));
        assert_eq!(c.exp(), Some(12));
        assert_eq!(c.json(), r#"{"role":"authenticated","exp":12.5}"#);
    }
}
