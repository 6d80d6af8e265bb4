-- Phase 5 and 7 (design: 012_create_engagement_tracking_tables, 001_create_media_storage) —
-- engagement analytics and media management.
--   user_activity_logs, content_views, user_interactions: written by the signed-in user about
--     themselves (a view, a share, a save …); read by that user and admins
--   engagement_metrics: daily aggregates computed by the service role (refresh_engagement_metrics);
--     a user reads their own, admins all
--   media_files: a user's uploaded files (the storage object they point to), public or private;
--     media_thumbnails and media_metadata are written by the media worker (service role) and
--     readable wherever the file is

create table public.user_activity_logs (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  activity text not null check (activity in ('sign_in', 'search', 'view_page', 'start_booking', 'complete_booking', 'update_profile', 'share')),
  details jsonb not null default '{}' check (jsonb_typeof(details) = 'object'),
  created_at timestamptz not null default now()
);
create index idx_user_activity_logs_user_id_created_at on public.user_activity_logs (user_id, created_at desc);

create table public.content_views (
  id bigint generated always as identity primary key,
  viewer_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  content_type text not null check (content_type in ('post', 'adventure', 'profile', 'group', 'forum_topic')),
  content_id uuid not null,
  duration_ms integer check (duration_ms >= 0),
  viewed_at timestamptz not null default now()
);
create index idx_content_views_content on public.content_views (content_type, content_id, viewed_at desc);
create index idx_content_views_viewer_id on public.content_views (viewer_id);

create table public.user_interactions (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  target_user_id uuid references public.profiles (id) on delete cascade,
  interaction text not null check (interaction in ('like', 'comment', 'share', 'save', 'message', 'follow')),
  content_type text check (content_type in ('post', 'adventure', 'profile', 'group', 'forum_topic')),
  content_id uuid,
  created_at timestamptz not null default now()
);
create index idx_user_interactions_user_id on public.user_interactions (user_id, created_at desc);
create index idx_user_interactions_target_user_id on public.user_interactions (target_user_id);
create index idx_user_interactions_content on public.user_interactions (content_type, content_id);

create table public.engagement_metrics (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  metric_date date not null,
  views_received integer not null default 0,
  interactions_made integer not null default 0,
  interactions_received integer not null default 0,
  activities integer not null default 0,
  computed_at timestamptz not null default now(),
  unique (user_id, metric_date)
);
create index idx_engagement_metrics_date on public.engagement_metrics (metric_date);

-- Needs cron (daily): one row per user and day with activity.
create or replace function public.refresh_engagement_metrics(p_day date default current_date - 1)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  insert into public.engagement_metrics (user_id, metric_date, views_received, interactions_made, interactions_received, activities)
  select u.id, p_day,
    (select count(*) from public.content_views cv join public.posts po on cv.content_type = 'post' and po.id = cv.content_id
      where po.user_id = u.id and cv.viewed_at::date = p_day),
    (select count(*) from public.user_interactions i where i.user_id = u.id and i.created_at::date = p_day),
    (select count(*) from public.user_interactions i where i.target_user_id = u.id and i.created_at::date = p_day),
    (select count(*) from public.user_activity_logs a where a.user_id = u.id and a.created_at::date = p_day)
  from public.profiles u
  where exists (select 1 from public.user_interactions i where (i.user_id = u.id or i.target_user_id = u.id) and i.created_at::date = p_day)
     or exists (select 1 from public.user_activity_logs a where a.user_id = u.id and a.created_at::date = p_day)
     or exists (select 1 from public.content_views cv join public.posts po on cv.content_type = 'post' and po.id = cv.content_id
                where po.user_id = u.id and cv.viewed_at::date = p_day)
  on conflict (user_id, metric_date) do update
    set views_received = excluded.views_received, interactions_made = excluded.interactions_made,
        interactions_received = excluded.interactions_received, activities = excluded.activities, computed_at = now();
  get diagnostics n = row_count;
  return n;
end;
$$;
revoke all on function public.refresh_engagement_metrics(date) from public, anon, authenticated;
grant execute on function public.refresh_engagement_metrics(date) to service_role;

