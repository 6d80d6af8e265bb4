//! A call through the runtime: resolve the function, take a concurrency slot, get (or boot) its
//! worker, proxy the request to it over its unix socket and stream the answer back, all inside the
//! wall-clock limit. A worker that ends mid-call is asked how (heap limit, crash, killed by the
//! limit) and the call answers accordingly.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::layout::FunctionSpec;
use crate::outcome::EdgeError;
use crate::pool::{Pool, Resolved, Slot};
use crate::settings::Settings;
use crate::worker::{BootFailure, Exit, Launch, StopReason, Worker};

/// The edge function runtime: Deno workers supervised by basalt.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    launch: Option<Launch>,
    pool: Arc<Pool>,
}

impl Drop for Inner {
    /// The sockets directory is this runtime's own (basalt's pid and a counter): gone with it.
    fn drop(&mut self) {
        if let Some(l) = &self.launch {
            let _ = std::fs::remove_dir_all(&l.socket_dir);
        }
    }
}

/// Why the runtime could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot write {path} (bootstrap script or socket directory): {source}")]
    Bootstrap {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// How long a function's file fingerprint is trusted before it is taken again: an edit is
/// served from the first call that starts this long after it.
pub const RECHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// The bootstrap script every worker runs (see bootstrap.js).
const BOOTSTRAP: &str = include_str!("bootstrap.js");

impl Runtime {
    /// A runtime for these settings. Must run inside a tokio runtime (the idle sweeper is a
    /// task). Without Deno it still builds; every call then answers 503.
    pub fn new(settings: Settings) -> Result<Runtime, SetupError> {
        let launch = match &settings.deno {
            Some(deno) => {
                let dir = settings.state_dir.join("edge");
                let path = dir.join(format!("bootstrap-{:016x}.js", fnv(BOOTSTRAP)));
                if !path.is_file() {
                    std::fs::create_dir_all(&dir)
                        .and_then(|_| std::fs::write(&path, BOOTSTRAP))
                        .map_err(|source| SetupError::Bootstrap {
                            path: path.clone(),
                            source,
                        })?;
                }
                Some(Launch {
                    deno: deno.clone(),
                    bootstrap: path,
                    deno_dir: settings.state_dir.join("deno"),
                    memory_mb: settings.limits.memory_mb,
                    grace: settings.limits.grace,
                    socket_dir: socket_dir()?,
                    env: Vec::new(),
                })
            }
            None => None,
        };
        Ok(Runtime {
            inner: Arc::new(Inner {
                pool: Pool::new(settings.limits.clone()),
                settings,
                launch,
            }),
        })
    }

    /// Whether Deno was found.
    pub fn has_deno(&self) -> bool {
        self.inner.launch.is_some()
    }

    /// The settings the runtime runs with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Live workers as (function, pid), sorted by name.
    pub fn live_workers(&self) -> Vec<(String, u32)> {
        self.inner.pool.live()
    }

    /// Serve one call of function `name`; `path_and_query` is what the function sees as its
    /// URL's path and query (`/name/rest?x=1`).
    pub async fn invoke(&self, name: &str, path_and_query: &str, req: Request) -> Response {
        match self.call(name, path_and_query, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        }
    }

    /// The function's slot, files and their fingerprint. The files resolved on an earlier call
    /// are reused while their fingerprint holds; the fingerprint (one directory walk) is taken
    /// again when the last one is older than [`RECHECK`], so under load the files are not
    /// walked on every call. A slot is only made for a name that resolves.
    fn resolve(&self, name: &str) -> Result<(Arc<Slot>, FunctionSpec, u64), EdgeError> {
        let layout = &self.inner.settings.layout;
        if let Some(slot) = self.inner.pool.existing_slot(name) {
            let cached = slot.resolved.lock().clone();
            if let Some(r) = cached {
                if r.checked.elapsed() < RECHECK {
                    return Ok((slot, r.spec, r.fingerprint));
                }
                let fingerprint = layout.fingerprint(&r.spec);
                if fingerprint == r.fingerprint {
                    if let Some(cur) = slot.resolved.lock().as_mut() {
                        cur.checked = std::time::Instant::now();
                    }
                    return Ok((slot, r.spec, fingerprint));
                }
            }
        }
        let spec = layout.resolve(name).ok_or(EdgeError::NotFound)?;
        let fingerprint = layout.fingerprint(&spec);
        let slot = self.inner.pool.slot(name);
        *slot.resolved.lock() = Some(Resolved {
            spec: spec.clone(),
            fingerprint,
            checked: std::time::Instant::now(),
        });
        Ok((slot, spec, fingerprint))
    }

    async fn call(
        &self,
        name: &str,
        path_and_query: &str,
        req: Request,
    ) -> Result<Response, EdgeError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.settings.limits.wall_clock;
        let (slot, spec, fingerprint) = self.resolve(name)?;
        let launch = inner.launch.as_ref().ok_or(EdgeError::NoDeno)?;
        let limits = &inner.settings.limits;
        let mut serving: Option<Arc<Worker>> = None;
        let attempt = async {
            let permit = slot
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| EdgeError::Unreachable("runtime shutting down".into()))?;
            let worker = inner
                .pool
                .worker(&slot, launch, &inner.settings, &spec, fingerprint)
                .await
                .map_err(|e| match e {
                    BootFailure::Module(m) | BootFailure::Process(m) => {
                        tracing::error!(function = %name, "boot error: {m}");
                        EdgeError::Boot(m)
                    }
                })?;
            serving = Some(worker.clone());
            let lease = worker.lease();
            let (parts, body) = req.into_parts();
            let mut out = axum::http::Request::builder()
                .method(parts.method)
                .uri(format!("http://localhost{path_and_query}"));
            for (k, v) in parts.headers.iter().filter(|(k, _)| forwarded(k)) {
                out = out.header(k, v);
            }
            let out = out
                .body(body)
                .map_err(|e| EdgeError::Unreachable(e.to_string()))?;
            let sent = worker.client.request(out);
            let answer = tokio::select! {
                a = sent => a,
                exit = worker.exited() => return Err(ended(name, exit, limits)),
            };
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    // A refused or reset connection usually means the process just died.
                    let exit = tokio::time::timeout(
                        std::time::Duration::from_millis(500),
                        worker.exited(),
                    )
                    .await;
                    return Err(match exit {
                        Ok(exit) => ended(name, exit, limits),
                        Err(_) => EdgeError::Unreachable(e.to_string()),
                    });
                }
            };
            Ok::<_, EdgeError>((answer, lease, permit))
        };
        let (answer, lease, permit) = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(r) => r?,
            Err(_) => {
                // It may be stuck in a loop; a fresh worker takes the next call.
                if let Some(w) = serving {
                    w.kill(StopReason::WallClock);
                }
                tracing::error!(function = %name, limit = ?limits.wall_clock, "wall-clock limit reached: worker stopped, call answered 504");
                return Err(EdgeError::WallClock(limits.wall_clock));
            }
        };
        let mut resp = Response::builder().status(answer.status().as_u16());
        let uncaught = answer
            .headers()
            .get("x-basalt-edge-outcome")
            .is_some_and(|v| v == "uncaught");
        if uncaught {
            tracing::error!(function = %name, "uncaught error: answered 500 (see the function's log above)");
        }
        if let Some(h) = resp.headers_mut() {
            for (k, v) in answer
                .headers()
                .iter()
                .filter(|(k, _)| forwarded(k) && k.as_str() != "x-basalt-edge-outcome")
            {
                h.append(k.clone(), v.clone());
            }
        }
        // The body streams as the function writes it; the lease and the concurrency permit are
        // held until it ends, and it is cut at the wall-clock limit.
        let fname = name.to_string();
        let limit = limits.wall_clock;
        let stream = answer
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other)
            .take_until(tokio::time::sleep_until(deadline))
            .chain(futures::stream::once(async move {
                let _held = (lease, permit);
                if Instant::now() >= deadline {
                    tracing::error!(function = %fname, limit = ?limit, "wall-clock limit reached while streaming: response cut");
                    Err(std::io::Error::other("wall-clock limit reached"))
                } else {
                    Ok(bytes::Bytes::new())
                }
            }))
            .try_filter(|b| std::future::ready(!b.is_empty()));
        resp.body(Body::from_stream(stream))
            .map_err(|e| EdgeError::Unreachable(e.to_string()))
    }
}

