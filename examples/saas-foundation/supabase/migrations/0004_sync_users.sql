-- public.users mirrors auth.users (design: "Extension Pattern: public.users extends auth.users";
-- "Data Sync: Email stored in both tables"). Nothing in 0001-0003 creates that row, and the
-- policies of 0002 let no user insert it (only the service role may), while subscriptions and
-- usage_counters reference public.users. So the row is made where the account is made: a
-- trigger on auth.users inserts it at sign-up and carries later email changes over.

create or replace function public.handle_new_auth_user()
returns trigger
language plpgsql
security definer set search_path = ''
as $$
begin
  insert into public.users (id, email)
  values (new.id, coalesce(new.email, ''))
  on conflict (id) do nothing;
  return new;
end;
$$;

create or replace function public.handle_auth_user_email_change()
returns trigger
language plpgsql
security definer set search_path = ''
as $$
begin
  update public.users set email = coalesce(new.email, '') where id = new.id;
  return new;
end;
$$;

-- Trigger functions are not for the API roles.
revoke execute on function public.handle_new_auth_user() from public, anon, authenticated;
revoke execute on function public.handle_auth_user_email_change() from public, anon, authenticated;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_auth_user();

create trigger on_auth_user_email_changed
  after update of email on auth.users
  for each row
  when (old.email is distinct from new.email)
  execute function public.handle_auth_user_email_change();

-- Accounts that existed before this migration get their row too.
insert into public.users (id, email)
select id, coalesce(email, '') from auth.users
on conflict (id) do nothing;
