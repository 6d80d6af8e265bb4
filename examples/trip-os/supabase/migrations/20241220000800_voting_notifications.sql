-- Stage 7 — votes that close, `vote_closed` automations, and push tokens for the email and
-- push actions of automations.
--
-- An itinerary item's vote closes at its deadline (`voting_closes_at`, set by the owner or an
-- editor) or when an editor closes it now (`public.close_voting(item)`, which sets
-- `voting_closed_at`). A closed vote takes no more votes (restrictive policies on `votes`), and
-- every enabled `vote_closed` rule of the trip gets one occurrence job per closed item, which
-- the dispatch cron job hands to `trigger-automation` like the other automations.

alter table public.trip_items
  add column voting_closes_at timestamptz,
  add column voting_closed_at timestamptz;

-- Once closed, a vote stays closed at the time it closed: clients cannot reopen or back-date it.
create or replace function private.guard_voting_closed()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.voting_closed_at is not null and new.voting_closed_at is distinct from old.voting_closed_at then
    raise exception 'voting on this item is closed' using errcode = '42501';
  end if;
  if old.voting_closed_at is null and new.voting_closed_at is not null then
    new.voting_closed_at := now();
  end if;
  return new;
end;
$$;
create trigger trip_items_guard_voting_closed
  before update of voting_closed_at on public.trip_items
  for each row execute function private.guard_voting_closed();

-- Voting is open on an item until it is closed or its deadline passes.
create or replace function private.voting_open(p_trip_item_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.trip_items i
     where i.id = p_trip_item_id and i.voting_closed_at is null
       and (i.voting_closes_at is null or i.voting_closes_at > now())
  );
$$;
revoke all on function private.voting_open(uuid) from public;
grant execute on function private.voting_open(uuid) to authenticated, service_role;

create policy "Votes are cast only while voting is open" on public.votes
  as restrictive for insert to authenticated with check (private.voting_open(trip_item_id));
create policy "Votes change only while voting is open" on public.votes
  as restrictive for update to authenticated
  using (private.voting_open(trip_item_id)) with check (private.voting_open(trip_item_id));
create policy "Votes are withdrawn only while voting is open" on public.votes
  as restrictive for delete to authenticated using (private.voting_open(trip_item_id));

-- The tally of an item's votes.
create or replace function private.vote_tally(p_trip_item_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'up', count(*) filter (where v.value = 1),
    'down', count(*) filter (where v.value = -1),
    'score', coalesce(sum(v.value), 0))
    from public.votes v where v.trip_item_id = p_trip_item_id;
$$;
revoke all on function private.vote_tally(uuid) from public;
grant execute on function private.vote_tally(uuid) to authenticated, service_role;

