//! Writes: request bodies (JSON or CSV) to a payload, and the data-modifying CTE of INSERT,
//! UPSERT, PUT, PATCH and DELETE. The CTE is named `pgrst_source`; the response is then read from
//! it by the ordinary read renderer, so one statement writes and renders the answer.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::plan::{Cond, ReadPlan};
use crate::request::Resolution;
use crate::schema::Relation;
use crate::sql::{ident, qi, Sql};

/// A parsed write body: rows of one set of columns.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The JSON array text sent as one parameter.
    pub json: String,
    /// Columns written.
    pub columns: Vec<String>,
    /// Number of rows.
    pub rows: usize,
    /// The rows (for PUT checks and Location).
    pub values: Vec<Map<String, Value>>,
}

/// Parse a JSON body. `columns` (from `columns=`) fixes the column list; otherwise every object
/// must have the same keys.
pub fn json_payload(body: &[u8], columns: Option<&[String]>) -> Result<Payload, ApiError> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::body("Empty or invalid json"));
    } else {
        serde_json::from_slice(body).map_err(|_| ApiError::body("Empty or invalid json"))?
    };
    let rows: Vec<Map<String, Value>> = match v {
        Value::Object(m) => vec![m],
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for x in a {
                match x {
                    Value::Object(m) => out.push(m),
                    _ => return Err(ApiError::body("All object keys must match")),
                }
            }
            out
        }
        _ => return Err(ApiError::body("Empty or invalid json")),
    };
    let mut payload = payload_from_rows(rows, columns)?;
    // Postgres reads the body as the client sent it: a `json` column keeps its text (duplicate
    // keys and all), as PostgREST passes the body through.
    if let Ok(text) = std::str::from_utf8(body) {
        let text = text.trim();
        payload.json = if text.starts_with('[') {
            text.to_string()
        } else {
            format!("[{text}]")
        };
    }
    Ok(payload)
}

/// Parse an `application/x-www-form-urlencoded` body: one row whose values are strings.
pub fn form_payload(body: &[u8], columns: Option<&[String]>) -> Result<Payload, ApiError> {
    let row: Map<String, Value> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    payload_from_rows(vec![row], columns)
}

fn payload_from_rows(
    rows: Vec<Map<String, Value>>,
    columns: Option<&[String]>,
) -> Result<Payload, ApiError> {
    let cols: Vec<String> = match columns {
        Some(c) => c.to_vec(),
        None => {
            let first: Vec<String> = rows
                .first()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            for r in &rows[1.min(rows.len())..] {
                if r.len() != first.len() || !first.iter().all(|k| r.contains_key(k)) {
                    return Err(ApiError::body("All object keys must match"));
                }
            }
            first
        }
    };
    let json = Value::Array(rows.iter().cloned().map(Value::Object).collect()).to_string();
    Ok(Payload {
        json,
        columns: cols,
        rows: rows.len(),
        values: rows,
    })
}

/// Parse a CSV body: a header line, then rows; blank lines are skipped, `NULL` is SQL null and
/// an empty field an empty string. Each row pairs the header's names with its fields in order,
/// so fields past the header's are dropped and a short row lacks the last columns; every row
/// must then have the first row's columns ("All lines must have same number of fields").
pub fn csv_payload(body: &[u8], columns: Option<&[String]>) -> Result<Payload, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::body("Invalid CSV"))?;
    let mut lines = parse_csv(text);
    if lines.is_empty() {
        return payload_from_rows(Vec::new(), columns);
    }
    let header = lines.remove(0);
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for l in lines {
        if l.len() == 1 && l[0].as_deref() == Some("") {
            continue;
        }
        let mut m = Map::new();
        for (k, v) in header.iter().zip(l) {
            m.insert(
                k.clone().unwrap_or_default(),
                match v {
                    Some(s) if s == "NULL" => Value::Null,
                    Some(s) => Value::String(s),
                    None => Value::Null,
                },
            );
        }
        rows.push(m);
    }
    if let Some((first, rest)) = rows.split_first() {
        let same = |r: &Map<String, Value>| {
            r.len() == first.len() && first.keys().all(|k| r.contains_key(k))
        };
        if !rest.iter().all(same) {
            return Err(ApiError::body("All lines must have same number of fields"));
        }
    }
    payload_from_rows(rows, columns)
}

