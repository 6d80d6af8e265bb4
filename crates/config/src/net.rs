//! `[basalt.net]`: how basalt sends the HTTP requests SQL queues (`net.http_post`, database
//! webhooks, cron jobs that call functions).

use serde::Deserialize;

use crate::Seconds;

/// `[basalt.net]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NetConfig {
    /// Run the request worker and the seconds scheduler in this process (default true).
    pub enabled: bool,
    /// Requests in flight at once, per basalt node (default 64).
    pub max_in_flight: usize,
    /// Sends of one request at most when the endpoint is unreachable or answers 5xx (default 3);
    /// then the last outcome is recorded.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt, at most a minute (default 1s).
    pub retry_backoff: Seconds,
    /// How long responses stay in `net._http_response` (default 6h; a database setting
    /// `pg_net.ttl` wins, as with pg_net).
    pub ttl: Seconds,
    /// Added to a request's own timeout to make its lease: a node that dies mid-flight leaves
    /// its requests to others (or to itself restarted) after timeout + grace (default 10s).
    pub lease_grace: Seconds,
    /// Responses larger than this are recorded as failed (default 10 MiB).
    pub max_response_bytes: crate::ByteSize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            enabled: true,
            max_in_flight: 64,
            max_attempts: 3,
            retry_backoff: Seconds(std::time::Duration::from_secs(1)),
            ttl: Seconds(std::time::Duration::from_secs(6 * 3600)),
            lease_grace: Seconds(std::time::Duration::from_secs(10)),
            max_response_bytes: crate::ByteSize(10 << 20),
        }
    }
}
