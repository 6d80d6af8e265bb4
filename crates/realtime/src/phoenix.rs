//! Phoenix channel framing as supabase-js speaks it.
//!
//! `vsn=2.0.0` (the default) sends text frames holding JSON arrays
//! `[join_ref, ref, topic, event, payload]` and, for user broadcasts, binary frames: kind 3
//! (client push) and kind 4 (server relay). `vsn=1.0.0` sends JSON objects and no binary frames.
//! Everything here is pure: bytes in, values out.

use serde_json::Value;

/// Serializer version chosen by the `vsn` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vsn {
    /// JSON objects `{"topic","event","payload","ref","join_ref"}`.
    V1,
    /// JSON arrays plus binary user broadcasts.
    V2,
}

impl Vsn {
    /// The serializer for a `vsn` query value; unknown or absent values mean 2.0.0.
    pub fn parse(v: Option<&str>) -> Vsn {
        match v {
            Some(s) if s.starts_with("1.") => Vsn::V1,
            _ => Vsn::V2,
        }
    }
}

/// One Phoenix message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub join_ref: Option<String>,
    pub reference: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

/// Payload of a user broadcast: JSON text or raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum BroadcastBody {
    /// JSON text of the payload.
    Json(String),
    /// Raw bytes (`ArrayBuffer` on the client).
    Binary(bytes::Bytes),
}

/// A binary kind-3 frame: `channel.send({type:'broadcast', event, payload})`.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastPush {
    pub join_ref: Option<String>,
    pub reference: Option<String>,
    pub topic: String,
    pub event: String,
    /// Metadata JSON text, when any.
    pub meta: Option<String>,
    pub body: BroadcastBody,
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame is not valid JSON: {0}")]
    Json(String),
    #[error("frame must be a JSON array of 5 elements [join_ref, ref, topic, event, payload]")]
    Shape,
    #[error("frame field `{0}` must be a string or null")]
    Field(&'static str),
    #[error("binary frames are not supported with vsn=1.0.0")]
    BinaryOnV1,
    #[error("unsupported binary frame kind {0}")]
    Kind(u8),
    #[error("binary frame is truncated")]
    Truncated,
    #[error("binary frame field is not UTF-8")]
    Utf8,
}

fn opt_string(v: &Value, name: &'static str) -> Result<Option<String>, FrameError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        // Some clients send numeric refs; keep them as their decimal text.
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(FrameError::Field(name)),
    }
}

fn req_string(v: &Value, name: &'static str) -> Result<String, FrameError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(FrameError::Field(name)),
    }
}

/// Read a text frame.
pub fn decode_text(vsn: Vsn, text: &str) -> Result<Message, FrameError> {
    let v: Value = serde_json::from_str(text).map_err(|e| FrameError::Json(e.to_string()))?;
    match vsn {
        Vsn::V2 => {
            let Value::Array(mut a) = v else {
                return Err(FrameError::Shape);
            };
            if a.len() != 5 {
                return Err(FrameError::Shape);
            }
            let payload = a.pop().unwrap_or(Value::Null);
            Ok(Message {
                join_ref: opt_string(&a[0], "join_ref")?,
                reference: opt_string(&a[1], "ref")?,
                topic: req_string(&a[2], "topic")?,
                event: req_string(&a[3], "event")?,
                payload,
            })
        }
        Vsn::V1 => {
            let Value::Object(mut o) = v else {
                return Err(FrameError::Shape);
            };
            let null = Value::Null;
            Ok(Message {
                join_ref: opt_string(o.get("join_ref").unwrap_or(&null), "join_ref")?,
                reference: opt_string(o.get("ref").unwrap_or(&null), "ref")?,
                topic: req_string(o.get("topic").unwrap_or(&null), "topic")?,
                event: req_string(o.get("event").unwrap_or(&null), "event")?,
                payload: o.remove("payload").unwrap_or(Value::Null),
            })
        }
    }
}

