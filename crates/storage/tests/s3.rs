//! The S3 backend against a real S3 protocol server (an in-process S3 server over a temporary
//! directory), with two basalt nodes sharing one database and one bucket: what one node writes
//! the other serves, and a resumable upload started on one node finishes on the other.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use basalt_storage::{Backend, Config, S3Config};
use base64::Engine;
use common::*;
use serde_json::json;

const ACCESS: &str = "basalt-test-access";
const SECRET_KEY: &str = "basalt-test-secret-key";

struct Cluster {
    db: basalt_testkit::TestDb,
    nodes: Vec<basalt_testkit::TestServer>,
    config: Config,
    _s3_root: tempfile::TempDir,
    bucket_dir: std::path::PathBuf,
}

async fn cluster() -> Cluster {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(SAAS_STORAGE_SQL)
        .await
        .expect("storage SQL");
    let s3_root = tempfile::tempdir().expect("tempdir");
    let bucket_dir = s3_root.path().join("basalt-objects");
    let endpoint =
        basalt_testkit::s3::serve(s3_root.path(), ACCESS, SECRET_KEY, &["basalt-objects"])
            .await
            .endpoint;
    let config = Config {
        db_url: db.url.clone(),
        jwt_secret: SECRET.into(),
        backend: Backend::S3(S3Config {
            bucket: "basalt-objects".into(),
            endpoint: Some(endpoint),
            region: "us-east-1".into(),
            access_key_id: Some(ACCESS.into()),
            secret_access_key: Some(SECRET_KEY.into()),
            force_path_style: true,
            allow_http: true,
        }),
        pool_size: 8,
        ..Config::default()
    };
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let router = basalt_storage::router(config.clone())
            .await
            .expect("router");
        nodes.push(basalt_testkit::serve(router).await);
    }
    Cluster {
        db,
        nodes,
        config,
        _s3_root: s3_root,
        bucket_dir,
    }
}

fn stored_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if !name.starts_with('.') && !name.ends_with(".json") {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn two_nodes_share_one_s3_bucket() {
    let c = cluster().await;
    let http = reqwest::Client::new();
    let (a, b) = (&c.nodes[0].url, &c.nodes[1].url);
    let alice = user(ALICE);

    // Small and multipart-sized uploads on node A.
    let small = format!("{ALICE}/small.txt");
    let r = http
        .post(format!("{a}/object/user-files/{small}"))
        .header("authorization", &alice)
        .header("content-type", "text/plain")
        .body("tiny")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    let big: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let big_name = format!("{ALICE}/big.txt");
    let r = http
        .post(format!("{a}/object/user-files/{big_name}"))
        .header("authorization", &alice)
        .header("content-type", "text/plain")
        .body(big.clone())
        .send()
        .await
        .expect("upload big");
    assert_eq!(r.status(), 200);

    // Node B serves them, whole and by range.
    let got = http
        .get(format!("{b}/object/user-files/{small}"))
        .header("authorization", &alice)
        .send()
        .await
        .expect("download");
    assert_eq!(got.text().await.expect("text"), "tiny");
    let got = http
        .get(format!("{b}/object/user-files/{big_name}"))
        .header("authorization", &alice)
        .send()
        .await
        .expect("download big");
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), &big[..]);
    let got = http
        .get(format!("{b}/object/user-files/{big_name}"))
        .header("authorization", &alice)
        .header("range", "bytes=6000000-6000009")
        .send()
        .await
        .expect("range");
    assert_eq!(got.status(), 206);
    assert_eq!(
        got.bytes().await.expect("bytes").as_ref(),
        &big[6_000_000..6_000_010]
    );

    // Copy on B, move on A, remove on B.
    let r = http
        .post(format!("{b}/object/copy"))
        .header("authorization", &alice)
        .json(&json!({"bucketId": "user-files", "sourceKey": small, "destinationKey": format!("{ALICE}/copy.txt")}))
        .send()
        .await
        .expect("copy");
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{a}/object/move"))
        .header("authorization", &alice)
        .json(&json!({"bucketId": "user-files", "sourceKey": format!("{ALICE}/copy.txt"), "destinationKey": format!("{ALICE}/moved.txt")}))
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), 200);
    let got = http
        .get(format!("{b}/object/user-files/{ALICE}/moved.txt"))
        .header("authorization", &alice)
        .send()
        .await
        .expect("download moved");
    assert_eq!(got.text().await.expect("text"), "tiny");
    assert_eq!(stored_files(&c.bucket_dir).len(), 3);
    let r = http
        .delete(format!("{b}/object/user-files"))
        .header("authorization", &alice)
        .json(&json!({"prefixes": [small, format!("{ALICE}/moved.txt")]}))
        .send()
        .await
        .expect("remove");
    assert_eq!(r.status(), 200);
    assert_eq!(stored_files(&c.bucket_dir).len(), 1);

    // A refused upload stores nothing.
    let r = http
        .post(format!("{a}/object/user-files/{ALICE}/x.txt"))
        .header("authorization", user(BOB))
        .header("content-type", "text/plain")
        .body(vec![1u8; 7 * 1024 * 1024])
        .send()
        .await
        .expect("refused");
    expect_error(r, "403").await;
    assert_eq!(stored_files(&c.bucket_dir).len(), 1);

    // A resumable upload started on A finishes on B.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let r = http
        .post(format!("{a}/upload/resumable"))
        .header("authorization", &alice)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "11")
        .header(
            "upload-metadata",
            format!(
                "bucketName {},objectName {},contentType {}",
                b64("user-files"),
                b64(&format!("{ALICE}/tus.txt")),
                b64("text/plain")
            ),
        )
        .send()
        .await
        .expect("tus create");
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    for (node, offset, chunk) in [(a, 0, "hello "), (b, 6, "world")] {
        let r = http
            .patch(format!("{node}{location}"))
            .header("authorization", &alice)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(chunk)
            .send()
            .await
            .expect("tus patch");
        assert_eq!(r.status(), 204);
    }
    let got = http
        .get(format!("{a}/object/user-files/{ALICE}/tus.txt"))
        .header("authorization", &alice)
        .send()
        .await
        .expect("download tus");
    assert_eq!(got.text().await.expect("text"), "hello world");

    // The sweep finds nothing to remove while every stored key is referenced.
    let mut eager = c.config.clone();
    eager.orphan_grace = std::time::Duration::ZERO;
    let report = basalt_storage::sweep_once(&eager).await.expect("sweep");
    assert_eq!(report.orphans, 0);
    let n: i64 =
        c.db.client()
            .await
            .query_one("SELECT count(*) FROM storage.objects", &[])
            .await
            .expect("count")
            .get(0);
    assert_eq!(n as usize, stored_files(&c.bucket_dir).len());
}
