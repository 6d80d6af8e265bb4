//! An S3-compatible server over HTTPS for the backup tests: s3s-fs (each directory under ROOT a
//! bucket, each object a file) behind rustls, with a self-signed certificate made by rcgen at
//! start. pgBackRest's S3 repository speaks HTTPS only, so this is what the end-to-end test
//! (tests/e2e/backups.test.mjs) points `[basalt.backup.s3]` at.
//!
//! Usage: `s3_tls_server ROOT ACCESS_KEY SECRET_KEY` — prints `listening 127.0.0.1:PORT` on
//! stdout once it accepts connections, and serves until killed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test server: a failure ends it

use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, access, secret] = args.as_slice() else {
        eprintln!("usage: s3_tls_server ROOT ACCESS_KEY SECRET_KEY");
        std::process::exit(2);
    };
    let fs = s3s_fs::FileSystem::new(root).expect("s3 root");
    let service = {
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(
            access.as_str(),
            secret.as_str(),
        ));
        b.build()
    };
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(made.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening {}", listener.local_addr().unwrap());
    let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, service, http) = (acceptor.clone(), service.clone(), http.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(sock).await else {
                return;
            };
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
