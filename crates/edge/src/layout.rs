//! The project's functions as the Supabase CLI lays them out: `supabase/functions/<name>/index.ts`
//! (or `[functions.<name>] entrypoint`, relative to `supabase/`), modules shared through
//! `supabase/functions/_shared/`, a per-function `deno.json` or `[functions.<name>] import_map`,
//! and secrets in `supabase/functions/.env`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use basalt_config::FunctionConfig;

/// Entry files tried in a function's directory, in order.
const ENTRY_FILES: [&str; 5] = [
    "index.ts",
    "index.js",
    "index.tsx",
    "index.mjs",
    "index.jsx",
];

/// Where a project's functions live, with the per-function settings of config.toml.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `<project>/supabase`.
    pub supabase_dir: PathBuf,
    /// `<project>/supabase/functions`.
    pub functions_dir: PathBuf,
    /// `[functions.<name>]` of config.toml.
    pub functions: BTreeMap<String, FunctionConfig>,
}

/// One function, resolved to files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub name: String,
    /// The function's directory (the worker's working directory).
    pub dir: PathBuf,
    /// The module that calls `Deno.serve`.
    pub entry: PathBuf,
    /// `deno.json`/`deno.jsonc` of the function's directory, passed as `--config`.
    pub config: Option<PathBuf>,
    /// An import map (config.toml's, or the legacy `functions/import_map.json`).
    pub import_map: Option<PathBuf>,
}

/// Whether `name` is a function name the Supabase CLI accepts (and a single path segment).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['_', '.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Layout {
    /// The layout of the project in `project_dir`.
    pub fn new(project_dir: &Path, functions: BTreeMap<String, FunctionConfig>) -> Layout {
        let supabase_dir = project_dir.join("supabase");
        Layout {
            functions_dir: supabase_dir.join("functions"),
            supabase_dir,
            functions,
        }
    }

    /// The function called `name`, if it exists and is enabled.
    pub fn resolve(&self, name: &str) -> Option<FunctionSpec> {
        if !valid_name(name) {
            return None;
        }
        let settings = self.functions.get(name);
        if settings.is_some_and(|f| !f.enabled) {
            return None;
        }
        let default_dir = self.functions_dir.join(name);
        let entry = match settings.and_then(|f| f.entrypoint.as_deref()) {
            Some(e) => Some(self.supabase_dir.join(e)).filter(|p| p.is_file()),
            None => ENTRY_FILES
                .iter()
                .map(|f| default_dir.join(f))
                .find(|p| p.is_file()),
        }?;
        let dir = entry.parent().map(Path::to_path_buf).unwrap_or(default_dir);
        let config = ["deno.json", "deno.jsonc"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file());
        let import_map = match settings.and_then(|f| f.import_map.as_deref()) {
            Some(m) => Some(self.supabase_dir.join(m)),
            None => Some(self.functions_dir.join("import_map.json")).filter(|p| p.is_file()),
        };
        Some(FunctionSpec {
            name: name.to_string(),
            dir,
            entry,
            config,
            import_map,
        })
    }

    /// Every function: directories with an entry file (not `_shared` or other `_`/`.` names)
    /// and config.toml entries with an `entrypoint`, sorted by name.
    pub fn list(&self) -> Vec<FunctionSpec> {
        let mut names: Vec<String> = std::fs::read_dir(&self.functions_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .chain(self.functions.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names.iter().filter_map(|n| self.resolve(n)).collect()
    }

    /// A cheap fingerprint of everything a function's worker loaded: sizes and mtimes of the
    /// files of its directory, of `_shared/`, its import map and `.env`. A different value
    /// means the files changed and the next call starts a fresh worker.
    pub fn fingerprint(&self, spec: &FunctionSpec) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        walk(&spec.dir, &mut h, 0);
        walk(&self.functions_dir.join("_shared"), &mut h, 0);
        for f in [
            Some(&spec.entry),
            spec.import_map.as_ref(),
            Some(&self.functions_dir.join(".env")),
        ]
        .into_iter()
        .flatten()
        {
            stamp(f, &mut h);
        }
        h.finish()
    }

    /// `supabase/functions/.env` as `NAME=value` pairs (`#` comments, optional `export`,
    /// single or double quotes).
    pub fn dotenv(&self) -> Vec<(String, String)> {
        let Ok(text) = std::fs::read_to_string(self.functions_dir.join(".env")) else {
            return Vec::new();
        };
        text.lines().filter_map(parse_env_line).collect()
    }
}

fn parse_env_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    if k.is_empty() {
        return None;
    }
    let v = v.trim();
    let v = if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        let inner = &v[1..v.len() - 1];
        if v.starts_with('"') {
            inner.replace("\\n", "\n").replace("\\\"", "\"")
        } else {
            inner.to_string()
        }
    } else {
        v.split(" #").next().unwrap_or(v).trim().to_string()
    };
    Some((k.to_string(), v))
}

fn stamp(path: &Path, h: &mut impl Hasher) {
    path.hash(h);
    if let Ok(m) = std::fs::metadata(path) {
        m.len().hash(h);
        if let Ok(t) = m.modified() {
            t.hash(h);
        }
    }
}

/// Files of a directory tree, in a stable order; dependency and lock files Deno itself writes
/// (`node_modules/`, `deno.lock`, dot files) are not the function's source.
fn walk(dir: &Path, h: &mut impl Hasher, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "node_modules" || name == "deno.lock" {
            continue;
        }
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&path, h, depth + 1),
            Ok(_) => stamp(&path, h),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines() {
        assert_eq!(
            parse_env_line("export A = \"x y\""),
            Some(("A".into(), "x y".into()))
        );
        assert_eq!(parse_env_line("B='q' "), Some(("B".into(), "q".into())));
        assert_eq!(parse_env_line("C=v # note"), Some(("C".into(), "v".into())));
        assert_eq!(parse_env_line("# comment"), None);
        assert_eq!(parse_env_line("novalue"), None);
    }

    #[test]
    fn names_are_single_segments() {
        assert!(valid_name("hello-world_2"));
        assert!(!valid_name("_shared"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(".."));
        assert!(!valid_name(""));
    }

    #[test]
    fn functions_resolve_and_list_as_the_cli_lays_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("supabase/functions");
        std::fs::create_dir_all(f.join("hello")).unwrap();
        std::fs::create_dir_all(f.join("_shared")).unwrap();
        std::fs::create_dir_all(f.join("empty")).unwrap();
        std::fs::create_dir_all(dir.path().join("supabase/custom")).unwrap();
        std::fs::write(f.join("hello/index.ts"), "Deno.serve(() => new Response())").unwrap();
        std::fs::write(f.join("hello/deno.json"), "{}").unwrap();
        std::fs::write(f.join("_shared/cors.ts"), "export {}").unwrap();
        std::fs::write(dir.path().join("supabase/custom/main.ts"), "").unwrap();
        let mut config = BTreeMap::new();
        config.insert(
            "custom".to_string(),
            FunctionConfig {
                entrypoint: Some("custom/main.ts".into()),
                ..FunctionConfig::default()
            },
        );
        let layout = Layout::new(dir.path(), config);
        let names: Vec<_> = layout.list().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["custom", "hello"]);
        let hello = layout.resolve("hello").unwrap();
        assert_eq!(hello.config, Some(f.join("hello/deno.json")));
        assert!(layout.resolve("empty").is_none());
        // A change under _shared/ changes the fingerprint.
        let before = layout.fingerprint(&hello);
        std::fs::write(f.join("_shared/cors.ts"), "export const x = 1").unwrap();
        assert_ne!(before, layout.fingerprint(&hello));
    }
}
