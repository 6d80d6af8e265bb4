//! Pure validation rules: sizes such as `"50MB"`, MIME type allow-lists with wildcards, and the
//! characters storage-api accepts in bucket ids and object names.

pub use basalt_config::parse_size;

/// Whether `mime` (e.g. `image/png; charset=…`) is allowed by `allowed` (entries such as
/// `image/png` or `image/*`). Parameters after `;` are ignored; comparison is case-insensitive.
pub fn mime_allowed(mime: &str, allowed: &[String]) -> bool {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((ty, sub)) = essence.split_once('/') else {
        return false;
    };
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        match a.split_once('/') {
            Some((aty, "*")) => aty == ty || aty == "*",
            Some((aty, asub)) => aty == ty && asub == sub,
            None => false,
        }
    })
}

fn key_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_/!-.*'() &$@=;:+,?".contains(c)
}

/// Whether `name` is an acceptable object name (storage-api's character set, not empty, at
/// most 1024 bytes, no `.`/`..` segments).
pub fn valid_key(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1024
        && name.chars().all(key_char_ok)
        && !name.split('/').any(|seg| seg == "." || seg == "..")
}

/// Whether `id` is an acceptable bucket id or name (no `/`, at most 100 bytes).
pub fn valid_bucket_name(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id.chars().all(|c| c != '/' && key_char_ok(c))
        && id != "."
        && id != ".."
}

/// An object path as the client sent it, made canonical: leading `/` removed, repeated `/`
/// collapsed and a trailing `/` removed.
pub fn normalize_key(raw: &str) -> String {
    raw.split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Some(1048576));
        assert_eq!(parse_size("1MB"), Some(1_000_000));
        assert_eq!(parse_size("1mb"), Some(1_000_000));
        assert_eq!(parse_size("50MiB"), Some(50 * 1024 * 1024));
        assert_eq!(parse_size("1.5KB"), Some(1500));
        assert_eq!(parse_size("3B"), Some(3));
        assert_eq!(parse_size("2GB"), Some(2_000_000_000));
        assert_eq!(parse_size("MB"), None);
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("1.2.3MB"), None);
    }

    #[test]
    fn mimes() {
        let allowed = vec!["image/png".to_string(), "text/*".to_string()];
        assert!(mime_allowed("image/png", &allowed));
        assert!(mime_allowed("IMAGE/PNG", &allowed));
        assert!(mime_allowed("text/plain;charset=UTF-8", &allowed));
        assert!(!mime_allowed("image/jpeg", &allowed));
        assert!(!mime_allowed("png", &allowed));
        assert!(!mime_allowed("", &allowed));
        assert!(mime_allowed("application/pdf", &["*/*".to_string()]));
    }

    #[test]
    fn keys() {
        assert!(valid_key("folder/a b.png"));
        assert!(valid_key("u/(1)!.txt"));
        assert!(!valid_key(""));
        assert!(!valid_key("a/../b"));
        assert!(!valid_key("tab\there"));
        assert!(!valid_key("naïve.txt"));
        assert!(!valid_key(&"a".repeat(1025)));
        assert!(valid_bucket_name("user-files"));
        assert!(!valid_bucket_name("a/b"));
        assert!(!valid_bucket_name(""));
        assert!(!valid_bucket_name(".."));
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_key("/a//b/c.png/"), "a/b/c.png");
        assert_eq!(normalize_key("a.png"), "a.png");
        assert_eq!(normalize_key("///"), "");
    }
}
