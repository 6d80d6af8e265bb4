-- basalt platform schema: what basalt's auth service keeps besides GoTrue's own tables.
-- The development mailbox (mail sent while no SMTP server is configured, like the local
-- Inbucket of the Supabase CLI) and rate-limit counters shared by every basalt node.

CREATE TABLE IF NOT EXISTS basalt.mail (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  recipient text NOT NULL,
  subject text NOT NULL,
  html text NOT NULL,
  kind text NOT NULL,
  action_link text,
  otp text
);
CREATE INDEX IF NOT EXISTS mail_recipient_idx ON basalt.mail (lower(recipient), id DESC);

CREATE TABLE IF NOT EXISTS basalt.auth_rate_limits (
  key text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL
);

REVOKE ALL ON basalt.mail, basalt.auth_rate_limits FROM PUBLIC;
