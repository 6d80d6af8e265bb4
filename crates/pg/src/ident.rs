//! Identifier quoting: the one place basalt turns a name into SQL text. Values are never
//! quoted into SQL; they are bind parameters.

/// `name` as a double-quoted identifier (`"a""b"` for `a"b`).
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `"schema"."name"`.
pub fn quote_qualified(schema: &str, name: &str) -> String {
    let mut out = quote_ident(schema);
    out.push('.');
    out.push_str(&quote_ident(name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_doubles_quotes() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_qualified("public", "Tab le"), "\"public\".\"Tab le\"");
    }
}
