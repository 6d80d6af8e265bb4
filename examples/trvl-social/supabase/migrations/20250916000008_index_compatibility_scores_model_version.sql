-- Built without blocking writes to an existing table (a migration of its own runs outside a transaction).
create index concurrently if not exists idx_compatibility_scores_model_version_id on public.compatibility_scores (model_version_id);
