-- WhatsApp Cloud API SaaS: core structure. Five schemas, one per bounded context, each exposed
-- to the API (config.toml [api] schemas) and reached with supabase.schema('<name>').
--   marketing   lead capture and CRM
--   onboarding  the self-serve onboarding wizard, tracked per session token
--   analytics   the event stream and what is aggregated from it
--   experiments A/B tests and their variant assignments
--   whatsapp    connected WhatsApp Business accounts and their message templates
-- plus `private` (never exposed) for helpers that policies and triggers call.

create schema if not exists marketing;
create schema if not exists onboarding;
create schema if not exists analytics;
create schema if not exists experiments;
create schema if not exists whatsapp;
create schema if not exists private;

comment on schema marketing is 'Lead capture and management';
comment on schema onboarding is 'User onboarding flow';
comment on schema analytics is 'Event tracking and metrics';
comment on schema experiments is 'A/B testing and feature flags';
comment on schema whatsapp is 'WhatsApp Business API integration';
comment on schema private is 'Helpers for policies and triggers; not exposed through the API';

-- ---------------------------------------------------------------------------------------------
-- Types
-- ---------------------------------------------------------------------------------------------
create type marketing.lead_status as enum ('new', 'contacted', 'qualified', 'converted', 'unqualified', 'lost');
create type marketing.lead_source as enum (
  'website-form', 'landing-page', 'demo-request', 'pricing-page', 'referral', 'webinar', 'partner', 'import');
create type marketing.interaction_type as enum ('email', 'call', 'meeting', 'demo', 'whatsapp', 'note');

create type onboarding.step as enum (
  'welcome', 'business_info', 'whatsapp_connect', 'bot_setup', 'test_message', 'completed');
create type onboarding.session_status as enum ('in_progress', 'completed', 'abandoned');

create type analytics.event_type as enum ('page_view', 'user_action', 'conversion', 'system', 'error');

create type experiments.experiment_status as enum ('draft', 'running', 'paused', 'completed');

create type whatsapp.account_status as enum ('pending', 'active', 'suspended', 'disconnected');
create type whatsapp.template_category as enum ('marketing', 'utility', 'authentication');
create type whatsapp.template_status as enum ('draft', 'pending', 'approved', 'rejected', 'paused');

