//! One WebSocket connection: Phoenix channels (join, leave, heartbeat), broadcast, presence,
//! `postgres_changes` subscriptions, access-token refresh and expiry.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::authz::{self, Perms};
use crate::filter::Binding;
use crate::hub::{Broadcast, CdcSub, Member, MemberId, SecurityContext, Sink, TopicKey};
use crate::phoenix::{self, BroadcastBody, BroadcastPush, Message, Vsn};
use crate::token::{self, Token};
use crate::State;

/// A socket that sends nothing, not even a heartbeat (supabase-js sends one every 25 s), for
/// this long is closed.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a socket whose client sent a Close frame may take to send the reply.
const CLOSE_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// One joined channel of this socket.
struct Channel {
    id: MemberId,
    key: TopicKey,
    join_ref: Option<String>,
    token: Token,
    perms: Perms,
    presence_key: String,
    /// The meta last tracked, so that tracking the same again changes nothing.
    presence_meta: Option<Value>,
    /// The `access_token` the channel was joined or last refreshed with, if it sent one.
    raw_token: Option<String>,
    ack: bool,
    /// Presence pushes in the current window, and when the window ends.
    presence_calls: (u32, Option<tokio::time::Instant>),
}

struct Conn {
    state: Arc<State>,
    sink: Sink,
    vsn: Vsn,
    /// The token from the `apikey` query parameter: used until a channel sends its own.
    apikey: Token,
    channels: HashMap<String, Channel>,
    /// Counted among the project's connected users since its first join.
    user: Option<crate::limits::UserGuard>,
    /// The server ends the socket (too many joins per second).
    closing: bool,
}

/// Id of a binding: `erlang:phash2` of its parameters as the client sent them, the id Supabase
/// Realtime gives the same binding ([`crate::phash`]).
pub fn binding_id(entry: &Value) -> u32 {
    crate::phash::phash2(entry)
}

/// A join option's truth: a boolean, or the text `true`/`false` in any case.
fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Sockets this process is serving now (for `/metrics`).
pub static OPEN_SOCKETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Open;

