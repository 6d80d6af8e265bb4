//! Outgoing email: the messages GoTrue sends (confirmation, invite, recovery, magic link, email
//! change, reauthentication), delivered over SMTP with lettre when a server is configured, or
//! else kept in the development mailbox `auth.mail`, which `GET /basalt/mail` and
//! `basalt mail` list, as the Supabase CLI's local Inbucket would. Text messages (phone codes)
//! always go to the mailbox, with the phone number as recipient: no SMS provider is built in.

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::collections::HashMap;

use serde_json::{json, Value};
use tokio_postgres::GenericClient;

use crate::config::SmtpConfig;
use crate::error::ApiError;

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Confirmation,
    Invite,
    Recovery,
    MagicLink,
    EmailChange,
    Reauthentication,
    /// A text message with a code (kept in the mailbox: no SMS provider is built in).
    Sms,
}

impl Kind {
    /// The name stored in the mailbox, and the `type` of the verification link.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Confirmation => "signup",
            Kind::Invite => "invite",
            Kind::Recovery => "recovery",
            Kind::MagicLink => "magiclink",
            Kind::EmailChange => "email_change",
            Kind::Reauthentication => "reauthentication",
            Kind::Sms => "sms",
        }
    }

    /// The template name in `config.toml` (`[auth.email.template.<name>]`) and in GoTrue's
    /// `GOTRUE_MAILER_SUBJECTS_<NAME>`.
    pub fn template_name(self) -> &'static str {
        match self {
            Kind::Confirmation => "confirmation",
            Kind::Invite => "invite",
            Kind::Recovery => "recovery",
            Kind::MagicLink => "magic_link",
            Kind::EmailChange => "email_change",
            Kind::Reauthentication => "reauthentication",
            Kind::Sms => "sms",
        }
    }

    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::Confirmation,
        Kind::Invite,
        Kind::Recovery,
        Kind::MagicLink,
        Kind::EmailChange,
        Kind::Reauthentication,
        Kind::Sms,
    ];

    fn subject(self) -> &'static str {
        match self {
            Kind::Confirmation => "Confirm Your Email",
            Kind::Invite => "You have been invited",
            Kind::Recovery => "Reset Your Password",
            Kind::MagicLink => "Your Magic Link",
            Kind::EmailChange => "Confirm Email Change",
            Kind::Reauthentication => "Confirm reauthentication",
            Kind::Sms => "SMS",
        }
    }
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub kind: Kind,
    /// The verification link, when the message has one.
    pub link: Option<String>,
    /// The one-time code.
    pub otp: String,
    /// The hash the link carries (for templates that build their own links).
    pub token_hash: String,
    pub site_url: String,
    pub redirect_to: String,
    /// The address an email change goes to.
    pub new_email: Option<String>,
    /// The user's metadata.
    pub data: Value,
}

/// A project's own subject and body for one kind of message (`{{ .ConfirmationURL }}`,
/// `{{ .Token }}`, `{{ .TokenHash }}`, `{{ .SiteURL }}`, `{{ .Email }}`, `{{ .NewEmail }}`,
/// `{{ .RedirectTo }}` and `{{ .Data.<key> }}` are filled in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    pub subject: Option<String>,
    pub body: Option<String>,
}

