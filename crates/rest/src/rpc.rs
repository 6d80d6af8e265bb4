//! Functions called through `/rpc/name`: choosing the overload that fits the given argument
//! names, and turning JSON or query-string arguments into named bind parameters.

use serde_json::{Map, Value};

use crate::error::{ApiError, Code};
use crate::schema::{Qi, Routine, SchemaCache};
use crate::sql::array_literal;

/// Where named argument values came from, which decides how a string value reads for a
/// `json`/`jsonb` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    /// A JSON body: each value is given as JSON, so a string is a JSON string.
    Json,
    /// The query string, a form or CSV: each value is the parameter's text.
    Text,
}

/// Arguments as given by the client.
#[derive(Debug, Clone)]
pub enum Args {
    /// Named arguments (JSON object keys or query-string keys; repeated keys keep every value).
    Named(Vec<(String, Value)>),
    /// The whole body for a function with a single unnamed parameter.
    Single(Value),
    /// A raw body (`bytea`/`text` single unnamed parameter).
    Raw(Vec<u8>),
}

/// The chosen function and its call arguments `(name, text value, variadic)`.
#[derive(Debug, Clone)]
pub struct Call {
    pub routine: Routine,
    pub args: Vec<(String, Option<String>, bool)>,
}

/// The text an argument value is bound as, for a parameter of `type_name`. From a JSON body, a
/// string for a `json`/`jsonb` parameter is that JSON string (quoted), not JSON text to parse.
fn value_text(v: &Value, type_name: &str, source: ArgSource) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(_) if source == ArgSource::Json && matches!(type_name, "json" | "jsonb") => {
            Some(v.to_string())
        }
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if type_name.ends_with("[]") => {
            let texts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            Some(array_literal(&texts))
        }
        other => Some(other.to_string()),
    }
}

fn signature(qi: &Qi, names: &[String]) -> String {
    format!("{}.{}({})", qi.schema, qi.name, names.join(", "))
}

/// Pick the function `name` in `schema` that accepts `args` (from a JSON body when `from_body`,
/// else from the query string).
pub fn resolve(
    cache: &SchemaCache,
    schema: &str,
    name: &str,
    args: &Args,
    from_body: bool,
) -> Result<Call, ApiError> {
    let source = if from_body {
        ArgSource::Json
    } else {
        ArgSource::Text
    };
    resolve_from(cache, schema, name, args, from_body, source)
}

