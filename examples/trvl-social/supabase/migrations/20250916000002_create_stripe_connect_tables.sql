-- Phase 3 and 6 (design: 008_create_stripe_connect_tables, 010_create_split_payment_tables,
-- 011_add_payment_tokens_table) — Stripe Connect: vendors' connected accounts and their
-- onboarding, the catalogue mirrored to Stripe, payment intents, saved payment methods and the
-- split-payment deadline reminders. Stripe is the source of truth: everything here is written
-- by the functions with the service role (stripe-connect, stripe-payments, stripe-webhook);
-- users read what concerns them.

create table public.stripe_accounts (
  id uuid primary key default gen_random_uuid(),
  vendor_id uuid not null unique references public.vendors (id) on delete cascade,
  stripe_account_id text not null unique check (stripe_account_id ~ '^acct_'),
  account_type text not null default 'express' check (account_type in ('express', 'standard', 'custom')),
  country text not null default 'US' check (country ~ '^[A-Z]{2}$'),
  default_currency text not null default 'USD' check (default_currency ~ '^[A-Z]{3}$'),
  charges_enabled boolean not null default false,
  payouts_enabled boolean not null default false,
  details_submitted boolean not null default false,
  requirements jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.stripe_account_onboarding (
  id uuid primary key default gen_random_uuid(),
  stripe_account_id uuid not null references public.stripe_accounts (id) on delete cascade,
  status text not null default 'link_created' check (status in ('link_created', 'in_progress', 'completed', 'expired', 'restricted')),
  link_url text,
  link_expires_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_stripe_account_onboarding_account on public.stripe_account_onboarding (stripe_account_id, created_at desc);

create table public.stripe_products (
  id uuid primary key default gen_random_uuid(),
  stripe_product_id text not null unique check (stripe_product_id ~ '^prod_'),
  adventure_id uuid unique references public.adventures (id) on delete cascade,
  vendor_id uuid references public.vendors (id) on delete cascade,
  name text not null,
  active boolean not null default true,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_stripe_products_vendor_id on public.stripe_products (vendor_id);

create table public.stripe_prices (
  id uuid primary key default gen_random_uuid(),
  stripe_price_id text not null unique check (stripe_price_id ~ '^price_'),
  product_id uuid not null references public.stripe_products (id) on delete cascade,
  unit_amount bigint not null check (unit_amount >= 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  type text not null default 'one_time' check (type in ('one_time', 'recurring')),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_stripe_prices_product_id on public.stripe_prices (product_id);

create table public.stripe_payment_intents (
  id uuid primary key default gen_random_uuid(),
  stripe_payment_intent_id text not null unique check (stripe_payment_intent_id ~ '^pi_'),
  booking_id uuid not null references public.bookings (id) on delete cascade,
  payment_split_id uuid references public.payment_splits (id) on delete set null,
  user_id uuid not null references public.profiles (id) on delete cascade,
  destination_account_id uuid references public.stripe_accounts (id) on delete set null,
  amount bigint not null check (amount > 0),
  application_fee_amount bigint not null default 0 check (application_fee_amount >= 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  status text not null default 'requires_payment_method' check (status in ('requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'succeeded', 'canceled', 'failed')),
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_stripe_payment_intents_booking_id on public.stripe_payment_intents (booking_id);
create index idx_stripe_payment_intents_payment_split_id on public.stripe_payment_intents (payment_split_id);
create index idx_stripe_payment_intents_user_id on public.stripe_payment_intents (user_id);
create index idx_stripe_payment_intents_destination on public.stripe_payment_intents (destination_account_id);

-- Saved payment methods: only Stripe's reference and what a wallet shows, never card data.
create table public.payment_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  stripe_customer_id text not null check (stripe_customer_id ~ '^cus_'),
  stripe_payment_method_id text not null unique check (stripe_payment_method_id ~ '^pm_'),
  brand text,
  last4 text check (last4 ~ '^[0-9]{4}$'),
  exp_month smallint check (exp_month between 1 and 12),
  exp_year smallint check (exp_year >= 2000),
  is_default boolean not null default false,
  created_at timestamptz not null default now()
);
create index idx_payment_tokens_user_id on public.payment_tokens (user_id);
create unique index idx_payment_tokens_one_default on public.payment_tokens (user_id) where is_default;

-- Split payments: a reminder per split and day while it is unpaid and due soon.
alter table public.payment_splits
  add column reminder_count integer not null default 0,
  add column last_reminded_at timestamptz;
-- The reminder job's index is built concurrently in 20250916000009.

create table public.split_payment_reminders (
  id uuid primary key default gen_random_uuid(),
  payment_split_id uuid not null references public.payment_splits (id) on delete cascade,
  payer_id uuid not null references public.profiles (id) on delete cascade,
  reminder_date date not null default current_date,
  due_date date not null,
  channel text not null default 'in_app' check (channel in ('in_app', 'email', 'whatsapp')),
  created_at timestamptz not null default now(),
  unique (payment_split_id, reminder_date)
);
create index idx_split_payment_reminders_payer_id on public.split_payment_reminders (payer_id);

create trigger stripe_accounts_set_updated_at before update on public.stripe_accounts
  for each row execute function private.set_updated_at();
create trigger stripe_account_onboarding_set_updated_at before update on public.stripe_account_onboarding
  for each row execute function private.set_updated_at();
create trigger stripe_products_set_updated_at before update on public.stripe_products
  for each row execute function private.set_updated_at();
create trigger stripe_prices_set_updated_at before update on public.stripe_prices
  for each row execute function private.set_updated_at();
create trigger stripe_payment_intents_set_updated_at before update on public.stripe_payment_intents
  for each row execute function private.set_updated_at();

alter table public.stripe_accounts enable row level security;
alter table public.stripe_account_onboarding enable row level security;
alter table public.stripe_products enable row level security;
alter table public.stripe_prices enable row level security;
alter table public.stripe_payment_intents enable row level security;
alter table public.payment_tokens enable row level security;
alter table public.split_payment_reminders enable row level security;
revoke insert, update, delete on public.stripe_accounts, public.stripe_account_onboarding, public.stripe_products,
  public.stripe_prices, public.stripe_payment_intents, public.split_payment_reminders from anon, authenticated;
revoke insert, update on public.payment_tokens from anon, authenticated;

create policy "Vendors and admins view connected accounts" on public.stripe_accounts
  for select to authenticated using (private.is_vendor_owner(vendor_id) or (select private.is_admin()));
create policy "Vendors and admins view onboarding" on public.stripe_account_onboarding
  for select to authenticated using (exists (
    select 1 from public.stripe_accounts a where a.id = stripe_account_onboarding.stripe_account_id
      and (private.is_vendor_owner(a.vendor_id) or (select private.is_admin()))));
create policy "Active catalogue is public" on public.stripe_products
  for select using (active or private.is_vendor_owner(vendor_id));
create policy "Active prices are public" on public.stripe_prices
  for select using (active and exists (select 1 from public.stripe_products p where p.id = product_id and p.active));
create policy "Payers, booking owners and vendors view payment intents" on public.stripe_payment_intents
  for select to authenticated using (user_id = (select auth.uid()) or private.is_booking_owner(booking_id)
    or private.is_booking_vendor(booking_id) or (select private.is_admin()));
create policy "Users view own payment methods" on public.payment_tokens
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users remove own payment methods" on public.payment_tokens
  for delete to authenticated using (user_id = (select auth.uid()));
create policy "Payers view own reminders" on public.split_payment_reminders
  for select to authenticated using (payer_id = (select auth.uid()));

-- Needs cron (daily, below): remind payers of unpaid splits due within p_days; once per split and day.
create or replace function public.remind_due_payment_splits(p_days integer default 3)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  s record;
  n integer := 0;
begin
  for s in
    select ps.id, ps.payer_id, ps.due_date, ps.amount, ps.currency, ps.booking_id, b.user_id as organiser
    from public.payment_splits ps join public.bookings b on b.id = ps.booking_id
    where ps.status in ('pending', 'failed') and ps.due_date is not null
      and ps.due_date <= current_date + p_days and b.status not in ('cancelled', 'refunded')
  loop
    insert into public.split_payment_reminders (payment_split_id, payer_id, due_date)
    values (s.id, s.payer_id, s.due_date)
    on conflict (payment_split_id, reminder_date) do nothing;
    if found then
      update public.payment_splits set reminder_count = reminder_count + 1, last_reminded_at = now() where id = s.id;
      perform private.notify(s.payer_id, s.organiser, 'payment', 'Your share is due',
        format('%s %s due on %s', s.amount, s.currency, s.due_date),
        jsonb_build_object('booking_id', s.booking_id, 'payment_split_id', s.id, 'due_date', s.due_date));
      n := n + 1;
    end if;
  end loop;
  return n;
end;
$$;
revoke all on function public.remind_due_payment_splits(integer) from public, anon, authenticated;
grant execute on function public.remind_due_payment_splits(integer) to service_role;
