-- Sign-up: the profile (public.users, "synced from Supabase Auth"), default AI settings and AI
-- Studio settings, and the credit account with the free-trial grant.
create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.users (id, email, full_name)
  values (new.id, new.email, nullif(new.raw_user_meta_data ->> 'full_name', ''));
  insert into public.ai_settings (user_id) values (new.id);
  insert into public.ai_studio_settings (user_id) values (new.id);
  insert into public.user_credits (user_id, credits_balance, plan_credits) values (new.id, 50, 0);
  insert into public.credit_transactions (user_id, transaction_type, credits_amount, credits_balance_after, reason)
  values (new.id, 'trial_grant', 50, 50, 'Free trial credits');
  return new;
end;
$$;

create or replace function public.handle_user_email_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.users set email = new.email where id = new.id;
  return new;
end;
$$;

revoke execute on function public.handle_new_user(), public.handle_user_email_change() from public, anon, authenticated;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_user();
create trigger on_auth_user_email_changed
  after update of email on auth.users
  for each row when (old.email is distinct from new.email)
  execute function public.handle_user_email_change();

-- updated_at on every table that has the column.
do $$
declare
  t record;
begin
  for t in
    select c.table_name
    from information_schema.columns c
    join information_schema.tables tb on tb.table_schema = c.table_schema and tb.table_name = c.table_name
    where c.table_schema = 'public' and c.column_name = 'updated_at' and tb.table_type = 'BASE TABLE'
  loop
    execute format('create trigger set_updated_at before update on public.%I for each row execute function public.set_updated_at()', t.table_name);
  end loop;
end
$$;

-- Storage.
--   knowledge-base     private; people upload their documents under `<user id>/…`
--   conversation-media private; media of DMs, stored by the webhook worker under `<user id>/…`,
--                      readable by that user
--   bertopic-models    private; topic models, the backend only
--   ai-model-logos     public; logos of the model picker
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values
  ('knowledge-base', 'knowledge-base', false, 20971520,
   array['application/pdf', 'text/plain', 'text/markdown', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document']),
  ('conversation-media', 'conversation-media', false, 26214400, array['image/*', 'video/*', 'audio/*']),
  ('bertopic-models', 'bertopic-models', false, null, null),
  ('ai-model-logos', 'ai-model-logos', true, 1048576, array['image/png', 'image/svg+xml', 'image/webp'])
on conflict (id) do nothing;

create policy "Users upload knowledge documents to their folder" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'knowledge-base' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users read their knowledge documents" on storage.objects
  for select to authenticated
  using (bucket_id = 'knowledge-base' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users replace their knowledge documents" on storage.objects
  for update to authenticated
  using (bucket_id = 'knowledge-base' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'knowledge-base' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users delete their knowledge documents" on storage.objects
  for delete to authenticated
  using (bucket_id = 'knowledge-base' and (storage.foldername(name))[1] = (select auth.uid())::text);

create policy "Users read media of their conversations" on storage.objects
  for select to authenticated
  using (bucket_id = 'conversation-media' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- Realtime: the inbox shows new messages and conversation changes live (row level security
-- decides who receives what).
alter publication supabase_realtime add table public.conversation_messages, public.conversations;
