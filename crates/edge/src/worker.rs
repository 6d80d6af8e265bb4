//! One function's Deno process: started with the bootstrap script, its stdout/stderr turned into
//! log lines carrying the function's name, and a reaper task that owns the process and records
//! why it ended (its own exit, the V8 heap limit, or basalt stopping it).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

use crate::layout::FunctionSpec;

/// What a worker's stderr told: whether V8 reported its heap limit, and the last lines.
#[derive(Default)]
struct Stderr {
    out_of_memory: AtomicBool,
    tail: Mutex<VecDeque<String>>,
}

/// Numbers the workers' sockets within this process.
static NEXT_SOCKET: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Connects an HTTP client to one unix socket, whatever the request's URI names (a worker's
/// client to its worker; the functions benchmark's forwarder to Deno alone).
#[derive(Clone)]
pub struct SocketConnector(Arc<PathBuf>);

impl SocketConnector {
    /// A connector to the socket at `path`.
    pub fn new(path: PathBuf) -> SocketConnector {
        SocketConnector(Arc::new(path))
    }
}

impl tower::Service<http::Uri> for SocketConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Self::Response>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move { Ok(TokioIo::new(tokio::net::UnixStream::connect(&*path).await?)) })
    }
}

/// Prefix of the bootstrap's own lines on stdout (see bootstrap.js).
const MARK: &str = "\u{1}basalt-edge ";
/// Stderr lines kept to explain a boot failure or a crash.
const TAIL_LINES: usize = 20;

/// Everything needed to start a worker.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub deno: PathBuf,
    pub bootstrap: PathBuf,
    pub deno_dir: PathBuf,
    pub memory_mb: u64,
    pub grace: Duration,
    /// Where workers' unix sockets are made (short: a socket path has at most 107 bytes).
    pub socket_dir: PathBuf,
    /// The function's environment: secrets and the injected `SUPABASE_*` values.
    pub env: Vec<(String, String)>,
}

/// Why basalt stopped a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A call ran past the wall-clock limit (the worker may be stuck in a loop).
    WallClock,
    /// Idle, replaced by a newer version of its files, or making room in the pool.
    Retired,
}

/// How a worker ended.
#[derive(Debug, Clone)]
pub(crate) enum Exit {
    /// The process ended on its own.
    Died {
        status: String,
        out_of_memory: bool,
        tail: String,
    },
    /// basalt ended it.
    Stopped(StopReason),
}

/// Why a worker did not start.
#[derive(Debug)]
pub(crate) enum BootFailure {
    /// The module threw, did not parse, or did not call `Deno.serve`.
    Module(String),
    /// Deno itself could not run (bad flags, unreadable config, missing executable).
    Process(String),
}

enum Control {
    Kill(StopReason),
}

/// A running worker. Dropping the last handle retires it: SIGTERM (the bootstrap lets pending
/// `EdgeRuntime.waitUntil` work finish), then SIGKILL after the grace period.
pub(crate) struct Worker {
    pub fingerprint: u64,
    pub pid: u32,
    /// HTTP/1.1 over the worker's unix socket, connections kept alive.
    pub client: Client<SocketConnector, axum::body::Body>,
    exit: watch::Receiver<Option<Exit>>,
    control: mpsc::UnboundedSender<Control>,
    /// Set when basalt kills it: no new call goes to it while it is ending.
    killed: AtomicBool,
    inflight: AtomicUsize,
    last_used: Mutex<Instant>,
}

/// One call's hold on a worker: counts as in flight until dropped (after the response body).
pub(crate) struct Lease(Arc<Worker>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
        *self.0.last_used.lock() = Instant::now();
    }
}

