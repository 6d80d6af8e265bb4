//! Where Deno is: `BASALT_DENO`, `[edge_runtime] deno_path`, `PATH`, then a local
//! `node_modules/.bin/deno` (the project's, then the basalt checkout's `tools/` and
//! `tests/e2e/`, where `.ci/setup` installs the `deno` npm package).

use std::path::{Path, PathBuf};

/// How to get Deno, for the one log line basalt prints when it has none.
pub const HOW_TO_GET_DENO: &str = "edge functions need Deno: `npm install --no-save deno@2` in the project (or run .ci/setup), or set BASALT_DENO / [edge_runtime] deno_path; until then /functions/v1 answers 503";

/// The Deno executable basalt runs functions with, if any.
pub fn find(configured: Option<&str>, project_dir: &Path) -> Option<PathBuf> {
    // A path given explicitly is used or refused, never silently replaced by another Deno.
    let explicit = |p: PathBuf, source: &str| {
        if executable(&p) {
            Some(p)
        } else {
            tracing::warn!("{source} = {} is not an executable file", p.display());
            None
        }
    };
    if let Some(p) = std::env::var_os("BASALT_DENO").filter(|p| !p.is_empty()) {
        return explicit(PathBuf::from(p), "BASALT_DENO");
    }
    if let Some(p) = configured.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        let p = if p.is_relative() {
            project_dir.join(p)
        } else {
            p
        };
        return explicit(p, "[edge_runtime] deno_path");
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&path)
            .map(|d| d.join("deno"))
            .find(|p| executable(p))
        {
            return Some(found);
        }
    }
    local_candidates(project_dir)
        .into_iter()
        .find(|p| executable(p))
}

/// `node_modules/.bin/deno` of the project, of the basalt checkout this binary was built in or
/// runs from (`tools/`, `tests/e2e/`), and the native binary of the npm platform package.
fn local_candidates(project_dir: &Path) -> Vec<PathBuf> {
    let mut roots = vec![project_dir.to_path_buf()];
    let mut checkouts = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")];
    // target/{debug,release}/basalt → the checkout.
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.ancestors().nth(3).map(Path::to_path_buf))
    {
        checkouts.push(dir);
    }
    for c in checkouts {
        roots.push(c.join("tools"));
        roots.push(c.join("tests/e2e"));
    }
    roots
        .iter()
        .flat_map(|r| {
            [
                // The native binary first: when npm skipped the package's install script,
                // .bin/deno is a Node shim that would sit between basalt and Deno.
                r.join("node_modules/@deno/linux-x64-glibc/deno"),
                r.join("node_modules/.bin/deno"),
            ]
        })
        .collect()
}

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
