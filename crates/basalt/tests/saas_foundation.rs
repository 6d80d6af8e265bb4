//! Seed 003 (SaaS foundation): its three SQL blocks apply verbatim as migrations, and its RLS
//! policies isolate users from each other while the service role sees everything.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use basalt_testkit::fresh_db;

/// The ```sql block under the heading that names `file` in the seed document.
fn sql_block(doc: &str, file: &str) -> String {
    let at = doc
        .find(&format!("### {file}"))
        .expect("heading in seed doc");
    let rest = &doc[at..];
    let start = rest.find("```sql").expect("sql block") + "```sql".len();
    let end = rest[start..].find("```").expect("end of sql block");
    rest[start..start + end].to_string()
}

const ALICE: &str = "11111111-1111-4111-8111-111111111111";
const BOB: &str = "22222222-2222-4222-8222-222222222222";

async fn visible(client: &tokio_postgres::Client, claims: &str, role: &str, sql: &str) -> i64 {
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute(
            "SELECT set_config('request.jwt.claims', $1, true), set_config('role', $2, true)",
            &[&claims, &role],
        )
        .await
        .unwrap();
    let n: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
    client.batch_execute("ROLLBACK").await.unwrap();
    n
}

#[tokio::test]
async fn saas_foundation_migrations_apply_and_isolate_users() {
    let Some(shared) = basalt_testkit::shared_dir() else {
        eprintln!("skipped: ../shared (seed documents) is absent");
        return;
    };
    let doc = std::fs::read_to_string(shared.join("seeds/003-saas-foundation.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for f in ["0001_init.sql", "0002_policies.sql", "0003_storage.sql"] {
        std::fs::write(dir.path().join(f), sql_block(&doc, f)).unwrap();
    }
    let db = fresh_db().await;
    let mut client = db.client().await;
    let migrations = basalt_migrate::scan(dir.path()).unwrap();
    assert_eq!(migrations.len(), 3);
    let applied = basalt_migrate::apply_pending(&mut client, &migrations)
        .await
        .unwrap();
    assert_eq!(applied, vec!["0001", "0002", "0003"]);
    // A second run applies nothing.
    assert!(basalt_migrate::apply_pending(&mut client, &migrations)
        .await
        .unwrap()
        .is_empty());
    let recorded: Vec<(String, String, i32)> = client
        .query(
            "SELECT version, name, cardinality(statements) FROM supabase_migrations.schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(recorded[0].0, "0001");
    assert_eq!(recorded[0].1, "init");
    assert!(recorded.iter().all(|r| r.2 > 0));

    client
        .batch_execute(&format!(
            "INSERT INTO auth.users (id, email, aud, role) VALUES ('{ALICE}', 'alice@example.com', 'authenticated', 'authenticated'), ('{BOB}', 'bob@example.com', 'authenticated', 'authenticated');
             INSERT INTO public.users (id, email) VALUES ('{ALICE}', 'alice@example.com'), ('{BOB}', 'bob@example.com');
             INSERT INTO public.subscriptions (user_id, status, plan) VALUES ('{ALICE}', 'active', 'pro'), ('{BOB}', 'trial', 'free');
             INSERT INTO public.usage_counters (user_id, metric, count, window_start, window_end) VALUES
               ('{ALICE}', 'api_calls', 3, now(), now() + interval '1 month'),
               ('{BOB}', 'api_calls', 5, now(), now() + interval '1 month');
             INSERT INTO storage.objects (bucket_id, name) VALUES ('user-files', '{ALICE}/a.txt'), ('user-files', '{BOB}/b.txt');"
        ))
        .await
        .unwrap();

    let alice = format!(r#"{{"sub":"{ALICE}","role":"authenticated"}}"#);
    let bob = format!(r#"{{"sub":"{BOB}","role":"authenticated"}}"#);
    let service = r#"{"role":"service_role"}"#;
    for table in [
        "public.users",
        "public.subscriptions",
        "public.usage_counters",
        "storage.objects",
    ] {
        let count = format!("SELECT count(*) FROM {table}");
        assert_eq!(
            visible(&client, &alice, "authenticated", &count).await,
            1,
            "alice on {table}"
        );
        assert_eq!(
            visible(&client, &bob, "authenticated", &count).await,
            1,
            "bob on {table}"
        );
        assert_eq!(
            visible(&client, service, "service_role", &count).await,
            2,
            "service_role on {table}"
        );
        assert_eq!(
            visible(&client, "{}", "anon", &count).await,
            0,
            "anon on {table}"
        );
    }
    let own = format!("SELECT count(*) FROM public.users WHERE id = '{ALICE}'");
    assert_eq!(
        visible(&client, &bob, "authenticated", &own).await,
        0,
        "bob cannot see alice"
    );

    // Bob cannot change Alice's profile: the update matches no row and changes nothing.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute(
            "SELECT set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)",
            &[&bob],
        )
        .await
        .unwrap();
    let n = client
        .execute(
            &format!("UPDATE public.users SET email = 'pwned@example.com' WHERE id = '{ALICE}'"),
            &[],
        )
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(n, 0);
    let email: String = client
        .query_one(
            &format!("SELECT email FROM public.users WHERE id = '{ALICE}'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, "alice@example.com");
}
