//! Several nodes, one database. Each node reads the WAL through its own replication slot, so
//! every node sees every committed change and every `realtime.messages` broadcast. What happens
//! only in a node's memory — client broadcasts and presence — travels to the others as logical
//! decoding messages (`pg_logical_emit_message`, prefix [`PREFIX`]) that arrive through those same
//! slots. Nodes record themselves in `realtime.basalt_nodes`; a node that stops being seen has its
//! slot dropped and its presences removed by the others, so nobody holds WAL for it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::hub::{Broadcast, Presence, Relay, TopicKey};
use crate::phoenix::BroadcastBody;
use crate::State;

/// Prefix of the logical decoding messages nodes exchange.
pub const PREFIX: &str = "basalt_realtime";

/// A relay as the JSON other nodes read.
pub fn encode(node: &str, r: &Relay) -> Value {
    let presences = |ps: &[Presence]| {
        Value::Array(
            ps.iter()
                .map(|p| json!({"owner": p.owner, "key": p.key, "meta": p.meta}))
                .collect(),
        )
    };
    match r {
        Relay::Broadcast { key, msg } => {
            let (json_body, bin) = match &msg.body {
                BroadcastBody::Json(s) => (Some(s.clone()), None),
                BroadcastBody::Binary(b) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(b)),
                ),
            };
            json!({"node": node, "kind": "broadcast", "topic": key.topic, "private": key.private,
                   "event": msg.event, "json": json_body, "bin": bin, "meta": msg.meta,
                   "text": msg.text})
        }
        Relay::Presence { key, joins, leaves } => {
            json!({"node": node, "kind": "presence", "topic": key.topic, "private": key.private,
                   "joins": presences(joins), "leaves": presences(leaves)})
        }
        Relay::PresenceSync { key } => {
            json!({"node": node, "kind": "presence_sync", "topic": key.topic, "private": key.private})
        }
    }
}

/// Read a relay; `None` for anything malformed.
pub fn decode(v: &Value) -> Option<(String, Relay)> {
    let node = v.get("node")?.as_str()?.to_owned();
    let key = TopicKey {
        topic: v.get("topic")?.as_str()?.to_owned(),
        private: v.get("private")?.as_bool()?,
    };
    let presences = |name: &str| -> Option<Vec<Presence>> {
        v.get(name)?
            .as_array()?
            .iter()
            .map(|p| {
                Some(Presence {
                    owner: p.get("owner")?.as_str()?.to_owned(),
                    key: p.get("key")?.as_str()?.to_owned(),
                    meta: p.get("meta")?.clone(),
                })
            })
            .collect()
    };
    let relay = match v.get("kind")?.as_str()? {
        "broadcast" => {
            let body = match (
                v.get("json").and_then(Value::as_str),
                v.get("bin").and_then(Value::as_str),
            ) {
                (Some(j), _) => BroadcastBody::Json(j.to_owned()),
                (None, Some(b)) => BroadcastBody::Binary(
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .ok()?
                        .into(),
                ),
                _ => return None,
            };
            Relay::Broadcast {
                key,
                msg: Broadcast {
                    event: v.get("event")?.as_str()?.to_owned(),
                    body,
                    meta: v.get("meta").and_then(Value::as_str).map(str::to_owned),
                    text: v.get("text").and_then(Value::as_bool).unwrap_or(false),
                },
            }
        }
        "presence" => Relay::Presence {
            key,
            joins: presences("joins")?,
            leaves: presences("leaves")?,
        },
        "presence_sync" => Relay::PresenceSync { key },
        _ => return None,
    };
    Some((node, relay))
}

/// Apply a relay that arrived through the WAL (ignoring this node's own).
pub fn apply(state: &State, content: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(content) else {
        return;
    };
    let Some((node, relay)) = decode(&v) else {
        return;
    };
    if node == state.hub.node_id {
        return;
    }
    match relay {
        Relay::Broadcast { key, msg } => state.hub.broadcast(&key, None, &msg, true),
        Relay::Presence { key, joins, leaves } => state.hub.apply_presence(&key, joins, leaves),
        Relay::PresenceSync { key } => {
            let mine = state.hub.local_presences(&key);
            if !mine.is_empty() {
                state.relay(Relay::Presence {
                    key,
                    joins: mine,
                    leaves: Vec::new(),
                });
            }
        }
    }
}

