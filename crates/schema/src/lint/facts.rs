//! What the whole set of migration files establishes, collected before any rule runs: which
//! tables get row level security, primary keys and indexes, which views become
//! `security_invoker` and which functions get a fixed `search_path` later on. Rules judge a
//! statement against the final state, so enabling RLS in a later file is as good as in the same.

use std::collections::{HashMap, HashSet};

use pg_query::protobuf::{AlterTableType, ConstrType, Constraint, ObjectType};
use pg_query::{Node, NodeEnum};

use crate::ast::{strings, QualName};
use crate::source::Statement;

/// Facts over every linted file.
#[derive(Debug, Default)]
pub struct Facts {
    pub created_tables: HashSet<QualName>,
    pub rls_enabled: HashSet<QualName>,
    pub has_primary_key: HashSet<QualName>,
    /// Column lists of the indexes (plain columns only; an expression ends the list).
    pub indexes: HashMap<QualName, Vec<Vec<String>>>,
    pub invoker_views: HashSet<QualName>,
    pub search_path_set: HashSet<QualName>,
}

impl Facts {
    /// Collect facts from the statements of every file, in order.
    pub fn collect<'a>(statements: impl Iterator<Item = &'a Statement>) -> Facts {
        let mut facts = Facts::default();
        for st in statements {
            facts.add(&st.node);
        }
        facts
    }

    /// Whether some index's leading columns are exactly `cols` (in any order).
    pub fn is_indexed(&self, table: &QualName, cols: &[String]) -> bool {
        let mut want: Vec<&String> = cols.iter().collect();
        want.sort();
        self.indexes.get(table).is_some_and(|idx| {
            idx.iter().any(|ix| {
                if ix.len() < cols.len() {
                    return false;
                }
                let mut lead: Vec<&String> = ix[..cols.len()].iter().collect();
                lead.sort();
                lead == want
            })
        })
    }

    fn add(&mut self, node: &NodeEnum) {
        match node {
            NodeEnum::CreateStmt(c) => {
                let Some(rel) = c.relation.as_ref() else {
                    return;
                };
                let table = QualName::of(rel);
                self.created_tables.insert(table.clone());
                for elt in &c.table_elts {
                    match elt.node.as_ref() {
                        Some(NodeEnum::ColumnDef(col)) => {
                            for con in constraints(&col.constraints) {
                                self.constraint(&table, con, Some(&col.colname));
                            }
                        }
                        Some(NodeEnum::Constraint(con)) => self.constraint(&table, con, None),
                        _ => {}
                    }
                }
            }
            NodeEnum::IndexStmt(ix) => {
                if let Some(rel) = ix.relation.as_ref() {
                    let mut cols = Vec::new();
                    for p in &ix.index_params {
                        match p.node.as_ref() {
                            Some(NodeEnum::IndexElem(e)) if !e.name.is_empty() => {
                                cols.push(e.name.clone())
                            }
                            _ => break,
                        }
                    }
                    self.indexes
                        .entry(QualName::of(rel))
                        .or_default()
                        .push(cols);
                }
            }
            NodeEnum::AlterTableStmt(a) => {
                let Some(rel) = a.relation.as_ref() else {
                    return;
                };
                let name = QualName::of(rel);
                for cmd in &a.cmds {
                    let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                        continue;
                    };
                    let sub = cmd.subtype;
                    if sub == AlterTableType::AtEnableRowSecurity as i32 {
                        self.rls_enabled.insert(name.clone());
                    } else if sub == AlterTableType::AtDisableRowSecurity as i32 {
                        self.rls_enabled.remove(&name);
                    } else if sub == AlterTableType::AtAddConstraint as i32 {
                        if let Some(NodeEnum::Constraint(con)) =
                            cmd.def.as_ref().and_then(|d| d.node.as_ref())
                        {
                            self.constraint(&name, con, None);
                        }
                    } else if sub == AlterTableType::AtAddColumn as i32 {
                        if let Some(NodeEnum::ColumnDef(col)) =
                            cmd.def.as_ref().and_then(|d| d.node.as_ref())
                        {
                            for con in constraints(&col.constraints) {
                                self.constraint(&name, con, Some(&col.colname));
                            }
                        }
                    } else if sub == AlterTableType::AtSetRelOptions as i32
                        && a.objtype == ObjectType::ObjectView as i32
                    {
                        if let Some(NodeEnum::List(l)) =
                            cmd.def.as_ref().and_then(|d| d.node.as_ref())
                        {
                            if security_invoker(&l.items) {
                                self.invoker_views.insert(name.clone());
                            }
                        }
                    }
                }
            }
            NodeEnum::AlterFunctionStmt(f) => {
                let sets_path = f.actions.iter().any(|a| match a.node.as_ref() {
                    Some(NodeEnum::DefElem(d)) => d.defname == "set" && sets_search_path(d),
                    _ => false,
                });
                if let (true, Some(func)) = (sets_path, f.func.as_ref()) {
                    if let Some(name) = QualName::of_list(&func.objname) {
                        self.search_path_set.insert(name);
                    }
                }
            }
            _ => {}
        }
    }

    fn constraint(&mut self, table: &QualName, con: &Constraint, column: Option<&String>) {
        let kind = con.contype;
        let keys: Vec<String> = match column {
            Some(c) => vec![c.clone()],
            None => strings(&con.keys),
        };
        if kind == ConstrType::ConstrPrimary as i32 {
            self.has_primary_key.insert(table.clone());
        }
        if (kind == ConstrType::ConstrPrimary as i32 || kind == ConstrType::ConstrUnique as i32)
            && !keys.is_empty()
        {
            self.indexes.entry(table.clone()).or_default().push(keys);
        }
    }
}

/// The `Constraint` nodes of a list.
pub fn constraints(nodes: &[Node]) -> impl Iterator<Item = &Constraint> {
    nodes.iter().filter_map(|n| match n.node.as_ref() {
        Some(NodeEnum::Constraint(c)) => Some(c.as_ref()),
        _ => None,
    })
}

/// Whether a `SET …` option of a function sets `search_path`.
pub fn sets_search_path(d: &pg_query::protobuf::DefElem) -> bool {
    matches!(
        d.arg.as_ref().and_then(|a| a.node.as_ref()),
        Some(NodeEnum::VariableSetStmt(v)) if v.name == "search_path"
    )
}

/// Whether relation options turn `security_invoker` on.
pub fn security_invoker(options: &[Node]) -> bool {
    options.iter().any(|o| match o.node.as_ref() {
        Some(NodeEnum::DefElem(d)) if d.defname == "security_invoker" => {
            match d.arg.as_ref().and_then(|a| a.node.as_ref()) {
                None => true,
                Some(NodeEnum::String(s)) => {
                    matches!(
                        s.sval.to_ascii_lowercase().as_str(),
                        "true" | "on" | "yes" | "1"
                    )
                }
                Some(NodeEnum::Boolean(b)) => b.boolval,
                Some(NodeEnum::Integer(i)) => i.ival != 0,
                Some(NodeEnum::TypeName(t)) => {
                    matches!(
                        crate::ast::type_base(t).to_ascii_lowercase().as_str(),
                        "true" | "on" | "yes"
                    )
                }
                _ => false,
            }
        }
        _ => false,
    })
}
