-- Post performance, its history, topic clustering (BERTopic) and the stored topic models.
-- All written by the backend workers (service role); people read their own.

create table public.analytics (
  id uuid primary key default extensions.uuid_generate_v4(),
  content_id uuid not null, -- a scheduled_posts or monitored_posts id
  platform public.social_platform not null,
  likes integer not null default 0,
  shares integer not null default 0,
  comments integer not null default 0,
  impressions integer not null default 0,
  reach integer not null default 0,
  engagement_rate numeric not null default 0,
  clicks integer not null default 0,
  conversions integer not null default 0,
  raw_metrics jsonb,
  recorded_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (content_id, platform)
);

create table public.analytics_history (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  content_id uuid not null,
  platform public.social_platform not null,
  likes integer not null default 0,
  shares integer not null default 0,
  comments integer not null default 0,
  impressions integer not null default 0,
  reach integer not null default 0,
  engagement_rate numeric not null default 0,
  clicks integer not null default 0,
  conversions integer not null default 0,
  raw_metrics jsonb,
  recorded_at timestamptz not null default now(),
  created_at timestamptz not null default now()
);
create index idx_analytics_history_user_recorded on public.analytics_history (user_id, recorded_at desc);
create index idx_analytics_history_content_id on public.analytics_history (content_id, recorded_at desc);

create table public.topic_analysis (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  topic_id integer not null,
  topic_label text not null,
  topic_keywords text[] not null default '{}',
  message_count integer not null default 0,
  sample_messages text[] not null default '{}',
  date_range_start timestamptz not null,
  date_range_end timestamptz not null,
  analysis_date date not null default current_date,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_topic_analysis_user_date on public.topic_analysis (user_id, analysis_date desc);

create table public.bertopic_models (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  model_version text not null check (model_version ~ '^\d{8}_\d{6}$'),
  storage_path text not null, -- object in the private bucket `bertopic-models`
  date_range_start timestamptz not null,
  date_range_end timestamptz not null,
  total_topics integer not null default 0,
  total_documents integer not null default 0,
  is_active boolean not null default true,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, model_version)
);
-- One active model per user.
create unique index idx_bertopic_models_one_active on public.bertopic_models (user_id) where is_active;

alter table public.analytics enable row level security;
alter table public.analytics_history enable row level security;
alter table public.topic_analysis enable row level security;
alter table public.bertopic_models enable row level security;

create policy "Users read analytics of their content" on public.analytics
  for select to authenticated
  using (
    exists (select 1 from public.scheduled_posts sp where sp.id = content_id and sp.user_id = (select auth.uid()))
    or exists (select 1 from public.monitored_posts mp where mp.id = content_id and mp.user_id = (select auth.uid()))
  );
create policy "Users read their analytics history" on public.analytics_history
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users read their topics" on public.topic_analysis
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users read their topic models" on public.bertopic_models
  for select to authenticated using ((select auth.uid()) = user_id);
