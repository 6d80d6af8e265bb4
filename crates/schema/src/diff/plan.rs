//! Turning two catalogs into the statements that make the first like the second, in dependency
//! order (drops in reverse kind order, then creates and alterations in kind order), each
//! statement carrying the hazards it brings. Pure.

use std::collections::BTreeSet;

use super::catalog::{Catalog, Kind, Object};

/// Something to know before running a statement on a live database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Hazard {
    DeletesData,
    AcquiresAccessExclusiveLock,
    AcquiresShareRowExclusiveLock,
    IndexBuild,
    IndexDropped,
    AuthzUpdate,
    HasUntrackableDependencies,
    Correctness,
}

impl Hazard {
    /// The upper-case name printed in migrations.
    pub fn name(self) -> &'static str {
        match self {
            Hazard::DeletesData => "DELETES_DATA",
            Hazard::AcquiresAccessExclusiveLock => "ACQUIRES_ACCESS_EXCLUSIVE_LOCK",
            Hazard::AcquiresShareRowExclusiveLock => "ACQUIRES_SHARE_ROW_EXCLUSIVE_LOCK",
            Hazard::IndexBuild => "INDEX_BUILD",
            Hazard::IndexDropped => "INDEX_DROPPED",
            Hazard::AuthzUpdate => "AUTHZ_UPDATE",
            Hazard::HasUntrackableDependencies => "HAS_UNTRACKABLE_DEPENDENCIES",
            Hazard::Correctness => "CORRECTNESS",
        }
    }
}

/// One statement of the migration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Step {
    pub sql: String,
    pub hazards: Vec<(Hazard, String)>,
}

/// A quoted SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An identifier, quoted only when Postgres would need it (as `format('%I')` does).
fn ident(s: &str) -> String {
    const RESERVED: &[&str] = &[
        "all",
        "and",
        "any",
        "as",
        "check",
        "column",
        "constraint",
        "create",
        "default",
        "do",
        "end",
        "for",
        "from",
        "grant",
        "group",
        "in",
        "index",
        "limit",
        "not",
        "null",
        "on",
        "or",
        "order",
        "select",
        "table",
        "to",
        "user",
        "where",
        "with",
    ];
    let simple = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if simple && !RESERVED.contains(&s) {
        s.to_string()
    } else {
        basalt_pg::quote_ident(s)
    }
}

const KINDS: &[Kind] = &[
    Kind::Schema,
    Kind::Extension,
    Kind::Enum,
    Kind::Domain,
    Kind::Composite,
    Kind::Sequence,
    Kind::Table,
    Kind::Column,
    Kind::Function,
    Kind::Constraint,
    Kind::ForeignKey,
    Kind::Index,
    Kind::View,
    Kind::Trigger,
    Kind::Rls,
    Kind::Policy,
    Kind::Grant,
    Kind::Comment,
    Kind::Publication,
];

/// What changing an object to its new definition takes.
enum Change {
    /// Drop the old one, create the new one.
    Recreate,
    /// Statements that alter it in place.
    Alter(Vec<Step>),
}

struct Planner<'a> {
    source: &'a Catalog,
    target: &'a Catalog,
    dropped_tables: BTreeSet<String>,
    new_tables: BTreeSet<String>,
}

fn objects(c: &Catalog, kind: Kind) -> Vec<&Object> {
    // Foreign keys are read as constraints; they get a kind of their own here so that they
    // come after every table and key they reference.
    let mut out: Vec<&Object> = c
        .values()
        .filter(|o| {
            let fk = o.kind == Kind::Constraint && o.extra.first().is_some_and(|t| t == "f");
            match kind {
                Kind::ForeignKey => fk,
                Kind::Constraint => o.kind == Kind::Constraint && !fk,
                k => o.kind == k,
            }
        })
        .collect();
    if kind == Kind::View {
        out.sort_by(|a, b| a.extra.first().cmp(&b.extra.first()));
    }
    out
}

