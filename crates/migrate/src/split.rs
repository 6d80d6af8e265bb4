//! Splitting a SQL script into statements, the way psql and the Supabase CLI see them: on `;`
//! outside quotes, dollar-quoted bodies and comments.

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement text, trimmed, without the terminating `;`.
    pub text: String,
    /// 1-based line where the statement starts in the script.
    pub line: usize,
}

/// Split `sql` into statements; statements that are only whitespace or comments are dropped.
pub fn split(sql: &str) -> Vec<Statement> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut i = 0usize;
    let mut paren = 0i32;
    // `BEGIN ATOMIC ... END` bodies of SQL-standard functions contain `;`.
    let mut atomic = 0i32;
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while i < b.len() && depth > 0 {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'\'' => {
                let escapes = i > 0
                    && matches!(b[i - 1], b'e' | b'E')
                    && !ident_char(b.get(i.wrapping_sub(2)).copied());
                i += 1;
                while i < b.len() {
                    if escapes && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'"' {
                        if b.get(i + 1) == Some(&b'"') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
                continue;
            }
            b'$' if i == 0 || !ident_char(Some(b[i - 1])) => {
                if let Some(tag_len) = dollar_tag(&b[i..]) {
                    let tag = &b[i..i + tag_len];
                    let body = i + tag_len;
                    match find(&b[body..], tag) {
                        Some(end) => i = body + end + tag_len,
                        None => i = b.len(),
                    }
                    continue;
                }
            }
            b'(' => paren += 1,
            b')' => paren -= 1,
            b';' if paren <= 0 && atomic == 0 => {
                push(sql, start, i, &mut out);
                start = i + 1;
            }
            _ if c.is_ascii_alphabetic() && (i == 0 || !ident_char(Some(b[i - 1]))) => {
                let mut j = i;
                while j < b.len() && ident_char(Some(b[j])) {
                    j += 1;
                }
                let word = &sql[i..j];
                if word.eq_ignore_ascii_case("atomic")
                    && prev_word(sql, i).eq_ignore_ascii_case("begin")
                {
                    atomic += 1;
                } else if word.eq_ignore_ascii_case("end") && atomic > 0 {
                    atomic -= 1;
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    push(sql, start, b.len(), &mut out);
    out
}

fn prev_word(sql: &str, at: usize) -> &str {
    let head = sql[..at].trim_end();
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(|p| p + 1)
        .unwrap_or(0);
    &head[start..]
}

fn ident_char(c: Option<u8>) -> bool {
    matches!(c, Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
}

/// Length of a `$tag$` opener at the start of `b`, if it is one.
fn dollar_tag(b: &[u8]) -> Option<usize> {
    let mut j = 1;
    while j < b.len() {
        match b[j] {
            b'$' => return Some(j + 1),
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                if j == 1 && c.is_ascii_digit() {
                    return None; // $1 is a parameter
                }
                j += 1;
            }
            _ => return None,
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn push(sql: &str, start: usize, end: usize, out: &mut Vec<Statement>) {
    let raw = &sql[start..end];
    if only_comments(raw) {
        return;
    }
    let lead = raw.len() - raw.trim_start().len();
    let line = sql[..start + lead].matches('\n').count() + 1;
    out.push(Statement {
        text: raw.trim().to_string(),
        line,
    });
}

fn only_comments(s: &str) -> bool {
    without_leading_comments(s).is_empty()
}

/// `s` without the comments and whitespace that precede its first token.
pub fn without_leading_comments(s: &str) -> &str {
    let mut rest = s.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r
                .split_once('\n')
                .map(|(_, t)| t)
                .unwrap_or("")
                .trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r
                .split_once("*/")
                .map(|(_, t)| t)
                .unwrap_or("")
                .trim_start();
        } else {
            return rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes() {
        assert_eq!(
            texts("select 1; select ';' ; select \"a;b\";"),
            vec!["select 1", "select ';'", "select \"a;b\""]
        );
    }

    #[test]
    fn dollar_quoted_bodies_stay_whole() {
        let sql = "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  NEW.x = 1;\n  RETURN NEW;\nEND;\n$$ language 'plpgsql';\nSELECT 2;";
        let s = texts(sql);
        assert_eq!(s.len(), 2);
        assert!(s[0].ends_with("language 'plpgsql'"));
        let tagged = "DO $body$ BEGIN PERFORM 1; END $body$; select $1";
        assert_eq!(texts(tagged).len(), 2);
    }

    #[test]
    fn comments_and_escapes() {
        let sql = "-- a; comment\nselect 1; /* block; /* nested; */ */ select E'it\\'s;'; -- tail";
        assert_eq!(
            texts(sql),
            vec![
                "-- a; comment\nselect 1",
                "/* block; /* nested; */ */ select E'it\\'s;'"
            ]
        );
        assert_eq!(texts("-- only a comment\n"), Vec::<String>::new());
    }

    #[test]
    fn lines_are_reported() {
        let s = split("select 1;\n\n  select 2;\nselect\n3;");
        assert_eq!(s.iter().map(|s| s.line).collect::<Vec<_>>(), vec![1, 3, 4]);
    }

    #[test]
    fn begin_atomic_bodies() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3;";
        assert_eq!(texts(sql).len(), 2);
    }
}
