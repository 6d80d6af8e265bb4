//! Request routing as pure data: a method and a path (relative to `/storage/v1`) become a
//! [`Route`]. Object names contain `/`, and static words such as `list`, `sign` or `public`
//! share positions with bucket ids, so the path is matched by hand, in storage-api's order.

use http::Method;

use crate::error::ApiError;
use crate::limits::normalize_key;

/// How an object read is authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// By the caller's JWT (required): RLS decides, except in a public bucket, whose objects any
    /// caller may read (`/object/authenticated/…`, `/object/info/authenticated/…`).
    Authenticated,
    /// As [`Access::Authenticated`], but a missing or invalid JWT makes an unauthenticated caller,
    /// who reads public buckets only (`/object/{bucket}/…`, `/object/info/{bucket}/…`).
    Optional,
    /// Without a token, when the bucket is public.
    Public,
}

/// Which `/render/image` route an image transformation came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderAccess {
    /// `authenticated`: the caller's JWT and RLS.
    Authenticated,
    /// `public`: a public bucket.
    Public,
    /// `sign`: a signed URL's token.
    Signed,
}

/// Whether an upload may create only, or create or replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// `POST` without `x-upsert: true`: refuse an existing object.
    Create,
    /// `POST` with `x-upsert: true`, and `PUT` (supabase-js `update`): create or replace.
    Upsert,
}

/// Every storage endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ListBuckets,
    CreateBucket,
    GetBucket(String),
    UpdateBucket(String),
    DeleteBucket(String),
    EmptyBucket(String),
    Upload {
        bucket: String,
        name: String,
        put: bool,
    },
    Download {
        bucket: String,
        name: String,
        access: Access,
    },
    Info {
        bucket: String,
        name: String,
        access: Access,
    },
    DeleteObject {
        bucket: String,
        name: String,
    },
    DeleteObjects {
        bucket: String,
    },
    List {
        bucket: String,
    },
    ListV2 {
        bucket: String,
    },
    Move,
    Copy,
    SignUrl {
        bucket: String,
        name: String,
    },
    SignUrls {
        bucket: String,
    },
    SignedDownload {
        bucket: String,
        name: String,
    },
    SignUploadUrl {
        bucket: String,
        name: String,
    },
    SignedUpload {
        bucket: String,
        name: String,
    },
    Render {
        bucket: String,
        name: String,
        access: RenderAccess,
    },
    /// `POST /upload/resumable`; `signed`: `/upload/resumable/sign`, authorised by a signed
    /// upload URL's token in `x-signature` (as are the other `signed` routes).
    TusCreate {
        signed: bool,
    },
    TusOptions,
    TusHead {
        id: String,
        signed: bool,
    },
    TusPatch {
        id: String,
        signed: bool,
    },
    TusDelete {
        id: String,
        signed: bool,
    },
}

fn decode(seg: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::InvalidKey(seg.to_string()))
}

/// `bucket` and the object name from the remaining segments.
fn bucket_and_name(rest: &[String]) -> Option<(String, String)> {
    let (bucket, tail) = rest.split_first()?;
    let name = normalize_key(&tail.join("/"));
    if bucket.is_empty() || name.is_empty() {
        return None;
    }
    Some((bucket.clone(), name))
}

fn not_found() -> ApiError {
    ApiError::NotFound("Route not found".into())
}

