//! A provider's user as GoTrue records it: the addresses it vouches for and the identity data
//! (`auth.identities.identity_data`, merged into the user's metadata) in GoTrue's claim names,
//! standard OpenID claims plus the older `avatar_url`, `full_name`, `provider_id`, `user_name`.

use serde_json::{json, Map, Value};

use super::client::{self, CallError};
use super::providers::Profile;
use super::Provider;

/// An address a provider knows for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub email: String,
    pub verified: bool,
    pub primary: bool,
}

/// The user a provider vouches for.
#[derive(Debug, Clone, Default)]
pub struct UserData {
    pub emails: Vec<Email>,
    /// Identity data; `sub` is the provider's id of the user.
    pub claims: Map<String, Value>,
}

impl UserData {
    /// The provider's id of the user.
    pub fn subject(&self) -> &str {
        self.claims.get("sub").and_then(Value::as_str).unwrap_or("")
    }

    /// Put the chosen address into the claims as GoTrue does: the primary one, else the last,
    /// with whether the provider verified it.
    pub fn settle_email(&mut self) {
        let chosen = self
            .emails
            .iter()
            .find(|e| e.primary)
            .or(self.emails.last())
            .cloned();
        let (email, verified) = chosen.map(|e| (e.email, e.verified)).unwrap_or_default();
        if email.is_empty() {
            self.claims.remove("email");
        } else {
            self.claims
                .insert("email".into(), email.to_lowercase().into());
        }
        self.claims.insert("email_verified".into(), verified.into());
        self.claims
            .entry("phone_verified")
            .or_insert(Value::Bool(false));
    }
}

