//! basalt-migrate: Supabase-CLI compatible migrations. Files `supabase/migrations/<version>_<name>.sql`
//! are applied in lexicographic order, each in one transaction, and recorded in
//! `supabase_migrations.schema_migrations (version, statements, name)` exactly as the Supabase
//! CLI records them, so a database can move between the two tools. Statement splitting (`split`)
//! is a pure lexer over SQL text; applying (`apply`) reports the failing file, statement and
//! Postgres error and leaves the database at the previous migration.

pub mod apply;
pub mod files;
pub mod split;

pub use apply::{applied_versions, apply_pending, repair, run_seed, MigrateError, RepairStatus};
pub use files::{new_migration, scan, Migration};
