-- basalt platform schema: realtime messages, private channel authorisation, broadcast from the
-- database, and the helpers the realtime service checks row visibility with.
-- Idempotent: every statement may run again on a database that already has it.

-- Broadcast/presence messages. Policies on this table authorise private channels: the realtime
-- service checks SELECT (may receive) and INSERT (may send) as the subscriber's role with its
-- claims and `realtime.topic()` set to the channel name. Rows inserted here (by realtime.send or
-- realtime.broadcast_changes) are broadcast to the topic's subscribers.
CREATE TABLE IF NOT EXISTS realtime.messages (
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  topic text NOT NULL,
  extension text NOT NULL,
  payload jsonb,
  event text,
  private boolean DEFAULT false,
  updated_at timestamp without time zone NOT NULL DEFAULT now(),
  inserted_at timestamp without time zone NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_inserted_at_idx ON realtime.messages (inserted_at);
ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON realtime.messages TO anon, authenticated, service_role;

-- The channel being authorised (set by the realtime service while it checks policies).
CREATE OR REPLACE FUNCTION realtime.topic() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('realtime.topic', true), '')::text
$$;

-- Broadcasts carry a JSON `payload` or, from realtime.send_binary, a `binary_payload`.
-- (Altered only when missing: a Supabase-made realtime.messages, owned by another role, has it.)
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'realtime.messages'::regclass AND attname = 'binary_payload'
                   AND NOT attisdropped) THEN
    ALTER TABLE realtime.messages ADD COLUMN binary_payload bytea;
  END IF;
END
$$;

-- Broadcast `payload` as `event` to `topic` from SQL. Runs as the caller: RLS on
-- realtime.messages applies, with realtime.topic() set to `topic` (trigger functions that call it
-- are usually SECURITY DEFINER). The payload gets the message's id as `id` unless it has one. A
-- failure is a warning, never an error of the caller's transaction.
CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  generated_id uuid;
  final_payload jsonb;
BEGIN
  BEGIN
    generated_id := gen_random_uuid();
    IF payload ? 'id' THEN
      final_payload := payload;
    ELSE
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    END IF;
    EXECUTE format('SET LOCAL realtime.topic TO %L', topic);
    INSERT INTO realtime.messages (id, payload, event, topic, private, extension)
    VALUES (generated_id, final_payload, event, topic, private, 'broadcast');
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'WarnSendingBroadcastMessage: %', SQLERRM;
  END;
END
$$;

-- Broadcast bytes as `event` to `topic`: vsn 2.0.0 sockets receive them as a binary payload.
CREATE OR REPLACE FUNCTION realtime.send_binary(payload bytea, event text, topic text, private boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  generated_id uuid;
BEGIN
  BEGIN
    generated_id := gen_random_uuid();
    EXECUTE format('SET LOCAL realtime.topic TO %L', topic);
    INSERT INTO realtime.messages (id, binary_payload, event, topic, private, extension)
    VALUES (generated_id, payload, event, topic, private, 'broadcast');
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'WarnSendingBroadcastMessage: %', SQLERRM;
  END;
END
$$;

-- Broadcast a row change from a trigger: payload {schema, table, operation, record, old_record}.
CREATE OR REPLACE FUNCTION realtime.broadcast_changes(
  topic_name text, event_name text, operation text, table_name text, table_schema text,
  new record, old record, level text DEFAULT 'ROW')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  row_data jsonb := '{}'::jsonb;
BEGIN
  IF level = 'STATEMENT' THEN
    RAISE EXCEPTION 'function can only be triggered for each row, not for each statement';
  END IF;
  IF operation = 'INSERT' OR operation = 'UPDATE' OR operation = 'DELETE' THEN
    row_data := jsonb_build_object('old_record', old, 'record', new,
      'operation', operation, 'table', table_name, 'schema', table_schema);
    PERFORM realtime.send(row_data, event_name, topic_name);
  ELSE
    RAISE EXCEPTION 'Unexpected operation type: %', operation;
  END IF;
EXCEPTION WHEN OTHERS THEN
  RAISE EXCEPTION 'Failed to process the row: %', SQLERRM;
END
$$;

GRANT EXECUTE ON FUNCTION realtime.topic(), realtime.send(jsonb, text, text, boolean),
  realtime.send_binary(bytea, text, text, boolean),
  realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  TO anon, authenticated, service_role;

-- The realtime service reads realtime.messages through its own publication, next to
-- supabase_realtime, so that database broadcasts travel the same WAL stream as row changes. Its
-- name is Supabase Realtime's, which the Supabase CLI's `db reset` leaves in place (earlier
-- basalt versions called it basalt_realtime_messages).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'basalt_realtime_messages')
     AND NOT EXISTS (SELECT 1 FROM pg_publication
                     WHERE pubname = 'supabase_realtime_messages_publication') THEN
    ALTER PUBLICATION basalt_realtime_messages RENAME TO supabase_realtime_messages_publication;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_publication
                 WHERE pubname = 'supabase_realtime_messages_publication') THEN
    CREATE PUBLICATION supabase_realtime_messages_publication FOR TABLE realtime.messages;
  END IF;
