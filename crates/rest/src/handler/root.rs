//! `GET /`: the OpenAPI document or the configured root function.

use super::*;
use crate::config::OpenApiMode;
use crate::main_statement::MainSelect;
use crate::request::{Media, Producer};
use crate::respond::body_response;
use crate::schema::Qi;
use crate::sql::{self, Sql};

pub(super) async fn root(ctx: &Ctx<'_>, timing: &mut Timing) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let media = ctx.input().media(Producer::Root)?;
    if let Some(spec) = &ctx.app.config.root_spec {
        let qi = Qi::new(&ctx.req.schema, spec);
        let mut sql = Sql::default();
        sql.text = MainSelect {
            from: &format!("SELECT {}() AS \"pgrst_scalar\"", sql::qi(&qi)),
            body: Some("(array_agg(\"_postgrest_t\".\"pgrst_scalar\"))[1]::text"),
            ..Default::default()
        }
        .render();
        timing.plan = Some(ms(t0));
        let job = Job {
            main: sql,
            planned: None,
            explain: None,
            end: None,
        };
        let t = Instant::now();
        let out = db::run(
            &ctx.app.wire,
            &ctx.app.gens,
            &ctx.settings(true),
            &job,
            ctx.identity.authenticated,
            |_, _| Ok(ctx.input().commits()),
        )
        .await?;
        timing.transaction = Some(ms(t));
        return Ok(body_response(
            StatusCode::OK,
            &media,
            out.row.body.unwrap_or_default(),
        ));
    }
    if ctx.app.config.openapi_mode == OpenApiMode::Disabled {
        return Err(ApiError::new(
            Code::OpenApiDisabled,
            "Root endpoint metadata is disabled",
        ));
    }
    timing.plan = Some(ms(t0));
    let t = Instant::now();
    let doc = crate::openapi::document(
        ctx.app,
        &ctx.cache,
        &ctx.req.schema,
        &ctx.settings(true),
        ctx.identity.authenticated,
    )
    .await?;
    timing.transaction = Some(ms(t));
    let media = if media == Media::OpenApi
        && ctx
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(|a| a.contains("application/json"))
            .unwrap_or(false)
        && !ctx
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(|a| a.contains("openapi"))
            .unwrap_or(false)
    {
        Media::Json
    } else {
        media
    };
    Ok(body_response(StatusCode::OK, &media, doc))
}
