//! The storage API over HTTP against a real database: buckets, uploads, downloads, listing,
//! move/copy/remove, signed and public URLs, with the SaaS foundation's RLS policies deciding.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

async fn upload(
    env: &Env,
    auth: &str,
    bucket: &str,
    path: &str,
    ct: &str,
    data: &[u8],
) -> reqwest::Response {
    env.http
        .post(env.url(&format!("/object/{bucket}/{path}")))
        .header("authorization", auth)
        .header("content-type", ct)
        .header("cache-control", "max-age=3600")
        .body(data.to_vec())
        .send()
        .await
        .expect("upload")
}

async fn download(env: &Env, auth: &str, bucket: &str, path: &str) -> reqwest::Response {
    env.http
        .get(env.url(&format!("/object/{bucket}/{path}")))
        .header("authorization", auth)
        .send()
        .await
        .expect("download")
}

async fn list(env: &Env, auth: &str, bucket: &str, body: Value) -> reqwest::Response {
    env.post_json(auth, format!("/object/list/{bucket}"), &body)
        .await
}

#[tokio::test]
async fn bucket_lifecycle_as_service_role() {
    let env = Env::start().await;
    let svc = service();
    let r = env
        .http
        .post(env.url("/bucket"))
        .header("authorization", &svc)
        .json(&json!({"id": "avatars", "name": "avatars", "public": true,
                      "file_size_limit": "1MB", "allowed_mime_types": ["image/png"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"name": "avatars"})
    );

    let b: Value = env
        .http
        .get(env.url("/bucket/avatars"))
        .header("authorization", &svc)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(b["public"], true);
    assert_eq!(b["file_size_limit"], 1_000_000);
    assert_eq!(b["allowed_mime_types"], json!(["image/png"]));
    assert_eq!(b["type"], "STANDARD");
    assert!(b["created_at"].as_str().expect("ts").ends_with('Z'));

    let dup = env
        .post_json(&svc, "/bucket", &json!({"name": "avatars"}))
        .await;
    expect_error(dup, "409").await;

    let all: Value = env
        .http
        .get(env.url("/bucket?limit=10&offset=0&search=av&sortColumn=name&sortOrder=asc"))
        .header("authorization", &svc)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(all.as_array().expect("array").len(), 1);
    assert_eq!(all[0]["id"], "avatars");

    let r = env
        .http
        .put(env.url("/bucket/avatars"))
        .header("authorization", &svc)
        .json(&json!({"id": "avatars", "name": "avatars", "public": false}))
        .send()
        .await
        .expect("update");
    assert_eq!(
        r.json::<Value>().await.expect("json")["message"],
        "Successfully updated"
    );
    assert_eq!(
        env.sql("SELECT public FROM storage.buckets WHERE id = 'avatars'")
            .await,
        ["false"]
    );
    // Limits were left as they were.
    assert_eq!(
        env.sql("SELECT file_size_limit FROM storage.buckets WHERE id = 'avatars'")
            .await,
        ["1000000"]
    );

    assert_eq!(
        upload(&env, &svc, "avatars", "a.png", "image/png", b"png")
            .await
            .status(),
        200
    );
    let r = env
        .http
        .delete(env.url("/bucket/avatars"))
        .header("authorization", &svc)
        .json(&json!({}))
        .send()
        .await
        .expect("delete");
    expect_error(r, "409").await;

    let r = env
        .post_json(&svc, "/bucket/avatars/empty", &json!({}))
        .await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["message"],
        "Successfully emptied"
    );
    assert_eq!(env.count_objects().await, 0);
    assert!(env.files().is_empty(), "bytes left: {:?}", env.files());

    let r = env
        .http
        .delete(env.url("/bucket/avatars"))
        .header("authorization", &svc)
        .send()
        .await
        .expect("delete");
    assert_eq!(
        r.json::<Value>().await.expect("json")["message"],
        "Successfully deleted"
    );
    let r = env
        .http
        .get(env.url("/bucket/avatars"))
        .header("authorization", &svc)
        .send()
        .await
        .expect("get");
    expect_error(r, "404").await;
}

