-- Phase 4 — notifications and per-user notification settings. Notifications are created by
-- database triggers (likes, comments, connection requests, bookings) and by the service role;
-- users read, mark read and delete their own. Realtime delivers them live.

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  actor_id uuid references public.profiles (id) on delete set null,
  type text not null check (type in ('post_like', 'post_comment', 'connection_request', 'connection_accepted',
    'booking_created', 'booking_confirmed', 'booking_cancelled', 'group_invite', 'payment', 'system')),
  title text not null,
  body text,
  data jsonb not null default '{}',
  read_at timestamptz,
  created_at timestamptz not null default now()
);
create index idx_notifications_user_id_created_at on public.notifications (user_id, created_at desc);
create index idx_notifications_unread on public.notifications (user_id) where read_at is null;
create index idx_notifications_actor_id on public.notifications (actor_id);

create table public.notification_settings (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique references public.profiles (id) on delete cascade,
  email_enabled boolean not null default true,
  push_enabled boolean not null default true,
  whatsapp_enabled boolean not null default false,
  booking_updates boolean not null default true,
  social_activity boolean not null default true,
  group_invites boolean not null default true,
  marketing boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger notification_settings_set_updated_at
  before update on public.notification_settings
  for each row execute function private.set_updated_at();

alter table public.notifications enable row level security;
alter table public.notification_settings enable row level security;

create policy "Users can view own notifications" on public.notifications
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can mark own notifications read" on public.notifications
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users can delete own notifications" on public.notifications
  for delete to authenticated using ((select auth.uid()) = user_id);
revoke insert, update on public.notifications from anon, authenticated;
grant update (read_at) on public.notifications to authenticated;

create policy "Users can view own notification settings" on public.notification_settings
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can create own notification settings" on public.notification_settings
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users can update own notification settings" on public.notification_settings
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
revoke delete on public.notification_settings from anon, authenticated;

-- New profiles get default notification settings.
create or replace function private.create_notification_settings()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notification_settings (user_id) values (new.id) on conflict (user_id) do nothing;
  return new;
end;
$$;

create trigger profiles_create_notification_settings
  after insert on public.profiles
  for each row execute function private.create_notification_settings();

alter publication supabase_realtime add table public.notifications;
