-- Stage 2 — collaboration, group voting, saved places, collections and tags.
--
-- Invitations are sent by the `invite-collaborator` edge function and accepted through
-- `accept-invitation` (service role); until a collaborator row is `accepted` it grants nothing.

create table public.collaborators (
  id uuid primary key default gen_random_uuid(),
  trip_id uuid not null constraint fk_collaborators_trip_id references public.trips (id) on delete cascade,
  user_id uuid not null constraint fk_collaborators_user_id references auth.users (id) on delete cascade,
  invited_by uuid default auth.uid() constraint fk_collaborators_invited_by references auth.users (id) on delete set null,
  permission text not null default 'view' check (permission in ('view', 'edit')),
  status text not null default 'pending' check (status in ('pending', 'accepted', 'declined')),
  accepted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint collaborators_trip_id_user_id_key unique (trip_id, user_id)
);
create index idx_collaborators_trip_id on public.collaborators (trip_id);
create index idx_collaborators_user_id on public.collaborators (user_id);
create index idx_collaborators_invited_by on public.collaborators (invited_by);

create trigger collaborators_set_updated_at
  before update on public.collaborators
  for each row execute function private.set_updated_at();

-- Access checks, security definer so that policies on trips and collaborators can call them
-- without recursing into each other's row level security.
create or replace function private.is_trip_owner(p_trip_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.trips t
    where t.id = p_trip_id and t.user_id = (select auth.uid())
  );
$$;

create or replace function private.can_view_trip(p_trip_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.trips t
    where t.id = p_trip_id and t.user_id = (select auth.uid())
  ) or exists (
    select 1 from public.collaborators c
    where c.trip_id = p_trip_id and c.user_id = (select auth.uid()) and c.status = 'accepted'
  );
$$;

create or replace function private.can_edit_trip(p_trip_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.trips t
    where t.id = p_trip_id and t.user_id = (select auth.uid())
  ) or exists (
    select 1 from public.collaborators c
    where c.trip_id = p_trip_id and c.user_id = (select auth.uid())
      and c.status = 'accepted' and c.permission = 'edit'
  );
$$;

