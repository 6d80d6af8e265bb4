//! The cache of rendered images, on local disk: one directory per object
//! (`<root>/<sha256(bucket, name)>/`), one file per version and set of options
//! (`<version>-<sha256(options, output format)>.<ext>`). A new version of an object never
//! reads an older one's renders (the version is in the name), and the first render of a new
//! version removes the older versions' files. The total size is bounded: past the bound the
//! least recently used files are removed. The index of files, sizes and use order lives in
//! memory and is rebuilt from the directory (by modification time) on start.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The render cache.
pub struct Cache {
    root: PathBuf,
    bound: u64,
    index: std::sync::Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// Size and last use of each file, by path relative to the root.
    files: HashMap<PathBuf, (u64, u64)>,
    /// Files by last use.
    order: BTreeMap<u64, PathBuf>,
    total: u64,
    clock: u64,
}

impl Index {
    fn touch(&mut self, rel: &Path) {
        self.clock += 1;
        let now = self.clock;
        if let Some((_, used)) = self.files.get_mut(rel) {
            self.order.remove(used);
            *used = now;
            self.order.insert(now, rel.to_path_buf());
        }
    }

    fn insert(&mut self, rel: PathBuf, size: u64) {
        self.remove(&rel);
        self.clock += 1;
        self.files.insert(rel.clone(), (size, self.clock));
        self.order.insert(self.clock, rel);
        self.total += size;
    }

    fn remove(&mut self, rel: &Path) -> bool {
        match self.files.remove(rel) {
            Some((size, used)) => {
                self.order.remove(&used);
                self.total -= size;
                true
            }
            None => false,
        }
    }

    /// Takes the least recently used files out until the total fits `bound`.
    fn evict(&mut self, bound: u64) -> Vec<PathBuf> {
        let mut out = Vec::new();
        while self.total > bound {
            let Some((_, rel)) = self.order.pop_first() else {
                break;
            };
            if let Some((size, _)) = self.files.remove(&rel) {
                self.total -= size;
            }
            out.push(rel);
        }
        out
    }
}

/// Where one render lives.
#[derive(Debug, Clone)]
pub struct Key {
    dir: String,
    version: String,
    file: String,
}

impl Key {
    /// The key of `bucket/name` at `version`, rendered with the options text `options`.
    pub fn new(bucket: &str, name: &str, version: &str, options: &str) -> Key {
        let dir = hex::encode(Sha256::digest(format!("{bucket}\0{name}").as_bytes()));
        let opts = hex::encode(&Sha256::digest(options.as_bytes())[..12]);
        // Versions are UUIDs; anything else is made safe for a file name.
        let version: String = version
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Key {
            file: format!("{version}-{opts}"),
            version,
            dir,
        }
    }

    fn rel(&self) -> PathBuf {
        Path::new(&self.dir).join(&self.file)
    }
}

impl Cache {
    /// Opens (creating) the cache directory and indexes what it holds, oldest first.
    pub fn open(root: PathBuf, bound: u64) -> std::io::Result<Cache> {
        std::fs::create_dir_all(&root)?;
        let mut found = Vec::new();
        for dir in std::fs::read_dir(&root)?.flatten() {
            let Ok(entries) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for f in entries.flatten() {
                let Ok(meta) = f.metadata() else { continue };
                let name = f.file_name().to_string_lossy().into_owned();
                if !meta.is_file() {
                    continue;
                }
                if name.starts_with('.') {
                    // An unfinished write of an earlier run.
                    let _ = std::fs::remove_file(f.path());
                    continue;
                }
                let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                found.push((modified, Path::new(&dir.file_name()).join(name), meta.len()));
            }
        }
        found.sort();
        let mut index = Index::default();
        for (_, rel, size) in found {
            index.insert(rel, size);
        }
        let cache = Cache {
            root,
            bound,
            index: std::sync::Mutex::new(index),
        };
        cache.remove_files(cache.lock().evict(bound));
        Ok(cache)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file of `key`, when cached (and marks it used).
    pub fn get(&self, key: &Key) -> Option<PathBuf> {
        let rel = key.rel();
        let mut index = self.lock();
        if !index.files.contains_key(&rel) {
            return None;
        }
        let path = self.root.join(&rel);
        if path.is_file() {
            index.touch(&rel);
            Some(path)
        } else {
            index.remove(&rel);
            None
        }
    }

    /// Stores `bytes` under `key` (written aside, then renamed into place), removes the renders
    /// of the object's other versions, and evicts past the bound. Blocking: run off the runtime.
    pub fn put(&self, key: &Key, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.root.join(&key.dir);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{}.{}", key.file, uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, bytes)?;
        let path = dir.join(&key.file);
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let prefix = format!("{}-", key.version);
        let mut stale = Vec::new();
        for f in std::fs::read_dir(&dir)?.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) && !name.starts_with('.') {
                stale.push(Path::new(&key.dir).join(name));
            }
        }
        let evicted = {
            let mut index = self.lock();
            for rel in &stale {
                index.remove(rel);
            }
            index.insert(key.rel(), bytes.len() as u64);
            index.evict(self.bound)
        };
        self.remove_files(stale);
        self.remove_files(evicted);
        Ok(())
    }

    fn remove_files(&self, rels: Vec<PathBuf>) {
        for rel in rels {
            let path = self.root.join(&rel);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "storage: render cache removal failed");
                }
            }
            if let Some(dir) = path.parent() {
                // Only succeeds when empty.
                let _ = std::fs::remove_dir(dir);
            }
        }
    }

    /// Bytes held (as indexed).
    #[cfg(test)]
    pub fn size(&self) -> u64 {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_replace_and_bound_evicts_oldest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path().join("c"), 250).expect("open");
        let a1 = Key::new("b", "a.png", "v1", "w=1");
        cache.put(&a1, &[1; 100]).expect("put");
        assert!(cache.get(&a1).is_some());
        let a1b = Key::new("b", "a.png", "v1", "w=2");
        cache.put(&a1b, &[1; 100]).expect("put");
        assert!(cache.get(&a1).is_some() && cache.get(&a1b).is_some());
        // A new version removes both renders of the old one.
        let a2 = Key::new("b", "a.png", "v2", "w=1");
        cache.put(&a2, &[2; 100]).expect("put");
        assert!(cache.get(&a1).is_none() && cache.get(&a1b).is_none());
        assert_eq!(cache.size(), 100);
        // Past the bound, the least recently used goes.
        let c = Key::new("b", "c.png", "v1", "w=1");
        cache.put(&c, &[3; 100]).expect("put");
        assert!(cache.get(&a2).is_some()); // a2 now more recent than c
        let d = Key::new("b", "d.png", "v1", "w=1");
        cache.put(&d, &[4; 100]).expect("put");
        assert!(cache.get(&c).is_none());
        assert!(cache.get(&a2).is_some() && cache.get(&d).is_some());
        assert_eq!(cache.size(), 200);
        // Reopened, the index is rebuilt from disk.
        drop(cache);
        let cache = Cache::open(dir.path().join("c"), 250).expect("reopen");
        assert_eq!(cache.size(), 200);
        assert!(cache.get(&d).is_some());
    }
}
