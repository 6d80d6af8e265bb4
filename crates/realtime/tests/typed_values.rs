//! `record` and `old_record` carry typed JSON, as Supabase Realtime sends them: every value is
//! what Postgres' `to_jsonb` makes of it on the column's type (wal2json's `null` for NaN and
//! infinite numbers and its `\x`-less bytea aside). One test per family of column types; each
//! case inserts a row into a `REPLICA IDENTITY FULL` table, updates it and deletes it, and
//! compares the INSERT `record`, the UPDATE `record` and `old_record` and the DELETE
//! `old_record` with the expected JSON, and, where no wal2json rule applies, with Postgres' own
//! `to_jsonb` of the row.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// One column type: a value before and after the update, and their JSON.
struct Case {
    /// Column type as declared.
    ty: &'static str,
    /// SQL literals of the value inserted and of the value it is updated to.
    before: &'static str,
    after: &'static str,
    want_before: Value,
    want_after: Value,
    /// Whether `to_jsonb` of the row gives the same JSON (not for wal2json's own rules).
    same_as_to_jsonb: bool,
}

fn case(ty: &'static str, before: &'static str, after: &'static str, wb: Value, wa: Value) -> Case {
    Case {
        ty,
        before,
        after,
        want_before: wb,
        want_after: wa,
        same_as_to_jsonb: true,
    }
}

/// Postgres' `to_jsonb` of the row of table `v{i}`.
async fn row_to_jsonb(client: &tokio_postgres::Client, i: usize) -> Value {
    let sql = format!("SELECT to_jsonb(r) FROM public.v{i} r");
    client.query_one(&sql, &[]).await.unwrap().get(0)
}

