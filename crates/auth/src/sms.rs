//! Text messages through an SMS provider, as GoTrue sends them (`internal/api/sms_provider`):
//! Twilio (Programmable Messaging), Twilio Verify (the provider makes and checks the code),
//! MessageBird, Vonage and Textlocal, each a form POST to the provider's HTTP API. Every API
//! base URL can be replaced (`[auth.sms.<provider>] api_url`, `GOTRUE_SMS_<PROVIDER>_API_URL`)
//! so tests talk to a local fake. Without a provider, texts go to the development mailbox.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// A configured provider and its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    Twilio {
        account_sid: String,
        auth_token: String,
        /// The sender: a messaging service SID or a phone number.
        message_service_sid: String,
        /// A content template for WhatsApp messages (its variable `1` is the code).
        content_sid: Option<String>,
    },
    TwilioVerify {
        account_sid: String,
        auth_token: String,
        /// The Verify service SID.
        message_service_sid: String,
    },
    Messagebird {
        access_key: String,
        originator: String,
    },
    Textlocal {
        api_key: String,
        sender: String,
    },
    Vonage {
        api_key: String,
        api_secret: String,
        from: String,
    },
}

/// The provider to send with and where its API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub provider: Provider,
    /// Replaces the provider's API base URL (no trailing slash).
    pub api_url: Option<String>,
}

impl Provider {
    /// GoTrue's name of the provider (`GOTRUE_SMS_PROVIDER`).
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Twilio { .. } => "twilio",
            Provider::TwilioVerify { .. } => "twilio_verify",
            Provider::Messagebird { .. } => "messagebird",
            Provider::Textlocal { .. } => "textlocal",
            Provider::Vonage { .. } => "vonage",
        }
    }

    fn default_base(&self) -> &'static str {
        match self {
            Provider::Twilio { .. } => "https://api.twilio.com",
            Provider::TwilioVerify { .. } => "https://verify.twilio.com",
            Provider::Messagebird { .. } => "https://rest.messagebird.com",
            Provider::Textlocal { .. } => "https://api.textlocal.in",
            Provider::Vonage { .. } => "https://rest.nexmo.com",
        }
    }

    /// Build a provider from GoTrue's name and a lookup of its settings (`account_sid`,
    /// `auth_token`, …); a required setting that is missing is an error naming it.
    pub fn from_settings(
        name: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Provider, String> {
        let need = |key: &str| {
            get(key)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("SMS provider {name}: {key} is required"))
        };
        Ok(match name {
            "twilio" => Provider::Twilio {
                account_sid: need("account_sid")?,
                auth_token: need("auth_token")?,
                message_service_sid: need("message_service_sid")?,
                content_sid: get("content_sid").filter(|v| !v.is_empty()),
            },
            "twilio_verify" => Provider::TwilioVerify {
                account_sid: need("account_sid")?,
                auth_token: need("auth_token")?,
                message_service_sid: need("message_service_sid")?,
            },
            "messagebird" => Provider::Messagebird {
                access_key: need("access_key")?,
                originator: need("originator")?,
            },
            "textlocal" => Provider::Textlocal {
                api_key: need("api_key")?,
                sender: need("sender")?,
            },
            "vonage" => Provider::Vonage {
                api_key: need("api_key")?,
                api_secret: need("api_secret")?,
                from: need("from")?,
            },
            other => return Err(format!("SMS provider {other} could not be found")),
        })
    }
}

