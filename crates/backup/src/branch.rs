//! Branches: copies of a project's database, each in its own data directory under
//! `<state>/branches/<name>/pg`, served by `basalt start --branch <name>` on ports of its own.
//! A copy is made with the files while the server is stopped, or with `pg_basebackup` (a
//! consistent copy without stopping anyone) while it runs; writes on a branch never reach the
//! main database.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::run::{output, RunAs};
use crate::{io, BackupError};

/// A branch on disk.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Branch {
    pub name: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Bytes on disk.
    pub size: u64,
    /// Whether a server runs on it now.
    pub running: bool,
}

/// Branch names are directory names and database identifiers alike: `[a-z0-9_-]`, 1 to 63.
pub fn check_name(name: &str) -> Result<(), BackupError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BackupError::Invalid(format!(
            "branch name {name:?}: use 1 to 63 of a-z, 0-9, _ and -"
        )))
    }
}

/// The data directory of branch `name` under `branches` (`<state>/branches`).
pub fn data_dir(branches: &Path, name: &str) -> PathBuf {
    branches.join(name).join("pg")
}

/// The running server's pid from `postmaster.pid`, when it is alive.
pub fn running_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
        .ok()
        .map(|_| pid)
}

/// How to reach a running source server: its socket directory and port.
pub struct Running<'a> {
    pub socket_dir: &'a Path,
    pub port: u16,
}

/// Make branch `name` from the cluster in `source` (running or not).
pub fn create(
    branches: &Path,
    name: &str,
    source: &Path,
    running: Option<Running<'_>>,
    run_as: Option<RunAs>,
) -> Result<PathBuf, BackupError> {
    check_name(name)?;
    let dest = data_dir(branches, name);
    if dest.exists() {
        return Err(BackupError::Invalid(format!(
            "branch {name} exists; delete it first or pick another name"
        )));
    }
    let parent = branches.join(name);
    std::fs::create_dir_all(&parent).map_err(io(format!("create {}", parent.display())))?;
    if let Some(r) = run_as {
        r.chown(branches);
        r.chown(&parent);
    }
    let made = match running {
        Some(r) => {
            let mut cmd = Command::new(pg_tool("pg_basebackup", source));
            cmd.arg("-D")
                .arg(&dest)
                .arg("-h")
                .arg(r.socket_dir)
                .arg("-p")
                .arg(r.port.to_string())
                .args(["-U", "postgres", "-X", "stream", "-c", "fast", "--no-sync"]);
            output(cmd, run_as).map(|_| ())
        }
        None => copy_cluster(source, &dest, run_as),
    };
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&parent);
        return Err(e);
    }
    Ok(dest)
}

/// `pg_basebackup` of the same installation as the cluster's `postgres` (its PG_VERSION picks
/// `/usr/lib/postgresql/<major>/bin`), else from PATH.
fn pg_tool(name: &str, data_dir: &Path) -> PathBuf {
    let major = std::fs::read_to_string(data_dir.join("PG_VERSION")).unwrap_or_default();
    let debian = PathBuf::from(format!("/usr/lib/postgresql/{}/bin/{name}", major.trim()));
    if let Ok(dir) = std::env::var("BASALT_PG_BIN") {
        let p = PathBuf::from(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    if debian.exists() {
        debian
    } else {
        PathBuf::from(name)
    }
}

/// Copy a stopped cluster's files (without its pid file), keeping modes and owners.
fn copy_cluster(from: &Path, to: &Path, run_as: Option<RunAs>) -> Result<(), BackupError> {
    let mut cmd = Command::new("cp");
    cmd.arg("-a").arg(from).arg(to);
    output(cmd, None)?;
    let _ = std::fs::remove_file(to.join("postmaster.pid"));
    if let Some(r) = run_as {
        r.chown(to);
    }
    Ok(())
}

/// Every branch under `branches`, by name.
pub fn list(branches: &Path) -> Result<Vec<Branch>, BackupError> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(branches) else {
        return Ok(out);
    };
    for e in entries {
        let e = e.map_err(io("read branches"))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let dir = data_dir(branches, &name);
        if !dir.join("PG_VERSION").exists() {
            continue;
        }
        out.push(Branch {
            size: du(&dir),
            running: running_pid(&dir).is_some(),
            data_dir: dir,
            name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn du(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(p)
        .map(|es| es.flatten().map(|e| du(&e.path())).sum())
        .unwrap_or(0)
}

/// Delete branch `name` (refused while a server runs on it).
pub fn delete(branches: &Path, name: &str) -> Result<(), BackupError> {
    check_name(name)?;
    let dir = data_dir(branches, name);
    if !dir.exists() {
        return Err(BackupError::Invalid(format!("no branch named {name}")));
    }
    if let Some(pid) = running_pid(&dir) {
        return Err(BackupError::Invalid(format!(
            "branch {name} is being served (postgres pid {pid}); stop its basalt first"
        )));
    }
    let parent = branches.join(name);
    std::fs::remove_dir_all(&parent).map_err(io(format!("remove {}", parent.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("feature-1_b").is_ok());
        for bad in ["", "Main", "a/b", "../x", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_stopped_cluster_is_copied_listed_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("pg");
        std::fs::create_dir_all(source.join("base")).unwrap();
        std::fs::write(source.join("PG_VERSION"), "15\n").unwrap();
        std::fs::write(source.join("base/1"), "data").unwrap();
        std::fs::write(source.join("postmaster.pid"), "999999999\n").unwrap();
        let branches = dir.path().join("branches");
        let made = create(&branches, "preview", &source, None, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(made.join("base/1")).unwrap(),
            "data"
        );
        assert!(!made.join("postmaster.pid").exists());
        assert!(create(&branches, "preview", &source, None, None).is_err());
        let listed = list(&branches).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "preview");
        assert!(!listed[0].running);
        delete(&branches, "preview").unwrap();
        assert!(list(&branches).unwrap().is_empty());
        assert!(delete(&branches, "preview").is_err());
    }
}
