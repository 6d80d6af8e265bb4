//! The built-in providers as one table: where each signs in, trades codes for tokens and reads
//! the user, which scopes it asks for, and how its user becomes an identity ([`Profile`]).
//! Providers that differ only in endpoints share a profile; every endpoint can be replaced by
//! configuration (`url` moves the whole provider, `auth_url`/`token_url`/`userinfo_url`/
//! `jwks_url`/`issuer` one endpoint each).

/// How the provider's user is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// OpenID Connect: the ID token of the token response (verified), else the userinfo endpoint.
    Oidc,
    Github,
    Gitlab,
    Bitbucket,
    Discord,
    Facebook,
    Figma,
    Kakao,
    Notion,
    Spotify,
    Twitch,
    /// The profile arrives in the token response.
    Workos,
    Zoom,
    X,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    /// `client_id` and `client_secret` in the form body.
    Body,
    /// HTTP Basic with the client id and secret.
    Basic,
}

/// A built-in provider.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    /// Default base of the sign-in pages; `url` replaces it.
    pub base: &'static str,
    /// Appended to `url` when it replaces the base.
    pub base_suffix: &'static str,
    /// Default API base; with `url` set: `url` + `api_suffix`.
    pub api: &'static str,
    pub api_suffix: &'static str,
    /// Paths on the base (absolute URLs are used as they are while `url` is unset).
    pub auth_path: &'static str,
    pub token_path: &'static str,
    /// Whether `token_path` is on the API base instead.
    pub token_on_api: bool,
    /// The user endpoint, on the API base.
    pub userinfo_path: &'static str,
    /// ID token issuer (OpenID Connect providers).
    pub issuer: Option<&'static str>,
    /// ID token keys (absolute, or a path on the base).
    pub jwks: Option<&'static str>,
    pub scopes: &'static [&'static str],
    pub profile: Profile,
    pub token_auth: TokenAuth,
    /// The provider itself demands PKCE from basalt.
    pub pkce: bool,
    /// Signs in with ID tokens at `/token?grant_type=id_token`.
    pub id_token_grant: bool,
}

const fn spec(name: &'static str, base: &'static str, profile: Profile) -> Spec {
    Spec {
        name,
        base,
        base_suffix: "",
        api: base,
        api_suffix: "",
        auth_path: "",
        token_path: "",
        token_on_api: false,
        userinfo_path: "",
        issuer: None,
        jwks: None,
        scopes: &[],
        profile,
        token_auth: TokenAuth::Body,
        pkce: false,
        id_token_grant: false,
    }
}

/// Any OpenID Connect provider found by discovery from its `issuer` (or `url`).
pub const GENERIC_OIDC: Spec = Spec {
    scopes: &["openid", "email", "profile"],
    id_token_grant: true,
    ..spec("oidc", "", Profile::Oidc)
};

