-- Phase 6 — content moderation: user reports, moderator actions, automated rules.
-- Anyone signed in may report content and follow their own reports; admins review reports
-- and act. A `hide` action hides the post or comment for everyone but its author.

create table public.content_reports (
  id uuid primary key default gen_random_uuid(),
  reporter_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  content_type text not null check (content_type in ('post', 'comment', 'profile', 'review', 'adventure')),
  content_id uuid not null,
  reason text not null check (reason in ('spam', 'harassment', 'hate', 'violence', 'nudity', 'scam', 'misinformation', 'other')),
  details text,
  status text not null default 'open' check (status in ('open', 'reviewing', 'actioned', 'dismissed')),
  reviewed_by uuid references public.profiles (id) on delete set null,
  reviewed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_content_reports_reporter_id on public.content_reports (reporter_id);
create index idx_content_reports_reviewed_by on public.content_reports (reviewed_by);
create index idx_content_reports_status_created_at on public.content_reports (status, created_at);
create index idx_content_reports_content on public.content_reports (content_type, content_id);

create trigger content_reports_set_updated_at
  before update on public.content_reports
  for each row execute function private.set_updated_at();

create table public.moderation_actions (
  id uuid primary key default gen_random_uuid(),
  report_id uuid references public.content_reports (id) on delete set null,
  moderator_id uuid default auth.uid() references public.profiles (id) on delete set null,
  target_type text not null check (target_type in ('post', 'comment', 'profile', 'review', 'adventure')),
  target_id uuid not null,
  action text not null check (action in ('hide', 'unhide', 'remove', 'warn', 'suspend', 'dismiss')),
  notes text,
  automated boolean not null default false,
  created_at timestamptz not null default now()
);
create index idx_moderation_actions_report_id on public.moderation_actions (report_id);
create index idx_moderation_actions_moderator_id on public.moderation_actions (moderator_id);
create index idx_moderation_actions_target on public.moderation_actions (target_type, target_id);

create table public.automated_moderation_rules (
  id uuid primary key default gen_random_uuid(),
  name text not null unique,
  content_type text not null check (content_type in ('post', 'comment', 'profile', 'review', 'adventure')),
  pattern text not null,
  action text not null check (action in ('flag', 'hide')),
  is_active boolean not null default true,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_automated_moderation_rules_created_by on public.automated_moderation_rules (created_by);

create trigger automated_moderation_rules_set_updated_at
  before update on public.automated_moderation_rules
  for each row execute function private.set_updated_at();

-- Apply hide/unhide actions to the target and close the report.
create or replace function private.apply_moderation_action()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.action in ('hide', 'unhide', 'remove') then
    if new.target_type = 'post' then
      update public.posts set is_hidden = (new.action <> 'unhide') where id = new.target_id;
    elsif new.target_type = 'comment' then
      update public.comments set is_hidden = (new.action <> 'unhide') where id = new.target_id;
    end if;
  end if;
  if new.report_id is not null then
    update public.content_reports
       set status = case when new.action = 'dismiss' then 'dismissed' else 'actioned' end,
           reviewed_by = new.moderator_id,
           reviewed_at = now()
     where id = new.report_id;
  end if;
  return null;
end;
$$;

create trigger moderation_actions_apply
  after insert on public.moderation_actions
  for each row execute function private.apply_moderation_action();

alter table public.content_reports enable row level security;
alter table public.moderation_actions enable row level security;
alter table public.automated_moderation_rules enable row level security;

create policy "Users can report content" on public.content_reports
  for insert to authenticated with check ((select auth.uid()) = reporter_id and status = 'open');
create policy "Reporters and admins can view reports" on public.content_reports
  for select to authenticated using ((select auth.uid()) = reporter_id or (select private.is_admin()));
create policy "Admins can review reports" on public.content_reports
  for update to authenticated using ((select private.is_admin())) with check ((select private.is_admin()));
revoke delete on public.content_reports from anon, authenticated;

create policy "Admins can view moderation actions" on public.moderation_actions
  for select to authenticated using ((select private.is_admin()));
create policy "Admins can take moderation actions" on public.moderation_actions
  for insert to authenticated
  with check ((select private.is_admin()) and moderator_id = (select auth.uid()) and not automated);
revoke update, delete on public.moderation_actions from anon, authenticated;

create policy "Admins can view moderation rules" on public.automated_moderation_rules
  for select to authenticated using ((select private.is_admin()));
create policy "Admins can create moderation rules" on public.automated_moderation_rules
  for insert to authenticated with check ((select private.is_admin()));
create policy "Admins can update moderation rules" on public.automated_moderation_rules
  for update to authenticated using ((select private.is_admin())) with check ((select private.is_admin()));
create policy "Admins can delete moderation rules" on public.automated_moderation_rules
  for delete to authenticated using ((select private.is_admin()));