/// [`resolve`] for arguments from `source` (a form body's values are text, as the query
/// string's).
pub fn resolve_from(
    cache: &SchemaCache,
    schema: &str,
    name: &str,
    args: &Args,
    from_body: bool,
    source: ArgSource,
) -> Result<Call, ApiError> {
    let qi = Qi::new(schema, name);
    let candidates: Vec<&Routine> = cache
        .routines
        .get(&qi)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let given: Vec<String> = match args {
        Args::Named(a) => {
            let mut n: Vec<String> = Vec::new();
            for (k, _) in a {
                if !n.contains(k) {
                    n.push(k.clone());
                }
            }
            n
        }
        _ => Vec::new(),
    };
    let mut sorted_given = given.clone();
    sorted_given.sort();
    let fits = |r: &&Routine| -> bool {
        match args {
            Args::Named(_) => {
                given.iter().all(|g| r.params.iter().any(|p| &p.name == g))
                    && r.params
                        .iter()
                        .all(|p| p.has_default || p.variadic || given.contains(&p.name))
            }
            Args::Single(_) => {
                r.params.len() == 1
                    && r.params[0].name.is_empty()
                    && matches!(r.params[0].type_name.as_str(), "json" | "jsonb")
            }
            Args::Raw(_) => {
                r.params.len() == 1
                    && r.params[0].name.is_empty()
                    && matches!(r.params[0].type_name.as_str(), "bytea" | "text" | "xml")
            }
        }
    };
    let mut matching: Vec<&Routine> = candidates.iter().copied().filter(fits).collect();
    // A JSON object body may also go to a single unnamed json parameter.
    if matching.is_empty() {
        if let Args::Named(a) = args {
            let single: Vec<&Routine> = candidates
                .iter()
                .copied()
                .filter(|r| {
                    r.params.len() == 1
                        && r.params[0].name.is_empty()
                        && matches!(r.params[0].type_name.as_str(), "json" | "jsonb")
                })
                .collect();
            if single.len() == 1 {
                let obj: Map<String, Value> = a.iter().cloned().collect();
                return Ok(Call {
                    routine: single[0].clone(),
                    args: vec![(String::new(), Some(Value::Object(obj).to_string()), false)],
                });
            }
        }
    }
    if matching.len() > 1 {
        // Prefer the overload with the fewest parameters (no defaults needed).
        matching.sort_by_key(|r| r.params.len());
        if matching[0].params.len() == matching[1].params.len() {
            return Err(ApiError::new(Code::AmbiguousFunction, format!(
                    "Could not choose the best candidate function between: {}",
                    matching
                        .iter()
                        .map(|r| format!(
                            "{}.{}({})",
                            r.qi.schema,
                            r.qi.name,
                            r.params
                                .iter()
                                .map(|p| format!("{} => {}", p.name, p.type_name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_hint("Try renaming the parameters or the function itself in the database so function overloading can be resolved"));
        }
    }
    let Some(routine) = matching.first().copied() else {
        let with_single = matches!(args, Args::Named(_)) && from_body;
        let details = if with_single && !given.is_empty() {
            format!(
                "Searched for the function {}.{} with {} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
                schema,
                name,
                params_phrase(&given)
            )
        } else if given.is_empty() {
            let single = if from_body {
                " or with a single unnamed json/jsonb parameter"
            } else {
                ""
            };
            format!(
                "Searched for the function {schema}.{name} without parameters{single}, but no matches were found in the schema cache."
            )
        } else {
            format!(
                "Searched for the function {}.{} with {}, but no matches were found in the schema cache.",
                schema,
                name,
                params_phrase(&given)
            )
        };
        let hint = if matches!(args, Args::Raw(_)) {
            None
        } else if candidates.is_empty() {
            // No function of that name: the closest name in the schema.
            let names = cache
                .routines
                .keys()
                .filter(|q| q.schema == schema)
                .map(|q| q.name.as_str());
            crate::plan::closest(names, name, 0.75)
                .map(|n| format!("Perhaps you meant to call the function {schema}.{n}"))
        } else {
            // Overloads of that name: the one whose parameter list reads closest.
            let lists: Vec<String> = candidates
                .iter()
                .map(|r| sorted_list(r.params.iter().map(|p| p.name.clone())))
                .collect();
            let wanted = sorted_list(given.iter().cloned());
            crate::plan::closest(lists.iter().map(String::as_str), &wanted, 0.33)
                .map(|l| format!("Perhaps you meant to call the function {schema}.{name}{l}"))
        };
        let shown = if matches!(args, Args::Raw(_)) {
            format!("{schema}.{name}")
        } else if given.is_empty() {
            format!("{schema}.{name} without parameters")
        } else {
            signature(&qi, &given)
        };
        let mut e = ApiError::new(
            Code::NoFunction,
            format!("Could not find the function {shown} in the schema cache"),
        )
        .with_details(details);
        e.hint = hint;
        return Err(e);
    };
    let call_args = match args {
        Args::Named(a) => {
            let mut out = Vec::new();
            for p in &routine.params {
                let values: Vec<&Value> = a
                    .iter()
                    .filter(|(k, _)| k == &p.name)
                    .map(|(_, v)| v)
                    .collect();
                if values.is_empty() {
                    continue;
                }
                let v = if p.variadic {
                    match values.as_slice() {
                        [Value::Array(_)] => values[0].clone(),
                        _ => Value::Array(values.iter().map(|v| (*v).clone()).collect()),
                    }
                } else {
                    values[values.len() - 1].clone()
                };
                out.push((
                    p.name.clone(),
                    value_text(&v, &p.type_name, source),
                    p.variadic,
                ));
            }
            out
        }
        Args::Single(v) => vec![(String::new(), Some(v.to_string()), false)],
        Args::Raw(bytes) => {
            let text = if routine.params[0].type_name == "bytea" {
                let mut s = String::from("\\x");
                for b in bytes {
                    s.push_str(&format!("{b:02x}"));
                }
                s
            } else {
                String::from_utf8_lossy(bytes).into_owned()
            };
            vec![(String::new(), Some(text), false)]
        }
    };
    Ok(Call {
        routine: routine.clone(),
        args: call_args,
    })
}

/// Parameter names sorted and listed as `(a, b)`, as the not-found hint compares them.
fn sorted_list(names: impl Iterator<Item = String>) -> String {
    let mut names: Vec<String> = names.collect();
    names.sort();
    format!("({})", names.join(", "))
}

/// `parameter a` or `parameters a, b`, as the not-found details word it.
fn params_phrase(given: &[String]) -> String {
    let s = if given.len() > 1 { "s" } else { "" };
    format!("parameter{s} {}", given.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Param;
    use serde_json::json;

    fn routine(name: &str, params: &[(&str, &str, bool)]) -> Routine {
        Routine {
            qi: Qi::new("s", name),
            params: params
                .iter()
                .map(|(n, t, d)| Param {
                    name: n.to_string(),
                    type_name: t.to_string(),
                    has_default: *d,
                    variadic: false,
                })
                .collect(),
            returns_set: false,
            return_type: "integer".into(),
            return_relation: None,
            returns_composite: false,
            returns_void: false,
            volatility: 'i',
            rows: 0.0,
            description: None,
            single_row_arg: None,
            media_type: None,
        }
    }

    #[test]
    fn overloads_and_errors() {
        let mut c = SchemaCache::default();
        c.routines.insert(
            Qi::new("s", "f"),
            vec![
                routine("f", &[]),
                routine("f", &[("a", "integer", false), ("b", "integer", false)]),
            ],
        );
        let none = resolve(&c, "s", "f", &Args::Named(vec![]), false).expect("no args");
        assert!(none.routine.params.is_empty());
        let two = resolve(
            &c,
            "s",
            "f",
            &Args::Named(vec![("a".into(), json!(1)), ("b".into(), json!(2))]),
            false,
        )
        .expect("two args");
        assert_eq!(two.args.len(), 2);
        let e = resolve(
            &c,
            "s",
            "f",
            &Args::Named(vec![("x".into(), json!(1))]),
            true,
        )
        .expect_err("none");
        assert_eq!(e.code, "PGRST202");
        assert_eq!(
            e.message,
            "Could not find the function s.f(x) in the schema cache"
        );
    }

    #[test]
    fn not_found_errors_hint_at_the_closest_name_or_parameter_list() {
        let mut c = SchemaCache::default();
        c.routines.insert(
            Qi::new("s", "sayhello"),
            vec![routine("sayhello", &[("name", "text", false)])],
        );
        c.routines.insert(
            Qi::new("s", "add_them"),
            vec![routine(
                "add_them",
                &[("b", "integer", false), ("a", "integer", false)],
            )],
        );
        let named =
            |keys: &[&str]| Args::Named(keys.iter().map(|k| (k.to_string(), json!(1))).collect());
        // A misspelt name, called without arguments by GET.
        let e = resolve(&c, "s", "sayhell", &named(&[]), false).expect_err("no such name");
        assert_eq!(
            e.message,
            "Could not find the function s.sayhell without parameters in the schema cache"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("Searched for the function s.sayhell without parameters, but no matches were found in the schema cache.")
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("Perhaps you meant to call the function s.sayhello")
        );
        assert_eq!(
            resolve(&c, "s", "fake", &named(&[]), false)
                .expect_err("none")
                .hint,
            None
        );
        // Misspelt or extra arguments: the overload whose sorted list is closest.
        let e = resolve(&c, "s", "sayhello", &named(&["nam"]), false).expect_err("nam");
        assert_eq!(
            e.hint.as_deref(),
            Some("Perhaps you meant to call the function s.sayhello(name)")
        );
        let e = resolve(&c, "s", "add_them", &named(&["a", "b", "smthelse"]), false)
            .expect_err("extra");
        assert_eq!(
            e.hint.as_deref(),
            Some("Perhaps you meant to call the function s.add_them(a, b)")
        );
        let e = resolve(&c, "s", "add_them", &named(&["wrong_arg"]), false).expect_err("far");
        assert_eq!(e.hint, None);
    }

    #[test]
    fn arrays_become_literals() {
        assert_eq!(
            value_text(&json!(["hi", "a\"b"]), "text[]", ArgSource::Json).as_deref(),
            Some("{\"hi\",\"a\\\"b\"}")
        );
        assert_eq!(
            value_text(&json!({"a": 1}), "json", ArgSource::Json).as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(value_text(&json!(null), "int", ArgSource::Json), None);
        assert_eq!(
            value_text(&json!("{ \"key\": 3 }"), "json", ArgSource::Json).as_deref(),
            Some("\"{ \\\"key\\\": 3 }\"")
        );
        assert_eq!(
            value_text(&json!("x"), "jsonb", ArgSource::Json).as_deref(),
            Some("\"x\"")
        );
        assert_eq!(
            value_text(&json!("x"), "text", ArgSource::Json).as_deref(),
            Some("x")
        );
        // From the query string or a form the text is the JSON to read.
        assert_eq!(
            value_text(&json!("{\"a\":1}"), "json", ArgSource::Text).as_deref(),
            Some("{\"a\":1}")
        );
    }
}
