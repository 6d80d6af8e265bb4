//! What `basalt start` runs beside the HTTP services: the vault key file, a word about pg_cron,
//! and basalt-net's request worker and seconds scheduler.

use crate::project::Project;

/// Say when pg_cron cannot run jobs, and start the background tasks unless `[basalt.net]
/// enabled = false`. (The vault key is prepared earlier, by [`vault_key`].)
pub(crate) async fn start(
    project: &Project,
    db_url: &str,
) -> anyhow::Result<basalt_net::Background> {
    let client = basalt_pg::pool::connect(db_url).await?;
    if let Some(why) = basalt_pg::extensions::pg_cron_problem(&client).await? {
        eprintln!("Cron: {why}.");
    }
    let net = &project.config.basalt.net;
    if !net.enabled {
        return Ok(basalt_net::Background::empty());
    }
    Ok(basalt_net::Background::spawn(db_url, net)?)
}

/// With `--db-url`: the path, on the database server, of the vault's 32-byte key file.
const VAULT_KEY_FILE: &str = "BASALT_VAULT_KEY_FILE";

/// Prepare the vault key (the embedded cluster's, made next to its data directory; with
/// `--db-url` the file [`VAULT_KEY_FILE`] names, which the server must be able to read: an
/// external server cannot read our files) and record its path in the database. Runs once the
/// platform schema exists and before migrations and seeds, so that they may call
/// `vault.create_secret` (on first start and after `basalt db reset` alike).
pub(crate) async fn vault_key(
    project: &Project,
    client: &tokio_postgres::Client,
    cluster: Option<&basalt_pg::cluster::Cluster>,
) -> anyhow::Result<()> {
    if let Some(c) = cluster {
        // Next to the data directory (`.basalt/`, or the fallback basalt uses when Postgres's
        // system user cannot reach the project), never inside it.
        let dir = c.config.data_dir.parent().unwrap_or(&c.config.data_dir);
        let key = dir.join("vault.key");
        let owner = basalt_pg::cluster::RunAs::resolve(project.config.basalt.pg_user.as_deref())?
            .map(|r| (r.uid, r.gid));
        basalt_net::vault::ensure_key_file(&key, owner)?;
        basalt_net::vault::register(client, &key).await?;
    } else if let Some(path) = std::env::var_os(VAULT_KEY_FILE).filter(|p| !p.is_empty()) {
        // A file on the database server's filesystem (the server reads it, not basalt).
        let path = std::path::PathBuf::from(path);
        basalt_net::vault::register(client, &path).await?;
        eprintln!(
            "Vault: key file {} on the database server ({VAULT_KEY_FILE}).",
            path.display()
        );
    } else {
        eprintln!(
            "Vault: no key file with an external database (vault.create_secret will fail; set \
             {VAULT_KEY_FILE} to a 32-byte key file the database server can read)."
        );
    }
    Ok(())
}
