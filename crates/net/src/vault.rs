//! Vault's master key: a 32-byte file outside the data directory, readable only by the system
//! user Postgres runs as, whose path the database records in `vault._key_file`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::Error;

/// Length of the master key in bytes.
pub const KEY_LEN: usize = 32;

/// Create `path` with a fresh random key unless it exists (mode 0600; owned by `owner`
/// (uid, gid) when given, i.e. when basalt is root and Postgres runs as another user).
pub fn ensure_key_file(path: &Path, owner: Option<(u32, u32)>) -> Result<(), Error> {
    let err = |source| Error::KeyFile {
        path: path.display().to_string(),
        source,
    };
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let key: [u8; KEY_LEN] = rand::random();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        f.write_all(&key).and_then(|_| f.sync_all()).map_err(err)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    if let Some((uid, gid)) = owner {
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(|e| err(std::io::Error::from(e)))?;
    }
    Ok(())
}

/// Record `path` as the key file the database server reads.
pub async fn register(client: &tokio_postgres::Client, path: &Path) -> Result<(), Error> {
    client
        .execute(
            "INSERT INTO vault._key_file (path) VALUES ($1)
             ON CONFLICT (id) DO UPDATE SET path = excluded.path",
            &[&path.display().to_string()],
        )
        .await?;
    Ok(())
}
