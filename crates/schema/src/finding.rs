//! Findings shared by `db lint` and `db advisors`: a rule name, a level and where it applies.

use std::fmt;

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    /// Parse `info`, `warning`/`warn` or `error` (any case).
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(Level::Info),
            "warning" | "warn" => Some(Level::Warning),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    /// The splinter spelling: `INFO`, `WARN`, `ERROR`.
    pub fn splinter(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warning => "WARN",
            Level::Error => "ERROR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

/// The `--fail-on` threshold: no level, or findings at this level or above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    None,
    At(Level),
}

impl FailOn {
    /// Parse `none`, `info`, `warning` or `error`.
    pub fn parse(s: &str) -> Option<FailOn> {
        if s.eq_ignore_ascii_case("none") {
            return Some(FailOn::None);
        }
        Level::parse(s).map(FailOn::At)
    }

    /// Whether a finding at `level` fails the run.
    pub fn fails(self, level: Level) -> bool {
        match self {
            FailOn::None => false,
            FailOn::At(min) => level >= min,
        }
    }
}
