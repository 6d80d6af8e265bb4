//! The image work itself, synchronous and CPU-bound (run on the blocking pool): the source's
//! format and size are read from its header and refused before anything is decoded when the
//! pixel count is over the limit, the decoder runs under `image`'s allocation limits, the
//! result is resized with `fast_image_resize` and encoded as PNG, JPEG, GIF or (lossy) WebP.

use std::io::Cursor;

use fast_image_resize as fr;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::options::{Resize, Transform};

/// Formats basalt renders from and to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl Kind {
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
        }
    }

    fn of(f: ImageFormat) -> Option<Kind> {
        match f {
            ImageFormat::Png => Some(Kind::Png),
            ImageFormat::Jpeg => Some(Kind::Jpeg),
            ImageFormat::Gif => Some(Kind::Gif),
            ImageFormat::WebP => Some(Kind::Webp),
            _ => None,
        }
    }
}

/// Why an image could not be rendered (each becomes a 400 in storage-api's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("The source image is invalid or unsupported for rendering")]
    Unsupported,
    #[error("The source image resolution is too large to process")]
    TooManyPixels,
    #[error("Image encoding failed: {0}")]
    Encode(String),
}

/// Limits the decoder works under.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most pixels (width × height) a source may have.
    pub max_pixels: u64,
}

/// The source's format, when it is one basalt renders, read from its magic bytes.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    image::guess_format(bytes).ok().and_then(Kind::of)
}

/// Reads the source's dimensions from its header alone.
pub fn dimensions(bytes: &[u8], kind: Kind) -> Result<(u32, u32), RenderError> {
    let format = match kind {
        Kind::Png => ImageFormat::Png,
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::Gif => ImageFormat::Gif,
        Kind::Webp => ImageFormat::WebP,
    };
    ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|_| RenderError::Unsupported)
}

/// Decodes `bytes` (of format `kind`), refusing sources over `bounds` before decoding.
pub fn decode(bytes: &[u8], kind: Kind, bounds: Bounds) -> Result<DynamicImage, RenderError> {
    let (w, h) = dimensions(bytes, kind)?;
    if u64::from(w) * u64::from(h) > bounds.max_pixels {
        return Err(RenderError::TooManyPixels);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    // Room for the widest pixel type (RGBA, 16 bits per channel) plus the decoder's own buffers.
    limits.max_alloc = Some(
        u64::from(w)
            .saturating_mul(u64::from(h))
            .saturating_mul(8)
            .saturating_add(64 << 20),
    );
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| RenderError::Unsupported)?;
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => RenderError::TooManyPixels,
        _ => RenderError::Unsupported,
    })
}

/// The output size for a `src_w` × `src_h` source, and whether the source is cropped to that
/// aspect ratio first (`cover`). Images are never enlarged, as Supabase's renderer does not.
pub fn target_size(src_w: u32, src_h: u32, t: &Transform) -> (u32, u32, bool) {
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    let scaled = |v: f64, s: f64| ((v * s).round() as u32).max(1);
    match (t.width, t.height) {
        (None, None) => (src_w, src_h, false),
        (Some(w), None) => {
            let s = (f64::from(w) / sw).min(1.0);
            (scaled(sw, s), scaled(sh, s), false)
        }
        (None, Some(h)) => {
            let s = (f64::from(h) / sh).min(1.0);
            (scaled(sw, s), scaled(sh, s), false)
        }
        (Some(w), Some(h)) => match t.resize {
            Resize::Cover => (w.min(src_w), h.min(src_h), true),
            Resize::Contain => {
                let s = (f64::from(w) / sw).min(f64::from(h) / sh).min(1.0);
                (scaled(sw, s), scaled(sh, s), false)
            }
            Resize::Fill => (w.min(src_w), h.min(src_h), false),
        },
    }
}

/// Resizes `img` as `t` says (8-bit RGB or RGBA out).
pub fn resize(img: DynamicImage, t: &Transform) -> Result<DynamicImage, RenderError> {
    let img = match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => img,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    let (w, h, crop) = target_size(img.width(), img.height(), t);
    if (w, h) == (img.width(), img.height()) {
        return Ok(img);
    }
    let mut dst = match img {
        DynamicImage::ImageRgba8(_) => DynamicImage::new_rgba8(w, h),
        _ => DynamicImage::new_rgb8(w, h),
    };
    let mut options = fr::ResizeOptions::new();
    if crop {
        options = options.fit_into_destination(Some((0.5, 0.5)));
    }
    fr::Resizer::new()
        .resize(&img, &mut dst, &options)
        .map_err(|e| RenderError::Encode(format!("resize: {e}")))?;
    Ok(dst)
}

