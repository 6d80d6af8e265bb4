//! Broadcast replay: a private channel joined with `config.broadcast.replay = {since, limit}`
//! first receives the broadcasts stored in `realtime.messages` for its topic since `since`
//! (milliseconds since the epoch), at most `limit` of them (1 to 25, default 25), oldest first,
//! each with `meta: {id, replayed: true}`.

use serde_json::{Map, Value};

/// Most messages one join replays.
const MAX: i64 = 25;

/// Why a join's replay was refused, as the join's error reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("UnableToReplayMessages: Replay is not allowed for public channels")]
    PublicChannel,
    #[error("UnableToReplayMessages: Replay params are not valid")]
    InvalidParams,
    #[error("UnableToReplayMessages: Realtime was unable to replay messages")]
    Failed,
}

/// What to replay: messages since this instant (ms), at most this many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    pub since_ms: i64,
    pub limit: i64,
}

impl Replay {
    /// The replay a join's `config.broadcast.replay` asks for: `None` for a value that is no
    /// object (nothing is replayed); `since` must be an integer, `limit` an integer or absent.
    pub fn parse(v: &Value) -> Option<Result<Replay, ReplayError>> {
        let o = v.as_object()?;
        let since_ms = match o.get("since") {
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        };
        let limit = match o.get("limit") {
            None | Some(Value::Null) => Some(MAX),
            Some(Value::Number(n)) => n.as_i64(),
            Some(_) => None,
        };
        // Instants a timestamp can hold (Postgres: 4713 BC to 294276 AD).
        let valid = |ms: i64| (-210_866_803_200_000..=9_224_318_016_000_000).contains(&ms);
        Some(match (since_ms, limit) {
            (Some(since_ms), Some(limit)) if valid(since_ms) => Ok(Replay {
                since_ms,
                limit: limit.clamp(1, MAX),
            }),
            _ => Err(ReplayError::InvalidParams),
        })
    }
}

/// One stored broadcast to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    pub event: String,
    pub payload: Value,
}

impl Stored {
    /// The payload of its `broadcast` frame, keys sorted as Supabase Realtime writes them.
    pub fn frame_payload(&self) -> Value {
        let mut meta = Map::new();
        meta.insert("id".into(), Value::String(self.id.clone()));
        meta.insert("replayed".into(), Value::Bool(true));
        let mut p = Map::new();
        p.insert("event".into(), Value::String(self.event.clone()));
        p.insert("meta".into(), Value::Object(meta));
        p.insert("payload".into(), sorted(self.payload.clone()));
        p.insert("type".into(), Value::String("broadcast".into()));
        Value::Object(p)
    }
}

/// `v` with the keys of every object in byte order.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut entries: Vec<(String, Value)> = o.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The private JSON broadcasts of `topic` (the channel name) to replay, oldest first (bytes
/// from `realtime.send_binary` are not replayed). `inserted_at`
/// holds the server's local time of the insert, so `since` is read in the server's time zone.
pub async fn fetch(
    pool: &deadpool_postgres::Pool,
    topic: &str,
    r: Replay,
) -> Result<Vec<Stored>, ReplayError> {
    let client = pool.get().await.map_err(|e| {
        tracing::warn!(error = %e, "replay: no database connection");
        ReplayError::Failed
    })?;
    let rows = client
        .query(
            "SELECT id::text, coalesce(event, ''), coalesce(payload, '{}'::jsonb) FROM (
               SELECT id, event, payload, inserted_at FROM realtime.messages
               WHERE topic = $1 AND private IS TRUE AND extension = 'broadcast'
                 AND binary_payload IS NULL
                 AND inserted_at >= (to_timestamp($2::bigint / 1000.0)
                                     AT TIME ZONE current_setting('TimeZone'))
                 AND inserted_at < localtimestamp + interval '1 minute'
               ORDER BY inserted_at DESC LIMIT $3) AS m
             ORDER BY inserted_at",
            &[&topic, &r.since_ms, &r.limit],
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %basalt_pg::pool::describe(&e), "replay query failed");
            ReplayError::Failed
        })?;
    Ok(rows
        .iter()
        .map(|row| Stored {
            id: row.get(0),
            event: row.get(1),
            payload: row.get(2),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_replay_option_as_supabase_realtime_does() {
        let ok = |since_ms, limit| Some(Ok(Replay { since_ms, limit }));
        assert_eq!(Replay::parse(&json!({"since": 5})), ok(5, 25));
        assert_eq!(Replay::parse(&json!({"since": 5, "limit": 100})), ok(5, 25));
        assert_eq!(Replay::parse(&json!({"since": 5, "limit": 0})), ok(5, 1));
        assert_eq!(
            Replay::parse(&json!({"since": 5, "limit": null})),
            ok(5, 25)
        );
        let invalid = Some(Err(ReplayError::InvalidParams));
        assert_eq!(Replay::parse(&json!({})), invalid);
        assert_eq!(Replay::parse(&json!({"since": "5"})), invalid);
        assert_eq!(Replay::parse(&json!({"since": 1.5})), invalid);
        assert_eq!(Replay::parse(&json!({"since": 5, "limit": "2"})), invalid);
        assert_eq!(Replay::parse(&json!({"since": i64::MAX})), invalid);
        assert_eq!(Replay::parse(&json!(true)), None);
    }

    #[test]
    fn frames_sort_keys() {
        let s = Stored {
            id: "i".into(),
            event: "e".into(),
            payload: serde_json::from_str(r#"{"b": 1, "a": {"d": 2, "c": 3}}"#).unwrap(),
        };
        assert_eq!(
            s.frame_payload().to_string(),
            r#"{"event":"e","meta":{"id":"i","replayed":true},"payload":{"a":{"c":3,"d":2},"b":1},"type":"broadcast"}"#
        );
    }
}
