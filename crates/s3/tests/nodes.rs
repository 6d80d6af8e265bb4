//! Two basalt nodes (two S3 endpoints over one database and one byte store) serving one
//! multipart upload: parts go to either node, the other completes it; and a presigned URL
//! signed for one node's endpoint is served. The client is `object_store`'s S3 client (SigV4).
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

use std::time::Duration;

use basalt_storage::{Backend, Config as StorageConfig};
use basalt_testkit::{TestDb, TestServer};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, PutPayload};

const SECRET: &str = "s3-test-secret-with-at-least-32-characters";
const ACCESS: &str = "basalt-test-access-key";
const ACCESS_SECRET: &str = "basalt-test-secret-access-key";

async fn node(db: &TestDb, dir: &std::path::Path) -> TestServer {
    let config = basalt_s3::Config {
        storage: StorageConfig {
            db_url: db.url.clone(),
            jwt_secret: SECRET.into(),
            backend: Backend::File {
                root: dir.to_path_buf(),
            },
            pool_size: 4,
            part_size: 256 * 1024,
            ..StorageConfig::default()
        },
        access_key_id: ACCESS.into(),
        secret_access_key: ACCESS_SECRET.into(),
        anon_key: "not-used-here".into(),
        region: "local".into(),
    };
    basalt_testkit::serve(basalt_s3::router(config).unwrap()).await
}

fn client(server: &TestServer) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(format!("{}/s3", server.url))
        .with_bucket_name("shared")
        .with_region("local")
        .with_access_key_id(ACCESS)
        .with_secret_access_key(ACCESS_SECRET)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_multipart_upload_spans_two_nodes_and_presigned_urls_work() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute("INSERT INTO storage.buckets (id, name) VALUES ('shared', 'shared')")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (node(&db, dir.path()).await, node(&db, dir.path()).await);
    let (sa, sb) = (client(&a), client(&b));

    let path = Path::from("big/two-nodes.bin");
    let id = sa.create_multipart(&path).await.unwrap();
    let p0: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let p1: Vec<u8> = (0..4321).map(|i| (i % 7) as u8).collect();
    let part0: PartId = sa
        .put_part(&path, &id, 0, PutPayload::from(p0.clone()))
        .await
        .unwrap();
    let part1: PartId = sb
        .put_part(&path, &id, 1, PutPayload::from(p1.clone()))
        .await
        .unwrap();
    let rows: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM storage.s3_multipart_uploads_parts WHERE upload_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 2);
    sb.complete_multipart(&path, &id, vec![part0, part1])
        .await
        .unwrap();

    // Either node serves the whole object.
    let whole = [p0.as_slice(), p1.as_slice()].concat();
    for s in [&sa, &sb] {
        let got = s.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(got.len(), whole.len());
        assert!(got.as_ref() == whole.as_slice());
    }
    let left: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM storage.s3_multipart_uploads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    // No part bytes are left in the store.
    assert!(
        !dir.path().join("multipart").exists() || {
            std::fs::read_dir(dir.path().join("multipart"))
                .unwrap()
                .all(|e| {
                    std::fs::read_dir(e.unwrap().path())
                        .unwrap()
                        .next()
                        .is_none()
                })
        }
    );

    // A presigned GET (query-string SigV4) for node A.
    let url = sa
        .signed_url(http::Method::GET, &path, Duration::from_secs(60))
        .await
        .unwrap();
    let r = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), whole.len());
    // Tampered with, it is refused.
    let tampered = url.as_str().replace("two-nodes", "two-nodez");
    let r = reqwest::get(tampered).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));
}
