//! The pgBackRest repository of one project: its configuration file, and the commands basalt
//! runs against it (stanza creation, backups, the list of backups, restore).

use std::path::{Path, PathBuf};
use std::process::Command;

use basalt_config::BackupConfig;
use serde::Serialize;

use crate::run::{output, RunAs};
use crate::{io, BackupError};

/// The stanza (pgBackRest's name for one cluster) every basalt repository uses.
pub const STANZA: &str = "basalt";

/// Where the cluster and the repository live.
#[derive(Debug, Clone)]
pub struct RepositoryLayout {
    /// The cluster's data directory.
    pub data_dir: PathBuf,
    /// Its unix socket directory and port (pgBackRest connects there to start and stop backups).
    pub socket_dir: PathBuf,
    pub port: u16,
    /// A directory for the configuration file, locks and logs (the project's state directory).
    pub work_dir: PathBuf,
    /// The repository when it is on disk (`[basalt.backup] path`, or beside the data directory).
    pub repo_dir: PathBuf,
}

/// A written repository configuration.
#[derive(Debug, Clone)]
pub struct Repository {
    conf: PathBuf,
    run_as: Option<RunAs>,
    /// The repository directory when it is on disk.
    pub local: Option<PathBuf>,
}

/// Which backup to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKind {
    Full,
    Differential,
    Incremental,
}

impl BackupKind {
    fn arg(self) -> &'static str {
        match self {
            BackupKind::Full => "full",
            BackupKind::Differential => "diff",
            BackupKind::Incremental => "incr",
        }
    }

    /// `full`, `diff` or `incr`.
    pub fn parse(s: &str) -> Option<BackupKind> {
        match s {
            "full" => Some(BackupKind::Full),
            "diff" | "differential" => Some(BackupKind::Differential),
            "incr" | "incremental" => Some(BackupKind::Incremental),
            _ => None,
        }
    }
}

/// The moment a restore brings the cluster back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Everything archived (the end of the WAL).
    Latest,
    /// A time, as Postgres reads `recovery_target_time` (`2026-12-03 13:50:00+00`).
    Time(String),
    /// The end of one backup, by its label.
    Backup(String),
}

/// One backup in the repository.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackupInfo {
    pub label: String,
    /// `full`, `diff` or `incr`.
    pub kind: String,
    /// Start and stop, Unix seconds.
    pub started: i64,
    pub stopped: i64,
    /// Size of the database it copies, and what it takes in the repository, in bytes.
    pub size: u64,
    pub repo_size: u64,
    /// The WAL segments it needs, first and last.
    pub wal_start: String,
    pub wal_stop: String,
}

