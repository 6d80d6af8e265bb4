//! `basalt db lint --plpgsql-check` against a real database: plpgsql_check finds a body that
//! reads a missing table, and a correct body yields nothing.

use basalt_schema::lint::plpgsql_check;

#[tokio::test]
async fn finds_a_body_that_reads_a_missing_table() {
    let db = basalt_testkit::fresh_db().await;
    let mut client = db.client().await;
    client
        .batch_execute(
            "create function public.broken() returns bigint language plpgsql as $$
             begin
               return (select count(*) from public.nope);
             end $$;
             create function public.fine() returns int language plpgsql as $$ begin return 1; end $$;",
        )
        .await
        .expect("create functions");
    let available = client
        .query_opt(
            "select 1 from pg_available_extensions where name = 'plpgsql_check'",
            &[],
        )
        .await
        .expect("query")
        .is_some();
    match plpgsql_check::run(&mut client, &["public".to_string()]).await {
        Ok(findings) => {
            assert!(available);
            assert_eq!(findings.len(), 1, "{findings:?}");
            assert_eq!(findings[0].file, "public.broken()");
            assert_eq!(findings[0].line, 3, "line 1 is the empty line after $$");
            assert!(findings[0]
                .message
                .starts_with("relation \"public.nope\" does not exist"));
            let left: i64 = client
                .query_one(
                    "select count(*) from pg_extension where extname = 'plpgsql_check'",
                    &[],
                )
                .await
                .expect("count")
                .get(0);
            assert_eq!(left, 0, "the extension is rolled back");
        }
        Err(e) => {
            assert!(!available, "{e}");
            assert!(
                e.to_string().starts_with("plpgsql_check is not installed"),
                "{e}"
            );
        }
    }
}
