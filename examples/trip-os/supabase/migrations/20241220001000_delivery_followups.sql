-- Follow-ups of deliveries and payments:
--  * push tickets: every ticket Expo answers is kept in push_tickets; its receipt is fetched
--    later (Expo's getReceipts) by a `push_receipts` scheduled job the dispatch cron job hands
--    to `check-push-receipts`; a device Expo reports as not registered loses its push token;
--  * AI runs the provider failed give their reserved run back (public.release_usage);
--  * Stripe events older than the one already applied to a subscription are not applied
--    (subscriptions.last_event_at, public.sync_subscription's p_event_at).

------------------------------------------------------------------------------------------
-- Push tickets and their receipts.
------------------------------------------------------------------------------------------
create table public.push_tickets (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_push_tickets_user_id references auth.users (id) on delete cascade,
  -- The scheduled job whose delivery produced the ticket (null when sent on demand).
  job_id uuid constraint fk_push_tickets_job_id references public.scheduled_jobs (id) on delete set null,
  -- The `push_receipts` job that fetches the ticket's receipt.
  receipt_job_id uuid constraint fk_push_tickets_receipt_job_id references public.scheduled_jobs (id) on delete set null,
  token text not null,
  -- Expo's ticket id (null when the ticket itself was an error).
  ticket_id text unique,
  status text not null default 'pending' check (status in ('pending', 'ok', 'error')),
  -- Expo's `details.error` (DeviceNotRegistered, MessageTooBig, MessageRateExceeded, …) and message.
  error text,
  message text,
  token_removed boolean not null default false,
  checked_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_push_tickets_user_id on public.push_tickets (user_id);
create index idx_push_tickets_job_id on public.push_tickets (job_id);
create index idx_push_tickets_receipt_job_id on public.push_tickets (receipt_job_id);
create index idx_push_tickets_pending on public.push_tickets (created_at) where status = 'pending';

create trigger push_tickets_set_updated_at
  before update on public.push_tickets
  for each row execute function private.set_updated_at();

alter table public.push_tickets enable row level security;
create policy "Users can view their own push tickets" on public.push_tickets
  for select to authenticated using (user_id = (select auth.uid()));

------------------------------------------------------------------------------------------
-- A reserved AI run given back when the provider failed.
------------------------------------------------------------------------------------------
-- Give back p_amount of p_kind ('ai_run' or 'whatsapp_message') taken from the period that
-- starts at p_period_start (the current one when null). Returns what is used afterwards.
create or replace function public.release_usage(p_user_id uuid, p_kind text, p_amount integer default 1,
                                                p_period_start timestamptz default null)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_used integer;
begin
  if p_kind not in ('ai_run', 'whatsapp_message') then
    raise exception 'unknown usage kind %', p_kind using errcode = '22023';
  end if;
  if p_amount is null or p_amount < 0 then
    raise exception 'amount must be a non-negative integer' using errcode = '22023';
  end if;
  update public.usage_limits u set
    ai_runs_used = case when p_kind = 'ai_run' then greatest(u.ai_runs_used - p_amount, 0) else u.ai_runs_used end,
    whatsapp_messages_used = case when p_kind = 'whatsapp_message'
                                  then greatest(u.whatsapp_messages_used - p_amount, 0) else u.whatsapp_messages_used end
   where u.user_id = p_user_id
     and u.period_start = coalesce(p_period_start, date_trunc('month', now(), 'UTC'))
  returning case when p_kind = 'ai_run' then u.ai_runs_used else u.whatsapp_messages_used end into v_used;
  return coalesce(v_used, 0);
end;
$$;
revoke execute on function public.release_usage(uuid, text, integer, timestamptz) from public, anon, authenticated;
grant execute on function public.release_usage(uuid, text, integer, timestamptz) to service_role;

------------------------------------------------------------------------------------------
-- Stripe events in the order Stripe created them.
------------------------------------------------------------------------------------------
alter table public.subscriptions add column last_event_at timestamptz;
comment on column public.subscriptions.last_event_at is
  'created time of the Stripe event whose state the row holds; older events are not applied';

drop function public.sync_subscription(uuid, text, text, text, text, timestamptz, timestamptz, boolean, timestamptz);

-- Store a subscription as Stripe reports it (unless the row already holds the state of a newer
-- event: p_event_at, the event's `created`) and bring the current period's limits in line with
-- the plan; returns the current usage period and `stale` (true when nothing was applied).
create or replace function public.sync_subscription(
  p_user_id uuid, p_stripe_subscription_id text, p_price_id text, p_plan text, p_status text,
  p_period_start timestamptz, p_period_end timestamptz, p_cancel_at_period_end boolean,
  p_canceled_at timestamptz, p_event_at timestamptz default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_row public.usage_limits;
  v_applied integer;
begin
  insert into public.subscriptions (user_id, stripe_subscription_id, stripe_price_id, plan, status,
                                    current_period_start, current_period_end, cancel_at_period_end,
                                    canceled_at, last_event_at)
  values (p_user_id, p_stripe_subscription_id, p_price_id, p_plan, p_status, p_period_start, p_period_end,
          coalesce(p_cancel_at_period_end, false), p_canceled_at, p_event_at)
  on conflict (stripe_subscription_id) do update set
    stripe_price_id = excluded.stripe_price_id, plan = excluded.plan, status = excluded.status,
    current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
    cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at,
    last_event_at = coalesce(excluded.last_event_at, public.subscriptions.last_event_at)
  where excluded.last_event_at is null
     or public.subscriptions.last_event_at is null
     or public.subscriptions.last_event_at <= excluded.last_event_at;
  get diagnostics v_applied = row_count;
  perform private.ensure_usage_period(p_user_id);
  update public.usage_limits u set
    ai_runs_limit = l.ai_runs_limit, tokens_limit = l.tokens_limit,
    whatsapp_messages_limit = l.whatsapp_messages_limit
  from private.plan_limits l
  where l.plan = private.current_plan(p_user_id)
    and u.user_id = p_user_id and u.period_start = date_trunc('month', now(), 'UTC')
  returning u.* into v_row;
  return to_jsonb(v_row) || jsonb_build_object('stale', v_applied = 0);
end;
$$;
revoke execute on function public.sync_subscription(uuid, text, text, text, text, timestamptz, timestamptz,
                                                    boolean, timestamptz, timestamptz)
  from public, anon, authenticated;
grant execute on function public.sync_subscription(uuid, text, text, text, text, timestamptz, timestamptz,
                                                   boolean, timestamptz, timestamptz)
  to service_role;

------------------------------------------------------------------------------------------
-- The dispatcher also hands `push_receipts` jobs to check-push-receipts.
------------------------------------------------------------------------------------------
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
  v_function text;
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
    v_function := case v_job.job_type
                    when 'automation' then 'trigger-automation'
                    when 'whatsapp_reminder' then 'send-whatsapp-message'
                    when 'push_receipts' then 'check-push-receipts'
                  end;
    if v_function is null then
      update public.scheduled_jobs set status = 'failed', last_error = 'unknown job type' where id = v_job.id;
      continue;
    end if;
    perform net.http_post(
      url := rtrim(v_url, '/') || '/functions/v1/' || v_function,
      body := jsonb_build_object('job_id', v_job.id),
      headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key),
      timeout_milliseconds := 15000);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
revoke all on function private.dispatch_due_jobs() from public;