/// Fill the `{{ .Name }}` placeholders of a template.
pub fn fill(template: &str, mail: &Mail) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = rest[start + 2..start + len].trim();
        out.push_str(&value_of(name, mail));
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn value_of(name: &str, mail: &Mail) -> String {
    match name {
        ".ConfirmationURL" => mail.link.clone().unwrap_or_default(),
        ".Token" => mail.otp.clone(),
        ".TokenHash" => mail.token_hash.clone(),
        ".SiteURL" => mail.site_url.clone(),
        ".RedirectTo" => mail.redirect_to.clone(),
        ".Email" => escape(&mail.to),
        ".NewEmail" => escape(mail.new_email.as_deref().unwrap_or("")),
        other => match other.strip_prefix(".Data.") {
            Some(key) => match mail.data.get(key) {
                Some(Value::String(s)) => escape(s),
                Some(Value::Null) | None => String::new(),
                Some(v) => escape(&v.to_string()),
            },
            None => String::new(),
        },
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Mail {
    /// Subject and HTML body: the project's template where it has one, else the default.
    pub fn render_with(&self, template: Option<&Template>) -> (String, String) {
        let (subject, body) = self.render();
        let subject = match template.and_then(|t| t.subject.as_deref()) {
            Some(s) => fill(s, self),
            None => subject,
        };
        let body = match template.and_then(|t| t.body.as_deref()) {
            Some(b) => fill(b, self),
            None => body,
        };
        (subject, body)
    }

    /// The default subject and HTML body.
    pub fn render(&self) -> (String, String) {
        let link = self.link.as_deref().map(escape).unwrap_or_default();
        let otp = escape(&self.otp);
        let body = match self.kind {
            Kind::Confirmation => format!(
                "<h2>Confirm your signup</h2>\n<p>Follow this link to confirm your user:</p>\n\
                 <p><a href=\"{link}\">Confirm your mail</a></p>\n<p>Alternatively, enter the code: {otp}</p>"
            ),
            Kind::Invite => format!(
                "<h2>You have been invited</h2>\n<p>You have been invited to create a user on {}. \
                 Follow this link to accept the invite:</p>\n<p><a href=\"{link}\">Accept the invite</a></p>\n\
                 <p>Alternatively, enter the code: {otp}</p>",
                escape(&self.site_url)
            ),
            Kind::Recovery => format!(
                "<h2>Reset Password</h2>\n<p>Follow this link to reset the password for your user:</p>\n\
                 <p><a href=\"{link}\">Reset Password</a></p>\n<p>Alternatively, enter the code: {otp}</p>"
            ),
            Kind::MagicLink => format!(
                "<h2>Magic Link</h2>\n<p>Follow this link to login:</p>\n\
                 <p><a href=\"{link}\">Log In</a></p>\n<p>Alternatively, enter the code: {otp}</p>"
            ),
            Kind::EmailChange => format!(
                "<h2>Confirm Change of Email</h2>\n<p>Follow this link to confirm the update of your email to {}:</p>\n\
                 <p><a href=\"{link}\">Change Email</a></p>\n<p>Alternatively, enter the code: {otp}</p>",
                escape(&self.to)
            ),
            Kind::Reauthentication => format!(
                "<h2>Confirm reauthentication</h2>\n<p>Enter the code: {otp}</p>"
            ),
            Kind::Sms => format!("Your code is {otp}"),
        };
        (self.kind.subject().to_string(), body)
    }
}

/// Where mail goes.
pub enum Delivery {
    /// Into `auth.mail`, in the request's transaction.
    Mailbox,
    /// To an SMTP server.
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
}

/// Renders and delivers messages.
pub struct Mailer {
    pub delivery: Delivery,
    pub templates: HashMap<Kind, Template>,
}

impl Mailer {
    /// The mailer for a configuration: SMTP when a host is set, else the mailbox.
    pub fn new(
        smtp: Option<&SmtpConfig>,
        templates: HashMap<Kind, Template>,
    ) -> Result<Mailer, crate::Error> {
        Ok(Mailer {
            delivery: Mailer::delivery(smtp)?,
            templates,
        })
    }

    fn delivery(smtp: Option<&SmtpConfig>) -> Result<Delivery, crate::Error> {
        let Some(s) = smtp else {
            return Ok(Delivery::Mailbox);
        };
        let bad = |e: String| crate::Error::Config(format!("SMTP: {e}"));
        let builder = if s.port == 465 {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host).map_err(|e| bad(e.to_string()))?
        } else if s.port == 25 || s.port == 1025 || s.host == "localhost" || s.host == "127.0.0.1" {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                .map_err(|e| bad(e.to_string()))?
        };
        let mut builder = builder.port(s.port);
        if !s.user.is_empty() {
            builder = builder.credentials(Credentials::new(s.user.clone(), s.pass.clone()));
        }
        let from = if s.sender_name.is_empty() {
            s.admin_email.parse::<Mailbox>()
        } else {
            format!("{} <{}>", s.sender_name, s.admin_email).parse::<Mailbox>()
        }
        .map_err(|e| bad(format!("sender address: {e}")))?;
        Ok(Delivery::Smtp {
            transport: Box::new(builder.build()),
            from,
        })
    }

    /// Send (or file) one message.
    pub async fn send(&self, db: &impl GenericClient, mail: &Mail) -> Result<(), ApiError> {
        let (subject, html) = mail.render_with(self.templates.get(&mail.kind));
        let delivery = if mail.kind == Kind::Sms {
            &Delivery::Mailbox
        } else {
            &self.delivery
        };
        match delivery {
            Delivery::Mailbox => {
                db.execute(
                    "INSERT INTO auth.mail (recipient, subject, html, kind, action_link, otp) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &mail.to,
                        &subject,
                        &html,
                        &mail.kind.name(),
                        &mail.link,
                        &mail.otp,
                    ],
                )
                .await?;
                Ok(())
            }
            Delivery::Smtp { transport, from } => {
                let to: Mailbox = mail
                    .to
                    .parse()
                    .map_err(|_| ApiError::Validation("Invalid email address".into()))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    .header(ContentType::TEXT_HTML)
                    .body(html)
                    .map_err(|e| ApiError::internal("building email", e))?;
                transport
                    .send(message)
                    .await
                    .map_err(|e| ApiError::internal("Error sending email", e))?;
                Ok(())
            }
        }
    }
}

