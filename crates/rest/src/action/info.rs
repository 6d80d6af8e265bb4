//! Planning `OPTIONS`: the methods a target allows.

use super::PlanInput;
use crate::error::{ApiError, Code};
use crate::request::Target;
use crate::schema::Qi;

/// An `OPTIONS` answer: `Allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoAction {
    pub allow: String,
}

/// The methods the target allows, as PostgREST lists them: `PUT` only where a row can be
/// inserted and updated by its primary key; `GET` on a function only when it is not volatile.
pub(super) fn plan(input: &PlanInput<'_>, target: &Target) -> Result<InfoAction, ApiError> {
    let schema = &input.req.schema;
    let allow = match target {
        Target::Root => "OPTIONS,GET,HEAD".to_string(),
        Target::Rpc(name) => {
            let volatile = input
                .cache
                .routines
                .get(&Qi::new(schema, name))
                .is_none_or(|overloads| overloads.iter().any(|r| r.is_volatile()));
            if volatile {
                "OPTIONS,POST"
            } else {
                "OPTIONS,GET,HEAD,POST"
            }
            .to_string()
        }
        Target::Relation(name) => {
            let Some(r) = input.cache.relations.get(&Qi::new(schema, name)) else {
                return Err(ApiError::new(
                    Code::InvalidPath,
                    "Invalid path specified in request URL",
                ));
            };
            let mut m = vec!["OPTIONS,GET,HEAD"];
            if r.insertable {
                m.push("POST");
            }
            if r.insertable && r.updatable && !r.pk.is_empty() {
                m.push("PUT");
            }
            if r.updatable {
                m.push("PATCH");
            }
            if r.deletable {
                m.push("DELETE");
            }
            m.join(",")
        }
    };
    Ok(InfoAction { allow })
}
