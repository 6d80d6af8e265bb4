-- Stage 5 — WhatsApp and automations: contacts, messages, notification preferences,
-- automation rules, scheduled jobs and delivery tracking.
--
-- Messages, scheduled jobs and delivery logs are written by `send-whatsapp-message`,
-- `schedule-reminder`, `handle-whatsapp-webhook` and `trigger-automation` (service role).
-- Users manage their own contact, preferences and rules.

create table public.whatsapp_contacts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique constraint fk_whatsapp_contacts_user_id references auth.users (id) on delete cascade,
  phone_e164 text not null check (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
  opted_in boolean not null default false,
  opted_in_at timestamptz,
  verified_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger whatsapp_contacts_set_updated_at
  before update on public.whatsapp_contacts
  for each row execute function private.set_updated_at();

create table public.whatsapp_messages (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_whatsapp_messages_user_id references auth.users (id) on delete cascade,
  trip_id uuid constraint fk_whatsapp_messages_trip_id references public.trips (id) on delete set null,
  contact_id uuid constraint fk_whatsapp_messages_contact_id references public.whatsapp_contacts (id) on delete set null,
  direction text not null check (direction in ('outbound', 'inbound')),
  template_name text,
  body text not null,
  wa_message_id text unique,
  status text not null default 'queued' check (status in ('queued', 'sent', 'delivered', 'read', 'failed', 'received')),
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_whatsapp_messages_user_id_created_at on public.whatsapp_messages (user_id, created_at desc);
create index idx_whatsapp_messages_trip_id on public.whatsapp_messages (trip_id);
create index idx_whatsapp_messages_contact_id on public.whatsapp_messages (contact_id);
create index idx_whatsapp_messages_status on public.whatsapp_messages (status);

create trigger whatsapp_messages_set_updated_at
  before update on public.whatsapp_messages
  for each row execute function private.set_updated_at();

create table public.notification_preferences (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique constraint fk_notification_preferences_user_id references auth.users (id) on delete cascade,
  email_enabled boolean not null default true,
  whatsapp_enabled boolean not null default false,
  push_enabled boolean not null default true,
  trip_reminders boolean not null default true,
  vote_updates boolean not null default true,
  quiet_hours_start time,
  quiet_hours_end time,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger notification_preferences_set_updated_at
  before update on public.notification_preferences
  for each row execute function private.set_updated_at();

create table public.automation_rules (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() constraint fk_automation_rules_user_id references auth.users (id) on delete cascade,
  trip_id uuid constraint fk_automation_rules_trip_id references public.trips (id) on delete cascade,
  name text not null,
  trigger_type text not null check (trigger_type in ('days_before_trip', 'daily_digest', 'item_starting_soon', 'vote_closed')),
  trigger_config jsonb not null default '{}',
  action text not null check (action in ('whatsapp_message', 'email', 'push')),
  action_config jsonb not null default '{}',
  is_enabled boolean not null default true,
  last_triggered_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_automation_rules_user_id on public.automation_rules (user_id);
create index idx_automation_rules_trip_id on public.automation_rules (trip_id);

create trigger automation_rules_set_updated_at
  before update on public.automation_rules
  for each row execute function private.set_updated_at();

create table public.scheduled_jobs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_scheduled_jobs_user_id references auth.users (id) on delete cascade,
  rule_id uuid constraint fk_scheduled_jobs_rule_id references public.automation_rules (id) on delete cascade,
  trip_id uuid constraint fk_scheduled_jobs_trip_id references public.trips (id) on delete cascade,
  job_type text not null,
  payload jsonb not null default '{}',
  run_at timestamptz not null,
  status text not null default 'scheduled' check (status in ('scheduled', 'running', 'done', 'failed', 'cancelled')),
  attempts integer not null default 0,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_scheduled_jobs_user_id on public.scheduled_jobs (user_id);
create index idx_scheduled_jobs_rule_id on public.scheduled_jobs (rule_id);
create index idx_scheduled_jobs_trip_id on public.scheduled_jobs (trip_id);
create index idx_scheduled_jobs_due on public.scheduled_jobs (run_at) where status = 'scheduled';

create trigger scheduled_jobs_set_updated_at
  before update on public.scheduled_jobs
  for each row execute function private.set_updated_at();

create table public.delivery_logs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null constraint fk_delivery_logs_user_id references auth.users (id) on delete cascade,
  message_id uuid constraint fk_delivery_logs_message_id references public.whatsapp_messages (id) on delete cascade,
  job_id uuid constraint fk_delivery_logs_job_id references public.scheduled_jobs (id) on delete set null,
  channel text not null check (channel in ('whatsapp', 'email', 'push')),
  status text not null,
  detail jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_delivery_logs_user_id_created_at on public.delivery_logs (user_id, created_at desc);
create index idx_delivery_logs_message_id on public.delivery_logs (message_id);
create index idx_delivery_logs_job_id on public.delivery_logs (job_id);

------------------------------------------------------------------------------------------
-- Row level security.
------------------------------------------------------------------------------------------
alter table public.whatsapp_contacts enable row level security;
alter table public.whatsapp_messages enable row level security;
alter table public.notification_preferences enable row level security;
alter table public.automation_rules enable row level security;
alter table public.scheduled_jobs enable row level security;
alter table public.delivery_logs enable row level security;

create policy "Users can view their own WhatsApp contact" on public.whatsapp_contacts
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can register their own WhatsApp contact" on public.whatsapp_contacts
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Users can update their own WhatsApp contact" on public.whatsapp_contacts
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Users can delete their own WhatsApp contact" on public.whatsapp_contacts
  for delete to authenticated using (user_id = (select auth.uid()));
-- Verification is recorded by the webhook, not by the client.
revoke insert, update on public.whatsapp_contacts from anon, authenticated;
grant insert (user_id, phone_e164, opted_in, opted_in_at) on public.whatsapp_contacts to authenticated;
grant update (phone_e164, opted_in, opted_in_at) on public.whatsapp_contacts to authenticated;

create policy "Users can view their own WhatsApp messages" on public.whatsapp_messages
  for select to authenticated using (user_id = (select auth.uid()));
revoke insert, update, delete on public.whatsapp_messages from anon, authenticated;

create policy "Users can view their own notification preferences" on public.notification_preferences
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can create their own notification preferences" on public.notification_preferences
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Users can update their own notification preferences" on public.notification_preferences
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Users can delete their own notification preferences" on public.notification_preferences
  for delete to authenticated using (user_id = (select auth.uid()));

create policy "Users can view their own automation rules" on public.automation_rules
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users can create automation rules for trips they edit" on public.automation_rules
  for insert to authenticated
  with check (user_id = (select auth.uid()) and (trip_id is null or private.can_edit_trip(trip_id)));
create policy "Users can update their own automation rules" on public.automation_rules
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()) and (trip_id is null or private.can_edit_trip(trip_id)));
create policy "Users can delete their own automation rules" on public.automation_rules
  for delete to authenticated using (user_id = (select auth.uid()));

create policy "Users can view their own scheduled jobs" on public.scheduled_jobs
  for select to authenticated using (user_id = (select auth.uid()));
revoke insert, update, delete on public.scheduled_jobs from anon, authenticated;

create policy "Users can view their own delivery logs" on public.delivery_logs
  for select to authenticated using (user_id = (select auth.uid()));
revoke insert, update, delete on public.delivery_logs from anon, authenticated;

-- Every new user starts with default notification preferences.
create or replace function private.handle_new_user_notification_preferences()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notification_preferences (user_id) values (new.id)
  on conflict (user_id) do nothing;
  return new;
end;
$$;

create trigger on_auth_user_created_notification_preferences
  after insert on auth.users
  for each row execute function private.handle_new_user_notification_preferences();

------------------------------------------------------------------------------------------
-- Realtime: live message status.
------------------------------------------------------------------------------------------
alter publication supabase_realtime add table public.whatsapp_messages;
