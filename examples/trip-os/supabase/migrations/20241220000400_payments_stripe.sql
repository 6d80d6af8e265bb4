-- Stage 4 — payments: Stripe customers, subscriptions, usage limits, billing events, invoices.
--
-- Everything here is written by `create-checkout-session`, `handle-stripe-webhook` and
-- `enforce-usage-limits` with the service role. Clients read their own rows only.

create table public.stripe_customers (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique constraint fk_stripe_customers_user_id references auth.users (id) on delete cascade,
  stripe_customer_id text not null unique,
  email text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.subscriptions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_subscriptions_user_id references auth.users (id) on delete cascade,
  stripe_subscription_id text not null unique,
  stripe_price_id text not null,
  plan text not null check (plan in ('free', 'explorer', 'pro')),
  status text not null check (status in ('trialing', 'active', 'past_due', 'canceled', 'incomplete', 'incomplete_expired', 'unpaid', 'paused')),
  current_period_start timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  canceled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_subscriptions_user_id on public.subscriptions (user_id);
create index idx_subscriptions_status on public.subscriptions (status);
create index idx_subscriptions_user_id_status on public.subscriptions (user_id, status);

create trigger subscriptions_set_updated_at
  before update on public.subscriptions
  for each row execute function private.set_updated_at();

create table public.usage_limits (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_usage_limits_user_id references auth.users (id) on delete cascade,
  period_start timestamptz not null,
  period_end timestamptz not null,
  ai_runs_limit integer not null default 20,
  ai_runs_used integer not null default 0 check (ai_runs_used >= 0),
  tokens_limit bigint not null default 200000,
  tokens_used bigint not null default 0 check (tokens_used >= 0),
  whatsapp_messages_limit integer not null default 50,
  whatsapp_messages_used integer not null default 0 check (whatsapp_messages_used >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint usage_limits_period_ordered check (period_end > period_start),
  constraint usage_limits_user_id_period_start_key unique (user_id, period_start)
);
create index idx_usage_limits_user_id on public.usage_limits (user_id);

create trigger usage_limits_set_updated_at
  before update on public.usage_limits
  for each row execute function private.set_updated_at();

create table public.billing_events (
  id uuid primary key default gen_random_uuid(),
  user_id uuid constraint fk_billing_events_user_id references auth.users (id) on delete set null,
  stripe_event_id text not null unique,
  type text not null,
  payload jsonb not null,
  processed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_billing_events_user_id_created_at on public.billing_events (user_id, created_at desc);
create index idx_billing_events_type on public.billing_events (type);

create table public.invoices (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_invoices_user_id references auth.users (id) on delete cascade,
  subscription_id uuid constraint fk_invoices_subscription_id references public.subscriptions (id) on delete set null,
  stripe_invoice_id text not null unique,
  amount_due numeric(12, 2) not null,
  amount_paid numeric(12, 2) not null default 0,
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  status text not null check (status in ('draft', 'open', 'paid', 'uncollectible', 'void')),
  hosted_invoice_url text,
  period_start timestamptz,
  period_end timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_invoices_user_id_created_at on public.invoices (user_id, created_at desc);
create index idx_invoices_subscription_id on public.invoices (subscription_id);

create trigger invoices_set_updated_at
  before update on public.invoices
  for each row execute function private.set_updated_at();

alter table public.stripe_customers enable row level security;
alter table public.subscriptions enable row level security;
alter table public.usage_limits enable row level security;
alter table public.billing_events enable row level security;
alter table public.invoices enable row level security;

create policy "Users can view their own Stripe customer" on public.stripe_customers
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can view their own subscriptions" on public.subscriptions
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can view their own usage limits" on public.usage_limits
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can view their own billing events" on public.billing_events
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can view their own invoices" on public.invoices
  for select to authenticated using (user_id = (select auth.uid()));

revoke insert, update, delete on public.stripe_customers, public.subscriptions, public.usage_limits,
  public.billing_events, public.invoices from anon, authenticated;

-- The current period's remaining AI runs for the signed-in user (what the app shows before
-- calling `run-ai-agent`; `enforce-usage-limits` performs the authoritative check).
create or replace function public.remaining_ai_runs()
returns integer
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce(
    (select greatest(u.ai_runs_limit - u.ai_runs_used, 0)
       from public.usage_limits u
      where u.user_id = (select auth.uid()) and now() >= u.period_start and now() < u.period_end
      order by u.period_start desc
      limit 1),
    0);
$$;
revoke execute on function public.remaining_ai_runs() from anon, public;
grant execute on function public.remaining_ai_runs() to authenticated;
