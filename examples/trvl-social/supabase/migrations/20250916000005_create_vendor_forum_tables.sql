-- Phase 6 (design: 011_create_vendor_forum_tables) — the vendor community forum: categories
-- (admins), topics and posts by vendors (active vendors and admins read and write), one vote
-- per vendor and post (never on one's own). Counters and the topic's last activity are kept by
-- triggers; locked topics take no posts; admins pin, lock and remove.

create or replace function private.is_forum_member()
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.vendors v where v.user_id = (select auth.uid()) and v.status = 'active')
      or exists (select 1 from public.profiles p where p.id = (select auth.uid()) and p.role = 'admin');
$$;
grant execute on function private.is_forum_member() to authenticated, service_role;

create table public.forum_categories (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique check (slug ~ '^[a-z0-9-]{2,60}$'),
  name text not null,
  description text,
  sort_order integer not null default 0,
  created_at timestamptz not null default now()
);

create table public.forum_topics (
  id uuid primary key default gen_random_uuid(),
  category_id uuid not null references public.forum_categories (id) on delete cascade,
  author_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  title text not null check (char_length(title) between 3 and 200),
  body text not null check (char_length(body) between 1 and 20000),
  is_pinned boolean not null default false,
  is_locked boolean not null default false,
  reply_count integer not null default 0,
  last_post_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_forum_topics_category_activity on public.forum_topics (category_id, is_pinned desc, last_post_at desc);
create index idx_forum_topics_author_id on public.forum_topics (author_id);

create table public.forum_posts (
  id uuid primary key default gen_random_uuid(),
  topic_id uuid not null references public.forum_topics (id) on delete cascade,
  author_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  body text not null check (char_length(body) between 1 and 20000),
  score integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_forum_posts_topic_id on public.forum_posts (topic_id, created_at);
create index idx_forum_posts_author_id on public.forum_posts (author_id);

create table public.forum_post_votes (
  post_id uuid not null references public.forum_posts (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  value smallint not null check (value in (-1, 1)),
  created_at timestamptz not null default now(),
  primary key (post_id, user_id)
);
create index idx_forum_post_votes_user_id on public.forum_post_votes (user_id);

create or replace function private.forum_post_counters()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.forum_topics set reply_count = reply_count + 1, last_post_at = new.created_at where id = new.topic_id;
  else
    update public.forum_topics set reply_count = greatest(reply_count - 1, 0) where id = old.topic_id;
  end if;
  return null;
end;
$$;
create trigger forum_posts_counters after insert or delete on public.forum_posts
  for each row execute function private.forum_post_counters();

create or replace function private.forum_vote_score()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.forum_posts p
  set score = (select coalesce(sum(value), 0) from public.forum_post_votes v where v.post_id = p.id)
  where p.id = coalesce(new.post_id, old.post_id);
  return null;
end;
$$;
create trigger forum_post_votes_score after insert or update or delete on public.forum_post_votes
  for each row execute function private.forum_vote_score();

create trigger forum_topics_set_updated_at before update on public.forum_topics
  for each row execute function private.set_updated_at();
create trigger forum_posts_set_updated_at before update on public.forum_posts
  for each row execute function private.set_updated_at();

alter table public.forum_categories enable row level security;
alter table public.forum_topics enable row level security;
alter table public.forum_posts enable row level security;
alter table public.forum_post_votes enable row level security;
revoke all on public.forum_categories, public.forum_topics, public.forum_posts, public.forum_post_votes from anon;
revoke update on public.forum_topics, public.forum_posts, public.forum_post_votes from authenticated;
grant update (title, body, is_pinned, is_locked) on public.forum_topics to authenticated;
grant update (body) on public.forum_posts to authenticated;
grant update (value) on public.forum_post_votes to authenticated;

create policy "Forum members read categories" on public.forum_categories
  for select to authenticated using ((select private.is_forum_member()));
create policy "Admins create categories" on public.forum_categories
  for insert to authenticated with check ((select private.is_admin()));
create policy "Admins edit categories" on public.forum_categories
  for update to authenticated using ((select private.is_admin())) with check ((select private.is_admin()));
create policy "Admins delete categories" on public.forum_categories
  for delete to authenticated using ((select private.is_admin()));
grant insert, update, delete on public.forum_categories to authenticated;

create policy "Forum members read topics" on public.forum_topics
  for select to authenticated using ((select private.is_forum_member()));
create policy "Forum members open topics" on public.forum_topics
  for insert to authenticated with check ((select private.is_forum_member()) and author_id = (select auth.uid())
    and not is_pinned and not is_locked);
create policy "Authors edit open topics; admins moderate" on public.forum_topics
  for update to authenticated
  using ((author_id = (select auth.uid()) and not is_locked) or (select private.is_admin()))
  with check ((author_id = (select auth.uid()) and not is_pinned and not is_locked) or (select private.is_admin()));
create policy "Authors and admins delete topics" on public.forum_topics
  for delete to authenticated using (author_id = (select auth.uid()) or (select private.is_admin()));

create policy "Forum members read posts" on public.forum_posts
  for select to authenticated using ((select private.is_forum_member()));
create policy "Forum members reply to open topics" on public.forum_posts
  for insert to authenticated with check ((select private.is_forum_member()) and author_id = (select auth.uid())
    and exists (select 1 from public.forum_topics t where t.id = topic_id and not t.is_locked));
create policy "Authors edit their posts" on public.forum_posts
  for update to authenticated using (author_id = (select auth.uid())) with check (author_id = (select auth.uid()));
create policy "Authors and admins delete posts" on public.forum_posts
  for delete to authenticated using (author_id = (select auth.uid()) or (select private.is_admin()));

create policy "Forum members read votes" on public.forum_post_votes
  for select to authenticated using ((select private.is_forum_member()));
create policy "Forum members vote on others' posts" on public.forum_post_votes
  for insert to authenticated with check ((select private.is_forum_member()) and user_id = (select auth.uid())
    and not exists (select 1 from public.forum_posts p where p.id = post_id and p.author_id = (select auth.uid())));
create policy "Voters change their vote" on public.forum_post_votes
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Voters withdraw their vote" on public.forum_post_votes
  for delete to authenticated using (user_id = (select auth.uid()));
