//! basalt-edge: the edge function runtime basalt supervises, so `/functions/v1/{name}` works
//! without a separately started runtime.
//!
//! How a call flows: the functions service (basalt-functions) checks the caller's JWT, then hands
//! the request to [`Runtime::invoke`]. The runtime resolves the name to files as the Supabase CLI
//! lays them out ([`layout`]), takes one of the function's concurrency permits, and gets the
//! function's worker from the pool ([`pool`]): one Deno process per function ([`worker`]), started
//! on first call with an embedded bootstrap script that imports the function's module, captures the
//! handler it passes to `Deno.serve`, and serves it on a unix socket. The request is proxied there
//! (HTTP/1.1, kept-alive connections) with its body streamed, and the response streams back as the
//! function writes it. Workers stay warm and are reused while their files' fingerprint (sizes and
//! mtimes, taken on a call at most every [`RECHECK`]) is unchanged; an edit, a crash or the idle
//! timeout ends them, and the pool retires the least recently used idle worker when more than
//! `max_workers` would live. Limits (wall clock per call, V8 heap per worker, concurrent calls per
//! function) come from `[edge_runtime]` ([`Limits`]); every way a call can fail is an
//! [`EdgeError`], mapped to Supabase's documented statuses in one place ([`outcome`]). Workers'
//! stdout and stderr become log lines (target `basalt_edge::function`) carrying the function's
//! name.

pub mod deno;
pub mod layout;
pub mod outcome;
mod pool;
mod runtime;
pub mod scaffold;
mod settings;
mod worker;

pub use deno::{find as find_deno, HOW_TO_GET_DENO};
pub use layout::{FunctionSpec, Layout};
pub use outcome::EdgeError;
pub use runtime::{hop_by_hop, Runtime, SetupError, RECHECK};
pub use settings::{Limits, Settings};
pub use worker::SocketConnector;
