-- Helpers every `basalt test db` file can use, in schema `tests` (names as in the common
-- Supabase test helpers). Installed inside each file's transaction, so they leave no trace.
CREATE SCHEMA IF NOT EXISTS tests;
GRANT USAGE ON SCHEMA tests TO anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION tests.create_supabase_user(identifier text, email text DEFAULT NULL,
                                                     phone text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS uuid LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  uid uuid := gen_random_uuid();
BEGIN
  INSERT INTO auth.users (instance_id, id, aud, role, email, phone, raw_user_meta_data,
                          raw_app_meta_data, created_at, updated_at, email_confirmed_at)
  VALUES ('00000000-0000-0000-0000-000000000000', uid, 'authenticated', 'authenticated',
          coalesce(email, identifier || '@test.invalid'), phone,
          jsonb_build_object('test_identifier', identifier) || coalesce(metadata, '{}'::jsonb),
          '{"provider": "email", "providers": ["email"]}'::jsonb, now(), now(), now());
  RETURN uid;
END
$$;

CREATE OR REPLACE FUNCTION tests.get_supabase_user(identifier text) RETURNS json
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  found json;
BEGIN
  SELECT json_build_object('id', u.id, 'email', u.email, 'phone', u.phone,
                           'raw_user_meta_data', u.raw_user_meta_data,
                           'raw_app_meta_data', u.raw_app_meta_data)
    INTO found
    FROM auth.users u
   WHERE u.raw_user_meta_data ->> 'test_identifier' = identifier
   LIMIT 1;
  IF found IS NULL THEN
    RAISE EXCEPTION 'no test user %', identifier;
  END IF;
  RETURN found;
END
$$;

CREATE OR REPLACE FUNCTION tests.get_supabase_uid(identifier text) RETURNS uuid
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
  SELECT (tests.get_supabase_user(identifier) ->> 'id')::uuid
$$;

CREATE OR REPLACE FUNCTION tests.authenticate_as(identifier text) RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  u json := tests.get_supabase_user(identifier);
BEGIN
  PERFORM set_config('role', 'authenticated', true);
  PERFORM set_config('request.jwt.claims', json_build_object(
    'sub', u ->> 'id', 'email', u ->> 'email', 'phone', u ->> 'phone',
    'user_metadata', u -> 'raw_user_meta_data', 'app_metadata', u -> 'raw_app_meta_data',
    'role', 'authenticated', 'aud', 'authenticated')::text, true);
  PERFORM set_config('request.jwt.claim.sub', u ->> 'id', true);
END
$$;

CREATE OR REPLACE FUNCTION tests.authenticate_as_service_role() RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  PERFORM set_config('role', 'service_role', true);
  PERFORM set_config('request.jwt.claims', '{"role": "service_role"}', true);
  PERFORM set_config('request.jwt.claim.sub', '', true);
END
$$;

CREATE OR REPLACE FUNCTION tests.clear_authentication() RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  PERFORM set_config('role', 'anon', true);
  PERFORM set_config('request.jwt.claims', '{"role": "anon"}', true);
  PERFORM set_config('request.jwt.claim.sub', '', true);
END
$$;

CREATE OR REPLACE FUNCTION tests.rls_enabled(testing_schema text) RETURNS text
LANGUAGE sql AS $$
  SELECT is(
    (SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = testing_schema AND NOT rowsecurity),
    0::bigint,
    format('All tables in the %s schema should have row level security enabled', testing_schema))
$$;

CREATE OR REPLACE FUNCTION tests.rls_enabled(testing_schema text, testing_table text) RETURNS text
LANGUAGE sql AS $$
  SELECT is(
    (SELECT rowsecurity FROM pg_catalog.pg_tables WHERE schemaname = testing_schema AND tablename = testing_table),
    true,
    format('Table %s.%s should have row level security enabled', testing_schema, testing_table))
$$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO anon, authenticated, service_role;