#[tokio::test]
async fn buckets_are_governed_by_rls() {
    let env = Env::start().await;
    // No policy on storage.buckets: users neither see nor create buckets.
    let r = env
        .http
        .get(env.url("/bucket"))
        .header("authorization", user(ALICE))
        .send()
        .await
        .expect("list");
    assert_eq!(r.json::<Value>().await.expect("json"), json!([]));
    let r = env
        .post_json(user(ALICE), "/bucket", &json!({"name": "mine"}))
        .await;
    let body = expect_error(r, "403").await;
    assert_eq!(
        body["message"],
        "new row violates row-level security policy"
    );
    let r = env
        .http
        .delete(env.url("/bucket/user-files"))
        .header("authorization", user(ALICE))
        .send()
        .await
        .expect("delete");
    expect_error(r, "404").await;
    assert_eq!(env.sql("SELECT count(*) FROM storage.buckets").await, ["1"]);
    // Missing or forged tokens are refused.
    let r = env
        .http
        .get(env.url("/bucket"))
        .send()
        .await
        .expect("no auth");
    expect_error(r, "403").await;
    let r = env
        .http
        .get(env.url("/bucket"))
        .header("authorization", "Bearer not.a.jwt")
        .send()
        .await
        .expect("bad auth");
    expect_error(r, "403").await;
}

