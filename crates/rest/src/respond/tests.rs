//! `respond` without a database: plans built by hand, main-statement rows as Postgres would
//! answer them.

use axum::body::to_bytes;
use axum::http::StatusCode;
use axum::response::Response;

use super::respond;
use crate::action::{
    ActionPlan, CallAction, CallShape, InfoAction, MutateAction, Mutation, ReadAction, TxPlan,
};
use crate::db::Outcome;
use crate::main_statement::MainRow;
use crate::mutate::{json_payload, Payload};
use crate::plan::{ReadPlan, Source};
use crate::request::{Count, Media, Return};
use crate::schema::{Qi, Relation, Routine};

const TX: TxPlan = TxPlan {
    read_only: false,
    singular: false,
    strict_max: None,
    commit: true,
};

fn read_plan(offset: i64) -> ReadPlan {
    let qi = Qi::new("test", "items");
    ReadPlan {
        offset,
        ..ReadPlan::new(Source::Relation(qi.clone()), Some(qi), "items".into())
    }
}

fn read(count: Option<Count>, offset: i64) -> ReadAction {
    ReadAction {
        plan: read_plan(offset),
        media: Media::Json,
        custom: None,
        count,
        max_rows: None,
        location: "/items?id=gt.1".into(),
        tx: TX,
        applied: count.map(|_| "count=exact".into()),
    }
}

fn rows(page: i64, total: Option<i64>, body: &str) -> Option<Outcome> {
    Some(Outcome {
        row: MainRow {
            page,
            total,
            body: Some(body.into()),
            ..Default::default()
        },
        planned: None,
        plan: None,
    })
}

