//! Read replicas: `basalt start --db-url <primary>` with `BASALT_READ_REPLICAS=<replica>`, the
//! replica a streaming standby the test makes (`pg_basebackup -R` from the primary it starts).
//! Reads run on the replica (a stable function answers `pg_is_in_recovery()` true), writes on the
//! primary; a table the replica has not replayed yet is read on the primary; a replica whose
//! replay is paused leaves the rotation once it lags past the bound and
//! returns when it catches up; a stopped replica leaves it without one read failing, and returns
//! when it is started again.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use basalt_pg::cluster::{Cluster, ClusterConfig, PgBin, RunAs};
use common::{free_port, keys};
use serde_json::{json, Value};

const PASSWORD: &str = "replica-test-pw";

fn cluster(root: &Path, name: &str, port: u16) -> Cluster {
    Cluster::start(ClusterConfig {
        data_dir: root.join(name),
        socket_dir: root.join(format!("{name}-sock")),
        port,
        listen_address: "127.0.0.1".into(),
        password: PASSWORD.into(),
        settings: vec![],
        run_as_user: None,
    })
    .unwrap()
}

fn tcp_url(port: u16) -> String {
    format!("postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres")
}

/// `pg_basebackup -R` of the primary into `root/replica`, as the user Postgres runs as.
fn base_backup(root: &Path, port: u16) -> PathBuf {
    let dir = root.join("replica");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let run_as = RunAs::resolve(None).unwrap();
    let bin = PgBin::find().unwrap();
    let mut cmd = match run_as {
        Some(r) => {
            nix::unistd::chown(
                &dir,
                Some(nix::unistd::Uid::from_raw(r.uid)),
                Some(nix::unistd::Gid::from_raw(r.gid)),
            )
            .unwrap();
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={}", r.uid),
                &format!("--regid={}", r.gid),
                "--clear-groups",
            ])
            .arg(bin.bin("pg_basebackup"));
            c
        }
        None => Command::new(bin.bin("pg_basebackup")),
    };
    let sock = root.join("primary-sock");
    let out = cmd
        .args(["-h", sock.to_str().unwrap(), "-p", &port.to_string()])
        .args([
            "-U",
            "postgres",
            "-D",
            dir.to_str().unwrap(),
            "-R",
            "-X",
            "stream",
        ])
        .current_dir("/")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_basebackup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

struct Api {
    http: reqwest::Client,
    base: String,
    anon: String,
    service: String,
}

impl Api {
    /// `GET /rest/v1/rpc/in_recovery` as anon: whether the read ran on a standby.
    async fn read_on_replica(&self) -> Result<bool, String> {
        let r = self
            .http
            .get(format!("{}/rest/v1/rpc/in_recovery", self.base))
            .header("apikey", &self.anon)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.text().await.unwrap();
        if status != 200 {
            return Err(format!("{status} {body}"));
        }
        Ok(serde_json::from_str::<Value>(&body).unwrap() == json!(true))
    }