/// RFC 4180-ish CSV: quoted fields with doubled quotes; lines end at `\n`, `\r\n` or `\r`.
fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(Some(std::mem::take(&mut field))),
            // A line ends at `\n`, `\r\n` or a lone `\r`.
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                row.push(Some(std::mem::take(&mut field)));
                out.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if any && (!field.is_empty() || !row.is_empty()) {
        row.push(Some(field));
        out.push(row);
    }
    out
}

/// Check every written column exists (PGRST204).
pub fn check_columns(rel: &Relation, cols: &[String]) -> Result<(), ApiError> {
    for c in cols {
        if rel.column(c).is_none() {
            return Err(ApiError::column_not_found(&rel.qi.name, c));
        }
    }
    Ok(())
}

/// The conflict handling of an insert.
#[derive(Debug, Clone)]
pub struct OnConflict {
    pub columns: Vec<String>,
    pub resolution: Resolution,
}

/// `pgrst_source AS (INSERT …)`; returns the CTE text. Adds `pgrst_ins` (row was inserted)
/// when `track_inserts`.
pub fn insert_cte(
    sql: &mut Sql,
    rel: &Relation,
    payload: &Payload,
    missing_default: bool,
    on_conflict: Option<&OnConflict>,
    track_inserts: bool,
) -> String {
    let t = ident(&rel.qi.name);
    if payload.rows == 0 {
        return format!(
            "\"pgrst_source\" AS (SELECT {t}.* FROM {} AS {t} WHERE FALSE)",
            qi(&rel.qi)
        );
    }
    let cols: Vec<String> = payload.columns.iter().map(|c| ident(c)).collect();
    let p = sql.bind(payload.json.clone());
    let mut text = if cols.is_empty() {
        // Objects without keys (`{}`, `[{}, {}]`): one row of defaults per object. A query
        // supplying no columns leaves every column to its default.
        format!(
            "INSERT INTO {} AS {t} SELECT FROM json_array_elements({p}::json)",
            qi(&rel.qi)
        )
    } else {
        let exprs: Vec<String> = payload
            .columns
            .iter()
            .map(|c| {
                let v = column_value(rel, c);
                if missing_default {
                    let key = sql.bind(c.clone());
                    let default = rel
                        .column(c)
                        .and_then(|col| col.default.clone())
                        .unwrap_or_else(|| "NULL".into());
                    format!(
                        "CASE WHEN \"pgrst_e\".\"j\"::jsonb ? {key}::text THEN {v} ELSE {default} END"
                    )
                } else {
                    v
                }
            })
            .collect();
        // With `missing=default` the body is read as jsonb, as PostgREST does (a duplicate key
        // keeps its last value).
        let body_type = if missing_default {
            "jsonb::json"
        } else {
            "json"
        };
        format!(
            "INSERT INTO {} AS {t} ({}) SELECT {} FROM json_array_elements({p}::{body_type}) AS \"pgrst_e\"(\"j\"), LATERAL json_to_record(\"pgrst_e\".\"j\") AS \"pgrst_r\"({})",
            qi(&rel.qi),
            cols.join(", "),
            exprs.join(", "),
            record_columns(rel, &payload.columns)
        )
    };
    if let Some(oc) = on_conflict {
        let target: Vec<String> = oc.columns.iter().map(|c| ident(c)).collect();
        match oc.resolution {
            Resolution::IgnoreDuplicates => {
                text.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", target.join(", ")))
            }
            Resolution::MergeDuplicates => {
                let sets: Vec<String> =
                    cols.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
                if sets.is_empty() {
                    text.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", target.join(", ")));
                } else {
                    text.push_str(&format!(
                        " ON CONFLICT ({}) DO UPDATE SET {}",
                        target.join(", "),
                        sets.join(", ")
                    ));
                }
            }
        }
    }
    text.push_str(&format!(" RETURNING {t}.*"));
    if track_inserts {
        text.push_str(&format!(", ({t}.xmax = 0) AS \"pgrst_ins\""));
    }
    format!("\"pgrst_source\" AS ({text})")
}

