//! Storage as `basalt start` connects it: logged in as `authenticator` with `service_role` as the
//! session's role. A token naming a superuser is refused by Postgres; the API roles work, and the
//! bookkeeping after a caller's policies decided still bypasses row level security. Each role
//! runs with its own settings (`ALTER ROLE … SET statement_timeout`).
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

async fn platform_env() -> Env {
    Env::start_with(|c| {
        c.db_url = basalt_pg::platform::local_url_as(&c.db_url, "authenticator").unwrap();
        assert!(c.db_url.contains("authenticator@"), "{}", c.db_url);
    })
    .await
}

fn as_role(role: &str) -> String {
    format!(
        "Bearer {}",
        jwt(json!({"role": role, "exp": 4_000_000_000u64}))
    )
}

async fn list_buckets(env: &Env, auth: &str) -> reqwest::Response {
    env.http
        .get(env.url("/bucket"))
        .header("authorization", auth)
        .send()
        .await
        .expect("list")
}

#[tokio::test]
async fn tokens_naming_a_superuser_are_refused() {
    let env = platform_env().await;
    for role in ["postgres", "supabase_admin"] {
        let body = expect_error(list_buckets(&env, &as_role(role)).await, "403").await;
        assert_eq!(body["error"], "Unauthorized");
        assert_eq!(
            body["message"],
            format!("permission denied to set role \"{role}\"")
        );
    }
    let r = list_buckets(&env, &service()).await;
    assert_eq!(r.status(), 200);
    let names: Vec<Value> = r.json::<Vec<Value>>().await.expect("json");
    assert_eq!(names.len(), 1, "service_role sees the bucket: {names:?}");
    for auth in [anon(), user(ALICE)] {
        let r = list_buckets(&env, &auth).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.expect("json"), json!([]));
    }
    // An upload's bookkeeping (after the caller's policy allowed it) runs as the session role.
    let r = env
        .http
        .post(env.url(&format!("/object/user-files/{ALICE}/note.txt")))
        .header("authorization", user(ALICE))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(
        env.sql("SELECT metadata->>'size' FROM storage.objects WHERE name LIKE '%note.txt'")
            .await,
        ["5"]
    );
}

#[tokio::test]
async fn a_role_statement_timeout_applies() {
    let env = platform_env().await;
    env.db
        .client()
        .await
        .batch_execute(
            "do $$ begin execute format('alter role anon in database %I set statement_timeout = %L',
                                        current_database(), '1s'); end $$;
             create policy slow on storage.buckets for select to anon
               using ((select true from pg_sleep(3)));",
        )
        .await
        .expect("slow policy");
    let started = Instant::now();
    let body = expect_error(list_buckets(&env, &anon()).await, "500").await;
    let took = started.elapsed();
    assert_eq!(body["code"], "InternalError", "{body}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "stopped after about the timeout: {took:?}"
    );
}