/// Messages in the development mailbox, newest first, optionally only those to `to`.
pub async fn list(
    db: &impl GenericClient,
    to: Option<&str>,
    limit: i64,
) -> Result<Vec<Value>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT id, created_at, recipient, subject, html, kind, action_link, otp \
             FROM auth.mail WHERE $1::text IS NULL OR lower(recipient) = lower($1) \
             ORDER BY id DESC LIMIT $2",
            &[&to, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            json!({
                "id": r.get::<_, i64>(0),
                "created_at": crate::users::ts(&r.get(1)),
                "to": r.get::<_, String>(2),
                "subject": r.get::<_, String>(3),
                "html": r.get::<_, String>(4),
                "type": r.get::<_, String>(5),
                "action_link": r.get::<_, Option<String>>(6),
                "otp": r.get::<_, Option<String>>(7),
            })
        })
        .collect())
}

/// The development mailbox as text, for `basalt mail`: one block per message, newest first.
pub async fn print_mailbox(db_url: &str, to: Option<&str>, limit: i64) -> Result<String, String> {
    let client = basalt_pg::pool::connect(db_url)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    let messages = list(&client, to, limit)
        .await
        .map_err(|e| format!("cannot read the mailbox: {e}"))?;
    if messages.is_empty() {
        return Ok("The mailbox is empty.\n".into());
    }
    let mut out = String::new();
    for m in messages {
        let field = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        out.push_str(&format!(
            "#{} {}  to {}\n  subject: {}\n",
            m["id"],
            field("created_at"),
            field("to"),
            field("subject")
        ));
        if !field("action_link").is_empty() {
            out.push_str(&format!("  link:    {}\n", field("action_link")));
        }
        if !field("otp").is_empty() {
            out.push_str(&format!("  code:    {}\n", field("otp")));
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            to: "a@b.c".into(),
            kind: Kind::Confirmation,
            link: Some("http://x/verify?token=t&type=signup".into()),
            otp: "123456".into(),
            token_hash: "t".into(),
            site_url: "http://app".into(),
            redirect_to: "http://app/welcome".into(),
            new_email: None,
            data: json!({"name": "<Ann>", "n": 3}),
        }
    }

    #[test]
    fn project_templates_fill_placeholders() {
        let t = Template {
            subject: Some("Welcome to {{ .SiteURL }}".into()),
            body: Some(
                "<a href=\"{{ .SiteURL }}/confirm?token_hash={{.TokenHash}}&type=email\">{{ .Data.name }}</a> \
                 {{ .Token }} {{ .Email }} {{ .Data.n }} {{ .Unknown }} {{ unclosed"
                    .into(),
            ),
        };
        let (subject, body) = mail().render_with(Some(&t));
        assert_eq!(subject, "Welcome to http://app");
        assert_eq!(
            body,
            "<a href=\"http://app/confirm?token_hash=t&type=email\">&lt;Ann&gt;</a> 123456 a@b.c 3  {{ unclosed"
        );
        // A template with only a subject keeps the default body.
        let only_subject = Template {
            subject: Some("Hi".into()),
            body: None,
        };
        let (s, b) = mail().render_with(Some(&only_subject));
        assert_eq!(s, "Hi");
        assert!(b.contains("Confirm your signup"));
    }

    #[test]
    fn messages_carry_link_and_code_escaped() {
        let m = mail();
        let (subject, html) = m.render();
        assert_eq!(subject, "Confirm Your Email");
        assert!(html.contains("http://x/verify?token=t&amp;type=signup"));
        assert!(html.contains("123456"));
    }

    #[test]
    fn smtp_configuration_builds_a_transport() {
        let cfg = SmtpConfig {
            host: "localhost".into(),
            port: 1025,
            user: String::new(),
            pass: String::new(),
            admin_email: "admin@example.com".into(),
            sender_name: "Example".into(),
        };
        assert!(matches!(
            Mailer::new(Some(&cfg), HashMap::new()).map(|m| m.delivery),
            Ok(Delivery::Smtp { .. })
        ));
        let bad = SmtpConfig {
            admin_email: "not an address".into(),
            ..cfg
        };
        assert!(Mailer::new(Some(&bad), HashMap::new()).is_err());
        assert!(matches!(
            Mailer::new(None, HashMap::new()).map(|m| m.delivery),
            Ok(Delivery::Mailbox)
        ));
    }
}