impl Planner<'_> {
    fn belongs_to(&self, o: &Object, tables: &BTreeSet<String>) -> bool {
        o.table.as_ref().is_some_and(|t| tables.contains(t))
    }

    fn change(&self, old: &Object, new: &Object) -> Change {
        match old.kind {
            Kind::Enum if is_subsequence(&old.extra, &new.extra) => {
                let mut steps = Vec::new();
                for (i, label) in new.extra.iter().enumerate() {
                    if old.extra.contains(label) {
                        continue;
                    }
                    let (schema, name) = new.key.split_once('.').unwrap_or(("public", &new.key));
                    let place = match i.checked_sub(1).and_then(|p| new.extra.get(p)) {
                        Some(prev) => format!(" AFTER {}", literal(prev)),
                        None => new
                            .extra
                            .iter()
                            .find(|l| old.extra.contains(l))
                            .map(|next| format!(" BEFORE {}", literal(next)))
                            .unwrap_or_default(),
                    };
                    steps.push(Step {
                        sql: format!(
                            "ALTER TYPE {}.{} ADD VALUE {}{place};",
                            ident(schema),
                            ident(name),
                            literal(label)
                        ),
                        hazards: Vec::new(),
                    });
                }
                Change::Alter(steps)
            }
            Kind::Function if old.extra == new.extra => Change::Alter(vec![Step {
                sql: new.create.clone(),
                hazards: Vec::new(),
            }]),
            Kind::Comment => Change::Alter(vec![Step {
                sql: new.create.clone(),
                hazards: Vec::new(),
            }]),
            Kind::Publication if !old.def.starts_with("true") && !new.def.starts_with("true") => {
                let tables = new.extra.first().cloned().unwrap_or_default();
                let sql = if tables.is_empty() {
                    let old_tables = old.extra.first().cloned().unwrap_or_default();
                    format!(
                        "ALTER PUBLICATION {} DROP TABLE {old_tables};",
                        ident(&new.key)
                    )
                } else {
                    format!("ALTER PUBLICATION {} SET TABLE {tables};", ident(&new.key))
                };
                Change::Alter(vec![Step {
                    sql,
                    hazards: Vec::new(),
                }])
            }
            Kind::Column => Change::Alter(alter_column(old, new)),
            _ => Change::Recreate,
        }
    }

    fn drop_hazards(&self, o: &Object) -> Vec<(Hazard, String)> {
        match o.kind {
            Kind::Table => vec![(
                Hazard::DeletesData,
                format!("drops table {} and its rows", o.key),
            )],
            Kind::Column => vec![(
                Hazard::DeletesData,
                format!("drops column {} and its values", o.key),
            )],
            Kind::Schema => vec![(Hazard::DeletesData, format!("drops schema {}", o.key))],
            Kind::Enum | Kind::Domain | Kind::Composite | Kind::Sequence | Kind::Extension => {
                vec![(
                    Hazard::HasUntrackableDependencies,
                    format!(
                        "drops {} {}; what uses it must go first",
                        kind_name(o.kind),
                        o.key
                    ),
                )]
            }
            Kind::Function | Kind::View => vec![(
                Hazard::HasUntrackableDependencies,
                format!("drops {} {}; callers break", kind_name(o.kind), o.key),
            )],
            Kind::Index => vec![(
                Hazard::IndexDropped,
                format!("queries using {} slow down", o.key),
            )],
            Kind::Rls | Kind::Policy | Kind::Grant => {
                vec![(
                    Hazard::AuthzUpdate,
                    format!(
                        "changes who may access {}",
                        o.table.clone().unwrap_or_default()
                    ),
                )]
            }
            _ => Vec::new(),
        }
    }

    fn create_hazards(&self, o: &Object) -> Vec<(Hazard, String)> {
        let existing = o
            .table
            .as_ref()
            .is_some_and(|t| !self.new_tables.contains(t));
        match o.kind {
            Kind::Index if existing => vec![
                (
                    Hazard::IndexBuild,
                    format!("builds index {} on a table that may hold rows", o.key),
                ),
                (
                    Hazard::AcquiresAccessExclusiveLock,
                    "blocks writes while it builds (no CONCURRENTLY inside a migration)".into(),
                ),
            ],
            Kind::Constraint if existing => vec![(
                Hazard::AcquiresAccessExclusiveLock,
                format!("validates {} against every row under lock", o.key),
            )],
            Kind::ForeignKey if existing => vec![(
                Hazard::AcquiresShareRowExclusiveLock,
                format!("validates {} against every row, locking both tables", o.key),
            )],
            Kind::Column
                if existing
                    && o.create.contains(" NOT NULL")
                    && !o.create.contains(" DEFAULT ")
                    && !o.create.contains(" GENERATED ") =>
            {
                vec![(
                    Hazard::Correctness,
                    format!(
                        "adds NOT NULL column {} without a default; fails if the table has rows",
                        o.key
                    ),
                )]
            }
            Kind::Rls | Kind::Policy | Kind::Grant => {
                vec![(
                    Hazard::AuthzUpdate,
                    format!(
                        "changes who may access {}",
                        o.table.clone().unwrap_or_default()
                    ),
                )]
            }
            _ => Vec::new(),
        }
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Enum => "type",
        Kind::Domain => "domain",
        Kind::Composite => "type",
        Kind::Sequence => "sequence",
        Kind::Extension => "extension",
        Kind::Function => "function",
        Kind::View => "view",
        _ => "object",
    }
}

