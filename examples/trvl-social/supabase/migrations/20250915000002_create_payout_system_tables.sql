-- Phase 6 — vendor payouts: each vendor's schedule (which they choose) and the payout
-- transactions the payout job records through Stripe Connect (service role).

create table public.payout_schedules (
  id uuid primary key default gen_random_uuid(),
  vendor_id uuid not null unique references public.vendors (id) on delete cascade,
  frequency text not null default 'weekly' check (frequency in ('daily', 'weekly', 'monthly')),
  minimum_amount numeric(12, 2) not null default 50 check (minimum_amount >= 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  next_payout_date date,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger payout_schedules_set_updated_at
  before update on public.payout_schedules
  for each row execute function private.set_updated_at();

create table public.payout_transactions (
  id uuid primary key default gen_random_uuid(),
  vendor_id uuid not null references public.vendors (id) on delete restrict,
  amount numeric(12, 2) not null check (amount > 0),
  fee_amount numeric(12, 2) not null default 0,
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  status text not null default 'pending' check (status in ('pending', 'in_transit', 'paid', 'failed', 'cancelled')),
  stripe_transfer_id text unique,
  period_start date not null,
  period_end date not null,
  booking_ids uuid[] not null default '{}',
  paid_at timestamptz,
  failure_reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint payout_transactions_period check (period_end >= period_start)
);
create index idx_payout_transactions_vendor_id_created_at on public.payout_transactions (vendor_id, created_at desc);
create index idx_payout_transactions_status on public.payout_transactions (status);

create trigger payout_transactions_set_updated_at
  before update on public.payout_transactions
  for each row execute function private.set_updated_at();

alter table public.payout_schedules enable row level security;
alter table public.payout_transactions enable row level security;

create policy "Vendors and admins can view payout schedules" on public.payout_schedules
  for select to authenticated using (private.is_vendor_owner(vendor_id) or (select private.is_admin()));
create policy "Vendors can create own payout schedule" on public.payout_schedules
  for insert to authenticated with check (private.is_vendor_owner(vendor_id));
create policy "Vendors can change own payout schedule" on public.payout_schedules
  for update to authenticated using (private.is_vendor_owner(vendor_id)) with check (private.is_vendor_owner(vendor_id));
revoke update, delete on public.payout_schedules from anon, authenticated;
grant update (frequency, minimum_amount) on public.payout_schedules to authenticated;

create policy "Vendors and admins can view payouts" on public.payout_transactions
  for select to authenticated using (private.is_vendor_owner(vendor_id) or (select private.is_admin()));
revoke insert, update, delete on public.payout_transactions from anon, authenticated;
