//! The SQL side of delivery: claiming queued requests under a lease, recording final outcomes
//! in `net._http_response`, scheduling retries, and expiring old responses.

use std::time::Duration;

use deadpool_postgres::Pool;

use crate::Error;

/// Advisory lock key serialising claims across nodes ("basalt net"): each claim statement then
/// runs on a snapshot that sees every lease committed before it.
pub const CLAIM_LOCK: i64 = 0x6261_736e_6574;

/// One claimed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: i64,
    pub method: String,
    pub url: String,
    pub headers: serde_json::Value,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: i32,
    /// Sends started so far, this one included.
    pub attempt: i32,
}

const CLAIM: &str = "
WITH c AS (
  SELECT q.id, q.method::text AS method, q.url, q.headers, q.body, q.timeout_milliseconds,
         coalesce(d.attempts, 0) AS attempts
  FROM net.http_request_queue q
  LEFT JOIN net._delivery d ON d.id = q.id
  WHERE d.id IS NULL OR (d.due_at <= now() AND (d.lease_until IS NULL OR d.lease_until < now()))
  ORDER BY q.id
  LIMIT $1
), l AS (
  INSERT INTO net._delivery AS d (id, attempts, due_at, lease_until, lease_owner)
  SELECT c.id, c.attempts + 1, now(),
         now() + make_interval(secs => greatest(c.timeout_milliseconds, 0) / 1000.0::float8 + $2::float8), $3
  FROM c
  ON CONFLICT (id) DO UPDATE
    SET attempts = EXCLUDED.attempts, lease_until = EXCLUDED.lease_until,
        lease_owner = EXCLUDED.lease_owner
)
SELECT id, method, url, headers, body, timeout_milliseconds, attempts + 1 FROM c";

/// Claim up to `limit` due requests for `node`, leased for their timeout plus `grace`.
pub async fn claim(
    pool: &Pool,
    limit: usize,
    grace: Duration,
    node: &str,
) -> Result<Vec<Request>, Error> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = tx
        .query(CLAIM, &[&limit, &grace.as_secs_f64(), &node])
        .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| Request {
            id: r.get(0),
            method: r.get(1),
            url: r.get(2),
            headers: r.get(3),
            body: r.get(4),
            timeout_ms: r.get(5),
            attempt: r.get(6),
        })
        .collect())
}

/// What `net._http_response` records for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub status_code: Option<i32>,
    pub content_type: Option<String>,
    pub headers: Option<serde_json::Value>,
    pub content: Option<String>,
    pub timed_out: bool,
    pub error_msg: Option<String>,
}

/// Record the final outcome of request `id`: its queued row and delivery state go and its
/// response row appears, in one transaction. Does nothing when another node already did it.
pub async fn finish(pool: &Pool, id: i64, o: &Outcome) -> Result<(), Error> {
    let client = pool.get().await?;
    client
        .execute(
            "WITH q AS (DELETE FROM net.http_request_queue WHERE id = $1 RETURNING id),
                  d AS (DELETE FROM net._delivery WHERE id = $1)
             INSERT INTO net._http_response
               (id, status_code, content_type, headers, content, timed_out, error_msg)
             SELECT id, $2, $3, $4, $5, $6, $7 FROM q",
            &[
                &id,
                &o.status_code,
                &o.content_type,
                &o.headers,
                &o.content,
                &o.timed_out,
                &o.error_msg,
            ],
        )
        .await?;
    Ok(())
}

/// Give request `id` back to the queue, due again after `delay`.
pub async fn retry(
    pool: &Pool,
    id: i64,
    delay: Duration,
    error: &str,
    node: &str,
) -> Result<(), Error> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE net._delivery
                SET lease_until = NULL, lease_owner = NULL, last_error = $3,
                    due_at = now() + make_interval(secs => $2::float8)
              WHERE id = $1 AND lease_owner = $4",
            &[&id, &delay.as_secs_f64(), &error, &node],
        )
        .await?;
    Ok(())
}

/// How long until the next retry is due or the next lease expires (None: nothing waits).
pub async fn next_due(pool: &Pool) -> Result<Option<Duration>, Error> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT extract(epoch FROM min(greatest(due_at, coalesce(lease_until, due_at))) - now())::float8
               FROM net._delivery",
            &[],
        )
        .await?;
    let secs: Option<f64> = row.get(0);
    Ok(secs.map(|s| Duration::from_secs_f64(s.clamp(0.0, 86_400.0))))
}

/// Delete responses older than `pg_net.ttl` (when the database sets it) or `ttl`.
pub async fn expire(pool: &Pool, ttl: Duration) -> Result<u64, Error> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            "DELETE FROM net._http_response
              WHERE created < now() - coalesce(nullif(current_setting('pg_net.ttl', true), '')::interval,
                                               make_interval(secs => $1::float8))",
            &[&ttl.as_secs_f64()],
        )
        .await?)
}
