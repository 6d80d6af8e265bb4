//! Small cryptographic helpers: random tokens and codes, the hashes one-time tokens are stored
//! under, constant-time comparison, PKCE challenges, and bcrypt passwords.

use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha224, Sha256};

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random alphanumeric string of `len` characters (refresh tokens).
pub fn random_token(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHANUMERIC[rng.gen_range(0..ALPHANUMERIC.len())] as char)
        .collect()
}

/// A random numeric code of `digits` digits (email OTPs).
pub fn random_otp(digits: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..digits)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// The hash one-time tokens are stored and linked under: hex SHA-224 of the address and the
/// code, as GoTrue stores them, so tokens of imported users stay valid.
pub fn token_hash(address: &str, otp: &str) -> String {
    let mut h = Sha224::new();
    h.update(address.as_bytes());
    h.update(otp.as_bytes());
    hex::encode(h.finalize())
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// PKCE: whether `verifier` answers `challenge` under `method` (`s256` or `plain`).
pub fn pkce_matches(method: &str, challenge: &str, verifier: &str) -> bool {
    match method.to_ascii_lowercase().as_str() {
        "s256" => {
            let digest = Sha256::digest(verifier.as_bytes());
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            constant_time_eq(computed.as_bytes(), challenge.as_bytes())
        }
        "plain" => constant_time_eq(verifier.as_bytes(), challenge.as_bytes()),
        _ => false,
    }
}

/// Cost of new bcrypt hashes (GoTrue's default).
pub const BCRYPT_COST: u32 = 10;

/// A bcrypt hash of `password`. Passwords over bcrypt's 72-byte limit are refused beforehand
/// by the password rules.
pub fn hash_password(password: &str) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(password, BCRYPT_COST)
}

/// Whether `password` matches a bcrypt hash (`$2a$`, `$2b$`, `$2y$`). Anything else, including
/// an empty or malformed hash, never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if !hash.starts_with("$2") {
        return false;
    }
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// A bcrypt hash of a random password, compared against when a user does not exist, so that
/// failed sign-ins take as long whether or not the address is known.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_token(24)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_codes() {
        let t = random_token(32);
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(random_token(32), t);
        let otp = random_otp(6);
        assert_eq!(otp.len(), 6);
        assert!(otp.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn token_hash_is_sha224_hex() {
        // sha224("") is a well-known vector.
        assert_eq!(
            token_hash("", ""),
            "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
        );
        assert_eq!(token_hash("a@b.c", "123456").len(), 56);
        assert_ne!(token_hash("a@b.c", "123456"), token_hash("a@b.c", "123457"));
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn pkce() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches("s256", challenge, verifier));
        assert!(pkce_matches("S256", challenge, verifier));
        assert!(!pkce_matches("s256", challenge, "wrong"));
        assert!(pkce_matches("plain", "abc", "abc"));
        assert!(!pkce_matches("other", "abc", "abc"));
    }

    #[test]
    fn bcrypt_hashes_from_other_tools_verify() {
        // Made with htpasswd / Python's bcrypt ($2b$ and $2y$ prefixes).
        let py = bcrypt::hash_with_result("hunter22", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB);
        assert!(verify_password("hunter22", &py));
        let y = py.replacen("$2b$", "$2y$", 1);
        assert!(verify_password("hunter22", &y));
        assert!(!verify_password("hunter23", &py));
        assert!(!verify_password("x", ""));
        assert!(!verify_password("x", "plaintext"));
    }
}