#[tokio::test]
async fn user_works_in_own_folder_and_not_in_others() {
    let env = Env::start().await;
    let alice = user(ALICE);
    let bob = user(BOB);
    let a_path = format!("{ALICE}/docs/report.txt");

    // Upload (raw body) into her own folder.
    let r = upload(
        &env,
        &alice,
        "user-files",
        &a_path,
        "text/plain",
        b"hello alice",
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["Key"], format!("user-files/{a_path}"));
    assert!(body["Id"].is_string());
    assert_eq!(
        env.sql("SELECT owner FROM storage.objects").await,
        [ALICE.to_string()]
    );

    // Multipart upload as supabase-js sends a Blob.
    let (ct, mp) = multipart("image/png", b"\x89PNG....");
    let r = env
        .http
        .post(env.url(&format!("/object/user-files/{ALICE}/avatar.png")))
        .header("authorization", &alice)
        .header("x-upsert", "false")
        .header("content-type", ct)
        .body(mp)
        .send()
        .await
        .expect("multipart");
    assert_eq!(r.status(), 200);

    // Download.
    let r = download(&env, &alice, "user-files", &a_path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.headers()["cache-control"], "max-age=3600");
    assert!(r.headers().contains_key("etag"));
    assert!(r.headers().contains_key("last-modified"));
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"hello alice");
    let r = download(&env, &alice, "user-files", &format!("{ALICE}/avatar.png")).await;
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"\x89PNG....");

    // List her folder and a subfolder.
    let root: Value = list(
        &env,
        &alice,
        "user-files",
        json!({"prefix": ALICE, "limit": 100, "offset": 0,
        "sortBy": {"column": "name", "order": "asc"}}),
    )
    .await
    .json()
    .await
    .expect("json");
    let names: Vec<&str> = root
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["avatar.png", "docs"]);
    let docs = &root[1];
    assert!(docs["id"].is_null());
    let file = &root[0];
    assert_eq!(file["metadata"]["mimetype"], "image/png");
    assert_eq!(file["metadata"]["size"], 8);

    // Bob sees nothing of hers, and cannot read, write, move or delete there.
    let r: Value = list(&env, &bob, "user-files", json!({"prefix": ALICE}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r, json!([]));
    expect_error(download(&env, &bob, "user-files", &a_path).await, "404").await;
    let r = upload(
        &env,
        &bob,
        "user-files",
        &format!("{ALICE}/evil.txt"),
        "text/plain",
        b"x",
    )
    .await;
    let body = expect_error(r, "403").await;
    assert_eq!(
        body["message"],
        "new row violates row-level security policy"
    );
    let r = env.post_json(&bob, "/object/move", &json!({"bucketId": "user-files", "sourceKey": a_path, "destinationKey": format!("{BOB}/stolen.txt")})).await;
    expect_error(r, "404").await;
    let r: Value = env
        .http
        .delete(env.url("/object/user-files"))
        .header("authorization", &bob)
        .json(&json!({"prefixes": [a_path]}))
        .send()
        .await
        .expect("remove")
        .json()
        .await
        .expect("json");
    assert_eq!(r, json!([]));
    // Bob may not overwrite her file either.
    let r = env
        .http
        .post(env.url(&format!("/object/user-files/{a_path}")))
        .header("authorization", &bob)
        .header("x-upsert", "true")
        .body("overwritten")
        .send()
        .await
        .expect("upsert");
    expect_error(r, "403").await;
    assert_eq!(env.count_objects().await, 2);
    let r = download(&env, &alice, "user-files", &a_path).await;
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"hello alice");

    // Alice cannot move her file into Bob's folder.
    let r = env.post_json(&alice, "/object/move", &json!({"bucketId": "user-files", "sourceKey": a_path, "destinationKey": format!("{BOB}/gift.txt")})).await;
    expect_error(r, "403").await;

    // Move and copy within her folder.
    let moved = format!("{ALICE}/docs/final.txt");
    let r = env
        .post_json(
            &alice,
            "/object/move",
            &json!({"bucketId": "user-files", "sourceKey": a_path, "destinationKey": moved}),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["message"],
        "Successfully moved"
    );
    expect_error(download(&env, &alice, "user-files", &a_path).await, "404").await;
    let r = download(&env, &alice, "user-files", &moved).await;
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"hello alice");
    let copy = format!("{ALICE}/docs/copy.txt");
    let r: Value = env
        .post_json(
            &alice,
            "/object/copy",
            &json!({"bucketId": "user-files", "sourceKey": moved, "destinationKey": copy}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["Key"], format!("user-files/{copy}"));
    let r = download(&env, &alice, "user-files", &copy).await;
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"hello alice");

    // Info.
    let info: Value = env
        .http
        .get(env.url(&format!("/object/info/user-files/{copy}")))
        .header("authorization", &alice)
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert_eq!(info["size"], 11);
    assert_eq!(info["content_type"], "text/plain");
    assert_eq!(info["name"], copy);

    // Remove many at once; missing names are skipped.
    let r: Value = env
        .http
        .delete(env.url("/object/user-files"))
        .header("authorization", &alice)
        .json(&json!({"prefixes": [moved, copy, format!("{ALICE}/nope.txt")]}))
        .send()
        .await
        .expect("remove")
        .json()
        .await
        .expect("json");
    assert_eq!(r.as_array().expect("array").len(), 2);
    assert_eq!(env.count_objects().await, 1);
    // Only the avatar's bytes remain.
    assert_eq!(env.files().len(), 1, "files: {:?}", env.files());

    // The service role can do everything, in anyone's folder.
    let svc = service();
    assert_eq!(
        download(&env, &svc, "user-files", &format!("{ALICE}/avatar.png"))
            .await
            .status(),
        200
    );
    let r = upload(
        &env,
        &svc,
        "user-files",
        &format!("{BOB}/from-admin.txt"),
        "text/plain",
        b"hi bob",
    )
    .await;
    assert_eq!(r.status(), 200);
    let r: Value = env
        .http
        .delete(env.url("/object/user-files"))
        .header("authorization", &svc)
        .json(
            &json!({"prefixes": [format!("{ALICE}/avatar.png"), format!("{BOB}/from-admin.txt")]}),
        )
        .send()
        .await
        .expect("remove")
        .json()
        .await
        .expect("json");
    assert_eq!(r.as_array().expect("array").len(), 2);
    assert_eq!(env.count_objects().await, 0);
    assert!(env.files().is_empty(), "files: {:?}", env.files());
}

