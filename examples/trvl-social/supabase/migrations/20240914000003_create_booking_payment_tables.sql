-- Phase 1 — bookings with payments, participants, group payment splits, modifications and
-- reviews. A booking is visible to the traveller who made it and to the vendor it is with;
-- payments are recorded by the Stripe webhook (service role).

create type public.booking_status as enum ('pending', 'confirmed', 'cancelled', 'completed', 'refunded');
create type public.payment_status as enum ('pending', 'processing', 'succeeded', 'failed', 'refunded');

create table public.bookings (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  vendor_id uuid not null references public.vendors (id) on delete restrict,
  adventure_id uuid not null references public.adventures (id) on delete restrict,
  availability_id uuid references public.adventure_availability (id) on delete set null,
  booking_date date not null,
  participants integer not null default 1 check (participants between 1 and 50),
  total_amount numeric(12, 2) not null default 0,
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  status public.booking_status not null default 'pending',
  special_requests text,
  cancelled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_bookings_user_id on public.bookings (user_id);
create index idx_bookings_vendor_id on public.bookings (vendor_id);
create index idx_bookings_adventure_id on public.bookings (adventure_id);
create index idx_bookings_availability_id on public.bookings (availability_id);
create index idx_bookings_booking_date on public.bookings (booking_date);
create index idx_bookings_user_id_status on public.bookings (user_id, status);

create trigger bookings_set_updated_at
  before update on public.bookings
  for each row execute function private.set_updated_at();

-- The vendor and the price come from the adventure, never from the client.
create or replace function private.prepare_booking()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  adv record;
begin
  select a.vendor_id, a.price_per_person, a.currency, a.is_active, v.status as vendor_status
    into adv
    from public.adventures a join public.vendors v on v.id = a.vendor_id
   where a.id = new.adventure_id;
  if not found or not adv.is_active or adv.vendor_status <> 'active' then
    raise exception 'adventure % is not open for booking', new.adventure_id using errcode = '23514';
  end if;
  new.vendor_id := adv.vendor_id;
  new.total_amount := adv.price_per_person * new.participants;
  new.currency := adv.currency;
  return new;
end;
$$;

create trigger bookings_prepare
  before insert on public.bookings
  for each row execute function private.prepare_booking();

create or replace function private.stamp_booking_cancellation()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status = 'cancelled' and old.status is distinct from 'cancelled' then
    new.cancelled_at := now();
  end if;
  return new;
end;
$$;

create trigger bookings_stamp_cancellation
  before update of status on public.bookings
  for each row execute function private.stamp_booking_cancellation();

create table public.booking_payments (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid not null references public.bookings (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  amount numeric(12, 2) not null check (amount >= 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  payment_method text not null default 'card' check (payment_method in ('card', 'bank_transfer', 'wallet', 'split')),
  status public.payment_status not null default 'pending',
  stripe_payment_intent_id text unique,
  paid_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_booking_payments_booking_id on public.booking_payments (booking_id);
create index idx_booking_payments_user_id on public.booking_payments (user_id);

create trigger booking_payments_set_updated_at
  before update on public.booking_payments
  for each row execute function private.set_updated_at();

create table public.booking_participants (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid not null references public.bookings (id) on delete cascade,
  profile_id uuid references public.profiles (id) on delete set null,
  full_name text not null,
  email text,
  emergency_contact text,
  dietary_requirements text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_booking_participants_booking_id on public.booking_participants (booking_id);
create index idx_booking_participants_profile_id on public.booking_participants (profile_id);

create table public.payment_splits (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid not null references public.bookings (id) on delete cascade,
  payer_id uuid not null references public.profiles (id) on delete cascade,
  amount numeric(12, 2) not null check (amount > 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  status public.payment_status not null default 'pending',
  due_date date,
  paid_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint payment_splits_booking_id_payer_id_key unique (booking_id, payer_id)
);
create index idx_payment_splits_booking_id on public.payment_splits (booking_id);
create index idx_payment_splits_payer_id on public.payment_splits (payer_id);

create trigger payment_splits_set_updated_at
  before update on public.payment_splits
  for each row execute function private.set_updated_at();

create table public.booking_modifications (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid not null references public.bookings (id) on delete cascade,
  requested_by uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  modification_type text not null check (modification_type in ('date_change', 'participant_change', 'cancellation', 'other')),
  old_values jsonb not null default '{}',
  new_values jsonb not null default '{}',
  reason text,
  status text not null default 'requested' check (status in ('requested', 'approved', 'rejected')),
  decided_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_booking_modifications_booking_id on public.booking_modifications (booking_id);
create index idx_booking_modifications_requested_by on public.booking_modifications (requested_by);

create trigger booking_modifications_set_updated_at
  before update on public.booking_modifications
  for each row execute function private.set_updated_at();

create table public.reviews (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid not null unique references public.bookings (id) on delete cascade,
  adventure_id uuid not null references public.adventures (id) on delete cascade,
  vendor_id uuid not null references public.vendors (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  rating smallint not null check (rating between 1 and 5),
  title text,
  body text check (char_length(body) <= 5000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_reviews_adventure_id on public.reviews (adventure_id);
create index idx_reviews_vendor_id on public.reviews (vendor_id);
create index idx_reviews_user_id on public.reviews (user_id);

create trigger reviews_set_updated_at
  before update on public.reviews
  for each row execute function private.set_updated_at();

create or replace function private.is_booking_owner(p_booking_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.bookings b where b.id = p_booking_id and b.user_id = (select auth.uid()));
$$;

create or replace function private.is_booking_vendor(p_booking_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.bookings b join public.vendors v on v.id = b.vendor_id
    where b.id = p_booking_id and v.user_id = (select auth.uid())
  );
$$;

-- A completed booking of the signed-in user for this adventure and vendor (required to review).
create or replace function private.can_review(p_booking_id uuid, p_adventure_id uuid, p_vendor_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.bookings b
    where b.id = p_booking_id and b.user_id = (select auth.uid()) and b.status = 'completed'
      and b.adventure_id = p_adventure_id and b.vendor_id = p_vendor_id
  );
$$;

grant execute on function private.is_booking_owner(uuid), private.is_booking_vendor(uuid),
  private.can_review(uuid, uuid, uuid) to authenticated, service_role;

alter table public.bookings enable row level security;
alter table public.booking_payments enable row level security;
alter table public.booking_participants enable row level security;
alter table public.payment_splits enable row level security;
alter table public.booking_modifications enable row level security;
alter table public.reviews enable row level security;

-- bookings
create policy "Users can view own bookings" on public.bookings
  for select to authenticated
  using ((select auth.uid()) = user_id or exists (
    select 1 from public.vendors where vendors.id = bookings.vendor_id and vendors.user_id = (select auth.uid())
  ));
create policy "Users can create own bookings" on public.bookings
  for insert to authenticated with check ((select auth.uid()) = user_id and status = 'pending');
-- Travellers change or cancel their own bookings; vendors confirm, complete or cancel theirs.
create policy "Travelers and vendors can update bookings" on public.bookings
  for update to authenticated
  using ((select auth.uid()) = user_id or private.is_vendor_owner(vendor_id))
  with check (
    ((select auth.uid()) = user_id and status in ('pending', 'cancelled'))
    or (private.is_vendor_owner(vendor_id) and status in ('confirmed', 'completed', 'cancelled'))
  );

revoke update, delete on public.bookings from anon, authenticated;
grant update (status, special_requests, participants) on public.bookings to authenticated;

-- payments: read by the traveller and the vendor, written by the Stripe webhook
create policy "Users can view own booking payments" on public.booking_payments
  for select to authenticated
  using ((select auth.uid()) = user_id or private.is_booking_vendor(booking_id));
revoke insert, update, delete on public.booking_payments from anon, authenticated;

-- participants
create policy "Booking owners and vendors can view participants" on public.booking_participants
  for select to authenticated
  using (private.is_booking_owner(booking_id) or private.is_booking_vendor(booking_id));
create policy "Booking owners can add participants" on public.booking_participants
  for insert to authenticated with check (private.is_booking_owner(booking_id));
create policy "Booking owners can update participants" on public.booking_participants
  for update to authenticated
  using (private.is_booking_owner(booking_id)) with check (private.is_booking_owner(booking_id));
create policy "Booking owners can remove participants" on public.booking_participants
  for delete to authenticated using (private.is_booking_owner(booking_id));

-- payment splits: the booking owner splits, each payer sees their share
create policy "Booking owners and payers can view splits" on public.payment_splits
  for select to authenticated
  using (private.is_booking_owner(booking_id) or (select auth.uid()) = payer_id);
create policy "Booking owners can split payments" on public.payment_splits
  for insert to authenticated with check (private.is_booking_owner(booking_id) and status = 'pending');
create policy "Booking owners can remove unpaid splits" on public.payment_splits
  for delete to authenticated using (private.is_booking_owner(booking_id) and status = 'pending');
revoke update on public.payment_splits from anon, authenticated;

-- modifications
create policy "Booking owners and vendors can view modifications" on public.booking_modifications
  for select to authenticated
  using (private.is_booking_owner(booking_id) or private.is_booking_vendor(booking_id));
create policy "Booking owners can request modifications" on public.booking_modifications
  for insert to authenticated
  with check (private.is_booking_owner(booking_id) and requested_by = (select auth.uid()) and status = 'requested');
create policy "Vendors can decide modifications" on public.booking_modifications
  for update to authenticated
  using (private.is_booking_vendor(booking_id)) with check (private.is_booking_vendor(booking_id));
revoke update, delete on public.booking_modifications from anon, authenticated;
grant update (status, decided_at) on public.booking_modifications to authenticated;

-- reviews: public, written by travellers after a completed booking
create policy "Reviews are viewable by everyone" on public.reviews
  for select to anon, authenticated using (true);
create policy "Travelers can review completed bookings" on public.reviews
  for insert to authenticated
  with check ((select auth.uid()) = user_id and private.can_review(booking_id, adventure_id, vendor_id));
create policy "Authors can update own reviews" on public.reviews
  for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Authors can delete own reviews" on public.reviews
  for delete to authenticated using ((select auth.uid()) = user_id);
revoke update on public.reviews from anon, authenticated;
grant update (rating, title, body) on public.reviews to authenticated;
