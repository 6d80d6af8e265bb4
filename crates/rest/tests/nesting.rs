//! Deeply nested `select` embeds and logic trees over HTTP: up to the grammar's limit they go
//! through the planner, the SQL builder and Postgres; beyond it (10,000 levels included) the
//! answer is PostgREST's 400 PGRST100, and the server is still there afterwards.

use basalt_rest::Config;
use serde_json::Value;

const LIMIT: usize = basalt_rest::grammar::MAX_NESTING;

/// `levels` embeds alternating between `b` and `a` under `a`.
fn nested_select(levels: usize) -> String {
    let mut open = String::new();
    for i in 0..levels {
        open.push_str(if i % 2 == 0 { "b(id," } else { "a(id," });
    }
    format!("id,{open}id{}", ")".repeat(levels))
}

/// An `or=` value with `levels` groups, the outer parentheses included.
fn nested_or(levels: usize) -> String {
    let inner = levels - 1;
    format!(
        "(id.eq.1,{}id.eq.2{})",
        "or(".repeat(inner),
        ")".repeat(inner)
    )
}

#[tokio::test]
async fn nesting_up_to_the_limit_is_served_and_beyond_it_refused() {
    let db = basalt_testkit::fresh_db().await;
    db.client()
        .await
        .batch_execute(
            "create table public.b (id int primary key);
             create table public.a (id int primary key, b_id int references public.b(id));
             insert into public.b values (1), (2);
             insert into public.a values (1, 1), (2, 2);
             grant select on public.a, public.b to anon;",
        )
        .await
        .expect("schema");
    let config = Config {
        db_uri: db.url.clone(),
        schemas: vec!["public".into()],
        anon_role: Some("anon".into()),
        auth_configured: true,
        pool_size: 2,
        ..Config::default()
    };
    let server = basalt_testkit::serve(basalt_rest::router(config).await.expect("router")).await;
    let http = reqwest::Client::new();
    // Queries go unencoded: `(`, `)` and `,` are allowed in a query string, and 10,000 levels
    // percent-encoded would exceed the longest URI the HTTP stack accepts.
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{}/a?order=id&{query}", server.url);
        async move {
            let r = http.get(url).send().await.expect("send");
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("json");
            (status, body)
        }
    };

    let (s, body) = get(format!("select={}", nested_select(LIMIT))).await;
    assert_eq!(s, 200, "{body}");
    // Row 1 → b 1 → a 1 → …, all the way down (one row per level: a fan-out would make the
    // answer exponential in the depth).
    let mut node = &body[0];
    for level in 0..LIMIT {
        node = if level % 2 == 0 {
            &node["b"]
        } else {
            &node["a"][0]
        };
        assert_eq!(node["id"], 1, "level {level}: {body}");
    }

    let (s, body) = get(format!("or={}", nested_or(LIMIT))).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");

    for levels in [LIMIT + 1, 10_000] {
        for query in [
            format!("select={}", nested_select(levels)),
            format!("or={}", nested_or(levels)),
            format!("b.or={}", nested_or(levels)),
        ] {
            let (s, body) = get(query).await;
            assert_eq!(s, 400, "{levels} levels: {}", body["details"]);
            assert_eq!(body["code"], "PGRST100");
            assert_eq!(
                body["details"],
                "nesting deeper than 64 levels of parentheses"
            );
        }
    }

    let (s, _) = get("select=id".into()).await;
    assert_eq!(s, 200);
}
