//! The errors every command of this crate can return. Each renders as one line.

/// What went wrong running a schema command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// SQL that does not parse, with the position of the offending token.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A query against the database failed.
    #[error("{context}: {message}")]
    Query { context: String, message: String },
    /// Invalid arguments or project files.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// A failed query, described by what it was for.
    pub fn query(context: &str, e: &tokio_postgres::Error) -> Error {
        Error::Query {
            context: context.to_string(),
            message: basalt_migrate::apply::pg_message(e),
        }
    }
}
