-- Phase 7 — the workers the design names, in SQL and one edge function:
--
-- * automated moderation: every active `automated_moderation_rules` row is applied to new and
--   edited posts and comments (its `pattern` a case-insensitive regular expression): `hide` hides
--   the content at once (a `moderation_actions` row with `automated = true`, the author told),
--   `flag` files an automated `content_reports` row for the admins. Reports from three different
--   people on the same content hide it pending review (the report/flag flow).
-- * the feed builder: `public.get_feed()` ranks, for the caller, the posts they may see (their
--   connections', their groups', public ones), keeps the ranking in `community_feed_items`
--   (service-written, owner-read) and answers it under the caller's row level security;
--   `private.refresh_feeds()` re-ranks active users' feeds every 15 minutes (pg_cron).
-- * email and push delivery: `public.claim_notification_deliveries()` decides per new
--   notification which channels the user's `notification_settings` allow (email, push to the
--   devices in `push_tokens`), the `deliver-notifications` function sends them and records the
--   outcome in `notification_deliveries` (owner-read); pg_cron calls it every minute through
--   pg_net with the Vault secrets of migration 20250916000010.

------------------------------------------------------------------------------------------
-- Automated moderation.
------------------------------------------------------------------------------------------
alter table public.content_reports
  alter column reporter_id drop not null,
  add column automated boolean not null default false,
  add column rule_id uuid references public.automated_moderation_rules (id) on delete set null;
