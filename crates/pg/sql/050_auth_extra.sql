-- basalt platform schema: what basalt's auth service keeps besides GoTrue's own tables.
-- The development mailbox (mail sent while no SMTP server is configured, like the local
-- Inbucket of the Supabase CLI) and rate-limit counters shared by every basalt node, in schema
-- `auth` beside GoTrue's tables (the platform's: a dump of the project leaves them out).

CREATE TABLE IF NOT EXISTS auth.mail (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  recipient text NOT NULL,
  subject text NOT NULL,
  html text NOT NULL,
  kind text NOT NULL,
  action_link text,
  otp text
);
CREATE INDEX IF NOT EXISTS mail_recipient_idx ON auth.mail (lower(recipient), id DESC);

CREATE TABLE IF NOT EXISTS auth.rate_limits (
  key text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL
);

REVOKE ALL ON auth.mail, auth.rate_limits FROM PUBLIC, anon, authenticated, service_role;
GRANT ALL ON auth.mail, auth.rate_limits TO supabase_auth_admin, dashboard_user;
GRANT ALL ON SEQUENCE auth.mail_id_seq TO supabase_auth_admin;