/// Identity claims from pairs, leaving out empty strings and nulls (GoTrue's `omitempty`).
fn claims(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .filter(|(_, v)| !(v.is_null() || v.as_str() == Some("")))
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// A JSON field as text (numbers too: GitHub's and GitLab's ids).
fn text(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn one(email: String, verified: bool) -> Vec<Email> {
    if email.is_empty() {
        return Vec::new();
    }
    vec![Email {
        email,
        verified,
        primary: true,
    }]
}

/// A user from OpenID claims (an ID token or a userinfo answer).
pub fn from_oidc(c: &Value, provider: &str) -> UserData {
    let sub = [
        text(c, &["https://slack.com/user_id"]),
        text(c, &["sub"]),
        text(c, &["id"]),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or_default();
    let email = text(c, &["email"]);
    // Apple and Facebook (Limited Login) only hand out verified addresses.
    let verified = matches!(provider, "apple" | "facebook")
        || truthy(&c["email_verified"])
        || truthy(&c["verified_email"]);
    let picture = text(c, &["picture"]);
    let name = text(c, &["name"]);
    let mut data = UserData {
        emails: one(email.clone(), verified),
        claims: claims(vec![
            ("iss", text(c, &["iss"]).into()),
            ("sub", sub.clone().into()),
            ("name", name.clone().into()),
            ("given_name", text(c, &["given_name"]).into()),
            ("family_name", text(c, &["family_name"]).into()),
            ("nickname", text(c, &["nickname"]).into()),
            (
                "preferred_username",
                text(c, &["preferred_username"]).into(),
            ),
            ("picture", picture.clone().into()),
            ("locale", text(c, &["locale"]).into()),
            ("email", email.into()),
            ("phone", text(c, &["phone_number"]).into()),
            ("avatar_url", picture.into()),
            ("full_name", name.into()),
            ("provider_id", sub.into()),
        ]),
    };
    if let Some(hd) = c.get("hd").filter(|v| v.is_string()) {
        data.claims
            .insert("custom_claims".into(), json!({ "hd": hd }));
    }
    data
}

/// The claims every provider's user gets: issuer, id, name, picture and their older names
/// (`avatar_url`, `full_name`, `provider_id`), then `extra`.
fn standard(
    iss: &str,
    id: &str,
    name: &str,
    avatar: &str,
    extra: Vec<(&str, Value)>,
) -> Map<String, Value> {
    let mut pairs = vec![
        ("iss", iss.into()),
        ("sub", id.into()),
        ("name", name.into()),
        ("picture", avatar.into()),
        ("avatar_url", avatar.into()),
        ("full_name", name.into()),
        ("provider_id", id.into()),
    ];
    pairs.extend(extra);
    claims(pairs)
}

/// `first last`, trimmed.
fn full_name(u: &Value) -> String {
    format!("{} {}", text(u, &["first_name"]), text(u, &["last_name"]))
        .trim()
        .to_string()
}

/// Addresses from a list of objects, with the fields naming the address, its verification and
/// whether it is the primary one (GitLab's extra addresses have neither: unverified).
fn email_list(list: &Value, email: &str, verified: &str, primary: &str) -> Vec<Email> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|e| Email {
            email: text(e, &[email]),
            verified: truthy(&e[verified])
                || (verified == "confirmed_at" && !text(e, &[verified]).is_empty()),
            primary: truthy(&e[primary]),
        })
        .filter(|e| !e.email.is_empty())
        .collect()
}

/// Read the user after a code exchange; `token` is the token response.
pub async fn fetch(p: &Provider, token: &Value) -> Result<UserData, CallError> {
    let access = token["access_token"].as_str().unwrap_or("");
    let userinfo = p.userinfo_url.clone().unwrap_or_default();
    let get = |url: String| async move { client::get_json(&url, Some(access), &[]).await };
    let api = p.api.trim_end_matches('/');
    let data = match p.spec.profile {
        Profile::Oidc => {
            let id_token = token["id_token"].as_str().filter(|t| !t.is_empty());
            match (id_token, &p.jwks_url, &p.issuer) {
                (Some(t), Some(jwks), Some(issuer)) => {
                    let c = client::verify_id_token(t, jwks, issuer).await?;
                    let aud_ok = match c.get("aud") {
                        Some(Value::String(a)) => p.settings.client_ids.contains(a),
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(Value::as_str)
                            .any(|a| p.settings.client_ids.iter().any(|c| c == a)),
                        _ => false,
                    };
                    if !aud_ok {
                        return Err("ID token audience is not the client id".into());
                    }
                    from_oidc(&Value::Object(c), &p.name)
                }
                _ => from_oidc(&get(userinfo).await?, &p.name),
            }
        }
        Profile::Github => {
            let u = get(userinfo).await?;
            let login = text(&u, &["login"]);
            let mut claims = standard(
                api,
                &text(&u, &["id"]),
                &text(&u, &["name"]),
                &text(&u, &["avatar_url"]),
                vec![
                    ("preferred_username", login.clone().into()),
                    ("user_name", login.into()),
                ],
            );
            claims.remove("picture");
            UserData {
                emails: email_list(
                    &get(format!("{api}/user/emails")).await?,
                    "email",
                    "verified",
                    "primary",
                ),
                claims,
            }
        }
        Profile::Gitlab => {
            let u = get(userinfo).await?;
            let extra = get(format!("{api}/api/v4/user/emails"))
                .await
                .unwrap_or(Value::Null);
            let mut emails = email_list(&extra, "email", "verified", "primary");
            emails.extend(one(
                text(&u, &["email"]),
                !text(&u, &["confirmed_at"]).is_empty(),
            ));
            UserData {
                emails,
                claims: standard(
                    api,
                    &text(&u, &["id"]),
                    &text(&u, &["name"]),
                    &text(&u, &["avatar_url"]),
                    vec![],
                ),
            }
        }
        Profile::Bitbucket => {
            let u = get(userinfo).await?;
            let emails = get(format!("{api}/user/emails")).await?;
            UserData {
                emails: email_list(&emails["values"], "email", "is_confirmed", "is_primary"),
                claims: standard(
                    api,
                    &text(&u, &["uuid"]),
                    &text(&u, &["display_name"]),
                    &text(&u, &["links", "avatar", "href"]),
                    vec![],
                ),
            }
        }
        Profile::Discord => {
            let u = get(userinfo).await?;
            let id = text(&u, &["id"]);
            let user = text(&u, &["username"]);
            let hash = text(&u, &["avatar"]);
            let avatar = match hash.as_str() {
                "" => String::new(),
                h if h.starts_with("a_") => {
                    format!("https://cdn.discordapp.com/avatars/{id}/{h}.gif")
                }
                h => format!("https://cdn.discordapp.com/avatars/{id}/{h}.png"),
            };
            let tagged = format!("{user}#{}", text(&u, &["discriminator"]));
            let mut claims = standard(
                api,
                &id,
                &tagged,
                &avatar,
                vec![(
                    "custom_claims",
                    json!({"global_name": text(&u, &["global_name"])}),
                )],
            );
            claims.insert("full_name".into(), user.into());
            UserData {
                emails: one(text(&u, &["email"]), truthy(&u["verified"])),
                claims,
            }
        }
        Profile::Facebook => {
            use hmac::{Hmac, Mac};
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(p.settings.secret.as_bytes())
                .map_err(|e| e.to_string())?;
            mac.update(access.as_bytes());
            let proof = hex::encode(mac.finalize().into_bytes());
            let u = get(format!("{userinfo}&appsecret_proof={proof}")).await?;
            let alias = text(&u, &["name"]);
            UserData {
                emails: one(text(&u, &["email"]), true),
                claims: standard(
                    &userinfo,
                    &text(&u, &["id"]),
                    &full_name(&u),
                    &text(&u, &["picture", "data", "url"]),
                    vec![("nickname", alias.clone().into()), ("slug", alias.into())],
                ),
            }
        }
        Profile::Figma => {
            let u = get(userinfo).await?;
            UserData {
                emails: one(text(&u, &["email"]), true),
                claims: standard(
                    api,
                    &text(&u, &["id"]),
                    &text(&u, &["handle"]),
                    &text(&u, &["img_url"]),
                    vec![],
                ),
            }
        }
        Profile::Kakao => {
            let u = get(userinfo).await?;
            let acc = &u["kakao_account"];
            let name = text(acc, &["profile", "nickname"]);
            UserData {
                emails: one(
                    text(acc, &["email"]),
                    truthy(&acc["is_email_verified"]) && truthy(&acc["is_email_valid"]),
                ),
                claims: standard(
                    api,
                    &text(&u, &["id"]),
                    &name,
                    &text(acc, &["profile", "profile_image_url"]),
                    vec![
                        ("preferred_username", name.clone().into()),
                        ("user_name", name.clone().into()),
                    ],
                ),
            }
        }
        Profile::Notion => {
            let u = client::get_json(&userinfo, Some(access), &[("Notion-Version", "2021-08-16")])
                .await?;
            let owner = &u["bot"]["owner"]["user"];
            UserData {
                emails: one(text(owner, &["person", "email"]), true),
                claims: standard(
                    api,
                    &text(owner, &["id"]),
                    &text(owner, &["name"]),
                    &text(owner, &["avatar_url"]),
                    vec![],
                ),
            }
        }
        Profile::Spotify => {
            let u = get(userinfo).await?;
            let area =
                |i: &&Value| i["width"].as_i64().unwrap_or(0) * i["height"].as_i64().unwrap_or(0);
            let avatar = u["images"]
                .as_array()
                .and_then(|imgs| imgs.iter().max_by_key(area))
                .map(|i| text(i, &["url"]))
                .unwrap_or_default();
            UserData {
                emails: one(text(&u, &["email"]), false),
                claims: standard(
                    api,
                    &text(&u, &["id"]),
                    &text(&u, &["display_name"]),
                    &avatar,
                    vec![],
                ),
            }
        }
        Profile::Twitch => {
            let client_id = p.settings.client_id().to_string();
            let u = client::get_json(&userinfo, Some(access), &[("Client-Id", &client_id)]).await?;
            let u = &u["data"][0];
            let display = text(u, &["display_name"]);
            UserData {
                emails: one(text(u, &["email"]), true),
                claims: standard(
                    api,
                    &text(u, &["id"]),
                    &text(u, &["login"]),
                    &text(u, &["profile_image_url"]),
                    vec![
                        ("nickname", display.clone().into()),
                        ("slug", display.into()),
                    ],
                ),
            }
        }
        Profile::Workos => {
            let u = &token["profile"];
            let ids = json!({
                "connection_id": text(u, &["connection_id"]),
                "organization_id": text(u, &["organization_id"]),
            });
            UserData {
                emails: one(text(u, &["email"]), true),
                claims: standard(
                    api,
                    &text(u, &["id"]),
                    &full_name(u),
                    "",
                    vec![("custom_claims", ids)],
                ),
            }
        }
        Profile::Zoom => {
            let u = get(userinfo).await?;
            UserData {
                emails: one(text(&u, &["email"]), truthy(&u["verified"])),
                claims: standard(
                    api,
                    &text(&u, &["id"]),
                    &full_name(&u),
                    &text(&u, &["pic_url"]),
                    vec![],
                ),
            }
        }
        Profile::X => {
            let u = get(userinfo).await?;
            let u = &u["data"];
            let username = text(u, &["username"]);
            UserData {
                emails: one(text(u, &["confirmed_email"]), true),
                claims: standard(
                    api,
                    &text(u, &["id"]),
                    &text(u, &["name"]),
                    &text(u, &["profile_image_url"]),
                    vec![
                        ("preferred_username", username.clone().into()),
                        ("website", text(u, &["url"]).into()),
                        ("user_name", username.into()),
                    ],
                ),
            }
        }
    };
    if data.subject().is_empty() {
        return Err(format!("{}: the user has no id", p.name));
    }
    Ok(data)
}
