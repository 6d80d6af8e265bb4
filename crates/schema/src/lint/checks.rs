//! The rules themselves: each statement of a file is judged against the facts of all files and
//! against what the same file did before it (a table created earlier in the same file is new, so
//! locking it is harmless).

use std::collections::HashSet;

use pg_query::protobuf::{
    AlterTableType, ColumnDef, ConstrType, Constraint, ObjectType, TransactionStmtKind, TypeName,
};
use pg_query::NodeEnum;

use super::facts::{constraints, security_invoker, sets_search_path, Facts};
use super::rules::{self, Rule};
use crate::ast::{self, strings, QualName};
use crate::policy_expr;
use crate::source::{SqlFile, Statement};

/// A finding before positions and ignore comments are applied.
#[derive(Debug, Clone)]
pub struct RawFinding {
    pub rule: &'static Rule,
    pub offset: usize,
    pub message: String,
}

/// State of one file while its statements are checked.
pub struct FileCheck<'a> {
    pub file: &'a SqlFile,
    pub facts: &'a Facts,
    pub exposed: &'a [String],
    /// Tables created earlier in this file.
    created_here: HashSet<QualName>,
    in_explicit_transaction: bool,
    /// Statements in the file other than BEGIN/COMMIT.
    work_statements: usize,
    pub out: Vec<RawFinding>,
}

