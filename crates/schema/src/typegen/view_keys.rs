//! Which table column each view column comes from, read from the view's stored rule
//! (`pg_rewrite.ev_action`, a `pg_node_tree`): the `resorigtbl`/`resorigcol` of the top-level
//! target list. Type generation uses it to give views the foreign-key relationships of the
//! columns they expose, as PostgREST does. Pure.

/// A parsed `pg_node_tree` value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Node(String, Vec<(String, Vec<Value>)>),
    List(Vec<Value>),
    Atom(String),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let name = self.atom();
                let mut fields = Vec::new();
                loop {
                    match self.peek()? {
                        b'}' => {
                            self.i += 1;
                            return Some(Value::Node(name, fields));
                        }
                        b':' => {
                            self.i += 1;
                            let field = self.atom();
                            let mut values = Vec::new();
                            while !matches!(self.peek()?, b':' | b'}') {
                                values.push(self.value()?);
                            }
                            fields.push((field, values));
                        }
                        _ => {
                            self.value()?;
                        }
                    }
                }
            }
            open @ (b'(' | b'[') => {
                self.i += 1;
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                while self.peek()? != close {
                    items.push(self.value()?);
                }
                self.i += 1;
                Some(Value::List(items))
            }
            b'"' => {
                self.i += 1;
                let mut out = Vec::new();
                while self.i < self.s.len() && self.s[self.i] != b'"' {
                    if self.s[self.i] == b'\\' {
                        self.i += 1;
                    }
                    if let Some(&c) = self.s.get(self.i) {
                        out.push(c);
                    }
                    self.i += 1;
                }
                self.i += 1;
                Some(Value::Atom(String::from_utf8_lossy(&out).into_owned()))
            }
            _ => Some(Value::Atom(self.atom())),
        }
    }

    fn atom(&mut self) -> String {
        self.skip_ws();
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            if c.is_ascii_whitespace() || matches!(c, b'{' | b'}' | b'(' | b')' | b'[' | b']') {
                break;
            }
            if c == b'\\' {
                self.i += 1;
                if let Some(&e) = self.s.get(self.i) {
                    out.push(e);
                }
                self.i += 1;
                continue;
            }
            out.push(c);
            self.i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn field<'a>(fields: &'a [(String, Vec<Value>)], name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(f, _)| f == name)
        .and_then(|(_, v)| v.first())
}

fn atom<'a>(fields: &'a [(String, Vec<Value>)], name: &str) -> Option<&'a str> {
    match field(fields, name)? {
        Value::Atom(a) => Some(a.as_str()),
        _ => None,
    }
}

/// `(view column, its number, origin relation oid, origin column number)` for every column of
/// the view that is a plain reference to a table or view column, in column order.
pub fn column_origins(ev_action: &str) -> Vec<(String, i16, u32, i16)> {
    let mut p = Parser {
        s: ev_action.as_bytes(),
        i: 0,
    };
    let Some(Value::List(queries)) = p.value() else {
        return Vec::new();
    };
    let Some(Value::Node(_, query)) = queries.first() else {
        return Vec::new();
    };
    let Some(Value::List(targets)) = field(query, "targetList") else {
        return Vec::new();
    };
    targets
        .iter()
        .filter_map(|t| {
            let Value::Node(_, f) = t else {
                return None;
            };
            if atom(f, "resjunk") == Some("true") {
                return None;
            }
            let name = atom(f, "resname")?.to_string();
            let resno: i16 = atom(f, "resno")?.parse().ok()?;
            let table: u32 = atom(f, "resorigtbl")?.parse().ok()?;
            let column: i16 = atom(f, "resorigcol")?.parse().ok()?;
            (table != 0 && column > 0).then_some((name, resno, table, column))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_origins_of_the_top_level_target_list() {
        let tree = r#"({QUERY :commandType 1 :cteList <> :rtable ({RANGETBLENTRY :eref {ALIAS :aliasname s :colnames ("id" "user\ id")} :relid 30767 :selectedCols (b 9 11)}) :jointree {FROMEXPR :fromlist ({RANGETBLREF :rtindex 3}) :quals <>} :targetList ({TARGETENTRY :expr {VAR :varno 3 :varattno 2 :vartype 2950 :varnosyn 3 :location 27} :resno 1 :resname uid :ressortgroupref 0 :resorigtbl 30767 :resorigcol 2 :resjunk false} {TARGETENTRY :expr {CONST :consttype 23 :constlen 4 :constbyval true :constisnull false :location 7 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]} :resno 2 :resname one :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false} {TARGETENTRY :expr {VAR :varno 3 :varattno 4} :resno 3 :resname my\ plan :ressortgroupref 0 :resorigtbl 30767 :resorigcol 4 :resjunk false}) :override 0})"#;
        assert_eq!(
            column_origins(tree),
            vec![
                ("uid".to_string(), 1, 30767, 2),
                ("my plan".to_string(), 3, 30767, 4)
            ]
        );
        assert!(column_origins("").is_empty());
        assert!(column_origins("({QUERY :targetList <>})").is_empty());
    }
}

/// One foreign key, by numbers and names.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: String,
    pub table: u32,
    pub referenced: u32,
    pub columns: Vec<i16>,
    pub referenced_columns: Vec<i16>,
}

/// The origins of a view's columns, followed through views of views to a table.
pub struct Origins {
    /// view oid → `(column, number, origin oid, origin column)`.
    pub views: std::collections::HashMap<u32, Vec<(String, i16, u32, i16)>>,
}

impl Origins {
    fn resolve(&self, mut rel: u32, mut col: i16) -> (u32, i16) {
        for _ in 0..32 {
            let Some(cols) = self.views.get(&rel) else {
                break;
            };
            let Some((_, _, r, c)) = cols.iter().find(|(_, n, _, _)| *n == col) else {
                break;
            };
            rel = *r;
            col = *c;
        }
        (rel, col)
    }

    /// For `view` and key columns `cols` of relation `rel`: per key column, the view columns
    /// that expose it (None when one is not exposed).
    pub fn key_dependency(&self, view: u32, rel: u32, cols: &[i16]) -> Option<Vec<Vec<String>>> {
        let view_cols = self.views.get(&view)?;
        let mut out = Vec::new();
        for k in cols {
            let exposing: Vec<String> = view_cols
                .iter()
                .filter(|(_, _, r, c)| self.resolve(*r, *c) == (rel, *k))
                .map(|(name, _, _, _)| name.clone())
                .collect();
            if exposing.is_empty() {
                return None;
            }
            out.push(exposing);
        }
        Some(out)
    }
}

/// Every choice of one view column per key column.
pub fn permutations(deps: &[Vec<String>]) -> Vec<Vec<String>> {
    deps.iter().fold(vec![Vec::new()], |acc, options| {
        acc.iter()
            .flat_map(|prefix| {
                options.iter().map(move |o| {
                    let mut p = prefix.clone();
                    p.push(o.clone());
                    p
                })
            })
            .collect()
    })
}
