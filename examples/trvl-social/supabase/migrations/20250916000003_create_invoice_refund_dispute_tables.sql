-- Phase 6 (design: 011_create_invoice_tables, 011_create_payment_reconciliation_tables,
-- 011_create_refund_dispute_tables) — invoices with their items (issued when a payment
-- succeeds), the reconciliation of Stripe balance transactions with booking payments, refund
-- requests (the traveller asks, the vendor or an admin decides, Stripe executes) and disputes
-- (opened by Stripe's webhook, worked by admins).

create table public.invoices (
  id uuid primary key default gen_random_uuid(),
  invoice_number text not null unique,
  booking_id uuid not null references public.bookings (id) on delete restrict,
  user_id uuid not null references public.profiles (id) on delete cascade,
  vendor_id uuid not null references public.vendors (id) on delete restrict,
  booking_payment_id uuid unique references public.booking_payments (id) on delete set null,
  status text not null default 'issued' check (status in ('draft', 'issued', 'paid', 'void', 'refunded')),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  subtotal numeric(12, 2) not null default 0,
  tax_amount numeric(12, 2) not null default 0,
  total numeric(12, 2) not null default 0,
  issued_at timestamptz not null default now(),
  paid_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_invoices_booking_id on public.invoices (booking_id);
create index idx_invoices_user_id on public.invoices (user_id, issued_at desc);
create index idx_invoices_vendor_id on public.invoices (vendor_id, issued_at desc);
create sequence public.invoice_number_seq;

create table public.invoice_items (
  id uuid primary key default gen_random_uuid(),
  invoice_id uuid not null references public.invoices (id) on delete cascade,
  description text not null,
  quantity integer not null default 1 check (quantity > 0),
  unit_amount numeric(12, 2) not null check (unit_amount >= 0),
  tax_rate numeric(5, 4) not null default 0 check (tax_rate between 0 and 1),
  amount numeric(12, 2) generated always as (quantity * unit_amount) stored,
  created_at timestamptz not null default now()
);
create index idx_invoice_items_invoice_id on public.invoice_items (invoice_id);

-- Totals follow the items.
create or replace function private.refresh_invoice_totals()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_invoice uuid := coalesce(new.invoice_id, old.invoice_id);
begin
  update public.invoices i
  set subtotal = coalesce(t.subtotal, 0), tax_amount = coalesce(t.tax, 0), total = coalesce(t.subtotal, 0) + coalesce(t.tax, 0)
  from (select sum(amount) as subtotal, round(sum(amount * tax_rate), 2) as tax
        from public.invoice_items where invoice_id = v_invoice) t
  where i.id = v_invoice;
  return null;
end;
$$;
create trigger invoice_items_refresh_totals after insert or update or delete on public.invoice_items
  for each row execute function private.refresh_invoice_totals();
create trigger invoices_set_updated_at before update on public.invoices
  for each row execute function private.set_updated_at();

create table public.payment_reconciliations (
  id uuid primary key default gen_random_uuid(),
  booking_payment_id uuid references public.booking_payments (id) on delete set null,
  stripe_payment_intent_id text,
  stripe_balance_transaction_id text unique,
  expected_amount numeric(12, 2) not null,
  settled_amount numeric(12, 2),
  fee_amount numeric(12, 2) not null default 0,
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  status text not null default 'matched' check (status in ('matched', 'mismatched', 'missing', 'resolved')),
  notes text,
  reconciled_at timestamptz not null default now(),
  created_at timestamptz not null default now()
);
create index idx_payment_reconciliations_booking_payment_id on public.payment_reconciliations (booking_payment_id);
create index idx_payment_reconciliations_open on public.payment_reconciliations (status) where status in ('mismatched', 'missing');

create table public.refund_requests (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid not null references public.bookings (id) on delete cascade,
  requested_by uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  booking_payment_id uuid references public.booking_payments (id) on delete set null,
  amount numeric(12, 2) not null check (amount > 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  reason text not null check (char_length(reason) between 3 and 2000),
  status text not null default 'requested' check (status in ('requested', 'approved', 'rejected', 'processing', 'refunded', 'failed')),
  decided_by uuid references public.profiles (id) on delete set null,
  decided_at timestamptz,
  decision_note text,
  stripe_refund_id text unique,
  refunded_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_refund_requests_booking_id on public.refund_requests (booking_id);
create index idx_refund_requests_requested_by on public.refund_requests (requested_by);
create index idx_refund_requests_booking_payment_id on public.refund_requests (booking_payment_id);
create index idx_refund_requests_decided_by on public.refund_requests (decided_by);
create index idx_refund_requests_open on public.refund_requests (status) where status in ('requested', 'approved', 'processing');

-- Vendors and admins may only approve or reject a request still open; the rest is Stripe's.
create or replace function private.guard_refund_decision()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if coalesce(auth.role(), '') = 'authenticated' then
    if old.status <> 'requested' or new.status not in ('approved', 'rejected') then
      raise exception using errcode = '42501', message = 'only an open refund request can be approved or rejected';
    end if;
    new.decided_by := auth.uid();
    new.decided_at := now();
  end if;
  return new;
end;
$$;
create trigger refund_requests_guard before update on public.refund_requests
  for each row execute function private.guard_refund_decision();
create trigger refund_requests_set_updated_at before update on public.refund_requests
  for each row execute function private.set_updated_at();

create table public.dispute_cases (
  id uuid primary key default gen_random_uuid(),
  stripe_dispute_id text not null unique check (stripe_dispute_id ~ '^dp_'),
  booking_id uuid references public.bookings (id) on delete set null,
  booking_payment_id uuid references public.booking_payments (id) on delete set null,
  amount numeric(12, 2) not null,
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  reason text,
  status text not null default 'needs_response' check (status in ('warning_needs_response', 'warning_under_review', 'warning_closed', 'needs_response', 'under_review', 'won', 'lost', 'closed')),
  evidence_due_by timestamptz,
  assigned_admin uuid references public.profiles (id) on delete set null,
  resolution_note text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_dispute_cases_booking_id on public.dispute_cases (booking_id);
create index idx_dispute_cases_booking_payment_id on public.dispute_cases (booking_payment_id);
create index idx_dispute_cases_assigned_admin on public.dispute_cases (assigned_admin);
create trigger dispute_cases_set_updated_at before update on public.dispute_cases
  for each row execute function private.set_updated_at();

alter table public.invoices enable row level security;
alter table public.invoice_items enable row level security;
alter table public.payment_reconciliations enable row level security;
alter table public.refund_requests enable row level security;
alter table public.dispute_cases enable row level security;
revoke insert, update, delete on public.invoices, public.invoice_items, public.payment_reconciliations, public.dispute_cases from anon, authenticated;
revoke update, delete on public.refund_requests from anon, authenticated;
grant update (status, decision_note) on public.refund_requests to authenticated;
revoke insert on public.refund_requests from anon;
grant update (assigned_admin, resolution_note) on public.dispute_cases to authenticated;

create policy "Invoice holders, their vendor and admins view invoices" on public.invoices
  for select to authenticated using (user_id = (select auth.uid()) or private.is_vendor_owner(vendor_id) or (select private.is_admin()));
create policy "Invoice items follow their invoice" on public.invoice_items
  for select to authenticated using (exists (select 1 from public.invoices i where i.id = invoice_id
    and (i.user_id = (select auth.uid()) or private.is_vendor_owner(i.vendor_id) or (select private.is_admin()))));
create policy "Admins view reconciliations" on public.payment_reconciliations
  for select to authenticated using ((select private.is_admin()));
create policy "Booking owners, vendors and admins view refund requests" on public.refund_requests
  for select to authenticated using (requested_by = (select auth.uid()) or private.is_booking_vendor(booking_id) or (select private.is_admin()));
create policy "Booking owners request refunds of their bookings" on public.refund_requests
  for insert to authenticated with check (requested_by = (select auth.uid()) and private.is_booking_owner(booking_id) and status = 'requested');
create policy "Vendors and admins decide refund requests" on public.refund_requests
  for update to authenticated using (private.is_booking_vendor(booking_id) or (select private.is_admin()))
  with check (private.is_booking_vendor(booking_id) or (select private.is_admin()));
create policy "Booking owners, vendors and admins view disputes" on public.dispute_cases
  for select to authenticated using (private.is_booking_owner(booking_id) or private.is_booking_vendor(booking_id) or (select private.is_admin()));
create policy "Admins work disputes" on public.dispute_cases
  for update to authenticated using ((select private.is_admin())) with check ((select private.is_admin()));
