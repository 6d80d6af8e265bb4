-- Phase 3 (design: 007_create_ml_model_tables) — what the compatibility model learns from and
-- which version of it produced a score. Written by the model's jobs (service role); admins
-- read everything, users read their own behaviour data.

create table public.compatibility_model_versions (
  id uuid primary key default gen_random_uuid(),
  version text not null unique check (version ~ '^[0-9]+\.[0-9]+\.[0-9]+$'),
  algorithm text not null default 'weighted_big_five',
  weights jsonb not null default '{}' check (jsonb_typeof(weights) = 'object'),
  metrics jsonb not null default '{}' check (jsonb_typeof(metrics) = 'object'),
  training_rows integer not null default 0 check (training_rows >= 0),
  is_active boolean not null default false,
  trained_at timestamptz,
  activated_at timestamptz,
  created_at timestamptz not null default now()
);
-- At most one active model.
create unique index idx_compatibility_model_versions_active on public.compatibility_model_versions (is_active) where is_active;

create table public.model_training_data (
  id uuid primary key default gen_random_uuid(),
  model_version_id uuid references public.compatibility_model_versions (id) on delete set null,
  user_a uuid not null references public.profiles (id) on delete cascade,
  user_b uuid not null references public.profiles (id) on delete cascade,
  group_id uuid references public.groups (id) on delete set null,
  features jsonb not null check (jsonb_typeof(features) = 'object'),
  label numeric(5, 4) check (label between 0 and 1),
  source text not null default 'trip_feedback' check (source in ('trip_feedback', 'group_outcome', 'manual', 'synthetic')),
  created_at timestamptz not null default now(),
  check (user_a <> user_b)
);
create index idx_model_training_data_model_version_id on public.model_training_data (model_version_id);
create index idx_model_training_data_user_a on public.model_training_data (user_a);
create index idx_model_training_data_user_b on public.model_training_data (user_b);
create index idx_model_training_data_group_id on public.model_training_data (group_id);

create table public.user_behavior_data (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  event_type text not null check (event_type in ('view_adventure', 'view_profile', 'join_group', 'leave_group', 'book', 'message', 'search')),
  target_id uuid,
  properties jsonb not null default '{}' check (jsonb_typeof(properties) = 'object'),
  occurred_at timestamptz not null default now()
);
create index idx_user_behavior_data_user_id_occurred_at on public.user_behavior_data (user_id, occurred_at desc);
create index idx_user_behavior_data_event_type on public.user_behavior_data (event_type, occurred_at desc);

-- Which model computed a score.
alter table public.compatibility_scores
  add column model_version_id uuid references public.compatibility_model_versions (id) on delete set null;
-- Its index is built concurrently in 20250916000008.

alter table public.compatibility_model_versions enable row level security;
alter table public.model_training_data enable row level security;
alter table public.user_behavior_data enable row level security;
revoke insert, update, delete on public.compatibility_model_versions, public.model_training_data, public.user_behavior_data from anon, authenticated;

create policy "Admins view model versions" on public.compatibility_model_versions
  for select to authenticated using ((select private.is_admin()));
create policy "Admins view training data" on public.model_training_data
  for select to authenticated using ((select private.is_admin()));
create policy "Users view own behaviour data; admins all" on public.user_behavior_data
  for select to authenticated using (user_id = (select auth.uid()) or (select private.is_admin()));