-- Two users share a trip (either owns it and the other is an accepted collaborator, or both
-- collaborate on it): lets collaborators see each other's profile.
create or replace function private.shares_trip_with(p_user_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  with mine as (
    select t.id from public.trips t where t.user_id = (select auth.uid())
    union
    select c.trip_id from public.collaborators c
    where c.user_id = (select auth.uid()) and c.status = 'accepted'
  )
  select exists (
    select 1 from public.trips t join mine on mine.id = t.id where t.user_id = p_user_id
  ) or exists (
    select 1 from public.collaborators c join mine on mine.id = c.trip_id
    where c.user_id = p_user_id and c.status = 'accepted'
  );
$$;

revoke all on function private.is_trip_owner(uuid), private.can_view_trip(uuid),
  private.can_edit_trip(uuid), private.shares_trip_with(uuid) from public;
grant execute on function private.is_trip_owner(uuid), private.can_view_trip(uuid),
  private.can_edit_trip(uuid), private.shares_trip_with(uuid) to authenticated, service_role;

------------------------------------------------------------------------------------------
-- Trips and trip items become collaborative.
------------------------------------------------------------------------------------------
drop policy "Users can view their own trips" on public.trips;
drop policy "Users can update their own trips" on public.trips;
create policy "Owners and collaborators can view trips" on public.trips
  for select to authenticated
  using ((select auth.uid()) = user_id or private.can_view_trip(id));
create policy "Owners and editors can update trips" on public.trips
  for update to authenticated
  using (private.can_edit_trip(id))
  with check (private.can_edit_trip(id));

drop policy "Trip owners can view trip items" on public.trip_items;
drop policy "Trip owners can add trip items" on public.trip_items;
drop policy "Trip owners can update trip items" on public.trip_items;
drop policy "Trip owners can delete trip items" on public.trip_items;
create policy "Owners and collaborators can view trip items" on public.trip_items
  for select to authenticated using (private.can_view_trip(trip_id));
create policy "Owners and editors can add trip items" on public.trip_items
  for insert to authenticated
  with check (private.can_edit_trip(trip_id) and created_by = (select auth.uid()));
create policy "Owners and editors can update trip items" on public.trip_items
  for update to authenticated
  using (private.can_edit_trip(trip_id))
  with check (private.can_edit_trip(trip_id));
create policy "Trip owners can delete trip items" on public.trip_items
  for delete to authenticated using (private.is_trip_owner(trip_id));

-- Places referenced by a shared itinerary are visible to everyone on the trip.
drop policy "Users can view their own places" on public.places;
create policy "Users can view their own places and places on shared itineraries" on public.places
  for select to authenticated
  using (
    (select auth.uid()) = user_id
    or exists (
      select 1 from public.trip_items i
      where i.place_id = places.id and private.can_view_trip(i.trip_id)
    )
  );

-- Collaborators see each other's profiles.
drop policy "Users can view their own profile" on public.profiles;
create policy "Users can view their own and their collaborators' profiles" on public.profiles
  for select to authenticated using ((select auth.uid()) = id or private.shares_trip_with(id));

------------------------------------------------------------------------------------------
-- Collaborators.
------------------------------------------------------------------------------------------
alter table public.collaborators enable row level security;

create policy "Trip members can view collaborators" on public.collaborators
  for select to authenticated
  using (user_id = (select auth.uid()) or private.can_view_trip(trip_id));
create policy "Trip owners can invite collaborators" on public.collaborators
  for insert to authenticated
  with check (private.is_trip_owner(trip_id) and status = 'pending' and invited_by = (select auth.uid()));
create policy "Trip owners can change collaborator permissions" on public.collaborators
  for update to authenticated
  using (private.is_trip_owner(trip_id))
  with check (private.is_trip_owner(trip_id));
create policy "Owners remove collaborators and collaborators leave" on public.collaborators
  for delete to authenticated
  using (private.is_trip_owner(trip_id) or user_id = (select auth.uid()));

-- Owners may change the permission; acceptance goes through `accept-invitation`.
revoke update on public.collaborators from anon, authenticated;
grant update (permission) on public.collaborators to authenticated;

------------------------------------------------------------------------------------------
-- Votes on itinerary items.
------------------------------------------------------------------------------------------
create table public.votes (
  id uuid primary key default gen_random_uuid(),
  trip_id uuid not null constraint fk_votes_trip_id references public.trips (id) on delete cascade,
  trip_item_id uuid not null constraint fk_votes_trip_item_id references public.trip_items (id) on delete cascade,
  user_id uuid not null default auth.uid() constraint fk_votes_user_id references auth.users (id) on delete cascade,
  value smallint not null check (value in (-1, 1)),
  comment text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint votes_trip_item_id_user_id_key unique (trip_item_id, user_id)
);
create index idx_votes_trip_id on public.votes (trip_id);
create index idx_votes_trip_item_id on public.votes (trip_item_id);
create index idx_votes_user_id on public.votes (user_id);

create trigger votes_set_updated_at
  before update on public.votes
  for each row execute function private.set_updated_at();

alter table public.votes enable row level security;

create policy "Trip members can view votes" on public.votes
  for select to authenticated using (private.can_view_trip(trip_id));
create policy "Trip members can vote as themselves" on public.votes
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and private.can_view_trip(trip_id)
    and exists (select 1 from public.trip_items i where i.id = trip_item_id and i.trip_id = votes.trip_id)
  );
create policy "Voters can change their vote" on public.votes
  for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Voters can withdraw their vote" on public.votes
  for delete to authenticated using (user_id = (select auth.uid()));

-- One vote per member per item; which item and trip never change.
revoke update on public.votes from anon, authenticated;
grant update (value, comment) on public.votes to authenticated;

