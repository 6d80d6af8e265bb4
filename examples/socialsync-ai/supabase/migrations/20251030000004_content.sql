-- Scheduled posts and their runs, monitored posts, their comments, monitoring rules.

create table public.scheduled_posts (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  channel_id uuid not null references public.social_accounts (id) on delete cascade,
  platform text not null check (platform in ('instagram', 'whatsapp')),
  content_json jsonb not null check (jsonb_typeof(content_json) = 'object'),
  publish_at timestamptz not null,
  rrule text,
  status text not null default 'queued' check (status in ('queued', 'publishing', 'published', 'failed', 'cancelled')),
  retry_count integer not null default 0 check (retry_count between 0 and 3),
  platform_post_id text,
  error_message text,
  last_check_at timestamptz,
  next_check_at timestamptz,
  stop_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_scheduled_posts_user_id on public.scheduled_posts (user_id);
create index idx_scheduled_posts_publish_at on public.scheduled_posts (publish_at);
create index idx_scheduled_posts_status on public.scheduled_posts (status);
create index idx_scheduled_posts_channel_id on public.scheduled_posts (channel_id);
create index idx_scheduled_posts_due on public.scheduled_posts (publish_at) where status = 'queued';

create table public.post_runs (
  id uuid primary key default extensions.uuid_generate_v4(),
  scheduled_post_id uuid not null references public.scheduled_posts (id) on delete cascade,
  started_at timestamptz,
  finished_at timestamptz,
  status text not null check (status in ('success', 'failed')),
  error text,
  created_at timestamptz not null default now()
);
create index idx_post_runs_scheduled_post_id on public.post_runs (scheduled_post_id, created_at desc);

create table public.monitored_posts (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  social_account_id uuid not null references public.social_accounts (id) on delete cascade,
  platform_post_id text not null,
  platform text not null check (platform in ('instagram', 'facebook', 'twitter')),
  caption text,
  media_url text,
  posted_at timestamptz not null,
  source text not null default 'manual' check (source in ('scheduled', 'imported', 'manual')),
  monitoring_enabled boolean not null default false,
  monitoring_started_at timestamptz,
  monitoring_ends_at timestamptz,
  last_check_at timestamptz,
  next_check_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (social_account_id, platform_post_id)
);
create index idx_monitored_posts_user_id on public.monitored_posts (user_id, posted_at desc);
create index idx_monitored_posts_social_account_id on public.monitored_posts (social_account_id);
create index idx_monitored_posts_next_check on public.monitored_posts (next_check_at) where monitoring_enabled;

create table public.comments (
  id uuid primary key default extensions.uuid_generate_v4(),
  post_id uuid references public.scheduled_posts (id) on delete set null, -- deprecated: use monitored_post_id
  monitored_post_id uuid references public.monitored_posts (id) on delete cascade,
  platform_comment_id text not null unique,
  author_name text,
  author_id text,
  author_avatar_url text,
  text text not null,
  parent_id text,
  like_count integer not null default 0 check (like_count >= 0),
  triage text check (triage in ('respond', 'ignore', 'escalate')),
  ai_reply_text text,
  ai_decision_id uuid references public.ai_decisions (id) on delete set null,
  replied_at timestamptz,
  hidden boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_comments_monitored_post_id on public.comments (monitored_post_id);
create index idx_comments_post_id on public.comments (post_id);
create index idx_comments_triage on public.comments (triage);
create index idx_comments_replied_at on public.comments (replied_at);
create index idx_comments_ai_decision_id on public.comments (ai_decision_id);

create table public.monitoring_rules (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  social_account_id uuid references public.social_accounts (id) on delete cascade,
  auto_monitor_enabled boolean not null default true,
  auto_monitor_count integer not null default 5 check (auto_monitor_count between 1 and 20),
  monitoring_duration_days integer not null default 7 check (monitoring_duration_days between 1 and 30),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique nulls not distinct (user_id, social_account_id)
);
create index idx_monitoring_rules_social_account_id on public.monitoring_rules (social_account_id);

alter table public.scheduled_posts enable row level security;
alter table public.post_runs enable row level security;
alter table public.monitored_posts enable row level security;
alter table public.comments enable row level security;
alter table public.monitoring_rules enable row level security;

create policy "Users read their scheduled posts" on public.scheduled_posts
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users schedule posts on their channels" on public.scheduled_posts
  for insert to authenticated
  with check ((select auth.uid()) = user_id and public.owns_social_account(channel_id) and status = 'queued');
create policy "Users edit their scheduled posts" on public.scheduled_posts
  for update to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id and public.owns_social_account(channel_id));
create policy "Users delete their scheduled posts" on public.scheduled_posts
  for delete to authenticated using ((select auth.uid()) = user_id);

create policy "Users read runs of their posts" on public.post_runs
  for select to authenticated
  using (exists (select 1 from public.scheduled_posts sp
                 where sp.id = scheduled_post_id and sp.user_id = (select auth.uid())));

create policy "Users read their monitored posts" on public.monitored_posts
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users add monitored posts" on public.monitored_posts
  for insert to authenticated
  with check ((select auth.uid()) = user_id and public.owns_social_account(social_account_id));
create policy "Users update their monitored posts" on public.monitored_posts
  for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users delete their monitored posts" on public.monitored_posts
  for delete to authenticated using ((select auth.uid()) = user_id);

-- Comments are fetched by the polling worker; people read them and may hide them or change the
-- triage by hand (those two columns only).
create policy "Users read comments on their posts" on public.comments
  for select to authenticated
  using (
    monitored_post_id in (select id from public.monitored_posts where user_id = (select auth.uid()))
    or post_id in (select id from public.scheduled_posts where user_id = (select auth.uid()))
  );
create policy "Users moderate comments on their posts" on public.comments
  for update to authenticated
  using (monitored_post_id in (select id from public.monitored_posts where user_id = (select auth.uid())))
  with check (monitored_post_id in (select id from public.monitored_posts where user_id = (select auth.uid())));
revoke insert, update, delete on public.comments from anon, authenticated;
grant update (hidden, triage) on public.comments to authenticated;

create policy "Users read their monitoring rules" on public.monitoring_rules
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users create monitoring rules" on public.monitoring_rules
  for insert to authenticated
  with check ((select auth.uid()) = user_id
              and (social_account_id is null or public.owns_social_account(social_account_id)));
create policy "Users update their monitoring rules" on public.monitoring_rules
  for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users delete their monitoring rules" on public.monitoring_rules
  for delete to authenticated using ((select auth.uid()) = user_id);
