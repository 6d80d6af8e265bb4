//! A local stand-in for a third-party HTTP API (SMS providers, CAPTCHA verifiers): it records
//! every request (method, path, headers, form fields) and answers with what the test's
//! `answer` function returns for it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::Value;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub form: HashMap<String, String>,
}

impl Seen {
    pub fn field(&self, k: &str) -> &str {
        self.form.get(k).map(String::as_str).unwrap_or("")
    }

    pub fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `user:password` of a basic `Authorization` header.
    pub fn basic_auth(&self) -> String {
        use base64::Engine;
        let b64 = self.header("authorization").trim_start_matches("Basic ");
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default(),
        )
        .unwrap_or_default()
    }
}

type Answer = dyn Fn(&Seen) -> (u16, Value) + Send + Sync;

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<Answer>,
}

pub struct Fake {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _server: basalt_testkit::TestServer,
}

impl Fake {
    /// Every request so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn handle(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers,
        form: form_urlencoded::parse(&body).into_owned().collect(),
    };
    let (status, json) = (s.answer)(&seen);
    s.seen.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(json),
    )
}

/// Start a fake answering every request with `answer`.
pub async fn start(answer: impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static) -> Fake {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = Shared {
        seen: seen.clone(),
        answer: Arc::new(answer),
    };
    let router = axum::Router::new().fallback(handle).with_state(shared);
    let server = basalt_testkit::serve(router).await;
    Fake {
        url: server.url.clone(),
        seen,
        _server: server,
    }
}