impl Drop for Open {
    fn drop(&mut self) {
        OPEN_SOCKETS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serve a socket until it closes.
pub async fn run(state: Arc<State>, ws: WebSocket, vsn: Vsn, apikey: Token) {
    OPEN_SOCKETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _open = Open;
    let (sink, mut outbound) = Sink::new(vsn, state.config.socket_queue);
    let (mut ws_tx, mut ws_rx) = ws.split();
    let writer = tokio::spawn(async move {
        // Write whatever is queued, then flush once: one syscall for many frames under load.
        'outer: while let Some(m) = outbound.recv().await {
            let mut next = Some(m);
            let mut n = 0;
            while let Some(m) = next.take() {
                // A Close ends the writing: closing below sends the Close frame (the reply the
                // WebSocket queued when the client closed; it refuses a Close fed after that).
                if matches!(m, WsMessage::Close(_)) || ws_tx.feed(m).await.is_err() {
                    break 'outer;
                }
                n += 1;
                if n < 256 {
                    next = outbound.try_recv().ok();
                }
            }
            if ws_tx.flush().await.is_err() {
                break;
            }
        }
        let _ = ws_tx.close().await;
    });
    let kill = sink.kill.clone();
    let control = sink.control.clone();
    let mut conn = Conn {
        state,
        sink,
        vsn,
        apikey,
        channels: HashMap::new(),
        user: None,
        closing: false,
    };
    let mut last_frame = tokio::time::Instant::now();
    let mut client_closed = false;
    loop {
        let next_exp = conn.channels.values().map(|c| c.token.exp).min();
        let expiry = async {
            match next_exp {
                Some(exp) => {
                    let secs = (exp - token::now()).max(0) as u64;
                    tokio::time::sleep(std::time::Duration::from_secs(secs)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = ws_rx.next() => {
                last_frame = tokio::time::Instant::now();
                match frame {
                    Some(Ok(WsMessage::Text(t))) => conn.on_text(t.as_str()).await,
                    Some(Ok(WsMessage::Binary(b))) => conn.on_binary(&b).await,
                    Some(Ok(WsMessage::Close(_))) => {
                        client_closed = true;
                        break;
                    }
                    None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
                if conn.closing {
                    break;
                }
            }
            _ = expiry => conn.expire(),
            _ = control.notify.notified() => conn.on_control(),
            _ = tokio::time::sleep_until(last_frame + IDLE_TIMEOUT) => {
                tracing::debug!("realtime socket sent nothing (not even a heartbeat) for 60 s; closing it");
                break;
            }
            _ = kill.notified() => {
                tracing::warn!("realtime socket too slow to keep up; disconnecting it");
                break;
            }
        }
    }
    conn.leave_all();
    // A client's Close frame is answered with a Close frame echoing its code (the WebSocket
    // queued that reply when it read the frame; the writer sends it when it closes), so that
    // the client sees a clean close rather than an aborted connection (1006).
    let mut writer = writer;
    if (client_closed || conn.closing) && conn.sink.close() {
        drop(conn);
        let _ = tokio::time::timeout(CLOSE_REPLY_TIMEOUT, &mut writer).await;
    } else {
        drop(conn);
    }
    writer.abort();
}

impl Conn {
    fn send(&self, s: String) {
        self.sink.text(s);
    }

    fn reply(&self, m: &Message, ok: bool, response: Value) {
        self.send(phoenix::reply(
            self.vsn,
            m.join_ref.as_deref(),
            m.reference.as_deref(),
            &m.topic,
            ok,
            response,
        ));
    }

    fn system(
        &self,
        topic: &str,
        join_ref: Option<&str>,
        extension: &str,
        ok: bool,
        message: &str,
    ) {
        let channel = topic.strip_prefix("realtime:").unwrap_or(topic);
        self.send(phoenix::encode(
            self.vsn,
            &Message {
                join_ref: join_ref.map(str::to_owned),
                reference: None,
                topic: topic.to_owned(),
                event: "system".into(),
                payload: json!({
                    "extension": extension,
                    "status": if ok { "ok" } else { "error" },
                    "message": message,
                    "channel": channel,
                }),
            },
        ));
    }

    async fn on_text(&mut self, text: &str) {
        match phoenix::decode_text(self.vsn, text) {
            Ok(m) => self.on_message(m).await,
            Err(e) => tracing::debug!(error = %e, "ignoring unreadable realtime frame"),
        }
    }

    async fn on_binary(&mut self, data: &[u8]) {
        match phoenix::decode_binary(self.vsn, data) {
            Ok(p) => self.on_broadcast_push(p, false),
            Err(e) => tracing::debug!(error = %e, "ignoring unreadable binary realtime frame"),
        }
    }

    async fn on_message(&mut self, m: Message) {
        if m.topic == "phoenix" {
            if m.event == "heartbeat" {
                self.reply(&m, true, json!({}));
            }
            return;
        }
        match m.event.as_str() {
            "phx_join" => self.join(m).await,
            "phx_leave" => {
                // Answered, then (for a joined channel) closed with `phx_close`, as a Phoenix
                // channel that stops does.
                self.reply(&m, true, json!({}));
                if let Some(c) = self.channels.remove(&m.topic) {
                    self.state.hub.leave(&c.key, c.id);
                    self.push_close(&m.topic, c.join_ref.as_deref());
                }
            }
            "access_token" => self.refresh_token(m).await,
            "broadcast" => {
                let p = &m.payload;
                let event = p.get("event").and_then(Value::as_str).unwrap_or("");
                let body =
                    BroadcastBody::Json(p.get("payload").cloned().unwrap_or(json!({})).to_string());
                self.on_broadcast_push(
                    BroadcastPush {
                        join_ref: m.join_ref.clone(),
                        reference: m.reference.clone(),
                        topic: m.topic.clone(),
                        event: event.to_owned(),
                        meta: None,
                        body,
                    },
                    true,
                );
            }
            "presence" => self.presence(m),
            _ => {
                if !self.channels.contains_key(&m.topic) {
                    self.reply(&m, false, json!({"reason": "unmatched topic"}));
                }
            }
        }
    }

    fn token_for(&self, payload: &Value) -> Result<Token, token::TokenError> {
        match payload.get("access_token").and_then(Value::as_str) {
            Some(t) if !t.starts_with("sb_") && !t.is_empty() => token::verify(t, &self.state.keys),
            _ => {
                if self.apikey.exp <= token::now() {
                    return Err(token::TokenError::Expired(token::now() - self.apikey.exp));
                }
                Ok(self.apikey.clone())
            }
        }
    }

    async fn join(&mut self, m: Message) {
        if !m.topic.starts_with("realtime:") {
            self.reply(&m, false, json!({"reason": "unmatched topic"}));
            return;
        }
        // A second join of a joined topic closes the first channel before joining again.
        if let Some(old) = self.channels.remove(&m.topic) {
            self.state.hub.leave(&old.key, old.id);
            self.push_close(&m.topic, old.join_ref.as_deref());
        }
        if m.topic == "realtime:" {
            self.reply(
                &m,
                false,
                json!({"reason": "TopicNameRequired: You must provide a topic name"}),
            );
            return;
        }
        let limits = &self.state.limits;
        if self.user.is_none() && limits.users() >= limits.max_users {
            self.reply(
                &m,
                false,
                json!({"reason": "ConnectionRateLimitReached: Too many connected users"}),
            );
            return;
        }
        if limits.joins.triggered() {
            // The socket goes too, as Supabase Realtime disconnects it.
            self.reply(
                &m,
                false,
                json!({"reason": "ClientJoinRateLimitReached: Too many joins per second"}),
            );
            self.closing = true;
            return;
        }
        limits.joins.add(1);
        if self.channels.len() >= self.state.config.max_channels_per_socket {
            self.reply(
                &m,
                false,
                json!({"reason": "ChannelRateLimitReached: Too many channels"}),
            );
            return;
        }
        let config = m.payload.get("config").cloned().unwrap_or(json!({}));
        let token = match self.token_for(&m.payload) {
            Ok(t) => t,
            Err(e) => {
                self.reply(&m, false, json!({"reason": e.join_reason()}));
                return;
            }
        };
        let private = flag(config.get("private"));
        let key = TopicKey {
            topic: m.topic.clone(),
            private,
        };
        let perms = if private {
            match authz::check(&self.state.pool, &token, key.sub_topic()).await {
                Ok(p) if p.can_join() => p,
                Ok(_) => {
                    self.reply(
                        &m,
                        false,
                        json!({"reason": format!(
                            "Unauthorized: You do not have permissions to read from this Channel topic: {}",
                            key.sub_topic()
                        )}),
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "private channel authorisation failed");
                    self.reply(
                        &m,
                        false,
                        json!({"reason": "Realtime was unable to connect to the project database"}),
                    );
                    return;
                }
            }
        } else {
            Perms::ALL
        };
        let broadcast = config.get("broadcast").cloned().unwrap_or(json!({}));
        let replayed = match self.replay(&key, &perms, broadcast.get("replay")).await {
            Ok(r) => r,
            Err(reason) => {
                self.reply(&m, false, json!({ "reason": reason }));
                return;
            }
        };
        let self_broadcast = flag(broadcast.get("self"));
        let ack = flag(broadcast.get("ack"));
        let presence = config.get("presence").cloned().unwrap_or(json!({}));
        let presence_key = match presence.get("key") {
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            Some(k @ (Value::Number(_) | Value::Bool(_))) => k.to_string(),
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let presence_enabled = flag(presence.get("enabled"));

        // postgres_changes: echo every entry in order with its id; refuse invalid ones with a
        // system error after the reply, as supabase/realtime does.
        let entries: Vec<Value> = match config.get("postgres_changes") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let ctx = Arc::new(SecurityContext {
            role: token.role.clone(),
            claims: token.claims.clone(),
        });
        let id = self.state.hub.next_id();
        let mut echoed = Vec::with_capacity(entries.len());
        let mut subs = Vec::new();
        // The first binding refused refuses them all (none is subscribed), with its reason.
        let mut refusal: Option<String> = None;
        for entry in &entries {
            let bid = binding_id(entry);
            let mut e = entry.clone();
            if let Value::Object(o) = &mut e {
                o.insert("id".into(), json!(bid));
            }
            echoed.push(e);
            if refusal.is_some() {
                continue;
            }
            match Binding::parse(entry) {
                Ok(b) => subs.push(CdcSub {
                    member: id,
                    sink: self.sink.clone(),
                    topic: m.topic.clone(),
                    id: bid,
                    binding: Arc::new(b),
                    ctx: ctx.clone(),
                }),
                Err(e) => refusal = Some(e.to_string()),
            }
        }
        if refusal.is_none() && self.state.replication_off.is_none() {
            for s in &subs {
                let checked = crate::subscription::check(
                    &self.state.pool,
                    &self.state.config.publication,
                    &s.binding,
                )
                .await;
                if let Err(why) = checked {
                    refusal = Some(why);
                    break;
                }
            }
        }
        if refusal.is_some() {
            subs.clear();
        }
        self.state.hub.join(
            &key,
            id,
            Member {
                sink: self.sink.clone(),
                join_ref: m.join_ref.clone().unwrap_or_default(),
                self_broadcast,
                broadcast_read: perms.broadcast_read,
                presence_read: perms.presence_read,
                replayed: replayed.iter().map(|s| s.id.clone()).collect(),
            },
            presence_enabled,
        );
        let has_cdc = !subs.is_empty() || refusal.is_some();
        let refused = has_cdc
            .then(|| self.state.replication_off.clone())
            .flatten();
        if refused.is_none() {
            self.state.hub.set_cdc(id, subs);
        }
        self.channels.insert(
            m.topic.clone(),
            Channel {
                id,
                key: key.clone(),
                join_ref: m.join_ref.clone(),
                token,
                perms,
                presence_key,
                presence_meta: None,
                raw_token: m
                    .payload
                    .get("access_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                ack,
                presence_calls: (0, None),
            },
        );
        if self.user.is_none() {
            self.user = Some(self.state.limits.user());
        }
        // Always listed, empty when the channel subscribes to no changes.
        let response = json!({ "postgres_changes": echoed });
        self.reply(&m, true, response);
        for stored in &replayed {
            self.push(&m, "broadcast", stored.frame_payload());
        }
        // Without presence read permission no state is pushed at all.
        if presence_enabled && perms.presence_read {
            self.push(&m, "presence_state", self.state.hub.presence_state(&key));
        }
        if let Some(why) = refused {
            self.system(
                &m.topic,
                m.join_ref.as_deref(),
                "postgres_changes",
                false,
                &format!("Unable to subscribe to changes: {why}"),
            );
        } else if let Some(why) = refusal {
            self.system(
                &m.topic,
                m.join_ref.as_deref(),
                "postgres_changes",
                false,
                &why,
            );
        } else if has_cdc {
            self.system(
                &m.topic,
                m.join_ref.as_deref(),
                "postgres_changes",
                true,
                "Subscribed to PostgreSQL",
            );
        }
    }

    /// Push `event` to the channel `join` joined.
    fn push(&self, join: &Message, event: &str, payload: Value) {
        self.send(phoenix::encode(
            self.vsn,
            &Message {
                join_ref: join.join_ref.clone(),
                reference: None,
                topic: join.topic.clone(),
                event: event.into(),
                payload,
            },
        ));
    }

    /// The stored broadcasts a join's `config.broadcast.replay` asks for, or the join's error
    /// reason: replay needs a private channel whose broadcasts the caller may read.
    async fn replay(
        &self,
        key: &TopicKey,
        perms: &Perms,
        option: Option<&Value>,
    ) -> Result<Vec<crate::replay::Stored>, String> {
        let Some(option) = option else {
            return Ok(Vec::new());
        };
        if !key.private {
            return Err(crate::replay::ReplayError::PublicChannel.to_string());
        }
        if !perms.broadcast_read {
            return Err(format!(
                "Unauthorized: You do not have permissions to read from this Channel topic: {}",
                key.sub_topic()
            ));
        }
        match crate::replay::Replay::parse(option) {
            None => Ok(Vec::new()),
            Some(Err(e)) => Err(e.to_string()),
            Some(Ok(r)) => crate::replay::fetch(&self.state.pool, key.sub_topic(), r)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Answer a broadcast push.
    fn reply_push(&self, p: &BroadcastPush, ok: bool, response: Value) {
        self.send(phoenix::reply(
            self.vsn,
            p.join_ref.as_deref(),
            p.reference.as_deref(),
            &p.topic,
            ok,
            response,
        ));
    }

    /// A client broadcast: relayed to the channel, answered only when the channel asked for
    /// acks (`ok`, or `payload_size_exceeded` for a payload over the limit); dropped unanswered
    /// without write permission.
    /// A text push (`text`) is relayed as a Phoenix broadcast, a text frame on every `vsn`; a
    /// binary push as a user broadcast, without the push's metadata.
    fn on_broadcast_push(&mut self, p: BroadcastPush, text: bool) {
        let Some(c) = self.channels.get(&p.topic) else {
            if p.reference.is_some() {
                self.reply_push(&p, false, json!({"reason": "unmatched topic"}));
            }
            return;
        };
        if !c.perms.broadcast_write {
            return;
        }
        // Counted as sent, whatever becomes of it.
        self.state.limits.events.add(1);
        let (key, id, ack) = (c.key.clone(), c.id, c.ack);
        let size = match &p.body {
            BroadcastBody::Json(t) => t.len(),
            BroadcastBody::Binary(b) => b.len(),
        };
        if size > self.state.config.max_broadcast_bytes {
            if ack {
                self.reply_push(&p, false, json!("payload_size_exceeded"));
            }
            return;
        }
        let BroadcastPush {
            join_ref,
            reference,
            topic,
            event,
            meta: _,
            body,
        } = p;
        let msg = Broadcast {
            event,
            body,
            meta: None,
            text,
        };
        self.state.hub.broadcast(&key, Some(id), &msg, false);
        if ack {
            self.send(phoenix::reply(
                self.vsn,
                join_ref.as_deref(),
                reference.as_deref(),
                &topic,
                true,
                json!({}),
            ));
        }
    }

    /// A `presence` push: `track`/`untrack` (in any letter case) answered as Supabase Realtime
    /// does: `ok`, a bare `error` for an unknown event or without write permission, a reason
    /// for a meta that is no object, and the channel closed for a meta too large.
    fn presence(&mut self, m: Message) {
        if !self.channels.contains_key(&m.topic) {
            self.reply(&m, false, json!({"reason": "unmatched topic"}));
            return;
        }
        let Some(event) = m.payload.get("event").and_then(Value::as_str) else {
            self.reply(&m, true, json!({}));
            return;
        };
        // So many presence pushes per window and channel, whatever they ask.
        let now = tokio::time::Instant::now();
        let (max, window) = (
            self.state.config.presence_max_calls,
            self.state.config.presence_window,
        );
        let over = match self.channels.get_mut(&m.topic) {
            Some(ch) => match ch.presence_calls {
                (_, Some(end)) if now <= end && ch.presence_calls.0 >= max => true,
                (n, Some(end)) if now <= end => {
                    ch.presence_calls = (n + 1, Some(end));
                    false
                }
                _ => {
                    ch.presence_calls = (1, Some(now + window));
                    false
                }
            },
            None => false,
        };
        if over {
            self.close_channel(&m.topic, "Client presence rate limit exceeded");
            return;
        }
        let Some(c) = self.channels.get(&m.topic) else {
            return;
        };
        match event.to_ascii_lowercase().as_str() {
            "track" => {
                if !c.perms.presence_write {
                    self.reply(&m, false, json!({}));
                    return;
                }
                let meta = m.payload.get("payload").cloned().unwrap_or(json!({}));
                if !meta.is_object() {
                    self.reply(
                        &m,
                        false,
                        json!({"reason": "Presence track payload must be a map"}),
                    );
                    return;
                }
                if c.presence_meta.as_ref() == Some(&meta) {
                    self.reply(&m, true, json!({}));
                    return;
                }
                if meta.to_string().len() > self.state.config.max_presence_bytes {
                    self.close_channel(&m.topic, "Track message size exceeded");
                    return;
                }
                self.state
                    .hub
                    .track(&c.key, c.id, &c.presence_key, meta.clone());
                if let Some(c) = self.channels.get_mut(&m.topic) {
                    c.presence_meta = Some(meta);
                }
                self.reply(&m, true, json!({}));
            }
            "untrack" => {
                self.state.hub.untrack(&c.key, c.id);
                if let Some(c) = self.channels.get_mut(&m.topic) {
                    c.presence_meta = None;
                }
                self.reply(&m, true, json!({}));
            }
            _ => self.reply(&m, false, json!({})),
        }
    }

    /// An `access_token` push: the channel goes on with the new token's claims and
    /// permissions, or is closed with a `system` error saying why.
    async fn refresh_token(&mut self, m: Message) {
        let Some(raw) = m.payload.get("access_token").and_then(Value::as_str) else {
            return;
        };
        let Some(c) = self.channels.get(&m.topic) else {
            return;
        };
        if raw.starts_with("sb_") || c.raw_token.as_deref() == Some(raw) {
            return;
        }
        let token = match token::verify(raw, &self.state.keys) {
            Ok(t) => t,
            Err(e) => {
                self.close_channel(&m.topic, &e.shutdown_message());
                return;
            }
        };
        let perms = if c.key.private {
            match authz::check(&self.state.pool, &token, c.key.sub_topic()).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "re-authorisation failed");
                    self.close_channel(
                        &m.topic,
                        "Realtime was unable to connect to the project database",
                    );
                    return;
                }
            }
        } else {
            Perms::ALL
        };
        let revoked = (c.perms.broadcast_read && !perms.broadcast_read)
            || (c.perms.presence_read && !perms.presence_read);
        if !perms.can_join() || revoked {
            let msg = if perms.can_join() {
                format!(
                    "You no longer have permission to read from this Channel topic: {}",
                    c.key.sub_topic()
                )
            } else {
                format!(
                    "You do not have permissions to read from this Channel topic: {}",
                    c.key.sub_topic()
                )
            };
            self.close_channel(&m.topic, &msg);
            return;
        }
        let ctx = Arc::new(SecurityContext {
            role: token.role.clone(),
            claims: token.claims.clone(),
        });
        self.state.hub.set_cdc_context(c.id, ctx);
        self.state
            .hub
            .set_read(&c.key, c.id, perms.broadcast_read, perms.presence_read);
        if let Some(c) = self.channels.get_mut(&m.topic) {
            c.token = token;
            c.perms = perms;
            c.raw_token = Some(raw.to_owned());
        }
    }

    /// `phx_close` for a channel that ended: its `ref` is the join's ref, as Phoenix sends it.
    fn push_close(&self, topic: &str, join_ref: Option<&str>) {
        self.send(phoenix::encode(
            self.vsn,
            &Message {
                join_ref: join_ref.map(str::to_owned),
                reference: join_ref.map(str::to_owned),
                topic: topic.to_owned(),
                event: "phx_close".into(),
                payload: json!({}),
            },
        ));
    }

    /// Push a system error and `phx_close`, and forget the channel.
    fn close_channel(&mut self, topic: &str, message: &str) {
        let Some(c) = self.channels.remove(topic) else {
            return;
        };
        self.state.hub.leave(&c.key, c.id);
        self.system(topic, c.join_ref.as_deref(), "system", false, message);
        self.push_close(topic, c.join_ref.as_deref());
    }

    /// Close the channels the hub asked to close (over the message rate).
    fn on_control(&mut self) {
        for (id, message) in self.sink.control.take() {
            let topic = self
                .channels
                .iter()
                .find(|(_, c)| c.id == id)
                .map(|(t, _)| t.clone());
            if let Some(topic) = topic {
                self.close_channel(&topic, message);
            }
        }
    }

    /// Close every channel whose token expired.
    fn expire(&mut self) {
        let now = token::now();
        let expired: Vec<(String, i64)> = self
            .channels
            .iter()
            .filter(|(_, c)| c.token.exp <= now)
            .map(|(t, c)| (t.clone(), now - c.token.exp))
            .collect();
        for (topic, ago) in expired {
            self.close_channel(&topic, &token::TokenError::Expired(ago).to_string());
        }
    }

    fn leave_all(&mut self) {
        for (_, c) in self.channels.drain() {
            self.state.hub.leave(&c.key, c.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_ids_are_stable_and_distinct() {
        let a =
            json!({"event":"INSERT","schema":"public","table":"messages","filter":"room_id=eq.1"});
        let b = json!({"event":"*","schema":"public"});
        assert_eq!(binding_id(&a), binding_id(&a.clone()));
        assert_ne!(binding_id(&a), binding_id(&b));
        assert!(binding_id(&a) <= 0x7fff_ffff);
    }
}
