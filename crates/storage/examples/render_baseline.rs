//! Baseline of the image transformation benchmark (`bench/render/run`): the thumbnail basalt's
//! `/render/image` makes — decode a JPEG, resize to `cover` a 200×200 box, encode WebP at
//! quality 80 — done by the same libraries alone, in-process, on N threads, with no HTTP,
//! database, storage read or cache.
//!
//! ```text
//! render_baseline source OUT.jpg [WIDTH HEIGHT]   # writes a photo-like JPEG (2000×1500 by default)
//! render_baseline run SRC.jpg THREADS SECONDS     # prints {"thumbnails": n, "seconds": s, "peak_rss_kib": k}
//! ```
#![allow(clippy::unwrap_used)] // a benchmark tool: a failure is the run failing

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fast_image_resize as fr;
use image::{DynamicImage, ImageFormat};

/// A photo-like picture: smooth gradients, soft shapes and a little noise.
fn source(w: u32, h: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 17) as f32 - 8.0;
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let (dx, dy) = (fx - 0.6, fy - 0.4);
        let disc = if dx * dx + dy * dy < 0.04 { 80.0 } else { 0.0 };
        let c = |v: f32| (v + noise).clamp(0.0, 255.0) as u8;
        image::Rgb([
            c(60.0 + 150.0 * fx + disc),
            c(90.0 + 100.0 * (fy * 6.0).sin().abs()),
            c(200.0 - 120.0 * fy + disc * 0.5),
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&DynamicImage::ImageRgb8(img))
        .unwrap();
    out
}

/// One thumbnail: decode, cover-resize to 200×200 (centre crop), WebP at quality 80.
fn thumbnail(jpeg: &[u8]) -> usize {
    let img = image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).unwrap();
    let mut dst = DynamicImage::new_rgb8(200, 200);
    fr::Resizer::new()
        .resize(
            &img,
            &mut dst,
            &fr::ResizeOptions::new().fit_into_destination(Some((0.5, 0.5))),
        )
        .unwrap();
    let rgb = dst.to_rgb8();
    webp::Encoder::from_rgb(rgb.as_raw(), 200, 200)
        .encode_simple(false, 80.0)
        .unwrap()
        .len()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("source") => {
            let w = args.get(2).map_or(2000, |v| v.parse().unwrap());
            let h = args.get(3).map_or(1500, |v| v.parse().unwrap());
            std::fs::write(&args[1], source(w, h)).unwrap();
        }
        Some("run") => {
            let jpeg = Arc::new(std::fs::read(&args[1]).unwrap());
            let threads: usize = args[2].parse().unwrap();
            let seconds: f64 = args[3].parse().unwrap();
            assert!(thumbnail(&jpeg) > 0);
            let (done, stop) = (
                Arc::new(AtomicU64::new(0)),
                Arc::new(AtomicBool::new(false)),
            );
            let started = Instant::now();
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let (jpeg, done, stop) = (jpeg.clone(), done.clone(), stop.clone());
                    std::thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            thumbnail(&jpeg);
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_secs_f64(seconds));
            stop.store(true, Ordering::Relaxed);
            for w in workers {
                w.join().unwrap();
            }
            let elapsed = started.elapsed().as_secs_f64();
            println!(
                "{{\"thumbnails\": {}, \"seconds\": {elapsed:.3}, \"peak_rss_kib\": {}}}",
                done.load(Ordering::Relaxed),
                peak_rss_kib()
            );
        }
        _ => {
            eprintln!("usage: render_baseline source OUT.jpg [W H] | run SRC.jpg THREADS SECONDS");
            std::process::exit(2);
        }
    }
}