impl<'a> FileCheck<'a> {
    pub fn new(
        file: &'a SqlFile,
        statements: &[Statement],
        facts: &'a Facts,
        exposed: &'a [String],
    ) -> FileCheck<'a> {
        let work_statements = statements
            .iter()
            .filter(|s| !matches!(s.node, NodeEnum::TransactionStmt(_)))
            .count();
        FileCheck {
            file,
            facts,
            exposed,
            created_here: HashSet::new(),
            in_explicit_transaction: false,
            work_statements,
            out: Vec::new(),
        }
    }

    fn push(&mut self, rule: &'static Rule, offset: usize, message: String) {
        self.out.push(RawFinding {
            rule,
            offset,
            message,
        });
    }

    fn exposed(&self, name: &QualName) -> bool {
        self.exposed.contains(&name.schema)
    }

    fn at(&self, location: i32, fallback: usize) -> usize {
        if location >= 0 {
            location as usize
        } else {
            fallback
        }
    }

    /// Check one statement.
    pub fn statement(&mut self, st: &Statement) {
        match &st.node {
            NodeEnum::TransactionStmt(t) => {
                if t.kind == TransactionStmtKind::TransStmtBegin as i32
                    || t.kind == TransactionStmtKind::TransStmtStart as i32
                {
                    self.in_explicit_transaction = true;
                } else if t.kind == TransactionStmtKind::TransStmtCommit as i32
                    || t.kind == TransactionStmtKind::TransStmtRollback as i32
                {
                    self.in_explicit_transaction = false;
                }
            }
            NodeEnum::CreateStmt(c) => self.create_table(c, st),
            NodeEnum::IndexStmt(ix) => {
                let Some(rel) = ix.relation.as_ref() else {
                    return;
                };
                let table = QualName::of(rel);
                let at = self.at(rel.location, st.start);
                if ix.concurrent {
                    self.concurrently(st.start, "CREATE INDEX CONCURRENTLY");
                } else if !self.created_here.contains(&table) {
                    self.push(
                        &rules::REQUIRE_CONCURRENT_INDEX_CREATION,
                        at,
                        format!("CREATE INDEX on existing table {table} blocks writes while it builds; use CREATE INDEX CONCURRENTLY in a migration of its own"),
                    );
                }
            }
            NodeEnum::DropStmt(d) => {
                if d.concurrent {
                    self.concurrently(st.start, "DROP INDEX CONCURRENTLY");
                }
                if d.remove_type == ObjectType::ObjectTable as i32 {
                    for obj in &d.objects {
                        if let Some(NodeEnum::List(l)) = obj.node.as_ref() {
                            if let Some(name) = QualName::of_list(&l.items) {
                                self.push(
                                    &rules::BAN_DROP_TABLE,
                                    st.start,
                                    format!("DROP TABLE {name} deletes its data and breaks clients that use it"),
                                );
                            }
                        }
                    }
                }
            }
            NodeEnum::ReindexStmt(r) => {
                let concurrent = r.params.iter().any(|p| {
                    matches!(p.node.as_ref(), Some(NodeEnum::DefElem(d)) if d.defname == "concurrently")
                });
                if concurrent {
                    self.concurrently(st.start, "REINDEX CONCURRENTLY");
                }
            }
            NodeEnum::AlterTableStmt(a) => self.alter_table(a, st),
            NodeEnum::RenameStmt(r) => {
                let what = r.relation.as_ref().map(QualName::of);
                let at = r.relation.as_ref().map(|rv| rv.location).unwrap_or(-1);
                let at = self.at(at, st.start);
                if r.rename_type == ObjectType::ObjectColumn as i32 {
                    let table = what.map(|t| t.to_string()).unwrap_or_default();
                    self.push(
                        &rules::RENAMING_COLUMN,
                        at,
                        format!(
                            "renaming column {table}.{} to {} breaks clients that use the old name",
                            r.subname, r.newname
                        ),
                    );
                } else if r.rename_type == ObjectType::ObjectTable as i32 {
                    let table = what.map(|t| t.to_string()).unwrap_or_default();
                    self.push(
                        &rules::RENAMING_TABLE,
                        at,
                        format!(
                            "renaming table {table} to {} breaks clients that use the old name",
                            r.newname
                        ),
                    );
                }
            }
            // ADD VALUE without a neighbour (RENAME VALUE has an old value).
            NodeEnum::AlterEnumStmt(e)
                if e.old_val.is_empty()
                    && !e.new_val.is_empty()
                    && e.new_val_neighbor.is_empty() =>
            {
                let ty = QualName::of_list(&e.type_name)
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                self.push(
                    &rules::REQUIRE_ENUM_VALUE_ORDERING,
                    st.start,
                    format!("ALTER TYPE {ty} ADD VALUE '{}' appends the value at the end; say BEFORE or AFTER which value it belongs", e.new_val),
                );
            }
            NodeEnum::CreatePolicyStmt(p) => self.policy(p, st),
            NodeEnum::CreateFunctionStmt(f) => self.function(f, st),
            NodeEnum::ViewStmt(v) => {
                let Some(rel) = v.view.as_ref() else {
                    return;
                };
                let name = QualName::of(rel);
                if self.exposed(&name)
                    && !security_invoker(&v.options)
                    && !self.facts.invoker_views.contains(&name)
                {
                    self.push(
                        &rules::VIEW_WITHOUT_SECURITY_INVOKER,
                        self.at(rel.location, st.start),
                        format!("view {name} runs with its owner's rights and bypasses row level security; create it WITH (security_invoker = on)"),
                    );
                }
            }
            _ => {}
        }
    }

    fn concurrently(&mut self, at: usize, what: &str) {
        if self.in_explicit_transaction || self.work_statements > 1 {
            self.push(
                &rules::CONCURRENTLY_IN_TRANSACTION,
                at,
                format!("{what} cannot run inside a transaction, and this file runs as one; move it alone into its own migration"),
            );
        }
    }

    fn create_table(&mut self, c: &pg_query::protobuf::CreateStmt, st: &Statement) {
        let Some(rel) = c.relation.as_ref() else {
            return;
        };
        let name = QualName::of(rel);
        let at = self.at(rel.location, st.start);
        let ordinary = rel.relpersistence != "t" && c.partbound.is_none();
        self.created_here.insert(name.clone());
        if ordinary && self.exposed(&name) && !self.facts.rls_enabled.contains(&name) {
            self.push(
                &rules::TABLE_WITHOUT_RLS,
                at,
                format!("table {name} is exposed over the API but row level security is never enabled; add ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"),
            );
        }
        if ordinary && !self.facts.has_primary_key.contains(&name) {
            self.push(
                &rules::MISSING_PRIMARY_KEY,
                at,
                format!("table {name} has no primary key"),
            );
        }
        for elt in &c.table_elts {
            match elt.node.as_ref() {
                Some(NodeEnum::ColumnDef(col)) => {
                    self.column_type(&name, col, st.start);
                    for con in constraints(&col.constraints) {
                        self.foreign_key(&name, con, Some(&col.colname), st.start);
                    }
                }
                Some(NodeEnum::Constraint(con)) => self.foreign_key(&name, con, None, st.start),
                _ => {}
            }
        }
    }

    fn alter_table(&mut self, a: &pg_query::protobuf::AlterTableStmt, st: &Statement) {
        let Some(rel) = a.relation.as_ref() else {
            return;
        };
        let table = QualName::of(rel);
        let existing = !self.created_here.contains(&table);
        for cmd in &a.cmds {
            let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                continue;
            };
            let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
            let sub = cmd.subtype;
            if sub == AlterTableType::AtAddColumn as i32 {
                let Some(NodeEnum::ColumnDef(col)) = def else {
                    continue;
                };
                self.column_type(&table, col, st.start);
                for con in constraints(&col.constraints) {
                    self.foreign_key(&table, con, Some(&col.colname), st.start);
                }
                if existing && required_without_default(col) {
                    self.push(
                        &rules::ADDING_REQUIRED_FIELD,
                        self.at(col.location, st.start),
                        format!("adding NOT NULL column {} to existing table {table} without a default fails when the table has rows", col.colname),
                    );
                }
            } else if sub == AlterTableType::AtDropColumn as i32 {
                self.push(
                    &rules::BAN_DROP_COLUMN,
                    st.start,
                    format!("dropping column {table}.{} deletes its data and breaks clients that read it", cmd.name),
                );
            } else if sub == AlterTableType::AtAlterColumnType as i32 {
                if let Some(NodeEnum::ColumnDef(col)) = def {
                    if let Some(t) = col.type_name.as_ref() {
                        self.type_name(&table, &cmd.name, t, st.start);
                    }
                    if existing {
                        self.push(
                            &rules::CHANGING_COLUMN_TYPE,
                            self.at(col.location, st.start),
                            format!("changing the type of {table}.{} rewrites the table under an ACCESS EXCLUSIVE lock", cmd.name),
                        );
                    }
                }
            } else if sub == AlterTableType::AtAddConstraint as i32 {
                let Some(NodeEnum::Constraint(con)) = def else {
                    continue;
                };
                self.foreign_key(&table, con, None, st.start);
                let checked = con.contype == ConstrType::ConstrCheck as i32
                    || con.contype == ConstrType::ConstrForeign as i32;
                if existing && checked && !con.skip_validation {
                    let what = if con.contype == ConstrType::ConstrCheck as i32 {
                        "CHECK"
                    } else {
                        "FOREIGN KEY"
                    };
                    let name = if con.conname.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", con.conname)
                    };
                    self.push(
                        &rules::CONSTRAINT_MISSING_NOT_VALID,
                        self.at(con.location, st.start),
                        format!("adding {what} constraint{name} to existing table {table} scans it under lock; add it NOT VALID, then VALIDATE CONSTRAINT in a later migration"),
                    );
                }
            }
        }
    }

    fn column_type(&mut self, table: &QualName, col: &ColumnDef, fallback: usize) {
        if let Some(t) = col.type_name.as_ref() {
            self.type_name(table, &col.colname, t, fallback);
        }
    }

    fn type_name(&mut self, table: &QualName, column: &str, t: &TypeName, fallback: usize) {
        let names = strings(&t.names);
        let base = ast::type_base(t);
        let builtin = names.len() == 1 || names.first().is_some_and(|s| s == "pg_catalog");
        if !builtin {
            return;
        }
        let at = self.at(t.location, fallback);
        match base.as_str() {
            "timestamp" => self.push(
                &rules::PREFER_TIMESTAMPTZ,
                at,
                format!("column {table}.{column} is timestamp without time zone; use timestamptz"),
            ),
            "varchar" if !t.typmods.is_empty() => self.push(
                &rules::PREFER_TEXT_FIELD,
                at,
                format!("column {table}.{column} is varchar(n); use text with a CHECK (length(…) <= n) constraint"),
            ),
            "bpchar" => self.push(
                &rules::BAN_CHAR_FIELD,
                at,
                format!("column {table}.{column} is char(n); use text"),
            ),
            _ => {}
        }
    }

    fn foreign_key(
        &mut self,
        table: &QualName,
        con: &Constraint,
        column: Option<&String>,
        fallback: usize,
    ) {
        if con.contype != ConstrType::ConstrForeign as i32 {
            return;
        }
        let cols = match column {
            Some(c) => vec![c.clone()],
            None => strings(&con.fk_attrs),
        };
        if cols.is_empty() || self.facts.is_indexed(table, &cols) {
            return;
        }
        let target = con
            .pktable
            .as_ref()
            .map(|r| QualName::of(r).to_string())
            .unwrap_or_default();
        self.push(
            &rules::UNINDEXED_FOREIGN_KEY,
            self.at(con.location, fallback),
            format!(
                "foreign key {table}({}) → {target} has no index leading with its columns; add CREATE INDEX ON {table} ({})",
                cols.join(", "),
                cols.join(", ")
            ),
        );
    }

    fn policy(&mut self, p: &pg_query::protobuf::CreatePolicyStmt, st: &Statement) {
        let Some(rel) = p.table.as_ref() else {
            return;
        };
        let table = QualName::of(rel);
        let at = st.start;
        if self.facts.created_tables.contains(&table) && !self.facts.rls_enabled.contains(&table) {
            self.push(
                &rules::POLICY_WITHOUT_RLS,
                at,
                format!("policy \"{}\" is on table {table}, whose row level security is never enabled, so it has no effect", p.policy_name),
            );
        }
        let exprs: Vec<&pg_query::Node> = p
            .qual
            .iter()
            .chain(p.with_check.iter())
            .map(|b| b.as_ref())
            .collect();
        let mut per_row = Vec::new();
        let mut metadata = false;
        for e in &exprs {
            per_row.extend(policy_expr::per_row_calls(e));
            metadata |= policy_expr::uses_user_metadata(e);
        }
        for (name, loc) in per_row {
            self.push(
                &rules::POLICY_AUTH_CALL_PER_ROW,
                self.at(loc, at),
                format!("policy \"{}\" on {table} calls {name}() for every row; write (select {name}()) so it runs once", p.policy_name),
            );
        }
        if metadata {
            self.push(
                &rules::POLICY_USES_USER_METADATA,
                at,
                format!("policy \"{}\" on {table} trusts user_metadata, which users can edit themselves; use app_metadata", p.policy_name),
            );
        }
        let cmd = p.cmd_name.to_ascii_lowercase();
        let writes = matches!(cmd.as_str(), "insert" | "update" | "delete" | "all");
        let always = p.qual.as_deref().is_some_and(ast::is_always_true)
            || p.with_check.as_deref().is_some_and(ast::is_always_true);
        if p.permissive && writes && always {
            let roles: Vec<String> = p
                .roles
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::RoleSpec(rs)) if rs.rolename.is_empty() => {
                        Some("public".to_string())
                    }
                    Some(NodeEnum::RoleSpec(rs)) => Some(rs.rolename.clone()),
                    _ => None,
                })
                .collect();
            let roles = if roles.is_empty() {
                "public".to_string()
            } else {
                roles.join(", ")
            };
            let anon = roles.contains("anon") || roles.contains("public");
            self.push(
                &rules::POLICY_ALWAYS_TRUE,
                at,
                format!(
                    "policy \"{}\" lets {}{roles}) {} every row of {table}",
                    p.policy_name,
                    if anon { "anonymous callers (" } else { "(" },
                    if cmd == "all" { "write" } else { cmd.as_str() },
                ),
            );
        }
    }

    fn function(&mut self, f: &pg_query::protobuf::CreateFunctionStmt, st: &Statement) {
        let name = QualName::of_list(&f.funcname);
        let mut definer = false;
        let mut search_path = false;
        let mut language = String::from("sql");
        for o in &f.options {
            let Some(NodeEnum::DefElem(d)) = o.node.as_ref() else {
                continue;
            };
            match d.defname.as_str() {
                "security" => {
                    definer = matches!(
                        d.arg.as_ref().and_then(|a| a.node.as_ref()),
                        Some(NodeEnum::Boolean(b)) if b.boolval
                    )
                }
                "set" => search_path |= sets_search_path(d),
                "language" => {
                    if let Some(NodeEnum::String(s)) = d.arg.as_ref().and_then(|a| a.node.as_ref())
                    {
                        language = s.sval.to_ascii_lowercase();
                    }
                }
                _ => {}
            }
        }
        let shown = name.as_ref().map(|n| n.to_string()).unwrap_or_default();
        let fixed_later = name
            .as_ref()
            .is_some_and(|n| self.facts.search_path_set.contains(n));
        if !search_path && !fixed_later {
            if definer {
                self.push(
                    &rules::SECURITY_DEFINER_SEARCH_PATH,
                    st.start,
                    format!("SECURITY DEFINER function {shown} has no fixed search_path; add SET search_path = ''"),
                );
            } else {
                self.push(
                    &rules::FUNCTION_SEARCH_PATH_MUTABLE,
                    st.start,
                    format!("function {shown} has no fixed search_path; add SET search_path = ''"),
                );
            }
        }
        if language == "plpgsql" {
            let text = &self.file.text[st.start..st.end.min(self.file.text.len())];
            // Only the parser's verdict counts: the JSON rendering of some valid bodies does not
            // decode, which says nothing about the body. The offline parser also knows no catalog
            // beyond pg_catalog and public (a `DECLARE v app.some_type;` answers "Not
            // implemented"): that is its limit, not an error in the body.
            if let Err(pg_query::Error::Parse(message)) = pg_query::parse_plpgsql(text) {
                if message.starts_with("Not implemented") {
                    return;
                }
                self.push(
                    &rules::PLPGSQL_SYNTAX,
                    st.start,
                    format!("body of function {shown}: {message}"),
                );
            }
        }
    }
}

fn required_without_default(col: &ColumnDef) -> bool {
    let mut not_null = col.is_not_null;
    let mut filled = col.raw_default.is_some() || !col.identity.is_empty();
    for c in constraints(&col.constraints) {
        let k = c.contype;
        if k == ConstrType::ConstrNotnull as i32 || k == ConstrType::ConstrPrimary as i32 {
            not_null = true;
        }
        if k == ConstrType::ConstrDefault as i32
            || k == ConstrType::ConstrIdentity as i32
            || k == ConstrType::ConstrGenerated as i32
        {
            filled = true;
        }
    }
    not_null && !filled
}