-- Close the vote on an item now (owner or editor; row level security decides). Returns the
-- item, when it closed and the tally. Closing again answers the same.
create or replace function public.close_voting(p_trip_item_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_item public.trip_items;
begin
  select * into v_item from public.trip_items where id = p_trip_item_id;
  if not found then
    raise exception 'no such itinerary item' using errcode = 'P0002';
  end if;
  if v_item.voting_closed_at is null then
    update public.trip_items set voting_closed_at = now() where id = p_trip_item_id
    returning * into v_item;
    if not found then
      raise exception 'only the trip owner and editors close a vote' using errcode = '42501';
    end if;
  end if;
  return jsonb_build_object('trip_item_id', v_item.id, 'title', v_item.title,
                            'voting_closed_at', v_item.voting_closed_at)
         || private.vote_tally(v_item.id);
end;
$$;
revoke all on function public.close_voting(uuid) from public, anon;
grant execute on function public.close_voting(uuid) to authenticated, service_role;

-- Create one occurrence job per automation rule whose trigger holds at p_now (SQL only: the
-- dispatcher sends the jobs). As in migration 700, plus:
--   vote_closed        every item of the rule's trip whose vote closed by p_now (or only
--                      trigger_config.trip_item_id); the job's payload carries the item
create or replace function private.evaluate_automation_rules(p_now timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_today date := (p_now at time zone 'UTC')::date;
  v_count integer;
begin
  perform pg_advisory_xact_lock(hashtext('trip-os: evaluate automation rules'));
  with due as (
    select r.id as rule_id, r.user_id, r.trip_id, r.trigger_type,
           'days_before_trip:' || t.start_date as occurrence, null::uuid as item_id
      from public.automation_rules r
      join public.trips t on t.id = r.trip_id
     where r.is_enabled and r.trigger_type = 'days_before_trip' and t.start_date is not null
       and t.status not in ('cancelled', 'completed')
       and v_today >= t.start_date - coalesce((r.trigger_config ->> 'days')::int, 1)
       and v_today < t.start_date
    union all
    select r.id, r.user_id, r.trip_id, r.trigger_type, 'daily_digest:' || v_today, null
      from public.automation_rules r
      left join public.trips t on t.id = r.trip_id
     where r.is_enabled and r.trigger_type = 'daily_digest'
       and extract(hour from p_now at time zone 'UTC') >= coalesce((r.trigger_config ->> 'hour')::int, 8)
       and (r.trip_id is null or (t.status not in ('cancelled', 'completed')
                                  and (t.end_date is null or t.end_date >= v_today)))
    union all
    select r.id, r.user_id, r.trip_id, r.trigger_type, 'item:' || i.id, i.id
      from public.automation_rules r
      join public.trip_items i on i.trip_id = r.trip_id
     where r.is_enabled and r.trigger_type = 'item_starting_soon'
       and i.starts_at > p_now
       and i.starts_at <= p_now + make_interval(mins => coalesce((r.trigger_config ->> 'minutes')::int, 60))
    union all
    select r.id, r.user_id, r.trip_id, r.trigger_type, 'vote_closed:' || i.id, i.id
      from public.automation_rules r
      join public.trip_items i on i.trip_id = r.trip_id
     where r.is_enabled and r.trigger_type = 'vote_closed'
       and coalesce(i.voting_closed_at, i.voting_closes_at) <= p_now
       and (r.trigger_config ->> 'trip_item_id' is null or r.trigger_config ->> 'trip_item_id' = i.id::text)
  ), created as (
    insert into public.scheduled_jobs (user_id, rule_id, trip_id, job_type, payload, run_at)
    select d.user_id, d.rule_id, d.trip_id, 'automation',
           jsonb_build_object('occurrence', d.occurrence, 'trigger_type', d.trigger_type, 'item_id', d.item_id),
           p_now
      from due d
     where not exists (select 1 from public.scheduled_jobs j
                        where j.rule_id = d.rule_id and j.payload ->> 'occurrence' = d.occurrence)
    returning rule_id
  ), touched as (
    update public.automation_rules r set last_triggered_at = p_now
     where r.id in (select rule_id from created)
    returning 1
  )
  select count(*) into v_count from created;
  return v_count;
end;
$$;
revoke all on function private.evaluate_automation_rules(timestamptz) from public;

-- A vote closed by hand is acted on at once (the next dispatch tick), not at the next minute's
-- evaluation; a deadline passing is found by the evaluation cron job.
create or replace function private.on_voting_closed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.evaluate_automation_rules(now());
  return null;
end;
$$;
revoke all on function private.on_voting_closed() from public;
create trigger trip_items_on_voting_closed
  after update of voting_closed_at on public.trip_items
  for each row when (old.voting_closed_at is null and new.voting_closed_at is not null)
  execute function private.on_voting_closed();

------------------------------------------------------------------------------------------
-- Push tokens: the devices a user receives push notifications on (Expo push tokens).
------------------------------------------------------------------------------------------
create table public.push_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() constraint fk_push_tokens_user_id references auth.users (id) on delete cascade,
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
create policy "Users can view their own push tokens" on public.push_tokens
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can register their own push tokens" on public.push_tokens
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Users can update their own push tokens" on public.push_tokens
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Users can delete their own push tokens" on public.push_tokens
  for delete to authenticated using (user_id = (select auth.uid()));
