//! SQL files on disk: reading them, turning byte offsets into line and column, and parsing them
//! with the Postgres grammar (`pg_query`) so that a syntax error names file, line and column.

use std::path::{Path, PathBuf};

use pg_query::protobuf::{RawStmt, ScanToken, Token};

use crate::error::Error;

/// One SQL file and its text.
#[derive(Debug, Clone)]
pub struct SqlFile {
    /// The name findings and errors print (the path as given).
    pub name: String,
    pub text: String,
}

/// A statement of a parsed file.
#[derive(Debug, Clone)]
pub struct Statement {
    pub node: pg_query::NodeEnum,
    /// Byte offset of the statement's first token.
    pub start: usize,
    /// Byte offset just past the statement (before its `;`).
    pub end: usize,
}

/// A parsed file: its statements and its comments.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub statements: Vec<Statement>,
    /// `(byte offset, text)` of every comment, in order.
    pub comments: Vec<(usize, String)>,
}

impl SqlFile {
    /// A file from its name and text (no disk access).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SqlFile {
        SqlFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Read a file from disk.
    pub fn read(path: &Path) -> Result<SqlFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok(SqlFile::new(path.display().to_string(), text))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// Parse the whole file. A syntax error names the line and column of the offending token.
    pub fn parse(&self) -> Result<Parsed, Error> {
        if self.text.contains('\0') {
            return Err(self.syntax_error(0, "file contains a NUL byte".into()));
        }
        let result = match pg_query::parse(&self.text, pg_query::ParserOptions::DEFAULT) {
            Ok(r) => r,
            Err(e) => {
                let message = parse_message(&e);
                let offset = self.error_offset(&message);
                return Err(self.syntax_error(offset, message));
            }
        };
        let tokens = pg_query::scan_tokens(&self.text).unwrap_or_default();
        let comments = tokens
            .iter()
            .filter(|t| is_comment(t))
            .map(|t| {
                (
                    t.start as usize,
                    self.text[t.start as usize..t.end as usize].to_string(),
                )
            })
            .collect();
        let statements = result
            .protobuf
            .stmts
            .iter()
            .filter_map(|raw| self.statement(raw, &tokens))
            .collect();
        Ok(Parsed {
            statements,
            comments,
        })
    }

    fn statement(&self, raw: &RawStmt, tokens: &[ScanToken]) -> Option<Statement> {
        let node = raw.stmt.as_ref()?.node.clone()?;
        let loc = raw.stmt_location.max(0) as usize;
        let end = if raw.stmt_len > 0 {
            loc + raw.stmt_len as usize
        } else {
            self.text.len()
        };
        let start = tokens
            .iter()
            .find(|t| t.start as usize >= loc && !is_comment(t))
            .map(|t| t.start as usize)
            .unwrap_or(loc);
        Some(Statement { node, start, end })
    }

    fn syntax_error(&self, offset: usize, message: String) -> Error {
        let (line, column) = self.position(offset);
        Error::Syntax {
            path: self.name.clone(),
            line,
            column,
            message,
        }
    }

    /// Where a parse error lies: the failing statement, then the token the message names.
    fn error_offset(&self, message: &str) -> usize {
        let text = self.text.as_str();
        let Ok(pieces) = pg_query::split_with_scanner(text) else {
            return near_token(text, message).unwrap_or(0);
        };
        // The scanner leaves out an unterminated last statement: treat the rest as one more.
        let covered = pieces
            .last()
            .map(|p| p.as_ptr() as usize - text.as_ptr() as usize + p.len())
            .unwrap_or(0);
        let rest_start = text[covered..]
            .find(';')
            .map(|i| covered + i + 1)
            .unwrap_or(covered);
        let mut pieces = pieces;
        if !text[rest_start..].trim().is_empty() {
            pieces.push(&text[rest_start..]);
        }
        for piece in pieces {
            let base = piece.as_ptr() as usize - text.as_ptr() as usize;
            let Err(e) = pg_query::parse(piece, pg_query::ParserOptions::DEFAULT) else {
                continue;
            };
            let msg = parse_message(&e);
            if msg.ends_with("at end of input") {
                return base + piece.trim_end().len();
            }
            if let Some(near) = quoted_near(&msg) {
                let tokens = pg_query::scan_tokens(piece).unwrap_or_default();
                for t in &tokens {
                    let (s, e) = (t.start as usize, t.end as usize);
                    if piece.get(s..e) != Some(near) {
                        continue;
                    }
                    let again = pg_query::parse(&piece[..e], pg_query::ParserOptions::DEFAULT)
                        .err()
                        .map(|e| parse_message(&e));
                    if again.as_deref() == Some(msg.as_str()) {
                        return base + s;
                    }
                }
                if let Some(p) = piece.find(near) {
                    return base + p;
                }
            }
            return base + (piece.len() - piece.trim_start().len());
        }
        near_token(text, message).unwrap_or(0)
    }
}

/// Every `*.sql` file directly in `dir`, in lexicographic order; a missing directory has none.
pub fn sql_files_in(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    Ok(files)
}

fn is_comment(t: &ScanToken) -> bool {
    t.token == Token::SqlComment as i32 || t.token == Token::CComment as i32
}

fn parse_message(e: &pg_query::Error) -> String {
    match e {
        pg_query::Error::Parse(m) | pg_query::Error::Split(m) | pg_query::Error::Scan(m) => {
            m.clone()
        }
        other => other.to_string(),
    }
}

/// `X` of a message ending in `at or near "X"`.
fn quoted_near(message: &str) -> Option<&str> {
    let i = message.find("at or near \"")?;
    let rest = &message[i + "at or near \"".len()..];
    rest.strip_suffix('"')
}

fn near_token(text: &str, message: &str) -> Option<usize> {
    quoted_near(message).and_then(|n| text.find(n))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_start_at_their_first_token() {
        let f = SqlFile::new(
            "a.sql",
            "-- head\nselect 1;\n\n/* c */ create table t (id int);",
        );
        let p = f.parse().expect("parses");
        assert_eq!(p.statements.len(), 2);
        assert_eq!(f.position(p.statements[0].start), (2, 1));
        assert_eq!(f.position(p.statements[1].start), (4, 9));
        assert_eq!(p.comments.len(), 2);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let f = SqlFile::new(
            "m.sql",
            "create table a (id int);\ncreate table b (\n  id int,\n  name text nott null\n);",
        );
        match f.parse() {
            Err(Error::Syntax {
                path, line, column, ..
            }) => {
                assert_eq!(path, "m.sql");
                assert_eq!((line, column), (4, 13));
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn unterminated_input_points_at_the_end() {
        let f = SqlFile::new("m.sql", "select 1;\nselect (1");
        let e = f.parse().expect_err("fails");
        assert!(e.to_string().starts_with("m.sql:2:10:"), "{e}");
    }

    #[test]
    fn positions_count_characters() {
        let f = SqlFile::new("x", "é\nab");
        assert_eq!(f.position(0), (1, 1));
        assert_eq!(f.position(2), (1, 2));
        assert_eq!(f.position(4), (2, 2));
    }
}
