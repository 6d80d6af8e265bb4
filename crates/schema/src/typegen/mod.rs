//! `basalt gen types`: types for a database's schemas, as TypeScript (the `Database` type of
//! `supabase gen types typescript`) or as Rust serde structs.

pub mod catalog;
pub mod model;
pub mod rust;
pub mod typescript;
pub mod view_keys;

use tokio_postgres::Client;

use crate::error::Error;

/// The target language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    TypeScript,
    Rust,
}

/// Generate types for `schemas` of the database behind `client`.
pub async fn run(client: &Client, schemas: &[String], lang: Lang) -> Result<String, Error> {
    if schemas.is_empty() {
        return Err(Error::Usage("gen types: name at least one schema".into()));
    }
    let model = catalog::load(client, schemas).await?;
    Ok(match lang {
        Lang::TypeScript => typescript::render(&model),
        Lang::Rust => rust::render(&model),
    })
}