#[tokio::test]
async fn upsert_update_and_duplicates() {
    let env = Env::start().await;
    let alice = user(ALICE);
    let p = format!("{ALICE}/a.txt");
    assert_eq!(
        upload(&env, &alice, "user-files", &p, "text/plain", b"one")
            .await
            .status(),
        200
    );
    let r = upload(&env, &alice, "user-files", &p, "text/plain", b"two").await;
    let body = expect_error(r, "409").await;
    assert_eq!(body["error"], "Duplicate");
    assert_eq!(body["message"], "The resource already exists");
    let r = env
        .http
        .post(env.url(&format!("/object/user-files/{p}")))
        .header("authorization", &alice)
        .header("x-upsert", "true")
        .header("content-type", "text/plain")
        .body("three")
        .send()
        .await
        .expect("upsert");
    assert_eq!(r.status(), 200);
    let r = env
        .http
        .put(env.url(&format!("/object/user-files/{p}")))
        .header("authorization", &alice)
        .header("content-type", "text/plain")
        .body("four")
        .send()
        .await
        .expect("update");
    assert_eq!(r.status(), 200);
    assert_eq!(
        download(&env, &alice, "user-files", &p)
            .await
            .bytes()
            .await
            .expect("bytes")
            .as_ref(),
        b"four"
    );
    // `PUT` (supabase-js `update`) of a missing object creates it, as storage-api's does, when
    // the caller's policies allow the insert.
    let r = env
        .http
        .put(env.url(&format!("/object/user-files/{ALICE}/missing.txt")))
        .header("authorization", &alice)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("update missing");
    assert_eq!(r.status(), 200);
    assert_eq!(
        download(&env, &alice, "user-files", &format!("{ALICE}/missing.txt"))
            .await
            .bytes()
            .await
            .expect("bytes")
            .as_ref(),
        b"x"
    );
    let r = env
        .http
        .put(env.url(&format!("/object/user-files/{ALICE}/bob.txt")))
        .header("authorization", user(BOB))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("update in another's folder");
    let body = expect_error(r, "403").await;
    assert_eq!(
        body["message"],
        "new row violates row-level security policy"
    );
    // Replaced versions' bytes are gone: two objects, two files.
    assert_eq!(env.count_objects().await, 2);
    assert_eq!(env.files().len(), 2, "files: {:?}", env.files());
}