/// `pgrst_source AS (UPDATE …)` with the request's top-level conditions.
pub fn update_cte(
    sql: &mut Sql,
    rel: &Relation,
    payload: &Payload,
    plan: &ReadPlan,
    where_: &str,
    missing_default: bool,
) -> String {
    let t = ident(&rel.qi.name);
    if payload.columns.is_empty() {
        return format!(
            "\"pgrst_source\" AS (SELECT {t}.* FROM {} AS {t} WHERE FALSE)",
            qi(&rel.qi)
        );
    }
    let _ = plan;
    let p = sql.bind(payload.json.clone());
    let sets: Vec<String> = payload
        .columns
        .iter()
        .map(|c| {
            // `missing=default`: a `columns=` column the object lacks takes its default.
            let missing = missing_default
                && payload
                    .values
                    .first()
                    .is_some_and(|row| !row.contains_key(c));
            if missing {
                format!("{} = DEFAULT", ident(c))
            } else {
                format!("{} = {}", ident(c), column_value(rel, c))
            }
        })
        .collect();
    format!(
        "\"pgrst_source\" AS (UPDATE {} AS {t} SET {} FROM json_to_record(({p}::json)->0) AS \"pgrst_r\"({}){where_} RETURNING {t}.*)",
        qi(&rel.qi),
        sets.join(", "),
        record_columns(rel, &payload.columns)
    )
}

