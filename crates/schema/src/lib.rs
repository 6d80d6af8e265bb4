//! basalt-schema: the schema-first workflow of a Supabase project, checked before and after it
//! reaches a database. `lint` judges migration files statically, parsed with the Postgres
//! grammar, against rules with stable names and levels; `advisors` reads the same kind of
//! findings from a live database under splinter's lint names; `rls` proves with two generated
//! users that nobody reads or writes another user's rows; `typegen` writes the TypeScript types
//! `supabase gen types typescript` writes (and serde structs for Rust); `verify` checks that a
//! database holds what the project declares. Pure parts (rules, rendering) are tested without a
//! database; every command that talks to Postgres is tested against a real one.

pub mod advisors;
pub mod ast;
pub mod db;
pub mod diff;
pub mod error;
pub mod finding;
pub mod lint;
pub mod pgtap;
pub mod policy_expr;
pub mod rls;
pub mod source;
pub mod typegen;
pub mod verify;

pub use error::Error;
pub use finding::{FailOn, Level};
