//! `POST /object/list-v2/{bucket}` (supabase-js `listV2`) pages through every sort as
//! storage-api does: by name (byte order) or by `created_at`/`updated_at`, ascending or
//! descending, with and without the delimiter, five entries a page, the cursor carrying the
//! sort; folders are `{"id": null, "name": "<prefix>dir/"}` and sort by their first object's
//! creation.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

async fn put(env: &Env, path: &str) {
    put_text(env, "user-files", path, b"x").await;
    // Distinct times to the millisecond, which the time sorts compare.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

/// Every page of a listing with `options`, five entries at a time: (objects, folders).
async fn all_pages(env: &Env, options: Value) -> (Vec<String>, Vec<String>) {
    let (mut objects, mut folders) = (Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut body = options.clone();
        body["limit"] = json!(5);
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let r = env
            .post_json(service(), "/object/list-v2/user-files", &body)
            .await;
        let status = r.status();
        let page: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{page}");
        let names = |k: &str| -> Vec<String> {
            page[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_string())
                .collect()
        };
        let (o, f) = (names("objects"), names("folders"));
        assert!(o.len() + f.len() <= 5);
        objects.extend(o);
        folders.extend(f);
        if page["hasNext"] == json!(true) {
            cursor = Some(page["nextCursor"].as_str().unwrap().to_string());
        } else {
            assert!(page.get("nextCursor").is_none());
            return (objects, folders);
        }
    }
    panic!("listing never ended");
}

fn rev(v: &[&str]) -> Vec<String> {
    v.iter().rev().map(|s| s.to_string()).collect()
}

fn own(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn every_sort_pages_in_order() {
    let env = Env::start().await;
    // Created in this order; then `b.txt` and `Aa/1.txt` are written again (updated).
    let created = [
        "c.txt",
        "Aa/1.txt",
        "b.txt",
        "dd/2.txt",
        "a.txt",
        "Aa/0.txt",
        "Zz.txt",
        "dd/x/3.txt",
        "a.log",
        "e.txt",
        "a/9.txt",
    ];
    for p in created {
        put(&env, p).await;
    }
    put(&env, "b.txt").await;
    put(&env, "Aa/1.txt").await;

    let by = |column: &str, order: &str| json!({"with_delimiter": true, "sortBy": {"column": column, "order": order}});
    // Byte order: uppercase first; a folder sorts where its names start (`a.txt` < `a/`).
    let objects = ["Zz.txt", "a.log", "a.txt", "b.txt", "c.txt", "e.txt"];
    let folders = ["Aa/", "a/", "dd/"];
    assert_eq!(
        all_pages(&env, json!({"with_delimiter": true})).await,
        (own(&objects), own(&folders))
    );
    assert_eq!(
        all_pages(&env, by("name", "desc")).await,
        (rev(&objects), rev(&folders))
    );
    // By creation: folders by their first object's.
    let objects = ["c.txt", "b.txt", "a.txt", "Zz.txt", "a.log", "e.txt"];
    let folders = ["Aa/", "dd/", "a/"];
    assert_eq!(
        all_pages(&env, by("created_at", "asc")).await,
        (own(&objects), own(&folders))
    );
    assert_eq!(
        all_pages(&env, by("created_at", "desc")).await,
        (rev(&objects), rev(&folders))
    );
    // By update: `b.txt` was written last; folders still by creation.
    let objects = ["c.txt", "a.txt", "Zz.txt", "a.log", "e.txt", "b.txt"];
    assert_eq!(
        all_pages(&env, by("updated_at", "asc")).await,
        (own(&objects), own(&folders))
    );
    assert_eq!(
        all_pages(&env, by("updated_at", "desc")).await,
        (rev(&objects), rev(&folders))
    );
    // Without the delimiter every object is listed, by full name.
    let mut flat = own(&created);
    flat.sort();
    assert_eq!(all_pages(&env, json!({})).await, (flat, vec![]));
    // A prefix without a slash matches names, and folders, that start with it.
    assert_eq!(
        all_pages(&env, json!({"prefix": "a", "with_delimiter": true})).await,
        (own(&["a.log", "a.txt"]), own(&["a/"]))
    );
    assert_eq!(
        all_pages(&env, json!({"prefix": "dd/", "with_delimiter": true})).await,
        (own(&["dd/2.txt"]), own(&["dd/x/"]))
    );
    // A cursor that is not one of ours is refused.
    let r = env
        .post_json(
            service(),
            "/object/list-v2/user-files",
            &json!({"cursor": "not a cursor"}),
        )
        .await;
    let body = expect_error(r, "400").await;
    assert_eq!(body["code"], "InvalidParameter");
    assert_eq!(body["message"], "Invalid Parameter continuation token");
}
