//! `basalt init`: a new Supabase CLI project layout (`supabase/config.toml`, `migrations/`,
//! `functions/`), and `.basalt/` kept out of git.

use std::path::Path;

use anyhow::Context;

/// The `config.toml` of a new project: the keys basalt reads, with the Supabase CLI's local
/// defaults, commented.
fn config_toml(project_id: &str) -> String {
    format!(
        r#"# A Supabase CLI project; `basalt start` (or `supabase start`) serves it.
project_id = "{project_id}"

[api]
# Port of the API (REST, auth, storage, realtime, functions).
port = 54321
# Schemas exposed by the REST API.
schemas = ["public", "graphql_public"]
# Schemas added to every request's search_path.
extra_search_path = ["public", "extensions"]
# Most rows one request returns.
max_rows = 1000

[db]
# Port of the database.
port = 54322

[db.seed]
enabled = true
sql_paths = ["./seed.sql"]

[auth]
# Where the app lives: redirects and email links go there.
site_url = "http://127.0.0.1:3000"
additional_redirect_urls = ["https://127.0.0.1:3000"]
# Lifetime of access tokens, in seconds.
jwt_expiry = 3600
enable_signup = true
enable_anonymous_sign_ins = false
minimum_password_length = 6

[auth.email]
enable_signup = true
# Sign-ups are confirmed at once; emails land in `basalt mail`.
enable_confirmations = false

[storage]
file_size_limit = "50MiB"

[edge_runtime]
# Secrets of every function (also read from supabase/functions/.env).
# [edge_runtime.secrets]
# openai_key = "env(OPENAI_API_KEY)"

# basalt's own settings.
# [basalt]
# listen_address = "127.0.0.1"
"#
    )
}

/// Create the project layout in `dir`; refuses to overwrite an existing `config.toml` unless
/// `force`.
pub fn init(dir: &Path, force: bool) -> anyhow::Result<()> {
    let supabase = dir.join("supabase");
    let config = supabase.join("config.toml");
    if config.exists() && !force {
        anyhow::bail!(
            "{} already exists: this is a project already (pass --force to write a new config.toml)",
            config.display()
        );
    }
    for sub in ["migrations", "functions"] {
        std::fs::create_dir_all(supabase.join(sub))
            .with_context(|| format!("create {}", supabase.join(sub).display()))?;
    }
    let id = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "basalt".into());
    std::fs::write(&config, config_toml(&id))
        .with_context(|| format!("write {}", config.display()))?;
    let seed = supabase.join("seed.sql");
    if !seed.exists() {
        std::fs::write(
            &seed,
            "-- Rows inserted after the migrations on the first start and on `basalt db reset`.\n",
        )?;
    }
    std::fs::write(
        supabase.join(".gitignore"),
        ".branches\n.temp\n.env\nfunctions/.env\n",
    )?;
    // basalt's own state (the embedded cluster, keys) stays out of git.
    let ignore = dir.join(".gitignore");
    let current = std::fs::read_to_string(&ignore).unwrap_or_default();
    if !current
        .lines()
        .any(|l| l.trim() == ".basalt/" || l.trim() == ".basalt")
    {
        let sep = if current.is_empty() || current.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        std::fs::write(&ignore, format!("{current}{sep}.basalt/\n"))?;
    }
    println!("Finished basalt init.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_project_loads_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), false).unwrap();
        let p = crate::project::Project::load(dir.path()).unwrap();
        assert_eq!(p.config.api.port, 54321);
        assert!(!p.config.auth.email.enable_confirmations);
        assert!(dir.path().join("supabase/migrations").is_dir());
        let ignore = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
        assert_eq!(ignore, ".basalt/\n");
        assert!(
            init(dir.path(), false).is_err(),
            "an existing project is kept"
        );
        init(dir.path(), true).unwrap();
        let ignore = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
        assert_eq!(ignore, ".basalt/\n", ".basalt/ is listed once");
    }
}