/// The error of a call whose worker ended before answering.
fn ended(name: &str, exit: Exit, limits: &crate::settings::Limits) -> EdgeError {
    match exit {
        Exit::Died {
            out_of_memory: true,
            ..
        } => {
            tracing::error!(function = %name, limit_mib = limits.memory_mb, "memory limit reached: worker ended, call answered 546");
            EdgeError::Memory(limits.memory_mb)
        }
        Exit::Died { status, .. } => {
            tracing::error!(function = %name, "worker exited while serving ({status}): call answered 500; the next call starts a new worker");
            EdgeError::Crashed(status)
        }
        Exit::Stopped(StopReason::WallClock) => EdgeError::WallClock(limits.wall_clock),
        Exit::Stopped(StopReason::Retired) => {
            EdgeError::Crashed("worker retired while serving".into())
        }
    }
}

/// Headers passed between caller and worker: all but hop-by-hop ones. Content-Length passes
/// too (both sides are plain HTTP/1.1 on one hop), which spares a chunked encoding each way.
fn forwarded(name: &HeaderName) -> bool {
    name == axum::http::header::CONTENT_LENGTH || !hop_by_hop(name)
}

/// Hop-by-hop headers (and Content-Length, which a re-framing proxy sets itself), not
/// forwarded in either direction.
pub fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "host"
            | "content-length"
    )
}

/// A private directory for workers' sockets, short enough for the 107-byte socket path limit
/// wherever the project lives.
fn socket_dir() -> Result<std::path::PathBuf, SetupError> {
    use std::os::unix::fs::DirBuilderExt;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("basalt-edge-{}-{n}", std::process::id()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| SetupError::Bootstrap {
            path: dir.clone(),
            source,
        })?;
    Ok(dir)
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