/// The text of a message: GoTrue's Go template with `{{ .Code }}` standing for the code (other
/// actions render as nothing).
pub fn render(template: &str, code: &str) -> String {
    let mut out = String::with_capacity(template.len() + code.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let action = rest[start + 2..start + end].trim_matches(|c: char| c == '-' || c == ' ');
        if action == ".Code" {
            out.push_str(code);
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// What went wrong sending or checking a code.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider could not be reached or answered something unreadable.
    #[error("{0}")]
    Transport(String),
    /// The provider refused (its own words).
    #[error("{0}")]
    Refused(String),
}

impl From<reqwest::Error> for SmsError {
    fn from(e: reqwest::Error) -> Self {
        SmsError::Transport(e.to_string())
    }
}

/// Sends texts with one provider.
#[derive(Debug, Clone)]
pub struct Sender {
    config: ProviderConfig,
    http: reqwest::Client,
}

/// Twilio's error body.
#[derive(Deserialize, Default)]
#[serde(default)]
struct TwilioError {
    message: String,
    more_info: String,
}

impl Sender {
    pub fn new(config: ProviderConfig, timeout: Duration) -> Result<Sender, crate::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| crate::Error::Config(format!("SMS HTTP client: {e}")))?;
        Ok(Sender { config, http })
    }

    /// The provider.
    pub fn provider(&self) -> &Provider {
        &self.config.provider
    }

    /// Whether the provider makes and checks the codes itself (Twilio Verify).
    pub fn verifies_codes(&self) -> bool {
        matches!(self.config.provider, Provider::TwilioVerify { .. })
    }

    fn url(&self, path: &str) -> String {
        let base = self
            .config
            .api_url
            .as_deref()
            .unwrap_or(self.config.provider.default_base());
        format!("{}{path}", base.trim_end_matches('/'))
    }

    fn form(
        &self,
        url: String,
        fields: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::RequestBuilder {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = self
            .http
            .post(url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        match basic {
            Some((user, pass)) => req.basic_auth(user, Some(pass)),
            None => req,
        }
    }

    /// A form POST to a Twilio API with the account's credentials; its JSON answer, or the
    /// refusal Twilio words in it.
    async fn twilio(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        account_sid: &str,
        auth_token: &str,
    ) -> Result<Value, SmsError> {
        let res = self
            .form(self.url(path), fields, Some((account_sid, auth_token)))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        if !(status == 200 || status == 201) {
            return Err(twilio_refusal(body));
        }
        Ok(body)
    }

    /// Send `message` (which carries `otp`) to `phone` (digits, no `+`) over `channel` (`sms`
    /// or `whatsapp`); returns the provider's message id.
    pub async fn send(
        &self,
        phone: &str,
        message: &str,
        channel: &str,
        otp: &str,
    ) -> Result<String, SmsError> {
        let whatsapp = channel == "whatsapp";
        let twilio_like = matches!(
            self.config.provider,
            Provider::Twilio { .. } | Provider::TwilioVerify { .. }
        );
        if whatsapp && !twilio_like || !whatsapp && channel != "sms" {
            return Err(SmsError::Refused(format!(
                "channel type {channel:?} is not supported for {}",
                self.config.provider.name()
            )));
        }
        match &self.config.provider {
            Provider::Twilio {
                account_sid,
                auth_token,
                message_service_sid,
                content_sid,
            } => {
                let path = format!("/2010-04-01/Accounts/{account_sid}/Messages.json");
                let mut to = format!("+{phone}");
                let mut from = message_service_sid.clone();
                let variables = format!(r#"{{"1": "{otp}"}}"#);
                let mut fields = vec![("Channel", channel)];
                if whatsapp {
                    to = format!("whatsapp:{to}");
                    let digits = from.trim_start_matches('+').replace(' ', "");
                    if !digits.is_empty()
                        && digits.len() <= 15
                        && !digits.starts_with('0')
                        && digits.chars().all(|c| c.is_ascii_digit())
                    {
                        from = format!("whatsapp:{from}");
                    }
                }
                fields.push(("To", &to));
                fields.push(("From", &from));
                match content_sid {
                    Some(sid) if whatsapp => {
                        fields.push(("ContentSid", sid));
                        fields.push(("ContentVariables", &variables));
                    }
                    _ => fields.push(("Body", message)),
                }
                let body = self.twilio(&path, &fields, account_sid, auth_token).await?;
                let sid = text(&body, "sid");
                if matches!(body["status"].as_str(), Some("failed" | "undelivered")) {
                    return Err(SmsError::Refused(format!(
                        "twilio error: {} {} for message {sid}",
                        text(&body, "error_message"),
                        text(&body, "error_code")
                    )));
                }
                Ok(sid)
            }
            Provider::TwilioVerify {
                account_sid,
                auth_token,
                message_service_sid,
            } => {
                let path = format!("/v2/Services/{message_service_sid}/Verifications");
                let to = format!("+{phone}");
                let fields = [("To", to.as_str()), ("Channel", channel)];
                let body = self.twilio(&path, &fields, account_sid, auth_token).await?;
                Ok(text(&body, "sid"))
            }
            Provider::Messagebird {
                access_key,
                originator,
            } => {
                let fields = [
                    ("originator", originator.as_str()),
                    ("body", message),
                    ("recipients", phone),
                    ("type", "sms"),
                    ("datacoding", "unicode"),
                ];
                let res = self
                    .form(self.url("/messages"), &fields, None)
                    .header(
                        http::header::AUTHORIZATION,
                        format!("AccessKey {access_key}"),
                    )
                    .send()
                    .await?;
                let status = res.status().as_u16();
                let body: Value = res.json().await?;
                if matches!(status, 400 | 401 | 403 | 422) {
                    return Err(SmsError::Refused(
                        body["errors"][0]["description"]
                            .as_str()
                            .unwrap_or("messagebird error")
                            .to_string(),
                    ));
                }
                if body["recipients"]["totalSentCount"].as_i64().unwrap_or(0) == 0 {
                    return Err(SmsError::Refused(
                        "messagebird error: total sent count is 0".into(),
                    ));
                }
                Ok(text(&body, "id"))
            }
            Provider::Textlocal { api_key, sender } => {
                let fields = [
                    ("sender", sender.as_str()),
                    ("apikey", api_key.as_str()),
                    ("message", message),
                    ("numbers", phone),
                ];
                let body: Value = self
                    .form(self.url("/send"), &fields, None)
                    .send()
                    .await?
                    .json()
                    .await?;
                let id = body["messages"][0]["id"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| body["messages"][0]["id"].as_i64().map(|n| n.to_string()))
                    .unwrap_or_default();
                if body["status"].as_str() != Some("success") {
                    let e = &body["errors"][0];
                    return Err(SmsError::Refused(format!(
                        "textlocal error: {} (code: {}) message {id}",
                        e["message"].as_str().unwrap_or_default(),
                        e["code"]
                    )));
                }
                Ok(id)
            }
            Provider::Vonage {
                api_key,
                api_secret,
                from,
            } => {
                let mut fields = vec![
                    ("from", from.as_str()),
                    ("to", phone),
                    ("text", message),
                    ("api_key", api_key.as_str()),
                    ("api_secret", api_secret.as_str()),
                ];
                if !message.is_ascii() {
                    fields.push(("type", "unicode"));
                }
                let body: Value = self
                    .form(self.url("/sms/json"), &fields, None)
                    .send()
                    .await?
                    .json()
                    .await?;
                let Some(first) = body["messages"].get(0) else {
                    return Err(SmsError::Refused("vonage error: Internal Error".into()));
                };
                let id = text(first, "message-id");
                if first["status"].as_str() != Some("0") {
                    return Err(SmsError::Refused(format!(
                        "vonage error: {} (status: {}) for message {id}",
                        text(first, "error-text"),
                        text(first, "status")
                    )));
                }
                Ok(id)
            }
        }
    }

    /// Check `code` for `phone` with the provider (Twilio Verify only).
    pub async fn verify(&self, phone: &str, code: &str) -> Result<(), SmsError> {
        let Provider::TwilioVerify {
            account_sid,
            auth_token,
            message_service_sid,
        } = &self.config.provider
        else {
            return Err(SmsError::Refused(format!(
                "VerifyOTP is not supported for {}",
                self.config.provider.name()
            )));
        };
        let path = format!("/v2/Services/{message_service_sid}/VerificationCheck");
        let to = format!("+{phone}");
        let fields = [("To", to.as_str()), ("Code", code)];
        let body = self.twilio(&path, &fields, account_sid, auth_token).await?;
        if body["status"].as_str() != Some("approved") || body["valid"] != Value::Bool(true) {
            return Err(SmsError::Refused(format!(
                "twilio verification error: {} {}",
                text(&body, "error_message"),
                text(&body, "status")
            )));
        }
        Ok(())
    }
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn twilio_refusal(body: Value) -> SmsError {
    let e: TwilioError = serde_json::from_value(body).unwrap_or_default();
    SmsError::Refused(format!("{} More information: {}", e.message, e.more_info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            render("Your code is {{ .Code }}", "123456"),
            "Your code is 123456"
        );
        assert_eq!(render("{{.Code}} is it", "42"), "42 is it");
        assert_eq!(render("a {{ .Other }}b", "1"), "a b");
        assert_eq!(render("open {{ .Code", "1"), "open {{ .Code");
    }

    #[test]
    fn providers_need_their_settings() {
        let get = |k: &str| (k != "auth_token").then(|| format!("v-{k}"));
        let e = Provider::from_settings("twilio", get).unwrap_err();
        assert!(e.contains("auth_token"), "{e}");
        let p = Provider::from_settings("vonage", |k| Some(k.to_string())).unwrap();
        assert_eq!(p.name(), "vonage");
        assert!(Provider::from_settings("pigeon", |_| None).is_err());
    }
}
