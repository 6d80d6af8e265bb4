-- Phase 1 — travel groups, Big Five personality assessments, compatibility scores and travel
-- preferences. Public groups are discoverable; private and invite-only groups are visible to
-- their members. Assessments and preferences are private to their owner; compatibility scores
-- are computed by the matching function (service role) and visible to the people they compare.

create table public.groups (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  adventure_id uuid references public.adventures (id) on delete set null,
  name text not null check (char_length(name) between 3 and 100),
  description text,
  privacy text not null default 'public' check (privacy in ('public', 'private', 'invite_only')),
  max_members integer not null default 12 check (max_members between 2 and 100),
  travel_start date,
  travel_end date,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_groups_owner_id on public.groups (owner_id);
create index idx_groups_adventure_id on public.groups (adventure_id);
create index idx_groups_privacy on public.groups (privacy);

create trigger groups_set_updated_at
  before update on public.groups
  for each row execute function private.set_updated_at();

create table public.group_members (
  id uuid primary key default gen_random_uuid(),
  group_id uuid not null references public.groups (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  role text not null default 'member' check (role in ('owner', 'admin', 'member')),
  status text not null default 'active' check (status in ('invited', 'active', 'left')),
  joined_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint group_members_group_id_user_id_key unique (group_id, user_id)
);
create index idx_group_members_group_id on public.group_members (group_id);
create index idx_group_members_user_id on public.group_members (user_id);

create trigger group_members_set_updated_at
  before update on public.group_members
  for each row execute function private.set_updated_at();

create table public.personality_assessments (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique default auth.uid() references public.profiles (id) on delete cascade,
  openness numeric(5, 2) not null check (openness between 0 and 100),
  conscientiousness numeric(5, 2) not null check (conscientiousness between 0 and 100),
  extraversion numeric(5, 2) not null check (extraversion between 0 and 100),
  agreeableness numeric(5, 2) not null check (agreeableness between 0 and 100),
  neuroticism numeric(5, 2) not null check (neuroticism between 0 and 100),
  answers jsonb not null default '{}',
  completed_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_personality_assessments_traits on public.personality_assessments
  (openness, conscientiousness, extraversion, agreeableness, neuroticism);

create trigger personality_assessments_set_updated_at
  before update on public.personality_assessments
  for each row execute function private.set_updated_at();

create table public.compatibility_scores (
  id uuid primary key default gen_random_uuid(),
  user_a uuid not null references public.profiles (id) on delete cascade,
  user_b uuid not null references public.profiles (id) on delete cascade,
  group_id uuid references public.groups (id) on delete cascade,
  score numeric(5, 2) not null check (score between 0 and 100),
  breakdown jsonb not null default '{}',
  model_version text not null,
  calculated_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint compatibility_scores_distinct_users check (user_a <> user_b)
);
create unique index idx_compatibility_scores_pair on public.compatibility_scores
  (least(user_a, user_b), greatest(user_a, user_b), coalesce(group_id, '00000000-0000-0000-0000-000000000000'::uuid));
create index idx_compatibility_scores_user_a on public.compatibility_scores (user_a, score desc);
create index idx_compatibility_scores_user_b on public.compatibility_scores (user_b, score desc);
create index idx_compatibility_scores_group_id on public.compatibility_scores (group_id);

create table public.travel_preferences (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique default auth.uid() references public.profiles (id) on delete cascade,
  travel_styles text[] not null default '{}',
  interests text[] not null default '{}',
  budget_min numeric(10, 2),
  budget_max numeric(10, 2),
  preferred_group_size int4range,
  preferred_difficulty public.adventure_difficulty,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint travel_preferences_budget_range check (budget_max is null or budget_min is null or budget_max >= budget_min)
);
create index idx_travel_preferences_interests on public.travel_preferences using gin (interests);

create trigger travel_preferences_set_updated_at
  before update on public.travel_preferences
  for each row execute function private.set_updated_at();

-- Group access helpers.
create or replace function private.is_group_member(p_group_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.group_members m
    where m.group_id = p_group_id and m.user_id = (select auth.uid()) and m.status = 'active'
  );
$$;

create or replace function private.is_group_admin(p_group_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.groups g where g.id = p_group_id and g.owner_id = (select auth.uid()))
      or exists (
        select 1 from public.group_members m
        where m.group_id = p_group_id and m.user_id = (select auth.uid()) and m.status = 'active' and m.role in ('owner', 'admin')
      );
$$;

create or replace function private.is_public_group(p_group_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.groups g where g.id = p_group_id and g.privacy = 'public');
$$;

grant execute on function private.is_group_member(uuid), private.is_group_admin(uuid),
  private.is_public_group(uuid) to anon, authenticated, service_role;

-- The creator of a group is its first member.
create or replace function private.add_group_owner()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.group_members (group_id, user_id, role, status) values (new.id, new.owner_id, 'owner', 'active');
  return new;
end;
$$;

create trigger groups_add_owner
  after insert on public.groups
  for each row execute function private.add_group_owner();

alter table public.groups enable row level security;
alter table public.group_members enable row level security;
alter table public.personality_assessments enable row level security;
alter table public.compatibility_scores enable row level security;
alter table public.travel_preferences enable row level security;

-- groups
create policy "Public groups are public; members see their groups" on public.groups
  for select to anon, authenticated
  using (privacy = 'public' or (select auth.uid()) = owner_id or private.is_group_member(id));
create policy "Users can create groups" on public.groups
  for insert to authenticated with check ((select auth.uid()) = owner_id);
create policy "Group admins can update groups" on public.groups
  for update to authenticated using (private.is_group_admin(id)) with check (private.is_group_admin(id));
create policy "Owners can delete groups" on public.groups
  for delete to authenticated using ((select auth.uid()) = owner_id);

revoke update on public.groups from anon, authenticated;
grant update (name, description, privacy, max_members, travel_start, travel_end, adventure_id) on public.groups to authenticated;

-- group members
create policy "Members of public groups are public; members see fellow members" on public.group_members
  for select to anon, authenticated
  using (private.is_public_group(group_id) or (select auth.uid()) = user_id or private.is_group_member(group_id));
-- Anyone joins a public group as a member; group admins invite (the invitee accepts).
create policy "Users join public groups, admins invite" on public.group_members
  for insert to authenticated
  with check (
    ((select auth.uid()) = user_id and role = 'member' and status = 'active' and private.is_public_group(group_id))
    or (private.is_group_admin(group_id) and role in ('member', 'admin') and status = 'invited')
  );
-- Invitees accept, members leave; group admins change roles (see the guard trigger below).
create policy "Members update own membership, admins any" on public.group_members
  for update to authenticated
  using ((select auth.uid()) = user_id or private.is_group_admin(group_id))
  with check (((select auth.uid()) = user_id and status in ('active', 'left')) or private.is_group_admin(group_id));
create policy "Members can leave and admins can remove" on public.group_members
  for delete to authenticated
  using ((select auth.uid()) = user_id or private.is_group_admin(group_id));

revoke update on public.group_members from anon, authenticated;
grant update (status, role) on public.group_members to authenticated;

-- A member cannot promote themselves: only group admins change roles.
create or replace function private.guard_group_member_role()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.role is distinct from old.role and (select auth.role()) = 'authenticated'
     and not exists (select 1 from public.groups g where g.id = new.group_id and g.owner_id = (select auth.uid()))
     and not exists (
       select 1 from public.group_members m
       where m.group_id = new.group_id and m.user_id = (select auth.uid()) and m.status = 'active'
         and m.role in ('owner', 'admin') and m.id <> new.id
     ) then
    raise exception 'only group admins can change member roles' using errcode = '42501';
  end if;
  return new;
end;
$$;

create trigger group_members_guard_role
  before update of role on public.group_members
  for each row execute function private.guard_group_member_role();

-- personality assessments and travel preferences: owner only
create policy "Users can view own assessment" on public.personality_assessments
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can submit own assessment" on public.personality_assessments
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users can update own assessment" on public.personality_assessments
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users can delete own assessment" on public.personality_assessments
  for delete to authenticated using ((select auth.uid()) = user_id);

create policy "Users can view own travel preferences" on public.travel_preferences
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can create own travel preferences" on public.travel_preferences
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users can update own travel preferences" on public.travel_preferences
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users can delete own travel preferences" on public.travel_preferences
  for delete to authenticated using ((select auth.uid()) = user_id);

-- compatibility scores: computed by the service role
create policy "Users can view scores that involve them" on public.compatibility_scores
  for select to authenticated using ((select auth.uid()) in (user_a, user_b));
revoke insert, update, delete on public.compatibility_scores from anon, authenticated;
