-- Phase 1 — users: profiles (public), user preferences (owner only), automatic profile
-- creation on sign-up, role helpers.

create schema if not exists private;
grant usage on schema private to anon, authenticated, service_role;

create type public.user_role as enum ('traveler', 'vendor', 'admin');

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

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  username text unique check (username ~ '^[a-z0-9_]{3,30}$'),
  full_name text,
  avatar_url text,
  bio text check (char_length(bio) <= 500),
  location text,
  latitude double precision,
  longitude double precision,
  date_of_birth date,
  role public.user_role not null default 'traveler',
  is_verified boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_profiles_username on public.profiles (username);
create index idx_profiles_role on public.profiles (role);
create index idx_profiles_location on public.profiles (location);

create trigger profiles_set_updated_at
  before update on public.profiles
  for each row execute function private.set_updated_at();

create table public.user_preferences (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique references public.profiles (id) on delete cascade,
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  language text not null default 'en',
  timezone text not null default 'UTC',
  profile_visibility text not null default 'public' check (profile_visibility in ('public', 'connections', 'private')),
  show_location boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger user_preferences_set_updated_at
  before update on public.user_preferences
  for each row execute function private.set_updated_at();

-- Automatic profile creation: every new auth user gets a profile and default preferences.
-- A username is taken from the sign-up metadata when valid and free, otherwise derived from
-- the email address and made unique.
create or replace function private.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  wanted text := lower(coalesce(new.raw_user_meta_data ->> 'username', ''));
  base text;
  candidate text;
begin
  if wanted ~ '^[a-z0-9_]{3,30}$' and not exists (select 1 from public.profiles where username = wanted) then
    candidate := wanted;
  else
    base := left(regexp_replace(lower(coalesce(split_part(new.email, '@', 1), 'traveler')), '[^a-z0-9_]', '_', 'g'), 20);
    if char_length(base) < 3 then
      base := 'traveler';
    end if;
    candidate := base;
    while exists (select 1 from public.profiles where username = candidate) loop
      candidate := base || '_' || substr(md5(random()::text), 1, 6);
    end loop;
  end if;

  insert into public.profiles (id, username, full_name, avatar_url)
  values (
    new.id,
    candidate,
    coalesce(new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'name'),
    new.raw_user_meta_data ->> 'avatar_url'
  );
  insert into public.user_preferences (user_id) values (new.id);
  return new;
end;
$$;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.handle_new_user();

-- Role helpers for policies (security definer: they read profiles regardless of the caller).
create or replace function private.is_admin()
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.profiles where id = (select auth.uid()) and role = 'admin');
$$;

grant execute on function private.is_admin() to anon, authenticated, service_role;

alter table public.profiles enable row level security;
alter table public.user_preferences enable row level security;

create policy "Public profiles are viewable by everyone" on public.profiles
  for select to anon, authenticated using (true);
create policy "Users update own profile, admins any profile" on public.profiles
  for update to authenticated
  using ((select auth.uid()) = id or (select private.is_admin()))
  with check ((select auth.uid()) = id or (select private.is_admin()));

-- Profiles are created by the sign-up trigger; users edit only their public details. The role
-- and the verified badge change through the service role (vendor onboarding, admin tools).
revoke insert, update, delete on public.profiles from anon, authenticated;
grant update (username, full_name, avatar_url, bio, location, latitude, longitude, date_of_birth)
  on public.profiles to authenticated;

create policy "Users can view own preferences" on public.user_preferences
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can insert own preferences" on public.user_preferences
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users can update own preferences" on public.user_preferences
  for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users can delete own preferences" on public.user_preferences
  for delete to authenticated using ((select auth.uid()) = user_id);
