-- Phase 1 — vendors and their adventures: listings, availability, media, certifications,
-- insurance. Active vendors and adventures are public; vendors manage their own; insurance
-- documents are for the vendor and admins only.

create type public.vendor_status as enum ('pending', 'active', 'suspended', 'inactive');
create type public.adventure_difficulty as enum ('easy', 'moderate', 'challenging', 'extreme');

create table public.vendors (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique references public.profiles (id) on delete cascade,
  business_name text not null check (char_length(business_name) between 2 and 120),
  description text,
  email text,
  phone text,
  website text,
  location text,
  status public.vendor_status not null default 'pending',
  stripe_account_id text unique,
  rating numeric(3, 2) not null default 0,
  total_reviews integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_vendors_status on public.vendors (status);

create trigger vendors_set_updated_at
  before update on public.vendors
  for each row execute function private.set_updated_at();

create table public.adventures (
  id uuid primary key default gen_random_uuid(),
  vendor_id uuid not null references public.vendors (id) on delete cascade,
  title text not null check (char_length(title) between 3 and 160),
  description text,
  category text not null check (category in ('hiking', 'diving', 'surfing', 'climbing', 'kayaking', 'cycling', 'safari', 'skiing', 'culture', 'food')),
  difficulty public.adventure_difficulty not null default 'moderate',
  location text not null,
  latitude double precision,
  longitude double precision,
  duration_hours numeric(6, 2) not null check (duration_hours > 0),
  max_participants integer not null default 10 check (max_participants > 0),
  price_per_person numeric(10, 2) not null check (price_per_person >= 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  is_active boolean not null default true,
  rating numeric(3, 2) not null default 0,
  total_reviews integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_adventures_vendor_id on public.adventures (vendor_id);
create index idx_adventures_category on public.adventures (category) where is_active;
create index idx_adventures_location on public.adventures (location);
create index idx_adventures_rating on public.adventures (rating desc);

create trigger adventures_set_updated_at
  before update on public.adventures
  for each row execute function private.set_updated_at();

create table public.adventure_availability (
  id uuid primary key default gen_random_uuid(),
  adventure_id uuid not null references public.adventures (id) on delete cascade,
  available_date date not null,
  start_time time,
  spots_total integer not null check (spots_total > 0),
  spots_booked integer not null default 0 check (spots_booked >= 0),
  price_override numeric(10, 2),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint adventure_availability_not_overbooked check (spots_booked <= spots_total),
  constraint adventure_availability_adventure_id_date_time_key unique (adventure_id, available_date, start_time)
);
create index idx_adventure_availability_adventure_id_date on public.adventure_availability (adventure_id, available_date);

create trigger adventure_availability_set_updated_at
  before update on public.adventure_availability
  for each row execute function private.set_updated_at();

create table public.adventure_media (
  id uuid primary key default gen_random_uuid(),
  adventure_id uuid not null references public.adventures (id) on delete cascade,
  storage_path text not null,
  media_type text not null default 'image' check (media_type in ('image', 'video')),
  caption text,
  sort_order integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_adventure_media_adventure_id on public.adventure_media (adventure_id, sort_order);

create table public.vendor_certifications (
  id uuid primary key default gen_random_uuid(),
  vendor_id uuid not null references public.vendors (id) on delete cascade,
  name text not null,
  issuer text not null,
  document_path text,
  issued_on date,
  expires_on date,
  verified_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_vendor_certifications_vendor_id on public.vendor_certifications (vendor_id);

create table public.vendor_insurance (
  id uuid primary key default gen_random_uuid(),
  vendor_id uuid not null references public.vendors (id) on delete cascade,
  provider text not null,
  policy_number text not null,
  coverage_amount numeric(14, 2) not null,
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  document_path text,
  valid_from date not null,
  valid_until date not null,
  verified_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint vendor_insurance_valid_range check (valid_until > valid_from)
);
create index idx_vendor_insurance_vendor_id on public.vendor_insurance (vendor_id);

-- Is the signed-in user the owner of this vendor?
create or replace function private.is_vendor_owner(p_vendor_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.vendors v where v.id = p_vendor_id and v.user_id = (select auth.uid()));
$$;

-- Is the signed-in user the owner of the vendor offering this adventure?
create or replace function private.is_adventure_owner(p_adventure_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.adventures a join public.vendors v on v.id = a.vendor_id
    where a.id = p_adventure_id and v.user_id = (select auth.uid())
  );
$$;

-- Is this adventure listed publicly (active, by an active vendor)?
create or replace function private.is_adventure_public(p_adventure_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.adventures a join public.vendors v on v.id = a.vendor_id
    where a.id = p_adventure_id and a.is_active and v.status = 'active'
  );
$$;

grant execute on function private.is_vendor_owner(uuid), private.is_adventure_owner(uuid),
  private.is_adventure_public(uuid) to anon, authenticated, service_role;

alter table public.vendors enable row level security;
alter table public.adventures enable row level security;
alter table public.adventure_availability enable row level security;
alter table public.adventure_media enable row level security;
alter table public.vendor_certifications enable row level security;
alter table public.vendor_insurance enable row level security;

-- vendors
create policy "Active vendors are public; vendors and admins see the rest" on public.vendors
  for select to anon, authenticated
  using (status = 'active' or (select auth.uid()) = user_id or (select private.is_admin()));
create policy "Users can apply as a vendor" on public.vendors
  for insert to authenticated with check ((select auth.uid()) = user_id and status = 'pending');
create policy "Vendors update own vendor record, admins any" on public.vendors
  for update to authenticated
  using ((select auth.uid()) = user_id or (select private.is_admin()))
  with check ((select auth.uid()) = user_id or (select private.is_admin()));

-- The Stripe account and ratings are set by onboarding (service role) and triggers; the status
-- by admins only.
revoke update on public.vendors from anon, authenticated;
grant update (business_name, description, email, phone, website, location, status) on public.vendors to authenticated;

create or replace function private.guard_vendor_status()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.status is distinct from old.status and (select auth.role()) = 'authenticated' and not private.is_admin() then
    raise exception 'only admins can change a vendor''s status' using errcode = '42501';
  end if;
  return new;
end;
$$;

create trigger vendors_guard_status
  before update of status on public.vendors
  for each row execute function private.guard_vendor_status();

-- adventures
create policy "Active adventures are public; vendors see their own" on public.adventures
  for select to anon, authenticated using (private.is_adventure_public(id) or private.is_vendor_owner(vendor_id));
create policy "Vendors can create adventures" on public.adventures
  for insert to authenticated with check (private.is_vendor_owner(vendor_id));
create policy "Vendors can update own adventures" on public.adventures
  for update to authenticated
  using (private.is_vendor_owner(vendor_id)) with check (private.is_vendor_owner(vendor_id));
create policy "Vendors can delete own adventures" on public.adventures
  for delete to authenticated using (private.is_vendor_owner(vendor_id));

revoke update on public.adventures from anon, authenticated;
grant update (title, description, category, difficulty, location, latitude, longitude, duration_hours,
  max_participants, price_per_person, currency, is_active) on public.adventures to authenticated;

-- availability and media: public with the adventure, managed by its vendor
create policy "Availability is public with the adventure; vendors see their own" on public.adventure_availability
  for select to anon, authenticated
  using (private.is_adventure_public(adventure_id) or private.is_adventure_owner(adventure_id));
create policy "Vendors can add availability" on public.adventure_availability
  for insert to authenticated with check (private.is_adventure_owner(adventure_id));
create policy "Vendors can update availability" on public.adventure_availability
  for update to authenticated
  using (private.is_adventure_owner(adventure_id)) with check (private.is_adventure_owner(adventure_id));
create policy "Vendors can delete availability" on public.adventure_availability
  for delete to authenticated using (private.is_adventure_owner(adventure_id));

create policy "Media is public with the adventure; vendors see their own" on public.adventure_media
  for select to anon, authenticated
  using (private.is_adventure_public(adventure_id) or private.is_adventure_owner(adventure_id));
create policy "Vendors can add adventure media" on public.adventure_media
  for insert to authenticated with check (private.is_adventure_owner(adventure_id));
create policy "Vendors can update adventure media" on public.adventure_media
  for update to authenticated
  using (private.is_adventure_owner(adventure_id)) with check (private.is_adventure_owner(adventure_id));
create policy "Vendors can delete adventure media" on public.adventure_media
  for delete to authenticated using (private.is_adventure_owner(adventure_id));

-- certifications: verified ones are public trust badges
create policy "Verified certifications are public; vendors and admins see the rest" on public.vendor_certifications
  for select to anon, authenticated
  using (verified_at is not null or private.is_vendor_owner(vendor_id) or (select private.is_admin()));
create policy "Vendors can add certifications" on public.vendor_certifications
  for insert to authenticated with check (private.is_vendor_owner(vendor_id) and verified_at is null);
create policy "Vendors can delete own certifications" on public.vendor_certifications
  for delete to authenticated using (private.is_vendor_owner(vendor_id));
create policy "Admins can verify certifications" on public.vendor_certifications
  for update to authenticated using ((select private.is_admin())) with check ((select private.is_admin()));

-- insurance: the vendor and admins only
create policy "Vendors and admins can view insurance" on public.vendor_insurance
  for select to authenticated using (private.is_vendor_owner(vendor_id) or (select private.is_admin()));
create policy "Vendors can add insurance" on public.vendor_insurance
  for insert to authenticated with check (private.is_vendor_owner(vendor_id) and verified_at is null);
create policy "Vendors can delete own insurance" on public.vendor_insurance
  for delete to authenticated using (private.is_vendor_owner(vendor_id));
create policy "Admins can verify insurance" on public.vendor_insurance
  for update to authenticated using ((select private.is_admin())) with check ((select private.is_admin()));

-- An approved vendor's profile carries the vendor role.
create or replace function private.promote_active_vendor()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.status = 'active' and old.status is distinct from 'active' then
    update public.profiles set role = 'vendor' where id = new.user_id and role = 'traveler';
  end if;
  return null;
end;
$$;

create trigger vendors_promote_active
  after update of status on public.vendors
  for each row execute function private.promote_active_vendor();
