-- Phase 2 — statistics and notification triggers. All are security definer: they maintain
-- counters and write notifications the acting user could not write directly.

-- Like and comment counters on posts.
create or replace function private.update_post_likes_count()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.posts set likes_count = likes_count + 1 where id = new.post_id;
  else
    update public.posts set likes_count = greatest(likes_count - 1, 0) where id = old.post_id;
  end if;
  return null;
end;
$$;

create trigger post_likes_count
  after insert or delete on public.post_likes
  for each row execute function private.update_post_likes_count();

create or replace function private.update_post_comments_count()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.posts set comments_count = comments_count + 1 where id = new.post_id;
  else
    update public.posts set comments_count = greatest(comments_count - 1, 0) where id = old.post_id;
  end if;
  return null;
end;
$$;

create trigger comments_count
  after insert or delete on public.comments
  for each row execute function private.update_post_comments_count();

create or replace function private.update_comment_likes_count()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.comments set likes_count = likes_count + 1 where id = new.comment_id;
  else
    update public.comments set likes_count = greatest(likes_count - 1, 0) where id = old.comment_id;
  end if;
  return null;
end;
$$;

create trigger comment_likes_count
  after insert or delete on public.comment_likes
  for each row execute function private.update_comment_likes_count();

-- Review statistics on adventures and vendors.
create or replace function private.refresh_review_stats()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  adv uuid := coalesce(new.adventure_id, old.adventure_id);
  ven uuid := coalesce(new.vendor_id, old.vendor_id);
begin
  update public.adventures a
     set rating = coalesce((select round(avg(r.rating), 2) from public.reviews r where r.adventure_id = adv), 0),
         total_reviews = (select count(*) from public.reviews r where r.adventure_id = adv)
   where a.id = adv;
  update public.vendors v
     set rating = coalesce((select round(avg(r.rating), 2) from public.reviews r where r.vendor_id = ven), 0),
         total_reviews = (select count(*) from public.reviews r where r.vendor_id = ven)
   where v.id = ven;
  return null;
end;
$$;

create trigger reviews_refresh_stats
  after insert or update of rating or delete on public.reviews
  for each row execute function private.refresh_review_stats();

-- Notifications.
create or replace function private.notify(p_user uuid, p_actor uuid, p_type text, p_title text, p_body text, p_data jsonb)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into public.notifications (user_id, actor_id, type, title, body, data)
  select p_user, p_actor, p_type, p_title, p_body, p_data
  where p_user is distinct from p_actor;
$$;
revoke all on function private.notify(uuid, uuid, text, text, text, jsonb) from public, anon, authenticated;

create or replace function private.notify_post_like()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  author uuid;
  who text;
begin
  select p.user_id into author from public.posts p where p.id = new.post_id;
  select coalesce(pr.full_name, pr.username) into who from public.profiles pr where pr.id = new.user_id;
  perform private.notify(author, new.user_id, 'post_like', coalesce(who, 'Someone') || ' liked your post', null,
    jsonb_build_object('post_id', new.post_id));
  return null;
end;
$$;

create trigger post_likes_notify
  after insert on public.post_likes
  for each row execute function private.notify_post_like();

create or replace function private.notify_post_comment()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  author uuid;
  who text;
begin
  select p.user_id into author from public.posts p where p.id = new.post_id;
  select coalesce(pr.full_name, pr.username) into who from public.profiles pr where pr.id = new.user_id;
  perform private.notify(author, new.user_id, 'post_comment', coalesce(who, 'Someone') || ' commented on your post',
    left(new.content, 140), jsonb_build_object('post_id', new.post_id, 'comment_id', new.id));
  return null;
end;
$$;

create trigger comments_notify
  after insert on public.comments
  for each row execute function private.notify_post_comment();

create or replace function private.notify_connection()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    perform private.notify(new.addressee_id, new.requester_id, 'connection_request', 'New connection request', null,
      jsonb_build_object('connection_id', new.id));
  elsif new.status = 'accepted' and old.status is distinct from 'accepted' then
    perform private.notify(new.requester_id, new.addressee_id, 'connection_accepted', 'Connection request accepted', null,
      jsonb_build_object('connection_id', new.id));
  end if;
  return null;
end;
$$;

create trigger user_connections_notify
  after insert or update of status on public.user_connections
  for each row execute function private.notify_connection();

create or replace function private.notify_booking()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  vendor_user uuid;
  adv_title text;
begin
  select v.user_id into vendor_user from public.vendors v where v.id = new.vendor_id;
  select a.title into adv_title from public.adventures a where a.id = new.adventure_id;
  if tg_op = 'INSERT' then
    perform private.notify(vendor_user, new.user_id, 'booking_created', 'New booking: ' || adv_title, null,
      jsonb_build_object('booking_id', new.id));
  elsif new.status = 'confirmed' and old.status is distinct from 'confirmed' then
    perform private.notify(new.user_id, vendor_user, 'booking_confirmed', 'Booking confirmed: ' || adv_title, null,
      jsonb_build_object('booking_id', new.id));
  elsif new.status = 'cancelled' and old.status is distinct from 'cancelled' then
    perform private.notify(case when (select auth.uid()) = new.user_id then vendor_user else new.user_id end,
      (select auth.uid()), 'booking_cancelled', 'Booking cancelled: ' || adv_title, null,
      jsonb_build_object('booking_id', new.id));
  end if;
  return null;
end;
$$;

create trigger bookings_notify
  after insert or update of status on public.bookings
  for each row execute function private.notify_booking();

-- Group invitations.
create or replace function private.notify_group_invite()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  group_name text;
begin
  if new.status = 'invited' then
    select g.name into group_name from public.groups g where g.id = new.group_id;
    perform private.notify(new.user_id, (select auth.uid()), 'group_invite', 'You are invited to ' || group_name, null,
      jsonb_build_object('group_id', new.group_id));
  end if;
  return null;
end;
$$;

create trigger group_members_notify_invite
  after insert on public.group_members
  for each row execute function private.notify_group_invite();