/// Read a binary frame (only kind 3, the user broadcast push, is defined client → server).
pub fn decode_binary(vsn: Vsn, data: &[u8]) -> Result<BroadcastPush, FrameError> {
    if vsn == Vsn::V1 {
        return Err(FrameError::BinaryOnV1);
    }
    let kind = *data.first().ok_or(FrameError::Truncated)?;
    if kind != 3 {
        return Err(FrameError::Kind(kind));
    }
    if data.len() < 7 {
        return Err(FrameError::Truncated);
    }
    let lens = [data[1], data[2], data[3], data[4], data[5]].map(usize::from);
    let encoding = data[6];
    let mut pos = 7;
    let mut take = |n: usize| -> Result<&[u8], FrameError> {
        let end = pos + n;
        let s = data.get(pos..end).ok_or(FrameError::Truncated)?;
        pos = end;
        Ok(s)
    };
    let text = |b: &[u8]| -> Result<String, FrameError> {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| FrameError::Utf8)
    };
    let join_ref = text(take(lens[0])?)?;
    let reference = text(take(lens[1])?)?;
    let topic = text(take(lens[2])?)?;
    let event = text(take(lens[3])?)?;
    let meta = text(take(lens[4])?)?;
    let rest = &data[pos..];
    let body = if encoding == 1 {
        let s = std::str::from_utf8(rest).map_err(|_| FrameError::Utf8)?;
        serde_json::from_str::<serde::de::IgnoredAny>(s)
            .map_err(|e| FrameError::Json(e.to_string()))?;
        BroadcastBody::Json(s.to_owned())
    } else {
        BroadcastBody::Binary(bytes::Bytes::copy_from_slice(rest))
    };
    let non_empty = |s: String| if s.is_empty() { None } else { Some(s) };
    Ok(BroadcastPush {
        join_ref: non_empty(join_ref),
        reference: non_empty(reference),
        topic,
        event,
        meta: non_empty(meta),
        body,
    })
}

/// Write a text frame.
pub fn encode(vsn: Vsn, m: &Message) -> String {
    let v = match vsn {
        Vsn::V2 => serde_json::json!([m.join_ref, m.reference, m.topic, m.event, m.payload]),
        Vsn::V1 => serde_json::json!({
            "join_ref": m.join_ref, "ref": m.reference, "topic": m.topic,
            "event": m.event, "payload": m.payload,
        }),
    };
    v.to_string()
}