/// Run `cases` (after `setup` SQL, e.g. type definitions) and check every payload. Returns the
/// raw text frames received, for checks of the exact JSON text.
async fn check(setup: &str, cases: Vec<Case>) -> Vec<String> {
    let db = basalt_testkit::fresh_db().await;
    let admin = db.client().await;
    // A zone with a half-hour offset, so that the offset's form shows.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET timezone TO 'Asia/Kolkata'; {setup}",
            db.name
        ))
        .await
        .unwrap();
    for (i, c) in cases.iter().enumerate() {
        admin
            .batch_execute(&format!(
                "CREATE TABLE public.v{i} (id int8 PRIMARY KEY, v {});
                 ALTER TABLE public.v{i} REPLICA IDENTITY FULL;
                 GRANT SELECT ON public.v{i} TO anon;
                 ALTER PUBLICATION supabase_realtime ADD TABLE public.v{i};",
                c.ty
            ))
            .await
            .unwrap();
    }
    let rt = Served::start(&db.url).await;
    let mut sub = Client::connect(&rt.ws_url(&anon())).await;
    sub.join(
        "typed",
        json!({"postgres_changes": [{"event": "*", "schema": "public"}]}),
        None,
    )
    .await;
    expect_subscribed(&mut sub).await;

    let client = db.client().await;
    client
        .batch_execute("SET timezone TO 'Asia/Kolkata'")
        .await
        .unwrap();
    let mut oracle = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        client
            .batch_execute(&format!("INSERT INTO public.v{i} VALUES (1, {})", c.before))
            .await
            .unwrap();
        let before = row_to_jsonb(&client, i).await;
        client
            .batch_execute(&format!("UPDATE public.v{i} SET v = {}", c.after))
            .await
            .unwrap();
        let after = row_to_jsonb(&client, i).await;
        client
            .batch_execute(&format!("DELETE FROM public.v{i}"))
            .await
            .unwrap();
        oracle.push((before, after));
    }

    let want = 3 * cases.len();
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while frames.len() < want && tokio::time::Instant::now() < deadline {
        frames.extend(
            sub.collect("postgres_changes", Duration::from_millis(300))
                .await,
        );
    }
    assert_eq!(frames.len(), want, "one frame per change");
    for (i, c) in cases.iter().enumerate() {
        let table = format!("v{i}");
        let data: Vec<Value> = frames
            .iter()
            .map(|f| f.payload()["data"].clone())
            .filter(|d| d["table"] == table.as_str())
            .collect();
        let types: Vec<&str> = data.iter().map(|d| d["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["INSERT", "UPDATE", "DELETE"], "{}", c.ty);
        let row = |v: &Value| json!({"v": v, "id": 1});
        let what = format!("{} {} -> {}", c.ty, c.before, c.after);
        let expected = [
            (0, "record", &c.want_before, "INSERT record"),
            (1, "record", &c.want_after, "UPDATE record"),
            (1, "old_record", &c.want_before, "UPDATE old_record"),
            (2, "old_record", &c.want_after, "DELETE old_record"),
        ];
        for (n, key, want, label) in expected {
            assert_eq!(data[n][key], row(want), "{label}, {what}");
        }
        if c.same_as_to_jsonb {
            let (before, after) = &oracle[i];
            // Compared as text: the same values with their keys in the same (jsonb) order.
            assert_eq!(
                data[0]["record"].to_string(),
                before.to_string(),
                "to_jsonb, {what}"
            );
            assert_eq!(
                data[2]["old_record"].to_string(),
                after.to_string(),
                "to_jsonb, {what}"
            );
        }
    }
    rt.stop().await;
    sub.raw
}

#[tokio::test]
async fn integers_are_numbers_with_every_digit() {
    let raw = check(
        "",
        vec![
            case("int2", "-32768", "7", json!(-32768), json!(7)),
            case("int4", "2147483647", "0", json!(2147483647), json!(0)),
            case(
                "int8",
                "9007199254740993",
                "-9223372036854775808",
                json!(9007199254740993i64),
                json!(i64::MIN),
            ),
            // to_jsonb writes oid as a string
            case("oid", "4294967295", "1", json!("4294967295"), json!("1")),
        ],
    )
    .await;
    // Beyond 2^53 the digits are all there (a client may parse them exactly).
    assert!(raw.iter().any(|r| r.contains(r#""v":9007199254740993"#)));
    // Keys are in jsonb order: shorter names first.
    assert!(raw
        .iter()
        .any(|r| r.contains(r#""record":{"v":-32768,"id":1}"#)));
}

#[tokio::test]
async fn numeric_and_floats_are_numbers_and_special_values_null() {
    let mut nan = case("numeric", "'NaN'", "'1.50'", Value::Null, json!(1.5));
    nan.same_as_to_jsonb = false; // wal2json writes NaN as null; to_jsonb would say "NaN"
    let mut inf = case(
        "float8",
        "'Infinity'",
        "'-Infinity'",
        Value::Null,
        Value::Null,
    );
    inf.same_as_to_jsonb = false;
    let raw = check(
        "",
        vec![
            case(
                "numeric",
                "123456789012345678901234567890.123",
                "-0.0010",
                json!(1.2345678901234568e29),
                json!(-0.001),
            ),
            nan,
            case("numeric(6,2)", "12.5", "0", json!(12.5), json!(0.0)),
            case("float8", "1e100", "-0", json!(1e100), json!(0)),
            case("float8", "1.5e-7", "0.1", json!(1.5e-7), json!(0.1)),
            case("float4", "0.1", "3.4e38", json!(0.1), json!(3.4e38)),
            inf,
        ],
    )
    .await;
    let all = raw.join("\n");
    // numeric keeps its exact digits and scale
    assert!(
        all.contains(r#""v":123456789012345678901234567890.123"#),
        "{all}"
    );
    assert!(all.contains(r#""v":-0.0010"#), "{all}");
    assert!(all.contains(r#""v":1.50"#), "{all}");
    assert!(all.contains(r#""v":12.50"#), "{all}");
    assert!(all.contains(r#""v":0.00"#), "{all}");
    // floats are written as to_jsonb writes them: plain decimal notation
    assert!(
        all.contains(&format!(r#""v":1{}"#, "0".repeat(100))),
        "{all}"
    );
    assert!(all.contains(r#""v":0.00000015"#), "{all}");
    assert!(all.contains(r#""v":0,"#), "{all}");
}

#[tokio::test]
async fn booleans_are_true_and_false() {
    check(
        "CREATE DOMAIN flag AS bool;",
        vec![
            case("bool", "true", "false", json!(true), json!(false)),
            case("flag", "false", "true", json!(false), json!(true)),
        ],
    )
    .await;
}

#[tokio::test]
async fn text_types_are_strings() {
    let mut bytea = case("bytea", "'\\xdeadbeef'", "''", json!("deadbeef"), json!(""));
    bytea.same_as_to_jsonb = false; // wal2json drops the \x
    check(
        "",
        vec![
            case(
                "text",
                "E'say \"hi\"\\n\\ttab \\\\ é'",
                "''",
                json!("say \"hi\"\n\ttab \\ é"),
                json!(""),
            ),
            case("varchar(10)", "'12'", "'NULL'", json!("12"), json!("NULL")),
            case("char(4)", "'ab'", "'abcd'", json!("ab  "), json!("abcd")),
            case(
                "date",
                "'2024-05-01'",
                "'infinity'",
                json!("2024-05-01"),
                json!("infinity"),
            ),
            case(
                "interval",
                "'1 day 2 hours'",
                "'0'",
                json!("1 day 02:00:00"),
                json!("00:00:00"),
            ),
            bytea,
        ],
    )
    .await;
}

#[tokio::test]
async fn json_and_jsonb_are_json_values() {
    check(
        "",
        vec![
            case(
                "json",
                r#"'{"b": 1.0e2, "a": [1, "x", null], "a": {"z": false, "y": 1}}'"#,
                r#"'[1.50, "s"]'"#,
                json!({"a": {"y": 1, "z": false}, "b": 100}),
                json!([1.5, "s"]),
            ),
            case(
                "jsonb",
                r#"'{"title": "t", "n": 2, "tags": ["a"], "deep": {"k": null}}'"#,
                r#"'"just a string"'"#,
                json!({"n": 2, "deep": {"k": null}, "tags": ["a"], "title": "t"}),
                json!("just a string"),
            ),
            case("jsonb", "'null'", "'12'", Value::Null, json!(12)),
        ],
    )
    .await;
}

#[tokio::test]
async fn arrays_are_json_arrays_of_typed_elements() {
    check(
        "CREATE TYPE mood AS ENUM ('sad', 'happy');
         CREATE TYPE pair AS (name text, n int4, at timestamptz);",
        vec![
            case(
                "int4[]",
                "'{1,2,NULL}'",
                "'{}'",
                json!([1, 2, null]),
                json!([]),
            ),
            case(
                "text[]",
                r#"'{a,"b c",NULL,"NULL","q\"\\"}'"#,
                "'{{x,y},{z,w}}'",
                json!(["a", "b c", null, "NULL", "q\"\\"]),
                json!([["x", "y"], ["z", "w"]]),
            ),
            case(
                "int8[]",
                "'[0:1]={5,6}'",
                "'{{1},{2}}'",
                json!([5, 6]),
                json!([[1], [2]]),
            ),
            case(
                "numeric[]",
                "'{1.50,NaN}'",
                "'{Infinity}'",
                json!([1.5, "NaN"]),
                json!(["Infinity"]),
            ),
            case(
                "bool[]",
                "'{t,f}'",
                "'{NULL}'",
                json!([true, false]),
                json!([null]),
            ),
            case(
                "jsonb[]",
                r#"ARRAY['{"a": 1}'::jsonb, '[true]']"#,
                "'{}'",
                json!([{"a": 1}, [true]]),
                json!([]),
            ),
            case(
                "timestamptz[]",
                "'{2024-05-01 12:00:00+00,infinity}'",
                "'{}'",
                json!(["2024-05-01T17:30:00+05:30", "infinity"]),
                json!([]),
            ),
            case(
                "mood[]",
                "'{sad,happy}'",
                "'{}'",
                json!(["sad", "happy"]),
                json!([]),
            ),
            case(
                "bytea[]",
                r"ARRAY['\x01ff'::bytea]",
                "'{}'",
                json!(["\\x01ff"]),
                json!([]),
            ),
            case(
                "pair",
                "ROW('x, \"y\"', 3, '2024-05-01 00:00:00+00')",
                "ROW(NULL, NULL, NULL)",
                json!({"n": 3, "at": "2024-05-01T05:30:00+05:30", "name": "x, \"y\""}),
                json!({"n": null, "at": null, "name": null}),
            ),
            case(
                "pair[]",
                "ARRAY[ROW('a', 1, NULL)::pair]",
                "'{}'",
                json!([{"n": 1, "at": null, "name": "a"}]),
                json!([]),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn timestamps_are_iso_8601_with_the_offset() {
    check(
        "",
        vec![
            case(
                "timestamptz",
                "'2024-05-01 12:00:00.5+00'",
                "'infinity'",
                json!("2024-05-01T17:30:00.5+05:30"),
                json!("infinity"),
            ),
            case(
                "timestamptz",
                "'2024-05-01 12:00:00.123456+00'",
                "'0044-03-15 12:00:00+00 BC'",
                json!("2024-05-01T17:30:00.123456+05:30"),
                // local mean time of Kolkata then
                json!("0044-03-15T17:53:28+05:53:28 BC"),
            ),
            case(
                "timestamp",
                "'2024-05-01 12:00:00'",
                "'2024-05-01 23:59:59.999'",
                json!("2024-05-01T12:00:00"),
                json!("2024-05-01T23:59:59.999"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn uuids_are_strings() {
    check(
        "",
        vec![case(
            "uuid",
            "'00000000-0000-0000-0000-00000000000a'",
            "'6f9619ff-8b86-d011-b42d-00c04fc964ff'",
            json!("00000000-0000-0000-0000-00000000000a"),
            json!("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
        )],
    )
    .await;
}

#[tokio::test]
async fn enums_are_strings() {
    check(
        "CREATE TYPE status AS ENUM ('todo', 'done');
         CREATE DOMAIN amount AS numeric;",
        vec![
            case("status", "'todo'", "'done'", json!("todo"), json!("done")),
            // a domain takes its base type's JSON
            case("amount", "2.50", "'NaN'", json!(2.5), json!("NaN")),
        ],
    )
    .await;
}

#[tokio::test]
async fn nulls_are_null() {
    check(
        "CREATE TYPE pair AS (name text, n int4);",
        vec![
            case("int4", "NULL", "5", Value::Null, json!(5)),
            case("bool", "true", "NULL", json!(true), Value::Null),
            case("jsonb", "NULL", "'null'", Value::Null, Value::Null),
            case("text[]", "NULL", "'{NULL}'", Value::Null, json!([null])),
            case("timestamptz", "NULL", "NULL", Value::Null, Value::Null),
            case(
                "pair",
                "NULL",
                "ROW(NULL, NULL)",
                Value::Null,
                json!({"n": null, "name": null}),
            ),
        ],
    )
    .await;
}
