-- basalt platform schema: HTTP from SQL with pg_net's interface, served by basalt (the `net`
-- worker in crates/net sends what is queued here).
-- Idempotent: every statement may run again on a database that already has it.
--
-- A call to net.http_get/http_post/http_delete inserts one row into net.http_request_queue and
-- returns its id at once. A statement trigger NOTIFYs `basalt_net`; Postgres delivers the
-- notification only when the transaction commits, and a rolled-back transaction leaves no row,
-- so nothing is sent for it. The worker claims rows (leases in net._delivery), sends them,
-- and moves each final outcome into net._http_response in the same transaction that deletes
-- the queued row. Unlike pg_net, both tables are logged: a Postgres crash loses neither.

CREATE SCHEMA IF NOT EXISTS net;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = 'net' AND t.typname = 'http_method') THEN
    CREATE DOMAIN net.http_method AS text
      CHECK (value ILIKE 'get' OR value ILIKE 'post' OR value ILIKE 'delete');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_functions_admin') THEN
    CREATE ROLE supabase_functions_admin NOLOGIN NOINHERIT;
  END IF;
END
$$;

CREATE TABLE IF NOT EXISTS net.http_request_queue (
  id bigserial PRIMARY KEY,
  method net.http_method NOT NULL,
  url text NOT NULL,
  headers jsonb NOT NULL,
  body bytea,
  timeout_milliseconds integer NOT NULL
);

CREATE TABLE IF NOT EXISTS net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS _http_response_created_idx ON net._http_response (created);
CREATE INDEX IF NOT EXISTS _http_response_id_idx ON net._http_response (id);

-- Delivery state of queued requests, owned by basalt: who holds a request (lease_owner) and
-- until when (lease_until), how many sends were started (attempts), and when a retry is due.
-- A row appears when a request is first claimed and goes with the queued row.
CREATE TABLE IF NOT EXISTS net._delivery (
  id bigint PRIMARY KEY,
  attempts integer NOT NULL DEFAULT 0,
  due_at timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  lease_owner text,
  last_error text
);

-- Statement trigger: NOTIFY the channel named by the trigger's argument (delivered at commit).
CREATE OR REPLACE FUNCTION net._notify_channel() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS basalt_net_wake ON net.http_request_queue;
CREATE TRIGGER basalt_net_wake AFTER INSERT ON net.http_request_queue
  FOR EACH STATEMENT EXECUTE FUNCTION net._notify_channel('basalt_net');
REVOKE ALL ON net._delivery FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION net._notify_channel() FROM PUBLIC;

-- `url` with `params` (a JSON object) URL-encoded and appended as the query string.
CREATE OR REPLACE FUNCTION net._encode_url_with_params(url text, params jsonb)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  query text;
BEGIN
  IF params IS NULL OR params = '{}'::jsonb THEN
    RETURN url;
  END IF;
  SELECT string_agg(net._urlencode(k) || '=' || net._urlencode(v), '&' ORDER BY k)
    INTO query FROM jsonb_each_text(params) AS p(k, v);
  RETURN url || CASE WHEN strpos(url, '?') > 0 THEN '&' ELSE '?' END || query;
END
$$;

-- Percent-encoding of everything but RFC 3986's unreserved characters.
CREATE OR REPLACE FUNCTION net._urlencode(s text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT coalesce(string_agg(
    CASE WHEN b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90 OR b BETWEEN 97 AND 122
              OR b IN (45, 46, 95, 126)
         THEN chr(b) ELSE '%' || upper(lpad(to_hex(b), 2, '0')) END, '' ORDER BY i), '')
  FROM (SELECT i, get_byte(convert_to(s, 'UTF8'), i) AS b
        FROM generate_series(0, octet_length(convert_to(s, 'UTF8')) - 1) AS i) bytes
$$;

CREATE OR REPLACE FUNCTION net.http_get(
  url text,
  params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint
LANGUAGE plpgsql STRICT VOLATILE PARALLEL SAFE AS $$
DECLARE
  request_id bigint;
BEGIN
  INSERT INTO net.http_request_queue (method, url, headers, timeout_milliseconds)
  VALUES ('GET', net._encode_url_with_params(url, params), headers, timeout_milliseconds)
  RETURNING id INTO request_id;
  RETURN request_id;
END
$$;

CREATE OR REPLACE FUNCTION net.http_post(
  url text,
  body jsonb DEFAULT '{}'::jsonb,
  params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
DECLARE
  request_id bigint;
  content_type text;
BEGIN
  IF url IS NULL THEN
    RAISE EXCEPTION 'url must not be null';
  END IF;
  SELECT v INTO content_type FROM jsonb_each_text(coalesce(headers, '{}'::jsonb)) AS h(k, v)
   WHERE lower(k) = 'content-type' LIMIT 1;
  IF content_type IS NULL THEN
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  ELSIF content_type <> 'application/json' THEN
    RAISE EXCEPTION 'Content-Type header must be "application/json"';
  END IF;
  INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  VALUES ('POST', net._encode_url_with_params(url, coalesce(params, '{}'::jsonb)), headers,
          convert_to(body::text, 'UTF8'), coalesce(timeout_milliseconds, 5000))
  RETURNING id INTO request_id;
  RETURN request_id;
END
$$;

CREATE OR REPLACE FUNCTION net.http_delete(
  url text,
  params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000,
  body jsonb DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
DECLARE
  request_id bigint;
BEGIN
  IF url IS NULL THEN
    RAISE EXCEPTION 'url must not be null';
  END IF;
  INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  VALUES ('DELETE', net._encode_url_with_params(url, coalesce(params, '{}'::jsonb)),
          coalesce(headers, '{}'::jsonb),
          CASE WHEN body IS NULL THEN NULL ELSE convert_to(body::text, 'UTF8') END,
          coalesce(timeout_milliseconds, 5000))
  RETURNING id INTO request_id;
  RETURN request_id;
END
$$;

-- Grants as the Supabase platform sets them for pg_net: the API roles may queue requests through
-- the functions (SECURITY DEFINER, fixed search_path) but not read or edit the tables.
ALTER FUNCTION net.http_get(text, jsonb, jsonb, integer) SECURITY DEFINER SET search_path = net;
ALTER FUNCTION net.http_post(text, jsonb, jsonb, jsonb, integer) SECURITY DEFINER SET search_path = net;
ALTER FUNCTION net.http_delete(text, jsonb, jsonb, integer, jsonb) SECURITY DEFINER SET search_path = net;
REVOKE ALL ON FUNCTION net.http_get(text, jsonb, jsonb, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION net.http_post(text, jsonb, jsonb, jsonb, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION net.http_delete(text, jsonb, jsonb, integer, jsonb) FROM PUBLIC;
GRANT USAGE ON SCHEMA net TO supabase_functions_admin, postgres, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION net.http_get(text, jsonb, jsonb, integer)
  TO supabase_functions_admin, postgres, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION net.http_post(text, jsonb, jsonb, jsonb, integer)
  TO supabase_functions_admin, postgres, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION net.http_delete(text, jsonb, jsonb, integer, jsonb)
  TO supabase_functions_admin, postgres, anon, authenticated, service_role;
REVOKE ALL ON ALL TABLES IN SCHEMA net FROM anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON net.http_request_queue, net._http_response
  TO supabase_functions_admin, service_role;
GRANT USAGE ON SEQUENCE net.http_request_queue_id_seq TO supabase_functions_admin, service_role;
