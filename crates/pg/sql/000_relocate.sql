-- basalt platform schema, part 0: databases installed by an older basalt kept basalt's own tables
-- in a schema `basalt`, which Supabase tooling took for the project's (`supabase db dump` wrote
-- it out, `supabase db advisors` reported on it). Each table now lives in the schema of the
-- service it belongs to; this part moves the tables of such a database there, with their rows,
-- before the other parts run (they create the tables only where missing). The old functions go
-- in 095_retire_basalt_schema, once the other parts have made their successors.
-- Idempotent: a database without schema `basalt`, or already moved, is left as it is.
DO $$
DECLARE
  m text[];
  c record;
BEGIN
  IF to_regnamespace('basalt') IS NULL THEN
    RETURN;
  END IF;
  -- old name in basalt, schema, new name
  FOREACH m SLICE 1 IN ARRAY ARRAY[
    ['mail', 'auth', 'mail'],
    ['auth_rate_limits', 'auth', 'rate_limits'],
    ['net_delivery', 'net', '_delivery'],
    ['cron_tick', 'net', '_cron_tick'],
    ['vault_key_file', 'vault', '_key_file']
  ] LOOP
    IF to_regclass(format('basalt.%I', m[1])) IS NULL
       OR to_regnamespace(m[2]) IS NULL
       OR to_regclass(format('%I.%I', m[2], m[3])) IS NOT NULL THEN
      CONTINUE;
    END IF;
    IF m[1] <> m[3] THEN
      EXECUTE format('ALTER TABLE basalt.%I RENAME TO %I', m[1], m[3]);
      -- Constraints (and their indexes) named after the table, as a fresh install names them.
      FOR c IN SELECT conname FROM pg_constraint
               WHERE conrelid = format('basalt.%I', m[3])::regclass
                 AND conname LIKE m[1] || '\_%' LOOP
        EXECUTE format('ALTER TABLE basalt.%I RENAME CONSTRAINT %I TO %I', m[3], c.conname,
                       m[3] || substr(c.conname, length(m[1]) + 1));
      END LOOP;
    END IF;
    EXECUTE format('ALTER TABLE basalt.%I SET SCHEMA %I', m[3], m[2]);
  END LOOP;
END
$$;
