-- pg_stat_statements in `extensions`, as Supabase ships it (`supabase inspect db` reads it).
-- A server without the contrib module simply goes without.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements') THEN
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA extensions;
  END IF;
END
$$;
