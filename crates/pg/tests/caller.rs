//! Pools that serve requests as their callers, built on a superuser URL, hold `authenticator`
//! sessions: the role a request sets is checked against `authenticator` (42501 for `postgres`,
//! `supabase_admin` or the URL's own user), on a connection's first use and after it was given
//! back and reused; a pool asking for `service_role` acts as it, and returns to it after
//! `SET LOCAL ROLE TO DEFAULT`. Pools for services' own work keep the URL's user.
#![allow(clippy::unwrap_used)]

use basalt_pg::wire::Step;

const SET_ROLE: &str = "SELECT set_config('role', $1, true)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superuser_url_serves_callers_as_authenticator_in_every_pool_kind() {
    let db = basalt_testkit::fresh_db().await;

    // The wire pool: refused roles fail as Postgres says; the API roles work; one connection,
    // reused, keeps the session.
    let wire = basalt_pg::wire::pool_for_callers(&db.url, 1).unwrap();
    for round in 0..2 {
        let mut c = wire.get().await.unwrap();
        let rows = c
            .pipeline(&[Step::plain("SELECT session_user::text, current_user::text")])
            .await
            .unwrap();
        assert_eq!(rows[0][0].text(0), Some("authenticator"), "round {round}");
        assert_eq!(rows[0][0].text(1), Some("authenticator"), "round {round}");
        for role in ["postgres", "supabase_admin"] {
            let err = c
                .pipeline(&[Step {
                    sql: SET_ROLE,
                    params: vec![Some(role)],
                }])
                .await
                .err()
                .unwrap();
            match err {
                basalt_pg::wire::Error::Db(e) => {
                    assert_eq!(e.code, "42501", "{role}");
                    assert_eq!(
                        e.message,
                        format!("permission denied to set role \"{role}\"")
                    );
                }
                e => panic!("{role}: {e}"),
            }
        }
        let rows = c
            .pipeline(&[
                Step {
                    sql: SET_ROLE,
                    params: vec![Some("authenticated")],
                },
                Step::plain("SELECT current_user::text"),
            ])
            .await
            .unwrap();
        assert_eq!(rows[1][0].text(0), Some("authenticated"));
    }

    // The general pool, with storage's session role.
    let general = basalt_pg::pool::build_for_callers(&db.url, 1, Some("service_role")).unwrap();
    for round in 0..2 {
        let mut c = general.get().await.unwrap();
        let row = c
            .query_one("SELECT session_user::text, current_user::text", &[])
            .await
            .unwrap();
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, String>(1)),
            ("authenticator".into(), "service_role".into()),
            "round {round}"
        );
        let tx = c.transaction().await.unwrap();
        let err = tx.query(SET_ROLE, &[&"postgres"]).await.unwrap_err();
        assert_eq!(
            err.as_db_error().map(|e| (e.code().code(), e.message())),
            Some(("42501", "permission denied to set role \"postgres\"")),
        );
        tx.rollback().await.unwrap();
        let tx = c.transaction().await.unwrap();
        tx.query(SET_ROLE, &[&"anon"]).await.unwrap();
        tx.batch_execute("SET LOCAL ROLE TO DEFAULT").await.unwrap();
        let row = tx
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "service_role");
        tx.commit().await.unwrap();
        // Statements a request's SQL could run do not bring the superuser back.
        c.batch_execute("RESET ALL; RESET ROLE").await.unwrap();
        let row = c.query_one("SELECT current_user::text", &[]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), "service_role", "round {round}");
    }

    // A pool for a service's own work keeps the URL's user.
    let own = basalt_pg::pool::build(&db.url, 1).unwrap();
    let row = own
        .get()
        .await
        .unwrap()
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");
}
