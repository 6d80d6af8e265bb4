//! With an SMTP server configured, mail goes out over SMTP (lettre) instead of into the
//! development mailbox. The server here is a minimal one on a local port that records what it
//! is sent.
#![allow(clippy::unwrap_used)] // test setup: a failure is the test failing

mod common;

use basalt_auth::config::SmtpConfig;
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One received message: envelope recipients and the raw DATA.
struct Received {
    rcpt: Vec<String>,
    data: String,
}

async fn smtp_server() -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 localhost ESMTP test\r\n").await;
                let mut rcpt = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 localhost\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt.push(line[8..].trim().to_string());
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = w.write_all(b"354 go ahead\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        let _ = tx.send(Received {
                            rcpt: std::mem::take(&mut rcpt),
                            data,
                        });
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn confirmation_mail_goes_over_smtp() {
    let (port, mut inbox) = smtp_server().await;
    let a = start(|c| {
        c.mailer.autoconfirm = false;
        c.mailer.smtp = Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            user: String::new(),
            pass: String::new(),
            admin_email: "noreply@example.com".into(),
            sender_name: "Basalt Test".into(),
        });
    })
    .await;
    let r = a.signup("smtp@example.com", "long-enough").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), inbox.recv())
        .await
        .expect("a message within 10 s")
        .expect("a message");
    assert_eq!(got.rcpt, vec!["<smtp@example.com>".to_string()]);
    assert!(
        got.data.contains("Subject: Confirm Your Email"),
        "{}",
        got.data
    );
    assert!(
        got.data
            .contains("From: \"Basalt Test\" <noreply@example.com>"),
        "{}",
        got.data
    );
    // Nothing went to the development mailbox.
    assert!(a.mail("smtp@example.com").await.is_empty());

    // A server that refuses connections: the sign-up fails cleanly and keeps nothing.
    let dead = start(|c| {
        c.mailer.autoconfirm = false;
        c.mailer.smtp = Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: 1,
            user: String::new(),
            pass: String::new(),
            admin_email: "noreply@example.com".into(),
            sender_name: String::new(),
        });
    })
    .await;
    let r = dead.signup("nomail@example.com", "long-enough").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["code"], "unexpected_failure");
    let users = dead.get_as("/admin/users", &dead.service.clone()).await;
    assert_eq!(users.headers.get("x-total-count").unwrap(), "0");
}