END
$$;

-- Nodes of the realtime service sharing this database, with the time each was last seen. A node
-- whose row goes stale has its replication slot dropped by the others, so that nobody holds WAL
-- for a node that is gone.
CREATE TABLE IF NOT EXISTS realtime.basalt_nodes (
  id text PRIMARY KEY,
  seen_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON realtime.basalt_nodes FROM anon, authenticated, service_role;

-- Row visibility for many security contexts in one call. `p_rows` holds the key columns of
-- changed rows (JSON objects, text values); `p_contexts` holds {role, claims} objects. For each
-- context the keys are looked up in `p_table` as that role with those claims, so that the
-- table's policies (and grants) decide; returns the (context, row) index pairs that are visible
-- (0-based). A context whose check fails (no privilege, a policy error) sees nothing.
-- A commit reaches the WAL (and so the realtime service) a moment before other sessions can see
-- it: basalt_wait_visible waits until the transactions `p_xids` (32-bit ids) are visible, and
-- basalt_visible calls it first. (The service's fast path runs the same per-context lookups as
-- prepared statements; this function is its fallback when one context's check fails.)
DROP FUNCTION IF EXISTS realtime.basalt_visible(oid, text[], jsonb, jsonb);
CREATE OR REPLACE FUNCTION realtime.basalt_wait_visible(p_xids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  FOR attempt IN 1..5000 LOOP
    EXIT WHEN NOT EXISTS (
      SELECT 1 FROM unnest(p_xids) AS t, pg_current_snapshot() AS s
      WHERE ((t - (pg_snapshot_xmax(s)::text::bigint & 4294967295) + 4294967296) % 4294967296) < 2147483648
         OR t IN (SELECT x::text::bigint & 4294967295 FROM pg_snapshot_xip(s) AS x));
    PERFORM pg_sleep(0.001);
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION realtime.basalt_wait_visible(bigint[]) FROM PUBLIC;
CREATE OR REPLACE FUNCTION realtime.basalt_visible(p_table oid, p_key text[], p_rows jsonb, p_contexts jsonb, p_xids bigint[])
RETURNS TABLE (ctx int, idx int) LANGUAGE plpgsql AS $$
DECLARE
  qual text;
  cond text;
  q text;
  c record;
  vis int[];
BEGIN
  PERFORM realtime.basalt_wait_visible(p_xids);
  SELECT format('%I.%I', n.nspname, r.relname) INTO qual
    FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = p_table;
  IF qual IS NULL OR coalesce(array_length(p_key, 1), 0) = 0 THEN
    RETURN;
  END IF;
  SELECT string_agg(format('t.%1$I = k.%1$I', col), ' AND ') INTO cond FROM unnest(p_key) AS col;
  q := format('SELECT array_agg(k.ordinality::int - 1) FROM jsonb_populate_recordset(NULL::%s, $1) WITH ORDINALITY AS k WHERE EXISTS (SELECT 1 FROM %s AS t WHERE %s)',
              qual, qual, cond);
  FOR c IN SELECT (e.ordinality - 1)::int AS i, e.value ->> 'role' AS role, e.value ->> 'claims' AS claims
           FROM jsonb_array_elements(p_contexts) WITH ORDINALITY AS e LOOP
    vis := NULL;
    -- Only roles granted to authenticator (the API roles): never a superuser's.
    CONTINUE WHEN NOT EXISTS (
      SELECT 1 FROM pg_roles r JOIN pg_roles a ON a.rolname = 'authenticator'
       WHERE r.rolname = c.role AND pg_has_role(a.oid, r.oid, 'MEMBER'));
    BEGIN
      PERFORM set_config('role', c.role, true);
      PERFORM set_config('request.jwt.claims', c.claims, true);
      EXECUTE q INTO vis USING p_rows;
      PERFORM set_config('role', 'none', true);
    EXCEPTION WHEN OTHERS THEN
      vis := NULL;
    END;
    IF vis IS NOT NULL THEN
      RETURN QUERY SELECT c.i, v FROM unnest(vis) AS v;
    END IF;
  END LOOP;
  PERFORM set_config('role', 'none', true);
  PERFORM set_config('request.jwt.claims', '', true);
END
$$;
REVOKE ALL ON FUNCTION realtime.basalt_visible(oid, text[], jsonb, jsonb, bigint[]) FROM PUBLIC;
