//! Transformation options as storage-api takes them: from the query string of
//! `/render/image/{authenticated,public}/…`, from the `transform` object of a signed URL
//! request, and from the `transformations` claim of a signed URL's token
//! (`height:100,width:200,resize:cover,quality:80,format:webp`).

use serde_json::Value;

use crate::error::ApiError;

/// How the image is fitted to `width` × `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resize {
    /// Keep the aspect ratio, fill the box and crop what projects (centre).
    #[default]
    Cover,
    /// Keep the aspect ratio and fit inside the box.
    Contain,
    /// Stretch to the box.
    Fill,
}

impl Resize {
    pub fn as_str(self) -> &'static str {
        match self {
            Resize::Cover => "cover",
            Resize::Contain => "contain",
            Resize::Fill => "fill",
        }
    }

    fn parse(s: &str) -> Option<Resize> {
        match s {
            "cover" => Some(Resize::Cover),
            "contain" => Some(Resize::Contain),
            "fill" => Some(Resize::Fill),
            _ => None,
        }
    }
}

/// The `format` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Keep the source's format.
    Origin,
    Webp,
    /// Asked for; served as WebP (basalt has no AVIF encoder).
    Avif,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Origin => "origin",
            Format::Webp => "webp",
            Format::Avif => "avif",
        }
    }

    fn parse(s: &str) -> Option<Format> {
        match s {
            "origin" => Some(Format::Origin),
            "webp" => Some(Format::Webp),
            "avif" => Some(Format::Avif),
            _ => None,
        }
    }
}

/// Quality used when none is asked for (storage-api's documented default).
pub const DEFAULT_QUALITY: u8 = 80;

/// A validated set of transformations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transform {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub resize: Resize,
    pub quality: Option<u8>,
    pub format: Option<Format>,
}

impl Transform {
    /// The quality to encode with.
    pub fn quality(&self) -> u8 {
        self.quality.unwrap_or(DEFAULT_QUALITY)
    }

    /// Whether nothing would change: no size, quality or format other than the source's. A
    /// signed URL for such a transform is a plain object URL, as storage-api makes it.
    pub fn is_identity(&self) -> bool {
        self.width.is_none()
            && self.height.is_none()
            && self.quality.is_none()
            && matches!(self.format, None | Some(Format::Origin))
    }

    /// Options from a query string; other parameters (`download`, `cacheNonce`, `token`…) are
    /// ignored. Dimensions outside `1..=max_dimension` and quality outside 20–100 are refused.
    pub fn from_query(query: &str, max_dimension: u32) -> Result<Transform, ApiError> {
        let mut t = Transform::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let field = format!("querystring/{k}");
            match k.as_ref() {
                "width" => t.width = Some(dimension(&field, int(&field, &v)?, max_dimension)?),
                "height" => t.height = Some(dimension(&field, int(&field, &v)?, max_dimension)?),
                "quality" => t.quality = Some(quality(&field, int(&field, &v)?)?),
                "resize" => t.resize = Resize::parse(&v).ok_or_else(|| one_of(&field))?,
                "format" => t.format = Some(Format::parse(&v).ok_or_else(|| one_of(&field))?),
                _ => {}
            }
        }
        Ok(t)
    }

    /// Options from the `transform` object of `POST /object/sign/…`.
    pub fn from_json(v: &Value, max_dimension: u32) -> Result<Transform, ApiError> {
        let Some(obj) = v.as_object() else {
            return Err(ApiError::InvalidRequest(
                "body/transform must be object".into(),
            ));
        };
        let mut t = Transform::default();
        for (k, v) in obj {
            let field = format!("body/transform/{k}");
            let number = || -> Result<i64, ApiError> {
                match v {
                    Value::Number(n) => n.as_i64().ok_or_else(|| must_be_integer(&field)),
                    Value::String(s) => int(&field, s),
                    _ => Err(must_be_integer(&field)),
                }
            };
            let text = || v.as_str().ok_or_else(|| one_of(&field));
            match k.as_str() {
                "width" => t.width = Some(dimension(&field, number()?, max_dimension)?),
                "height" => t.height = Some(dimension(&field, number()?, max_dimension)?),
                "quality" => t.quality = Some(quality(&field, number()?)?),
                "resize" => t.resize = Resize::parse(text()?).ok_or_else(|| one_of(&field))?,
                "format" => t.format = Some(Format::parse(text()?).ok_or_else(|| one_of(&field))?),
                _ => {}
            }
        }
        Ok(t)
    }

    /// The `transformations` claim of a signed URL token, in storage-api's form.
    pub fn claim(&self) -> String {
        let mut parts = Vec::new();
        if let Some(h) = self.height {
            parts.push(format!("height:{h}"));
        }
        if let Some(w) = self.width {
            parts.push(format!("width:{w}"));
        }
        if self.width.is_some() || self.height.is_some() {
            parts.push(format!("resize:{}", self.resize.as_str()));
        }
        if let Some(q) = self.quality {
            parts.push(format!("quality:{q}"));
        }
        if let Some(f) = self.format {
            parts.push(format!("format:{}", f.as_str()));
        }
        parts.join(",")
    }

    /// Options from a token's `transformations` claim. The claim was validated when the URL was
    /// signed (possibly by another implementation): unknown names and unparsable values are
    /// skipped as storage-api skips them, dimensions are clamped to the limits.
    pub fn from_claim(claim: &str, max_dimension: u32) -> Transform {
        let mut t = Transform::default();
        for part in claim.split(',') {
            let mut it = part.split(':');
            let (Some(name), Some(value)) = (it.next(), it.next()) else {
                continue;
            };
            let dim = |v: &str| v.parse::<u32>().ok().map(|n| n.clamp(1, max_dimension));
            match name {
                "height" => t.height = dim(value).or(t.height),
                "width" => t.width = dim(value).or(t.width),
                "resize" => t.resize = Resize::parse(value).unwrap_or_default(),
                "quality" => {
                    t.quality = value
                        .parse::<u8>()
                        .ok()
                        .map(|q| q.clamp(20, 100))
                        .or(t.quality)
                }
                "format" => t.format = Format::parse(value).or(t.format),
                _ => {}
            }
        }
        t
    }

    /// A canonical text of everything that changes the output (for cache keys).
    pub fn canonical(&self) -> String {
        format!(
            "w={:?};h={:?};r={};q={}",
            self.width,
            self.height,
            self.resize.as_str(),
            self.quality()
        )
    }
}