fn is_subsequence(old: &[String], new: &[String]) -> bool {
    let mut it = new.iter();
    old.iter().all(|o| it.any(|n| n == o))
}

/// `ALTER COLUMN` steps for a column whose definition changed; drop and add when its identity
/// or generation changed.
fn alter_column(old: &Object, new: &Object) -> Vec<Step> {
    let get = |o: &Object, i: usize| o.extra.get(i).cloned().unwrap_or_default();
    let (table, column) = (get(new, 0), get(new, 1));
    let at = format!("ALTER TABLE {table} ALTER COLUMN {column}");
    if get(old, 3) != get(new, 3) {
        return vec![
            Step {
                sql: old.drop.clone(),
                hazards: vec![(
                    Hazard::DeletesData,
                    format!("recreates column {} and loses its values", new.key),
                )],
            },
            Step {
                sql: new.create.clone(),
                hazards: Vec::new(),
            },
        ];
    }
    let mut steps = Vec::new();
    let type_changes = get(old, 2) != get(new, 2);
    if get(old, 4) != get(new, 4)
        && !get(old, 4).is_empty()
        && (get(new, 4).is_empty() || type_changes)
    {
        steps.push(Step {
            sql: format!("{at} DROP DEFAULT;"),
            hazards: Vec::new(),
        });
    }
    if get(old, 2) != get(new, 2) {
        let ty = get(new, 2);
        steps.push(Step {
            sql: format!("{at} TYPE {ty} USING {column}::{ty};"),
            hazards: vec![(
                Hazard::AcquiresAccessExclusiveLock,
                format!("rewrites the table to change the type of {}", new.key),
            )],
        });
    }
    if get(old, 4) != get(new, 4) && !get(new, 4).is_empty() {
        steps.push(Step {
            sql: format!("{at} SET DEFAULT {};", get(new, 4)),
            hazards: Vec::new(),
        });
    }
    if get(old, 5) != get(new, 5) {
        if get(new, 5) == "true" {
            steps.push(Step {
                sql: format!("{at} SET NOT NULL;"),
                hazards: vec![(
                    Hazard::AcquiresAccessExclusiveLock,
                    format!(
                        "scans the table under lock to check {} has no NULL",
                        new.key
                    ),
                )],
            });
        } else {
            steps.push(Step {
                sql: format!("{at} DROP NOT NULL;"),
                hazards: Vec::new(),
            });
        }
    }
    steps
}

