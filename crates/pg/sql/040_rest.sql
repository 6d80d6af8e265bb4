-- basalt platform schema: the REST service's schema cache follows DDL. After every DDL command
-- (and every drop) the database notifies channel `pgrst` with 'reload schema', which the REST
-- service listens on. Idempotent: every statement may run again.

CREATE SCHEMA IF NOT EXISTS basalt;

CREATE OR REPLACE FUNCTION basalt.rest_notify_schema_change() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  NOTIFY pgrst, 'reload schema';
END
$$;

DROP EVENT TRIGGER IF EXISTS basalt_rest_ddl_end;
CREATE EVENT TRIGGER basalt_rest_ddl_end ON ddl_command_end
  EXECUTE FUNCTION basalt.rest_notify_schema_change();

DROP EVENT TRIGGER IF EXISTS basalt_rest_sql_drop;
CREATE EVENT TRIGGER basalt_rest_sql_drop ON sql_drop
  EXECUTE FUNCTION basalt.rest_notify_schema_change();
