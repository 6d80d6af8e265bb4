//! A local S3-compatible server for tests (feature `s3`): the S3 protocol (SigV4 checked against
//! one access key) over a directory, each subdirectory a bucket, served on a free port of the
//! test's own runtime. It stands in for AWS S3, MinIO or any other S3 store.

use hyper_util::rt::{TokioExecutor, TokioIo};

/// A running S3 server.
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The directory served; `<root>/<bucket>` holds a bucket's keys as files.
    pub root: std::path::PathBuf,
}

/// Serves `root` over the S3 protocol to callers signing with `access_key`/`secret_key`;
/// `buckets` are created as empty directories first. Stops when the runtime does.
pub async fn serve(
    root: &std::path::Path,
    access_key: &str,
    secret_key: &str,
    buckets: &[&str],
) -> S3Server {
    for b in buckets {
        std::fs::create_dir_all(root.join(b)).expect("create bucket directory");
    }
    let fs = s3s_fs::FileSystem::new(root).expect("s3 file system");
    let service = {
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
        b.build()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let conn = http
                .serve_connection(TokioIo::new(sock), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    S3Server {
        endpoint: format!("http://{addr}"),
        root: root.to_path_buf(),
    }
}
