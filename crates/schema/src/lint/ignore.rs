//! `-- basalt-lint-ignore RULE[, RULE…]` comments. One placed before a statement (or inside it)
//! silences those rules for that statement; with no rule named it silences every rule.
//! `-- basalt-lint-ignore-file RULE…` silences rules for the whole file.

/// What the comments of one statement or file silence.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Ignored {
    #[default]
    Nothing,
    All,
    Rules(Vec<String>),
}

impl Ignored {
    /// Whether `rule` is silenced.
    pub fn covers(&self, rule: &str) -> bool {
        match self {
            Ignored::Nothing => false,
            Ignored::All => true,
            Ignored::Rules(r) => r.iter().any(|x| x == rule),
        }
    }

    fn merge(&mut self, other: Ignored) {
        *self = match (std::mem::take(self), other) {
            (Ignored::All, _) | (_, Ignored::All) => Ignored::All,
            (Ignored::Nothing, o) | (o, Ignored::Nothing) => o,
            (Ignored::Rules(mut a), Ignored::Rules(b)) => {
                a.extend(b);
                Ignored::Rules(a)
            }
        };
    }
}

const MARK: &str = "basalt-lint-ignore";

/// What one comment silences: `(for its statement, for the file)`.
pub fn parse_comment(comment: &str) -> (Ignored, Ignored) {
    let Some(i) = comment.find(MARK) else {
        return (Ignored::Nothing, Ignored::Nothing);
    };
    let rest = &comment[i + MARK.len()..];
    let (file_wide, rest) = match rest.strip_prefix("-file") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_end_matches("*/");
    let rules: Vec<String> = rest
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .take_while(|w| super::rules::by_name(w).is_some())
        .map(str::to_string)
        .collect();
    let ignored = if rules.is_empty() {
        Ignored::All
    } else {
        Ignored::Rules(rules)
    };
    if file_wide {
        (Ignored::Nothing, ignored)
    } else {
        (ignored, Ignored::Nothing)
    }
}

/// What the comments in `comments` (offset, text) between `from` and `to` silence, and what
/// every comment of the file silences file-wide.
pub fn in_range(comments: &[(usize, String)], from: usize, to: usize) -> Ignored {
    let mut out = Ignored::Nothing;
    for (at, text) in comments {
        if *at >= from && *at < to {
            out.merge(parse_comment(text).0);
        }
    }
    out
}

/// What the file-wide comments silence.
pub fn file_wide(comments: &[(usize, String)]) -> Ignored {
    let mut out = Ignored::Nothing;
    for (_, text) in comments {
        out.merge(parse_comment(text).1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules_and_scopes() {
        assert_eq!(
            parse_comment("-- basalt-lint-ignore ban-drop-table, renaming-table because"),
            (
                Ignored::Rules(vec!["ban-drop-table".into(), "renaming-table".into()]),
                Ignored::Nothing
            )
        );
        assert_eq!(
            parse_comment("-- basalt-lint-ignore"),
            (Ignored::All, Ignored::Nothing)
        );
        assert_eq!(
            parse_comment("/* basalt-lint-ignore-file prefer-timestamptz */"),
            (
                Ignored::Nothing,
                Ignored::Rules(vec!["prefer-timestamptz".into()])
            )
        );
        assert_eq!(
            parse_comment("-- an ordinary comment"),
            (Ignored::Nothing, Ignored::Nothing)
        );
    }
}
