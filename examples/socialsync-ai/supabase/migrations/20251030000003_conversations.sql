-- DM threads (Instagram DMs, WhatsApp chats), their messages, AI decisions and escalations.

create table public.conversations (
  id uuid primary key default extensions.uuid_generate_v4(),
  social_account_id uuid not null references public.social_accounts (id) on delete cascade,
  external_conversation_id varchar(255),
  customer_identifier varchar(255) not null,
  customer_name varchar(255),
  customer_avatar_url varchar(1024),
  status varchar(20) not null default 'open' check (status in ('open', 'closed', 'pending')),
  priority varchar(20) not null default 'normal' check (priority in ('normal', 'high', 'urgent')),
  assigned_to uuid references public.users (id) on delete set null,
  tags text[],
  ai_mode text not null default 'ON' check (ai_mode in ('ON', 'OFF')),
  automation_disabled boolean not null default false,
  unread_count integer not null default 0 check (unread_count >= 0),
  last_message_at timestamptz,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (social_account_id, customer_identifier)
);
create index idx_conversations_user_id on public.conversations (social_account_id);
create index idx_conversations_status on public.conversations (status);
create index idx_conversations_last_message_at on public.conversations (last_message_at desc);
create index idx_conversations_assigned_to on public.conversations (assigned_to);

create table public.conversation_messages (
  id uuid primary key default extensions.uuid_generate_v4(),
  conversation_id uuid not null references public.conversations (id) on delete cascade,
  external_message_id varchar(255) unique,
  direction varchar(10) not null check (direction in ('inbound', 'outbound')),
  content text,
  message_type varchar(20) not null default 'text' check (message_type in ('text', 'image', 'video', 'audio', 'file', 'sticker')),
  media_type varchar(100),
  sender_id varchar(255),
  sender_name varchar(255),
  sender_avatar_url varchar(1024),
  is_from_agent boolean not null default false,
  agent_id uuid references public.users (id) on delete set null,
  reply_to_message_id uuid references public.conversation_messages (id) on delete set null,
  status varchar(20) not null default 'sent' check (status in ('sent', 'delivered', 'read', 'failed')),
  storage_object_name varchar(1024),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_messages_conversation_id on public.conversation_messages (conversation_id);
create index idx_messages_created_at on public.conversation_messages (created_at desc);
create index idx_messages_agent_id on public.conversation_messages (agent_id);
create index idx_messages_reply_to on public.conversation_messages (reply_to_message_id);

create table public.ai_decisions (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  message_id uuid,
  decision text not null check (decision in ('respond', 'ignore', 'escalate')),
  confidence numeric(4, 3) check (confidence between 0 and 1),
  reason text,
  matched_rule text,
  message_text text check (char_length(message_text) <= 500),
  snapshot_json jsonb,
  created_at timestamptz not null default now()
);
create index idx_ai_decisions_user_id on public.ai_decisions (user_id);
create index idx_ai_decisions_created_at on public.ai_decisions (created_at desc);

create table public.support_escalations (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references public.users (id) on delete cascade,
  conversation_id uuid not null references public.conversations (id) on delete cascade,
  message text not null,
  confidence float8 check (confidence between 0 and 1),
  reason text not null check (reason in ('urgent_request', 'human_requested', 'legal_matter', 'ai_limitation', 'complex_issue')),
  notified boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_support_escalations_user_id on public.support_escalations (user_id, notified);
create index idx_support_escalations_conversation_id on public.support_escalations (conversation_id);

-- Whether a conversation belongs to one of the caller's social accounts.
create or replace function public.owns_conversation(p_conversation_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.conversations c
    join public.social_accounts sa on sa.id = c.social_account_id
    where c.id = p_conversation_id and sa.user_id = (select auth.uid())
  )
$$;
revoke execute on function public.owns_conversation(uuid) from public, anon;
grant execute on function public.owns_conversation(uuid) to authenticated, service_role;

alter table public.conversations enable row level security;
alter table public.conversation_messages enable row level security;
alter table public.ai_decisions enable row level security;
alter table public.support_escalations enable row level security;

create policy "users_own_conversations" on public.conversations
  for select to authenticated
  using (social_account_id in (select id from public.social_accounts where user_id = (select auth.uid())));
create policy "users_insert_conversations" on public.conversations
  for insert to authenticated
  with check (social_account_id in (select id from public.social_accounts where user_id = (select auth.uid())));
create policy "users_update_conversations" on public.conversations
  for update to authenticated
  using (social_account_id in (select id from public.social_accounts where user_id = (select auth.uid())))
  with check (social_account_id in (select id from public.social_accounts where user_id = (select auth.uid())));
create policy "users_delete_conversations" on public.conversations
  for delete to authenticated
  using (social_account_id in (select id from public.social_accounts where user_id = (select auth.uid())));

-- Inbound messages arrive through the webhook worker (service role); people read their threads
-- and send replies in them.
create policy "users_read_messages" on public.conversation_messages
  for select to authenticated using (public.owns_conversation(conversation_id));
create policy "users_send_replies" on public.conversation_messages
  for insert to authenticated
  with check (public.owns_conversation(conversation_id) and direction = 'outbound'
              and (agent_id is null or agent_id = (select auth.uid())));

-- Decisions and escalations are written by the AI worker; people read theirs.
create policy "users_read_ai_decisions" on public.ai_decisions
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "users_read_escalations" on public.support_escalations
  for select to authenticated using ((select auth.uid()) = user_id);
