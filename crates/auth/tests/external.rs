#![allow(clippy::unwrap_used)]
//! External sign-in pieces that need no provider: GoTrue's redirect rules and glob matching,
//! the signed `state`, and reading provider settings from config.toml and GOTRUE_* variables.

use basalt_auth::external::oauth_state::{self, StateClaims, StateError};
use basalt_auth::redirect::{glob_match, is_allowed};
use uuid::Uuid;

#[test]
fn globs_use_dot_and_slash_as_separators() {
    // `*` stays within one label or path segment, `**` crosses them.
    assert!(glob_match(
        "https://*.example.com",
        "https://app.example.com"
    ));
    assert!(!glob_match(
        "https://*.example.com",
        "https://a.b.example.com"
    ));
    assert!(glob_match(
        "https://**.example.com",
        "https://a.b.example.com"
    ));
    assert!(glob_match(
        "http://localhost:3000/*",
        "http://localhost:3000/cb"
    ));
    assert!(!glob_match(
        "http://localhost:3000/*",
        "http://localhost:3000/a/b"
    ));
    assert!(glob_match(
        "http://localhost:3000/**",
        "http://localhost:3000/a/b?x=1"
    ));
    // No implicit prefix match: a pattern without wildcards is the whole URL.
    assert!(glob_match("http://app.test", "http://app.test"));
    assert!(!glob_match("http://app.test", "http://app.test/callback"));
    assert!(!glob_match("http://app.test*", "http://app.test.evil.com"));
    // `?`, classes, alternatives, escapes.
    assert!(glob_match("http://app?.test/cb", "http://app1.test/cb"));
    assert!(!glob_match("http://app?.test/cb", "http://app/.test/cb"));
    assert!(glob_match("http://app[0-9].test", "http://app7.test"));
    assert!(!glob_match("http://app[!0-9].test", "http://app7.test"));
    assert!(glob_match(
        "https://{app,admin}.example.com/**",
        "https://admin.example.com/x"
    ));
    assert!(!glob_match(
        "https://{app,admin}.example.com/**",
        "https://evil.example.com/x"
    ));
    assert!(glob_match("myapp://auth\\*", "myapp://auth*"));
    assert!(!glob_match("myapp://auth\\*", "myapp://authx"));
    // Mobile deep links.
    assert!(glob_match(
        "com.example.app://**",
        "com.example.app://login-callback"
    ));
}

#[test]
fn redirects_follow_gotrue_rules() {
    let site = "https://example.com";
    let none: Vec<String> = Vec::new();
    assert!(is_allowed(site, &none, "https://example.com/path"));
    assert!(
        !is_allowed(site, &none, "http://example.com/path"),
        "scheme downgrade"
    );
    assert!(
        !is_allowed(site, &none, "https://example.com:8443/path"),
        "other port"
    );
    assert!(!is_allowed(site, &none, "https://example.com.evil.test/"));
    assert!(!is_allowed(site, &none, ""));
    assert!(!is_allowed(site, &none, "not a url"));
    // Loopback sites accept any port (RFC 8252 §7.3), not another scheme.
    assert!(is_allowed(
        "http://localhost:3000",
        &none,
        "http://localhost:8080/cb"
    ));
    assert!(is_allowed(
        "http://127.0.0.1:3000",
        &none,
        "http://127.0.0.1:9999/cb"
    ));
    assert!(!is_allowed(
        "https://localhost:3000",
        &none,
        "http://localhost:8080/cb"
    ));
    // The allow list, matched without the fragment.
    let list = vec!["https://*.example.org/**".to_string()];
    assert!(is_allowed(site, &list, "https://app.example.org/cb#frag"));
    assert!(!is_allowed(site, &list, "https://app.example.net/cb"));
    // Decimal hosts never; IP hosts only when loopback; odd hostnames never.
    let all = vec!["**".to_string()];
    assert!(!is_allowed(site, &all, "http://2130706433/"));
    assert!(!is_allowed(site, &all, "http://10.0.0.1/"));
    assert!(is_allowed(site, &all, "http://127.0.0.1:1234/"));
    assert!(is_allowed(site, &all, "http://[::1]:1234/"));
    assert!(!is_allowed(site, &all, "http://exa_mple.com/"));
    assert!(is_allowed(site, &all, "https://fine.example.net/"));
}

fn claims(exp: i64) -> StateClaims {
    StateClaims {
        flow: Uuid::new_v4(),
        provider: "github".into(),
        referrer: "http://app.test/welcome".into(),
        link: Some(Uuid::new_v4()),
        pkce: true,
        exp,
    }
}

