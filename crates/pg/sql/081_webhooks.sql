-- basalt platform schema: Database Webhooks as Supabase creates them. A trigger
--   create trigger t_hook after insert on t for each row execute function
--     supabase_functions.http_request('http://…', 'POST', '{"Content-Type":"application/json"}', '{}', '5000');
-- queues one request through net.http_post/net.http_get with Supabase's payload
-- {type, table, schema, record, old_record} and logs it in supabase_functions.hooks.
-- Idempotent: every statement may run again on a database that already has it.

CREATE SCHEMA IF NOT EXISTS supabase_functions AUTHORIZATION supabase_admin;
GRANT USAGE ON SCHEMA supabase_functions TO postgres, anon, authenticated, service_role;

CREATE TABLE IF NOT EXISTS supabase_functions.migrations (
  version text PRIMARY KEY,
  inserted_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO supabase_functions.migrations (version) VALUES ('initial'), ('20210809183423_update_grants')
  ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS supabase_functions.hooks (
  id bigserial PRIMARY KEY,
  hook_table_id integer NOT NULL,
  hook_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  request_id bigint
);
CREATE INDEX IF NOT EXISTS supabase_functions_hooks_request_id_idx
  ON supabase_functions.hooks (request_id);
CREATE INDEX IF NOT EXISTS supabase_functions_hooks_h_table_id_h_name_idx
  ON supabase_functions.hooks (hook_table_id, hook_name);
COMMENT ON TABLE supabase_functions.hooks IS
  'Supabase Functions Hooks: Audit trail for triggered hooks.';

-- Trigger arguments: url, method (GET or POST), headers (JSON object), params (JSON object),
-- timeout in milliseconds.
CREATE OR REPLACE FUNCTION supabase_functions.http_request() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = supabase_functions AS $$
DECLARE
  request_id bigint;
  payload jsonb;
  url text := TG_ARGV[0]::text;
  method text := TG_ARGV[1]::text;
  headers jsonb := '{}'::jsonb;
  params jsonb := '{}'::jsonb;
  timeout_ms integer := 1000;
BEGIN
  IF url IS NULL OR url = 'null' THEN
    RAISE EXCEPTION 'url argument is missing';
  END IF;
  IF method IS NULL OR method = 'null' THEN
    RAISE EXCEPTION 'method argument is missing';
  END IF;
  IF TG_ARGV[2] IS NOT NULL AND TG_ARGV[2] <> 'null' THEN
    headers := TG_ARGV[2]::jsonb;
  END IF;
  IF TG_ARGV[3] IS NOT NULL AND TG_ARGV[3] <> 'null' THEN
    params := TG_ARGV[3]::jsonb;
  END IF;
  IF TG_ARGV[4] IS NOT NULL AND TG_ARGV[4] <> 'null' THEN
    timeout_ms := TG_ARGV[4]::integer;
  END IF;

  CASE upper(method)
    WHEN 'GET' THEN
      request_id := net.http_get(url, params, headers, timeout_ms);
    WHEN 'POST' THEN
      payload := jsonb_build_object(
        'old_record', CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END,
        'record', CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END,
        'type', TG_OP,
        'table', TG_TABLE_NAME,
        'schema', TG_TABLE_SCHEMA
      );
      request_id := net.http_post(url, payload, params, headers, timeout_ms);
    ELSE
      RAISE EXCEPTION 'method argument % is invalid', method;
  END CASE;

  INSERT INTO supabase_functions.hooks (hook_table_id, hook_name, request_id)
  VALUES (TG_RELID, TG_NAME, request_id);

  RETURN NEW;
END
$$;
ALTER FUNCTION supabase_functions.http_request() OWNER TO postgres;
REVOKE ALL ON FUNCTION supabase_functions.http_request() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION supabase_functions.http_request()
  TO postgres, anon, authenticated, service_role;
GRANT ALL ON supabase_functions.hooks, supabase_functions.migrations TO postgres, service_role;
GRANT ALL ON SEQUENCE supabase_functions.hooks_id_seq TO postgres, service_role;
