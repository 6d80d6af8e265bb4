-- Stage 1 — core schema: profiles, preferences, places, trips and their itinerary items.
--
-- Row level security patterns used across trip-os:
--   * user-owned rows: `user_id = (select auth.uid())` for every command;
--   * collaborative rows (trips, trip items): the owner, or an accepted collaborator
--     (stage 2) — editing needs the `edit` permission, deleting needs ownership;
--   * read-only client tables: clients read their own rows, writes come from the
--     service role (edge functions, webhooks), which bypasses row level security.

-- Helpers live in a schema the REST API does not expose.
create schema if not exists private;
grant usage on schema private to authenticated, service_role;

-- Keep updated_at current on every update.
create or replace function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

------------------------------------------------------------------------------------------
-- profiles: one per auth user, created by a trigger on sign-up.
------------------------------------------------------------------------------------------
create table public.profiles (
  id uuid primary key constraint fk_profiles_id references auth.users (id) on delete cascade,
  email text,
  full_name text,
  avatar_url text,
  home_city text,
  timezone text not null default 'UTC',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.profiles is 'Public face of an auth user; created automatically on sign-up.';

create trigger profiles_set_updated_at
  before update on public.profiles
  for each row execute function private.set_updated_at();

create or replace function private.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, email, full_name, avatar_url)
  values (
    new.id,
    new.email,
    coalesce(new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'name'),
    new.raw_user_meta_data ->> 'avatar_url'
  );
  insert into public.user_preferences (user_id) values (new.id);
  return new;
end;
$$;

