-- basalt platform schema: second-granularity schedules for pg_cron.
-- Idempotent: every statement may run again on a database that already has it.
--
-- The pg_cron extension keeps its own tables (cron.job, cron.job_run_details) and runs every
-- job whose schedule it can parse. pg_cron 1.4 cannot parse '10 seconds' (1.5 can), so when the
-- extension is created (an event trigger) basalt renames pg_cron's cron.schedule,
-- cron.schedule_in_database and cron.alter_job to cron._pgcron_* and puts wrappers with the same
-- signatures in their place: a seconds schedule is written to cron.job directly (pg_cron logs
-- it as invalid and skips it), anything else goes to pg_cron unchanged. basalt's scheduler
-- (crates/net, module cron) runs the seconds jobs and records them in cron.job_run_details;
-- net._cron_tick makes sure one node runs a given run.

CREATE TABLE IF NOT EXISTS net._cron_tick (
  jobid bigint NOT NULL,
  due timestamptz NOT NULL,
  node text NOT NULL,
  PRIMARY KEY (jobid, due)
);

-- The interval of a seconds schedule ('10 seconds' → 10), NULL for anything else.
CREATE OR REPLACE FUNCTION net._cron_seconds(schedule text) RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
  SELECT (regexp_match(schedule, '^\s*([1-9]|[1-5][0-9])\s+seconds?\s*$'))[1]::integer
$$;

-- Puts the wrappers in place once pg_cron exists; a no-op without it. When they are already in
-- place it writes their bodies again (and the wake trigger), so that they name the helpers of
-- this version of the platform schema.
CREATE OR REPLACE FUNCTION net._cron_install() RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $install$
DECLARE
  fresh boolean;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
    RETURN;
  END IF;
  fresh := to_regprocedure('cron._pgcron_schedule(text,text,text)') IS NULL;
  IF fresh THEN
    ALTER FUNCTION cron.schedule(text, text, text) RENAME TO _pgcron_schedule;
    ALTER FUNCTION cron.schedule(text, text) RENAME TO _pgcron_schedule;
    ALTER FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean)
      RENAME TO _pgcron_schedule_in_database;
    ALTER FUNCTION cron.alter_job(bigint, text, text, text, text, boolean) RENAME TO _pgcron_alter_job;
  END IF;

  CREATE OR REPLACE FUNCTION cron.schedule_in_database(job_name text, schedule text, command text,
    database text, username text DEFAULT NULL, active boolean DEFAULT true)
  RETURNS bigint LANGUAGE plpgsql AS $$
  DECLARE
    id bigint;
  BEGIN
    IF net._cron_seconds(schedule) IS NULL THEN
      RETURN cron._pgcron_schedule_in_database(job_name, schedule, command, database, username, active);
    END IF;
    INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username, active, jobname)
    VALUES (schedule, command, 'localhost', current_setting('port')::integer, database,
            coalesce(username, current_user), coalesce(active, true), job_name)
    ON CONFLICT ON CONSTRAINT jobname_username_uniq
      DO UPDATE SET schedule = EXCLUDED.schedule, command = EXCLUDED.command,
                    database = EXCLUDED.database, active = EXCLUDED.active
    RETURNING jobid INTO id;
    RETURN id;
  END
  $$;

  CREATE OR REPLACE FUNCTION cron.schedule(job_name text, schedule text, command text)
  RETURNS bigint LANGUAGE plpgsql AS $$
  BEGIN
    IF net._cron_seconds(schedule) IS NULL THEN
      RETURN cron._pgcron_schedule(job_name, schedule, command);
    END IF;
    RETURN cron.schedule_in_database(job_name, schedule, command, current_database());
  END
  $$;

  CREATE OR REPLACE FUNCTION cron.schedule(schedule text, command text)
  RETURNS bigint LANGUAGE plpgsql AS $$
  BEGIN
    IF net._cron_seconds(schedule) IS NULL THEN
      RETURN cron._pgcron_schedule(schedule, command);
    END IF;
    RETURN cron.schedule_in_database(NULL, schedule, command, current_database());
  END
  $$;

  CREATE OR REPLACE FUNCTION cron.alter_job(job_id bigint, schedule text DEFAULT NULL, command text DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, active boolean DEFAULT NULL)
  RETURNS void LANGUAGE plpgsql AS $$
  BEGIN
    IF net._cron_seconds(schedule) IS NULL
       AND net._cron_seconds((SELECT j.schedule FROM cron.job j WHERE j.jobid = job_id)) IS NULL THEN
      PERFORM cron._pgcron_alter_job(job_id, schedule, command, database, username, active);
      RETURN;
    END IF;
    UPDATE cron.job j SET schedule = coalesce(alter_job.schedule, j.schedule),
                          command = coalesce(alter_job.command, j.command),
                          database = coalesce(alter_job.database, j.database),
                          username = coalesce(alter_job.username, j.username),
                          active = coalesce(alter_job.active, j.active)
     WHERE j.jobid = job_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'could not find valid entry for job %', job_id;
    END IF;
  END
  $$;

  IF fresh THEN
    ALTER EXTENSION pg_cron ADD FUNCTION cron.schedule(text, text, text);
    ALTER EXTENSION pg_cron ADD FUNCTION cron.schedule(text, text);
    ALTER EXTENSION pg_cron ADD FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean);
    ALTER EXTENSION pg_cron ADD FUNCTION cron.alter_job(bigint, text, text, text, text, boolean);
  END IF;

  DROP TRIGGER IF EXISTS basalt_cron_wake ON cron.job;
  CREATE TRIGGER basalt_cron_wake AFTER INSERT OR UPDATE OR DELETE ON cron.job
    FOR EACH STATEMENT EXECUTE FUNCTION net._notify_channel('basalt_cron');
END
$install$;

CREATE OR REPLACE FUNCTION net._cron_on_create_extension() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() AS ev
             JOIN pg_extension AS ext ON ev.objid = ext.oid
             WHERE ext.extname = 'pg_cron') THEN
    PERFORM net._cron_install();
  END IF;
END
$$;

DROP EVENT TRIGGER IF EXISTS basalt_cron_install;
CREATE EVENT TRIGGER basalt_cron_install ON ddl_command_end
  WHEN TAG IN ('CREATE EXTENSION')
  EXECUTE FUNCTION net._cron_on_create_extension();

REVOKE ALL ON net._cron_tick FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION net._cron_install() FROM PUBLIC;
REVOKE ALL ON FUNCTION net._cron_on_create_extension() FROM PUBLIC;

-- A database that had pg_cron before this part existed (or wrappers of an older version).
SELECT net._cron_install();
