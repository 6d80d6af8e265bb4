-- Extensions. pgvector stores the 768-dimension embeddings of the knowledge base; without it the
-- product has no semantic search, so this migration refuses to go on rather than leave the
-- feature out. (Scheduled jobs are run by an external scheduler: see the README, "needs cron".)
create extension if not exists "uuid-ossp" with schema extensions;

do $$
begin
  if not exists (select 1 from pg_available_extensions where name = 'vector') then
    raise exception 'socialsync-ai needs the pgvector extension ("vector"), which this Postgres server does not have'
      using hint = 'Install pgvector for this server, or run basalt with BASALT_PG_BIN pointing at a Postgres that has it (examples/socialsync-ai/README.md: scripts/install-pg16-vector.sh).';
  end if;
end
$$;

create extension if not exists vector with schema extensions;

-- Shared trigger function: keeps updated_at current on every table that has one.
create or replace function public.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
revoke execute on function public.set_updated_at() from public, anon, authenticated;