#[test]
fn state_is_signed_and_expires() {
    let secret = "super-secret-jwt-token-with-at-least-32-characters-long";
    let now = chrono::Utc::now().timestamp();
    let c = claims(now + 300);
    let s = oauth_state::sign(secret, &c);
    assert_eq!(oauth_state::verify(secret, &s), Ok(c.clone()));
    // Another project's secret, or the project secret used directly, does not verify.
    assert_eq!(
        oauth_state::verify("another-secret-another-secret-another", &s),
        Err(StateError::Invalid)
    );
    let direct = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &c,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        oauth_state::verify(secret, &direct),
        Err(StateError::Invalid)
    );
    // A changed payload with the old signature is refused.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = s.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    payload["referrer"] = "https://evil.test/".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    );
    assert_eq!(
        oauth_state::verify(secret, &forged),
        Err(StateError::Invalid)
    );
    assert_eq!(
        oauth_state::verify(secret, "garbage"),
        Err(StateError::Invalid)
    );
    // Expired exactly at exp.
    let old = oauth_state::sign(secret, &claims(now - 1));
    assert_eq!(oauth_state::verify(secret, &old), Err(StateError::Expired));
    // The state is never an access token: the project's keys do not accept it.
    let keys = basalt_identity::Keys::from_secret(secret);
    assert!(keys.verify(&s).is_err());
}

#[test]
fn providers_from_config_toml() {
    std::env::set_var("BASALT_TEST_GH_SECRET", "from-env");
    let project = basalt_config::load(
        r#"
[auth]
enable_manual_linking = true
[auth.external.github]
enabled = true
client_id = "gh-client"
secret = "env(BASALT_TEST_GH_SECRET)"
url = "http://127.0.0.1:9/"
[auth.external.google]
enabled = true
client_id = "web-client, ios-client"
secret = "s"
skip_nonce_check = true
[auth.external.acme]
enabled = true
client_id = "acme"
issuer = "https://id.acme.test"
[auth.external.gitlab]
enabled = false
"#,
    )
    .unwrap();
    let c = basalt_auth::Config::from_project(&project.auth, "http://127.0.0.1:54321/auth/v1");
    let ext = &c.external;
    assert!(ext.manual_linking);
    let gh = &ext.providers["github"];
    assert_eq!(gh.secret, "from-env");
    assert_eq!(gh.url.as_deref(), Some("http://127.0.0.1:9/"));
    assert_eq!(
        ext.providers["google"].client_ids,
        vec!["web-client", "ios-client"]
    );
    assert!(ext.providers["google"].skip_nonce_check);
    assert_eq!(
        basalt_auth::external::enabled(&c),
        vec!["acme", "github", "google"]
    );
}

#[test]
fn providers_from_gotrue_variables() {
    let vars: std::collections::HashMap<&str, &str> = [
        ("DATABASE_URL", "postgres://x@localhost/db"),
        ("GOTRUE_JWT_SECRET", "s3cret"),
        ("GOTRUE_EXTERNAL_GITHUB_ENABLED", "true"),
        ("GOTRUE_EXTERNAL_GITHUB_CLIENT_ID", "gh"),
        ("GOTRUE_EXTERNAL_GITHUB_SECRET", "ghs"),
        (
            "GOTRUE_EXTERNAL_GITHUB_REDIRECT_URI",
            "https://api.test/auth/v1/callback",
        ),
        ("GOTRUE_EXTERNAL_KEYCLOAK_ENABLED", "true"),
        ("GOTRUE_EXTERNAL_KEYCLOAK_URL", "https://kc.test/realms/r"),
        ("GOTRUE_EXTERNAL_KEYCLOAK_CLIENT_ID", "kc"),
        ("GOTRUE_SECURITY_MANUAL_LINKING_ENABLED", "true"),
        ("BASALT_EXTERNAL_OIDC", "corp"),
        ("GOTRUE_EXTERNAL_CORP_ENABLED", "true"),
        ("GOTRUE_EXTERNAL_CORP_ISSUER", "https://sso.corp.test"),
        ("GOTRUE_EXTERNAL_CORP_CLIENT_ID", "corp-app"),
    ]
    .into_iter()
    .collect();
    let c = basalt_auth::Config::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    let ext = &c.external;
    assert!(ext.manual_linking);
    assert_eq!(ext.providers["github"].client_id(), "gh");
    assert_eq!(
        ext.providers["github"].redirect_uri.as_deref(),
        Some("https://api.test/auth/v1/callback")
    );
    assert_eq!(
        ext.providers["keycloak"].url.as_deref(),
        Some("https://kc.test/realms/r")
    );
    assert_eq!(
        ext.providers["corp"].issuer.as_deref(),
        Some("https://sso.corp.test")
    );
    assert_eq!(
        basalt_auth::external::enabled(&c),
        vec!["corp", "github", "keycloak"]
    );
    let bad = basalt_auth::Config::from_vars(|k| match k {
        "DATABASE_URL" => Some("x".into()),
        "GOTRUE_JWT_SECRET" => Some("s".into()),
        "GOTRUE_EXTERNAL_GITHUB_ENABLED" => Some("maybe".into()),
        _ => None,
    });
    assert!(bad.is_err());
}
