//! Image transformations over HTTP against a real database: every option on generated images
//! (outputs decoded and measured), RLS on renders of a private bucket, signed render URLs, the
//! render cache (hit on the second call, a new version rendered after an overwrite, the old
//! version's files removed), a decompression bomb refused from its header, and the routes off
//! when the feature is.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use common::*;
use image::{DynamicImage, ImageFormat};
use serde_json::{json, Value};

/// A `w`×`h` picture with a gradient (so lossy encodings differ by quality).
fn picture(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x ^ y) & 0xff) as u8,
        ])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), format)
        .unwrap();
    out
}

async fn start(cache: &std::path::Path) -> Env {
    let cache = cache.to_path_buf();
    let env = Env::start_with(move |c| {
        c.image.enabled = true;
        c.image.cache_dir = Some(cache);
    })
    .await;
    let r = env
        .post_json(
            service(),
            "/bucket",
            &json!({"id": "pics", "name": "pics", "public": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    env
}

async fn put(env: &Env, auth: &str, bucket: &str, path: &str, ct: &str, data: Vec<u8>) {
    let r = env
        .http
        .post(env.url(&format!("/object/{bucket}/{path}")))
        .header("authorization", auth)
        .header("content-type", ct)
        .header("x-upsert", "true")
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

struct Rendered {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Rendered {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Decodes the body; returns its format and size.
    fn image(&self) -> (ImageFormat, u32, u32) {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        let format = image::guess_format(&self.body).unwrap();
        let img = image::load_from_memory(&self.body).unwrap();
        (format, img.width(), img.height())
    }

    fn error(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn get(env: &Env, path: &str, auth: Option<&str>, accept: Option<&str>) -> Rendered {
    let mut req = env.http.get(env.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = req.send().await.unwrap();
    Rendered {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn each_option_on_generated_images() {
    let cache = tempfile::tempdir().unwrap();
    let env = start(cache.path()).await;
    let svc = service();
    put(
        &env,
        &svc,
        "pics",
        "a.png",
        "image/png",
        picture(400, 300, ImageFormat::Png),
    )
    .await;
    put(
        &env,
        &svc,
        "pics",
        "b.jpg",
        "image/jpeg",
        picture(400, 300, ImageFormat::Jpeg),
    )
    .await;
    put(
        &env,
        &svc,
        "pics",
        "c.gif",
        "image/gif",
        picture(80, 60, ImageFormat::Gif),
    )
    .await;
    put(
        &env,
        &svc,
        "pics",
        "d.webp",
        "image/webp",
        picture(80, 60, ImageFormat::WebP),
    )
    .await;
    let png = |q: &str| format!("/render/image/public/pics/a.png?{q}");

    // width alone keeps the aspect ratio; so does height alone.
    let r = get(&env, &png("width=200"), None, None).await;
    assert_eq!(r.image(), (ImageFormat::Png, 200, 150));
    assert_eq!(r.header("content-type"), "image/png");
    let r = get(&env, &png("height=100"), None, None).await;
    assert_eq!(r.image(), (ImageFormat::Png, 133, 100));
    // The resize modes.
    let r = get(&env, &png("width=100&height=100"), None, None).await;
    assert_eq!(
        r.image(),
        (ImageFormat::Png, 100, 100),
        "cover is the default"
    );
    let r = get(&env, &png("width=100&height=100&resize=cover"), None, None).await;
    assert_eq!(r.image(), (ImageFormat::Png, 100, 100));
    let r = get(
        &env,
        &png("width=100&height=100&resize=contain"),
        None,
        None,
    )
    .await;
    assert_eq!(r.image(), (ImageFormat::Png, 100, 75));
    let r = get(&env, &png("width=100&height=40&resize=fill"), None, None).await;
    assert_eq!(r.image(), (ImageFormat::Png, 100, 40));
    // Never enlarged.
    let r = get(&env, &png("width=2000"), None, None).await;
    assert_eq!(r.image(), (ImageFormat::Png, 400, 300));

    // WebP when the client accepts it, unless format=origin.
    let webp_accept = Some("image/avif,image/webp,*/*");
    let r = get(&env, &png("width=200"), None, webp_accept).await;
    assert_eq!(r.image(), (ImageFormat::WebP, 200, 150));
    assert_eq!(r.header("content-type"), "image/webp");
    assert_eq!(r.header("vary"), "Accept");
    let r = get(&env, &png("width=200&format=origin"), None, webp_accept).await;
    assert_eq!(r.image(), (ImageFormat::Png, 200, 150));
    let r = get(&env, &png("width=200&format=webp"), None, None).await;
    assert_eq!(r.image(), (ImageFormat::WebP, 200, 150));

    // Quality: JPEG and WebP get smaller as it drops.
    let jpg = |q: u32| format!("/render/image/public/pics/b.jpg?width=300&quality={q}");
    let hi = get(&env, &jpg(95), None, None).await;
    let lo = get(&env, &jpg(20), None, None).await;
    assert_eq!(hi.image(), (ImageFormat::Jpeg, 300, 225));
    assert_eq!(lo.image(), (ImageFormat::Jpeg, 300, 225));
    assert!(
        lo.body.len() * 2 < hi.body.len(),
        "{} vs {}",
        lo.body.len(),
        hi.body.len()
    );
    let hi = get(&env, &(jpg(95) + "&format=webp"), None, None).await;
    let lo = get(&env, &(jpg(20) + "&format=webp"), None, None).await;
    assert_eq!(lo.image(), (ImageFormat::WebP, 300, 225));
    assert!(
        lo.body.len() < hi.body.len(),
        "{} vs {}",
        lo.body.len(),
        hi.body.len()
    );

    // GIF and WebP sources.
    let r = get(&env, "/render/image/public/pics/c.gif?width=40", None, None).await;
    assert_eq!(r.image(), (ImageFormat::Gif, 40, 30));
    let r = get(
        &env,
        "/render/image/public/pics/d.webp?height=30",
        None,
        None,
    )
    .await;
    assert_eq!(r.image(), (ImageFormat::WebP, 40, 30));

    // Out-of-range options: storage-api's error body, HTTP 400.
    for q in [
        "width=0",
        "width=2501",
        "height=99999",
        "quality=10",
        "resize=zoom",
        "width=x",
    ] {
        let r = get(&env, &png(q), None, None).await;
        assert_eq!(r.status, 400, "{q}");
        let e = r.error();
        assert_eq!(e["statusCode"], "400", "{q}: {e}");
        assert_eq!(e["code"], "InvalidRequest", "{q}: {e}");
        assert!(
            e["message"].as_str().unwrap().starts_with("querystring/"),
            "{e}"
        );
    }
    // Not an image.
    put(
        &env,
        &svc,
        "pics",
        "notes.txt",
        "text/plain",
        b"hello".to_vec(),
    )
    .await;
    let r = get(
        &env,
        "/render/image/public/pics/notes.txt?width=10",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error()["message"],
        "The source image is invalid or unsupported for rendering"
    );
    // Missing object.
    let r = get(
        &env,
        &png("width=1").replace("a.png", "nope.png"),
        None,
        None,
    )
    .await;
    assert_eq!(r.error()["statusCode"], "404");
}

#[tokio::test]
async fn rls_applies_to_renders_and_signed_urls_carry_the_transform() {
    let cache = tempfile::tempdir().unwrap();
    let env = start(cache.path()).await;
    let alice = user(ALICE);
    let path = format!("{ALICE}/me.png");
    put(
        &env,
        &alice,
        "user-files",
        &path,
        "image/png",
        picture(300, 200, ImageFormat::Png),
    )
    .await;
    let url = format!("/render/image/authenticated/user-files/{path}?width=150");

    let r = get(&env, &url, Some(&alice), None).await;
    assert_eq!(r.image(), (ImageFormat::Png, 150, 100));
    for (who, auth) in [("anon", anon()), ("bob", user(BOB))] {
        let r = get(&env, &url, Some(&auth), None).await;
        assert_eq!(r.status, 400, "{who}");
        assert_eq!(r.error()["statusCode"], "404", "{who}: {:?}", r.error());
    }
    let r = get(&env, &url, None, None).await;
    assert_eq!(r.error()["statusCode"], "403");
    // A private bucket has no public renders.
    let r = get(&env, &url.replace("authenticated", "public"), None, None).await;
    assert_eq!(r.error()["statusCode"], "404");

    // A signed URL with a transform renders; Bob may not sign Alice's object.
    let body =
        json!({"expiresIn": 60, "transform": {"width": 60, "height": 60, "resize": "contain"}});
    let r = env
        .post_json(&alice, format!("/object/sign/user-files/{path}"), &body)
        .await;
    let signed: Value = r.json().await.unwrap();
    let signed = signed["signedURL"].as_str().unwrap().to_string();
    assert!(
        signed.starts_with("/render/image/sign/user-files/"),
        "{signed}"
    );
    let r = get(&env, &signed, None, None).await;
    assert_eq!(r.image(), (ImageFormat::Png, 60, 40));
    assert!(!r.header("expires").is_empty());
    // The transform is in the token: query options do not change it.
    let r = get(&env, &format!("{signed}&width=10"), None, None).await;
    assert_eq!(r.image(), (ImageFormat::Png, 60, 40));
    // Tampered or for another object: refused.
    let r = get(&env, &signed.replace("me.png", "other.png"), None, None).await;
    assert_eq!(r.status, 400);
    let r = env
        .post_json(user(BOB), format!("/object/sign/user-files/{path}"), &body)
        .await;
    assert_eq!(r.status(), 400);
    // A transform that changes nothing signs a plain object URL, as storage-api does.
    let none = json!({"expiresIn": 60, "transform": {"format": "origin"}});
    let url = signed_url(&env, &alice, &format!("user-files/{path}"), &none).await;
    assert!(url.starts_with("/object/sign/"), "{url}");
    // Invalid transform when signing.
    let bad = json!({"expiresIn": 60, "transform": {"width": 9000}});
    let r = env
        .post_json(&alice, format!("/object/sign/user-files/{path}"), &bad)
        .await;
    expect_error(r, "400").await;
}

fn cache_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(dir).unwrap().flatten() {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            out.push(f.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn cache_hit_then_invalidated_by_an_overwrite() {
    let cache = tempfile::tempdir().unwrap();
    let env = start(cache.path()).await;
    let svc = service();
    put(
        &env,
        &svc,
        "pics",
        "x.png",
        "image/png",
        picture(400, 300, ImageFormat::Png),
    )
    .await;
    let url = "/render/image/public/pics/x.png?width=100&height=100&resize=contain";

    let first = get(&env, url, None, None).await;
    assert_eq!(first.image(), (ImageFormat::Png, 100, 75));
    assert_eq!(first.header("x-basalt-render-cache"), "miss");
    let second = get(&env, url, None, None).await;
    assert_eq!(second.header("x-basalt-render-cache"), "hit");
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("content-type"), "image/png");
    assert_eq!(second.header("etag"), first.header("etag"));
    // Another variant is another entry; WebP by Accept is one more.
    let webp = get(&env, url, None, Some("image/webp")).await;
    assert_eq!(webp.image(), (ImageFormat::WebP, 100, 75));
    assert_eq!(webp.header("x-basalt-render-cache"), "miss");
    let old = cache_files(cache.path());
    assert_eq!(old.len(), 2);
    // If-None-Match with the object's ETag: 304.
    let r = env
        .http
        .get(env.url(url))
        .header("if-none-match", first.header("etag"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // Overwritten with a portrait image: rendered anew, old renders gone.
    put(
        &env,
        &svc,
        "pics",
        "x.png",
        "image/png",
        picture(300, 600, ImageFormat::Png),
    )
    .await;
    let after = get(&env, url, None, None).await;
    assert_eq!(after.header("x-basalt-render-cache"), "miss");
    assert_eq!(after.image(), (ImageFormat::Png, 50, 100));
    assert_ne!(after.header("etag"), first.header("etag"));
    let now = cache_files(cache.path());
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(!old.contains(&now[0]));
    assert_eq!(
        get(&env, url, None, None)
            .await
            .header("x-basalt-render-cache"),
        "hit"
    );
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_path_buf();
    let env = Env::start_with(move |c| {
        c.image.enabled = true;
        c.image.cache_dir = Some(dir);
        c.image.cache_size = 60_000;
    })
    .await;
    env.post_json(
        service(),
        "/bucket",
        &json!({"id": "pics", "name": "pics", "public": true}),
    )
    .await;
    put(
        &env,
        &service(),
        "pics",
        "n.png",
        "image/png",
        picture(400, 300, ImageFormat::Png),
    )
    .await;
    let mut total = 0;
    for w in 100..107 {
        let r = get(
            &env,
            &format!("/render/image/public/pics/n.png?width={w}"),
            None,
            None,
        )
        .await;
        assert_eq!(r.image().1, w);
        assert!(r.body.len() < 30_000, "{}", r.body.len());
        total += r.body.len();
    }
    assert!(
        total > 40_000,
        "renders too small to test the bound: {total}"
    );
    let held: u64 = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(held <= 60_000, "{held}");
    // The newest is kept, the oldest went.
    let newest = get(
        &env,
        "/render/image/public/pics/n.png?width=106",
        None,
        None,
    )
    .await;
    assert_eq!(newest.header("x-basalt-render-cache"), "hit");
    let oldest = get(
        &env,
        "/render/image/public/pics/n.png?width=100",
        None,
        None,
    )
    .await;
    assert_eq!(oldest.header("x-basalt-render-cache"), "miss");
}

/// A real 20000×20000 1-bit PNG (400 megapixels, 50 MB of pixel rows) compressed to about
/// 300 KB: a zlib stream of fixed-Huffman blocks repeating a run of zeros.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let row = (w as usize).div_ceil(8) + 1;
    let raw = row * h as usize;
    let mut bits = BitWriter::default();
    // zlib header, then one final block with fixed Huffman codes.
    let mut z = vec![0x78, 0x01];
    bits.put(1, 1);
    bits.put(0b01, 2);
    // A literal zero (code 0x30, 8 bits, sent reversed), then length/distance pairs.
    bits.put_code(0x30, 8);
    let mut left = raw - 1;
    while left > 0 {
        let n = left.min(258);
        if n < 3 {
            for _ in 0..n {
                bits.put_code(0x30, 8);
            }
        } else if n == 258 {
            bits.put_code(0b1100_0101, 8); // length code 285
            bits.put_code(0, 5); // distance code 0: distance 1
        } else {
            // Lengths 3..=10 are codes 257..=264 (7-bit codes 1..=8), no extra bits; use those
            // for the short tail.
            let mut m = n;
            while m > 0 {
                let k = m.min(10);
                if k < 3 {
                    for _ in 0..k {
                        bits.put_code(0x30, 8);
                    }
                } else {
                    bits.put_code((k - 2) as u32, 7);
                    bits.put_code(0, 5);
                }
                m -= k;
            }
        }
        left -= n;
    }
    bits.put_code(0, 7); // end of block
    z.extend(bits.finish());
    // Adler-32 of `raw` zero bytes.
    let b = (raw % 65521) as u32;
    z.extend(((b << 16) | 1).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([1, 0, 0, 0, 0]); // 1-bit greyscale
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Puts `n` bits of `v`, least significant first (deflate's order for header fields).
    fn put(&mut self, v: u32, n: u32) {
        self.acc |= u64::from(v) << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Puts a Huffman code, most significant bit first.
    fn put_code(&mut self, code: u32, len: u32) {
        let rev = code.reverse_bits() >> (32 - len);
        self.put(rev, len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    let mut crc_input = kind.to_vec();
    crc_input.extend(data);
    png.extend(crc_input.iter());
    png.extend(crc32(&crc_input).to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *t = c;
    }
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_from_its_header() {
    // The generator makes valid PNGs: a small one decodes to the expected size.
    let small = png_bomb(100, 50);
    let img = image::load_from_memory(&small).unwrap();
    assert_eq!((img.width(), img.height()), (100, 50));

    let bomb = png_bomb(20_000, 20_000);
    assert!(bomb.len() < 1_000_000, "{}", bomb.len());
    let cache = tempfile::tempdir().unwrap();
    let env = start(cache.path()).await;
    put(&env, &service(), "pics", "bomb.png", "image/png", bomb).await;
    put(&env, &service(), "pics", "ok.png", "image/png", small).await;
    let started = Instant::now();
    let r = get(
        &env,
        "/render/image/public/pics/bomb.png?width=100",
        None,
        None,
    )
    .await;
    let took = started.elapsed();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error()["message"],
        "The source image resolution is too large to process"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The service is fine afterwards.
    let r = get(
        &env,
        "/render/image/public/pics/ok.png?width=10",
        None,
        None,
    )
    .await;
    assert_eq!(r.image(), (ImageFormat::Png, 10, 5));
}

#[tokio::test]
async fn routes_are_unknown_when_the_feature_is_off() {
    let env = Env::start().await;
    env.post_json(
        service(),
        "/bucket",
        &json!({"id": "pics", "name": "pics", "public": true}),
    )
    .await;
    put(
        &env,
        &service(),
        "pics",
        "a.png",
        "image/png",
        picture(40, 30, ImageFormat::Png),
    )
    .await;
    let r = get(&env, "/render/image/public/pics/a.png?width=10", None, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["statusCode"], "404");
    assert_eq!(
        r.error()["message"],
        "Route GET:/render/image/public/pics/a.png?width=10 not found"
    );
    // Signing with a transform gives a plain object URL, as storage-api does.
    let body = json!({"expiresIn": 60, "transform": {"width": 10}});
    let url = signed_url(&env, &service(), "pics/a.png", &body).await;
    assert!(url.starts_with("/object/sign/pics/a.png?token="), "{url}");
}

/// `POST /object/sign/{object}` with `body`; the `signedURL` answered.
async fn signed_url(env: &Env, auth: &str, object: &str, body: &Value) -> String {
    let r = env
        .post_json(auth, format!("/object/sign/{object}"), body)
        .await;
    let v: Value = r.json().await.unwrap();
    v["signedURL"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}