/// Encodes `img` as `kind` with `quality` (JPEG and WebP; PNG and GIF are lossless).
pub fn encode(img: &DynamicImage, kind: Kind, quality: u8) -> Result<Vec<u8>, RenderError> {
    let err = |e: image::ImageError| RenderError::Encode(e.to_string());
    let mut out = Vec::new();
    match kind {
        Kind::Webp => {
            let (w, h) = (img.width(), img.height());
            let encoder = match img {
                DynamicImage::ImageRgba8(buf) => webp::Encoder::from_rgba(buf.as_raw(), w, h),
                DynamicImage::ImageRgb8(buf) => webp::Encoder::from_rgb(buf.as_raw(), w, h),
                _ => return Err(RenderError::Encode("unexpected pixel type".into())),
            };
            let mem = encoder
                .encode_simple(false, f32::from(quality))
                .map_err(|e| RenderError::Encode(format!("webp: {e:?}")))?;
            out.extend_from_slice(&mem);
        }
        Kind::Jpeg => {
            let rgb = match img {
                DynamicImage::ImageRgb8(buf) => DynamicImage::ImageRgb8(buf.clone()),
                other => DynamicImage::ImageRgb8(other.to_rgb8()),
            };
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                .encode_image(&rgb)
                .map_err(err)?;
        }
        Kind::Png => img
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .map_err(err)?,
        Kind::Gif => {
            let frame = image::Frame::new(img.to_rgba8());
            let mut enc = image::codecs::gif::GifEncoder::new_with_speed(&mut out, 10);
            enc.encode_frame(frame).map_err(err)?;
        }
    }
    Ok(out)
}

/// The whole render: decode under `bounds`, resize, encode as `out`.
pub fn render(
    bytes: &[u8],
    kind: Kind,
    t: &Transform,
    out: Kind,
    bounds: Bounds,
) -> Result<Vec<u8>, RenderError> {
    let img = decode(bytes, kind, bounds)?;
    let img = resize(img, t)?;
    encode(&img, out, t.quality())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(w: Option<u32>, h: Option<u32>, resize: Resize) -> Transform {
        Transform {
            width: w,
            height: h,
            resize,
            ..Transform::default()
        }
    }

    #[test]
    fn sizes() {
        use Resize::*;
        // (source, width, height, resize) → (output, cropped)
        let cases = [
            ((400, 300), None, None, Cover, (400, 300, false)),
            ((400, 300), Some(200), None, Cover, (200, 150, false)),
            ((400, 300), None, Some(100), Fill, (133, 100, false)),
            ((400, 300), Some(100), Some(100), Cover, (100, 100, true)),
            ((400, 300), Some(100), Some(100), Contain, (100, 75, false)),
            ((400, 300), Some(100), Some(50), Fill, (100, 50, false)),
            // Never enlarged.
            ((40, 30), Some(100), None, Cover, (40, 30, false)),
            ((40, 30), Some(100), Some(10), Cover, (40, 10, true)),
            ((1, 1000), Some(1), Some(1), Contain, (1, 1, false)),
        ];
        for ((sw, sh), w, h, resize, want) in cases {
            assert_eq!(
                target_size(sw, sh, &t(w, h, resize)),
                want,
                "{sw}x{sh} {w:?} {h:?}"
            );
        }
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 7, 200]));
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("png");
        out
    }

    #[test]
    fn renders_each_format() {
        let src = png(64, 48);
        assert_eq!(sniff(&src), Some(Kind::Png));
        let bounds = Bounds { max_pixels: 10_000 };
        for kind in [Kind::Png, Kind::Jpeg, Kind::Gif, Kind::Webp] {
            let out = render(
                &src,
                Kind::Png,
                &t(Some(32), None, Resize::Cover),
                kind,
                bounds,
            )
            .expect("render");
            assert_eq!(sniff(&out), Some(kind));
            let back = image::load_from_memory(&out).expect("decodes");
            assert_eq!((back.width(), back.height()), (32, 24), "{kind:?}");
        }
        assert_eq!(
            render(
                &src,
                Kind::Png,
                &Transform::default(),
                Kind::Png,
                Bounds { max_pixels: 100 }
            ),
            Err(RenderError::TooManyPixels)
        );
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(
            render(
                &src[..40],
                Kind::Png,
                &Transform::default(),
                Kind::Png,
                bounds
            ),
            Err(RenderError::Unsupported)
        );
    }
}