fn header<'r>(r: &'r Response, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn body(r: Response) -> String {
    let b = to_bytes(r.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(b.to_vec()).unwrap()
}

fn relation(pk: &[&str]) -> Relation {
    Relation {
        qi: Qi::new("test", "items"),
        oid: 1,
        is_view: false,
        columns: Vec::new(),
        pk: pk.iter().map(|s| s.to_string()).collect(),
        description: None,
        insertable: true,
        updatable: true,
        deletable: true,
    }
}

fn payload() -> Payload {
    json_payload(br#"[{"id":1}]"#, None).unwrap()
}

fn mutate(rel: &Relation, mutation: Mutation, ret: Return, count: bool) -> MutateAction<'_> {
    let inserts = matches!(mutation, Mutation::Insert { .. } | Mutation::Put { .. });
    MutateAction {
        mutation,
        rel,
        plan: read_plan(0),
        media: Media::Json,
        ret,
        count,
        track_inserts: false,
        merge: false,
        created: inserts,
        tx: TX,
        applied: None,
    }
}

fn insert() -> Mutation {
    Mutation::Insert {
        payload: payload(),
        on_conflict: None,
        missing_default: false,
    }
}

fn written(page: i64, location: Option<&str>, inserted: Option<i64>) -> Option<Outcome> {
    Some(Outcome {
        row: MainRow {
            page,
            body: Some("[{\"id\":1}]".into()),
            location: location.map(str::to_string),
            inserted,
            ..Default::default()
        },
        planned: None,
        plan: None,
    })
}

#[tokio::test]
async fn a_read_answers_200_with_its_range_and_location() {
    let plan = ActionPlan::Read(read(None, 0));
    let r = respond(&plan, rows(3, None, "[1,2,3]")).unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-range"), Some("0-2/*"));
    assert_eq!(header(&r, "content-location"), Some("/items?id=gt.1"));
    assert_eq!(
        header(&r, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(header(&r, "preference-applied"), None);
    assert_eq!(body(r).await, "[1,2,3]");
}

#[test]
fn an_empty_read_has_no_range() {
    let r = respond(&ActionPlan::Read(read(None, 0)), rows(0, None, "[]")).unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-range"), Some("*/*"));
}

#[test]
fn a_counted_partial_read_answers_206() {
    let plan = ActionPlan::Read(read(Some(Count::Exact), 2));
    let r = respond(&plan, rows(3, Some(10), "[]")).unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-range"), Some("2-4/10"));
    assert_eq!(header(&r, "preference-applied"), Some("count=exact"));
    // The whole set: 200.
    let plan = ActionPlan::Read(read(Some(Count::Exact), 0));
    let r = respond(&plan, rows(10, Some(10), "[]")).unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-range"), Some("0-9/10"));
}

#[test]
fn an_offset_past_the_count_answers_416() {
    let plan = ActionPlan::Read(read(Some(Count::Exact), 20));
    let e = respond(&plan, rows(0, Some(10), "[]")).unwrap_err();
    assert_eq!(e.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(e.code, "PGRST103");
    let h = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        e.headers,
        vec![
            h("Content-Range", "*/10"),
            h("Preference-Applied", "count=exact"),
            h("Content-Location", "/items?id=gt.1"),
        ]
    );
    // An offset equal to the count is an empty page: 206 with `*/total`.
    let plan = ActionPlan::Read(read(Some(Count::Exact), 10));
    let r = respond(&plan, rows(0, Some(10), "[]")).unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-range"), Some("*/10"));
    // Without a count nothing says the range is past the end.
    let plan = ActionPlan::Read(read(None, 20));
    assert_eq!(
        respond(&plan, rows(0, None, "[]")).unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_csv_read_sends_the_rows_the_statement_rendered() {
    let mut a = read(None, 0);
    a.media = Media::Csv;
    let r = respond(&ActionPlan::Read(a), rows(2, None, "a,b\n1,\"x,y\"\n2,")).unwrap();
    assert_eq!(header(&r, "content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(body(r).await, "a,b\n1,\"x,y\"\n2,");
}

#[tokio::test]
async fn an_explained_read_answers_the_plan() {
    let mut out = rows(0, None, "").unwrap();
    out.plan = Some("Seq Scan".into());
    let r = respond(&ActionPlan::Read(read(None, 0)), Some(out)).unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await, "Seq Scan");
}

#[tokio::test]
async fn an_insert_answers_201_without_a_body_by_default() {
    let rel = relation(&["id"]);
    let plan = ActionPlan::Mutate(mutate(&rel, insert(), Return::Minimal, false));
    let r = respond(&plan, written(1, None, None)).unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "content-range"), Some("*/*"));
    assert_eq!(header(&r, "location"), None);
    assert_eq!(header(&r, "content-type"), None);
    assert_eq!(body(r).await, "");
    let plan = ActionPlan::Mutate(mutate(&rel, insert(), Return::Minimal, true));
    let r = respond(&plan, written(3, None, None)).unwrap();
    assert_eq!(header(&r, "content-range"), Some("*/3"));
}

#[test]
fn an_insert_with_headers_only_says_where_the_row_is() {
    let rel = relation(&["id", "name"]);
    let plan = ActionPlan::Mutate(mutate(&rel, insert(), Return::HeadersOnly, false));
    let r = respond(&plan, written(1, Some(r#"{"id":7,"name":"a b/c"}"#), None)).unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        header(&r, "location"),
        Some("/items?id=eq.7&name=eq.a%20b%2Fc")
    );
}

#[test]
fn a_null_key_is_located_with_is_null() {
    let rel = relation(&["id", "sponsor_id"]);
    let plan = ActionPlan::Mutate(mutate(&rel, insert(), Return::HeadersOnly, false));
    let r = respond(
        &plan,
        written(1, Some(r#"{"id":1,"sponsor_id":null}"#), None),
    )
    .unwrap();
    assert_eq!(
        header(&r, "location"),
        Some("/items?id=eq.1&sponsor_id=is.null")
    );
}

#[tokio::test]
async fn an_insert_with_representation_answers_the_rows() {
    let rel = relation(&["id"]);
    let mut a = mutate(&rel, insert(), Return::Representation, false);
    a.applied = Some("return=representation".into());
    let r = respond(&ActionPlan::Mutate(a), written(1, None, None)).unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        header(&r, "preference-applied"),
        Some("return=representation")
    );
    assert_eq!(
        header(&r, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(body(r).await, "[{\"id\":1}]");
}

#[test]
fn a_merge_that_only_updated_answers_200() {
    let rel = relation(&["id"]);
    let mut a = mutate(&rel, insert(), Return::Minimal, false);
    a.track_inserts = true;
    a.merge = true;
    let plan = ActionPlan::Mutate(a);
    assert_eq!(
        respond(&plan, written(2, None, Some(0))).unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        respond(&plan, written(2, None, Some(1))).unwrap().status(),
        StatusCode::CREATED
    );
}

#[test]
fn a_put_answers_204_without_a_range_unless_asked_for_the_row() {
    let rel = relation(&["id"]);
    let put = || Mutation::Put { payload: payload() };
    let plan = ActionPlan::Mutate(mutate(&rel, put(), Return::Minimal, true));
    let r = respond(&plan, written(1, None, None)).unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "content-range"), None);
    let plan = ActionPlan::Mutate(mutate(&rel, put(), Return::Representation, false));
    assert_eq!(
        respond(&plan, written(1, None, None)).unwrap().status(),
        StatusCode::CREATED
    );
}

#[test]
fn updates_give_the_range_touched_and_deletes_the_count() {
    let rel = relation(&["id"]);
    let update = || Mutation::Update {
        payload: payload(),
        missing_default: false,
    };
    let plan = ActionPlan::Mutate(mutate(&rel, update(), Return::Minimal, false));
    let r = respond(&plan, written(2, None, None)).unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "content-range"), Some("0-1/*"));
    let plan = ActionPlan::Mutate(mutate(&rel, update(), Return::Representation, true));
    let r = respond(&plan, written(2, None, None)).unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-range"), Some("0-1/2"));
    let plan = ActionPlan::Mutate(mutate(&rel, Mutation::Delete, Return::Minimal, true));
    let r = respond(&plan, written(2, None, None)).unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "content-range"), Some("*/2"));
    let plan = ActionPlan::Mutate(mutate(&rel, update(), Return::Minimal, false));
    let r = respond(&plan, written(0, None, None)).unwrap();
    assert_eq!(header(&r, "content-range"), Some("*/*"));
}