/// Send relays to the other nodes, batching what queued up meanwhile into one statement.
pub async fn emitter(state: Arc<State>, mut rx: mpsc::UnboundedReceiver<Relay>) {
    let mut batch: Vec<String> = Vec::new();
    while let Some(r) = rx.recv().await {
        batch.push(encode(&state.hub.node_id, &r).to_string());
        while batch.len() < 500 {
            match rx.try_recv() {
                Ok(r) => batch.push(encode(&state.hub.node_id, &r).to_string()),
                Err(_) => break,
            }
        }
        let mut tries = 0;
        loop {
            let res = async {
                let c = state.pool.get().await.map_err(|e| e.to_string())?;
                c.execute(
                    "SELECT pg_logical_emit_message(true, $1, m) FROM unnest($2::text[]) AS m",
                    &[&PREFIX, &batch],
                )
                .await
                .map_err(|e| e.to_string())
            }
            .await;
            match res {
                Ok(_) => break,
                Err(e) if tries < 20 => {
                    tries += 1;
                    tracing::debug!(error = %e, "relay to other nodes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, dropped = batch.len(), "relay to other nodes failed");
                    break;
                }
            }
        }
        batch.clear();
    }
}

/// Record this node as alive, drop the slots of nodes not seen for `node_timeout`, and forget
/// their presences. Runs every few seconds.
pub async fn heartbeat(state: Arc<State>) {
    let period = (state.config.node_timeout / 6).max(Duration::from_millis(500));
    loop {
        if let Err(e) = beat(&state).await {
            tracing::debug!(error = %e, "realtime node heartbeat failed");
        }
        tokio::time::sleep(period).await;
    }
}

/// One heartbeat.
pub async fn beat(state: &State) -> Result<(), String> {
    let c = state.pool.get().await.map_err(|e| e.to_string())?;
    let timeout = format!("{} milliseconds", state.config.node_timeout.as_millis());
    c.execute(
        "INSERT INTO realtime.basalt_nodes (id, seen_at) VALUES ($1, now())
         ON CONFLICT (id) DO UPDATE SET seen_at = now()",
        &[&state.config.node_id],
    )
    .await
    .map_err(|e| e.to_string())?;
    c.execute(
        "DELETE FROM realtime.basalt_nodes WHERE seen_at < now() - $1::text::interval",
        &[&timeout],
    )
    .await
    .map_err(|e| e.to_string())?;
    let prefix = format!("{}\\_%", state.config.slot_prefix.replace('_', "\\_"));
    c.query(
        "SELECT pg_drop_replication_slot(s.slot_name) FROM pg_replication_slots s
         WHERE s.database = current_database() AND s.slot_name LIKE $1 AND NOT s.active
           AND s.slot_name <> $2
           AND NOT EXISTS (SELECT 1 FROM realtime.basalt_nodes n WHERE $3 || '_' || n.id = s.slot_name)",
        &[&prefix, &state.config.slot_name(), &state.config.slot_prefix],
    )
    .await
    .map_err(|e| e.to_string())?;
    // Messages are kept three days, as supabase/realtime keeps them.
    c.execute(
        "DELETE FROM realtime.messages WHERE inserted_at < now() - interval '3 days'",
        &[],
    )
    .await
    .map_err(|e| e.to_string())?;
    let live: HashSet<String> = c
        .query("SELECT id FROM realtime.basalt_nodes", &[])
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.get(0))
        .collect();
    state.hub.retain_nodes(&live);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_round_trip() {
        let key = TopicKey {
            topic: "realtime:r".into(),
            private: true,
        };
        let cases = vec![
            Relay::Broadcast {
                key: key.clone(),
                msg: Broadcast {
                    event: "e".into(),
                    body: BroadcastBody::Json(r#"{"a":1}"#.into()),
                    meta: None,
                    text: true,
                },
            },
            Relay::Broadcast {
                key: key.clone(),
                msg: Broadcast {
                    event: "e".into(),
                    body: BroadcastBody::Binary(vec![0u8, 255, 3].into()),
                    meta: Some(r#"{"id":"x"}"#.into()),
                    text: false,
                },
            },
            Relay::Presence {
                key: key.clone(),
                joins: vec![Presence {
                    owner: "n:1".into(),
                    key: "u".into(),
                    meta: json!({"phx_ref": "F1"}),
                }],
                leaves: vec![],
            },
            Relay::PresenceSync { key },
        ];
        for r in cases {
            let v = encode("n1", &r);
            assert_eq!(decode(&v), Some(("n1".to_owned(), r)));
        }
        assert_eq!(decode(&json!({"node": "x"})), None);
        assert_eq!(
            decode(&json!({"node":"x","topic":"t","private":false,"kind":"nope"})),
            None
        );
    }
}