#[tokio::test]
async fn limits_are_enforced_and_leave_nothing() {
    let env = Env::start().await;
    let svc = service();
    let r = env
        .post_json(
            &svc,
            "/bucket",
            &json!({"name": "small", "file_size_limit": 1000, "allowed_mime_types": ["image/*"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = upload(&env, &svc, "small", "a.txt", "text/plain", b"text").await;
    let body = expect_error(r, "415").await;
    assert_eq!(body["message"], "mime type text/plain is not supported");
    let r = upload(
        &env,
        &svc,
        "small",
        "big.png",
        "image/png",
        &vec![1u8; 5000],
    )
    .await;
    expect_error(r, "413").await;
    // Streamed without a length: refused while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![2u8; 300])).collect();
    let r = env
        .http
        .post(env.url("/object/small/stream.png"))
        .header("authorization", &svc)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("stream");
    expect_error(r, "413").await;
    assert_eq!(
        upload(&env, &svc, "small", "ok.png", "image/png", &[3u8; 1000])
            .await
            .status(),
        200
    );
    assert_eq!(env.count_objects().await, 1);
    assert_eq!(env.files().len(), 1, "files: {:?}", env.files());
    // Invalid names and buckets.
    expect_error(
        upload(&env, &svc, "nope", "a.png", "image/png", b"x").await,
        "404",
    )
    .await;
    expect_error(
        upload(&env, &svc, "small", "t%09ab.png", "image/png", b"x").await,
        "400",
    )
    .await;
}

#[tokio::test]
async fn ranges_etags_and_conditional_requests() {
    let env = Env::start().await;
    let svc = service();
    let data: Vec<u8> = (0..=255u8).collect();
    assert_eq!(
        upload(&env, &svc, "user-files", "r/bytes.bin", "text/plain", &data)
            .await
            .status(),
        200
    );
    let r = env
        .http
        .get(env.url("/object/user-files/r/bytes.bin"))
        .header("authorization", &svc)
        .header("range", "bytes=10-19")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/256");
    let etag = r.headers()["etag"].to_str().expect("etag").to_string();
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), &data[10..20]);
    let r = env
        .http
        .get(env.url("/object/authenticated/user-files/r/bytes.bin"))
        .header("authorization", &svc)
        .header("range", "bytes=-6")
        .send()
        .await
        .expect("suffix");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), &data[250..]);
    let r = env
        .http
        .get(env.url("/object/user-files/r/bytes.bin"))
        .header("authorization", &svc)
        .header("range", "bytes=300-")
        .send()
        .await
        .expect("unsatisfiable");
    assert_eq!(r.status(), 416);
    let r = env
        .http
        .get(env.url("/object/user-files/r/bytes.bin"))
        .header("authorization", &svc)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("inm");
    assert_eq!(r.status(), 304);
    let lm = download(&env, &svc, "user-files", "r/bytes.bin")
        .await
        .headers()["last-modified"]
        .to_str()
        .expect("lm")
        .to_string();
    let r = env
        .http
        .get(env.url("/object/user-files/r/bytes.bin"))
        .header("authorization", &svc)
        .header("if-modified-since", lm)
        .send()
        .await
        .expect("ims");
    assert_eq!(r.status(), 304);
    let r = env
        .http
        .head(env.url("/object/user-files/r/bytes.bin"))
        .header("authorization", &svc)
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "256");
    let r = env
        .http
        .head(env.url("/object/user-files/r/none.bin"))
        .header("authorization", &svc)
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 400);
    // Escaped as a URI component: the dot stays, so clients reading `filename` get the name;
    // a bare `download` names no file.
    for (asked, sent) in [
        ("named.bin", "attachment; filename=named.bin; filename*=UTF-8''named.bin"),
        (
            "r%C3%A9sum%C3%A9%20(1).bin",
            "attachment; filename=r%C3%A9sum%C3%A9%20(1).bin; filename*=UTF-8''r%C3%A9sum%C3%A9%20(1).bin",
        ),
        ("", "attachment;"),
    ] {
        let r = env
            .http
            .get(env.url(&format!("/object/user-files/r/bytes.bin?download={asked}")))
            .header("authorization", &svc)
            .send()
            .await
            .expect("download");
        assert_eq!(r.headers()["content-disposition"], sent);
    }
}

#[tokio::test]
async fn public_buckets_serve_without_a_token() {
    let env = Env::start().await;
    let svc = service();
    env.http
        .post(env.url("/bucket"))
        .header("authorization", &svc)
        .json(&json!({"name": "pub", "public": true}))
        .send()
        .await
        .expect("create");
    assert_eq!(
        upload(&env, &svc, "pub", "dir/a b.txt", "text/plain", b"open")
            .await
            .status(),
        200
    );
    let r = env
        .http
        .get(env.url("/object/public/pub/dir/a%20b.txt"))
        .send()
        .await
        .expect("public");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"open");
    // A private bucket does not serve publicly.
    assert_eq!(
        upload(
            &env,
            &svc,
            "user-files",
            "x/secret.txt",
            "text/plain",
            b"no"
        )
        .await
        .status(),
        200
    );
    let r = env
        .http
        .get(env.url("/object/public/user-files/x/secret.txt"))
        .send()
        .await
        .expect("private");
    expect_error(r, "404").await;
    // Anonymous callers see nothing of the private bucket either.
    expect_error(
        download(&env, &anon(), "user-files", "x/secret.txt").await,
        "404",
    )
    .await;
}

