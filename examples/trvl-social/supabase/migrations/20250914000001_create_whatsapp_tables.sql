-- Phase 4 — WhatsApp Business: contacts, conversations, messages and raw webhooks.
-- The WhatsApp webhook and sender functions write with the service role; users read their own
-- contact, conversations and messages, and may opt in or out.

create table public.whatsapp_contacts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid unique references public.profiles (id) on delete cascade,
  wa_id text not null unique,
  phone_e164 text not null check (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
  display_name text,
  opted_in boolean not null default false,
  opted_in_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger whatsapp_contacts_set_updated_at
  before update on public.whatsapp_contacts
  for each row execute function private.set_updated_at();

create table public.whatsapp_conversations (
  id uuid primary key default gen_random_uuid(),
  contact_id uuid not null references public.whatsapp_contacts (id) on delete cascade,
  user_id uuid references public.profiles (id) on delete cascade,
  booking_id uuid references public.bookings (id) on delete set null,
  group_id uuid references public.groups (id) on delete set null,
  status text not null default 'open' check (status in ('open', 'closed', 'expired')),
  last_message_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_whatsapp_conversations_contact_id on public.whatsapp_conversations (contact_id);
create index idx_whatsapp_conversations_user_id on public.whatsapp_conversations (user_id, last_message_at desc);
create index idx_whatsapp_conversations_booking_id on public.whatsapp_conversations (booking_id);
create index idx_whatsapp_conversations_group_id on public.whatsapp_conversations (group_id);

create trigger whatsapp_conversations_set_updated_at
  before update on public.whatsapp_conversations
  for each row execute function private.set_updated_at();

create table public.whatsapp_messages (
  id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null references public.whatsapp_conversations (id) on delete cascade,
  direction text not null check (direction in ('inbound', 'outbound')),
  wa_message_id text unique,
  message_type text not null default 'text' check (message_type in ('text', 'template', 'image', 'document', 'location')),
  body text,
  template_name text,
  status text not null default 'queued' check (status in ('queued', 'sent', 'delivered', 'read', 'failed', 'received')),
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_whatsapp_messages_conversation_id_created_at on public.whatsapp_messages (conversation_id, created_at);

create trigger whatsapp_messages_set_updated_at
  before update on public.whatsapp_messages
  for each row execute function private.set_updated_at();

create table public.whatsapp_webhooks (
  id uuid primary key default gen_random_uuid(),
  event_type text not null,
  payload jsonb not null,
  signature_valid boolean not null default false,
  processed_at timestamptz,
  error text,
  created_at timestamptz not null default now()
);
create index idx_whatsapp_webhooks_unprocessed on public.whatsapp_webhooks (created_at) where processed_at is null;

alter table public.whatsapp_contacts enable row level security;
alter table public.whatsapp_conversations enable row level security;
alter table public.whatsapp_messages enable row level security;
alter table public.whatsapp_webhooks enable row level security;

create policy "Users can view own WhatsApp contact" on public.whatsapp_contacts
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users can opt in or out" on public.whatsapp_contacts
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
revoke insert, update, delete on public.whatsapp_contacts from anon, authenticated;
grant update (opted_in, opted_in_at) on public.whatsapp_contacts to authenticated;

create policy "Users can view own conversations" on public.whatsapp_conversations
  for select to authenticated using ((select auth.uid()) = user_id);
revoke insert, update, delete on public.whatsapp_conversations from anon, authenticated;

create policy "Users can view messages of own conversations" on public.whatsapp_messages
  for select to authenticated
  using (exists (
    select 1 from public.whatsapp_conversations c
    where c.id = conversation_id and c.user_id = (select auth.uid())
  ));
revoke insert, update, delete on public.whatsapp_messages from anon, authenticated;

-- Raw webhook payloads: service role only (no policies).
revoke all on public.whatsapp_webhooks from anon, authenticated;

alter publication supabase_realtime add table public.whatsapp_messages;
