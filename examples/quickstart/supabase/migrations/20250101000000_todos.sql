-- Todos owned by users: each user sees and changes only their own rows.
create table public.todos (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  task text not null check (char_length(task) > 0),
  is_complete boolean not null default false,
  inserted_at timestamptz not null default now()
);
create index todos_user_id_idx on public.todos (user_id);

alter table public.todos enable row level security;

create policy "Users read their own todos" on public.todos
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users add their own todos" on public.todos
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users change their own todos" on public.todos
  for update to authenticated using ((select auth.uid()) = user_id);
create policy "Users delete their own todos" on public.todos
  for delete to authenticated using ((select auth.uid()) = user_id);

alter publication supabase_realtime add table public.todos;