/// The column definition list of `json_to_record` for the written columns: the column types,
/// except `json` for domains parsed by their own `json AS domain` function.
fn record_columns(rel: &Relation, cols: &[String]) -> String {
    cols.iter()
        .map(|c| {
            let ty = match rel.column(c) {
                Some(col) if col.from_json.is_some() => "json".to_string(),
                Some(col) => col.type_name.clone(),
                None => "text".to_string(),
            };
            format!("{} {ty}", ident(c))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The value written to column `c` from the `pgrst_r` record.
fn column_value(rel: &Relation, c: &str) -> String {
    match rel.column(c).and_then(|col| col.from_json.as_ref()) {
        Some(f) => format!("{}(\"pgrst_r\".{})", qi(f), ident(c)),
        None => format!("\"pgrst_r\".{}", ident(c)),
    }
}

/// The same write CTE, returning no columns (`RETURNING 1`). Used when the response does not
/// read the rows back (`Prefer: return=minimal`): reading them back would need the SELECT
/// privilege and a passing SELECT policy, and a role may be allowed to write rows it may not
/// read (an anonymous contact form, an audit log).
pub fn returning_nothing(cte: &str) -> String {
    match cte.rfind(" RETURNING ") {
        Some(i) if cte.ends_with(')') => format!("{} RETURNING 1)", &cte[..i]),
        _ => cte.to_string(),
    }
}

/// `pgrst_source AS (DELETE …)`.
pub fn delete_cte(rel: &Relation, where_: &str) -> String {
    let t = ident(&rel.qi.name);
    format!(
        "\"pgrst_source\" AS (DELETE FROM {} AS {t}{where_} RETURNING {t}.*)",
        qi(&rel.qi)
    )
}

/// Whether a top-level condition list is `pk=eq.value` for exactly the primary key columns;
/// returns the values by column.
pub fn pk_eq_values(conds: &[Cond], pk: &[String]) -> Option<Vec<(String, String)>> {
    use crate::grammar::{Cmp, Predicate};
    let mut out = Vec::new();
    for c in conds {
        match c {
            Cond::Filter { field, expr } if field.path.is_empty() && field.computed.is_none() => {
                match &expr.pred {
                    Predicate::Compare { op: Cmp::Eq, value } if !expr.negated => {
                        out.push((field.column.clone(), value.clone()))
                    }
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    let mut cols: Vec<&String> = out.iter().map(|(c, _)| c).collect();
    cols.sort();
    cols.dedup();
    let mut want: Vec<&String> = pk.iter().collect();
    want.sort();
    if cols == want && out.len() == pk.len() {
        Some(out)
    } else {
        None
    }
}

/// Text of a JSON value as Postgres would print it for comparisons with URL values.
pub fn json_scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn minimal_writes_return_no_columns() {
        assert_eq!(
            super::returning_nothing(
                r#""pgrst_source" AS (INSERT INTO "public"."t" AS "t" ("a") SELECT 1 RETURNING "t".*)"#
            ),
            r#""pgrst_source" AS (INSERT INTO "public"."t" AS "t" ("a") SELECT 1 RETURNING 1)"#
        );
        assert_eq!(
            super::returning_nothing(
                r#""pgrst_source" AS (SELECT "t".* FROM "public"."t" AS "t" WHERE FALSE)"#
            ),
            r#""pgrst_source" AS (SELECT "t".* FROM "public"."t" AS "t" WHERE FALSE)"#
        );
    }

    use super::*;

    #[test]
    fn json_bodies() {
        let p = json_payload(br#"[{"a":1,"b":2},{"b":3,"a":4}]"#, None).expect("ok");
        assert_eq!(p.rows, 2);
        assert_eq!(p.columns, vec!["a", "b"]);
        assert_eq!(
            json_payload(br#"[{"a":1},{"a":1,"b":2}]"#, None)
                .expect_err("mismatch")
                .message,
            "All object keys must match"
        );
        assert_eq!(
            json_payload(b"}{ x = 2", None)
                .expect_err("invalid")
                .message,
            "Empty or invalid json"
        );
        let cols = vec!["a".to_string()];
        assert_eq!(
            json_payload(br#"[{"a":1},{"a":1,"b":2}]"#, Some(&cols))
                .expect("columns")
                .columns,
            cols
        );
    }

    #[test]
    fn a_json_body_reaches_postgres_as_sent() {
        let p = json_payload(b" {\"id\": 3, \"data\": {\"a\": 1, \"a\": 2}} ", None).expect("ok");
        assert_eq!(p.json, r#"[{"id": 3, "data": {"a": 1, "a": 2}}]"#);
        let p = json_payload(b"[{\"id\": 1}]", None).expect("ok");
        assert_eq!(p.json, r#"[{"id": 1}]"#);
    }

    #[test]
    fn form_bodies_are_one_row_of_strings() {
        let p = form_payload(b"integer=7&varchar=forms+are+fun&money=$3.99", None).expect("ok");
        assert_eq!(p.rows, 1);
        assert_eq!(p.columns, vec!["integer", "varchar", "money"]);
        assert_eq!(
            p.values[0]["varchar"],
            Value::String("forms are fun".into())
        );
    }

    fn relation(cols: &[&str]) -> Relation {
        Relation {
            qi: crate::schema::Qi::new("test", "t"),
            oid: 1,
            is_view: false,
            columns: cols
                .iter()
                .map(|c| crate::schema::Column::plain(c, "text"))
                .collect(),
            pk: Vec::new(),
            description: None,
            insertable: true,
            updatable: true,
            deletable: true,
        }
    }

    #[test]
    fn missing_default_patches_set_absent_columns_to_default() {
        let rel = relation(&["a", "b"]);
        let cols = vec!["a".to_string(), "b".to_string()];
        let p = json_payload(br#"{"a":"x"}"#, Some(&cols)).expect("ok");
        let source = crate::plan::Source::Relation(rel.qi.clone());
        let plan = crate::plan::ReadPlan::new(source, Some(rel.qi.clone()), "t".into());
        let mut sql = Sql::default();
        let cte = update_cte(&mut sql, &rel, &p, &plan, "", true);
        assert!(
            cte.contains(r#"SET "a" = "pgrst_r"."a", "b" = DEFAULT"#),
            "{cte}"
        );
        let cte = update_cte(&mut sql, &rel, &p, &plan, "", false);
        assert!(cte.contains(r#""b" = "pgrst_r"."b""#), "{cte}");
    }

    #[test]
    fn csv_bodies() {
        let p = csv_payload(b"a,b\nbar,\"baz, qux\"\nNULL,x", None).expect("ok");
        assert_eq!(p.rows, 2);
        assert_eq!(p.values[0]["b"], Value::String("baz, qux".into()));
        assert_eq!(p.values[1]["a"], Value::Null);
        assert_eq!(
            csv_payload(b"a,b\nfoo,bar\nbaz", None)
                .expect_err("ragged")
                .message,
            "All lines must have same number of fields"
        );
        // Fields past the header's are dropped; rows equally short lack the same columns.
        let p = csv_payload(b"a,b\nfoo,bar,baz\n\nx,y\n", None).expect("long rows");
        assert_eq!(p.rows, 2);
        assert_eq!(p.columns, ["a", "b"]);
        assert_eq!(p.values[0]["b"], Value::String("bar".into()));
        let p = csv_payload(b"a,b\nfoo\nbar", None).expect("short rows");
        assert_eq!(p.columns, ["a"]);
        assert_eq!(p.values[1]["a"], Value::String("bar".into()));
        let p = csv_payload(b"a,b\r\n1,x\ry,z\r\n\"q\rr\",s", None).expect("line ends");
        assert_eq!(p.rows, 3);
        assert_eq!(p.values[1]["a"], Value::String("y".into()));
        assert_eq!(p.values[2]["a"], Value::String("q\rr".into()));
        let p = csv_payload(b"a,b\n,NULL", None).expect("empty and NULL");
        assert_eq!(p.values[0]["a"], Value::String(String::new()));
        assert_eq!(p.values[0]["b"], Value::Null);
    }
}