------------------------------------------------------------------------------------------
-- user_preferences: travel style, currency, units.
------------------------------------------------------------------------------------------
create table public.user_preferences (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique constraint fk_user_preferences_user_id references auth.users (id) on delete cascade,
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  distance_unit text not null default 'km' check (distance_unit in ('km', 'mi')),
  travel_style text[] not null default '{}',
  dietary_restrictions text[] not null default '{}',
  pace text not null default 'moderate' check (pace in ('relaxed', 'moderate', 'packed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger user_preferences_set_updated_at
  before update on public.user_preferences
  for each row execute function private.set_updated_at();

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.handle_new_user();

------------------------------------------------------------------------------------------
-- places: basic locations a user has looked up or added.
------------------------------------------------------------------------------------------
create table public.places (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() constraint fk_places_user_id references auth.users (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 200),
  category text not null default 'other'
    check (category in ('restaurant', 'cafe', 'bar', 'hotel', 'attraction', 'museum', 'park', 'shop', 'transport', 'other')),
  address text,
  city text,
  country_code text check (country_code ~ '^[A-Z]{2}$'),
  latitude double precision check (latitude between -90 and 90),
  longitude double precision check (longitude between -180 and 180),
  google_place_id text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_places_user_id on public.places (user_id);

create trigger places_set_updated_at
  before update on public.places
  for each row execute function private.set_updated_at();

------------------------------------------------------------------------------------------
-- trips and their itinerary.
------------------------------------------------------------------------------------------
create table public.trips (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() constraint fk_trips_user_id references auth.users (id) on delete cascade,
  title text not null check (char_length(title) between 1 and 200),
  description text,
  destination text,
  start_date date,
  end_date date,
  status text not null default 'planning' check (status in ('planning', 'booked', 'in_progress', 'completed', 'cancelled')),
  cover_image_path text,
  budget_amount numeric(12, 2),
  budget_currency text not null default 'USD' check (budget_currency ~ '^[A-Z]{3}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint trips_dates_ordered check (end_date is null or start_date is null or end_date >= start_date)
);
create index idx_trips_user_id on public.trips (user_id);
create index idx_trips_status on public.trips (status);
create index idx_trips_user_id_status on public.trips (user_id, status);
create index idx_trips_user_id_created_at on public.trips (user_id, created_at desc);

create trigger trips_set_updated_at
  before update on public.trips
  for each row execute function private.set_updated_at();

create table public.trip_items (
  id uuid primary key default gen_random_uuid(),
  trip_id uuid not null constraint fk_trip_items_trip_id references public.trips (id) on delete cascade,
  created_by uuid default auth.uid() constraint fk_trip_items_created_by references auth.users (id) on delete set null,
  place_id uuid constraint fk_trip_items_place_id references public.places (id) on delete set null,
  day_number integer not null default 1 check (day_number >= 1),
  order_index integer not null default 0,
  title text not null check (char_length(title) between 1 and 200),
  notes text,
  item_type text not null default 'activity' check (item_type in ('activity', 'meal', 'lodging', 'transport', 'note')),
  starts_at timestamptz,
  ends_at timestamptz,
  cost_amount numeric(12, 2),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_trip_items_trip_id on public.trip_items (trip_id);
create index idx_trip_items_created_by on public.trip_items (created_by);
create index idx_trip_items_place_id on public.trip_items (place_id);
create index idx_trip_items_trip_id_day_number_order_index on public.trip_items (trip_id, day_number, order_index);

create trigger trip_items_set_updated_at
  before update on public.trip_items
  for each row execute function private.set_updated_at();

------------------------------------------------------------------------------------------
-- Row level security.
------------------------------------------------------------------------------------------
alter table public.profiles enable row level security;
alter table public.user_preferences enable row level security;
alter table public.places enable row level security;
alter table public.trips enable row level security;
alter table public.trip_items enable row level security;

-- Profiles: a user sees and edits their own profile (no public-readable tables in trip-os;
-- collaborators see each other through stage 2's policy).
create policy "Users can view their own profile" on public.profiles
  for select to authenticated using ((select auth.uid()) = id);
create policy "Users can update their own profile" on public.profiles
  for update to authenticated using ((select auth.uid()) = id) with check ((select auth.uid()) = id);

create policy "Users can view their own preferences" on public.user_preferences
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can create their own preferences" on public.user_preferences
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users can update their own preferences" on public.user_preferences
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users can delete their own preferences" on public.user_preferences
  for delete to authenticated using ((select auth.uid()) = user_id);

create policy "Users can view their own places" on public.places
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can create their own places" on public.places
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users can update their own places" on public.places
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users can delete their own places" on public.places
  for delete to authenticated using ((select auth.uid()) = user_id);

-- Trips (owner-only until stage 2 widens select/update to collaborators).
create policy "Users can view their own trips" on public.trips
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can create their own trips" on public.trips
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users can update their own trips" on public.trips
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Owners can delete their trips" on public.trips
  for delete to authenticated using ((select auth.uid()) = user_id);

-- The owner column of a trip never changes hands through the API.
revoke update on public.trips from anon, authenticated;
grant update (title, description, destination, start_date, end_date, status, cover_image_path,
  budget_amount, budget_currency) on public.trips to authenticated;

create policy "Trip owners can view trip items" on public.trip_items
  for select to authenticated
  using (exists (select 1 from public.trips t where t.id = trip_id and t.user_id = (select auth.uid())));
create policy "Trip owners can add trip items" on public.trip_items
  for insert to authenticated
  with check (exists (select 1 from public.trips t where t.id = trip_id and t.user_id = (select auth.uid())));
create policy "Trip owners can update trip items" on public.trip_items
  for update to authenticated
  using (exists (select 1 from public.trips t where t.id = trip_id and t.user_id = (select auth.uid())));
create policy "Trip owners can delete trip items" on public.trip_items
  for delete to authenticated
  using (exists (select 1 from public.trips t where t.id = trip_id and t.user_id = (select auth.uid())));

------------------------------------------------------------------------------------------
-- Realtime: shared trips and live itinerary changes.
------------------------------------------------------------------------------------------
alter publication supabase_realtime add table public.trips, public.trip_items;