    /// Read until `want` (every read must succeed), within `limit`; returns how many reads.
    async fn reads_until(&self, want: bool, limit: Duration) -> usize {
        let t = Instant::now();
        let mut n = 0;
        loop {
            n += 1;
            match self.read_on_replica().await {
                Ok(v) if v == want => return n,
                Ok(_) => {}
                Err(e) => panic!("read {n} failed: {e}"),
            }
            assert!(t.elapsed() < limit, "reads never ran on_replica={want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn insert(&self, body: &str) {
        let r = self
            .http
            .post(format!("{}/rest/v1/notes", self.base))
            .header("apikey", &self.service)
            .header("Authorization", format!("Bearer {}", self.service))
            .json(&json!({ "body": body }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_a_streaming_replica_in_rotation_and_writes_to_the_primary() {
    let root = std::env::temp_dir().join(format!("basalt-replicas-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (pport, rport) = (free_port(), free_port());
    let primary = cluster(&root, "primary", pport);
    base_backup(&root, pport);
    let mut replica = cluster(&root, "replica", rport);
    let admin = basalt_pg::pool::connect(&replica.socket_url("postgres"))
        .await
        .unwrap();
    let standby: bool = admin
        .query_one("select pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(standby, "the replica is a standby");

    let dir = common::project(&[(
        "20240101000000_notes.sql",
        "create table public.notes (id bigserial primary key, body text not null);
         grant all on public.notes to anon, authenticated, service_role;
         grant usage on sequence public.notes_id_seq to anon, authenticated, service_role;
         create function public.in_recovery() returns boolean stable language sql
           as 'select pg_is_in_recovery()';
         create function public.write_in_recovery() returns boolean volatile language sql
           as 'insert into public.notes (body) values (''from rpc''); select pg_is_in_recovery()';",
    )]);
    // A replica lagging more than 3 s leaves the rotation.
    std::fs::write(
        dir.path().join("supabase/config.toml"),
        "project_id = \"test\"\n[basalt]\nread_replica_max_lag = 3\n",
    )
    .unwrap();
    let port = free_port();
    let replica_url = tcp_url(rport);
    let mut basalt = common::start(
        dir.path(),
        port,
        &tcp_url(pport),
        &[
            (
                "BASALT_JWT_SECRET",
                "replica-test-secret-with-at-least-32-chars",
            ),
            ("BASALT_READ_REPLICAS", &replica_url),
        ],
    );
    let (anon, service) = keys(dir.path());
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        anon,
        service,
    };

    // Reads run on the replica once the checker puts it in rotation (within a few seconds).
    let n = api.reads_until(true, Duration::from_secs(15)).await;
    eprintln!("replica in rotation after {n} reads");
    for _ in 0..10 {
        assert!(
            api.read_on_replica().await.unwrap(),
            "every read on the replica"
        );
    }
    // basalt's connections (the checker's and the requests') are on the replica.
    let sessions: i64 = admin
        .query_one(
            "select count(*) from pg_stat_activity where client_addr is not null",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        sessions >= 2,
        "basalt's connections on the replica: {sessions}"
    );

    // Writes run on the primary: the insert commits (a standby refuses it), and a volatile
    // function called with POST writes and says it is not in recovery.
    api.insert("written").await;
    let r = api
        .http
        .post(format!("{}/rest/v1/rpc/write_in_recovery", api.base))
        .header("apikey", &api.service)
        .header("Authorization", format!("Bearer {}", api.service))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!(false));
    // The rows reach the replica, and reads of the table (on the replica) see them.
    let t = Instant::now();
    loop {
        let rows: Value = api
            .http
            .get(format!("{}/rest/v1/notes?select=body&order=id", api.base))
            .header("apikey", &api.anon)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if rows == json!([{"body": "written"}, {"body": "from rpc"}]) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{rows}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A table created on the primary while the replica's replay is paused: once the schema
    // cache has it, reads of it succeed (the replica does not have it: they run on the primary)
    // while other reads stay on the replica.
    admin
        .batch_execute("select pg_wal_replay_pause()")
        .await
        .unwrap();
    let primary_admin = basalt_pg::pool::connect(&primary.socket_url("postgres"))
        .await
        .unwrap();
    primary_admin
        .batch_execute(
            "create table public.late (id int primary key);
             insert into public.late values (7);
             grant select on public.late to anon;",
        )
        .await
        .unwrap();
    let t = Instant::now();
    loop {
        let r = api
            .http
            .get(format!("{}/rest/v1/late?select=id", api.base))
            .header("apikey", &api.anon)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            assert_eq!(r.json::<Value>().await.unwrap(), json!([{"id": 7}]));
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(2), "{}", r.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fresh_after = t.elapsed();
    let lacks: bool = admin
        .query_one("select to_regclass('public.late') is null", &[])
        .await
        .unwrap()
        .get(0);
    assert!(lacks, "the paused replica has not replayed the table");
    assert!(
        api.read_on_replica().await.unwrap(),
        "the replica stays in rotation"
    );
    eprintln!("a table the paused replica lacks was read {fresh_after:?} after its DDL");
    admin
        .batch_execute("select pg_wal_replay_resume()")
        .await
        .unwrap();
    api.reads_until(true, Duration::from_secs(10)).await;

    // Replay paused while the primary writes: past 3 s of lag the replica leaves the rotation,
    // and returns once replay resumes.
    admin
        .batch_execute("select pg_wal_replay_pause()")
        .await
        .unwrap();
    api.insert("while paused").await;
    let t = Instant::now();
    api.reads_until(false, Duration::from_secs(10)).await;
    let out_after = t.elapsed();
    assert!(out_after >= Duration::from_secs(2), "{out_after:?}");
    admin
        .batch_execute("select pg_wal_replay_resume()")
        .await
        .unwrap();
    let t = Instant::now();
    api.reads_until(true, Duration::from_secs(10)).await;
    eprintln!(
        "a paused replica left the rotation after {out_after:?}; back {:?} after replay resumed",
        t.elapsed()
    );
    drop(admin);

    // The replica stops while reads go on: not one read fails, and they move to the primary.
    let reads = {
        let api = &api;
        async move {
            let mut n = 0;
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(4) {
                api.read_on_replica()
                    .await
                    .unwrap_or_else(|e| panic!("read {n}: {e}"));
                n += 1;
            }
            n
        }
    };
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::block_in_place(|| replica.stop());
    };
    let (n, ()) = tokio::join!(reads, stop);
    drop(replica);
    assert!(
        !api.read_on_replica().await.unwrap(),
        "reads on the primary"
    );
    eprintln!("{n} reads while the replica stopped, none failed");

    // Started again, it returns to the rotation.
    let replica = cluster(&root, "replica", rport);
    let t = Instant::now();
    api.reads_until(true, Duration::from_secs(15)).await;
    eprintln!(
        "the restarted replica back in rotation after {:?}",
        t.elapsed()
    );
    drop(replica);
    // basalt said when and why the replica left the rotation.
    basalt.child.kill().unwrap();
    basalt.child.wait().unwrap();
    let log = basalt.stderr();
    let outs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("read replica out of rotation"))
        .collect();
    eprintln!("{}", outs.join("\n"));
    assert!(outs.len() >= 2, "{log}");
    drop(primary);
    let _ = std::fs::remove_dir_all(&root);
}