create table public.media_files (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  bucket_id text not null check (bucket_id in ('avatars', 'adventure-media', 'vendor-documents', 'user-uploads', 'system-media')),
  object_path text not null,
  mime_type text not null,
  size_bytes bigint not null check (size_bytes >= 0),
  is_public boolean not null default false,
  status text not null default 'uploaded' check (status in ('uploaded', 'processing', 'ready', 'failed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (bucket_id, object_path)
);
create index idx_media_files_owner_id on public.media_files (owner_id, created_at desc);

create table public.media_thumbnails (
  id uuid primary key default gen_random_uuid(),
  media_file_id uuid not null references public.media_files (id) on delete cascade,
  size text not null check (size in ('small', 'medium', 'large')),
  object_path text not null,
  width integer not null check (width > 0),
  height integer not null check (height > 0),
  created_at timestamptz not null default now(),
  unique (media_file_id, size)
);

create table public.media_metadata (
  media_file_id uuid primary key references public.media_files (id) on delete cascade,
  width integer,
  height integer,
  duration_seconds numeric(10, 2),
  taken_at timestamptz,
  location text,
  exif jsonb not null default '{}',
  alt_text text,
  updated_at timestamptz not null default now()
);

-- The worker marks a file ready once its thumbnails exist.
create or replace function private.media_ready_on_thumbnail()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.media_files set status = 'ready' where id = new.media_file_id and status in ('uploaded', 'processing');
  return null;
end;
$$;
create trigger media_thumbnails_mark_ready after insert on public.media_thumbnails
  for each row execute function private.media_ready_on_thumbnail();
create trigger media_files_set_updated_at before update on public.media_files
  for each row execute function private.set_updated_at();
create trigger media_metadata_set_updated_at before update on public.media_metadata
  for each row execute function private.set_updated_at();

create or replace function private.can_view_media(p_media_file_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.media_files m where m.id = p_media_file_id
                 and (m.is_public or m.owner_id = (select auth.uid())));
$$;
grant execute on function private.can_view_media(uuid) to anon, authenticated, service_role;

alter table public.user_activity_logs enable row level security;
alter table public.content_views enable row level security;
alter table public.user_interactions enable row level security;
alter table public.engagement_metrics enable row level security;
alter table public.media_files enable row level security;
alter table public.media_thumbnails enable row level security;
alter table public.media_metadata enable row level security;
revoke all on public.user_activity_logs, public.content_views, public.user_interactions, public.engagement_metrics from anon;
revoke update, delete on public.user_activity_logs, public.content_views, public.user_interactions from authenticated;
revoke insert, update, delete on public.engagement_metrics, public.media_thumbnails, public.media_metadata from anon, authenticated;
revoke update on public.media_files from authenticated;
grant update (is_public) on public.media_files to authenticated;

create policy "Users log their own activity" on public.user_activity_logs
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Users and admins read activity" on public.user_activity_logs
  for select to authenticated using (user_id = (select auth.uid()) or (select private.is_admin()));
create policy "Users record their own views" on public.content_views
  for insert to authenticated with check (viewer_id = (select auth.uid()));
create policy "Viewers and admins read views" on public.content_views
  for select to authenticated using (viewer_id = (select auth.uid()) or (select private.is_admin()));
create policy "Users record their own interactions" on public.user_interactions
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Both sides and admins read interactions" on public.user_interactions
  for select to authenticated using (user_id = (select auth.uid()) or target_user_id = (select auth.uid()) or (select private.is_admin()));
create policy "Users and admins read engagement metrics" on public.engagement_metrics
  for select to authenticated using (user_id = (select auth.uid()) or (select private.is_admin()));

create policy "Public media and one's own" on public.media_files
  for select using (is_public or owner_id = (select auth.uid()));
create policy "Users register their own uploads" on public.media_files
  for insert to authenticated with check (owner_id = (select auth.uid()) and status = 'uploaded'
    and (bucket_id <> 'system-media') and (storage.foldername(object_path))[1] in ((select auth.uid())::text,
      (select v.id::text from public.vendors v where v.user_id = (select auth.uid()))));
create policy "Owners publish or hide their media" on public.media_files
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "Owners delete their media" on public.media_files
  for delete to authenticated using (owner_id = (select auth.uid()));
create policy "Thumbnails follow their file" on public.media_thumbnails
  for select using (private.can_view_media(media_file_id));
create policy "Metadata follows its file" on public.media_metadata
  for select using (private.can_view_media(media_file_id));
