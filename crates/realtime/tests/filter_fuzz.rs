//! The `postgres_changes` filter parser against hostile input: deep nesting on a small stack,
//! arbitrary strings and structured soups of filter fragments. It must answer a
//! [`FilterError`] or a parse, never panic or overflow.

use basalt_realtime::filter::{parse_filter, Binding, FilterError};
use proptest::prelude::*;
use serde_json::json;

/// Runs `f` on a thread with a 256 KiB stack, so parsing that recursed per nesting level
/// would overflow (aborting the test binary) long before 10,000 levels.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("filter parser panicked")
}

#[test]
fn deeply_nested_filters_answer_without_overflowing() {
    on_small_stack(|| {
        let open = "(".repeat(10_000);
        let close = ")".repeat(10_000);
        // An `in` list nested 10,000 deep is one odd value, not a stack of lists.
        let conds = parse_filter(&format!("a=in.({open}1{close})")).expect("parses");
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].values.len(), 1);
        assert_eq!(conds[0].values[0].len(), 20_001);
        // Unbalanced parentheses keep the rest of the filter in one part, which then fails.
        assert!(matches!(
            parse_filter(&format!("a=in.{open}")),
            Err(FilterError::InList(_))
        ));
        assert!(matches!(
            parse_filter(&format!("{open}=eq.1")),
            Ok(c) if c[0].column.len() == 10_000
        ));
        assert!(matches!(
            parse_filter(&format!("a=eq.1,{close}")),
            Err(FilterError::Syntax(_))
        ));
        // Quotes and escapes nested or repeated deeply.
        let quotes = format!("a=in.({})", "\"\\".repeat(10_000));
        let conds = parse_filter(&quotes).expect("an unterminated quote is one value");
        assert_eq!(conds[0].values.len(), 1);
        // Many conditions.
        let many = vec!["a=eq.1"; 10_000].join(",");
        assert_eq!(parse_filter(&many).expect("parses").len(), 10_000);
        // A whole binding with a deep filter.
        let b = Binding::parse(&json!({
            "event": "*", "schema": "public", "table": "t",
            "filter": format!("x=in.({open}{close})")
        }))
        .expect("binding");
        assert_eq!(b.conds.len(), 1);
    });
}

/// Fragments of the filter grammar (and its neighbours); any sequence is some input.
const TOKENS: &[&str] = &[
    "a",
    "id",
    "=",
    "eq",
    "neq",
    "lt",
    "gte",
    "in",
    "is",
    "not",
    "like",
    ".",
    ",",
    "(",
    ")",
    "\"",
    "\\",
    " ",
    "null",
    "true",
    "1",
    "é",
    "=in.(",
    "=eq.",
    "=not.in.(",
    "{",
    "}",
];

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..300).prop_map(|v| v.concat())
}

fn nested() -> impl Strategy<Value = String> {
    (
        0usize..500,
        proptest::sample::select(vec!["(", "\"(", "in.(", "a=in.(", "=", "\\("]),
        "[a-z=.,()\" ]{0,8}",
    )
        .prop_map(|(depth, open, filler)| {
            format!("c=in.({}{filler}{})", open.repeat(depth), ")".repeat(depth))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,200}") {
        if let Ok(conds) = parse_filter(&s) {
            prop_assert!(conds.iter().all(|c| !c.column.trim().is_empty()));
        }
    }

    #[test]
    fn filter_soups_never_panic(s in soup()) {
        if let Ok(conds) = parse_filter(&s) {
            // Whatever parses is usable: matching it against a row does not panic either.
            for c in &conds {
                let _ = c.matches(Some("1"), "int4");
                let _ = c.matches(None, "text");
            }
        }
    }

    #[test]
    fn nested_lists_never_panic(s in nested()) {
        let parsed = on_small_stack(move || parse_filter(&s).map(|c| c.len()));
        if let Ok(n) = parsed {
            prop_assert!(n >= 1);
        }
    }
}