impl Worker {
    /// Start Deno on the function and wait until it serves (or fails to).
    pub(crate) async fn start(
        launch: &Launch,
        spec: &FunctionSpec,
        fingerprint: u64,
    ) -> Result<Arc<Worker>, BootFailure> {
        let entry = url::Url::from_file_path(&spec.entry).map_err(|_| {
            BootFailure::Process(format!("{} is not absolute", spec.entry.display()))
        })?;
        let socket = launch.socket_dir.join(format!(
            "{}-{}.sock",
            std::process::id(),
            NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&socket);
        let mut cmd = tokio::process::Command::new(&launch.deno);
        cmd.arg("run")
            .arg("--allow-all")
            .arg("--no-prompt")
            .arg(format!(
                "--v8-flags=--max-old-space-size={}",
                launch.memory_mb
            ));
        if let Some(c) = &spec.config {
            cmd.arg("--config").arg(c);
        } else if let Some(m) = &spec.import_map {
            cmd.arg("--import-map").arg(m);
        }
        cmd.arg(&launch.bootstrap)
            .current_dir(&spec.dir)
            .env_clear()
            .envs(passthrough_env())
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .env("DENO_DIR", &launch.deno_dir)
            .env("DENO_NO_UPDATE_CHECK", "1")
            .env("NO_COLOR", "1")
            .env("BASALT_EDGE_ENTRY", entry.as_str())
            .env("BASALT_EDGE_SOCKET", &socket)
            .env("BASALT_EDGE_GRACE_MS", launch.grace.as_millis().to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // The worker never outlives basalt, even when basalt itself is killed.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            BootFailure::Process(format!("cannot run {}: {e}", launch.deno.display()))
        })?;
        let pid = child.id().unwrap_or(0);
        let name = spec.name.clone();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let seen = Arc::new(Stderr::default());
        let out = child
            .stdout
            .take()
            .map(|s| tokio::spawn(read_stdout(name.clone(), BufReader::new(s), ready_tx)));
        let err = child
            .stderr
            .take()
            .map(|s| tokio::spawn(read_stderr(name.clone(), BufReader::new(s), seen.clone())));
        let (exit_tx, exit_rx) = watch::channel(None);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        tokio::spawn(reap(
            child,
            socket.clone(),
            control_rx,
            launch.grace,
            exit_tx,
            [out, err],
            seen,
        ));
        // Until the worker is handed out, `control_tx` is the only handle: dropping this future
        // mid-boot drops it, which retires the process.
        let mut exit = exit_rx.clone();
        let mut ready_rx = ready_rx;
        let ready = tokio::select! {
            biased;
            ready = &mut ready_rx => Some(ready.unwrap_or_else(|_| Err(String::new()))),
            _ = exit.wait_for(|e| e.is_some()) => None,
        };
        // The process may end before its stdout reader has passed on the boot error it
        // reported: give the reader a moment, so a busy machine reports the same cause.
        let ready = match ready {
            Some(r) => r,
            None => {
                match tokio::time::timeout(std::time::Duration::from_millis(500), ready_rx).await {
                    Ok(Ok(r)) => r,
                    _ => Err(String::new()),
                }
            }
        };
        match ready {
            Ok(()) => Ok(Arc::new(Worker {
                fingerprint,
                pid,
                client: Client::builder(TokioExecutor::new()).build(SocketConnector::new(socket)),
                exit: exit_rx,
                control: control_tx,
                killed: AtomicBool::new(false),
                inflight: AtomicUsize::new(0),
                last_used: Mutex::new(Instant::now()),
            })),
            Err(module_error) if !module_error.is_empty() => Err(BootFailure::Module(module_error)),
            Err(_) => {
                let _ = exit.wait_for(|e| e.is_some()).await;
                let exit = exit.borrow().clone();
                Err(match exit {
                    Some(Exit::Died { status, tail, .. }) => {
                        BootFailure::Module(if tail.is_empty() {
                            format!("Deno exited ({status}) before serving")
                        } else {
                            tail
                        })
                    }
                    _ => BootFailure::Process("worker stopped while starting".into()),
                })
            }
        }
    }

    /// Hold the worker for one call.
    pub(crate) fn lease(self: &Arc<Self>) -> Lease {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        *self.last_used.lock() = Instant::now();
        Lease(self.clone())
    }

    /// Calls in flight (responses still streaming included).
    pub(crate) fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// When the last call ended (or started).
    pub(crate) fn last_used(&self) -> Instant {
        *self.last_used.lock()
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&self) -> bool {
        !self.killed.load(Ordering::Acquire) && self.exit.borrow().is_none()
    }

    /// Completes when the process has ended, with how.
    pub(crate) async fn exited(&self) -> Exit {
        let mut rx = self.exit.clone();
        let exit = match rx.wait_for(|e| e.is_some()).await {
            Ok(e) => e.clone(),
            Err(_) => None,
        };
        exit.unwrap_or(Exit::Stopped(StopReason::Retired))
    }

    /// End the process now (SIGKILL), recording why.
    pub(crate) fn kill(&self, reason: StopReason) {
        self.killed.store(true, Ordering::Release);
        let _ = self.control.send(Control::Kill(reason));
    }
}

