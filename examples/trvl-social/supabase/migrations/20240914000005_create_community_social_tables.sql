-- Phase 2 — social: connections, posts, likes, comments and the community feed.
-- Public posts are readable by everyone, connection-only posts by the author's accepted
-- connections, private posts by the author. Hidden posts (moderation) disappear for everyone
-- but their author.

create table public.user_connections (
  id uuid primary key default gen_random_uuid(),
  requester_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  addressee_id uuid not null references public.profiles (id) on delete cascade,
  status text not null default 'pending' check (status in ('pending', 'accepted', 'declined', 'blocked')),
  responded_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint user_connections_not_self check (requester_id <> addressee_id)
);
create unique index idx_user_connections_pair on public.user_connections
  (least(requester_id, addressee_id), greatest(requester_id, addressee_id));
create index idx_user_connections_requester_id on public.user_connections (requester_id, status);
create index idx_user_connections_addressee_id on public.user_connections (addressee_id, status);

create trigger user_connections_set_updated_at
  before update on public.user_connections
  for each row execute function private.set_updated_at();

create table public.posts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  adventure_id uuid references public.adventures (id) on delete set null,
  group_id uuid references public.groups (id) on delete cascade,
  content text not null check (char_length(content) between 1 and 5000),
  media_paths text[] not null default '{}',
  location text,
  visibility text not null default 'public' check (visibility in ('public', 'connections', 'private')),
  likes_count integer not null default 0,
  comments_count integer not null default 0,
  is_hidden boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_posts_user_id_created_at on public.posts (user_id, created_at desc);
create index idx_posts_adventure_id on public.posts (adventure_id);
create index idx_posts_group_id on public.posts (group_id);
create index idx_posts_public_created_at on public.posts (created_at desc) where visibility = 'public' and not is_hidden;

create trigger posts_set_updated_at
  before update on public.posts
  for each row execute function private.set_updated_at();