/// The statements that turn `source` into `target`.
pub fn plan(source: &Catalog, target: &Catalog) -> Vec<Step> {
    let tables = |c: &Catalog| -> BTreeSet<String> {
        c.values()
            .filter(|o| {
                matches!(
                    o.kind,
                    Kind::Table | Kind::View | Kind::Function | Kind::Schema
                )
            })
            .map(|o| o.key.clone())
            .collect()
    };
    let (src_tables, dst_tables) = (tables(source), tables(target));
    let p = Planner {
        source,
        target,
        dropped_tables: src_tables.difference(&dst_tables).cloned().collect(),
        new_tables: dst_tables.difference(&src_tables).cloned().collect(),
    };
    let mut drops = Vec::new();
    let mut creates = Vec::new();
    for &kind in KINDS.iter().rev() {
        let mut olds = objects(p.source, kind);
        olds.reverse();
        for old in olds {
            let new = p.target.get(&(old.kind, old.key.clone()));
            let recreate = match new {
                None => true,
                Some(n) if n.def == old.def => false,
                Some(n) => matches!(p.change(old, n), Change::Recreate),
            };
            // Objects of a dropped table go with it; triggers, policies and foreign keys are dropped
            // first all the same: functions they use, or tables they reference, may go before it.
            let goes_with_table = !matches!(
                kind,
                Kind::Table | Kind::Trigger | Kind::Policy | Kind::ForeignKey
            ) && p.belongs_to(old, &p.dropped_tables);
            if !recreate || goes_with_table {
                continue;
            }
            drops.push(Step {
                sql: old.drop.clone(),
                hazards: p.drop_hazards(old),
            });
        }
    }
    for &kind in KINDS {
        for new in objects(p.target, kind) {
            // New tables bring their columns in CREATE TABLE, and their grants from the
            // schema's default privileges (the validation pass adds what differs).
            if matches!(kind, Kind::Column | Kind::Grant) && p.belongs_to(new, &p.new_tables) {
                continue;
            }
            match p.source.get(&(new.kind, new.key.clone())) {
                Some(old) if old.def == new.def => {}
                Some(old) => match p.change(old, new) {
                    Change::Alter(steps) => creates.extend(steps),
                    Change::Recreate => creates.push(Step {
                        sql: new.create.clone(),
                        hazards: p.create_hazards(new),
                    }),
                },
                None => creates.push(Step {
                    sql: new.create.clone(),
                    hazards: p.create_hazards(new),
                }),
            }
        }
    }
    drops.extend(creates);
    drops
}

