//! The pipelined request connection against a real Postgres: one implicit transaction per
//! pipeline, errors, read-only transactions, prepared statements across schema generations, and a
//! pipeline abandoned mid-way.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use basalt_pg::wire::{self, Conn, Step};

async fn conn(db: &basalt_testkit::TestDb) -> Conn {
    let cfg: tokio_postgres::Config = db.url.parse().expect("url");
    Conn::connect(&cfg).await.expect("connect")
}

fn text(rows: &[Vec<wire::Row>], step: usize) -> Option<String> {
    rows.get(step)?.first()?.text(0).map(str::to_string)
}

#[tokio::test]
async fn a_pipeline_is_one_implicit_transaction() {
    let db = basalt_testkit::fresh_db().await;
    let admin = db.client().await;
    admin
        .batch_execute("create table t (id int primary key, v text); grant select on t to anon")
        .await
        .unwrap();
    let mut c = conn(&db).await;
    assert!(c.read_committed());
    // Settings made local to the transaction hold for the later steps, and only for them.
    let rows = c
        .pipeline(&[
            Step {
                sql: "select set_config('request.x', $1, true), set_config('role', $2, true)",
                params: vec![Some("hello"), Some("anon")],
            },
            Step::plain("select current_setting('request.x') || ' ' || current_user"),
            Step {
                sql: "select $1::int + 1, $2::text is null",
                params: vec![Some("41"), None],
            },
        ])
        .await
        .unwrap();
    assert_eq!(text(&rows, 1).as_deref(), Some("hello anon"));
    assert_eq!(rows[2][0].int(0), Some(42));
    assert_eq!(rows[2][0].text(1), Some("t"));
    assert!(!c.in_transaction());
    let rows = c
        .pipeline(&[Step::plain(
            "select coalesce(current_setting('request.x', true), '') || ' ' || current_user",
        )])
        .await
        .unwrap();
    assert_eq!(text(&rows, 0).as_deref(), Some(" postgres"));

    // A failing step rolls back the steps before it; the steps after it do not run.
    let err = c
        .pipeline(&[
            Step::plain("insert into t values (1, 'a')"),
            Step::plain("insert into t values (1, 'again')"),
            Step::plain("insert into t values (2, 'b')"),
        ])
        .await
        .err()
        .expect("duplicate key");
    match err {
        wire::Error::Db(e) => {
            assert_eq!(e.code, "23505");
            assert!(e.detail.unwrap_or_default().contains("(id)=(1)"));
        }
        other => panic!("{other}"),
    }
    assert!(!c.broken());
    let n: i64 = admin
        .query_one("select count(*) from t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // A read-only implicit transaction refuses writes, as BEGIN READ ONLY would.
    let err = c
        .pipeline(&[
            Step::plain("select set_config('transaction_read_only', 'on', true)"),
            Step::plain("insert into t values (3, 'c')"),
        ])
        .await
        .err()
        .expect("read-only");
    assert!(
        matches!(err, wire::Error::Db(ref e) if e.code == "25006"),
        "{err}"
    );

    // An explicit transaction stays open after the pipeline until it is ended.
    c.pipeline(&[
        Step::plain("begin"),
        Step::plain("insert into t values (4, 'd')"),
    ])
    .await
    .unwrap();
    assert!(c.in_transaction() && c.broken());
    c.pipeline(&[Step::plain("rollback")]).await.unwrap();
    assert!(!c.broken());
}

#[tokio::test]
async fn a_deferred_constraint_fails_the_commit_of_the_pipeline() {
    let db = basalt_testkit::fresh_db().await;
    let admin = db.client().await;
    admin
        .batch_execute(
            "create table p (id int primary key);
             create table ch (id int, p int references p deferrable initially deferred);",
        )
        .await
        .unwrap();
    let mut c = conn(&db).await;
    let err = c
        .pipeline(&[Step::plain("insert into ch values (1, 99)")])
        .await
        .err()
        .expect("foreign key at commit");
    assert!(
        matches!(err, wire::Error::Db(ref e) if e.code == "23503"),
        "{err}"
    );
    let n: i64 = admin
        .query_one("select count(*) from ch", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn statements_are_prepared_again_in_a_new_generation() {
    let db = basalt_testkit::fresh_db().await;
    let admin = db.client().await;
    admin
        .batch_execute("create table g (a int); insert into g values (1)")
        .await
        .unwrap();
    let mut c = conn(&db).await;
    let q = [Step::plain("select g.* from g")];
    assert_eq!(
        c.pipeline(&q).await.unwrap()[0][0].int(0),
        Some(1),
        "prepared and run"
    );
    admin
        .batch_execute("alter table g add column b int default 2")
        .await
        .unwrap();
    // The old plan's result type no longer holds: Postgres refuses to run it...
    assert!(c.pipeline(&q).await.is_err());
    // ...so a new schema generation prepares the statements again.
    c.set_generation(1);
    let rows = c.pipeline(&q).await.unwrap();
    assert_eq!((rows[0][0].int(0), rows[0][0].int(1)), (Some(1), Some(2)));
    // A statement that fails to parse is not remembered as prepared.
    for _ in 0..2 {
        let err = c.pipeline(&[Step::plain("select nope from g")]).await.err();
        assert!(matches!(err, Some(wire::Error::Db(ref e)) if e.code == "42703"));
    }
}

#[tokio::test]
async fn an_abandoned_pipeline_leaves_the_connection_broken() {
    let db = basalt_testkit::fresh_db().await;
    let mut c = conn(&db).await;
    let slow = [Step::plain("select pg_sleep(5)")];
    let cut = tokio::time::timeout(std::time::Duration::from_millis(100), c.pipeline(&slow)).await;
    assert!(cut.is_err());
    assert!(c.broken());
}

#[tokio::test]
async fn a_pool_hands_out_working_connections() {
    let db = basalt_testkit::fresh_db().await;
    let pool = wire::pool(&db.url, 2).unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = pool.get().await.unwrap();
            let s = i.to_string();
            let rows = c
                .pipeline(&[Step {
                    sql: "select $1::int * 2",
                    params: vec![Some(&s)],
                }])
                .await
                .unwrap();
            rows[0][0].int(0)
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), Some(2 * i as i64));
    }
}
