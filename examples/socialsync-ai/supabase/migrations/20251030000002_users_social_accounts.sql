-- Users (synced from auth.users), their AI settings and connected social accounts.

create type public.social_platform as enum ('instagram', 'whatsapp', 'facebook', 'twitter', 'linkedin', 'tiktok');

create table public.users (
  id uuid primary key references auth.users (id) on delete cascade,
  email varchar(320) unique,
  full_name varchar(200),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_users_email on public.users (email);

create table public.ai_settings (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null unique references public.users (id) on delete cascade,
  ai_model text not null default 'anthropic/claude-3.5-haiku',
  temperature numeric(3, 2) not null default 0.20 check (temperature between 0 and 2),
  top_p numeric(3, 2) not null default 1.00 check (top_p > 0 and top_p <= 1),
  lang text not null default 'en',
  tone text not null default 'friendly',
  system_prompt text,
  ai_control_enabled boolean not null default true,
  ai_enabled_for_chats boolean not null default true,
  ai_enabled_for_comments boolean not null default true,
  flagged_keywords text[] not null default '{}',
  flagged_phrases text[] not null default '{}',
  instructions text,
  ignore_examples text[] not null default '{}',
  doc_lang text[] not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.social_accounts (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  platform public.social_platform not null,
  account_id varchar(255) not null,
  username varchar(255),
  display_name varchar(255),
  profile_url varchar(1024),
  -- Encrypted by the backend before it is stored.
  access_token text,
  refresh_token text,
  token_expires_at timestamptz,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (platform, account_id)
);
create index idx_social_accounts_user_id on public.social_accounts (user_id);
create index idx_social_accounts_platform on public.social_accounts (platform);

alter table public.users enable row level security;
alter table public.ai_settings enable row level security;
alter table public.social_accounts enable row level security;

-- users: the row is created by the sign-up trigger; people read and edit their own.
create policy "Users read their own profile" on public.users
  for select to authenticated using ((select auth.uid()) = id);
create policy "Users update their own profile" on public.users
  for update to authenticated using ((select auth.uid()) = id) with check ((select auth.uid()) = id);

create policy "Users read their AI settings" on public.ai_settings
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users create their AI settings" on public.ai_settings
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users update their AI settings" on public.ai_settings
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);

create policy "Users read their social accounts" on public.social_accounts
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users connect social accounts" on public.social_accounts
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users update their social accounts" on public.social_accounts
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users disconnect their social accounts" on public.social_accounts
  for delete to authenticated using ((select auth.uid()) = user_id);

-- Whether a social account belongs to the caller (used by the policies of dependent tables).
create or replace function public.owns_social_account(p_account_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.social_accounts sa
    where sa.id = p_account_id and sa.user_id = (select auth.uid())
  )
$$;
revoke execute on function public.owns_social_account(uuid) from public, anon;
grant execute on function public.owns_social_account(uuid) to authenticated, service_role;
