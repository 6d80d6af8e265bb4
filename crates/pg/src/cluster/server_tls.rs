//! TLS for the embedded server: a certificate basalt makes for the project the first time the
//! cluster starts (`server.crt` / `server.key` in the data directory, self-signed for `localhost`
//! and the loopback addresses), so that clients which insist on TLS for a database they do not
//! consider local (the Supabase CLI's `--db-url` commands, libpq's `sslmode=require`) connect to
//! the printed URL as it is. basalt's own connections go over the unix socket.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{io, ClusterError, RunAs};

/// The certificate and key file names, relative to the data directory.
pub const CERT_FILE: &str = "server.crt";
/// See [`CERT_FILE`].
pub const KEY_FILE: &str = "server.key";

/// Make the certificate and key when the data directory has none (an existing pair, the
/// project's own or an earlier one, is kept), readable by the server only. Returns the server
/// settings that turn TLS on.
pub fn ensure(
    data_dir: &Path,
    listen_address: &str,
    run_as: Option<RunAs>,
) -> Result<Vec<(String, String)>, ClusterError> {
    let cert = data_dir.join(CERT_FILE);
    let key = data_dir.join(KEY_FILE);
    if !cert.exists() || !key.exists() {
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        for a in listen_address.split(',').map(str::trim) {
            if !a.is_empty() && a != "*" && !names.iter().any(|n| n == a) {
                names.push(a.to_string());
            }
        }
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| io("make the server certificate")(std::io::Error::other(e)))?;
        std::fs::write(&cert, made.cert.pem()).map_err(io("write server.crt"))?;
        std::fs::write(&key, made.signing_key.serialize_pem()).map_err(io("write server.key"))?;
        for f in [&cert, &key] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600))
                .map_err(io("chmod server certificate"))?;
            if let Some(r) = run_as {
                let _ = nix::unistd::chown(
                    f.as_path(),
                    Some(nix::unistd::Uid::from_raw(r.uid)),
                    Some(nix::unistd::Gid::from_raw(r.gid)),
                );
            }
        }
    }
    Ok(vec![
        ("ssl".into(), "on".into()),
        ("ssl_cert_file".into(), CERT_FILE.into()),
        ("ssl_key_file".into(), KEY_FILE.into()),
    ])
}