-- ---------------------------------------------------------------------------------------------
-- marketing
-- ---------------------------------------------------------------------------------------------
create table marketing.leads (
  id uuid primary key default gen_random_uuid(),
  email text not null check (char_length(email) <= 320 and email ~* '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  full_name text check (char_length(full_name) <= 200),
  company_name text check (char_length(company_name) <= 200),
  phone text check (phone ~ '^\+?[0-9 ()-]{6,20}$'),
  country text check (country ~ '^[A-Z]{2}$'),
  company_size text check (company_size in ('1-10', '11-50', '51-200', '201-1000', '1000+')),
  expected_monthly_messages integer check (expected_monthly_messages >= 0),
  source marketing.lead_source not null default 'website-form',
  status marketing.lead_status not null default 'new',
  score smallint not null default 0 check (score between 0 and 100),
  utm jsonb not null default '{}'::jsonb check (jsonb_typeof(utm) = 'object'),
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  consent_marketing boolean not null default false,
  consent_at timestamptz,
  ip_address inet,
  user_agent text,
  submission_count integer not null default 1 check (submission_count >= 1),
  last_submitted_at timestamptz not null default now(),
  converted_user_id uuid references auth.users (id) on delete set null,
  converted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table marketing.leads is 'Leads from the public capture forms; one row per email address (resubmissions are merged).';
-- One lead per address, whatever its case: deduplication (004) relies on it.
create unique index leads_email_lower_key on marketing.leads (lower(email));

create table marketing.lead_interactions (
  id uuid primary key default gen_random_uuid(),
  lead_id uuid not null references marketing.leads (id) on delete cascade,
  type marketing.interaction_type not null,
  summary text not null check (char_length(summary) between 1 and 4000),
  outcome text,
  performed_by uuid default auth.uid() references auth.users (id) on delete set null,
  occurred_at timestamptz not null default now(),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
comment on table marketing.lead_interactions is 'CRM interactions with a lead (calls, demos, emails).';

-- ---------------------------------------------------------------------------------------------
-- onboarding
-- ---------------------------------------------------------------------------------------------
create table onboarding.sessions (
  id uuid primary key default gen_random_uuid(),
  -- The bearer secret of an anonymous visitor's wizard: sent as the `x-session-token` header.
  session_token text not null unique default ('sess_' || encode(extensions.gen_random_bytes(24), 'hex')),
  user_id uuid references auth.users (id) on delete set null,
  lead_id uuid references marketing.leads (id) on delete set null,
  email text check (char_length(email) <= 320),
  company_name text check (char_length(company_name) <= 200),
  current_step onboarding.step not null default 'welcome',
  status onboarding.session_status not null default 'in_progress',
  progress_percentage smallint not null default 0 check (progress_percentage between 0 and 100),
  business_info jsonb not null default '{}'::jsonb check (jsonb_typeof(business_info) = 'object'),
  bot_config jsonb not null default '{}'::jsonb check (jsonb_typeof(bot_config) = 'object'),
  business_info_completed_at timestamptz,
  whatsapp_connected_at timestamptz,
  bot_setup_completed_at timestamptz,
  test_message_sent_at timestamptz,
  completed_at timestamptz,
  abandoned_at timestamptz,
  utm jsonb not null default '{}'::jsonb,
  metadata jsonb not null default '{}'::jsonb,
  started_at timestamptz not null default now(),
  last_activity_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table onboarding.sessions is 'Onboarding wizard progress; readable and writable by whoever holds session_token.';

create table onboarding.step_activities (
  id bigint generated always as identity primary key,
  session_id uuid not null references onboarding.sessions (id) on delete cascade,
  step onboarding.step not null,
  action text not null check (action in ('viewed', 'started', 'field_completed', 'completed', 'skipped', 'error')),
  field_name text check (char_length(field_name) <= 100),
  duration_ms integer check (duration_ms >= 0),
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  occurred_at timestamptz not null default now()
);
comment on table onboarding.step_activities is 'Fine-grained interaction analytics of the onboarding wizard.';

-- ---------------------------------------------------------------------------------------------
-- analytics
-- ---------------------------------------------------------------------------------------------
create table analytics.events (
  id bigint generated always as identity primary key,
  type analytics.event_type not null,
  name text not null check (char_length(name) between 1 and 100),
  session_id text check (char_length(session_id) <= 200),
  user_id uuid references auth.users (id) on delete set null,
  page text,
  referrer text,
  properties jsonb not null default '{}'::jsonb check (jsonb_typeof(properties) = 'object'),
  context jsonb not null default '{}'::jsonb,
  occurred_at timestamptz not null default now(),
  event_date date,
  event_hour smallint check (event_hour between 0 and 23),
  processed_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table analytics.events is 'High-volume event stream; enriched on insert, aggregated by process_pending_events().';

create table analytics.metrics (
  id uuid primary key default gen_random_uuid(),
  metric text not null check (char_length(metric) between 1 and 100),
  period text not null check (period in ('hour', 'day', 'week', 'month')),
  period_start timestamptz not null,
  value numeric not null,
  dimensions jsonb not null default '{}'::jsonb,
  computed_at timestamptz not null default now(),
  unique (metric, period, period_start, dimensions)
);
comment on table analytics.metrics is 'Aggregated KPIs for the dashboards.';

create table analytics.event_aggregations (
  id bigint generated always as identity primary key,
  bucket_start timestamptz not null,
  type analytics.event_type not null,
  name text not null,
  event_count integer not null default 0,
  unique_sessions integer not null default 0,
  unique_users integer not null default 0,
  updated_at timestamptz not null default now(),
  unique (bucket_start, type, name)
);
comment on table analytics.event_aggregations is 'Hourly pre-calculated event summaries.';

-- ---------------------------------------------------------------------------------------------
-- experiments
-- ---------------------------------------------------------------------------------------------
create table experiments.experiments (
  id uuid primary key default gen_random_uuid(),
  key text not null unique check (key ~ '^[a-z0-9][a-z0-9_-]{1,63}$'),
  name text not null,
  description text,
  hypothesis text,
  status experiments.experiment_status not null default 'draft',
  -- [{"key": "control", "weight": 50}, {"key": "short_form", "weight": 50}]
  variants jsonb not null check (jsonb_typeof(variants) = 'array' and jsonb_array_length(variants) >= 2),
  target_countries text[],
  traffic_percentage smallint not null default 100 check (traffic_percentage between 0 and 100),
  starts_at timestamptz,
  ends_at timestamptz,
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (ends_at is null or starts_at is null or ends_at > starts_at)
);

create table experiments.assignments (
  id uuid primary key default gen_random_uuid(),
  experiment_id uuid not null references experiments.experiments (id) on delete cascade,
  user_id uuid references auth.users (id) on delete cascade,
  session_id text,
  variant text not null,
  country text,
  assigned_at timestamptz not null default now(),
  converted_at timestamptz,
  check (user_id is not null or session_id is not null),
  unique (experiment_id, user_id),
  unique (experiment_id, session_id)
);

-- ---------------------------------------------------------------------------------------------
-- whatsapp
-- ---------------------------------------------------------------------------------------------
create table whatsapp.accounts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  lead_id uuid references marketing.leads (id) on delete set null,
  business_name text not null check (char_length(business_name) between 1 and 200),
  waba_id text unique,
  phone_number_id text unique,
  display_phone_number text,
  -- Encrypted by the application before it is stored; never the plain token.
  access_token_ciphertext text,
  webhook_verify_token text not null default encode(extensions.gen_random_bytes(16), 'hex'),
  status whatsapp.account_status not null default 'pending',
  quality_rating text check (quality_rating in ('GREEN', 'YELLOW', 'RED')),
  messaging_limit_tier text,
  connected_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table whatsapp.templates (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references whatsapp.accounts (id) on delete cascade,
  name text not null check (name ~ '^[a-z0-9_]+$' and char_length(name) <= 512),
  language text not null default 'en_US',
  category whatsapp.template_category not null,
  status whatsapp.template_status not null default 'draft',
  components jsonb not null default '[]'::jsonb check (jsonb_typeof(components) = 'array'),
  meta_template_id text,
  rejection_reason text,
  submitted_at timestamptz,
  reviewed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (account_id, name, language)
);

-- ---------------------------------------------------------------------------------------------
-- Audit trail and rate limiting
-- ---------------------------------------------------------------------------------------------
create table public.audit_log (
  id bigint generated always as identity primary key,
  schema_name text not null,
  table_name text not null,
  record_id text,
  action text not null,
  actor uuid,
  actor_role text,
  old_data jsonb,
  new_data jsonb,
  changed_at timestamptz not null default now()
);
comment on table public.audit_log is 'Who changed what in leads and WhatsApp accounts, and GDPR deletions.';

create table private.rate_limit_events (
  id bigint generated always as identity primary key,
  bucket text not null,
  subject text not null,
  created_at timestamptz not null default now()
);
comment on table private.rate_limit_events is 'Recent hits on the public endpoints, per bucket and subject (IP or email).';
