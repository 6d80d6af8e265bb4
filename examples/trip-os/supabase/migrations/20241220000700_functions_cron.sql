-- Stage 6 — what the edge functions and the scheduled work need: plan limits, the usage
-- checks every metered function goes through, subscription and delivery-status updates that
-- webhooks apply atomically, and the cron jobs (dispatch due scheduled jobs, evaluate
-- automation rules, open each month's usage period).
--
-- The RPCs below are called by edge functions with the service key; clients cannot execute
-- them. The cron jobs run as postgres and call functions through net.http_post with the
-- project URL and service key kept in Vault (`project_url`, `service_role_key`), as Supabase
-- documents for scheduling edge functions; `private.set_function_secrets()` stores them.

------------------------------------------------------------------------------------------
-- Plans and their monthly limits.
------------------------------------------------------------------------------------------
create table private.plan_limits (
  plan text primary key check (plan in ('free', 'explorer', 'pro')),
  ai_runs_limit integer not null check (ai_runs_limit >= 0),
  tokens_limit bigint not null check (tokens_limit >= 0),
  whatsapp_messages_limit integer not null check (whatsapp_messages_limit >= 0)
);
insert into private.plan_limits (plan, ai_runs_limit, tokens_limit, whatsapp_messages_limit) values
  ('free', 3, 20000, 5),
  ('explorer', 100, 1000000, 200),
  ('pro', 1000, 10000000, 2000);
revoke all on private.plan_limits from public, anon, authenticated;
grant select on private.plan_limits to service_role;

-- The plan a user pays for now (free without an active or trialing subscription).
create or replace function private.current_plan(p_user_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (select s.plan from public.subscriptions s
      where s.user_id = p_user_id and s.status in ('active', 'trialing')
      order by s.current_period_end desc nulls last
      limit 1),
    'free');
$$;

-- The usage period (calendar month, UTC) containing p_at, opened with the plan's limits if
-- it does not exist yet.
create or replace function private.ensure_usage_period(p_user_id uuid, p_at timestamptz default now())
returns public.usage_limits
language plpgsql
set search_path = ''
as $$
declare
  v_start timestamptz := date_trunc('month', p_at, 'UTC');
  v_row public.usage_limits;
begin
  insert into public.usage_limits (user_id, period_start, period_end, ai_runs_limit, tokens_limit,
                                   whatsapp_messages_limit)
  select p_user_id, v_start, (v_start at time zone 'UTC' + interval '1 month') at time zone 'UTC',
         l.ai_runs_limit, l.tokens_limit, l.whatsapp_messages_limit
    from private.plan_limits l
   where l.plan = private.current_plan(p_user_id)
  on conflict (user_id, period_start) do nothing;
  select * into v_row from public.usage_limits u
   where u.user_id = p_user_id and u.period_start = v_start;
  return v_row;
end;
$$;

-- Open the period containing p_at for every user (the monthly cron job; idempotent).
create or replace function private.open_usage_periods(p_at timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_before integer;
  v_after integer;
  v_start timestamptz := date_trunc('month', p_at, 'UTC');
begin
  select count(*) into v_before from public.usage_limits where period_start = v_start;
  perform private.ensure_usage_period(u.id, p_at) from auth.users u;
  select count(*) into v_after from public.usage_limits where period_start = v_start;
  return v_after - v_before;
end;
$$;

------------------------------------------------------------------------------------------
-- Usage checks (enforce-usage-limits, run-ai-agent, send-whatsapp-message).
------------------------------------------------------------------------------------------
-- Check, and unless p_commit is false consume, p_amount of p_kind in the user's current
-- period. 'ai_run' needs a run left and tokens left; 'whatsapp_message' a message left;
-- 'tokens' records tokens a finished run used (always allowed: the next run is refused).
-- The period row is locked, so concurrent calls cannot both take the last unit.
create or replace function public.consume_usage(p_user_id uuid, p_kind text, p_amount integer default 1,
                                                p_commit boolean default true)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_row public.usage_limits;
  v_allowed boolean;
  v_used bigint;
  v_limit bigint;
begin
  if p_kind not in ('ai_run', 'whatsapp_message', 'tokens') then
    raise exception 'unknown usage kind %', p_kind using errcode = '22023';
  end if;
  if p_amount is null or p_amount < 0 then
    raise exception 'amount must be a non-negative integer' using errcode = '22023';
  end if;
  perform private.ensure_usage_period(p_user_id);
  select * into v_row from public.usage_limits u
   where u.user_id = p_user_id and u.period_start = date_trunc('month', now(), 'UTC')
     for update;
  if p_kind = 'ai_run' then
    v_allowed := v_row.ai_runs_used + p_amount <= v_row.ai_runs_limit
                 and v_row.tokens_used < v_row.tokens_limit;
  elsif p_kind = 'whatsapp_message' then
    v_allowed := v_row.whatsapp_messages_used + p_amount <= v_row.whatsapp_messages_limit;
  else
    v_allowed := true;
  end if;
  if v_allowed and p_commit and p_amount > 0 then
    update public.usage_limits u set
      ai_runs_used = u.ai_runs_used + case when p_kind = 'ai_run' then p_amount else 0 end,
      whatsapp_messages_used = u.whatsapp_messages_used + case when p_kind = 'whatsapp_message' then p_amount else 0 end,
      tokens_used = u.tokens_used + case when p_kind = 'tokens' then p_amount else 0 end
    where u.id = v_row.id
    returning * into v_row;
  end if;
  if p_kind = 'ai_run' then
    v_used := v_row.ai_runs_used; v_limit := v_row.ai_runs_limit;
  elsif p_kind = 'whatsapp_message' then
    v_used := v_row.whatsapp_messages_used; v_limit := v_row.whatsapp_messages_limit;
  else
    v_used := v_row.tokens_used; v_limit := v_row.tokens_limit;
  end if;
  return jsonb_build_object(
    'allowed', v_allowed, 'kind', p_kind, 'plan', private.current_plan(p_user_id),
    'used', v_used, 'limit', v_limit, 'remaining', greatest(v_limit - v_used, 0),
    'tokens_used', v_row.tokens_used, 'tokens_limit', v_row.tokens_limit,
    'period_start', v_row.period_start, 'period_end', v_row.period_end);
end;
$$;

------------------------------------------------------------------------------------------
-- Stripe (handle-stripe-webhook).
------------------------------------------------------------------------------------------
-- Record a webhook event once: 'new' the first time, 'retry' while an earlier delivery has
-- not finished processing it, 'duplicate' once it has.
create or replace function public.begin_billing_event(p_event_id text, p_type text, p_payload jsonb,
                                                      p_user_id uuid default null)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_processed timestamptz;
begin
  insert into public.billing_events (stripe_event_id, type, payload, user_id)
  values (p_event_id, p_type, p_payload, p_user_id)
  on conflict (stripe_event_id) do nothing;
  if found then
    return 'new';
  end if;
  select processed_at into v_processed from public.billing_events where stripe_event_id = p_event_id;
  return case when v_processed is null then 'retry' else 'duplicate' end;
end;
$$;

-- Store a subscription as Stripe reports it and bring the current period's limits in line
-- with the plan it grants; returns the current usage period.
create or replace function public.sync_subscription(
  p_user_id uuid, p_stripe_subscription_id text, p_price_id text, p_plan text, p_status text,
  p_period_start timestamptz, p_period_end timestamptz, p_cancel_at_period_end boolean,
  p_canceled_at timestamptz)
returns public.usage_limits
language plpgsql
set search_path = ''
as $$
declare
  v_row public.usage_limits;
begin
  insert into public.subscriptions (user_id, stripe_subscription_id, stripe_price_id, plan, status,
                                    current_period_start, current_period_end, cancel_at_period_end, canceled_at)
  values (p_user_id, p_stripe_subscription_id, p_price_id, p_plan, p_status, p_period_start, p_period_end,
          coalesce(p_cancel_at_period_end, false), p_canceled_at)
  on conflict (stripe_subscription_id) do update set
    stripe_price_id = excluded.stripe_price_id, plan = excluded.plan, status = excluded.status,
    current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
    cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at;
  perform private.ensure_usage_period(p_user_id);
  update public.usage_limits u set
    ai_runs_limit = l.ai_runs_limit, tokens_limit = l.tokens_limit,
    whatsapp_messages_limit = l.whatsapp_messages_limit
  from private.plan_limits l
  where l.plan = private.current_plan(p_user_id)
    and u.user_id = p_user_id and u.period_start = date_trunc('month', now(), 'UTC')
  returning u.* into v_row;
  return v_row;
end;
$$;

------------------------------------------------------------------------------------------
-- WhatsApp delivery statuses (handle-whatsapp-webhook).
------------------------------------------------------------------------------------------
-- Apply a status Meta reports for an outbound message: statuses only move forward
-- (sent → delivered → read; failed from queued or sent), so a webhook delivered again changes
-- nothing. Each change is logged in delivery_logs (with the scheduled job that sent it).
-- Returns 'updated', 'unchanged' or 'unknown' (no such message).
create or replace function public.record_whatsapp_status(p_wa_message_id text, p_status text,
                                                         p_detail jsonb default '{}')
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_msg public.whatsapp_messages;
  v_rank constant jsonb := '{"queued": 0, "sent": 1, "delivered": 2, "read": 3}';
  v_job uuid;
begin
  if p_status not in ('sent', 'delivered', 'read', 'failed') then
    raise exception 'unknown WhatsApp status %', p_status using errcode = '22023';
  end if;
  select * into v_msg from public.whatsapp_messages m
   where m.wa_message_id = p_wa_message_id and m.direction = 'outbound'
     for update;
  if not found then
    return 'unknown';
  end if;
  if (p_status = 'failed' and v_msg.status not in ('queued', 'sent'))
     or (p_status <> 'failed' and (v_msg.status in ('failed', 'received')
         or (v_rank ->> p_status)::int <= (v_rank ->> v_msg.status)::int)) then
    return 'unchanged';
  end if;
  update public.whatsapp_messages m
     set status = p_status,
         error = case when p_status = 'failed' then coalesce(p_detail #>> '{errors,0,title}', 'failed') else m.error end
   where m.id = v_msg.id;
  select d.job_id into v_job from public.delivery_logs d
   where d.message_id = v_msg.id and d.job_id is not null limit 1;
  insert into public.delivery_logs (user_id, message_id, job_id, channel, status, detail)
  values (v_msg.user_id, v_msg.id, v_job, 'whatsapp', p_status, coalesce(p_detail, '{}'));
  return 'updated';
end;
$$;

revoke execute on function public.consume_usage(uuid, text, integer, boolean),
  public.begin_billing_event(text, text, jsonb, uuid),
  public.sync_subscription(uuid, text, text, text, text, timestamptz, timestamptz, boolean, timestamptz),
  public.record_whatsapp_status(text, text, jsonb)
  from public, anon, authenticated;
grant execute on function public.consume_usage(uuid, text, integer, boolean),
  public.begin_billing_event(text, text, jsonb, uuid),
  public.sync_subscription(uuid, text, text, text, text, timestamptz, timestamptz, boolean, timestamptz),
  public.record_whatsapp_status(text, text, jsonb)
  to service_role;
revoke all on function private.current_plan(uuid), private.ensure_usage_period(uuid, timestamptz),
  private.open_usage_periods(timestamptz) from public;
grant execute on function private.current_plan(uuid), private.ensure_usage_period(uuid, timestamptz)
  to service_role;

------------------------------------------------------------------------------------------
-- Scheduled jobs and automations.
------------------------------------------------------------------------------------------
-- Store (or replace) the project URL and service key the cron jobs call functions with.
create or replace function private.set_function_secrets(p_project_url text, p_service_role_key text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid;
begin
  select id into v_id from vault.secrets where name = 'project_url';
  if v_id is null then
    perform vault.create_secret(p_project_url, 'project_url', 'trip-os: base URL cron jobs call functions at');
  else
    perform vault.update_secret(v_id, p_project_url);
  end if;
  v_id := null;
  select id into v_id from vault.secrets where name = 'service_role_key';
  if v_id is null then
    perform vault.create_secret(p_service_role_key, 'service_role_key', 'trip-os: key cron jobs call functions with');
  else
    perform vault.update_secret(v_id, p_service_role_key);
  end if;
end;
$$;
revoke all on function private.set_function_secrets(text, text) from public;

-- Create one occurrence job per automation rule whose trigger holds at p_now (SQL only: the
-- dispatcher sends the jobs). Returns how many jobs were created. One job per occurrence: runs
-- are serialised by an advisory lock and skip occurrences that have a job already, so the
-- evaluation may run on several nodes, or again, without sending twice.
--   days_before_trip   trigger_config.days (default 1): from start_date - days until the trip starts
--   daily_digest       trigger_config.hour (UTC, default 8): once a day from that hour, until the trip ends
--   item_starting_soon trigger_config.minutes (default 60): each item starting within that window
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

-- Hand every due job to the function that performs it (net.http_post with the service key
-- from Vault). A job is marked running (attempt counted) before its call is queued; a job
-- whose call never reported back within 5 minutes is scheduled again, up to 5 attempts.
create or replace function private.dispatch_due_jobs()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_url text;
  v_key text;
  v_job record;
  v_count integer := 0;
begin
  update public.scheduled_jobs s
     set status = case when s.attempts >= 5 then 'failed' else 'scheduled' end,
         last_error = coalesce(s.last_error, 'the function did not report back')
   where s.status = 'running' and s.updated_at < now() - interval '5 minutes';
  if not exists (select 1 from public.scheduled_jobs s where s.status = 'scheduled' and s.run_at <= now()) then
    return 0;
  end if;
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into v_key from vault.decrypted_secrets where name = 'service_role_key';
  if v_url is null or v_key is null then
    raise exception 'trip-os: the vault secrets project_url and service_role_key are not set'
      using hint = 'select private.set_function_secrets(''<API URL>'', ''<service_role key>'')';
  end if;
  for v_job in
    update public.scheduled_jobs s
       set status = 'running', attempts = s.attempts + 1
     where s.id in (select d.id from public.scheduled_jobs d
                     where d.status = 'scheduled' and d.run_at <= now()
                     order by d.run_at
                     limit 50
                       for update skip locked)
    returning s.id, s.job_type
  loop
    if v_job.job_type not in ('automation', 'whatsapp_reminder') then
      update public.scheduled_jobs set status = 'failed', last_error = 'unknown job type' where id = v_job.id;
      continue;
    end if;
    perform net.http_post(
      url := rtrim(v_url, '/') || '/functions/v1/'
             || case v_job.job_type when 'automation' then 'trigger-automation' else 'send-whatsapp-message' end,
      body := jsonb_build_object('job_id', v_job.id),
      headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key),
      timeout_milliseconds := 15000);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
revoke all on function private.evaluate_automation_rules(timestamptz), private.dispatch_due_jobs() from public;

------------------------------------------------------------------------------------------
-- The cron jobs (pg_cron; basalt runs the seconds schedule). Without pg_cron the migration
-- still applies and says so: call the functions above from your own scheduler.
------------------------------------------------------------------------------------------
do $cron$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'trip-os: pg_cron is not available; the scheduled jobs are not installed';
    return;
  end if;
  create extension if not exists pg_cron with schema pg_catalog;
  perform cron.schedule('trip-os-dispatch-due-jobs', '5 seconds', 'select private.dispatch_due_jobs()');
  perform cron.schedule('trip-os-evaluate-automations', '* * * * *', 'select private.evaluate_automation_rules()');
  perform cron.schedule('trip-os-open-usage-periods', '5 0 1 * *', 'select private.open_usage_periods()');
  perform cron.schedule('trip-os-prune-cron-history', '30 3 * * *',
    $$delete from cron.job_run_details where end_time < now() - interval '7 days'$$);
end
$cron$;
