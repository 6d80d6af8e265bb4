//! basalt-backup: backups, point-in-time restore and branches of the embedded cluster.
//!
//! How data flows:
//! - **WAL, continuously.** When `[basalt.backup] enabled`, the embedded cluster runs with
//!   `archive_mode` and an `archive_command` that hands every finished WAL segment to pgBackRest
//!   ([`Repository::archive_settings`]); `archive_timeout` bounds how long a commit waits.
//!   pgBackRest (a Debian package, well kept, with encryption, retention and S3 repositories)
//!   is driven through its command line with a configuration file basalt writes
//!   ([`Repository::write`]); basalt never reads or writes the repository's format itself.
//! - **Full backups** on a schedule and on demand ([`Repository::backup`]), listed from
//!   `pgbackrest info` ([`Repository::backups`]); retention expires the oldest.
//! - **Storage objects.** The disk backend writes every object version to a key that is never
//!   reused; [`objects::archive`] links (or copies) the versions not yet in the repository's
//!   `objects/` next to each backup and on the archive schedule, and [`objects::restore`] puts
//!   back every version the restored database names.
//! - **Restore** ([`Repository::restore`]) goes into a new data directory; the caller starts a
//!   server on it to finish recovery and only then swaps it in, keeping the old one.
//! - **Branches** ([`branch`]) are copies of the data directory made while the server is stopped
//!   (a file copy) or running (`pg_basebackup`), each served by its own `basalt start --branch`.

pub mod branch;
pub mod objects;
mod pgbackrest;
mod run;

pub use pgbackrest::{BackupInfo, BackupKind, Repository, RepositoryLayout, Target};
pub use run::RunAs;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("pgBackRest is not installed (`apt-get install pgbackrest`): {0}")]
    NoPgBackRest(String),
    #[error("`{command}` failed: {output}")]
    Command { command: String, output: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}
