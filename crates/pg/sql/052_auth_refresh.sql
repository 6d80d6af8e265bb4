-- basalt platform schema: the refresh-token grant of basalt's auth service in one call, so that
-- a refresh is a single prepared statement (one round trip) instead of a dozen. GoTrue's rules
-- (internal/tokens/service.go, models/refresh_token.go), with basalt's reading of reuse:
--   * the token and its session are locked; a missing token, session or user is `not_found`;
--   * a session past not_after or its inactivity timeout is `session_expired`; a banned user
--     is `banned`;
--   * a revoked token: if its session has no live token left, the session was revoked (reuse
--     detected earlier) and nothing of it refreshes again (`already_used`); used again later than
--     the reuse interval after it was revoked, every token of the session is revoked (with
--     rotation on) and the answer is `already_used`; within the interval, the parent of the
--     session's live token gets that live token back, any other revoked token a new child;
--   * otherwise the token is revoked and replaced by p_new_token, the user's last_sign_in_at
--     is set (GoTrue's token swap does), the session is marked refreshed with the client's
--     user agent and address, and `token_refreshed` is audited.
-- With p_limit > 0 the call counts one hit on p_limit_key in auth.rate_limits (the token
-- endpoint's per-address limit), last, so that the counter's row (shared by every request from
-- one address) stays locked only while the transaction commits; past the limit it raises
-- SQLSTATE BR429 and everything the call did is rolled back.
-- The row returned carries what the access token and the session JSON need: the refresh token
-- to hand out, the session's aal and amr, the user row, its identities and factors.

CREATE OR REPLACE FUNCTION auth.refresh_grant(
  p_token text,
  p_new_token text,
  p_rotation boolean,
  p_reuse_interval float8,
  p_inactivity float8,
  p_user_agent text,
  p_ip inet,
  p_limit_key text,
  p_limit integer,
  p_limit_window float8
) RETURNS TABLE (
  outcome text,
  refresh_token text,
  session_id uuid,
  aal text,
  amr jsonb,
  identities jsonb,
  factors jsonb,
  u auth.users
)
LANGUAGE plpgsql
SET search_path = ''
AS $fn$
#variable_conflict use_column
DECLARE
  t auth.refresh_tokens;
  s auth.sessions;
  usr auth.users;
  live auth.refresh_tokens;
  issued text;
  result text := 'ok';
  hits integer;
  v_amr jsonb;
  v_identities jsonb;
  v_factors jsonb;
BEGIN
  <<work>>
  BEGIN
    SELECT * INTO t FROM auth.refresh_tokens rt WHERE rt.token = p_token FOR UPDATE;
    IF NOT FOUND OR t.session_id IS NULL THEN
      result := 'not_found';
      EXIT work;
    END IF;
    SELECT * INTO s FROM auth.sessions ss WHERE ss.id = t.session_id FOR UPDATE;
    IF FOUND THEN
      SELECT * INTO usr FROM auth.users uu WHERE uu.id = t.user_id::uuid;
    END IF;
    IF s.id IS NULL OR usr.id IS NULL THEN
      result := 'not_found';
      EXIT work;
    END IF;
    IF coalesce(s.not_after < now(), false)
       OR coalesce(coalesce(s.refreshed_at AT TIME ZONE 'UTC', s.created_at)
                   + make_interval(secs => p_inactivity) < now(), false) THEN
      result := 'session_expired';
      EXIT work;
    END IF;
    IF coalesce(usr.banned_until > now(), false) THEN
      result := 'banned';
      EXIT work;
    END IF;

    IF coalesce(t.revoked, false) THEN
      SELECT * INTO live FROM auth.refresh_tokens rt
        WHERE rt.session_id = s.id AND rt.revoked = false ORDER BY rt.id DESC LIMIT 1;
      IF NOT FOUND
         OR now() >= coalesce(t.updated_at, '-infinity') + make_interval(secs => p_reuse_interval) THEN
        IF p_rotation THEN
          UPDATE auth.refresh_tokens rt SET revoked = true, updated_at = now()
            WHERE rt.session_id = s.id AND rt.revoked = false;
        END IF;
        result := 'already_used';
        EXIT work;
      END IF;
      IF live.parent = t.token THEN
        issued := live.token;
      END IF;
    END IF;

    IF issued IS NULL THEN
      IF NOT coalesce(t.revoked, false) THEN
        UPDATE auth.refresh_tokens rt SET revoked = true, updated_at = now() WHERE rt.id = t.id;
      END IF;
      INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at,
        updated_at, parent, session_id)
      VALUES ('00000000-0000-0000-0000-000000000000', p_new_token, t.user_id, false, now(),
        now(), t.token, s.id);
      issued := p_new_token;
      UPDATE auth.users uu SET last_sign_in_at = now() WHERE uu.id = usr.id RETURNING * INTO usr;
    END IF;

    UPDATE auth.sessions ss SET refreshed_at = now() AT TIME ZONE 'UTC', updated_at = now(),
      user_agent = p_user_agent, ip = p_ip
      WHERE ss.id = s.id;
    INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
    VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(),
      json_build_object('actor_id', usr.id::text,
        'actor_username', CASE WHEN coalesce(usr.email, '') = '' THEN coalesce(usr.phone, '')
                               ELSE usr.email END,
        'actor_via_sso', false, 'action', 'token_refreshed', 'log_type', 'token'),
      now(), coalesce(host(p_ip), ''));
    SELECT coalesce(jsonb_agg(jsonb_build_object('method', c.authentication_method,
        'timestamp', extract(epoch FROM c.updated_at)::bigint) ORDER BY c.updated_at DESC), '[]')
      INTO v_amr FROM auth.mfa_amr_claims c WHERE c.session_id = s.id;
    SELECT coalesce(jsonb_agg(to_jsonb(i) ORDER BY i.created_at), '[]')
      INTO v_identities FROM auth.identities i WHERE i.user_id = usr.id;
    SELECT coalesce(jsonb_agg(to_jsonb(f) ORDER BY f.created_at), '[]')
      INTO v_factors FROM auth.mfa_factors f WHERE f.user_id = usr.id;
  END work;

  IF p_limit > 0 THEN
    INSERT INTO auth.rate_limits AS r (key, window_start, hits)
    VALUES (p_limit_key, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
      hits = CASE WHEN r.window_start + make_interval(secs => p_limit_window) > now()
             THEN r.hits + 1 ELSE 1 END,
      window_start = CASE WHEN r.window_start + make_interval(secs => p_limit_window) > now()
             THEN r.window_start ELSE now() END
    RETURNING r.hits INTO hits;
    IF hits > p_limit THEN
      RAISE EXCEPTION 'rate limit exceeded' USING ERRCODE = 'BR429';
    END IF;
  END IF;

  IF result <> 'ok' THEN
    RETURN QUERY SELECT result, NULL::text, s.id, NULL::text, NULL::jsonb, NULL::jsonb,
      NULL::jsonb, NULL::auth.users;
    RETURN;
  END IF;
  RETURN QUERY SELECT 'ok', issued, s.id, coalesce(s.aal::text, 'aal1'), v_amr, v_identities,
    v_factors, usr;
END
$fn$;

REVOKE ALL ON FUNCTION auth.refresh_grant(text, text, boolean, float8, float8, text, inet,
  text, integer, float8) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.refresh_grant(text, text, boolean, float8, float8, text, inet,
  text, integer, float8) TO supabase_auth_admin;
