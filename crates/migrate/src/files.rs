//! Migration files on disk.

use std::path::{Path, PathBuf};

/// One migration file.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The numeric prefix of the file name, e.g. `20240101120000`.
    pub version: String,
    /// The rest of the file name without `.sql`.
    pub name: String,
    pub path: PathBuf,
}

impl Migration {
    /// `<version>_<name>.sql` → a migration; anything else → `None` (the Supabase CLI skips it).
    pub fn from_path(path: &Path) -> Option<Migration> {
        let file = path.file_name()?.to_str()?;
        let stem = file.strip_suffix(".sql")?;
        let (version, name) = stem.split_once('_').unwrap_or((stem, ""));
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Migration {
            version: version.to_string(),
            name: name.to_string(),
            path: path.to_path_buf(),
        })
    }
}

/// The migrations in `dir`, in lexicographic file-name order. A missing directory has none.
pub fn scan(dir: &Path) -> std::io::Result<Vec<Migration>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    Ok(paths
        .iter()
        .filter_map(|p| Migration::from_path(p))
        .collect())
}

/// Create `dir/<UTC timestamp>_<name>.sql`, empty, and return its path.
pub fn new_migration(dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let version = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let path = dir.join(format!("{version}_{name}.sql"));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_like_the_supabase_cli() {
        let m = Migration::from_path(Path::new("/x/20240101120000_create_users.sql")).unwrap();
        assert_eq!(
            (m.version.as_str(), m.name.as_str()),
            ("20240101120000", "create_users")
        );
        let m = Migration::from_path(Path::new("0001_init.sql")).unwrap();
        assert_eq!(m.version, "0001");
        assert!(Migration::from_path(Path::new("README.md")).is_none());
        assert!(Migration::from_path(Path::new("abc_init.sql")).is_none());
    }
}
