-- basalt platform schema: the REST service's schema cache follows DDL. After every DDL command
-- (and every drop) the database notifies channel `pgrst` with 'reload schema', which the REST
-- service listens on. Idempotent: every statement may run again.

-- The function lives in `extensions`, which Supabase tooling treats as the platform's (a dump of the
-- project leaves it out).

CREATE SCHEMA IF NOT EXISTS extensions;

CREATE OR REPLACE FUNCTION extensions.basalt_rest_notify() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  NOTIFY pgrst, 'reload schema';
END
$$;

DROP EVENT TRIGGER IF EXISTS basalt_rest_ddl_end;
CREATE EVENT TRIGGER basalt_rest_ddl_end ON ddl_command_end
  EXECUTE FUNCTION extensions.basalt_rest_notify();

DROP EVENT TRIGGER IF EXISTS basalt_rest_sql_drop;
CREATE EVENT TRIGGER basalt_rest_sql_drop ON sql_drop
  EXECUTE FUNCTION extensions.basalt_rest_notify();
REVOKE ALL ON FUNCTION extensions.basalt_rest_notify() FROM PUBLIC;
