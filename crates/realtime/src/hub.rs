//! The in-memory hub of one node: which sockets joined which topics, their presences, and their
//! `postgres_changes` subscriptions. Broadcasts and presence diffs fan out from here to local
//! sockets and, through [`crate::node`], to the other nodes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ws::Message as WsMessage;
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, Notify};

use crate::filter::Binding;
use crate::limits::Limits;
use crate::phoenix::{self, BroadcastBody, Vsn};

/// Identity of one joined channel on this node.
pub type MemberId = u64;

/// The outbound queue of one socket.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<WsMessage>,
    /// Signalled when the queue overflowed: the socket is too slow and gets disconnected.
    pub kill: Arc<Notify>,
    /// Channels others asked the socket to close.
    pub control: Arc<Control>,
    pub vsn: Vsn,
}

/// Requests to a socket from elsewhere (the hub): close this channel with this system message.
#[derive(Default)]
pub struct Control {
    pending: Mutex<Vec<(MemberId, &'static str)>>,
    /// Signalled when a request is pending.
    pub notify: Notify,
}

impl Control {
    /// Ask for the channel `member` to be closed with the system error `message`.
    pub fn close(&self, member: MemberId, message: &'static str) {
        let mut p = self.pending.lock();
        if !p.iter().any(|(m, _)| *m == member) {
            p.push((member, message));
        }
        drop(p);
        self.notify.notify_one();
    }

    /// The requests pending, oldest first.
    pub fn take(&self) -> Vec<(MemberId, &'static str)> {
        std::mem::take(&mut *self.pending.lock())
    }
}

impl Sink {
    /// A sink and the receiving end the socket writer drains.
    pub fn new(vsn: Vsn, capacity: usize) -> (Sink, mpsc::Receiver<WsMessage>) {
        let (tx, rx) = mpsc::channel(capacity.max(16));
        (
            Sink {
                tx,
                kill: Arc::new(Notify::new()),
                control: Arc::new(Control::default()),
                vsn,
            },
            rx,
        )
    }

    /// Queue a text frame. Returns false when the socket is gone or overflowed.
    pub fn text(&self, s: String) -> bool {
        self.push(WsMessage::Text(s.into()))
    }

    /// Queue a binary frame.
    pub fn binary(&self, b: Vec<u8>) -> bool {
        self.push(WsMessage::Binary(b.into()))
    }

    /// Queue the end of the socket: the writer sends what is queued before, then closes the
    /// WebSocket (answering a client's Close frame with the same code).
    pub fn close(&self) -> bool {
        self.push(WsMessage::Close(None))
    }

    fn push(&self, m: WsMessage) -> bool {
        match self.tx.try_send(m) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kill.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// A topic as seen by subscribers: the full topic (`realtime:room1`) and whether it is private.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicKey {
    pub topic: String,
    pub private: bool,
}

impl TopicKey {
    /// The channel name without the `realtime:` prefix.
    pub fn sub_topic(&self) -> &str {
        self.topic.strip_prefix("realtime:").unwrap_or(&self.topic)
    }
}

/// One joined channel.
pub struct Member {
    pub sink: Sink,
    pub join_ref: String,
    /// `config.broadcast.self`.
    pub self_broadcast: bool,
    /// May receive broadcasts (always on public channels; by policy on private ones).
    pub broadcast_read: bool,
    /// May receive presence state and diffs.
    pub presence_read: bool,
    /// Ids of the stored broadcasts replayed at the join: not delivered again.
    pub replayed: Vec<String>,
}

/// A user broadcast.
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    pub event: String,
    pub body: BroadcastBody,
    /// Metadata JSON text.
    pub meta: Option<String>,
    /// A Phoenix broadcast of a JSON payload (a message of `POST /api/broadcast`, a client's
    /// text push): a text frame on every `vsn`. Otherwise a user broadcast, which `vsn` 2.0.0
    /// sockets receive as a binary frame.
    pub text: bool,
}

impl Broadcast {
    /// The `realtime.messages` id a database broadcast carries in its meta.
    fn stored_id(&self) -> Option<String> {
        let meta: Value = serde_json::from_str(self.meta.as_deref()?).ok()?;
        meta.get("id")?.as_str().map(str::to_owned)
    }