fn must_be_integer(field: &str) -> ApiError {
    ApiError::InvalidRequest(format!("{field} must be integer"))
}

fn one_of(field: &str) -> ApiError {
    ApiError::InvalidRequest(format!(
        "{field} must be equal to one of the allowed values"
    ))
}

fn int(field: &str, v: &str) -> Result<i64, ApiError> {
    v.trim().parse::<i64>().map_err(|_| must_be_integer(field))
}

fn dimension(field: &str, n: i64, max: u32) -> Result<u32, ApiError> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ApiError::InvalidRequest(format!("{field} must be between 1 and {max}")))
}

fn quality(field: &str, n: i64) -> Result<u8, ApiError> {
    u8::try_from(n)
        .ok()
        .filter(|n| (20..=100).contains(n))
        .ok_or_else(|| ApiError::InvalidRequest(format!("{field} must be between 20 and 100")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query() {
        let t = Transform::from_query(
            "width=200&height=100&resize=contain&quality=55&format=origin&download&cacheNonce=1",
            2500,
        )
        .expect("valid");
        assert_eq!(
            t,
            Transform {
                width: Some(200),
                height: Some(100),
                resize: Resize::Contain,
                quality: Some(55),
                format: Some(Format::Origin),
            }
        );
        assert_eq!(
            Transform::from_query("", 2500).expect("empty").quality(),
            80
        );
        for bad in [
            "width=0",
            "width=2501",
            "height=-1",
            "width=abc",
            "quality=19",
            "quality=101",
            "resize=stretch",
            "format=gif",
        ] {
            match Transform::from_query(bad, 2500) {
                Err(ApiError::InvalidRequest(m)) => assert!(m.starts_with("querystring/"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn json_and_claims_round_trip() {
        let t = Transform::from_json(
            &serde_json::json!({"width": 300, "height": "200", "resize": "fill", "quality": 90, "format": "webp"}),
            2500,
        )
        .expect("valid");
        assert_eq!(
            t.claim(),
            "height:200,width:300,resize:fill,quality:90,format:webp"
        );
        assert_eq!(Transform::from_claim(&t.claim(), 2500), t);
        assert!(Transform::from_json(&serde_json::json!({"width": 3000}), 2500).is_err());
        assert!(Transform::from_json(&serde_json::json!("x"), 2500).is_err());
        assert!(
            Transform::from_json(&serde_json::json!({"format": "origin"}), 2500)
                .expect("valid")
                .is_identity()
        );
        assert!(!t.is_identity());
        // Lenient on what another signer wrote.
        let t = Transform::from_claim("width:9000,resize:undefined,quality:,bogus:1", 2500);
        assert_eq!(t.width, Some(2500));
        assert_eq!(t.resize, Resize::Cover);
        assert_eq!(t.quality, None);
    }
}
