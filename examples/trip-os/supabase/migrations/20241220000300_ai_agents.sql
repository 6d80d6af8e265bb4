-- Stage 3 — AI agents: definitions, runs, messages, context memory and token usage.
--
-- Runs, messages and token usage are written by the `run-ai-agent`, `summarize-trip`,
-- `optimize-itinerary` and `classify-place` edge functions with the service role; clients
-- only read their own rows (and, for a shared trip, the messages of its runs).

create table public.ai_agents (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique check (slug ~ '^[a-z0-9-]+$'),
  name text not null,
  description text,
  model text not null,
  system_prompt text not null,
  temperature numeric(3, 2) not null default 0.7 check (temperature between 0 and 2),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger ai_agents_set_updated_at
  before update on public.ai_agents
  for each row execute function private.set_updated_at();

create table public.ai_runs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_ai_runs_user_id references auth.users (id) on delete cascade,
  agent_id uuid not null constraint fk_ai_runs_agent_id references public.ai_agents (id) on delete restrict,
  trip_id uuid constraint fk_ai_runs_trip_id references public.trips (id) on delete set null,
  status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  input jsonb not null default '{}',
  output jsonb,
  error text,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_ai_runs_user_id on public.ai_runs (user_id);
create index idx_ai_runs_agent_id on public.ai_runs (agent_id);
create index idx_ai_runs_trip_id on public.ai_runs (trip_id);
create index idx_ai_runs_created_at on public.ai_runs (created_at);
create index idx_ai_runs_user_id_created_at on public.ai_runs (user_id, created_at desc);

create trigger ai_runs_set_updated_at
  before update on public.ai_runs
  for each row execute function private.set_updated_at();

create table public.ai_messages (
  id uuid primary key default gen_random_uuid(),
  run_id uuid not null constraint fk_ai_messages_run_id references public.ai_runs (id) on delete cascade,
  user_id uuid not null constraint fk_ai_messages_user_id references auth.users (id) on delete cascade,
  trip_id uuid constraint fk_ai_messages_trip_id references public.trips (id) on delete set null,
  role text not null check (role in ('system', 'user', 'assistant', 'tool')),
  content text not null,
  sequence integer not null default 0,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_ai_messages_run_id on public.ai_messages (run_id, sequence);
create index idx_ai_messages_user_id on public.ai_messages (user_id);
create index idx_ai_messages_trip_id on public.ai_messages (trip_id);

create table public.ai_memory (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_ai_memory_user_id references auth.users (id) on delete cascade,
  trip_id uuid constraint fk_ai_memory_trip_id references public.trips (id) on delete cascade,
  key text not null,
  content jsonb not null,
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index idx_ai_memory_user_id_trip_id_key on public.ai_memory (user_id, coalesce(trip_id, '00000000-0000-0000-0000-000000000000'::uuid), key);
create index idx_ai_memory_trip_id on public.ai_memory (trip_id);

create trigger ai_memory_set_updated_at
  before update on public.ai_memory
  for each row execute function private.set_updated_at();

create table public.token_usage (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_token_usage_user_id references auth.users (id) on delete cascade,
  run_id uuid constraint fk_token_usage_run_id references public.ai_runs (id) on delete set null,
  model text not null,
  prompt_tokens integer not null default 0 check (prompt_tokens >= 0),
  completion_tokens integer not null default 0 check (completion_tokens >= 0),
  total_tokens integer generated always as (prompt_tokens + completion_tokens) stored,
  cost_usd numeric(12, 6) not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_token_usage_user_id_created_at on public.token_usage (user_id, created_at desc);
create index idx_token_usage_run_id on public.token_usage (run_id);

------------------------------------------------------------------------------------------
-- Row level security: read-only for clients, service role writes.
------------------------------------------------------------------------------------------
alter table public.ai_agents enable row level security;
alter table public.ai_runs enable row level security;
alter table public.ai_messages enable row level security;
alter table public.ai_memory enable row level security;
alter table public.token_usage enable row level security;

create policy "Signed-in users can view active agents" on public.ai_agents
  for select to authenticated using (is_active);

create policy "Users can view their own AI runs" on public.ai_runs
  for select to authenticated using (user_id = (select auth.uid()));

create policy "Users and trip members can view AI messages" on public.ai_messages
  for select to authenticated
  using (user_id = (select auth.uid()) or (trip_id is not null and private.can_view_trip(trip_id)));

create policy "Users can view their own AI memory" on public.ai_memory
  for select to authenticated using (user_id = (select auth.uid()));
-- Forgetting is the user's right: they may delete memory the agents keep about them.
create policy "Users can delete their own AI memory" on public.ai_memory
  for delete to authenticated using (user_id = (select auth.uid()));

create policy "Users can view their own token usage" on public.token_usage
  for select to authenticated using (user_id = (select auth.uid()));

-- No insert/update/delete policies for clients on these tables: only the service role writes.
revoke insert, update, delete on public.ai_agents, public.ai_runs, public.ai_messages,
  public.token_usage from anon, authenticated;
revoke insert, update on public.ai_memory from anon, authenticated;

------------------------------------------------------------------------------------------
-- Realtime: stream AI responses.
------------------------------------------------------------------------------------------
alter publication supabase_realtime add table public.ai_messages;