    /// The JSON payload of a text `broadcast` frame; `None` for binary bodies (vsn 1 cannot carry
    /// them).
    fn text_payload(&self) -> Option<String> {
        let BroadcastBody::Json(p) = &self.body else {
            return None;
        };
        let ev = Value::String(self.event.clone());
        Some(match &self.meta {
            // Keys in the order Supabase Realtime writes them (sorted).
            Some(m) => format!(r#"{{"event":{ev},"meta":{m},"payload":{p},"type":"broadcast"}}"#),
            None => format!(r#"{{"event":{ev},"payload":{p},"type":"broadcast"}}"#),
        })
    }
}

/// One presence of a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    /// `node:member` that tracked it.
    pub owner: String,
    pub key: String,
    /// The meta as the client sees it, including `phx_ref`.
    pub meta: Value,
}

#[derive(Default)]
struct Topic {
    members: HashMap<MemberId, Member>,
    /// presence key → presences.
    presence: BTreeMap<String, Vec<Presence>>,
}

/// A `postgres_changes` subscription of one channel binding.
#[derive(Clone)]
pub struct CdcSub {
    pub member: MemberId,
    pub sink: Sink,
    pub topic: String,
    pub id: u32,
    pub binding: Arc<Binding>,
    pub ctx: Arc<SecurityContext>,
}

/// Who a subscriber is to Postgres: its role and its JWT claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecurityContext {
    pub role: String,
    pub claims: Arc<str>,
}

/// Something another node must hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum Relay {
    Broadcast {
        key: TopicKey,
        msg: Broadcast,
    },
    Presence {
        key: TopicKey,
        joins: Vec<Presence>,
        leaves: Vec<Presence>,
    },
    /// A node asks the others for their presences of a topic it just started serving.
    PresenceSync {
        key: TopicKey,
    },
}

/// The hub of one node.
pub struct Hub {
    pub node_id: String,
    ids: AtomicU64,
    refs: AtomicU64,
    topics: RwLock<HashMap<TopicKey, Topic>>,
    cdc: Mutex<HashMap<MemberId, Vec<CdcSub>>>,
    cdc_version: AtomicU64,
    relay: mpsc::UnboundedSender<Relay>,
    /// Counts every delivery of a broadcast to a channel.
    limits: Arc<Limits>,
}

/// Presences grouped by key, as `presence_state`/`presence_diff` carry them.
fn group(ps: &[Presence]) -> Value {
    let mut m = Map::new();
    for p in ps {
        let e = m
            .entry(p.key.clone())
            .or_insert_with(|| json!({"metas": []}));
        if let Some(Value::Array(a)) = e.get_mut("metas") {
            a.push(p.meta.clone());
        }
    }
    Value::Object(m)
}

impl Hub {
    /// A hub whose cross-node traffic goes to `relay`.
    pub fn new(node_id: String, relay: mpsc::UnboundedSender<Relay>) -> Hub {
        Hub {
            node_id,
            ids: AtomicU64::new(1),
            refs: AtomicU64::new(1),
            topics: RwLock::new(HashMap::new()),
            cdc: Mutex::new(HashMap::new()),
            cdc_version: AtomicU64::new(0),
            relay,
            limits: Arc::new(Limits::unlimited()),
        }
    }

    /// The same hub counting its deliveries against `limits`.
    pub fn with_limits(mut self, limits: Arc<Limits>) -> Hub {
        self.limits = limits;
        self
    }

