-- Billing: AI models and their credit cost, products and prices synced from Stripe/Whop,
-- subscriptions, the customer mapping, credit balances and their transaction history, and the
-- idempotency record of processed webhooks.

create table public.ai_models (
  id uuid primary key default extensions.uuid_generate_v4(),
  name text not null,
  provider text not null check (provider in ('openai', 'anthropic', 'google', 'meta', 'mistral')),
  openrouter_id text not null unique,
  description text,
  logo_key text, -- file name in the public bucket `ai-model-logos`
  credit_cost numeric(8, 2) not null check (credit_cost > 0),
  model_type text not null check (model_type in ('fast', 'advanced', 'affordable')),
  max_context_tokens integer,
  supports_text boolean not null default true,
  supports_images boolean not null default false,
  supports_audio boolean not null default false,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.products (
  id text primary key,
  name text not null,
  description text,
  image text,
  active boolean not null default true,
  source text not null default 'stripe' check (source in ('stripe', 'whop')),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.prices (
  id text primary key,
  product_id text not null references public.products (id) on delete cascade,
  description text,
  unit_amount bigint not null check (unit_amount >= 0),
  currency text not null check (char_length(currency) = 3),
  type text not null check (type in ('one_time', 'recurring')),
  interval text check (interval in ('day', 'week', 'month', 'year')),
  interval_count integer not null default 1 check (interval_count > 0),
  trial_period_days integer not null default 0 check (trial_period_days >= 0),
  active boolean not null default true,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_prices_product_id on public.prices (product_id);

create table public.subscriptions (
  id text primary key,
  user_id uuid not null references public.users (id) on delete cascade,
  price_id text references public.prices (id),
  status text not null check (status in ('trialing', 'active', 'canceled', 'incomplete', 'incomplete_expired', 'past_due', 'unpaid', 'paused')),
  source text not null default 'stripe' check (source in ('stripe', 'whop')),
  quantity integer not null default 1 check (quantity > 0),
  cancel_at_period_end boolean not null default false,
  current_period_start timestamptz not null default now(),
  current_period_end timestamptz not null default now(),
  trial_start timestamptz,
  trial_end timestamptz,
  cancel_at timestamptz,
  canceled_at timestamptz,
  ended_at timestamptz,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_subscriptions_user_id on public.subscriptions (user_id);
create index idx_subscriptions_price_id on public.subscriptions (price_id);

create table public.customers (
  id uuid primary key references auth.users (id) on delete cascade,
  stripe_customer_id text unique,
  whop_customer_id text unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.user_credits (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null unique references public.users (id) on delete cascade,
  subscription_id text references public.subscriptions (id) on delete set null,
  credits_balance integer not null default 0 check (credits_balance >= 0),
  plan_credits integer not null default 0 check (plan_credits >= 0),
  next_reset_at timestamptz,
  storage_used_mb float8 not null default 0 check (storage_used_mb >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_user_credits_subscription_id on public.user_credits (subscription_id);

create table public.credit_transactions (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  transaction_type text not null check (transaction_type in ('deduction', 'refund', 'purchase', 'monthly_reset', 'trial_grant', 'bonus')),
  credits_amount integer not null check (credits_amount <> 0),
  credits_balance_after integer not null check (credits_balance_after >= 0),
  reason text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index idx_credit_transactions_user_created on public.credit_transactions (user_id, created_at desc);

create table public.webhook_events (
  id uuid primary key default extensions.uuid_generate_v4(),
  stripe_event_id text unique,
  whop_event_id text unique,
  event_type text not null,
  source text not null check (source in ('stripe', 'whop')),
  payload jsonb not null,
  processed_at timestamptz not null default now(),
  check ((source = 'stripe' and stripe_event_id is not null) or (source = 'whop' and whop_event_id is not null))
);

alter table public.ai_models enable row level security;
alter table public.products enable row level security;
alter table public.prices enable row level security;
alter table public.subscriptions enable row level security;
alter table public.customers enable row level security;
alter table public.user_credits enable row level security;
alter table public.credit_transactions enable row level security;
alter table public.webhook_events enable row level security;

-- The catalogue is public (pricing page, model picker).
create policy "Anyone reads active models" on public.ai_models
  for select to anon, authenticated using (is_active);
create policy "Anyone reads active products" on public.products
  for select to anon, authenticated using (active);
create policy "Anyone reads active prices" on public.prices
  for select to anon, authenticated using (active);

-- Billing state is written by the webhook handlers (service role); people read their own.
create policy "Users read their subscriptions" on public.subscriptions
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users read their credit balance" on public.user_credits
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users read their credit history" on public.credit_transactions
  for select to authenticated using ((select auth.uid()) = user_id);
-- customers and webhook_events: no policies, the service role only.

-- Credits move only through these functions, which keep the balance and the history in step.
-- Deduct `p_amount` credits (an AI call); fails with HTTP 402 (PT402) when the balance is short.
create or replace function public.deduct_credits(p_user_id uuid, p_amount integer, p_reason text, p_metadata jsonb default '{}'::jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance integer;
begin
  if p_amount is null or p_amount <= 0 then
    raise exception using errcode = '22023', message = 'amount must be positive';
  end if;
  update public.user_credits
  set credits_balance = credits_balance - p_amount
  where user_id = p_user_id and credits_balance >= p_amount
  returning credits_balance into v_balance;
  if v_balance is null then
    raise exception using errcode = 'PT402', message = 'Insufficient credits',
      detail = format('%s credits needed', p_amount);
  end if;
  insert into public.credit_transactions (user_id, transaction_type, credits_amount, credits_balance_after, reason, metadata)
  values (p_user_id, 'deduction', -p_amount, v_balance, p_reason, coalesce(p_metadata, '{}'::jsonb));
  return v_balance;
end;
$$;

-- Add credits (purchase, refund, bonus, trial grant) or reset to the plan allowance.
create or replace function public.add_credits(p_user_id uuid, p_amount integer, p_type text, p_reason text, p_metadata jsonb default '{}'::jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance integer;
  v_delta integer;
begin
  if p_type = 'monthly_reset' then
    select uc.plan_credits - uc.credits_balance into v_delta from public.user_credits uc where uc.user_id = p_user_id;
    update public.user_credits set credits_balance = plan_credits, next_reset_at = now() + interval '1 month'
    where user_id = p_user_id returning credits_balance into v_balance;
  else
    if p_type not in ('refund', 'purchase', 'trial_grant', 'bonus') or p_amount is null or p_amount <= 0 then
      raise exception using errcode = '22023', message = 'invalid credit grant';
    end if;
    v_delta := p_amount;
    update public.user_credits set credits_balance = credits_balance + p_amount
    where user_id = p_user_id returning credits_balance into v_balance;
  end if;
  if v_balance is null then
    raise exception using errcode = 'P0002', message = 'No credit account for this user';
  end if;
  if v_delta <> 0 then
    insert into public.credit_transactions (user_id, transaction_type, credits_amount, credits_balance_after, reason, metadata)
    values (p_user_id, p_type, v_delta, v_balance, p_reason, coalesce(p_metadata, '{}'::jsonb));
  end if;
  return v_balance;
end;
$$;

-- Process a credit-pack purchase webhook exactly once: the event id is recorded first, and a
-- replayed event (providers retry) changes nothing. Returns false for a replay.
create or replace function public.handle_credit_purchase_webhook(p_source text, p_event_id text, p_event_type text, p_payload jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into public.webhook_events (stripe_event_id, whop_event_id, event_type, source, payload)
  values (case when p_source = 'stripe' then p_event_id end, case when p_source = 'whop' then p_event_id end,
          p_event_type, p_source, p_payload)
  on conflict do nothing
  returning id into v_id;
  if v_id is null then
    return false;
  end if;
  perform public.add_credits((p_payload #>> '{metadata,user_id}')::uuid, (p_payload #>> '{metadata,credits}')::integer,
                             'purchase', 'Credit pack purchase',
                             jsonb_build_object('event_id', p_event_id, 'source', p_source));
  return true;
end;
$$;

revoke execute on function public.deduct_credits(uuid, integer, text, jsonb),
  public.add_credits(uuid, integer, text, text, jsonb),
  public.handle_credit_purchase_webhook(text, text, text, jsonb) from public, anon, authenticated;
grant execute on function public.deduct_credits(uuid, integer, text, jsonb),
  public.add_credits(uuid, integer, text, text, jsonb),
  public.handle_credit_purchase_webhook(text, text, text, jsonb) to service_role;
