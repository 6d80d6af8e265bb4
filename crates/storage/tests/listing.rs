//! `POST /object/list/{bucket}` (supabase-js `list`) orders and matches as storage-api's
//! `storage.search()`: by name case-insensitively, byte by byte, a folder where its names start;
//! the prefix matches whatever its case; other sort columns list folders first, in the same
//! order as the objects.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

async fn names(env: &Env, body: Value) -> Vec<String> {
    let r = env
        .post_json(service(), "/object/list/user-files", &body)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn names_sort_case_insensitively_with_folders_in_place() {
    let env = Env::start().await;
    for p in [
        "f/Zed.txt",
        "f/apple.txt",
        "f/Banana.txt",
        "f/dir.txt",
        "f/dir/inner.txt",
        "f/dir2.txt",
        "f/Cats/c.txt",
    ] {
        put_text(&env, "user-files", p, b"x").await;
    }
    let asc = [
        "apple.txt",
        "Banana.txt",
        "Cats",
        "dir.txt",
        "dir",
        "dir2.txt",
        "Zed.txt",
    ];
    assert_eq!(names(&env, json!({"prefix": "f"})).await, asc);
    let mut desc = asc.to_vec();
    desc.reverse();
    assert_eq!(
        names(
            &env,
            json!({"prefix": "f/", "sortBy": {"column": "name", "order": "desc"}})
        )
        .await,
        desc
    );
    // Paging counts folders and objects alike, in that order.
    assert_eq!(
        names(&env, json!({"prefix": "f", "limit": 3, "offset": 2})).await,
        ["Cats", "dir.txt", "dir"]
    );
    // The prefix and `search` match whatever their case.
    assert_eq!(names(&env, json!({"prefix": "F"})).await, asc);
    assert_eq!(
        names(&env, json!({"prefix": "f", "search": "DIR"})).await,
        ["dir.txt", "dir", "dir2.txt"]
    );
    assert_eq!(names(&env, json!({"prefix": "f/CATS"})).await, ["c.txt"]);
    // Other columns: folders first, sorted like the objects.
    let by_created =
        |order: &str| json!({"prefix": "f", "sortBy": {"column": "created_at", "order": order}});
    assert_eq!(
        names(&env, by_created("asc")).await,
        [
            "Cats",
            "dir",
            "Zed.txt",
            "apple.txt",
            "Banana.txt",
            "dir.txt",
            "dir2.txt"
        ]
    );
    assert_eq!(
        names(&env, by_created("desc")).await,
        [
            "dir",
            "Cats",
            "dir2.txt",
            "dir.txt",
            "Banana.txt",
            "apple.txt",
            "Zed.txt"
        ]
    );
}