    /// A new member id.
    pub fn next_id(&self) -> MemberId {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    fn owner(&self, member: MemberId) -> String {
        format!("{}:{member}", self.node_id)
    }

    /// Add a joined channel. Returns true when this node had nobody on the topic before; then,
    /// when the channel uses presence, the other nodes are asked for their presences.
    pub fn join(&self, key: &TopicKey, id: MemberId, member: Member, presence: bool) -> bool {
        let mut topics = self.topics.write();
        let t = topics.entry(key.clone()).or_default();
        let first = t.members.is_empty();
        t.members.insert(id, member);
        if first && presence {
            let _ = self.relay.send(Relay::PresenceSync { key: key.clone() });
        }
        first
    }

    /// Change what a member may receive (its token was refreshed).
    pub fn set_read(
        &self,
        key: &TopicKey,
        id: MemberId,
        broadcast_read: bool,
        presence_read: bool,
    ) {
        if let Some(m) = self
            .topics
            .write()
            .get_mut(key)
            .and_then(|t| t.members.get_mut(&id))
        {
            m.broadcast_read = broadcast_read;
            m.presence_read = presence_read;
        }
    }

    /// Remove a channel: its presence leaves and its subscriptions end.
    pub fn leave(&self, key: &TopicKey, id: MemberId) {
        self.untrack(key, id);
        let mut topics = self.topics.write();
        if let Some(t) = topics.get_mut(key) {
            t.members.remove(&id);
            if t.members.is_empty() && t.presence.is_empty() {
                topics.remove(key);
            }
        }
        drop(topics);
        self.set_cdc(id, Vec::new());
    }

    /// Deliver a broadcast to this node's subscribers of `key` (not to `from` unless it asked
    /// for `self`), and to the other nodes when it originates here.
    pub fn broadcast(
        &self,
        key: &TopicKey,
        from: Option<MemberId>,
        msg: &Broadcast,
        local_only: bool,
    ) {
        let mut v1: Option<Option<String>> = None;
        let mut v2_text: Option<Option<String>> = None;
        let mut v2: Option<Result<Vec<u8>, Option<String>>> = None;
        // Over the project's message rate, every channel that receives one is closed after it.
        let over = self.limits.events.triggered();
        let mut delivered = 0;
        let mut closing = Vec::new();
        // The stored message id of a database broadcast, read when a member replayed some.
        let mut msg_id: Option<Option<String>> = None;
        {
            let topics = self.topics.read();
            if let Some(t) = topics.get(key) {
                for (id, m) in &t.members {
                    if (Some(*id) == from && !m.self_broadcast) || !m.broadcast_read {
                        continue;
                    }
                    if !m.replayed.is_empty() {
                        let mid = msg_id.get_or_insert_with(|| msg.stored_id());
                        if mid.as_ref().is_some_and(|i| m.replayed.contains(i)) {
                            continue;
                        }
                    }
                    delivered += 1;
                    if over {
                        closing.push((m.sink.control.clone(), *id));
                    }
                    match m.sink.vsn {
                        Vsn::V1 => {
                            let f = v1.get_or_insert_with(|| {
                                msg.text_payload().map(|p| {
                                    phoenix::encode_raw(Vsn::V1, None, &key.topic, "broadcast", &p)
                                })
                            });
                            if let Some(f) = f {
                                m.sink.text(f.clone());
                            }
                        }
                        Vsn::V2 if msg.text => {
                            let f = v2_text.get_or_insert_with(|| {
                                msg.text_payload().map(|p| {
                                    phoenix::encode_raw(Vsn::V2, None, &key.topic, "broadcast", &p)
                                })
                            });
                            if let Some(f) = f {
                                m.sink.text(f.clone());
                            }
                        }
                        Vsn::V2 => {
                            let f = v2.get_or_insert_with(|| {
                                phoenix::encode_user_broadcast(
                                    &key.topic,
                                    &msg.event,
                                    msg.meta.as_deref(),
                                    &msg.body,
                                )
                                .map_err(|_| {
                                    msg.text_payload().map(|p| {
                                        phoenix::encode_raw(
                                            Vsn::V2,
                                            None,
                                            &key.topic,
                                            "broadcast",
                                            &p,
                                        )
                                    })
                                })
                            });
                            match f {
                                Ok(b) => {
                                    m.sink.binary(b.clone());
                                }
                                Err(Some(t)) => {
                                    m.sink.text(t.clone());
                                }
                                Err(None) => {}
                            }
                        }
                    }
                }
            }
        }
        self.limits.events.add(delivered);
        // After the message itself was queued.
        for (control, id) in closing {
            control.close(id, "Too many messages per second");
        }
        if !local_only {
            let _ = self.relay.send(Relay::Broadcast {
                key: key.clone(),
                msg: msg.clone(),
            });
        }
    }

    /// The full presence state of a topic.
    pub fn presence_state(&self, key: &TopicKey) -> Value {
        let topics = self.topics.read();
        match topics.get(key) {
            Some(t) => {
                let all: Vec<Presence> = t.presence.values().flatten().cloned().collect();
                group(&all)
            }
            None => json!({}),
        }
    }

    /// Presences tracked by this node's members on a topic.
    pub fn local_presences(&self, key: &TopicKey) -> Vec<Presence> {
        let prefix = format!("{}:", self.node_id);
        let topics = self.topics.read();
        topics
            .get(key)
            .map(|t| {
                t.presence
                    .values()
                    .flatten()
                    .filter(|p| p.owner.starts_with(&prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Track (or replace) the presence of a member under `pkey`.
    pub fn track(&self, key: &TopicKey, id: MemberId, pkey: &str, meta: Value) {
        let owner = self.owner(id);
        let phx_ref = format!("F{}", self.refs.fetch_add(1, Ordering::Relaxed));
        let mut meta = match meta {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other);
                m
            }
        };
        meta.insert("phx_ref".into(), Value::String(phx_ref));
        let leaves = self.remove_presences(key, |p| p.owner == owner);
        // An update of the same key names the meta it replaces, as Phoenix Presence does.
        if let Some(prev) = leaves
            .iter()
            .find(|p| p.key == pkey)
            .and_then(|p| p.meta.get("phx_ref").cloned())
        {
            meta.insert("phx_ref_prev".into(), prev);
        }
        let join = Presence {
            owner: owner.clone(),
            key: pkey.to_owned(),
            meta: Value::Object(meta),
        };
        self.apply_presence(key, vec![join.clone()], leaves.clone());
        let _ = self.relay.send(Relay::Presence {
            key: key.clone(),
            joins: vec![join],
            leaves,
        });
    }

    /// Remove a member's presence.
    pub fn untrack(&self, key: &TopicKey, id: MemberId) {
        let owner = self.owner(id);
        let leaves = self.remove_presences(key, |p| p.owner == owner);
        if leaves.is_empty() {
            return;
        }
        self.apply_presence(key, Vec::new(), leaves.clone());
        let _ = self.relay.send(Relay::Presence {
            key: key.clone(),
            joins: Vec::new(),
            leaves,
        });
    }

    /// Forget the presences of nodes that are no longer alive (this node always is).
    pub fn retain_nodes(&self, live: &std::collections::HashSet<String>) {
        let keys: Vec<TopicKey> = self.topics.read().keys().cloned().collect();
        for key in keys {
            let leaves = self.remove_presences(&key, |p| {
                let node = p.owner.split(':').next().unwrap_or("");
                node != self.node_id && !live.contains(node)
            });
            if !leaves.is_empty() {
                self.apply_presence(&key, Vec::new(), leaves);
            }
        }
    }

    fn remove_presences(&self, key: &TopicKey, pred: impl Fn(&Presence) -> bool) -> Vec<Presence> {
        let mut topics = self.topics.write();
        let Some(t) = topics.get_mut(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        t.presence.retain(|_, ps| {
            ps.retain(|p| {
                if pred(p) {
                    out.push(p.clone());
                    false
                } else {
                    true
                }
            });
            !ps.is_empty()
        });
        out
    }

    /// Record joins (leaves were removed by the caller or come from another node) and push a
    /// `presence_diff` to this node's members.
    pub fn apply_presence(&self, key: &TopicKey, joins: Vec<Presence>, leaves: Vec<Presence>) {
        let mut topics = self.topics.write();
        let t = topics.entry(key.clone()).or_default();
        for l in &leaves {
            if let Some(ps) = t.presence.get_mut(&l.key) {
                ps.retain(|p| !(p.owner == l.owner && p.meta == l.meta));
                if ps.is_empty() {
                    t.presence.remove(&l.key);
                }
            }
        }
        for j in &joins {
            let ps = t.presence.entry(j.key.clone()).or_default();
            if !ps.iter().any(|p| p.owner == j.owner && p.meta == j.meta) {
                ps.push(j.clone());
            }
        }
        if joins.is_empty() && leaves.is_empty() {
            return;
        }
        let payload = json!({"joins": group(&joins), "leaves": group(&leaves)}).to_string();
        for m in t.members.values().filter(|m| m.presence_read) {
            m.sink.text(phoenix::encode_raw(
                m.sink.vsn,
                None,
                &key.topic,
                "presence_diff",
                &payload,
            ));
        }
        if t.members.is_empty() && t.presence.is_empty() {
            topics.remove(key);
        }
    }

    /// Replace the `postgres_changes` subscriptions of a member.
    pub fn set_cdc(&self, id: MemberId, subs: Vec<CdcSub>) {
        let mut cdc = self.cdc.lock();
        let changed = if subs.is_empty() {
            cdc.remove(&id).is_some()
        } else {
            cdc.insert(id, subs);
            true
        };
        if changed {
            self.cdc_version.fetch_add(1, Ordering::Release);
        }
    }

    /// Change the security context of a member's subscriptions (a refreshed token).
    pub fn set_cdc_context(&self, id: MemberId, ctx: Arc<SecurityContext>) {
        let mut cdc = self.cdc.lock();
        if let Some(subs) = cdc.get_mut(&id) {
            for s in subs.iter_mut() {
                s.ctx = ctx.clone();
            }
            self.cdc_version.fetch_add(1, Ordering::Release);
        }
    }

    /// Version of the subscription set; changes whenever a subscription comes or goes.
    pub fn cdc_version(&self) -> u64 {
        self.cdc_version.load(Ordering::Acquire)
    }

    /// Every current subscription.
    pub fn cdc_snapshot(&self) -> Vec<CdcSub> {
        self.cdc.lock().values().flatten().cloned().collect()
    }

    /// Number of joined channels on this node.
    pub fn member_count(&self) -> usize {
        self.topics.read().values().map(|t| t.members.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> (Hub, mpsc::UnboundedReceiver<Relay>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Hub::new("n1".into(), tx), rx)
    }

    /// A member that reads everything, without `self`.
    fn member(sink: Sink, replayed: Vec<String>) -> Member {
        Member {
            sink,
            join_ref: "1".into(),
            self_broadcast: false,
            broadcast_read: true,
            presence_read: true,
            replayed,
        }
    }

    fn key() -> TopicKey {
        TopicKey {
            topic: "realtime:room".into(),
            private: false,
        }
    }

    #[tokio::test]
    async fn broadcast_respects_self_and_relays() {
        let (h, mut relay) = hub();
        let (a, mut ra) = Sink::new(Vsn::V2, 16);
        let (b, mut rb) = Sink::new(Vsn::V1, 16);
        h.join(&key(), 1, member(a, Vec::new()), true);
        h.join(&key(), 2, member(b, Vec::new()), true);
        assert!(matches!(relay.try_recv(), Ok(Relay::PresenceSync { .. })));
        let msg = Broadcast {
            event: "cursor".into(),
            body: BroadcastBody::Json(r#"{"x":1}"#.into()),
            meta: None,
            text: false,
        };
        h.broadcast(&key(), Some(1), &msg, false);
        assert!(ra.try_recv().is_err(), "sender without self gets nothing");
        let WsMessage::Text(t) = rb.try_recv().unwrap() else {
            panic!("v1 gets text")
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        assert_eq!(v["payload"]["payload"]["x"], 1);
        assert!(matches!(relay.try_recv(), Ok(Relay::Broadcast { .. })));
        h.broadcast(&key(), Some(2), &msg, true);
        assert!(matches!(ra.try_recv(), Ok(WsMessage::Binary(_))));
        assert!(relay.try_recv().is_err(), "local_only is not relayed");
    }

    #[tokio::test]
    async fn a_stored_broadcast_replayed_at_the_join_is_not_delivered_again() {
        let (h, _relay) = hub();
        let (a, mut ra) = Sink::new(Vsn::V2, 16);
        h.join(&key(), 1, member(a, vec!["m1".into()]), false);
        let stored = |id: &str| Broadcast {
            event: "e".into(),
            body: BroadcastBody::Json("{}".into()),
            meta: Some(json!({ "id": id }).to_string()),
            text: false,
        };
        h.broadcast(&key(), None, &stored("m1"), true);
        assert!(ra.try_recv().is_err(), "replayed already");
        h.broadcast(&key(), None, &stored("m2"), true);
        assert!(matches!(ra.try_recv(), Ok(WsMessage::Binary(_))));
    }

    #[tokio::test]
    async fn presence_track_replace_untrack() {
        let (h, _relay) = hub();
        let (a, mut ra) = Sink::new(Vsn::V2, 16);
        h.join(&key(), 1, member(a, Vec::new()), true);
        h.track(&key(), 1, "u1", json!({"online_at": 1}));
        let st = h.presence_state(&key());
        assert_eq!(st["u1"]["metas"][0]["online_at"], 1);
        h.track(&key(), 1, "u1", json!({"online_at": 2}));
        let st = h.presence_state(&key());
        assert_eq!(st["u1"]["metas"].as_array().unwrap().len(), 1);
        assert_eq!(st["u1"]["metas"][0]["online_at"], 2);
        h.untrack(&key(), 1);
        assert_eq!(h.presence_state(&key()), json!({}));
        let mut diffs = 0;
        while let Ok(WsMessage::Text(t)) = ra.try_recv() {
            assert!(t.as_str().contains("presence_diff"));
            diffs += 1;
        }
        assert_eq!(diffs, 3);
    }

    #[tokio::test]
    async fn overflow_kills_the_socket() {
        let (s, _rx) = Sink::new(Vsn::V2, 16);
        for _ in 0..16 {
            assert!(s.text("x".into()));
        }
        assert!(!s.text("x".into()));
        // the kill signal was stored
        tokio::time::timeout(std::time::Duration::from_millis(100), s.kill.notified())
            .await
            .unwrap();
    }
}
