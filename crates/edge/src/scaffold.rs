//! `basalt functions new NAME`: the files the Supabase CLI scaffolds for a new function.

use std::path::{Path, PathBuf};

use crate::layout::valid_name;

/// Why a function could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "invalid function name {0:?}: use letters, digits, - and _ (not starting with _ or -)"
    )]
    InvalidName(String),
    #[error("function {0} already exists at {1}")]
    Exists(String, PathBuf),
    #[error("cannot write {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

const INDEX_TS: &str = r#"// A basalt edge function: Deno.serve(handler) is the entry point, as on Supabase.
// Serve it with `basalt start` (or `basalt functions serve`) and call it:
//
//   curl -i http://127.0.0.1:54321/functions/v1/NAME \
//     -H "Authorization: Bearer <anon key>" -H "Content-Type: application/json" \
//     --data '{"name":"Functions"}'

Deno.serve(async (req) => {
  const { name } = await req.json()
  const data = {
    message: `Hello ${name}!`,
  }

  return new Response(JSON.stringify(data), { headers: { "Content-Type": "application/json" } })
})
"#;

const DENO_JSON: &str = "{\n  \"imports\": {}\n}\n";

/// Create `supabase/functions/NAME/index.ts` (a `Deno.serve` hello example) and `deno.json`;
/// returns the directory.
pub fn new_function(functions_dir: &Path, name: &str) -> Result<PathBuf, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::InvalidName(name.to_string()));
    }
    let dir = functions_dir.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(name.to_string(), dir));
    }
    std::fs::create_dir_all(&dir).map_err(|e| ScaffoldError::Io(dir.clone(), e))?;
    for (file, text) in [
        ("index.ts", INDEX_TS.replace("NAME", name)),
        ("deno.json", DENO_JSON.to_string()),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| ScaffoldError::Io(path.clone(), e))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn scaffolds_once_with_a_valid_name() {
        let dir = tempfile::tempdir().unwrap();
        let made = super::new_function(dir.path(), "hello-world").unwrap();
        let index = std::fs::read_to_string(made.join("index.ts")).unwrap();
        assert!(index.contains("Deno.serve("));
        assert!(index.contains("/functions/v1/hello-world"));
        assert!(super::new_function(dir.path(), "hello-world").is_err());
        assert!(super::new_function(dir.path(), "../x").is_err());
    }
}