/// Resolves a request. Path segments are percent-decoded.
pub fn resolve(method: &Method, path: &str) -> Result<Route, ApiError> {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect::<Result<_, _>>()?;
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.clone();
    let get_like = m == Method::GET || m == Method::HEAD;
    let route = match s.as_slice() {
        ["bucket"] | ["bucket", ""] if m == Method::GET => Route::ListBuckets,
        ["bucket"] | ["bucket", ""] if m == Method::POST => Route::CreateBucket,
        ["bucket", id, "empty"] if m == Method::POST => Route::EmptyBucket(id.to_string()),
        ["bucket", id] if !id.is_empty() => match m {
            Method::GET => Route::GetBucket(id.to_string()),
            Method::PUT => Route::UpdateBucket(id.to_string()),
            Method::DELETE => Route::DeleteBucket(id.to_string()),
            _ => return Err(not_found()),
        },
        ["upload", "resumable"]
        | ["upload", "resumable", ""]
        | ["upload", "resumable", "sign"]
        | ["upload", "resumable", "sign", ""] => match m {
            Method::POST => Route::TusCreate {
                signed: s.get(2) == Some(&"sign"),
            },
            Method::OPTIONS => Route::TusOptions,
            _ => return Err(not_found()),
        },
        ["upload", "resumable", "sign", id] | ["upload", "resumable", id] if !id.is_empty() => {
            let (id, signed) = (id.to_string(), s.len() == 4);
            match m {
                Method::HEAD => Route::TusHead { id, signed },
                Method::PATCH => Route::TusPatch { id, signed },
                Method::DELETE => Route::TusDelete { id, signed },
                Method::OPTIONS => Route::TusOptions,
                _ => return Err(not_found()),
            }
        }
        ["render", "image", kind, ..] if get_like => {
            let access = match *kind {
                "authenticated" => RenderAccess::Authenticated,
                "public" => RenderAccess::Public,
                "sign" => RenderAccess::Signed,
                _ => return Err(not_found()),
            };
            let (bucket, name) = bucket_and_name(&segs[3..]).ok_or_else(not_found)?;
            Route::Render {
                bucket,
                name,
                access,
            }
        }
        ["object", "move"] if m == Method::POST => Route::Move,
        ["object", "copy"] if m == Method::POST => Route::Copy,
        ["object", "list", bucket] if m == Method::POST => Route::List {
            bucket: bucket.to_string(),
        },
        ["object", "list-v2", bucket] if m == Method::POST => Route::ListV2 {
            bucket: bucket.to_string(),
        },
        ["object", "sign", bucket] if m == Method::POST => Route::SignUrls {
            bucket: bucket.to_string(),
        },
        ["object", "sign", ..] if m == Method::POST || get_like => {
            let (bucket, name) = bucket_and_name(&segs[2..]).ok_or_else(not_found)?;
            if m == Method::POST {
                Route::SignUrl { bucket, name }
            } else {
                Route::SignedDownload { bucket, name }
            }
        }
        ["object", "upload", "sign", ..] if m == Method::POST || m == Method::PUT => {
            let (bucket, name) = bucket_and_name(&segs[3..]).ok_or_else(not_found)?;
            if m == Method::POST {
                Route::SignUploadUrl { bucket, name }
            } else {
                Route::SignedUpload { bucket, name }
            }
        }
        ["object", "info", kind, ..]
            if get_like && (*kind == "public" || *kind == "authenticated") =>
        {
            let (bucket, name) = bucket_and_name(&segs[3..]).ok_or_else(not_found)?;
            let access = if *kind == "public" {
                Access::Public
            } else {
                Access::Authenticated
            };
            Route::Info {
                bucket,
                name,
                access,
            }
        }
        ["object", "info", ..] if get_like => {
            let (bucket, name) = bucket_and_name(&segs[2..]).ok_or_else(not_found)?;
            Route::Info {
                bucket,
                name,
                access: Access::Optional,
            }
        }
        ["object", "public", ..] if get_like => {
            let (bucket, name) = bucket_and_name(&segs[2..]).ok_or_else(not_found)?;
            Route::Download {
                bucket,
                name,
                access: Access::Public,
            }
        }
        ["object", "authenticated", ..] if get_like => {
            let (bucket, name) = bucket_and_name(&segs[2..]).ok_or_else(not_found)?;
            Route::Download {
                bucket,
                name,
                access: Access::Authenticated,
            }
        }
        ["object", bucket] | ["object", bucket, ""] if m == Method::DELETE => {
            Route::DeleteObjects {
                bucket: bucket.to_string(),
            }
        }
        ["object", ..] => {
            let (bucket, name) = bucket_and_name(&segs[1..]).ok_or_else(not_found)?;
            match m {
                Method::GET | Method::HEAD => Route::Download {
                    bucket,
                    name,
                    access: Access::Optional,
                },
                Method::POST => Route::Upload {
                    bucket,
                    name,
                    put: false,
                },
                Method::PUT => Route::Upload {
                    bucket,
                    name,
                    put: true,
                },
                Method::DELETE => Route::DeleteObject { bucket, name },
                _ => return Err(not_found()),
            }
        }
        _ => return Err(not_found()),
    };
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(m: Method, p: &str) -> Route {
        resolve(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}"))
    }

    #[test]
    fn buckets() {
        assert_eq!(r(Method::GET, "/bucket"), Route::ListBuckets);
        assert_eq!(r(Method::POST, "/bucket"), Route::CreateBucket);
        assert_eq!(r(Method::GET, "/bucket/av"), Route::GetBucket("av".into()));
        assert_eq!(
            r(Method::PUT, "/bucket/av"),
            Route::UpdateBucket("av".into())
        );
        assert_eq!(
            r(Method::DELETE, "/bucket/av"),
            Route::DeleteBucket("av".into())
        );
        assert_eq!(
            r(Method::POST, "/bucket/av/empty"),
            Route::EmptyBucket("av".into())
        );
    }

    #[test]
    fn objects() {
        assert_eq!(
            r(Method::POST, "/object/av/folder/a%20b.png"),
            Route::Upload {
                bucket: "av".into(),
                name: "folder/a b.png".into(),
                put: false
            }
        );
        assert_eq!(
            r(Method::PUT, "/object/av//x/"),
            Route::Upload {
                bucket: "av".into(),
                name: "x".into(),
                put: true
            }
        );
        assert_eq!(
            r(Method::GET, "/object/public/av/a.png"),
            Route::Download {
                bucket: "av".into(),
                name: "a.png".into(),
                access: Access::Public
            }
        );
        assert_eq!(
            r(Method::HEAD, "/object/authenticated/av/a.png"),
            Route::Download {
                bucket: "av".into(),
                name: "a.png".into(),
                access: Access::Authenticated
            }
        );
        assert_eq!(
            r(Method::GET, "/object/info/av/f/a.png"),
            Route::Info {
                bucket: "av".into(),
                name: "f/a.png".into(),
                access: Access::Optional
            }
        );
        assert_eq!(
            r(Method::HEAD, "/object/av/f/a.png"),
            Route::Download {
                bucket: "av".into(),
                name: "f/a.png".into(),
                access: Access::Optional
            }
        );
        assert_eq!(
            r(Method::GET, "/object/info/public/av/a.png"),
            Route::Info {
                bucket: "av".into(),
                name: "a.png".into(),
                access: Access::Public
            }
        );
        assert_eq!(
            r(Method::DELETE, "/object/av"),
            Route::DeleteObjects {
                bucket: "av".into()
            }
        );
        assert_eq!(
            r(Method::DELETE, "/object/av/a.png"),
            Route::DeleteObject {
                bucket: "av".into(),
                name: "a.png".into()
            }
        );
        assert_eq!(
            r(Method::POST, "/object/list/av"),
            Route::List {
                bucket: "av".into()
            }
        );
        assert_eq!(r(Method::POST, "/object/move"), Route::Move);
        assert_eq!(r(Method::POST, "/object/copy"), Route::Copy);
    }

    #[test]
    fn signing() {
        assert_eq!(
            r(Method::POST, "/object/sign/av"),
            Route::SignUrls {
                bucket: "av".into()
            }
        );
        assert_eq!(
            r(Method::POST, "/object/sign/av/f/a b.png"),
            Route::SignUrl {
                bucket: "av".into(),
                name: "f/a b.png".into()
            }
        );
        assert_eq!(
            r(Method::GET, "/object/sign/av/f/a%20b.png"),
            Route::SignedDownload {
                bucket: "av".into(),
                name: "f/a b.png".into()
            }
        );
        assert_eq!(
            r(Method::POST, "/object/upload/sign/av/d.png"),
            Route::SignUploadUrl {
                bucket: "av".into(),
                name: "d.png".into()
            }
        );
        assert_eq!(
            r(Method::PUT, "/object/upload/sign/av/d.png"),
            Route::SignedUpload {
                bucket: "av".into(),
                name: "d.png".into()
            }
        );
    }

    #[test]
    fn render() {
        assert_eq!(
            r(Method::GET, "/render/image/authenticated/av/f/a%20b.png"),
            Route::Render {
                bucket: "av".into(),
                name: "f/a b.png".into(),
                access: RenderAccess::Authenticated
            }
        );
        assert_eq!(
            r(Method::GET, "/render/image/public/av/a.png"),
            Route::Render {
                bucket: "av".into(),
                name: "a.png".into(),
                access: RenderAccess::Public
            }
        );
        assert_eq!(
            r(Method::GET, "/render/image/sign/av/a.png"),
            Route::Render {
                bucket: "av".into(),
                name: "a.png".into(),
                access: RenderAccess::Signed
            }
        );
        assert!(resolve(&Method::GET, "/render/image/other/av/a.png").is_err());
        assert!(resolve(&Method::POST, "/render/image/public/av/a.png").is_err());
        assert!(resolve(&Method::GET, "/render/image/public/av").is_err());
    }

    #[test]
    fn tus_and_unknown() {
        assert_eq!(
            r(Method::POST, "/upload/resumable"),
            Route::TusCreate { signed: false }
        );
        assert_eq!(
            r(Method::POST, "/upload/resumable/sign"),
            Route::TusCreate { signed: true }
        );
        assert_eq!(
            r(Method::PATCH, "/upload/resumable/sign/abc"),
            Route::TusPatch {
                id: "abc".into(),
                signed: true
            }
        );
        assert_eq!(
            r(Method::PATCH, "/upload/resumable/abc"),
            Route::TusPatch {
                id: "abc".into(),
                signed: false
            }
        );
        assert_eq!(
            r(Method::HEAD, "/upload/resumable/abc"),
            Route::TusHead {
                id: "abc".into(),
                signed: false
            }
        );
        assert!(resolve(&Method::GET, "/nowhere").is_err());
        assert!(resolve(&Method::GET, "/object/av").is_err());
        assert!(resolve(&Method::GET, "/object/av/%ff").is_err());
        assert!(resolve(&Method::PATCH, "/object/av/a.png").is_err());
    }

    /// Runs `f` on a thread with a 256 KiB stack, so path handling that recursed per segment
    /// would overflow (aborting the test binary) long before 10,000 segments.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("path parsing panicked")
    }

    #[test]
    fn very_deep_paths_resolve_without_overflowing() {
        on_small_stack(|| {
            let deep = "a/".repeat(10_000);
            match r(Method::GET, &format!("/object/av/{deep}x.png")) {
                Route::Download { bucket, name, .. } => {
                    assert_eq!(bucket, "av");
                    assert_eq!(name.matches('/').count(), 10_000);
                    // Too long for an object name: refused later, by the key rules.
                    assert!(!crate::limits::valid_key(&name));
                }
                other => panic!("unexpected {other:?}"),
            }
            let dots = format!("/object/sign/av/{}", "../".repeat(10_000));
            let Route::SignUrl { name, .. } = r(Method::POST, &dots) else {
                panic!("sign route expected")
            };
            assert!(!crate::limits::valid_key(&name));
            let slashes = format!("/object/av{}", "/".repeat(10_000));
            assert!(resolve(&Method::GET, &slashes).is_err());
            let encoded = format!("/object/av/{}", "%2F%25".repeat(10_000));
            let Route::Download { name, .. } = r(Method::GET, &encoded) else {
                panic!("download expected")
            };
            // `%2F` decodes to `/`; the leading one is dropped when the name is made canonical.
            assert_eq!(name.len(), 19_999);
            assert!(name.starts_with("%/%"));
            let bad = format!("/object/av/{}%", "%e2%82".repeat(10_000));
            assert!(matches!(
                resolve(&Method::GET, &bad),
                Err(ApiError::InvalidKey(_))
            ));
        });
    }

    /// Path pieces storage clients send, and some they should not.
    const PIECES: &[&str] = &[
        "/",
        "bucket",
        "object",
        "upload",
        "resumable",
        "sign",
        "info",
        "public",
        "authenticated",
        "list",
        "list-v2",
        "move",
        "copy",
        "empty",
        "render",
        "image",
        "av",
        "a.png",
        "..",
        ".",
        "%2F",
        "%",
        "%zz",
        "%e2%82%ac",
        "%ff",
        "é",
        " ",
        "?",
        "#",
        "\\",
    ];

    fn method() -> impl proptest::strategy::Strategy<Value = Method> {
        proptest::sample::select(vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
    }

    /// Every object name a route carries is canonical: no empty segment.
    fn names_are_canonical(route: &Route) -> bool {
        let name = match route {
            Route::Upload { name, .. }
            | Route::Download { name, .. }
            | Route::Info { name, .. }
            | Route::DeleteObject { name, .. }
            | Route::SignUrl { name, .. }
            | Route::SignedDownload { name, .. }
            | Route::SignUploadUrl { name, .. }
            | Route::SignedUpload { name, .. }
            | Route::Render { name, .. } => name,
            _ => return true,
        };
        !name.is_empty() && name.split('/').all(|s| !s.is_empty())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 512, ..Default::default() })]

        #[test]
        fn arbitrary_paths_never_panic(m in method(), p in "\\PC{0,200}") {
            if let Ok(route) = resolve(&m, &p) {
                proptest::prop_assert!(names_are_canonical(&route), "{route:?}");
            }
        }

        #[test]
        fn path_soups_never_panic(
            m in method(),
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..300),
        ) {
            let p = pieces.concat();
            if let Ok(route) = resolve(&m, &p) {
                proptest::prop_assert!(names_are_canonical(&route), "{route:?}");
            }
            let key = crate::limits::normalize_key(&p);
            proptest::prop_assert!(!key.starts_with('/') && !key.ends_with('/'));
            let _ = crate::limits::valid_key(&key);
        }

        #[test]
        fn deep_paths_never_panic(
            m in method(),
            depth in 0usize..2000,
            segment in proptest::sample::select(PIECES),
        ) {
            let p = format!("/object/av/{}", format!("{segment}/").repeat(depth));
            if let Ok(route) = resolve(&m, &p) {
                proptest::prop_assert!(names_are_canonical(&route), "{route:?}");
            }
        }
    }
}