/// Write a text frame whose payload is already JSON text (avoids re-serialising large payloads
/// once per subscriber).
pub fn encode_raw(
    vsn: Vsn,
    join_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &str,
) -> String {
    let jr = serde_json::to_string(&join_ref).unwrap_or_else(|_| "null".into());
    let t = Value::String(topic.to_owned()).to_string();
    let e = Value::String(event.to_owned()).to_string();
    match vsn {
        Vsn::V2 => format!("[{jr},null,{t},{e},{payload}]"),
        Vsn::V1 => {
            format!(r#"{{"join_ref":{jr},"ref":null,"topic":{t},"event":{e},"payload":{payload}}}"#)
        }
    }
}

/// Why a kind-4 frame could not be built: a length does not fit its one-byte field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("broadcast {0} is longer than 255 bytes")]
pub struct TooLong(pub &'static str);

/// Write a binary kind-4 frame (server → client user broadcast).
pub fn encode_user_broadcast(
    topic: &str,
    event: &str,
    meta: Option<&str>,
    body: &BroadcastBody,
) -> Result<Vec<u8>, TooLong> {
    let meta = meta.unwrap_or("");
    let len = |s: &str, what| u8::try_from(s.len()).map_err(|_| TooLong(what));
    let (encoding, payload): (u8, &[u8]) = match body {
        BroadcastBody::Json(s) => (1, s.as_bytes()),
        BroadcastBody::Binary(b) => (0, b.as_ref()),
    };
    let mut out = Vec::with_capacity(5 + topic.len() + event.len() + meta.len() + payload.len());
    out.push(4);
    out.push(len(topic, "topic")?);
    out.push(len(event, "event")?);
    out.push(len(meta, "metadata")?);
    out.push(encoding);
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(meta.as_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// A `phx_reply` frame.
pub fn reply(
    vsn: Vsn,
    join_ref: Option<&str>,
    reference: Option<&str>,
    topic: &str,
    ok: bool,
    response: Value,
) -> String {
    encode(
        vsn,
        &Message {
            join_ref: join_ref.map(str::to_owned),
            reference: reference.map(str::to_owned),
            topic: topic.to_owned(),
            event: "phx_reply".into(),
            payload: serde_json::json!({
                "status": if ok { "ok" } else { "error" },
                "response": response,
            }),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_v2_join() {
        let m = decode_text(
            Vsn::V2,
            r#"["6","6","realtime:room1","phx_join",{"config":{"private":false}}]"#,
        )
        .unwrap();
        assert_eq!(m.join_ref.as_deref(), Some("6"));
        assert_eq!(m.reference.as_deref(), Some("6"));
        assert_eq!(m.topic, "realtime:room1");
        assert_eq!(m.event, "phx_join");
        assert_eq!(m.payload, json!({"config":{"private":false}}));
    }

    #[test]
    fn decodes_heartbeat_with_null_join_ref() {
        let m = decode_text(Vsn::V2, r#"[null,"8","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!(m.join_ref, None);
        assert_eq!(m.reference.as_deref(), Some("8"));
    }

    #[test]
    fn decodes_v1_object() {
        let m = decode_text(
            Vsn::V1,
            r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3","join_ref":null}"#,
        )
        .unwrap();
        assert_eq!(m.topic, "phoenix");
        assert_eq!(m.reference.as_deref(), Some("3"));
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(matches!(
            decode_text(Vsn::V2, "nope"),
            Err(FrameError::Json(_))
        ));
        assert_eq!(decode_text(Vsn::V2, "[1,2]"), Err(FrameError::Shape));
        assert_eq!(
            decode_text(Vsn::V2, r#"[null,null,5,"e",{}]"#),
            Err(FrameError::Field("topic"))
        );
        assert_eq!(decode_text(Vsn::V1, "[]"), Err(FrameError::Shape));
    }

    #[test]
    fn decodes_captured_kind3() {
        let mut f = vec![3u8, 1, 1, 14, 6, 0, 1];
        f.extend_from_slice(b"67realtime:room1cursor{\"x\":9}");
        let p = decode_binary(Vsn::V2, &f).unwrap();
        assert_eq!(p.join_ref.as_deref(), Some("6"));
        assert_eq!(p.reference.as_deref(), Some("7"));
        assert_eq!(p.topic, "realtime:room1");
        assert_eq!(p.event, "cursor");
        assert_eq!(p.meta, None);
        assert_eq!(p.body, BroadcastBody::Json(r#"{"x":9}"#.into()));
    }

    #[test]
    fn rejects_bad_binary() {
        assert_eq!(decode_binary(Vsn::V2, &[]), Err(FrameError::Truncated));
        assert_eq!(decode_binary(Vsn::V2, &[4, 0]), Err(FrameError::Kind(4)));
        assert_eq!(
            decode_binary(Vsn::V2, &[3, 1, 1, 30, 1, 0, 1, b'1']),
            Err(FrameError::Truncated)
        );
        assert_eq!(decode_binary(Vsn::V1, &[3]), Err(FrameError::BinaryOnV1));
        let mut f = vec![3u8, 0, 0, 1, 1, 0, 1, b't', b'e'];
        f.extend_from_slice(b"{bad");
        assert!(matches!(
            decode_binary(Vsn::V2, &f),
            Err(FrameError::Json(_))
        ));
    }

    #[test]
    fn encodes_kind4_like_the_client_decodes_it() {
        let f = encode_user_broadcast(
            "realtime:room1",
            "cursor",
            None,
            &BroadcastBody::Json(r#"{"y":2}"#.into()),
        )
        .unwrap();
        assert_eq!(f.len(), 32); // the captured frame is 32 bytes
        assert_eq!(&f[..5], &[4, 14, 6, 0, 1]);
        assert!(f.ends_with(b"cursor{\"y\":2}"));
        let long = "x".repeat(300);
        assert_eq!(
            encode_user_broadcast(&long, "e", None, &BroadcastBody::Json("1".into())),
            Err(TooLong("topic"))
        );
    }

    #[test]
    fn encodes_replies_and_raw_frames() {
        let r = reply(Vsn::V2, None, Some("8"), "phoenix", true, json!({}));
        assert_eq!(
            r,
            r#"[null,"8","phoenix","phx_reply",{"status":"ok","response":{}}]"#
        );
        let raw = encode_raw(
            Vsn::V2,
            None,
            "realtime:a",
            "postgres_changes",
            r#"{"ids":[1]}"#,
        );
        assert_eq!(
            raw,
            r#"[null,null,"realtime:a","postgres_changes",{"ids":[1]}]"#
        );
        let v1 = encode_raw(Vsn::V1, Some("1"), "t", "e", "{}");
        let parsed: Value = serde_json::from_str(&v1).unwrap();
        assert_eq!(parsed["join_ref"], "1");
        assert_eq!(parsed["payload"], json!({}));
    }
}
