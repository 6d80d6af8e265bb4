//! The custom access token hook: a Postgres function (`pg-functions://postgres/<schema>/<fn>`)
//! that receives `{user_id, claims, authentication_method}` and returns `{claims}` or
//! `{error: {http_code, message}}`, run as `supabase_auth_admin` in the request's transaction,
//! as the hosted platform runs it. Projects use it to add claims such as a user's role.

use serde_json::{json, Value};
use tokio_postgres::GenericClient;

use crate::error::ApiError;
use crate::Error;

/// A Postgres function named by a hook URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgFunction {
    pub schema: String,
    pub name: String,
}

fn identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && s.len() <= 63
}

impl PgFunction {
    /// Parse `pg-functions://<database>/<schema>/<function>`.
    pub fn parse(uri: &str) -> Result<PgFunction, Error> {
        let bad = || {
            Error::Config(format!(
                "hook URI {uri:?}: expected pg-functions://postgres/<schema>/<function>"
            ))
        };
        let rest = uri.strip_prefix("pg-functions://").ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [_, schema, name] if identifier(schema) && identifier(name) => Ok(PgFunction {
                schema: schema.to_string(),
                name: name.to_string(),
            }),
            _ => Err(bad()),
        }
    }

    /// The quoted, qualified name (both parts checked to be plain identifiers).
    fn qualified(&self) -> String {
        format!("\"{}\".\"{}\"", self.schema, self.name)
    }
}

/// Run the custom access token hook on `claims`; returns the claims to sign.
pub async fn custom_access_token(
    db: &impl GenericClient,
    function: &PgFunction,
    user_id: &str,
    claims: Value,
    method: &str,
) -> Result<Value, ApiError> {
    let input = json!({
        "user_id": user_id,
        "claims": claims,
        "authentication_method": method,
    });
    db.batch_execute("SET LOCAL ROLE supabase_auth_admin")
        .await?;
    let sql = format!("SELECT {}($1::jsonb)::jsonb", function.qualified());
    let output = db.query_one(&sql, &[&input]).await;
    db.batch_execute("SET LOCAL ROLE NONE").await?;
    let output: Value = output
        .map_err(|e| ApiError::internal("custom access token hook", e))?
        .get(0);
    interpret(output, &input["claims"])
}

/// Check the hook's answer: an error it reports, or new claims that keep the required ones.
fn interpret(output: Value, before: &Value) -> Result<Value, ApiError> {
    if let Some(err) = output.get("error") {
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        if !message.is_empty() {
            let status = err
                .get("http_code")
                .and_then(Value::as_u64)
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500) as u16;
            return Err(ApiError::Hook {
                status,
                message: message.to_string(),
            });
        }
    }
    let Some(claims) = output.get("claims").filter(|c| c.is_object()) else {
        return Err(ApiError::Hook {
            status: 500,
            message: "output claims field is missing".into(),
        });
    };
    for required in [
        "sub",
        "aud",
        "exp",
        "iat",
        "role",
        "aal",
        "session_id",
        "is_anonymous",
    ] {
        if claims.get(required).is_none() && before.get(required).is_some() {
            return Err(ApiError::Hook {
                status: 500,
                message: format!(
                    "output claims do not conform to the expected schema: {required} is required"
                ),
            });
        }
    }
    Ok(claims.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            PgFunction::parse("pg-functions://postgres/public/custom_access_token_hook").unwrap(),
            PgFunction {
                schema: "public".into(),
                name: "custom_access_token_hook".into()
            }
        );
        assert!(PgFunction::parse("https://example.com/hook").is_err());
        assert!(PgFunction::parse("pg-functions://postgres/public/x\"; drop table y").is_err());
        assert!(PgFunction::parse("pg-functions://postgres/public").is_err());
    }

    #[test]
    fn outputs() {
        let before = json!({"sub": "u", "aud": "authenticated", "exp": 1, "iat": 0, "role": "authenticated", "aal": "aal1", "session_id": "s", "is_anonymous": false});
        let mut after = before.clone();
        after["user_role"] = json!("admin");
        assert_eq!(
            interpret(json!({"claims": after}), &before).unwrap()["user_role"],
            "admin"
        );
        let mut missing = before.clone();
        missing.as_object_mut().unwrap().remove("role");
        assert!(interpret(json!({"claims": missing}), &before).is_err());
        match interpret(
            json!({"error": {"http_code": 403, "message": "no"}}),
            &before,
        ) {
            Err(ApiError::Hook { status, message }) => {
                assert_eq!((status, message.as_str()), (403, "no"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(interpret(json!({}), &before).is_err());
    }
}
