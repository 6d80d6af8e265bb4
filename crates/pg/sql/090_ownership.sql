-- basalt platform schema, last part: who owns the platform's schemas, as on Supabase.
-- Idempotent: every statement may run again on a database that already has it.
--
-- The Supabase CLI's `db reset --db-url` (and its dump and advisors) tell the platform from the
-- project by owner: it drops every schema that is not owned by supabase_admin, not made by an
-- extension and not on its short list of managed schemas. On Supabase, auth, storage, realtime and
-- graphql_public belong to supabase_admin (their tables to the services' admin roles), so basalt's
-- platform schemas do too; the service roles keep every privilege on their schema. A role that is
-- neither superuser nor a member of supabase_admin (a database basalt does not own) cannot give
-- schemas away; it leaves the owners as they are.
DO $$
DECLARE
  s text;
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND NOT pg_has_role(current_user, 'supabase_admin', 'MEMBER') THEN
    RETURN;
  END IF;
  FOREACH s IN ARRAY ARRAY['auth', 'storage', 'realtime', 'graphql_public', 'net',
                           'supabase_functions'] LOOP
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s) THEN
      EXECUTE format('ALTER SCHEMA %I OWNER TO supabase_admin', s);
    END IF;
  END LOOP;
END
$$;

GRANT ALL ON SCHEMA auth TO supabase_auth_admin;
GRANT ALL ON SCHEMA storage TO supabase_storage_admin;
