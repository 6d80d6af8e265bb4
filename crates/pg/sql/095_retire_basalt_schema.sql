-- basalt platform schema: the end of the schema `basalt` of older installs (see 000_relocate).
-- Its tables have moved; the parts before this one made the functions' successors and pointed
-- every trigger and event trigger at them, so the old functions and the schema go. Anything
-- else found there (not basalt's) keeps the schema, with a warning instead of a failed start.
-- Idempotent: a database without schema `basalt` is left as it is.
DO $$
DECLARE
  f regprocedure;
BEGIN
  IF to_regnamespace('basalt') IS NULL THEN
    RETURN;
  END IF;
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
           WHERE p.pronamespace = 'basalt'::regnamespace
             AND p.proname IN ('auth_refresh', 'notify_channel', 'cron_seconds', 'cron_install',
                               'cron_on_create_extension', 'vault_key',
                               'rest_notify_schema_change') LOOP
    BEGIN
      EXECUTE format('DROP FUNCTION %s', f);
    EXCEPTION WHEN dependent_objects_still_exist THEN
      RAISE WARNING 'function basalt.% is still in use; it is kept', f;
    END;
  END LOOP;
  -- Left behind by a bootstrap that found the version table already moved.
  DROP TABLE IF EXISTS basalt.platform_version;
  BEGIN
    DROP SCHEMA basalt;
  EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE WARNING 'schema basalt still holds objects that are not basalt''s; it is kept';
  END;
END
$$;
