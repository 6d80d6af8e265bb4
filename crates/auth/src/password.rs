//! Password rules: minimum length, required character sets, and bcrypt's 72-byte limit.

use crate::config::PasswordConfig;
use crate::error::ApiError;

/// bcrypt ignores everything past 72 bytes, so longer passwords are refused.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// Check `password` against the rules; a weak one gives `weak_password` with its reasons.
pub fn check_strength(rules: &PasswordConfig, password: &str) -> Result<(), ApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::Validation(format!(
            "Password cannot be longer than {MAX_PASSWORD_BYTES} characters"
        )));
    }
    let mut reasons = Vec::new();
    let mut messages = Vec::new();
    // Lengths count bytes, as the rules have always been applied.
    if password.len() < rules.min_length {
        reasons.push("length");
        messages.push(format!(
            "Password should be at least {} characters.",
            rules.min_length
        ));
    }
    let missing = rules
        .required_characters
        .iter()
        .any(|set| !set.is_empty() && !password.chars().any(|c| set.contains(c)));
    if missing {
        reasons.push("characters");
        messages.push(format!(
            "Password should contain at least one character of each: {}.",
            rules.required_characters.join(", ")
        ));
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(ApiError::WeakPassword {
            message: messages.join(" "),
            reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(min: usize, sets: &[&str]) -> PasswordConfig {
        PasswordConfig {
            min_length: min,
            required_characters: sets.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn length_rule() {
        let r = rules(6, &[]);
        assert!(check_strength(&r, "secret").is_ok());
        match check_strength(&r, "short") {
            Err(ApiError::WeakPassword { message, reasons }) => {
                assert_eq!(message, "Password should be at least 6 characters.");
                assert_eq!(reasons, vec!["length"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn character_sets() {
        let r = rules(6, &["abc", "123"]);
        assert!(check_strength(&r, "aaaa11").is_ok());
        match check_strength(&r, "aaaaaa") {
            Err(ApiError::WeakPassword { message, reasons }) => {
                assert_eq!(reasons, vec!["characters"]);
                assert_eq!(
                    message,
                    "Password should contain at least one character of each: abc, 123."
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        // An empty set asks for nothing.
        assert!(check_strength(&rules(6, &["", "a"]), "aaaaaa").is_ok());
    }

    #[test]
    fn length_counts_bytes() {
        let r = rules(6, &[]);
        assert!(check_strength(&r, "ééé").is_ok());
        assert!(check_strength(&r, "éé").is_err());
    }

    #[test]
    fn bcrypt_limit() {
        let r = rules(6, &[]);
        let long = "x".repeat(73);
        assert!(matches!(
            check_strength(&r, &long),
            Err(ApiError::Validation(_))
        ));
        assert!(check_strength(&r, &"x".repeat(72)).is_ok());
    }
}