-- Clients still report only as themselves (the insert policy checks reporter_id = auth.uid()).
-- (NOT VALID here, validated by migration 20250917000004, so the existing rows are checked
-- without holding the table's lock.)
alter table public.content_reports add constraint content_reports_reporter_or_automated
  check (reporter_id is not null or automated) not valid;
alter table public.moderation_actions
  add column rule_id uuid references public.automated_moderation_rules (id) on delete set null;

-- A rule's pattern must be a valid regular expression.
create or replace function private.check_moderation_pattern()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform '' ~* new.pattern;
  return new;
exception when invalid_regular_expression then
  raise exception 'invalid moderation pattern: %', sqlerrm using errcode = '22023';
end;
$$;
create trigger automated_moderation_rules_check_pattern
  before insert or update of pattern on public.automated_moderation_rules
  for each row execute function private.check_moderation_pattern();

create or replace function private.apply_moderation_rules()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_type text := case tg_table_name when 'posts' then 'post' else 'comment' end;
  v_rule record;
  v_hidden boolean := false;
begin
  if tg_op = 'UPDATE' and new.content is not distinct from old.content then
    return null;
  end if;
  for v_rule in
    select r.id, r.name, r.action from public.automated_moderation_rules r
     where r.is_active and r.content_type = v_type and new.content ~* r.pattern
     order by (r.action = 'hide') desc, r.name
  loop
    if v_rule.action = 'hide' and not v_hidden and not new.is_hidden then
      insert into public.moderation_actions (moderator_id, target_type, target_id, action, notes, automated, rule_id)
      values (null, v_type, new.id, 'hide', 'automated rule ' || v_rule.name, true, v_rule.id);
      insert into public.notifications (user_id, type, title, body, data)
      values (new.user_id, 'system', 'Your ' || v_type || ' was hidden',
              'It matched a community guideline rule and is hidden until a moderator reviews it.',
              jsonb_build_object('target_type', v_type, 'target_id', new.id, 'rule', v_rule.name));
      v_hidden := true;
    elsif v_rule.action = 'flag' and not exists (
      select 1 from public.content_reports c
       where c.rule_id = v_rule.id and c.content_type = v_type and c.content_id = new.id and c.status = 'open') then
      insert into public.content_reports (reporter_id, content_type, content_id, reason, details, automated, rule_id)
      values (null, v_type, new.id, 'other', 'flagged by automated rule ' || v_rule.name, true, v_rule.id);
    end if;
  end loop;
  return null;
end;
$$;
revoke all on function private.apply_moderation_rules() from public;
create trigger posts_apply_moderation_rules
  after insert or update of content on public.posts
  for each row execute function private.apply_moderation_rules();
create trigger comments_apply_moderation_rules
  after insert or update of content on public.comments
  for each row execute function private.apply_moderation_rules();

-- Three open reports from different people hide a post or comment until an admin reviews it.
create or replace function private.hide_on_reports()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_reporters integer;
begin
  if new.content_type not in ('post', 'comment') or new.automated then
    return null;
  end if;
  select count(distinct reporter_id) into v_reporters from public.content_reports
   where content_type = new.content_type and content_id = new.content_id and status = 'open' and not automated;
  if v_reporters >= 3 and not coalesce(
       case new.content_type
         when 'post' then (select p.is_hidden from public.posts p where p.id = new.content_id)
         else (select c.is_hidden from public.comments c where c.id = new.content_id) end, true) then
    insert into public.moderation_actions (moderator_id, target_type, target_id, action, notes, automated)
    values (null, new.content_type, new.content_id, 'hide', v_reporters || ' reports: hidden pending review', true);
  end if;
  return null;
end;
$$;
revoke all on function private.hide_on_reports() from public;
create trigger content_reports_hide_on_reports
  after insert on public.content_reports
  for each row execute function private.hide_on_reports();

------------------------------------------------------------------------------------------
-- The feed builder.
------------------------------------------------------------------------------------------
-- Rank the posts p_user_id may see (not their own, not hidden; public, or connections-only by a
-- connection; at most 30 days old) into community_feed_items, and drop what they may no longer
-- see. score = (1 + ln(1 + likes + 2 × comments) + 2 for a connection's post + 1.5 for a post in
-- one of their groups) ÷ (1 + age in days)^1.2. Returns how many items the feed holds.
create or replace function private.rebuild_feed(p_user_id uuid, p_now timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  create temporary table if not exists pg_temp.feed_candidates (post_id uuid primary key, score numeric, reason text) on commit drop;
  truncate pg_temp.feed_candidates;
  insert into pg_temp.feed_candidates
  select p.id,
         round(((1 + ln(1 + p.likes_count + 2 * p.comments_count)
                 + case when conn.connected then 2 else 0 end
                 + case when grp.member then 1.5 else 0 end)
                / power(1 + greatest(extract(epoch from p_now - p.created_at), 0) / 86400.0, 1.2))::numeric, 4),
         case when conn.connected then 'connection' when grp.member then 'group'
              when p.likes_count + p.comments_count > 0 then 'popular' else 'recent' end
    from public.posts p
    cross join lateral (select exists (
      select 1 from public.user_connections c
       where c.status = 'accepted'
         and ((c.requester_id = p_user_id and c.addressee_id = p.user_id)
           or (c.addressee_id = p_user_id and c.requester_id = p.user_id))) as connected) conn
    cross join lateral (select p.group_id is not null and exists (
      select 1 from public.group_members m
       where m.group_id = p.group_id and m.user_id = p_user_id and m.status = 'active') as member) grp
   where p.user_id <> p_user_id
     and not p.is_hidden
     and p.created_at > p_now - interval '30 days'
     and (p.visibility = 'public' or (p.visibility = 'connections' and conn.connected));

  delete from public.community_feed_items f
   where f.user_id = p_user_id
     and not exists (select 1 from pg_temp.feed_candidates c where c.post_id = f.post_id);
  insert into public.community_feed_items (user_id, post_id, score, reason)
  select p_user_id, c.post_id, c.score, c.reason from pg_temp.feed_candidates c
  on conflict (user_id, post_id) do update
    set score = excluded.score, reason = excluded.reason;
  select count(*) into v_count from public.community_feed_items where user_id = p_user_id;
  return v_count;
end;
$$;
revoke all on function private.rebuild_feed(uuid, timestamptz) from public, anon, authenticated;

-- The caller's feed, ranked (best first), rebuilt first; read under the caller's row level
-- security (a post they may not see is never answered, whatever the ranking holds).
create or replace function public.get_feed(p_limit integer default 20, p_offset integer default 0)
returns table (post_id uuid, score numeric, reason text, seen_at timestamptz, author_id uuid,
               content text, visibility text, likes_count integer, comments_count integer, created_at timestamptz)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
begin
  if auth.uid() is null then
    raise exception 'sign in to read your feed' using errcode = '42501';
  end if;
  perform private.rebuild_feed_for_caller();
  return query
    select f.post_id, f.score, f.reason, f.seen_at, p.user_id, p.content, p.visibility,
           p.likes_count, p.comments_count, p.created_at
      from public.community_feed_items f
      join public.posts p on p.id = f.post_id
     where f.user_id = auth.uid()
     order by f.score desc, p.created_at desc, f.post_id
     limit least(greatest(p_limit, 1), 100) offset greatest(p_offset, 0);
end;
$$;

-- The one door from a client into rebuild_feed: the caller's own feed only.
create or replace function private.rebuild_feed_for_caller()
returns integer
language sql
security definer
set search_path = ''
as $$
  select private.rebuild_feed(auth.uid());
$$;
revoke all on function private.rebuild_feed_for_caller() from public, anon;
grant execute on function private.rebuild_feed_for_caller() to authenticated;
revoke all on function public.get_feed(integer, integer) from public, anon;
grant execute on function public.get_feed(integer, integer) to authenticated;

-- Re-rank the feeds of users who have one or posted/engaged in the last 7 days (cron).
create or replace function private.refresh_feeds()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_n integer := 0;
begin
  for v_user in
    select distinct u from (
      select f.user_id as u from public.community_feed_items f
      union select p.user_id from public.posts p where p.created_at > now() - interval '7 days'
      union select l.user_id from public.post_likes l where l.created_at > now() - interval '7 days'
    ) s
  loop
    perform private.rebuild_feed(v_user);
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;
revoke all on function private.refresh_feeds() from public, anon, authenticated;

------------------------------------------------------------------------------------------
-- Email and push delivery of notifications.
------------------------------------------------------------------------------------------
create table public.push_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  token text not null check (char_length(token) between 8 and 4096),
  platform text not null default 'expo' check (platform in ('expo', 'ios', 'android', 'web')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint push_tokens_user_id_token_key unique (user_id, token)
);
create index idx_push_tokens_user_id on public.push_tokens (user_id);
create trigger push_tokens_set_updated_at
  before update on public.push_tokens
  for each row execute function private.set_updated_at();
alter table public.push_tokens enable row level security;
create policy "Users can view own push tokens" on public.push_tokens
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can register own push tokens" on public.push_tokens
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users can remove own push tokens" on public.push_tokens
  for delete to authenticated using ((select auth.uid()) = user_id);

create table public.notification_deliveries (
  id uuid primary key default gen_random_uuid(),
  notification_id uuid not null references public.notifications (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  channel text not null check (channel in ('email', 'push', 'none')),
  status text not null default 'sending' check (status in ('sending', 'sent', 'failed', 'skipped')),
  provider_id text,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint notification_deliveries_notification_id_channel_key unique (notification_id, channel)
);
create index idx_notification_deliveries_user_id on public.notification_deliveries (user_id, created_at desc);
create trigger notification_deliveries_set_updated_at
  before update on public.notification_deliveries
  for each row execute function private.set_updated_at();
alter table public.notification_deliveries enable row level security;
create policy "Users can view own notification deliveries" on public.notification_deliveries
  for select to authenticated using ((select auth.uid()) = user_id);
revoke insert, update, delete on public.notification_deliveries from anon, authenticated;

-- Which setting a notification type answers to.
create or replace function private.notification_category_enabled(s public.notification_settings, p_type text)
returns boolean
language sql
immutable
set search_path = ''
as $$
  select case
    when p_type in ('booking_created', 'booking_confirmed', 'booking_cancelled', 'payment') then s.booking_updates
    when p_type in ('post_like', 'post_comment', 'connection_request', 'connection_accepted') then s.social_activity
    when p_type = 'group_invite' then s.group_invites
    else true end;
$$;

-- Claim up to p_limit notifications of the last 2 days nobody has delivered yet: one
-- `sending` row per channel the user's settings allow (a `skipped` 'none' row when none), so a
-- notification is claimed once however often or on however many nodes this runs. Answers
-- what to send: the user's email (auth.users) and push tokens.
create or replace function public.claim_notification_deliveries(p_limit integer default 100)
returns table (delivery_id uuid, notification_id uuid, channel text, user_id uuid, email text,
               push_tokens text[], type text, title text, body text, data jsonb)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform pg_advisory_xact_lock(hashtext('trvl-social: claim notification deliveries'));
  return query
  with todo as (
    select n.id, n.user_id, n.type,
           coalesce(s.email_enabled and private.notification_category_enabled(s, n.type), true) as want_email,
           coalesce(s.push_enabled and private.notification_category_enabled(s, n.type), true)
             and exists (select 1 from public.push_tokens t where t.user_id = n.user_id) as want_push
      from public.notifications n
      left join public.notification_settings s on s.user_id = n.user_id
     where n.created_at > now() - interval '2 days'
       and n.read_at is null
       and not exists (select 1 from public.notification_deliveries d where d.notification_id = n.id)
     order by n.created_at
     limit greatest(p_limit, 1)
  ), wanted as (
    select t.id, t.user_id, 'email' as channel from todo t where t.want_email
    union all select t.id, t.user_id, 'push' from todo t where t.want_push
    union all select t.id, t.user_id, 'none' from todo t where not t.want_email and not t.want_push
  ), claimed as (
    insert into public.notification_deliveries (notification_id, user_id, channel, status)
    select w.id, w.user_id, w.channel, case when w.channel = 'none' then 'skipped' else 'sending' end
      from wanted w
    on conflict (notification_id, channel) do nothing
    returning id, notification_deliveries.notification_id, notification_deliveries.channel, notification_deliveries.user_id
  )
  select c.id, c.notification_id, c.channel, c.user_id, u.email::text,
         array(select t.token from public.push_tokens t where t.user_id = c.user_id order by t.created_at),
         n.type, n.title, n.body, n.data
    from claimed c
    join public.notifications n on n.id = c.notification_id
    left join auth.users u on u.id = c.user_id
   where c.channel <> 'none';
end;
$$;
revoke all on function public.claim_notification_deliveries(integer) from public, anon, authenticated;
grant execute on function public.claim_notification_deliveries(integer) to service_role;

-- Record a delivery's outcome (the function, service role).
create or replace function public.finish_notification_delivery(p_delivery_id uuid, p_provider_id text, p_error text default null)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.notification_deliveries
     set status = case when p_error is null then 'sent' else 'failed' end,
         provider_id = p_provider_id, error = p_error
   where id = p_delivery_id and status = 'sending';
$$;
revoke all on function public.finish_notification_delivery(uuid, text, text) from public, anon, authenticated;
grant execute on function public.finish_notification_delivery(uuid, text, text) to service_role;

-- The cron job's call to the function (pg_net, the Vault secrets of the payout run).
create or replace function public.request_notification_delivery()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_url text;
  v_key text;
begin
  if not exists (select 1 from public.notifications n
                  where n.created_at > now() - interval '2 days' and n.read_at is null
                    and not exists (select 1 from public.notification_deliveries d where d.notification_id = n.id)) then
    return null;
  end if;
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into v_key from vault.decrypted_secrets where name = 'service_role_key';
  if v_url is null or v_key is null then
    raise exception 'trvl-social: the vault secrets project_url and service_role_key are not set'
      using hint = 'select private.set_function_secrets(''<API URL>'', ''<service_role key>'')';
  end if;
  return net.http_post(
    url := rtrim(v_url, '/') || '/functions/v1/deliver-notifications',
    body := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key),
    timeout_milliseconds := 60000);
end;
$$;
revoke all on function public.request_notification_delivery() from public, anon, authenticated, service_role;

do $cron$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'trvl-social: pg_cron is not available; feed re-ranking and notification delivery are not scheduled';
    return;
  end if;
  create extension if not exists pg_cron with schema pg_catalog;
  perform cron.schedule('trvl-refresh-feeds', '*/15 * * * *', 'select private.refresh_feeds()');
  perform cron.schedule('trvl-deliver-notifications', '30 seconds', 'select public.request_notification_delivery()');
end
$cron$;
