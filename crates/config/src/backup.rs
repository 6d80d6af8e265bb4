//! `[basalt.backup]`: continuous archiving and scheduled full backups of the embedded cluster
//! (pgBackRest), with the storage objects they point to.

use serde::Deserialize;

use crate::Seconds;

/// `[basalt.backup]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BackupConfig {
    /// Archive WAL continuously and take scheduled backups (default false). Turning it on needs
    /// a restart of `basalt start` (Postgres's `archive_mode`).
    pub enabled: bool,
    /// The repository on local disk (default `.basalt/backups`, relative to the project). Put it
    /// on another disk, or use `[basalt.backup.s3]`, to survive the loss of this one.
    pub path: Option<String>,
    /// Time between scheduled full backups (default 24h; `0s` leaves backups to
    /// `basalt db backup`).
    pub interval: Seconds,
    /// Full backups kept; older ones and the WAL only they need are expired (default 2).
    pub retention_full: u32,
    /// Encrypt the repository (AES-256-CBC) with this passphrase; `env(NAME)` keeps it out of
    /// the file. Unset: not encrypted.
    pub cipher_pass: Option<String>,
    /// Longest a committed change waits before its WAL segment is archived (default 60s): the
    /// most a restore after losing the disk can lose.
    pub archive_timeout: Seconds,
    /// `[basalt.backup.s3]`: keep the repository in an S3-compatible bucket instead of on disk.
    pub s3: Option<BackupS3Config>,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            enabled: false,
            path: None,
            interval: Seconds(std::time::Duration::from_secs(24 * 3600)),
            retention_full: 2,
            cipher_pass: None,
            archive_timeout: Seconds(std::time::Duration::from_secs(60)),
            s3: None,
        }
    }
}

/// `[basalt.backup.s3]`: an S3-compatible bucket for the repository.
#[derive(Debug, Clone, Deserialize)]
pub struct BackupS3Config {
    pub bucket: String,
    /// The endpoint host (and port), e.g. `s3.eu-west-1.amazonaws.com` or `127.0.0.1:9000`.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path inside the bucket (default `/basalt`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// `path` for servers that do not serve buckets as host names (default `host`).
    #[serde(default)]
    pub uri_style: Option<String>,
    /// Verify the endpoint's TLS certificate (default true).
    #[serde(default = "yes")]
    pub verify_tls: bool,
}

fn yes() -> bool {
    true
}
