//! `POST /api/sql`: statements run as the role basalt connects as, a result per statement.
//! `POST /api/sql/cancel`: cancel one that is still running.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::session::error;
use crate::Shared;

/// Rows kept per result; the rest are counted but not sent.
pub const MAX_ROWS: usize = 5000;

#[derive(Deserialize)]
pub struct Query {
    pub sql: String,
    /// The page's id for this run, so it can cancel it (letters, digits, `-`).
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Serialize, Default)]
pub struct StatementResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows returned or affected.
    pub row_count: u64,
    pub truncated: bool,
}

#[derive(Serialize)]
pub struct SqlError {
    pub message: String,
    pub code: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character position in the text sent, as Postgres reports it.
    pub position: Option<u32>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Statements that completed before the error (their results are sent; a syntax error
    /// anywhere stops the whole text before any runs).
    pub completed: usize,
}

#[derive(Serialize)]
pub struct Outcome {
    pub results: Vec<StatementResult>,
    pub error: Option<SqlError>,
    pub ms: u64,
    pub role: String,
}

fn application_name(id: &str) -> String {
    format!("basalt-studio:{id}")
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Line and column (1-based) of the 1-based character `position` in `text`.
pub fn line_column(text: &str, position: u32) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in text.chars().take(position.saturating_sub(1) as usize) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

fn request_id(req: &Request) -> String {
    req.headers()
        .get(basalt_gateway::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

pub(crate) async fn connect(
    url: &str,
    app: &str,
) -> Result<(tokio_postgres::Client, String), tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.application_name(app);
    let role = config.get_user().unwrap_or("postgres").to_string();
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "studio connection closed");
        }
    });
    Ok((client, role))
}

/// Run `sql` (one or more statements, as one simple query) on a new connection.
pub async fn execute(url: &str, sql: &str, id: &str) -> Result<Outcome, tokio_postgres::Error> {
    let started = Instant::now();
    let (client, role) = connect(url, &application_name(id)).await?;
    let mut results = Vec::new();
    let mut current = StatementResult::default();
    let mut error = None;
    let stream = client.simple_query_raw(sql).await;
    match stream {
        Err(e) => error = Some(e),
        Ok(stream) => {
            let mut stream = std::pin::pin!(stream);
            while let Some(msg) = stream.next().await {
                match msg {
                    Ok(SimpleQueryMessage::RowDescription(cols)) => {
                        current.columns = cols.iter().map(|c| c.name().to_string()).collect();
                    }
                    Ok(SimpleQueryMessage::Row(row)) => {
                        if current.rows.len() < MAX_ROWS {
                            current.rows.push(
                                (0..row.len())
                                    .map(|i| row.get(i).map(str::to_string))
                                    .collect(),
                            );
                        } else {
                            current.truncated = true;
                        }
                    }
                    Ok(SimpleQueryMessage::CommandComplete(n)) => {
                        current.row_count = n;
                        results.push(std::mem::take(&mut current));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
        }
    }
    let error = error.map(|e| sql_error(e, sql, results.len()));
    Ok(Outcome {
        results,
        error,
        ms: started.elapsed().as_millis() as u64,
        role,
    })
}

fn sql_error(e: tokio_postgres::Error, sql: &str, completed: usize) -> SqlError {
    match e.as_db_error() {
        Some(db) => {
            let position = match db.position() {
                Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p),
                _ => None,
            };
            let lc = position.map(|p| line_column(sql, p));
            SqlError {
                message: db.message().to_string(),
                code: db.code().code().to_string(),
                detail: db.detail().map(str::to_string),
                hint: db.hint().map(str::to_string),
                position,
                line: lc.map(|l| l.0),
                column: lc.map(|l| l.1),
                completed,
            }
        }
        None => SqlError {
            message: e.to_string(),
            code: String::new(),
            detail: None,
            hint: None,
            position: None,
            line: None,
            column: None,
            completed,
        },
    }
}

pub async fn run(State(state): State<Shared>, req: Request) -> Response {
    let rid = request_id(&req);
    let body = match axum::body::to_bytes(req.into_body(), 8 << 20).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "SQL text over 8 MiB"),
    };
    let Ok(q) = serde_json::from_slice::<Query>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected {\"sql\": …}");
    };
    let id = match q.id {
        Some(id) if valid_id(&id) => id,
        Some(_) => return error(StatusCode::BAD_REQUEST, "id: letters, digits, - and _"),
        None => rid.clone(),
    };
    match execute(&state.config.db_url, &q.sql, &id).await {
        Ok(out) => {
            tracing::info!(
                target: "basalt_studio::sql",
                request_id = %rid,
                role = %out.role,
                statements = out.results.len(),
                ms = out.ms,
                error = out.error.as_ref().map(|e| e.message.as_str()).unwrap_or(""),
                sql = %abbreviate(&q.sql),
                "studio ran SQL"
            );
            Json(out).into_response()
        }
        Err(e) => {
            tracing::error!(target: "basalt_studio::sql", request_id = %rid, error = %e, "studio cannot connect");
            error(
                StatusCode::BAD_GATEWAY,
                &format!("cannot connect to the database: {e}"),
            )
        }
    }
}

fn abbreviate(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[derive(Deserialize)]
pub struct Cancel {
    pub id: String,
}

/// Cancel the run `id` (on whichever node runs it): `pg_cancel_backend` of the backend whose
/// `application_name` names it. Answers whether one was found.
pub async fn cancel(State(state): State<Shared>, Json(c): Json<Cancel>) -> Response {
    if !valid_id(&c.id) {
        return error(StatusCode::BAD_REQUEST, "id: letters, digits, - and _");
    }
    let result = async {
        let (client, _) = connect(&state.config.db_url, "basalt-studio").await?;
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&application_name(&c.id)],
            )
            .await?;
        Ok::<i64, tokio_postgres::Error>(row.get(0))
    }
    .await;
    match result {
        Ok(n) => {
            tracing::info!(target: "basalt_studio::sql", id = %c.id, cancelled = n, "studio cancel");
            Json(serde_json::json!({ "cancelled": n > 0 })).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn positions_become_lines_and_columns() {
        assert_eq!(line_column("select 1", 1), (1, 1));
        assert_eq!(line_column("select 1;\nselec 2", 11), (2, 1));
        assert_eq!(line_column("é\nab", 4), (2, 2));
    }
}