impl Repository {
    /// Write the configuration file for `layout` and `config` (readable only by the server's
    /// user: it may hold the cipher passphrase and S3 keys).
    pub fn write(
        layout: &RepositoryLayout,
        config: &BackupConfig,
        run_as: Option<RunAs>,
    ) -> Result<Repository, BackupError> {
        let dir = layout.work_dir.join("backup");
        let (lock, log) = (dir.join("lock"), dir.join("log"));
        for d in [&dir, &lock, &log] {
            std::fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
            if let Some(r) = run_as {
                r.chown(d);
            }
        }
        let mut global = vec![
            ("lock-path", lock.display().to_string()),
            ("log-path", log.display().to_string()),
            ("log-level-console", "warn".into()),
            ("log-level-stderr", "off".into()),
            ("log-level-file", "info".into()),
            ("start-fast", "y".into()),
            ("compress-type", "lz4".into()),
            (
                "repo1-retention-full",
                config.retention_full.max(1).to_string(),
            ),
        ];
        let local = match &config.s3 {
            Some(s3) => {
                // `host:port` (a test server, MinIO): pgBackRest takes the port apart.
                let endpoint = s3.endpoint.trim_start_matches("https://");
                let (host, port) = match endpoint.rsplit_once(':') {
                    Some((h, p)) if p.parse::<u16>().is_ok() && !h.ends_with(':') => (h, Some(p)),
                    _ => (endpoint, None),
                };
                if let Some(p) = port {
                    global.push(("repo1-storage-port", p.to_string()));
                }
                global.extend([
                    ("repo1-type", "s3".to_string()),
                    (
                        "repo1-path",
                        s3.prefix.clone().unwrap_or_else(|| "/basalt".into()),
                    ),
                    ("repo1-s3-bucket", s3.bucket.clone()),
                    ("repo1-s3-endpoint", host.to_string()),
                    ("repo1-s3-region", s3.region.clone()),
                    ("repo1-s3-key", s3.access_key_id.clone()),
                    ("repo1-s3-key-secret", s3.secret_access_key.clone()),
                    (
                        "repo1-s3-uri-style",
                        s3.uri_style.clone().unwrap_or_else(|| "host".into()),
                    ),
                    (
                        "repo1-storage-verify-tls",
                        if s3.verify_tls { "y" } else { "n" }.into(),
                    ),
                ]);
                None
            }
            None => {
                let repo = &layout.repo_dir;
                std::fs::create_dir_all(repo).map_err(io(format!("create {}", repo.display())))?;
                if let Some(r) = run_as {
                    r.chown(repo);
                }
                global.push(("repo1-path", repo.display().to_string()));
                Some(repo.clone())
            }
        };
        if let Some(pass) = &config.cipher_pass {
            global.push(("repo1-cipher-type", "aes-256-cbc".into()));
            global.push(("repo1-cipher-pass", pass.clone()));
        }
        let mut text =
            String::from("# Written by basalt at each start; edits are replaced.\n[global]\n");
        for (k, v) in &global {
            text.push_str(&format!("{k}={v}\n"));
        }
        text.push_str(&format!(
            "\n[{STANZA}]\npg1-path={}\npg1-socket-path={}\npg1-port={}\npg1-user=postgres\n",
            layout.data_dir.display(),
            layout.socket_dir.display(),
            layout.port
        ));
        let conf = dir.join("pgbackrest.conf");
        write_private(&conf, &text)?;
        if let Some(r) = run_as {
            r.chown(&conf);
        }
        Ok(Repository {
            conf,
            run_as,
            local,
        })
    }

    /// The server settings that archive every WAL segment into this repository.
    pub fn archive_settings(&self, archive_timeout: std::time::Duration) -> Vec<(String, String)> {
        vec![
            ("archive_mode".into(), "on".into()),
            (
                "archive_command".into(),
                format!(
                    "pgbackrest --config={} --stanza={STANZA} archive-push %p",
                    self.conf.display()
                ),
            ),
            (
                "archive_timeout".into(),
                format!("{}s", archive_timeout.as_secs().max(1)),
            ),
        ]
    }

    fn command(&self, verb: &str) -> Command {
        let mut cmd = Command::new("pgbackrest");
        cmd.arg(format!("--config={}", self.conf.display()))
            .arg(format!("--stanza={STANZA}"));
        cmd.arg(verb);
        cmd
    }

    /// Create the stanza (a no-op when it exists), then check that archiving works.
    pub fn stanza_create(&self) -> Result<(), BackupError> {
        output(self.command("stanza-create"), self.run_as)?;
        Ok(())
    }

    /// Take a backup of the running cluster; returns it.
    pub fn backup(&self, kind: BackupKind) -> Result<BackupInfo, BackupError> {
        let mut cmd = self.command("backup");
        cmd.arg(format!("--type={}", kind.arg()));
        output(cmd, self.run_as)?;
        self.backups()?
            .pop()
            .ok_or_else(|| BackupError::Invalid("the backup finished but is not listed".into()))
    }

    /// Every backup in the repository, oldest first.
    pub fn backups(&self) -> Result<Vec<BackupInfo>, BackupError> {
        let mut cmd = self.command("info");
        cmd.arg("--output=json");
        let text = output(cmd, self.run_as)?;
        parse_info(&text)
    }

