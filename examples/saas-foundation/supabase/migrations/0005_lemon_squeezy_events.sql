-- Added (not in the design's SQL): what the Lemon Squeezy webhook function needs to keep
-- `subscriptions` right when Lemon Squeezy delivers an event twice or out of order.
--
-- Every delivery the function accepts (its signature checked) is recorded once, keyed by the
-- SHA-256 of its raw body: Lemon Squeezy re-sends the same bytes when it retries, so a second
-- delivery finds its row and changes nothing. Events of one subscription apply in the order of
-- the subscription's `updated_at` (the event's time): an older event arriving late is recorded
-- as `stale` and not applied. Only the service role (the function) reads or writes this table.

create table if not exists public.lemon_squeezy_events (
    id bigint generated always as identity primary key,
    body_sha256 text not null unique,
    event_name text not null,
    lemon_squeezy_id text,
    user_id uuid references public.users(id) on delete set null,
    occurred_at timestamptz,
    outcome text not null check (outcome in ('applied', 'stale', 'ignored')),
    detail text,
    received_at timestamptz not null default now()
);

create index if not exists idx_lemon_squeezy_events_subscription
    on public.lemon_squeezy_events (lemon_squeezy_id, occurred_at desc) where outcome = 'applied';
create index if not exists idx_lemon_squeezy_events_user on public.lemon_squeezy_events (user_id);
create index if not exists idx_subscriptions_lemon_squeezy_id on public.subscriptions (lemon_squeezy_id);

alter table public.lemon_squeezy_events enable row level security;
-- No policy: users never see billing events; the service role bypasses RLS.
revoke all on public.lemon_squeezy_events from anon, authenticated;

-- Applies one verified event in one transaction. p_status null records an event the
-- foundation does not act on (orders, invoices, license keys). Returns
-- {"outcome": "applied" | "duplicate" | "stale" | "ignored", "subscription_id": …}.
create or replace function public.apply_lemon_squeezy_event(
    p_body_sha256 text,
    p_event_name text,
    p_lemon_squeezy_id text,
    p_user_id uuid,
    p_email text,
    p_status text,
    p_plan text,
    p_period_start timestamptz,
    p_period_end timestamptz,
    p_trial_ends_at timestamptz,
    p_occurred_at timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_user uuid;
    v_latest timestamptz;
    v_sub uuid;
begin
    -- One event of a subscription at a time (and one copy of a body at a time).
    perform pg_advisory_xact_lock(hashtext('lemon_squeezy:' || coalesce(p_lemon_squeezy_id, p_body_sha256)));
    if exists (select 1 from lemon_squeezy_events where body_sha256 = p_body_sha256) then
        return jsonb_build_object('outcome', 'duplicate');
    end if;

    if p_status is null then
        insert into lemon_squeezy_events (body_sha256, event_name, lemon_squeezy_id, occurred_at, outcome, detail)
        values (p_body_sha256, p_event_name, p_lemon_squeezy_id, p_occurred_at, 'ignored', 'event not handled');
        return jsonb_build_object('outcome', 'ignored');
    end if;

    -- The user: the checkout's custom data, else the subscription already linked, else the email.
    v_user := coalesce(
        (select id from users where id = p_user_id),
        (select user_id from subscriptions where lemon_squeezy_id = p_lemon_squeezy_id),
        (select id from users where lower(email) = lower(p_email) order by created_at limit 1));
    if v_user is null then
        insert into lemon_squeezy_events (body_sha256, event_name, lemon_squeezy_id, occurred_at, outcome, detail)
        values (p_body_sha256, p_event_name, p_lemon_squeezy_id, p_occurred_at, 'ignored', 'no matching user');
        return jsonb_build_object('outcome', 'ignored', 'detail', 'no matching user');
    end if;

    select max(occurred_at) into v_latest
    from lemon_squeezy_events
    where lemon_squeezy_id = p_lemon_squeezy_id and outcome = 'applied';
    if v_latest is not null and p_occurred_at < v_latest then
        insert into lemon_squeezy_events (body_sha256, event_name, lemon_squeezy_id, user_id, occurred_at, outcome, detail)
        values (p_body_sha256, p_event_name, p_lemon_squeezy_id, v_user, p_occurred_at, 'stale',
                'a later event (' || v_latest || ') was already applied');
        return jsonb_build_object('outcome', 'stale');
    end if;

    insert into subscriptions as s (user_id, status, plan, lemon_squeezy_id,
                                    current_period_start, current_period_end, trial_ends_at)
    values (v_user, p_status, p_plan, p_lemon_squeezy_id, p_period_start, p_period_end, p_trial_ends_at)
    on conflict (user_id) do update set
        status = excluded.status,
        plan = excluded.plan,
        lemon_squeezy_id = excluded.lemon_squeezy_id,
        -- A new billing period starts where the previous one ended.
        current_period_start = case
            when s.lemon_squeezy_id is distinct from excluded.lemon_squeezy_id then excluded.current_period_start
            when excluded.current_period_end > s.current_period_end then s.current_period_end
            else coalesce(s.current_period_start, excluded.current_period_start)
        end,
        current_period_end = excluded.current_period_end,
        trial_ends_at = excluded.trial_ends_at
    returning id into v_sub;

    insert into lemon_squeezy_events (body_sha256, event_name, lemon_squeezy_id, user_id, occurred_at, outcome)
    values (p_body_sha256, p_event_name, p_lemon_squeezy_id, v_user, p_occurred_at, 'applied');
    return jsonb_build_object('outcome', 'applied', 'subscription_id', v_sub, 'user_id', v_user);
end;
$$;

revoke all on function public.apply_lemon_squeezy_event(text, text, text, uuid, text, text, text, timestamptz, timestamptz, timestamptz, timestamptz) from public, anon, authenticated;
grant execute on function public.apply_lemon_squeezy_event(text, text, text, uuid, text, text, text, timestamptz, timestamptz, timestamptz, timestamptz) to service_role;