/// The migration text: a header, then each statement with its hazards as comments. Empty when
/// there is nothing to do.
pub fn render(steps: &[Step]) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let mut out = String::from("-- Migration written by basalt db diff.\n");
    if steps
        .iter()
        .any(|s| s.sql.starts_with("CREATE OR REPLACE FUNCTION"))
    {
        out.push_str("SET check_function_bodies = false;\n");
    }
    for s in steps {
        out.push('\n');
        for (h, why) in &s.hazards {
            out.push_str(&format!("-- hazard {}: {why}\n", h.name()));
        }
        out.push_str(s.sql.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: Kind, key: &str, table: Option<&str>, def: &str, extra: &[&str]) -> Object {
        Object {
            kind,
            key: key.into(),
            table: table.map(str::to_string),
            def: def.into(),
            create: format!("CREATE {key} {def};"),
            drop: format!("DROP {key};"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn catalog(objs: Vec<Object>) -> Catalog {
        objs.into_iter()
            .map(|o| ((o.kind, o.key.clone()), o))
            .collect()
    }

    #[test]
    fn identical_catalogs_need_nothing() {
        let c = catalog(vec![obj(Kind::Table, "public.a", None, "", &[])]);
        assert!(plan(&c, &c).is_empty());
        assert_eq!(render(&[]), "");
    }

    #[test]
    fn drops_come_first_in_reverse_order_and_carry_hazards() {
        let src = catalog(vec![
            obj(Kind::Table, "public.old", None, "", &[]),
            obj(Kind::Index, "public.old_idx", Some("public.old"), "x", &[]),
            obj(Kind::Table, "public.keep", None, "", &[]),
            obj(
                Kind::Policy,
                "public.keep.p",
                Some("public.keep"),
                "p1",
                &[],
            ),
        ]);
        let dst = catalog(vec![
            obj(Kind::Table, "public.keep", None, "", &[]),
            obj(
                Kind::Policy,
                "public.keep.p",
                Some("public.keep"),
                "p2",
                &[],
            ),
            obj(Kind::Table, "public.new", None, "", &[]),
            obj(Kind::Index, "public.new_idx", Some("public.new"), "y", &[]),
        ]);
        let steps = plan(&src, &dst);
        let sql: Vec<&str> = steps.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            vec![
                "DROP public.keep.p;",
                "DROP public.old;",
                "CREATE public.new ;",
                "CREATE public.new_idx y;",
                "CREATE public.keep.p p2;",
            ]
        );
        assert_eq!(steps[1].hazards[0].0, Hazard::DeletesData);
        assert_eq!(steps[0].hazards[0].0, Hazard::AuthzUpdate);
        assert!(
            steps[3].hazards.is_empty(),
            "an index on a new table is harmless"
        );
        let text = render(&steps);
        assert!(
            text.contains(
                "-- hazard DELETES_DATA: drops table public.old and its rows\nDROP public.old;\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn enum_values_are_added_in_place() {
        let src = catalog(vec![obj(
            Kind::Enum,
            "public.mood",
            None,
            "sad,happy",
            &["sad", "happy"],
        )]);
        let dst = catalog(vec![obj(
            Kind::Enum,
            "public.mood",
            None,
            "meh,sad,ok,happy",
            &["meh", "sad", "ok", "happy"],
        )]);
        let sql: Vec<String> = plan(&src, &dst).into_iter().map(|s| s.sql).collect();
        assert_eq!(
            sql,
            vec![
                "ALTER TYPE public.mood ADD VALUE 'meh' BEFORE 'sad';",
                "ALTER TYPE public.mood ADD VALUE 'ok' AFTER 'sad';",
            ]
        );
    }

    #[test]
    fn columns_change_type_default_and_nullability() {
        let col = |ty: &str, default: &str, notnull: &str| {
            obj(
                Kind::Column,
                "public.t.c",
                Some("public.t"),
                &format!("{ty}|{default}|{notnull}"),
                &["\"public\".\"t\"", "c", ty, "", default, notnull],
            )
        };
        let src = catalog(vec![
            obj(Kind::Table, "public.t", None, "", &[]),
            col("integer", "0", "false"),
        ]);
        // (the old default goes first because the type changes under it)
        let dst = catalog(vec![
            obj(Kind::Table, "public.t", None, "", &[]),
            col("bigint", "1", "true"),
        ]);
        let steps = plan(&src, &dst);
        let sql: Vec<&str> = steps.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            vec![
                "ALTER TABLE \"public\".\"t\" ALTER COLUMN c DROP DEFAULT;",
                "ALTER TABLE \"public\".\"t\" ALTER COLUMN c TYPE bigint USING c::bigint;",
                "ALTER TABLE \"public\".\"t\" ALTER COLUMN c SET DEFAULT 1;",
                "ALTER TABLE \"public\".\"t\" ALTER COLUMN c SET NOT NULL;",
            ]
        );
        assert_eq!(steps[1].hazards[0].0, Hazard::AcquiresAccessExclusiveLock);
    }
}
