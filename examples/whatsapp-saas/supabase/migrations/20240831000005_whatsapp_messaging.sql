-- Added beyond the design's four migrations: what the WhatsApp Cloud API functions
-- (supabase/functions/whatsapp-webhook, whatsapp-api) write. The design's `whatsapp` schema
-- holds accounts and templates; the messages its customers send and receive, their delivery
-- statuses and the raw webhook deliveries live here, in the same schema and under the same
-- ownership rule (an account's owner reads, the service writes).
--
--   whatsapp.messages          inbound and outbound messages, one row per WhatsApp message id
--   whatsapp.message_statuses  every status Meta reported (sent, delivered, read, failed), once each
--   whatsapp.webhook_events    each verified webhook delivery once (by the SHA-256 of its body)

create type whatsapp.message_direction as enum ('inbound', 'outbound');
-- In the order a message moves through; a status never moves a message backwards.
create type whatsapp.message_status as enum ('received', 'accepted', 'sent', 'delivered', 'read', 'failed');

create table whatsapp.messages (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references whatsapp.accounts (id) on delete cascade,
  direction whatsapp.message_direction not null,
  wamid text unique,
  contact_wa_id text not null check (contact_wa_id ~ '^[0-9]{6,20}$'),
  contact_name text,
  type text not null,
  body text,
  content jsonb not null default '{}'::jsonb check (jsonb_typeof(content) = 'object'),
  template_id uuid references whatsapp.templates (id) on delete set null,
  status whatsapp.message_status not null,
  error jsonb,
  sent_by uuid references auth.users (id) on delete set null,
  occurred_at timestamptz not null default now(),
  status_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((direction = 'inbound') = (status = 'received'))
);
comment on table whatsapp.messages is 'Messages of a WhatsApp account: inbound from the webhook, outbound through the Graph API.';
create index messages_account_time_idx on whatsapp.messages (account_id, occurred_at desc);
create index messages_conversation_idx on whatsapp.messages (account_id, contact_wa_id, occurred_at desc);
create index messages_template_idx on whatsapp.messages (template_id) where template_id is not null;
create index messages_failed_idx on whatsapp.messages (account_id) where status = 'failed';

create table whatsapp.message_statuses (
  id bigint generated always as identity primary key,
  wamid text not null,
  message_id uuid references whatsapp.messages (id) on delete cascade,
  status whatsapp.message_status not null check (status in ('sent', 'delivered', 'read', 'failed')),
  occurred_at timestamptz not null,
  recipient_wa_id text,
  errors jsonb,
  conversation jsonb,
  pricing jsonb,
  received_at timestamptz not null default now(),
  unique (wamid, status)
);
comment on table whatsapp.message_statuses is 'Delivery statuses reported by Meta, once per message and status; kept even when they arrive before the message is recorded.';
create index message_statuses_message_idx on whatsapp.message_statuses (message_id);

create table whatsapp.webhook_events (
  id bigint generated always as identity primary key,
  body_sha256 text not null unique,
  object text,
  payload jsonb not null,
  summary jsonb,
  received_at timestamptz not null default now()
);
comment on table whatsapp.webhook_events is 'Verified Cloud API webhook deliveries, each once; a repeated delivery changes nothing.';
create index webhook_events_received_idx on whatsapp.webhook_events (received_at);

create trigger messages_updated_at
  before update on whatsapp.messages
  for each row execute function private.set_updated_at();

-- Owners (and admins) read; only the service writes.
alter table whatsapp.messages enable row level security;
alter table whatsapp.message_statuses enable row level security;
alter table whatsapp.webhook_events enable row level security;
grant select on whatsapp.messages, whatsapp.message_statuses to authenticated;
revoke all on whatsapp.webhook_events from anon, authenticated;
create policy "Owners read their messages" on whatsapp.messages
  for select to authenticated
  using (private.owns_whatsapp_account(account_id) or (select private.is_admin()));
create policy "Owners read their message statuses" on whatsapp.message_statuses
  for select to authenticated
  using (exists (select 1 from whatsapp.messages m where m.id = message_id
                 and (private.owns_whatsapp_account(m.account_id) or (select private.is_admin()))));

-- The inbox updates live.
alter publication supabase_realtime add table whatsapp.messages;

-- ---------------------------------------------------------------------------------------------
-- Statuses: recorded once; a message takes the furthest status reported for it.
-- ---------------------------------------------------------------------------------------------
create or replace function whatsapp.apply_status(p_status jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_status whatsapp.message_status;
  v_at timestamptz := to_timestamp((p_status->>'timestamp')::bigint);
  v_message uuid;
begin
  if p_status->>'status' not in ('sent', 'delivered', 'read', 'failed') then
    return false; -- e.g. 'deleted', 'warning': nothing to apply
  end if;
  v_status := (p_status->>'status')::whatsapp.message_status;
  select id into v_message from whatsapp.messages where wamid = p_status->>'id';
  insert into whatsapp.message_statuses (wamid, message_id, status, occurred_at, recipient_wa_id, errors, conversation, pricing)
  values (p_status->>'id', v_message, v_status, v_at, p_status->>'recipient_id', p_status->'errors',
          p_status->'conversation', p_status->'pricing')
  on conflict (wamid, status) do nothing;
  if not found then
    return false;
  end if;
  update whatsapp.messages
  set status = v_status, status_at = v_at,
      error = case when v_status = 'failed' then p_status->'errors' else error end
  where id = v_message and status < v_status;
  return true;
end;
$$;

-- An outbound message the Graph API accepted (or refused), with any status that arrived first.
create or replace function whatsapp.record_outbound_message(
  p_account_id uuid, p_wamid text, p_to text, p_type text, p_body text, p_content jsonb,
  p_template_id uuid, p_sent_by uuid, p_error jsonb default null)
returns whatsapp.messages
language plpgsql
security definer
set search_path = ''
as $$
declare
  m whatsapp.messages;
begin
  insert into whatsapp.messages (account_id, direction, wamid, contact_wa_id, type, body, content,
                                 template_id, status, error, sent_by)
  values (p_account_id, 'outbound', p_wamid, p_to, p_type, p_body, coalesce(p_content, '{}'),
          p_template_id, (case when p_error is null then 'accepted' else 'failed' end)::whatsapp.message_status,
          p_error, p_sent_by)
  returning * into m;
  if p_wamid is not null then
    update whatsapp.message_statuses set message_id = m.id where wamid = p_wamid and message_id is null;
    update whatsapp.messages x
    set status = s.status, status_at = s.occurred_at,
        error = case when s.status = 'failed' then s.errors else x.error end
    from (select ms.status, ms.occurred_at, ms.errors from whatsapp.message_statuses ms
          where ms.wamid = p_wamid order by ms.status desc limit 1) s
    where x.id = m.id and x.status < s.status;
    select * into m from whatsapp.messages where id = m.id;
  end if;
  return m;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- One verified webhook delivery (the function has checked X-Hub-Signature-256), in one
-- transaction: inbound messages, statuses, template review results and phone number quality.
-- ---------------------------------------------------------------------------------------------
create or replace function whatsapp.ingest_webhook(p_body_sha256 text, p_payload jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  e jsonb; c jsonb; v jsonb; m jsonb; st jsonb;
  v_account uuid;
  v_messages int := 0; v_repeated int := 0; v_statuses int := 0; v_templates int := 0;
  v_accounts int := 0; v_unknown int := 0; v_ignored int := 0;
  n int;
  v_summary jsonb;
begin
  insert into whatsapp.webhook_events (body_sha256, object, payload)
  values (p_body_sha256, p_payload->>'object', p_payload)
  on conflict (body_sha256) do nothing;
  if not found then
    return jsonb_build_object('duplicate', true);
  end if;

  for e in select * from jsonb_array_elements(coalesce(p_payload->'entry', '[]')) loop
    for c in select * from jsonb_array_elements(coalesce(e->'changes', '[]')) loop
      v := c->'value';
      if c->>'field' = 'messages' then
        v_account := (select id from whatsapp.accounts
                      where phone_number_id = v->'metadata'->>'phone_number_id');
        if v_account is null then
          v_unknown := v_unknown + 1;
          continue;
        end if;
        for m in select * from jsonb_array_elements(coalesce(v->'messages', '[]')) loop
          insert into whatsapp.messages (account_id, direction, wamid, contact_wa_id, contact_name, type,
                                         body, content, status, occurred_at)
          values (v_account, 'inbound', m->>'id', m->>'from',
                  (select x->'profile'->>'name' from jsonb_array_elements(coalesce(v->'contacts', '[]')) x
                   where x->>'wa_id' = m->>'from' limit 1),
                  m->>'type',
                  coalesce(m->'text'->>'body', m->'button'->>'text',
                           m->'interactive'->'button_reply'->>'title', m->'interactive'->'list_reply'->>'title',
                           m->'image'->>'caption', m->'video'->>'caption', m->'document'->>'caption'),
                  m, 'received', to_timestamp((m->>'timestamp')::bigint))
          on conflict (wamid) do nothing;
          if found then v_messages := v_messages + 1; else v_repeated := v_repeated + 1; end if;
        end loop;
        for st in select * from jsonb_array_elements(coalesce(v->'statuses', '[]')) loop
          if whatsapp.apply_status(st) then v_statuses := v_statuses + 1; else v_repeated := v_repeated + 1; end if;
        end loop;
      elsif c->>'field' = 'message_template_status_update' then
        update whatsapp.templates t
        set status = case v->>'event' when 'APPROVED' then 'approved' when 'REJECTED' then 'rejected'
                                      when 'PENDING' then 'pending' else 'paused' end::whatsapp.template_status,
            rejection_reason = case when v->>'event' = 'REJECTED' then nullif(v->>'reason', 'NONE') end,
            meta_template_id = coalesce(t.meta_template_id, v->>'message_template_id'),
            reviewed_at = now()
        from whatsapp.accounts a
        where a.id = t.account_id and a.waba_id = e->>'id'
          and v->>'event' in ('APPROVED', 'REJECTED', 'PENDING', 'PAUSED', 'DISABLED')
          and (t.meta_template_id = v->>'message_template_id'
               or (t.name = v->>'message_template_name'
                   and t.language = replace(v->>'message_template_language', '-', '_')));
        get diagnostics n = row_count;
        v_templates := v_templates + n;
      elsif c->>'field' = 'phone_number_quality_update' then
        update whatsapp.accounts a
        set quality_rating = case v->>'event' when 'FLAGGED' then 'RED' when 'UNFLAGGED' then 'GREEN'
                                              else a.quality_rating end,
            messaging_limit_tier = coalesce(v->>'current_limit', a.messaging_limit_tier)
        where a.waba_id = e->>'id';
        get diagnostics n = row_count;
        v_accounts := v_accounts + n;
      else
        v_ignored := v_ignored + 1;
      end if;
    end loop;
  end loop;

  v_summary := jsonb_build_object('messages', v_messages, 'statuses', v_statuses, 'repeated', v_repeated,
                                'templates', v_templates, 'accounts', v_accounts,
                                'unknown_numbers', v_unknown, 'ignored', v_ignored);
  update whatsapp.webhook_events set summary = v_summary where body_sha256 = p_body_sha256;
  return v_summary;
end;
$$;

revoke all on function whatsapp.apply_status(jsonb), whatsapp.ingest_webhook(text, jsonb),
  whatsapp.record_outbound_message(uuid, text, text, text, text, jsonb, uuid, uuid, jsonb)
  from public, anon, authenticated;
grant execute on function whatsapp.ingest_webhook(text, jsonb),
  whatsapp.record_outbound_message(uuid, text, text, text, text, jsonb, uuid, uuid, jsonb)
  to service_role;