#[tokio::test]
async fn signed_urls_work_until_they_expire() {
    let env = Env::start().await;
    let alice = user(ALICE);
    let p = format!("{ALICE}/a b.txt");
    assert_eq!(
        upload(&env, &alice, "user-files", &p, "text/plain", b"signed")
            .await
            .status(),
        200
    );
    let r: Value = env
        .post_json(
            &alice,
            &format!("/object/sign/user-files/{p}"),
            &json!({"expiresIn": 60}),
        )
        .await
        .json()
        .await
        .expect("json");
    let signed = r["signedURL"].as_str().expect("signedURL").to_string();
    assert!(
        signed.starts_with(&format!("/object/sign/user-files/{p}?token=")),
        "{signed}"
    );
    let url = env.url(&signed.replace(' ', "%20"));
    let r = env.http.get(&url).send().await.expect("get signed");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"signed");
    // The token names one object only.
    let token = signed.split("token=").nth(1).expect("token");
    let r = env
        .http
        .get(env.url(&format!(
            "/object/sign/user-files/{ALICE}/other.txt?token={token}"
        )))
        .send()
        .await
        .expect("other");
    expect_error(r, "400").await;
    // Bob cannot sign Alice's file.
    let r = env
        .post_json(
            user(BOB),
            &format!("/object/sign/user-files/{p}"),
            &json!({"expiresIn": 60}),
        )
        .await;
    expect_error(r, "404").await;
    // Many at once, with per-path errors.
    let r: Value = env
        .post_json(
            &alice,
            "/object/sign/user-files",
            &json!({"expiresIn": 60, "paths": [p, "nope"]}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert!(r[0]["error"].is_null());
    assert!(r[0]["signedURL"].is_string());
    assert_eq!(r[1]["signedURL"], Value::Null);
    assert_eq!(r[1]["path"], "nope");
    // Expiry.
    let r: Value = env
        .post_json(
            &alice,
            &format!("/object/sign/user-files/{p}"),
            &json!({"expiresIn": 1}),
        )
        .await
        .json()
        .await
        .expect("json");
    let short = env.url(&r["signedURL"].as_str().expect("url").replace(' ', "%20"));
    assert_eq!(
        env.http.get(&short).send().await.expect("get").status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = env.http.get(&short).send().await.expect("expired");
    let body = expect_error(r, "400").await;
    assert_eq!(body["code"], "InvalidJWT");
    assert_eq!(body["message"], "\"exp\" claim timestamp check failed");
}

#[tokio::test]
async fn signed_upload_urls() {
    let env = Env::start().await;
    let alice = user(ALICE);
    let p = format!("{ALICE}/signed.png");
    let r: Value = env
        .post_json(
            &alice,
            &format!("/object/upload/sign/user-files/{p}"),
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    let url = r["url"].as_str().expect("url").to_string();
    let token = r["token"].as_str().expect("token").to_string();
    assert!(url.contains(&format!("token={token}")));
    let (ct, body) = multipart("image/png", b"pixels");
    let r = env
        .http
        .put(env.url(&url))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json")["Key"],
        format!("user-files/{p}")
    );
    assert_eq!(
        env.sql("SELECT owner FROM storage.objects").await,
        [ALICE.to_string()]
    );
    // The token is for this path only.
    let r = env
        .http
        .put(env.url(&format!(
            "/object/upload/sign/user-files/{ALICE}/else.png?token={token}"
        )))
        .body("x")
        .send()
        .await
        .expect("other path");
    expect_error(r, "400").await;
    // Bob cannot get an upload URL for Alice's folder.
    let r = env
        .http
        .post(env.url(&format!("/object/upload/sign/user-files/{ALICE}/bob.png")))
        .header("authorization", user(BOB))
        .send()
        .await
        .expect("sign as bob");
    expect_error(r, "403").await;
    assert_eq!(env.count_objects().await, 1);
}

#[tokio::test]
async fn listing_options_and_list_v2() {
    let env = Env::start().await;
    let svc = service();
    for name in [
        "l/b.txt",
        "l/a.txt",
        "l/c_x.txt",
        "l/sub/d.txt",
        "l/sub/deeper/e.txt",
        "other.txt",
    ] {
        assert_eq!(
            upload(
                &env,
                &svc,
                "user-files",
                name,
                "text/plain",
                name.as_bytes()
            )
            .await
            .status(),
            200
        );
    }
    async fn names(r: reqwest::Response) -> Vec<String> {
        let v: Value = r.json().await.expect("json");
        v.as_array()
            .expect("array")
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_string())
            .collect()
    }
    let all = list(&env, &svc, "user-files", json!({"prefix": "l/"})).await;
    assert_eq!(names(all).await, ["a.txt", "b.txt", "c_x.txt", "sub"]);
    let page = list(
        &env,
        &svc,
        "user-files",
        json!({"prefix": "l", "limit": 2, "offset": 1,
        "sortBy": {"column": "name", "order": "desc"}}),
    )
    .await;
    assert_eq!(names(page).await, ["c_x.txt", "b.txt"]);
    // `search` filters by name; `_` is not a wildcard.
    let found = list(
        &env,
        &svc,
        "user-files",
        json!({"prefix": "l", "search": "c_"}),
    )
    .await;
    assert_eq!(names(found).await, ["c_x.txt"]);
    let none = list(
        &env,
        &svc,
        "user-files",
        json!({"prefix": "l", "search": "b_"}),
    )
    .await;
    assert!(names(none).await.is_empty());
    let root = list(&env, &svc, "user-files", json!({"prefix": ""})).await;
    assert_eq!(names(root).await, ["l", "other.txt"]);
    let r = list(
        &env,
        &svc,
        "user-files",
        json!({"sortBy": {"column": "size"}}),
    )
    .await;
    expect_error(r, "400").await;

    let body = json!({"prefix": "l/", "limit": 3, "with_delimiter": true});
    let v2: Value = env
        .post_json(&svc, "/object/list-v2/user-files", &body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v2["hasNext"], true);
    let names: Vec<(&str, &str)> = v2["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().expect("name"),
                o["key"].as_str().expect("key"),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("l/a.txt", "a.txt"),
            ("l/b.txt", "b.txt"),
            ("l/c_x.txt", "c_x.txt")
        ]
    );
    let body =
        json!({"prefix": "l/", "limit": 3, "with_delimiter": true, "cursor": v2["nextCursor"]});
    let v2: Value = env
        .post_json(&svc, "/object/list-v2/user-files", &body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v2["hasNext"], false);
    assert_eq!(v2["folders"], json!([{"id": null, "name": "l/sub/"}]));
}

