//! Running the tools (pgBackRest, pg_basebackup) as the system user Postgres runs as.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::BackupError;

/// The system user Postgres's files belong to, when basalt runs as root.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// Hand `path` (a file or directory made by basalt) to this user.
    pub fn chown(self, path: &std::path::Path) {
        let _ = nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(self.uid)),
            Some(nix::unistd::Gid::from_raw(self.gid)),
        );
    }
}

/// Run `cmd` (as `run_as` when given) and return its stdout; a failure carries its output.
pub(crate) fn output(mut cmd: Command, run_as: Option<RunAs>) -> Result<String, BackupError> {
    if let Some(r) = run_as {
        cmd.uid(r.uid).gid(r.gid);
    }
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BackupError::NoPgBackRest(shown.clone())
        } else {
            BackupError::Io {
                context: shown.clone(),
                source: e,
            }
        }
    })?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if text.is_empty() {
            text = stdout.trim().to_string();
        }
        return Err(BackupError::Command {
            command: shown,
            output: text,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