create table public.post_likes (
  id uuid primary key default gen_random_uuid(),
  post_id uuid not null references public.posts (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  constraint post_likes_post_id_user_id_key unique (post_id, user_id)
);
create index idx_post_likes_user_id on public.post_likes (user_id);

create table public.comments (
  id uuid primary key default gen_random_uuid(),
  post_id uuid not null references public.posts (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  parent_id uuid references public.comments (id) on delete cascade,
  content text not null check (char_length(content) between 1 and 2000),
  likes_count integer not null default 0,
  is_hidden boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_comments_post_id_created_at on public.comments (post_id, created_at);
create index idx_comments_user_id on public.comments (user_id);
create index idx_comments_parent_id on public.comments (parent_id);

create trigger comments_set_updated_at
  before update on public.comments
  for each row execute function private.set_updated_at();

create table public.comment_likes (
  id uuid primary key default gen_random_uuid(),
  comment_id uuid not null references public.comments (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  constraint comment_likes_comment_id_user_id_key unique (comment_id, user_id)
);
create index idx_comment_likes_user_id on public.comment_likes (user_id);

create table public.community_feed_items (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  post_id uuid not null references public.posts (id) on delete cascade,
  score numeric(8, 4) not null default 0,
  reason text,
  seen_at timestamptz,
  created_at timestamptz not null default now(),
  constraint community_feed_items_user_id_post_id_key unique (user_id, post_id)
);
create index idx_community_feed_items_user_id_score on public.community_feed_items (user_id, score desc);
create index idx_community_feed_items_post_id on public.community_feed_items (post_id);

-- Access helpers.
create or replace function private.are_connected(p_other uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.user_connections c
    where c.status = 'accepted'
      and ((c.requester_id = (select auth.uid()) and c.addressee_id = p_other)
        or (c.addressee_id = (select auth.uid()) and c.requester_id = p_other))
  );
$$;

create or replace function private.can_view_post(p_post_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.posts p
    where p.id = p_post_id
      and (p.user_id = (select auth.uid())
        or (not p.is_hidden and (p.visibility = 'public'
          or (p.visibility = 'connections' and private.are_connected(p.user_id)))))
  );
$$;

grant execute on function private.are_connected(uuid), private.can_view_post(uuid) to anon, authenticated, service_role;

alter table public.user_connections enable row level security;
alter table public.posts enable row level security;
alter table public.post_likes enable row level security;
alter table public.comments enable row level security;
alter table public.comment_likes enable row level security;
alter table public.community_feed_items enable row level security;

-- connections
create policy "Users can view own connections" on public.user_connections
  for select to authenticated using ((select auth.uid()) in (requester_id, addressee_id));
create policy "Users can send connection requests" on public.user_connections
  for insert to authenticated with check ((select auth.uid()) = requester_id and status = 'pending');
create policy "Addressees can respond to requests" on public.user_connections
  for update to authenticated
  using ((select auth.uid()) = addressee_id)
  with check ((select auth.uid()) = addressee_id and status in ('accepted', 'declined', 'blocked'));
create policy "Either side can remove a connection" on public.user_connections
  for delete to authenticated using ((select auth.uid()) in (requester_id, addressee_id));
revoke update on public.user_connections from anon, authenticated;
grant update (status, responded_at) on public.user_connections to authenticated;

-- posts
create policy "Posts are visible to their audience" on public.posts
  for select to anon, authenticated
  using (
    (select auth.uid()) = user_id
    or (not is_hidden and (visibility = 'public' or (visibility = 'connections' and private.are_connected(user_id))))
  );
create policy "Users can create own posts" on public.posts
  for insert to authenticated with check ((select auth.uid()) = user_id and not is_hidden);
create policy "Authors can update own posts" on public.posts
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Authors can delete own posts" on public.posts
  for delete to authenticated using ((select auth.uid()) = user_id);
revoke update on public.posts from anon, authenticated;
grant update (content, media_paths, location, visibility) on public.posts to authenticated;

-- likes
create policy "Likes on visible posts are viewable" on public.post_likes
  for select to anon, authenticated using (private.can_view_post(post_id));
create policy "Users can like visible posts" on public.post_likes
  for insert to authenticated with check ((select auth.uid()) = user_id and private.can_view_post(post_id));
create policy "Users can unlike" on public.post_likes
  for delete to authenticated using ((select auth.uid()) = user_id);
revoke update on public.post_likes from anon, authenticated;

-- comments
create policy "Comments on visible posts are viewable" on public.comments
  for select to anon, authenticated
  using (private.can_view_post(post_id) and (not is_hidden or (select auth.uid()) = user_id));
create policy "Users can comment on visible posts" on public.comments
  for insert to authenticated
  with check ((select auth.uid()) = user_id and not is_hidden and private.can_view_post(post_id));
create policy "Authors can edit own comments" on public.comments
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Authors and post authors can delete comments" on public.comments
  for delete to authenticated
  using ((select auth.uid()) = user_id
    or exists (select 1 from public.posts p where p.id = post_id and p.user_id = (select auth.uid())));
revoke update on public.comments from anon, authenticated;
grant update (content) on public.comments to authenticated;

create policy "Comment likes are viewable with the comment" on public.comment_likes
  for select to anon, authenticated
  using (exists (select 1 from public.comments c where c.id = comment_id));
create policy "Users can like comments they see" on public.comment_likes
  for insert to authenticated
  with check ((select auth.uid()) = user_id and exists (select 1 from public.comments c where c.id = comment_id));
create policy "Users can unlike comments" on public.comment_likes
  for delete to authenticated using ((select auth.uid()) = user_id);
revoke update on public.comment_likes from anon, authenticated;

-- feed: ranked by the feed builder (service role), read and marked seen by its owner
create policy "Users can view own feed" on public.community_feed_items
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can mark own feed items seen" on public.community_feed_items
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
revoke insert, update, delete on public.community_feed_items from anon, authenticated;
grant update (seen_at) on public.community_feed_items to authenticated;
