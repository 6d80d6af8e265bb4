//! `GET /api/advisors`: the findings `basalt db advisors` prints (`basalt_schema::advisors`, all
//! lints, every level), read on a fresh connection of the role basalt connects as, with the
//! schemas the REST API serves as the exposed ones (unless the database sets
//! `pgrst.db_schemas`). `?type=security|performance` keeps one category.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_schema::advisors::{AdvisorOptions, Category};
use http::StatusCode;

use crate::session::error;
use crate::Shared;

pub async fn list(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let category = match q.get("type").map(String::as_str) {
        None | Some("") | Some("all") => None,
        Some("security") => Some(Category::Security),
        Some("performance") => Some(Category::Performance),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "type is all, security or performance",
            )
        }
    };
    let client = match crate::sql::connect(&state.config.db_url, "basalt-studio advisors").await {
        Ok((client, _)) => client,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("cannot connect to the database: {e}"),
            )
        }
    };
    let options = AdvisorOptions {
        exposed_schemas: state.config.schemas.clone(),
        category,
        ..AdvisorOptions::default()
    };
    match basalt_schema::advisors::run(&client, &options).await {
        Ok(found) => Json(serde_json::json!({ "advisories": found })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
