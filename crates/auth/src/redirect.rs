//! Where a browser may be sent back to: GoTrue's rules for `redirect_to`.
//!
//! A URL is allowed when it points at the site (`[auth] site_url`: same scheme and host, and the
//! same port unless the host is a loopback name or address, RFC 8252 §7.3), or when it matches a
//! pattern of the allow list (`[auth] additional_redirect_urls`, `GOTRUE_URI_ALLOW_LIST`), compared
//! without its fragment. Patterns are globs with `.` and `/` as separators: `*` matches within one
//! label or path segment, `**` across them, `?` one character other than a separator, `[abc]`,
//! `[a-z]`, `[!…]` a character class, `{a,b}` alternatives, `\` escapes. A decimal-integer host
//! (`http://2130706433/`) is never allowed, an IP address only when it is a loopback one, and an
//! http(s) host with unusual characters not at all.

/// The redirect target: `requested` when allowed, else the site URL.
pub fn target(config: &crate::Config, requested: Option<&str>) -> String {
    match requested {
        Some(r) if is_allowed(&config.site_url, &config.uri_allow_list, r) => r.to_string(),
        _ => config.site_url.clone(),
    }
}

/// Whether `redirect` may be redirected to, given the site URL and the allow list.
pub fn is_allowed(site_url: &str, allow_list: &[String], redirect: &str) -> bool {
    if redirect.is_empty() {
        return false;
    }
    let (Ok(base), Ok(target)) = (url::Url::parse(site_url), url::Url::parse(redirect)) else {
        return false;
    };
    // Hosts as written: the URL parser would turn `2130706433` or `0x7f.1` into 127.0.0.1.
    let host = raw_host(redirect);
    if !raw_host(site_url).is_empty()
        && raw_host(site_url).eq_ignore_ascii_case(&host)
        && base.scheme() == target.scheme()
        && (base.port() == target.port() || is_loopback_name(&host))
    {
        return true;
    }
    let http = matches!(target.scheme(), "http" | "https");
    if !host.is_empty() && host.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    if http && !regular_hostname(&host) {
        return false;
    }
    let without_fragment = redirect.split('#').next().unwrap_or(redirect);
    allow_list
        .iter()
        .any(|pattern| glob_match(pattern, without_fragment))
}

/// The host of a URL as written (no brackets around IPv6, no user or port).
fn raw_host(u: &str) -> String {
    let Some((_, rest)) = u.split_once("://") else {
        return String::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_string();
    }
    host_port.split(':').next().unwrap_or("").to_string()
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$`
fn regular_hostname(h: &str) -> bool {
    let b = h.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-')
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `*`: any run of non-separators.
    Star,
    /// `**`: any run.
    Super,
    /// `?`: one non-separator.
    Any,
    /// `[…]`: ranges, negated or not.
    Class(bool, Vec<(char, char)>),
}

fn is_sep(c: char) -> bool {
    c == '.' || c == '/'
}

/// Whether `text` matches the glob `pattern` (separators `.` and `/`), as GoTrue's allow list
/// matches. A pattern that does not parse (an unclosed `[` or `{`) matches only itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let Some(alternatives) = expand(pattern) else {
        return pattern == text;
    };
    let text: Vec<char> = text.chars().collect();
    alternatives.iter().any(|alt| match compile(alt) {
        Some(toks) => matches(&toks, &text),
        None => false,
    })
}

/// Expand `{a,b}` alternatives (nested ones too) into plain patterns.
fn expand(pattern: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut depth_start = None;
    let mut depth = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '{' => {
                if depth == 0 {
                    depth_start = Some(i);
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let start = depth_start?;
                    let prefix: String = chars[..start].iter().collect();
                    let suffix: String = chars[i + 1..].iter().collect();
                    let mut out = Vec::new();
                    for option in split_top(&chars[start + 1..i]) {
                        out.extend(expand(&format!("{prefix}{option}{suffix}"))?);
                    }
                    return Some(out);
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth > 0 {
        return None;
    }
    Some(vec![pattern.to_string()])
}

/// Split the inside of `{…}` at its top-level commas.
fn split_top(inner: &[char]) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut depth = 0;
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        match c {
            '\\' if i + 1 < inner.len() => {
                if let Some(p) = parts.last_mut() {
                    p.push('\\');
                    p.push(inner[i + 1]);
                }
                i += 2;
                continue;
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(String::new());
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Some(p) = parts.last_mut() {
            p.push(c);
        }
        i += 1;
    }
    parts
}

fn compile(pattern: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                toks.push(Tok::Lit(*chars.get(i + 1)?));
                i += 2;
            }
            '*' if chars.get(i + 1) == Some(&'*') => {
                toks.push(Tok::Super);
                i += 2;
            }
            '*' => {
                toks.push(Tok::Star);
                i += 1;
            }
            '?' => {
                toks.push(Tok::Any);
                i += 1;
            }
            '[' => {
                let mut j = i + 1;
                let negated = chars.get(j) == Some(&'!');
                if negated {
                    j += 1;
                }
                let mut ranges = Vec::new();
                while *chars.get(j)? != ']' {
                    let lo = chars[j];
                    if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|c| *c != ']')
                    {
                        ranges.push((lo, chars[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((lo, lo));
                        j += 1;
                    }
                }
                toks.push(Tok::Class(negated, ranges));
                i = j + 1;
            }
            c => {
                toks.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    Some(toks)
}

fn matches(p: &[Tok], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((Tok::Super, rest)) => (0..=t.len()).any(|i| matches(rest, &t[i..])),
        Some((Tok::Star, rest)) => {
            for i in 0..=t.len() {
                if matches(rest, &t[i..]) {
                    return true;
                }
                if i < t.len() && is_sep(t[i]) {
                    return false;
                }
            }
            false
        }
        Some((tok, rest)) => {
            let Some((c, tail)) = t.split_first() else {
                return false;
            };
            let ok = match tok {
                Tok::Lit(l) => l == c,
                Tok::Any => !is_sep(*c),
                Tok::Class(negated, ranges) => {
                    ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
                }
                Tok::Star | Tok::Super => false,
            };
            ok && matches(rest, tail)
        }
    }
}