#[tokio::test]
async fn rows_without_size_metadata_still_download() {
    let env = Env::start().await;
    let svc = service();
    assert_eq!(
        upload(
            &env,
            &svc,
            "user-files",
            "m/x.txt",
            "text/plain",
            b"sized by the store"
        )
        .await
        .status(),
        200
    );
    env.db
        .client()
        .await
        .batch_execute("UPDATE storage.objects SET metadata = metadata - 'size'")
        .await
        .expect("strip size");
    let r = download(&env, &svc, "user-files", "m/x.txt").await;
    assert_eq!(r.headers()["content-length"], "18");
    assert_eq!(
        r.bytes().await.expect("bytes").as_ref(),
        b"sized by the store"
    );
}

#[tokio::test]
async fn unknown_routes_and_bad_bodies_are_storage_errors() {
    let env = Env::start().await;
    let svc = service();
    let r = env.http.get(env.url("/nowhere")).send().await.expect("get");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["statusCode"], "404");
    assert_eq!(
        body,
        json!({"statusCode": "404", "code": "InvalidRequest", "error": "Not Found",
               "message": "Route GET:/nowhere not found"})
    );
    let r = env
        .http
        .post(env.url("/bucket"))
        .header("authorization", &svc)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    expect_error(r, "400").await;
    for (path, body) in [
        ("/object/move", json!({"bucketId": "user-files"})),
        ("/object/sign/user-files/a.txt", json!({"expiresIn": -5})),
        ("/bucket", json!({"name": "bad/name"})),
    ] {
        expect_error(env.post_json(&svc, path, &body).await, "400").await;
    }
    // A missing field reads as storage-api's request validation reads.
    let r = env
        .post_json(&svc, "/object/sign/user-files", &json!({"expiresIn": 60}))
        .await;
    let body = expect_error(r, "400").await;
    assert_eq!(body["code"], "InvalidRequest");
    assert_eq!(body["message"], "body must have required property 'paths'");
}