------------------------------------------------------------------------------------------
-- Collections of saved places (optionally attached to a trip, then shared with its members).
------------------------------------------------------------------------------------------
create table public.collections (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() constraint fk_collections_user_id references auth.users (id) on delete cascade,
  trip_id uuid constraint fk_collections_trip_id references public.trips (id) on delete set null,
  name text not null check (char_length(name) between 1 and 120),
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_collections_user_id on public.collections (user_id);
create index idx_collections_trip_id on public.collections (trip_id);

create trigger collections_set_updated_at
  before update on public.collections
  for each row execute function private.set_updated_at();

create table public.saved_places (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() constraint fk_saved_places_user_id references auth.users (id) on delete cascade,
  place_id uuid not null constraint fk_saved_places_place_id references public.places (id) on delete cascade,
  collection_id uuid constraint fk_saved_places_collection_id references public.collections (id) on delete set null,
  category text not null default 'other',
  notes text,
  rating smallint check (rating between 1 and 5),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint saved_places_user_id_place_id_key unique (user_id, place_id)
);
create index idx_saved_places_user_id on public.saved_places (user_id);
create index idx_saved_places_place_id on public.saved_places (place_id);
create index idx_saved_places_collection_id on public.saved_places (collection_id);
create index idx_saved_places_category on public.saved_places (category);
create index idx_saved_places_user_id_created_at on public.saved_places (user_id, created_at desc);

create trigger saved_places_set_updated_at
  before update on public.saved_places
  for each row execute function private.set_updated_at();

alter table public.collections enable row level security;
alter table public.saved_places enable row level security;

create policy "Owners and trip members can view collections" on public.collections
  for select to authenticated
  using (user_id = (select auth.uid()) or (trip_id is not null and private.can_view_trip(trip_id)));
create policy "Users can create their own collections" on public.collections
  for insert to authenticated
  with check (user_id = (select auth.uid()) and (trip_id is null or private.can_edit_trip(trip_id)));
create policy "Owners and trip editors can update collections" on public.collections
  for update to authenticated
  using (user_id = (select auth.uid()) or (trip_id is not null and private.can_edit_trip(trip_id)))
  with check (user_id = (select auth.uid()) or (trip_id is not null and private.can_edit_trip(trip_id)));
create policy "Owners can delete their collections" on public.collections
  for delete to authenticated using (user_id = (select auth.uid()));

revoke update on public.collections from anon, authenticated;
grant update (name, description, trip_id) on public.collections to authenticated;

create policy "Users and trip members can view saved places" on public.saved_places
  for select to authenticated
  using (
    user_id = (select auth.uid())
    or exists (
      select 1 from public.collections c
      where c.id = collection_id and c.trip_id is not null and private.can_view_trip(c.trip_id)
    )
  );
create policy "Users can save places" on public.saved_places
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Users can update their own saved places" on public.saved_places
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Users can delete their own saved places" on public.saved_places
  for delete to authenticated using (user_id = (select auth.uid()));

------------------------------------------------------------------------------------------
-- Tags.
------------------------------------------------------------------------------------------
create table public.tags (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() constraint fk_tags_user_id references auth.users (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 50),
  color text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tags_user_id_name_key unique (user_id, name)
);
create index idx_tags_user_id on public.tags (user_id);

create table public.trip_tags (
  id uuid primary key default gen_random_uuid(),
  trip_id uuid not null constraint fk_trip_tags_trip_id references public.trips (id) on delete cascade,
  tag_id uuid not null constraint fk_trip_tags_tag_id references public.tags (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint trip_tags_trip_id_tag_id_key unique (trip_id, tag_id)
);
create index idx_trip_tags_trip_id on public.trip_tags (trip_id);
create index idx_trip_tags_tag_id on public.trip_tags (tag_id);

alter table public.tags enable row level security;
alter table public.trip_tags enable row level security;

create policy "Users can view their own tags" on public.tags
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can create their own tags" on public.tags
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Users can update their own tags" on public.tags
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Users can delete their own tags" on public.tags
  for delete to authenticated using (user_id = (select auth.uid()));

create policy "Tag owners can view their trip tags" on public.trip_tags
  for select to authenticated
  using (exists (select 1 from public.tags t where t.id = tag_id and t.user_id = (select auth.uid())));
create policy "Tag owners can tag trips they can view" on public.trip_tags
  for insert to authenticated
  with check (
    exists (select 1 from public.tags t where t.id = tag_id and t.user_id = (select auth.uid()))
    and private.can_view_trip(trip_id)
  );
create policy "Tag owners can untag trips" on public.trip_tags
  for delete to authenticated
  using (exists (select 1 from public.tags t where t.id = tag_id and t.user_id = (select auth.uid())));

------------------------------------------------------------------------------------------
-- Realtime: new collaborators and live voting.
------------------------------------------------------------------------------------------
alter publication supabase_realtime add table public.collaborators, public.votes;