fn routine(returns_void: bool) -> Routine {
    Routine {
        qi: Qi::new("test", "f"),
        params: Vec::new(),
        returns_set: false,
        return_type: if returns_void { "void" } else { "integer" }.into(),
        return_relation: None,
        returns_composite: false,
        returns_void,
        volatility: 'v',
        rows: 0.0,
        description: None,
        single_row_arg: None,
        media_type: None,
    }
}

fn call(returns_void: bool, media: Media) -> CallAction {
    CallAction {
        routine: routine(returns_void),
        args: Vec::new(),
        shape: CallShape::Scalar,
        raw_body: matches!(media, Media::OctetStream | Media::TextPlain),
        media,
        custom: None,
        count: None,
        max_rows: None,
        minimal: false,
        tx: TX,
        applied: None,
    }
}

#[tokio::test]
async fn calls_answer_their_result_or_204_for_void() {
    let r = respond(
        &ActionPlan::Call(call(true, Media::Json)),
        rows(1, None, ""),
    )
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = respond(
        &ActionPlan::Call(call(false, Media::Json)),
        rows(1, None, "3"),
    )
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-range"), Some("0-0/*"));
    assert_eq!(body(r).await, "3");
    let mut a = call(false, Media::Json);
    a.minimal = true;
    let r = respond(&ActionPlan::Call(a), rows(1, None, "3")).unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A counted set larger than the page: 206.
    let r = respond(
        &ActionPlan::Call(call(false, Media::Json)),
        rows(2, Some(5), "[]"),
    )
    .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-range"), Some("0-1/5"));
    // A counted set of rows with an offset past its end: 416, as a read.
    let mut a = call(false, Media::Json);
    a.shape = CallShape::Rows(read_plan(100));
    a.applied = Some("count=exact".into());
    let e = respond(&ActionPlan::Call(a), rows(0, Some(15), "[]")).unwrap_err();
    assert_eq!(e.code, "PGRST103");
    assert_eq!(
        e.details.as_deref(),
        Some("An offset of 100 was requested, but there are only 15 rows.")
    );
    assert_eq!(
        e.headers,
        vec![
            ("Content-Range".to_string(), "*/15".to_string()),
            ("Preference-Applied".to_string(), "count=exact".to_string())
        ]
    );
}

#[tokio::test]
async fn a_raw_call_answers_its_bytes() {
    let mut out = rows(1, None, "").unwrap();
    out.row.bytes = Some(b"\x00\x01".to_vec());
    let r = respond(
        &ActionPlan::Call(call(false, Media::OctetStream)),
        Some(out),
    )
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), Some("application/octet-stream"));
    assert_eq!(header(&r, "content-range"), None);
    assert_eq!(body(r).await.as_bytes(), b"\x00\x01");
}

#[test]
fn options_answer_allow() {
    let plan = ActionPlan::Info(InfoAction {
        allow: "OPTIONS,GET,HEAD".into(),
    });
    let r = respond(&plan, None).unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "allow"), Some("OPTIONS,GET,HEAD"));
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
}

#[test]
fn sql_set_status_and_headers_win() {
    let mut out = rows(1, None, "[]").unwrap();
    out.row.status = Some("418".into());
    out.row.headers =
        Some(r#"[{"Content-Range":"x"},{"Set-Cookie":"a=1"},{"Set-Cookie":"b=2"}]"#.into());
    let r = respond(&ActionPlan::Read(read(None, 0)), Some(out)).unwrap();
    assert_eq!(r.status().as_u16(), 418);
    assert_eq!(header(&r, "content-range"), Some("x"));
    assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
    let mut out = rows(1, None, "[]").unwrap();
    out.row.status = Some("nope".into());
    let e = respond(&ActionPlan::Read(read(None, 0)), Some(out)).unwrap_err();
    assert_eq!(e.code, "PGRST112");
}

#[test]
fn vary_defaults_unless_the_database_set_one() {
    let mut h = axum::http::HeaderMap::new();
    super::default_vary(&mut h);
    assert_eq!(h["vary"], "Accept, Prefer, Range");
    let mut own = axum::http::HeaderMap::new();
    own.insert(
        "vary",
        axum::http::HeaderValue::from_static("X-Test-Accept"),
    );
    super::default_vary(&mut own);
    assert_eq!(own.get_all("vary").iter().count(), 1);
    assert_eq!(own["vary"], "X-Test-Accept");
}