/// Every built-in provider.
pub const SPECS: &[Spec] = &[
    Spec {
        auth_path: "/auth/authorize",
        token_path: "/auth/token",
        issuer: Some("https://appleid.apple.com"),
        jwks: Some("/auth/keys"),
        scopes: &["email", "name"],
        id_token_grant: true,
        ..spec("apple", "https://appleid.apple.com", Profile::Oidc)
    },
    Spec {
        auth_path: "/oauth2/v2.0/authorize",
        token_path: "/oauth2/v2.0/token",
        jwks: Some("/discovery/v2.0/keys"),
        scopes: &["openid"],
        id_token_grant: true,
        ..spec("azure", "https://login.microsoftonline.com/common", Profile::Oidc)
    },
    Spec {
        api: "https://api.bitbucket.org/2.0",
        api_suffix: "/2.0",
        auth_path: "/site/oauth2/authorize",
        token_path: "/site/oauth2/access_token",
        userinfo_path: "/user",
        scopes: &["account", "email"],
        ..spec("bitbucket", "https://bitbucket.org", Profile::Bitbucket)
    },
    Spec {
        base_suffix: "/api",
        api_suffix: "/api",
        auth_path: "/oauth2/authorize",
        token_path: "/oauth2/token",
        userinfo_path: "/users/@me",
        scopes: &["email", "identify"],
        ..spec("discord", "https://discord.com/api", Profile::Discord)
    },
    Spec {
        api: "https://graph.facebook.com",
        auth_path: "/dialog/oauth",
        token_path: "/oauth/access_token",
        token_on_api: true,
        userinfo_path: "/me?fields=email,first_name,last_name,name,picture",
        issuer: Some("https://www.facebook.com"),
        jwks: Some("https://limited.facebook.com/.well-known/oauth/openid/jwks/"),
        scopes: &["email"],
        id_token_grant: true,
        ..spec("facebook", "https://www.facebook.com", Profile::Facebook)
    },
    Spec {
        api: "https://api.figma.com",
        auth_path: "/oauth",
        token_path: "/v1/oauth/token",
        token_on_api: true,
        userinfo_path: "/v1/me",
        scopes: &["files:read"],
        ..spec("figma", "https://www.figma.com", Profile::Figma)
    },
    Spec {
        api: "https://api.github.com",
        api_suffix: "/api/v3",
        auth_path: "/login/oauth/authorize",
        token_path: "/login/oauth/access_token",
        userinfo_path: "/user",
        scopes: &["user:email"],
        ..spec("github", "https://github.com", Profile::Github)
    },
    Spec {
        auth_path: "/oauth/authorize",
        token_path: "/oauth/token",
        userinfo_path: "/api/v4/user",
        scopes: &["read_user"],
        ..spec("gitlab", "https://gitlab.com", Profile::Gitlab)
    },
    Spec {
        auth_path: "/o/oauth2/v2/auth",
        token_path: "https://oauth2.googleapis.com/token",
        userinfo_path: "https://openidconnect.googleapis.com/v1/userinfo",
        issuer: Some("https://accounts.google.com"),
        jwks: Some("https://www.googleapis.com/oauth2/v3/certs"),
        scopes: &["openid", "email", "profile"],
        id_token_grant: true,
        ..spec("google", "https://accounts.google.com", Profile::Oidc)
    },
    Spec {
        api: "https://kapi.kakao.com",
        auth_path: "/oauth/authorize",
        token_path: "/oauth/token",
        userinfo_path: "/v2/user/me",
        issuer: Some("https://kauth.kakao.com"),
        jwks: Some("/.well-known/jwks.json"),
        scopes: &["account_email", "profile_image", "profile_nickname"],
        id_token_grant: true,
        ..spec("kakao", "https://kauth.kakao.com", Profile::Kakao)
    },
    Spec {
        auth_path: "/protocol/openid-connect/auth",
        token_path: "/protocol/openid-connect/token",
        userinfo_path: "/protocol/openid-connect/userinfo",
        jwks: Some("/protocol/openid-connect/certs"),
        scopes: &["openid", "profile", "email"],
        id_token_grant: true,
        ..spec("keycloak", "", Profile::Oidc)
    },
    Spec {
        auth_path: "/oauth/v2/authorization",
        token_path: "/oauth/v2/accessToken",
        userinfo_path: "https://api.linkedin.com/v2/userinfo",
        issuer: Some("https://www.linkedin.com/oauth"),
        jwks: Some("/oauth/openid/jwks"),
        scopes: &["openid", "email", "profile"],
        id_token_grant: true,
        ..spec("linkedin_oidc", "https://www.linkedin.com", Profile::Oidc)
    },
    Spec {
        auth_path: "/v1/oauth/authorize",
        token_path: "/v1/oauth/token",
        userinfo_path: "/v1/users/me",
        token_auth: TokenAuth::Basic,
        ..spec("notion", "https://api.notion.com", Profile::Notion)
    },
    Spec {
        auth_path: "/openid/connect/authorize",
        token_path: "/api/openid.connect.token",
        userinfo_path: "/api/openid.connect.userInfo",
        issuer: Some("https://slack.com"),
        jwks: Some("/openid/connect/keys"),
        scopes: &["openid", "profile", "email"],
        ..spec("slack_oidc", "https://slack.com", Profile::Oidc)
    },
    Spec {
        api: "https://api.spotify.com/v1",
        api_suffix: "/v1",
        auth_path: "/authorize",
        token_path: "/api/token",
        userinfo_path: "/me",
        scopes: &["user-read-email"],
        ..spec("spotify", "https://accounts.spotify.com", Profile::Spotify)
    },
    Spec {
        api: "https://api.twitch.tv",
        auth_path: "/oauth2/authorize",
        token_path: "/oauth2/token",
        userinfo_path: "/helix/users",
        scopes: &["user:read:email"],
        ..spec("twitch", "https://id.twitch.tv", Profile::Twitch)
    },
    Spec {
        auth_path: "/sso/authorize",
        token_path: "/sso/token",
        ..spec("workos", "https://api.workos.com", Profile::Workos)
    },
    Spec {
        api: "https://api.x.com",
        auth_path: "/i/oauth2/authorize",
        token_path: "/2/oauth2/token",
        token_on_api: true,
        userinfo_path: "/2/users/me?user.fields=id,name,username,confirmed_email,profile_image_url,url,created_at",
        scopes: &["users.read", "tweet.read", "offline.access", "users.email"],
        token_auth: TokenAuth::Basic,
        pkce: true,
        ..spec("x", "https://x.com", Profile::X)
    },
    Spec {
        base_suffix: "/oauth",
        api: "https://api.zoom.us/v2",
        api_suffix: "/v2",
        auth_path: "/authorize",
        token_path: "/token",
        userinfo_path: "/users/me",
        token_auth: TokenAuth::Basic,
        ..spec("zoom", "https://zoom.us/oauth", Profile::Zoom)
    },
];

/// The built-in provider called `name`.
pub fn builtin(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}
