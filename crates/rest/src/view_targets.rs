//! Where a view's columns come from, read from the view's stored query (`pg_rewrite.ev_action`,
//! Postgres' node-tree text): each output column of the top-level query names the table (or
//! view) and column it reads, even under another name (`s.id AS sponsor_id`). Pure: unit-tested
//! without a database.

/// One output column of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    /// The view's column name.
    pub name: String,
    /// The relation oid and column number it reads, when it is a plain column reference.
    pub origin: Option<(u32, i32)>,
}

/// A parsed node-tree value.
#[derive(Debug)]
enum Node {
    /// `{NAME :field value ...}`
    Object(Vec<(String, Node)>),
    /// `( ... )`
    List(Vec<Node>),
    /// Anything else (numbers, names, `<>`, `true`, datum bytes).
    Atom(String),
}

/// The output columns of the view whose `_RETURN` rule has this `ev_action` (`None` when the
/// text is not a query the parser understands).
pub fn target_columns(ev_action: &str) -> Option<Vec<TargetColumn>> {
    let tokens = tokenize(ev_action);
    let mut at = 0;
    let Node::List(queries) = parse(&tokens, &mut at)? else {
        return None;
    };
    let Node::Object(query) = queries.first()? else {
        return None;
    };
    let entries = match field(query, "targetList")? {
        Node::List(entries) => entries.as_slice(),
        // A view of no columns (`SELECT FROM t`).
        Node::Atom(a) if a == "<>" => &[],
        _ => return None,
    };
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Node::Object(entry) = e else { return None };
        if atom(entry, "resjunk") == Some("true") {
            continue;
        }
        let name = atom(entry, "resname")?.to_string();
        let table: u32 = atom(entry, "resorigtbl")?.parse().ok()?;
        let column: i32 = atom(entry, "resorigcol")?.parse().ok()?;
        out.push(TargetColumn {
            name,
            origin: (table != 0 && column > 0).then_some((table, column)),
        });
    }
    Some(out)
}

fn field<'n>(fields: &'n [(String, Node)], name: &str) -> Option<&'n Node> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn atom<'n>(fields: &'n [(String, Node)], name: &str) -> Option<&'n str> {
    match field(fields, name)? {
        Node::Atom(a) => Some(a),
        _ => None,
    }
}

/// Split node-tree text into `{ } ( )` and words; a backslash keeps the next character in the
/// word (names with spaces or parentheses are written escaped).
fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            '{' | '}' | '(' | ')' => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn parse(tokens: &[String], at: &mut usize) -> Option<Node> {
    let token = tokens.get(*at)?;
    *at += 1;
    match token.as_str() {
        "(" => {
            let mut items = Vec::new();
            while tokens.get(*at)? != ")" {
                items.push(parse(tokens, at)?);
            }
            *at += 1;
            Some(Node::List(items))
        }
        "{" => {
            // The node's type name, then `:field value` pairs.
            *at += 1;
            let mut fields = Vec::new();
            while tokens.get(*at)? != "}" {
                let key = tokens.get(*at)?.strip_prefix(':')?.to_string();
                *at += 1;
                // A field whose value is absent is followed directly by the next field.
                let value = match tokens.get(*at)? {
                    t if t.starts_with(':') || t == "}" => Node::Atom(String::new()),
                    _ => parse(tokens, at)?,
                };
                fields.push((key, value));
            }
            *at += 1;
            Some(Node::Object(fields))
        }
        ")" | "}" => None,
        word => {
            // A datum is its length then its bytes: `4 [ 1 0 0 0 ]`, one value.
            if tokens.get(*at).is_some_and(|t| t == "[") {
                while tokens.get(*at)? != "]" {
                    *at += 1;
                }
                *at += 1;
            }
            Some(Node::Atom(word.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A view `SELECT c.id, s.id AS sponsor_id FROM competitors c LEFT JOIN sponsors s ...`,
    /// abridged, with a subquery and a constant to step over.
    const VIEW: &str = r#"({QUERY :commandType 1 :utilityStmt <> :rtable ({RANGETBLENTRY :alias {ALIAS :aliasname c :colnames <>} :eref {ALIAS :aliasname c :colnames ("id" "full_name")} :relid 20758 :selectedCols (b 8 10)} {RANGETBLENTRY :alias <> :subquery {QUERY :commandType 1 :targetList ({TARGETENTRY :expr {VAR :varno 1} :resno 1 :resname x :resorigtbl 1 :resorigcol 1 :resjunk false})}}) :jointree {FROMEXPR :fromlist ({RANGETBLREF :rtindex 1}) :quals {CONST :consttype 23 :constlen 4 :constvalue 4 [ 1 0 0 0 ] :location 5}} :targetList ({TARGETENTRY :expr {VAR :varno 3 :varattno 1 :location 58} :resno 1 :resname id :ressortgroupref 0 :resorigtbl 20758 :resorigcol 1 :resjunk false} {TARGETENTRY :expr {VAR :varno 4 :varattno 1} :resno 2 :resname sponsor_id :ressortgroupref 0 :resorigtbl 20751 :resorigcol 1 :resjunk false} {TARGETENTRY :expr {OPEXPR :opno 96} :resno 3 :resname odd\ name :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false}) :override 0 :stmt_len 145})"#;

    #[test]
    fn top_level_columns_name_their_origin() {
        let cols = target_columns(VIEW).expect("parses");
        assert_eq!(
            cols,
            vec![
                TargetColumn {
                    name: "id".into(),
                    origin: Some((20758, 1))
                },
                TargetColumn {
                    name: "sponsor_id".into(),
                    origin: Some((20751, 1))
                },
                TargetColumn {
                    name: "odd name".into(),
                    origin: None
                },
            ]
        );
    }

    #[test]
    fn unreadable_text_gives_nothing() {
        assert_eq!(target_columns(""), None);
        assert_eq!(target_columns("({QUERY :targetList"), None);
        assert_eq!(target_columns("({QUERY :commandType 1})"), None);
        assert_eq!(
            target_columns("({QUERY :targetList <> :override 0})"),
            Some(vec![])
        );
    }
}
