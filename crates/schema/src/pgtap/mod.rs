//! `basalt test db`: run pgTAP files (`supabase/tests/**/*.sql` and `.pg`, in path order)
//! against a database. Each file runs inside a transaction that is rolled back, after pgTAP
//! (when the server has it) and the `tests.*` helpers (create users, act as them) are installed
//! in that same transaction, so nothing is left behind. The TAP lines the file's statements
//! return are read back and judged: a file fails on `not ok`, on an error, or when fewer tests
//! ran than it planned.

use std::path::{Path, PathBuf};

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::error::Error;

const HELPERS: &str = include_str!("helpers.sql");

/// The outcome of one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileResult {
    pub file: String,
    pub planned: Option<usize>,
    pub passed: usize,
    /// `not ok` lines, as printed.
    pub failures: Vec<String>,
    /// The error that stopped the file, if one did.
    pub error: Option<String>,
    /// Every TAP line the file produced.
    pub tap: Vec<String>,
}

impl FileResult {
    /// Whether the file passed.
    pub fn ok(&self) -> bool {
        self.error.is_none()
            && self.failures.is_empty()
            && self
                .planned
                .is_none_or(|p| p == self.passed + self.failures.len())
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestReport {
    pub files: Vec<FileResult>,
}

impl TestReport {
    /// Whether every file passed.
    pub fn ok(&self) -> bool {
        self.files.iter().all(FileResult::ok)
    }

    /// One line per file (failures and errors under it), then `N passed, N failed`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            let total = f.passed + f.failures.len();
            if f.ok() {
                out.push_str(&format!("{} .. ok ({total} tests)\n", f.file));
                continue;
            }
            out.push_str(&format!("{} .. FAILED\n", f.file));
            for line in &f.failures {
                out.push_str(&format!("  {line}\n"));
            }
            if let Some(e) = &f.error {
                out.push_str(&format!("  error: {e}\n"));
            }
            if let Some(p) = f.planned.filter(|p| *p != total) {
                out.push_str(&format!("  planned {p} tests but ran {total}\n"));
            }
        }
        let passed: usize = self.files.iter().map(|f| f.passed).sum();
        let failed: usize = self
            .files
            .iter()
            .map(|f| f.failures.len() + usize::from(f.error.is_some()))
            .sum();
        out.push_str(&format!("{passed} passed, {failed} failed\n"));
        out
    }
}

/// The test files under `dir` (recursively), or the given paths (files or directories).
pub fn test_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
    if meta.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(p).map_err(|e| Error::io(p, e))? {
        let path = entry.map_err(|e| Error::io(p, e))?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "sql" || x == "pg") {
            out.push(path);
        }
    }
    Ok(())
}

/// Judge TAP lines.
pub fn judge(file: &str, tap: Vec<String>, error: Option<String>) -> FileResult {
    let mut planned = None;
    let mut passed = 0;
    let mut failures = Vec::new();
    for line in &tap {
        let l = line.trim_start();
        if let Some(n) = l.strip_prefix("1..") {
            planned = n.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if l.starts_with("not ok") {
            if l.contains("# TODO") {
                passed += 1;
            } else {
                failures.push(l.to_string());
            }
        } else if l.starts_with("ok") {
            passed += 1;
        }
    }
    FileResult {
        file: file.to_string(),
        planned,
        passed,
        failures,
        error,
        tap,
    }
}

/// Run every file against the database behind `client`.
pub async fn run(client: &Client, files: &[PathBuf]) -> Result<TestReport, Error> {
    if files.is_empty() {
        return Err(Error::Usage(
            "no test files found (looked for *.sql and *.pg)".into(),
        ));
    }
    let available = client
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pgtap'",
            &[],
        )
        .await
        .map_err(|e| Error::query("look for pgTAP", &e))?
        .is_some();
    if !available {
        return Err(Error::Usage(
            "pgTAP is not installed on the database server (on Debian: apt-get install postgresql-15-pgtap)".into(),
        ));
    }
    let mut results = Vec::new();
    for f in files {
        let sql = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        let name = f.display().to_string();
        crate::source::SqlFile::new(name.clone(), sql.clone()).parse()?;
        client
            .batch_execute("BEGIN; CREATE EXTENSION IF NOT EXISTS pgtap WITH SCHEMA extensions;")
            .await
            .map_err(|e| Error::query("install pgTAP", &e))?;
        // pgTAP's functions call each other unqualified: `extensions` must be on the path.
        client
            .execute(
                "SELECT set_config('search_path', current_setting('search_path') || ', extensions', true)",
                &[],
            )
            .await
            .map_err(|e| Error::query("set search_path", &e))?;
        client
            .batch_execute(HELPERS)
            .await
            .map_err(|e| Error::query("install the test helpers", &e))?;
        let mut tap = Vec::new();
        let error = match client.simple_query(&sql).await {
            Ok(messages) => {
                for m in messages {
                    if let SimpleQueryMessage::Row(row) = m {
                        if row.len() == 1 {
                            if let Some(text) = row.get(0) {
                                tap.extend(text.lines().map(str::to_string));
                            }
                        }
                    }
                }
                None
            }
            Err(e) => Some(basalt_migrate::apply::pg_message(&e)),
        };
        // The file may have ended the transaction itself; a stray ROLLBACK only warns.
        client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| Error::query("roll back", &e))?;
        results.push(judge(&name, tap, error));
    }
    Ok(TestReport { files: results })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_tap_lines() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = judge(
            "a.sql",
            lines(&["1..2", "ok 1 - first", "ok 2 - second"]),
            None,
        );
        assert!(r.ok());
        let r = judge(
            "b.sql",
            lines(&["1..3", "ok 1 - first", "not ok 2 - second", "# failed"]),
            None,
        );
        assert!(!r.ok());
        assert_eq!(r.failures, vec!["not ok 2 - second"]);
        let r = judge("c.sql", lines(&["1..3", "ok 1"]), None);
        assert!(!r.ok(), "fewer tests than planned");
        let report = TestReport { files: vec![r] };
        assert!(report.to_text().contains("planned 3 tests but ran 1"));
        assert!(report.to_text().ends_with("1 passed, 0 failed\n"));
    }
}