#[tokio::test]
async fn concurrent_upserts_of_one_name_all_succeed_and_leave_one_object() {
    let env = Env::start().await;
    let alice = user(ALICE);
    let name = format!("{ALICE}/race.txt");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let http = env.http.clone();
        let url = env.url(&format!("/object/user-files/{name}"));
        let auth = alice.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .header("authorization", auth)
                .header("x-upsert", "true")
                .header("content-type", "text/plain")
                .body(format!("writer {i}"))
                .send()
                .await
                .expect("upsert")
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), 200);
    }
    assert_eq!(env.count_objects().await, 1);
    assert_eq!(env.files().len(), 1, "files: {:?}", env.files());
    let body = download(&env, &alice, "user-files", &name)
        .await
        .text()
        .await
        .expect("text");
    assert!(body.starts_with("writer "), "{body}");
}

#[tokio::test]
async fn user_metadata_round_trips_through_info() {
    use base64::Engine;
    let env = Env::start().await;
    let svc = service();
    let meta = base64::engine::general_purpose::STANDARD.encode(br#"{"album":"summer"}"#);
    let r = env
        .http
        .post(env.url("/object/user-files/meta/raw.txt"))
        .header("authorization", &svc)
        .header("content-type", "text/plain")
        .header("x-metadata", meta)
        .body("raw")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    let boundary = "XyZ";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n60\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{{\"k\":1}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"\"; filename=\"blob\"\r\n\
         Content-Type: text/csv\r\n\r\na,b\r\n--{boundary}--\r\n"
    );
    let r = env
        .http
        .post(env.url("/object/user-files/meta/form.csv"))
        .header("authorization", &svc)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    let info = |p: &'static str| {
        let env = &env;
        let svc = svc.clone();
        async move {
            env.http
                .get(env.url(&format!("/object/info/user-files/{p}")))
                .header("authorization", svc)
                .send()
                .await
                .expect("info")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let raw = info("meta/raw.txt").await;
    assert_eq!(raw["metadata"], json!({"album": "summer"}));
    let form = info("meta/form.csv").await;
    assert_eq!(form["metadata"], json!({"k": 1}));
    assert_eq!(form["content_type"], "text/csv");
    assert_eq!(form["cache_control"], "max-age=60");
    assert_eq!(form["size"], 3);
}

#[tokio::test]
async fn works_when_connected_as_supabase_storage_admin() {
    // storage-api connects as supabase_storage_admin; so may basalt standalone.
    let env = Env::start_with(|c| {
        c.db_url = c.db_url.replacen("postgres@", "supabase_storage_admin@", 1);
    })
    .await;
    assert!(env.config.db_url.contains("supabase_storage_admin@"));
    let alice = user(ALICE);
    let own = format!("{ALICE}/a.txt");
    assert_eq!(
        upload(&env, &alice, "user-files", &own, "text/plain", b"mine")
            .await
            .status(),
        200
    );
    let r = upload(
        &env,
        &user(BOB),
        "user-files",
        &format!("{ALICE}/b.txt"),
        "text/plain",
        b"x",
    )
    .await;
    expect_error(r, "403").await;
    let r = download(&env, &alice, "user-files", &own).await;
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"mine");
    let r = env
        .post_json(service(), "/bucket", &json!({"name": "admin-made"}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(env.count_objects().await, 1);
}