/// The variables a worker inherits from basalt: what Deno needs to reach the npm registry
/// (proxies, certificates) and run (PATH, HOME, locale); nothing else of basalt's environment.
fn passthrough_env() -> Vec<(String, String)> {
    const KEEP: [&str; 15] = [
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "TZ",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "DENO_CERT",
        "NPM_CONFIG_REGISTRY",
        "DENO_AUTH_TOKENS",
        "DENO_TLS_CA_STORE",
    ];
    let mut env: Vec<(String, String)> = KEEP
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    // The machine's CA certificates as well as Deno's own, as npm and curl trust them (an
    // intercepting proxy's CA lives there).
    if std::env::var_os("DENO_TLS_CA_STORE").is_none() {
        env.push(("DENO_TLS_CA_STORE".into(), "mozilla,system".into()));
    }
    // Functions call back into basalt on loopback: never through a proxy.
    let no_proxy = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .map(|v| format!("{v},127.0.0.1,localhost"))
        .unwrap_or_else(|_| "127.0.0.1,localhost".into());
    env.push(("NO_PROXY".into(), no_proxy.clone()));
    env.push(("no_proxy".into(), no_proxy));
    env
}

/// The next line of a worker's output, without its line end; invalid UTF-8 is replaced (a
/// reader that stopped would leave the worker blocked on a full pipe).
async fn next_line(
    r: &mut (impl tokio::io::AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> Option<String> {
    buf.clear();
    match r.read_until(b'\n', buf).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(
            String::from_utf8_lossy(buf)
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
    }
}

async fn read_stdout(
    name: String,
    mut lines: BufReader<tokio::process::ChildStdout>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let mut buf = Vec::new();
    while let Some(line) = next_line(&mut lines, &mut buf).await {
        let text = line.as_str();
        let Some(message) = text.strip_prefix(MARK) else {
            tracing::info!(target: "basalt_edge::function", function = %name, "{text}");
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(message) else {
            continue;
        };
        let outcome = if v["ready"].as_bool() == Some(true) {
            Ok(())
        } else {
            let e = v["boot_error"]
                .as_str()
                .unwrap_or("boot failed")
                .to_string();
            tracing::error!(target: "basalt_edge::function", function = %name, "boot error: {e}");
            Err(e)
        };
        if let Some(tx) = ready.take() {
            let _ = tx.send(outcome);
        }
    }
}

async fn read_stderr(
    name: String,
    mut lines: BufReader<tokio::process::ChildStderr>,
    seen: Arc<Stderr>,
) {
    let mut buf = Vec::new();
    while let Some(line) = next_line(&mut lines, &mut buf).await {
        let text = line.as_str();
        if text.contains("out of memory") || text.contains("Reached heap limit") {
            seen.out_of_memory.store(true, Ordering::Release);
        }
        if text.trim().is_empty() {
            continue;
        }
        tracing::warn!(target: "basalt_edge::function", function = %name, "{text}");
        let mut t = seen.tail.lock();
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(text.to_string());
    }
}

/// Owns the process until it ends: waits for it, obeys kill requests, retires it (SIGTERM, then
/// SIGKILL after `grace`) when every handle is gone, and publishes how it ended once its output
/// has been read to the end.
async fn reap(
    mut child: tokio::process::Child,
    socket: PathBuf,
    mut control: mpsc::UnboundedReceiver<Control>,
    grace: Duration,
    exit: watch::Sender<Option<Exit>>,
    readers: [Option<tokio::task::JoinHandle<()>>; 2],
    seen: Arc<Stderr>,
) {
    let mut stopped: Option<StopReason> = None;
    let mut listening = true;
    let mut hard_deadline: Option<tokio::time::Instant> = None;
    let status = loop {
        let deadline = hard_deadline;
        tokio::select! {
            s = child.wait() => break s,
            c = control.recv(), if listening => match c {
                Some(Control::Kill(reason)) => {
                    stopped.get_or_insert(reason);
                    let _ = child.start_kill();
                }
                None => {
                    listening = false;
                    stopped.get_or_insert(StopReason::Retired);
                    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGTERM,
                        );
                    }
                    hard_deadline = Some(tokio::time::Instant::now() + grace);
                }
            },
            _ = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                let _ = child.start_kill();
                hard_deadline = None;
            }
        }
    };
    // Read the last lines (the V8 heap message comes just before the abort).
    for r in readers.into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(1), r).await;
    }
    let _ = std::fs::remove_file(&socket);
    let outcome = match stopped {
        Some(reason) => Exit::Stopped(reason),
        None => Exit::Died {
            status: status
                .map(describe_status)
                .unwrap_or_else(|e| format!("wait failed: {e}")),
            out_of_memory: seen.out_of_memory.load(Ordering::Acquire),
            tail: seen
                .tail
                .lock()
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
        },
    };
    let _ = exit.send(Some(outcome));
}

fn describe_status(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(name) => format!("killed by {name}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        _ => "ended".into(),
    }
}
