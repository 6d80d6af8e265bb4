-- LangGraph's Postgres checkpointer tables (the AI Studio and the RAG agent keep conversation
-- state there; written by the backend with the service role), and the AI Studio's own settings
-- and conversation list. People may read the checkpoints of their own AI Studio threads.

create table public.checkpoint_migrations (
  v integer primary key
);

create table public.checkpoints (
  thread_id text not null,
  checkpoint_ns text not null default '',
  checkpoint_id text not null,
  parent_checkpoint_id text,
  type text,
  checkpoint jsonb not null,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  primary key (thread_id, checkpoint_ns, checkpoint_id)
);
create index idx_checkpoints_thread_id on public.checkpoints (thread_id);

create table public.checkpoint_writes (
  thread_id text not null,
  checkpoint_ns text not null default '',
  checkpoint_id text not null,
  task_id text not null,
  idx integer not null,
  channel text not null,
  type text,
  blob bytea not null,
  task_path text not null default '',
  primary key (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
create index idx_checkpoint_writes_thread_id on public.checkpoint_writes (thread_id);

create table public.checkpoint_blobs (
  thread_id text not null,
  checkpoint_ns text not null default '',
  channel text not null,
  version text not null,
  type text not null,
  blob bytea,
  primary key (thread_id, checkpoint_ns, channel, version)
);
create index idx_checkpoint_blobs_thread_id on public.checkpoint_blobs (thread_id);

create table public.ai_studio_settings (
  user_id uuid primary key references public.users (id) on delete cascade,
  default_system_prompt text,
  default_model text not null default 'openai/gpt-4o',
  temperature numeric(3, 2) not null default 0.70 check (temperature between 0 and 2.0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.ai_studio_conversation_metadata (
  thread_id text primary key,
  user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
  title text not null default 'New conversation',
  model text,
  message_count integer not null default 0 check (message_count >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_ai_studio_conversations_user on public.ai_studio_conversation_metadata (user_id, updated_at desc);

alter table public.checkpoint_migrations enable row level security;
alter table public.checkpoints enable row level security;
alter table public.checkpoint_writes enable row level security;
alter table public.checkpoint_blobs enable row level security;
alter table public.ai_studio_settings enable row level security;
alter table public.ai_studio_conversation_metadata enable row level security;

create policy "Users read checkpoints of their threads" on public.checkpoints
  for select to authenticated
  using (thread_id in (select m.thread_id from public.ai_studio_conversation_metadata m
                       where m.user_id = (select auth.uid())));
-- checkpoint_writes, checkpoint_blobs, checkpoint_migrations: the service role only.

create policy "Users read their studio settings" on public.ai_studio_settings
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users create their studio settings" on public.ai_studio_settings
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users update their studio settings" on public.ai_studio_settings
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);

create policy "Users read their studio conversations" on public.ai_studio_conversation_metadata
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users start studio conversations" on public.ai_studio_conversation_metadata
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users rename their studio conversations" on public.ai_studio_conversation_metadata
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users delete their studio conversations" on public.ai_studio_conversation_metadata
  for delete to authenticated using ((select auth.uid()) = user_id);