    /// Restore into `into` (a new, empty directory), set up to recover to `target` and then
    /// promote. The caller starts a server on it to run the recovery.
    pub fn restore(&self, target: &Target, into: &Path) -> Result<(), BackupError> {
        std::fs::create_dir_all(into).map_err(io(format!("create {}", into.display())))?;
        std::fs::set_permissions(into, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(io("chmod restore directory"))?;
        if let Some(r) = self.run_as {
            r.chown(into);
        }
        let mut cmd = self.command("restore");
        cmd.arg(format!("--pg1-path={}", into.display()));
        match target {
            Target::Latest => {}
            Target::Time(t) => {
                cmd.arg("--type=time")
                    .arg(format!("--target={t}"))
                    .arg("--target-action=promote");
            }
            Target::Backup(label) => {
                cmd.arg(format!("--set={label}"))
                    .arg("--type=immediate")
                    .arg("--target-action=promote");
            }
        }
        output(cmd, self.run_as)?;
        Ok(())
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), BackupError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("write {}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(io(format!("write {}", path.display())))
}

/// The backups of `pgbackrest info --output=json`, oldest first.
fn parse_info(text: &str) -> Result<Vec<BackupInfo>, BackupError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| BackupError::Invalid(format!("pgbackrest info: {e}")))?;
    let stanza = v
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == STANZA));
    let Some(list) = stanza.and_then(|s| s["backup"].as_array()) else {
        return Ok(Vec::new());
    };
    Ok(list
        .iter()
        .map(|b| BackupInfo {
            label: b["label"].as_str().unwrap_or_default().to_string(),
            kind: b["type"].as_str().unwrap_or_default().to_string(),
            started: b["timestamp"]["start"].as_i64().unwrap_or_default(),
            stopped: b["timestamp"]["stop"].as_i64().unwrap_or_default(),
            size: b["info"]["size"].as_u64().unwrap_or_default(),
            repo_size: b["info"]["repository"]["size"].as_u64().unwrap_or_default(),
            wal_start: b["archive"]["start"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            wal_stop: b["archive"]["stop"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_backups_of_pgbackrest_info() {
        let text = r#"[{"name":"basalt","backup":[{"label":"20261203-101500F","type":"full",
            "timestamp":{"start":1764756900,"stop":1764756905},
            "info":{"size":35000000,"delta":35000000,"repository":{"size":4000000,"delta":4000000}},
            "archive":{"start":"000000010000000000000003","stop":"000000010000000000000003"}}],
            "status":{"code":0}}]"#;
        let list = parse_info(text).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].label, "20261203-101500F");
        assert_eq!(list[0].kind, "full");
        assert_eq!(list[0].stopped - list[0].started, 5);
        assert_eq!(list[0].repo_size, 4_000_000);
        assert_eq!(list[0].wal_start, "000000010000000000000003");
        assert!(parse_info(r#"[{"name":"basalt","status":{"code":1}}]"#)
            .unwrap()
            .is_empty());
    }

    fn layout(dir: &Path) -> RepositoryLayout {
        RepositoryLayout {
            data_dir: dir.join("pg"),
            socket_dir: dir.join("run"),
            port: 54322,
            work_dir: dir.to_path_buf(),
            repo_dir: dir.join("backups"),
        }
    }

    #[test]
    fn an_s3_endpoint_with_a_port_is_split_for_pgbackrest() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout(dir.path());
        let config = BackupConfig {
            s3: Some(basalt_config::BackupS3Config {
                bucket: "basalt-backups".into(),
                endpoint: "127.0.0.1:9443".into(),
                region: "us-east-1".into(),
                access_key_id: "k".into(),
                secret_access_key: "s".into(),
                prefix: None,
                uri_style: Some("path".into()),
                verify_tls: false,
            }),
            ..BackupConfig::default()
        };
        let repo = Repository::write(&layout, &config, None).unwrap();
        assert!(repo.local.is_none());
        let text = std::fs::read_to_string(dir.path().join("backup/pgbackrest.conf")).unwrap();
        for line in [
            "repo1-type=s3",
            "repo1-s3-endpoint=127.0.0.1\n",
            "repo1-storage-port=9443",
            "repo1-s3-uri-style=path",
            "repo1-storage-verify-tls=n",
            "repo1-path=/basalt",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn writes_a_configuration_with_the_cipher_and_the_archive_command() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout(dir.path());
        let config = BackupConfig {
            cipher_pass: Some("s3cret".into()),
            ..BackupConfig::default()
        };
        let repo = Repository::write(&layout, &config, None).unwrap();
        let text = std::fs::read_to_string(dir.path().join("backup/pgbackrest.conf")).unwrap();
        assert!(text.contains("repo1-cipher-pass=s3cret"), "{text}");
        assert!(text.contains("pg1-port=54322"), "{text}");
        assert!(text.contains(&format!(
            "repo1-path={}",
            dir.path().join("backups").display()
        )));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("backup/pgbackrest.conf"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let settings = repo.archive_settings(std::time::Duration::from_secs(60));
        assert!(settings.contains(&("archive_mode".into(), "on".into())));
        assert!(settings[1].1.contains("archive-push %p"));
    }
}
