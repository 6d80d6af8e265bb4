//! `basalt db lint`: static rules over migration files, parsed with the Postgres grammar.
//! Rules have stable names and levels (see [`rules::ALL`]); `-- basalt-lint-ignore RULE`
//! comments silence them; the caller decides with [`FailOn`](crate::finding::FailOn) which
//! level fails the run.

pub mod checks;
pub mod facts;
pub mod ignore;
pub mod plpgsql_check;
pub mod rules;

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::finding::Level;
use crate::source::{sql_files_in, Parsed, SqlFile};

/// One finding of the linter.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub level: Level,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Everything the linter found, in file and position order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LintReport {
    pub files: usize,
    pub findings: Vec<Finding>,
}

/// What to lint.
#[derive(Debug, Clone)]
pub struct LintOptions {
    /// Files to lint, in order. Empty: `supabase/migrations/*.sql` of `project`.
    pub files: Vec<PathBuf>,
    /// The project directory.
    pub project: PathBuf,
    /// Schemas the API serves (`[api] schemas`).
    pub exposed_schemas: Vec<String>,
    /// Findings below this level are left out.
    pub min_level: Level,
}

/// Lint files from disk.
pub fn run(options: &LintOptions) -> Result<LintReport, Error> {
    let paths = if options.files.is_empty() {
        sql_files_in(&migrations_dir(&options.project))?
    } else {
        options.files.clone()
    };
    let files = paths
        .iter()
        .map(|p| SqlFile::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = lint(&files, &options.exposed_schemas)?;
    report.findings.retain(|f| f.level >= options.min_level);
    Ok(report)
}

/// The migrations directory of a project.
pub fn migrations_dir(project: &Path) -> PathBuf {
    project.join("supabase").join("migrations")
}

/// Lint SQL texts in the order they apply. Pure: no disk, no database.
pub fn lint(files: &[SqlFile], exposed_schemas: &[String]) -> Result<LintReport, Error> {
    let parsed: Vec<Parsed> = files.iter().map(|f| f.parse()).collect::<Result<_, _>>()?;
    let facts = facts::Facts::collect(parsed.iter().flat_map(|p| p.statements.iter()));
    let mut findings = Vec::new();
    for (file, p) in files.iter().zip(&parsed) {
        let mut check = checks::FileCheck::new(file, &p.statements, &facts, exposed_schemas);
        let whole_file = ignore::file_wide(&p.comments);
        let mut previous_end = 0;
        for st in &p.statements {
            let before = check.out.len();
            check.statement(st);
            let silenced = ignore::in_range(&p.comments, previous_end, st.end.max(st.start));
            let mut kept: Vec<checks::RawFinding> = check.out.drain(before..).collect();
            kept.retain(|f| !silenced.covers(f.rule.name) && !whole_file.covers(f.rule.name));
            check.out.extend(kept);
            previous_end = st.end;
        }
        for raw in check.out {
            let (line, column) = file.position(raw.offset);
            findings.push(Finding {
                rule: raw.rule.name,
                level: raw.rule.level,
                file: file.name.clone(),
                line,
                column,
                message: raw.message,
            });
        }
    }
    Ok(LintReport {
        files: files.len(),
        findings,
    })
}

impl LintReport {
    /// The highest level found.
    pub fn worst(&self) -> Option<Level> {
        self.findings.iter().map(|f| f.level).max()
    }

    /// One line per finding, `file:line:column: level[rule] message`, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!(
                "{}:{}:{}: {}[{}] {}\n",
                f.file, f.line, f.column, f.level, f.rule, f.message
            ));
        }
        let count = |l: Level| self.findings.iter().filter(|f| f.level == l).count();
        out.push_str(&format!(
            "{} file(s) linted: {} error(s), {} warning(s), {} info\n",
            self.files,
            count(Level::Error),
            count(Level::Warning),
            count(Level::Info)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn exposed() -> Vec<String> {
        vec!["public".to_string()]
    }

    fn fixture(name: &str, text: &str) -> SqlFile {
        SqlFile::new(name, text)
    }

    fn planted() -> Vec<SqlFile> {
        vec![
            fixture(
                "0001_bad_create.sql",
                include_str!("../../tests/fixtures/lint/bad/0001_bad_create.sql"),
            ),
            fixture(
                "0002_bad_changes.sql",
                include_str!("../../tests/fixtures/lint/bad/0002_bad_changes.sql"),
            ),
        ]
    }

    #[test]
    fn every_rule_catches_its_planted_instance() {
        let report = lint(&planted(), &exposed()).expect("lints");
        let fired: BTreeSet<&str> = report.findings.iter().map(|f| f.rule).collect();
        let missing: Vec<&str> = rules::ALL
            .iter()
            .map(|r| r.name)
            .filter(|n| !fired.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "rules that found nothing: {missing:?}\n{}",
            report.to_text()
        );
    }

    #[test]
    fn findings_carry_positions_and_levels() {
        let report = lint(&planted(), &exposed()).expect("lints");
        let f = report
            .findings
            .iter()
            .find(|f| f.rule == "table-without-rls")
            .expect("table-without-rls");
        assert_eq!(f.level, Level::Error);
        assert_eq!(f.file, "0001_bad_create.sql");
        assert_eq!((f.line, f.column), (2, 14));
        assert!(f.message.contains("public.open_table"), "{}", f.message);
        let per_row: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.rule == "policy-auth-call-per-row")
            .collect();
        assert_eq!(per_row.len(), 1, "{per_row:?}");
    }

    #[test]
    fn plpgsql_types_of_other_schemas_are_not_syntax_errors() {
        let files = vec![fixture(
            "0001_types.sql",
            "CREATE SCHEMA app;
             CREATE TYPE app.state AS ENUM ('a', 'b');
             CREATE FUNCTION app.next_state(s app.state) RETURNS app.state
               LANGUAGE plpgsql SET search_path = '' AS $$
             DECLARE v app.state;
             BEGIN v := s; RETURN v; END $$;
             CREATE FUNCTION app.broken() RETURNS int
               LANGUAGE plpgsql SET search_path = '' AS $$
             BEGIN RETURN 1 END $$;",
        )];
        let report = lint(&files, &exposed()).expect("lints");
        let syntax: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.rule == "plpgsql-syntax")
            .collect();
        assert_eq!(syntax.len(), 1, "{}", report.to_text());
        assert!(
            syntax[0].message.contains("app.broken"),
            "{}",
            report.to_text()
        );
    }

    #[test]
    fn clean_schema_is_quiet() {
        let files = vec![fixture(
            "0001_clean.sql",
            include_str!("../../tests/fixtures/clean/supabase/migrations/0001_clean.sql"),
        )];
        let report = lint(&files, &exposed()).expect("lints");
        assert!(report.findings.is_empty(), "{}", report.to_text());
    }

    #[test]
    fn ignore_comments_silence_rules() {
        let sql = "create table public.t (id int primary key, at timestamp);\n\
                   alter table public.t enable row level security;\n\
                   -- basalt-lint-ignore ban-drop-table\n\
                   drop table public.t;\n\
                   drop table public.u;\n";
        let report = lint(&[fixture("x.sql", sql)], &exposed()).expect("lints");
        let rules: Vec<(&str, usize)> = report.findings.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(
            rules,
            vec![("prefer-timestamptz", 1), ("ban-drop-table", 5)]
        );
        let sql = format!("-- basalt-lint-ignore-file prefer-timestamptz\n{sql}");
        let report = lint(&[fixture("x.sql", &sql)], &exposed()).expect("lints");
        assert!(report
            .findings
            .iter()
            .all(|f| f.rule != "prefer-timestamptz"));
    }

    #[test]
    fn syntax_errors_stop_the_lint_with_a_position() {
        let err = lint(
            &[fixture(
                "bad.sql",
                "create table t (\n  id int,\n  x text nott null);",
            )],
            &exposed(),
        )
        .expect_err("fails");
        assert_eq!(
            err.to_string(),
            "bad.sql:3:10: syntax error at or near \"nott\""
        );
    }

    #[test]
    fn existing_tables_and_new_ones_are_told_apart() {
        let sql = "create table public.n (id int primary key);\n\
                   alter table public.n enable row level security;\n\
                   create index n_idx on public.n (id);\n\
                   alter table public.n add column c text not null;\n\
                   create type public.mood as enum ('sad');\n\
                   alter type public.mood rename value 'sad' to 'blue';\n\
                   alter type public.mood add value 'red' after 'blue';\n";
        let report = lint(&[fixture("x.sql", sql)], &exposed()).expect("lints");
        assert!(report.findings.is_empty(), "{}", report.to_text());
    }
}
