//! The runtime's settings: where the project and Deno are, the limits each worker runs under,
//! and the environment every function gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use basalt_config::ProjectConfig;

use crate::layout::Layout;

/// Limits of the supervisor, each from an `[edge_runtime]` key of config.toml.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `wall_clock_limit`: longest a call may take, from arrival to the end of its response
    /// body (waiting for a free slot and booting included). Past it: 504, and a worker that had
    /// not answered yet is killed (it may be stuck in a loop). Default 150 s, as Supabase's.
    pub wall_clock: Duration,
    /// `memory_limit`: the V8 heap of one worker (`--max-old-space-size`). Past it the worker
    /// dies and its calls answer 546. Default 256 MiB.
    pub memory_mb: u64,
    /// `max_concurrent`: calls one function serves at once; the rest wait (inside their
    /// wall-clock limit). Default 64.
    pub max_concurrent: usize,
    /// `max_workers`: live workers at most; starting another retires the least recently used
    /// idle one (the cap is exceeded only while every worker is busy). Default 8.
    pub max_workers: usize,
    /// `idle_timeout`: a worker without calls this long is retired. Default 5 min.
    pub idle_timeout: Duration,
    /// How long a retiring worker may finish `EdgeRuntime.waitUntil` work (5 s).
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            wall_clock: Duration::from_secs(150),
            memory_mb: 256,
            max_concurrent: 64,
            max_workers: 8,
            idle_timeout: Duration::from_secs(300),
            grace: Duration::from_secs(5),
        }
    }
}

/// What the runtime needs to serve a project's functions.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The project's functions.
    pub layout: Layout,
    /// The Deno executable; none = calls answer 503.
    pub deno: Option<PathBuf>,
    /// basalt's state directory of the project (`.basalt/`): Deno's cache (`deno/`, so
    /// `npm:` packages are downloaded once) and the bootstrap script (`edge/`).
    pub state_dir: PathBuf,
    pub limits: Limits,
    /// `[edge_runtime.secrets]` (the project's `supabase/functions/.env` is read per boot).
    pub secrets: BTreeMap<String, String>,
    /// Injected after the secrets: `SUPABASE_URL`, `SUPABASE_ANON_KEY`, ….
    pub supabase_env: Vec<(String, String)>,
}

impl Settings {
    /// Settings from config.toml's `[functions.*]` and `[edge_runtime]`; Deno is looked up as
    /// [`crate::find_deno`] does. `supabase_env` is left for the caller.
    pub fn from_config(project_dir: &Path, config: &ProjectConfig) -> Settings {
        let project_dir = std::fs::canonicalize(project_dir).unwrap_or(project_dir.to_path_buf());
        let e = &config.edge_runtime;
        let defaults = Limits::default();
        let limits = Limits {
            wall_clock: e
                .wall_clock_limit
                .map(|s| s.0)
                .unwrap_or(defaults.wall_clock),
            memory_mb: e
                .memory_limit
                .map(|b| (b.0 / (1024 * 1024)).max(16))
                .unwrap_or(defaults.memory_mb),
            max_concurrent: e
                .max_concurrent
                .map(|n| n.max(1) as usize)
                .unwrap_or(defaults.max_concurrent),
            max_workers: e
                .max_workers
                .map(|n| n.max(1) as usize)
                .unwrap_or(defaults.max_workers),
            idle_timeout: e.idle_timeout.map(|s| s.0).unwrap_or(defaults.idle_timeout),
            grace: defaults.grace,
        };
        Settings {
            layout: Layout::new(&project_dir, config.functions.clone()),
            deno: crate::deno::find(e.deno_path.as_deref(), &project_dir),
            state_dir: project_dir.join(".basalt"),
            limits,
            secrets: e.secrets.clone(),
            supabase_env: Vec::new(),
        }
    }

    /// A function's environment: `.env`, then `[edge_runtime.secrets]`, then the injected
    /// `SUPABASE_*` values. Names starting with `SUPABASE_` are reserved: a secret with such a
    /// name is left out, with a warning.
    pub(crate) fn function_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for (k, v) in self
            .layout
            .dotenv()
            .into_iter()
            .chain(self.secrets.iter().map(|(k, v)| (k.clone(), v.clone())))
        {
            if k.starts_with("SUPABASE_") {
                tracing::warn!(
                    "edge function secret {k} ignored: names starting with SUPABASE_ are reserved"
                );
                continue;
            }
            env.retain(|(e, _)| *e != k);
            env.push((k, v));
        }
        env.extend(self.supabase_env.iter().cloned());
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_edge_runtime_keys() {
        let config = basalt_config::load(
            r#"
[edge_runtime]
wall_clock_limit = "20s"
memory_limit = "128MiB"
max_concurrent = 3
max_workers = 2
idle_timeout = "1m"
[edge_runtime.secrets]
API = "k"
SUPABASE_URL = "nope"
"#,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::from_config(dir.path(), &config);
        assert_eq!(s.limits.wall_clock, Duration::from_secs(20));
        assert_eq!(s.limits.memory_mb, 128);
        assert_eq!(s.limits.max_concurrent, 3);
        assert_eq!(s.limits.max_workers, 2);
        assert_eq!(s.limits.idle_timeout, Duration::from_secs(60));
        let env = s.function_env();
        assert!(env.contains(&("API".into(), "k".into())));
        assert!(!env.iter().any(|(k, _)| k == "SUPABASE_URL"), "reserved");
        let d = Settings::from_config(dir.path(), &ProjectConfig::default()).limits;
        assert_eq!((d.memory_mb, d.max_workers), (256, 8));
    }
}
