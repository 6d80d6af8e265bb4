-- Added (not in the design's SQL): usage metering on top of the design's `usage_counters`.
--
-- `plan_quotas` says, per plan and metric, the window (`day` or `month`, UTC) and the quota
-- (null: unlimited). `record_usage` (service role only; the `track-usage` function calls it)
-- adds usage to the user's counter of the current window — created on first use — and refuses
-- an amount that would pass the quota of their plan, atomically (the counter row is locked, so
-- concurrent calls cannot both take the last unit). The plan is the subscription's while it is
-- active, on trial or past due, else free. `usage_summary()` answers the caller's metrics under
-- their own row level security.

create schema if not exists private;
revoke all on schema private from public, anon, authenticated;

create table if not exists public.plan_quotas (
    plan text not null check (plan in ('free', 'basic', 'pro')),
    metric text not null,
    period text not null check (period in ('day', 'month')),
    quota integer check (quota >= 0),
    primary key (plan, metric)
);
alter table public.plan_quotas enable row level security;
-- The price list is public knowledge for signed-in users; only migrations change it.
create policy "Signed-in users read the plan quotas" on public.plan_quotas
    for select to authenticated using (true);
revoke insert, update, delete on public.plan_quotas from anon, authenticated;

insert into public.plan_quotas (plan, metric, period, quota) values
    ('free', 'api_calls', 'month', 1000),   ('basic', 'api_calls', 'month', 10000),  ('pro', 'api_calls', 'month', 100000),
    ('free', 'agent_runs', 'month', 20),    ('basic', 'agent_runs', 'month', 200),   ('pro', 'agent_runs', 'month', 2000),
    ('free', 'storage_mb', 'month', 100),   ('basic', 'storage_mb', 'month', 1000),  ('pro', 'storage_mb', 'month', 10000),
    ('free', 'exports', 'day', 3),          ('basic', 'exports', 'day', 20),         ('pro', 'exports', 'day', null)
on conflict (plan, metric) do nothing;

create or replace function private.current_plan(p_user_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
    select coalesce(
        (select s.plan from public.subscriptions s
          where s.user_id = p_user_id and s.status in ('active', 'trial', 'past_due')),
        'free');
$$;

-- The window of `period` containing p_at (UTC).
create or replace function private.usage_window(p_period text, p_at timestamptz, out window_start timestamptz, out window_end timestamptz)
language sql
immutable
set search_path = ''
as $$
    select date_trunc(p_period, p_at, 'UTC'),
           (date_trunc(p_period, p_at, 'UTC') at time zone 'UTC' + ('1 ' || p_period)::interval) at time zone 'UTC';
$$;

create or replace function public.record_usage(p_user_id uuid, p_metric text, p_amount integer default 1,
                                               p_dry_run boolean default false, p_at timestamptz default now())
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_plan text;
    v_quota public.plan_quotas;
    v_window record;
    v_count integer;
    v_allowed boolean;
begin
    if p_amount is null or p_amount < 1 then
        raise exception 'amount must be a positive integer' using errcode = '22023';
    end if;
    if not exists (select 1 from public.users u where u.id = p_user_id) then
        raise exception 'no such user' using errcode = 'P0002';
    end if;
    v_plan := private.current_plan(p_user_id);
    select * into v_quota from public.plan_quotas q where q.plan = v_plan and q.metric = p_metric;
    if not found then
        raise exception 'unknown metric %', p_metric using errcode = '22023';
    end if;
    select * into v_window from private.usage_window(v_quota.period, p_at);
    insert into public.usage_counters (user_id, metric, count, window_start, window_end)
    values (p_user_id, p_metric, 0, v_window.window_start, v_window.window_end)
    on conflict (user_id, metric, window_start) do nothing;
    select c.count into v_count from public.usage_counters c
     where c.user_id = p_user_id and c.metric = p_metric and c.window_start = v_window.window_start
       for update;
    v_allowed := v_quota.quota is null or v_count + p_amount <= v_quota.quota;
    if v_allowed and not p_dry_run then
        update public.usage_counters c set count = c.count + p_amount
         where c.user_id = p_user_id and c.metric = p_metric and c.window_start = v_window.window_start
        returning c.count into v_count;
    end if;
    return jsonb_build_object(
        'allowed', v_allowed, 'recorded', v_allowed and not p_dry_run,
        'plan', v_plan, 'metric', p_metric, 'period', v_quota.period, 'amount', p_amount,
        'used', v_count, 'quota', v_quota.quota,
        'remaining', case when v_quota.quota is null then null else greatest(v_quota.quota - v_count, 0) end,
        'window_start', v_window.window_start, 'window_end', v_window.window_end);
end;
$$;
revoke all on function public.record_usage(uuid, text, integer, boolean, timestamptz) from public, anon, authenticated;
grant execute on function public.record_usage(uuid, text, integer, boolean, timestamptz) to service_role;

-- The caller's metrics in the current windows of their plan (counters read under RLS).
create or replace function public.usage_summary()
returns table (metric text, period text, used integer, quota integer, remaining integer,
               window_start timestamptz, window_end timestamptz, plan text)
language sql
stable
set search_path = ''
as $$
    with me as (
        select coalesce((select s.plan from public.subscriptions s
                          where s.user_id = (select auth.uid()) and s.status in ('active', 'trial', 'past_due')), 'free') as plan
    )
    select q.metric, q.period, coalesce(c.count, 0), q.quota,
           case when q.quota is null then null else greatest(q.quota - coalesce(c.count, 0), 0) end,
           w.window_start, w.window_end, me.plan
      from me
      join public.plan_quotas q on q.plan = me.plan
      cross join lateral private.usage_window(q.period, now()) w
      left join public.usage_counters c
        on c.user_id = (select auth.uid()) and c.metric = q.metric and c.window_start = w.window_start
     where (select auth.uid()) is not null
     order by q.metric;
$$;
revoke all on function public.usage_summary() from public, anon;
grant execute on function public.usage_summary() to authenticated;
grant usage on schema private to authenticated;
grant execute on function private.usage_window(text, timestamptz) to authenticated;
revoke all on function private.current_plan(uuid) from public, anon, authenticated;
