//! What a project's migrations declare, read statically from the files: the tables that should
//! exist (after later drops and renames), the enum types with their labels in order, and the
//! storage buckets inserted into `storage.buckets`. Pure.

use std::collections::BTreeMap;

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use crate::ast::{strings, QualName};
use crate::error::Error;
use crate::source::SqlFile;

/// The declarations of a set of migration files.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Declared {
    pub tables: Vec<QualName>,
    pub enums: BTreeMap<QualName, Vec<String>>,
    pub buckets: Vec<String>,
}

impl Declared {
    /// Read the declarations of `files`, in the order they apply.
    pub fn from_files(files: &[SqlFile]) -> Result<Declared, Error> {
        let mut d = Declared::default();
        for f in files {
            for st in f.parse()?.statements {
                d.add(&st.node);
            }
        }
        Ok(d)
    }

    fn add(&mut self, node: &NodeEnum) {
        match node {
            NodeEnum::CreateStmt(c) => {
                if let Some(rel) = c.relation.as_ref() {
                    if rel.relpersistence != "t" {
                        let name = QualName::of(rel);
                        if !self.tables.contains(&name) {
                            self.tables.push(name);
                        }
                    }
                }
            }
            NodeEnum::DropStmt(d) if d.remove_type == ObjectType::ObjectTable as i32 => {
                for obj in &d.objects {
                    if let Some(NodeEnum::List(l)) = obj.node.as_ref() {
                        if let Some(name) = QualName::of_list(&l.items) {
                            self.tables.retain(|t| *t != name);
                        }
                    }
                }
            }
            NodeEnum::DropStmt(d) if d.remove_type == ObjectType::ObjectType as i32 => {
                for obj in &d.objects {
                    if let Some(NodeEnum::TypeName(t)) = obj.node.as_ref() {
                        if let Some(name) = QualName::of_list(&t.names) {
                            self.enums.remove(&name);
                        }
                    }
                }
            }
            NodeEnum::RenameStmt(r) if r.rename_type == ObjectType::ObjectTable as i32 => {
                if let Some(rel) = r.relation.as_ref() {
                    let old = QualName::of(rel);
                    for t in self.tables.iter_mut().filter(|t| **t == old) {
                        t.name = r.newname.clone();
                    }
                }
            }
            NodeEnum::CreateEnumStmt(e) => {
                if let Some(name) = QualName::of_list(&e.type_name) {
                    self.enums.insert(name, strings(&e.vals));
                }
            }
            NodeEnum::AlterEnumStmt(e) => {
                let Some(name) = QualName::of_list(&e.type_name) else {
                    return;
                };
                let Some(labels) = self.enums.get_mut(&name) else {
                    return;
                };
                if !e.old_val.is_empty() {
                    for l in labels.iter_mut().filter(|l| **l == e.old_val) {
                        *l = e.new_val.clone();
                    }
                } else if !e.new_val.is_empty() && !labels.contains(&e.new_val) {
                    let at = labels
                        .iter()
                        .position(|l| *l == e.new_val_neighbor)
                        .map(|p| if e.new_val_is_after { p + 1 } else { p })
                        .unwrap_or(labels.len());
                    labels.insert(at, e.new_val.clone());
                }
            }
            NodeEnum::InsertStmt(i) => {
                let Some(rel) = i.relation.as_ref() else {
                    return;
                };
                if QualName::of(rel) != QualName::new("storage", "buckets") {
                    return;
                }
                let cols: Vec<String> = i
                    .cols
                    .iter()
                    .filter_map(|c| match c.node.as_ref() {
                        Some(NodeEnum::ResTarget(rt)) => Some(rt.name.clone()),
                        _ => None,
                    })
                    .collect();
                let Some(pos) = cols.iter().position(|c| c == "id") else {
                    return;
                };
                let Some(NodeEnum::SelectStmt(s)) =
                    i.select_stmt.as_ref().and_then(|s| s.node.as_ref())
                else {
                    return;
                };
                for row in &s.values_lists {
                    if let Some(NodeEnum::List(l)) = row.node.as_ref() {
                        if let Some(NodeEnum::AConst(c)) =
                            l.items.get(pos).and_then(|n| n.node.as_ref())
                        {
                            if let Some(pg_query::protobuf::a_const::Val::Sval(s)) = &c.val {
                                if !self.buckets.contains(&s.sval) {
                                    self.buckets.push(s.sval.clone());
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_drops_renames_and_enum_changes() {
        let files = vec![
            SqlFile::new(
                "1.sql",
                "create table a (id int); create table public.b (id int); create temp table t (x int);
                 create type public.mood as enum ('sad', 'happy');
                 insert into storage.buckets (id, name, public) values ('avatars', 'avatars', true), ('docs', 'docs', false);",
            ),
            SqlFile::new(
                "2.sql",
                "drop table public.a; alter table b rename to c;
                 alter type mood add value 'ok' after 'sad'; alter type mood rename value 'happy' to 'glad';",
            ),
        ];
        let d = Declared::from_files(&files).expect("parses");
        assert_eq!(d.tables, vec![QualName::new("public", "c")]);
        assert_eq!(
            d.enums.get(&QualName::new("public", "mood")),
            Some(&vec![
                "sad".to_string(),
                "ok".to_string(),
                "glad".to_string()
            ])
        );
        assert_eq!(d.buckets, vec!["avatars", "docs"]);
    }
}
