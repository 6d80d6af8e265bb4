//! One HTTP call for one queued request, and what to do with its result: record it, or retry.

use std::time::Duration;

use crate::queue::{Outcome, Request};

/// Longest timeout honoured; a larger `timeout_milliseconds` is cut to this.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The result of one send.
#[derive(Debug)]
pub enum Sent {
    /// Record this outcome (a response, a timeout, or an error retrying cannot fix).
    Final(Outcome),
    /// The endpoint could not be reached or answered 5xx; worth another attempt. The outcome
    /// is what gets recorded if no attempts are left.
    Retryable(Outcome),
}

/// Send `r` with its own timeout, reading at most `max_body` bytes of the response.
pub async fn send(http: &reqwest::Client, r: &Request, max_body: u64) -> Sent {
    let timeout =
        Duration::from_millis(u64::try_from(r.timeout_ms.max(1)).unwrap_or(1)).min(MAX_TIMEOUT);
    let error = |msg: String| Outcome {
        error_msg: Some(msg),
        ..Outcome::default()
    };
    let method = match reqwest::Method::from_bytes(r.method.to_ascii_uppercase().as_bytes()) {
        Ok(m) => m,
        Err(_) => return Sent::Final(error(format!("unsupported method {}", r.method))),
    };
    let mut req = http.request(method, &r.url).timeout(timeout);
    if let Some(map) = r.headers.as_object() {
        for (k, v) in map {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            req = req.header(k.as_str(), value);
        }
    }
    if let Some(body) = &r.body {
        req = req.body(body.clone());
    }
    let timed_out = || Outcome {
        timed_out: true,
        error_msg: Some(format!("Timeout of {} ms reached", timeout.as_millis())),
        ..Outcome::default()
    };
    let started = tokio::time::Instant::now();
    let resp = match req.send().await {
        Ok(resp) => resp,
        Err(e) if e.is_timeout() => return Sent::Final(timed_out()),
        Err(e) if e.is_connect() => return Sent::Retryable(error(chain(&e))),
        Err(e) if e.is_builder() => return Sent::Final(error(chain(&e))),
        Err(e) => return Sent::Retryable(error(chain(&e))),
    };
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut headers = serde_json::Map::new();
    for (k, v) in resp.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        match headers.get_mut(k.as_str()) {
            Some(serde_json::Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                headers.insert(k.as_str().to_string(), serde_json::Value::String(v));
            }
        }
    }
    let mut body = Vec::new();
    let mut resp = resp;
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, resp.chunk()).await {
            Err(_) => return Sent::Final(timed_out()),
            Ok(Err(e)) if e.is_timeout() => return Sent::Final(timed_out()),
            Ok(Err(e)) => return Sent::Retryable(error(chain(&e))),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                if (body.len() + chunk.len()) as u64 > max_body {
                    return Sent::Final(error(format!("response larger than {max_body} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    let outcome = Outcome {
        status_code: Some(i32::from(status.as_u16())),
        content_type,
        headers: Some(serde_json::Value::Object(headers)),
        content: Some(String::from_utf8_lossy(&body).into_owned()),
        timed_out: false,
        error_msg: None,
    };
    if status.is_server_error() {
        Sent::Retryable(outcome)
    } else {
        Sent::Final(outcome)
    }
}

/// An error with its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
