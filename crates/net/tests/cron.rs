//! pg_cron with seconds schedules: a real pg_cron 1.4 extension (in a cluster of this test's
//! own that preloads it), `cron.schedule('…', '1 seconds', …)` wrapped by the platform schema,
//! runs by basalt's scheduler recorded in cron.job_run_details, an HTTP call per run, and two
//! schedulers running each tick once.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use basalt_pg::cluster::{Cluster, ClusterConfig, PgBin};
use common::{config, receiver, wait_until};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn seconds_jobs_run_once_per_tick_and_call_http() {
    let Ok(bin) = PgBin::find() else { return };
    if !bin.has_extension("pg_cron") {
        eprintln!("pg_cron is not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = ClusterConfig {
        data_dir: dir.path().join("pg"),
        socket_dir: dir.path().join("run"),
        port: free_port(),
        listen_address: "127.0.0.1".into(),
        password: "postgres".into(),
        settings: vec![("fsync".into(), "off".into())],
        run_as_user: None,
    };
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(cfg))
        .await
        .unwrap()
        .unwrap();
    let url = cluster.socket_url("postgres");
    let mut c = basalt_pg::pool::connect(&url).await.unwrap();
    basalt_pg::platform::apply(&mut c).await.unwrap();
    let (srv, seen) = receiver().await;

    // As a migration would: the extension, then a seconds schedule and a standard one.
    c.batch_execute(&format!(
        "CREATE EXTENSION pg_cron;
         CREATE TABLE public.beats (at timestamptz DEFAULT now());
         SELECT cron.schedule('beat', '1 seconds', $$
           INSERT INTO public.beats DEFAULT VALUES;
           SELECT net.http_post('{}/ok/cron', '{{\"from\": \"cron\"}}'::jsonb);
         $$);
         SELECT cron.schedule('nightly', '0 3 * * *', 'SELECT 1');",
        srv.url
    ))
    .await
    .unwrap();
    let schedules: Vec<String> = c
        .query("SELECT schedule FROM cron.job ORDER BY jobid", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(schedules, vec!["1 seconds", "0 3 * * *"]);
    assert!(
        c.query(
            "SELECT cron.schedule('bad', 'every now and then', 'SELECT 1')",
            &[]
        )
        .await
        .is_err(),
        "pg_cron still rejects what it cannot parse"
    );

    // Two nodes: each a worker and a scheduler.
    let mut a = basalt_net::Background::empty();
    a.add_net(&url, &config()).unwrap();
    a.add_cron(&url).unwrap();
    let mut b = basalt_net::Background::empty();
    b.add_net(&url, &config()).unwrap();
    b.add_cron(&url).unwrap();

    assert!(
        wait_until(15, || async { seen.count("/ok/cron") >= 3 }).await,
        "the job calls the endpoint"
    );
    a.stop(Duration::from_secs(2)).await;
    b.stop(Duration::from_secs(2)).await;
    let runs = c
        .query(
            "SELECT status, return_message, date_trunc('second', start_time)
               FROM cron.job_run_details d JOIN cron.job j USING (jobid)
              WHERE j.jobname = 'beat' ORDER BY runid",
            &[],
        )
        .await
        .unwrap();
    assert!(runs.len() >= 3);
    for r in &runs {
        assert_eq!(r.get::<_, Option<String>>(0).as_deref(), Some("succeeded"));
    }
    let beats: i64 = c
        .query_one("SELECT count(*) FROM public.beats", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        beats as usize,
        runs.len(),
        "one run per recorded run, none twice"
    );
    let dup: i64 = c
        .query_one(
            "SELECT count(*) FROM (SELECT date_trunc('second', at) FROM public.beats GROUP BY 1 HAVING count(*) > 1) d",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(dup, 0, "two schedulers never run the same tick twice");

    // A failing command is recorded as failed.
    c.batch_execute("SELECT cron.unschedule('beat'); SELECT cron.schedule('broken', '1 seconds', 'SELECT 1/0');")
        .await
        .unwrap();
    let mut one = basalt_net::Background::empty();
    one.add_cron(&url).unwrap();
    let failed = wait_until(10, || async {
        c.query_one(
            "SELECT count(*) FROM cron.job_run_details WHERE status = 'failed' AND return_message LIKE '%division by zero%'",
            &[],
        )
        .await
        .map(|r| r.get::<_, i64>(0) > 0)
        .unwrap_or(false)
    })
    .await;
    one.stop(Duration::from_secs(2)).await;
    assert!(failed);

    // Upgrading the platform schema over the wrapped pg_cron writes the wrappers again (so they
    // name this version's helpers) and keeps them working, members of the extension.
    c.batch_execute("UPDATE extensions.basalt_platform_version SET version = 'older'")
        .await
        .unwrap();
    assert!(basalt_pg::platform::apply(&mut c).await.unwrap());
    let id: i64 = c
        .query_one(
            "SELECT cron.schedule('again', '2 seconds', 'SELECT 1')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let row = c
        .query_one(
            "SELECT (SELECT schedule FROM cron.job WHERE jobid = $1),
                    (SELECT string_agg(tgfoid::regprocedure::text, ',') FROM pg_trigger
                      WHERE tgrelid = 'cron.job'::regclass AND tgname = 'basalt_cron_wake'),
                    (SELECT count(*) FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
                      WHERE d.deptype = 'e' AND p.pronamespace = 'cron'::regnamespace
                        AND p.proname IN ('schedule', 'schedule_in_database', 'alter_job'))",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("2 seconds")
    );
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("net._notify_channel()")
    );
    assert_eq!(row.get::<_, i64>(2), 4, "the wrappers belong to pg_cron");
    drop(c);
    drop(cluster);
}
