//! Storage objects in backups. The disk backend writes each object version once, to
//! `objects/<2 hex>/<version>` under its root, and never rewrites it; so keeping a version is
//! keeping a file. [`archive`] brings the versions the repository lacks into its `objects/`
//! (a hard link on the same filesystem, else a copy); [`restore`] puts back the versions a
//! restored database names that the storage root no longer has.

use std::path::{Path, PathBuf};

use crate::{io, BackupError};

fn versions(root: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let dir = root.join("objects");
    let mut out = Vec::new();
    let Ok(shards) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for shard in shards {
        let shard = shard.map_err(io(format!("read {}", dir.display())))?;
        if !shard.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(shard.path()).map_err(io("read object shard"))? {
            let f = f.map_err(io("read object shard"))?;
            if f.path().is_file() {
                out.push((f.file_name().to_string_lossy().into_owned(), f.path()));
            }
        }
    }
    Ok(out)
}

fn place(from: &Path, to: &Path) -> Result<(), BackupError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("create {}", parent.display())))?;
    }
    if std::fs::hard_link(from, to).is_err() {
        let tmp = to.with_extension("part");
        std::fs::copy(from, &tmp).map_err(io(format!("copy {}", from.display())))?;
        std::fs::rename(&tmp, to).map_err(io(format!("rename {}", tmp.display())))?;
    }
    Ok(())
}

fn key(version: &str) -> PathBuf {
    let shard = version.get(..2).unwrap_or("00");
    PathBuf::from("objects").join(shard).join(version)
}

/// Bring every object version under `storage_root` that `repo` lacks into `repo/objects`.
/// Returns how many were added.
pub fn archive(storage_root: &Path, repo: &Path) -> Result<usize, BackupError> {
    let mut added = 0;
    for (version, path) in versions(storage_root)? {
        let to = repo.join(key(&version));
        if !to.exists() {
            place(&path, &to)?;
            added += 1;
        }
    }
    Ok(added)
}

/// Put back under `storage_root` each of `needed` (object versions a restored database names)
/// that it lacks, from `repo`. Returns (restored, missing from the repository too).
pub fn restore<'a>(
    repo: &Path,
    storage_root: &Path,
    needed: impl IntoIterator<Item = &'a str>,
) -> Result<(usize, Vec<String>), BackupError> {
    let (mut restored, mut missing) = (0, Vec::new());
    for version in needed {
        let to = storage_root.join(key(version));
        if to.exists() {
            continue;
        }
        let from = repo.join(key(version));
        if from.exists() {
            place(&from, &to)?;
            restored += 1;
        } else {
            missing.push(version.to_string());
        }
    }
    Ok((restored, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_new_versions_once_and_restores_what_is_missing() {
        let storage = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        let write = |v: &str, body: &str| {
            let p = storage.path().join(key(v));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        };
        write("ab12", "first");
        write("cd34", "second");
        assert_eq!(archive(storage.path(), repo.path()).unwrap(), 2);
        assert_eq!(archive(storage.path(), repo.path()).unwrap(), 0);
        std::fs::remove_file(storage.path().join(key("ab12"))).unwrap();
        let (restored, missing) =
            restore(repo.path(), storage.path(), ["ab12", "cd34", "ef56"]).unwrap();
        assert_eq!(restored, 1);
        assert_eq!(missing, vec!["ef56".to_string()]);
        assert_eq!(
            std::fs::read_to_string(storage.path().join(key("ab12"))).unwrap(),
            "first"
        );
    }
}
