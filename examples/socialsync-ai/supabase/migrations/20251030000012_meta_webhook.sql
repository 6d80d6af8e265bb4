-- The Instagram and WhatsApp webhook receiver (`meta-webhook`, verify_jwt = false), one of the
-- design's Python workers, as an edge function plus this SQL. Meta signs every delivery with the
-- app secret (`X-Hub-Signature-256`); the function checks it and hands the payload here, where it
-- is recorded once (by the SHA-256 of its body: Meta resends the same bytes) and applied:
--   object 'instagram', entry[].messaging[] (DMs to the account entry.id): the conversation with
--     the sender (created on first contact), its inbound message once per `mid`, unread count
--     and last message time;
--   object 'instagram', changes field 'comments': the comment once per id, on the monitored post
--     (`monitored_posts.platform_post_id` = media.id) of that account;
--   object 'whatsapp_business_account', changes field 'messages': inbound messages to the
--     WhatsApp account whose `account_id` is the number's phone_number_id or display number, as
--     DMs above; statuses move the account's outbound messages (sent → delivered → read, failed).
-- Deliveries for accounts nobody connected are counted, not stored.

create table public.meta_webhook_deliveries (
  id uuid primary key default extensions.uuid_generate_v4(),
  body_sha256 text not null unique,
  object text,
  payload jsonb not null,
  summary jsonb,
  received_at timestamptz not null default now()
);
alter table public.meta_webhook_deliveries enable row level security;
revoke all on public.meta_webhook_deliveries from anon, authenticated;

-- One inbound direct message into its conversation; true when it was new.
create or replace function private.meta_inbound_message(p_account uuid, p_customer text, p_customer_name text,
                                                        p_mid text, p_text text, p_type text, p_at timestamptz,
                                                        p_metadata jsonb)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_conversation uuid;
begin
  insert into public.conversations as cv (social_account_id, customer_identifier, customer_name, last_message_at)
  values (p_account, p_customer, p_customer_name, p_at)
  on conflict (social_account_id, customer_identifier)
    do update set customer_name = coalesce(excluded.customer_name, cv.customer_name)
  returning id into v_conversation;
  insert into public.conversation_messages (conversation_id, external_message_id, direction, content, message_type,
                                            sender_id, sender_name, status, metadata, created_at)
  values (v_conversation, p_mid, 'inbound', p_text,
          case when p_type in ('text', 'image', 'video', 'audio', 'sticker') then p_type
               when p_type in ('file', 'document') then 'file' else 'text' end,
          p_customer, p_customer_name, 'delivered', coalesce(p_metadata, '{}'), p_at)
  on conflict (external_message_id) do nothing;
  if not found then
    return false;
  end if;
  update public.conversations
     set unread_count = unread_count + 1,
         last_message_at = greatest(coalesce(last_message_at, p_at), p_at),
         status = case when status = 'closed' then 'open' else status end
   where id = v_conversation;
  return true;
end;
$$;
revoke all on function private.meta_inbound_message(uuid, text, text, text, text, text, timestamptz, jsonb) from public;

create or replace function public.ingest_meta_webhook(p_body_sha256 text, p_payload jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  e jsonb; c jsonb; m jsonb; v jsonb; st jsonb;
  v_account uuid;
  v_messages int := 0; v_comments int := 0; v_statuses int := 0; v_repeated int := 0; v_unknown int := 0; v_ignored int := 0;
  v_summary jsonb;
  v_type text;
begin
  insert into public.meta_webhook_deliveries (body_sha256, object, payload)
  values (p_body_sha256, p_payload->>'object', p_payload)
  on conflict (body_sha256) do nothing;
  if not found then
    return jsonb_build_object('duplicate', true);
  end if;

  for e in select * from jsonb_array_elements(coalesce(p_payload->'entry', '[]')) loop
    if p_payload->>'object' = 'instagram' then
      v_account := (select a.id from public.social_accounts a
                     where a.platform = 'instagram' and a.account_id = e->>'id' and a.is_active);
      if v_account is null then
        v_unknown := v_unknown + 1;
        continue;
      end if;
      for m in select * from jsonb_array_elements(coalesce(e->'messaging', '[]')) loop
        if m->'message' is null or coalesce((m->'message'->>'is_echo')::boolean, false) then
          v_ignored := v_ignored + 1;
          continue;
        end if;
        v_type := coalesce(m->'message'->'attachments'->0->>'type', 'text');
        if private.meta_inbound_message(v_account, m->'sender'->>'id', null, m->'message'->>'mid',
             m->'message'->>'text', v_type, to_timestamp(coalesce((m->>'timestamp')::bigint, 0) / 1000.0),
             jsonb_build_object('attachments', m->'message'->'attachments')) then
          v_messages := v_messages + 1;
        else
          v_repeated := v_repeated + 1;
        end if;
      end loop;
      for c in select * from jsonb_array_elements(coalesce(e->'changes', '[]')) loop
        if c->>'field' <> 'comments' then
          v_ignored := v_ignored + 1;
          continue;
        end if;
        v := c->'value';
        insert into public.comments (monitored_post_id, platform_comment_id, author_name, author_id, text, parent_id)
        select mp.id, v->>'id', v->'from'->>'username', v->'from'->>'id', coalesce(v->>'text', ''), v->>'parent_id'
          from public.monitored_posts mp
         where mp.social_account_id = v_account and mp.platform_post_id = v->'media'->>'id'
        on conflict (platform_comment_id) do nothing;
        if found then
          v_comments := v_comments + 1;
        elsif exists (select 1 from public.monitored_posts mp
                       where mp.social_account_id = v_account and mp.platform_post_id = v->'media'->>'id') then
          v_repeated := v_repeated + 1;
        else
          v_unknown := v_unknown + 1;
        end if;
      end loop;
    elsif p_payload->>'object' = 'whatsapp_business_account' then
      for c in select * from jsonb_array_elements(coalesce(e->'changes', '[]')) loop
        v := c->'value';
        if c->>'field' <> 'messages' then
          v_ignored := v_ignored + 1;
          continue;
        end if;
        v_account := (select a.id from public.social_accounts a
                       where a.platform = 'whatsapp' and a.is_active
                         and a.account_id in (v->'metadata'->>'phone_number_id',
                                              regexp_replace(coalesce(v->'metadata'->>'display_phone_number', ''), '[^0-9]', '', 'g'))
                       limit 1);
        if v_account is null then
          v_unknown := v_unknown + 1;
          continue;
        end if;
        for m in select * from jsonb_array_elements(coalesce(v->'messages', '[]')) loop
          v_type := m->>'type';
          if private.meta_inbound_message(v_account, m->>'from',
               (select x->'profile'->>'name' from jsonb_array_elements(coalesce(v->'contacts', '[]')) x where x->>'wa_id' = m->>'from' limit 1),
               m->>'id',
               coalesce(m->'text'->>'body', m->'button'->>'text', m->'interactive'->'button_reply'->>'title',
                        m->(v_type)->>'caption'),
               v_type, to_timestamp(coalesce((m->>'timestamp')::bigint, 0)),
               case when m->(v_type)->>'id' is not null then jsonb_build_object('media', m->(v_type)) else '{}'::jsonb end) then
            v_messages := v_messages + 1;
          else
            v_repeated := v_repeated + 1;
          end if;
        end loop;
        for st in select * from jsonb_array_elements(coalesce(v->'statuses', '[]')) loop
          update public.conversation_messages cm
             set status = st->>'status'
           where cm.external_message_id = st->>'id' and cm.direction = 'outbound'
             and st->>'status' in ('sent', 'delivered', 'read', 'failed')
             and cm.status <> 'failed'
             and array_position(array['sent', 'delivered', 'read'], cm.status::text)
                 < coalesce(array_position(array['sent', 'delivered', 'read'], st->>'status'), 4);
          if found then v_statuses := v_statuses + 1; else v_repeated := v_repeated + 1; end if;
        end loop;
      end loop;
    else
      v_ignored := v_ignored + 1;
    end if;
  end loop;

  v_summary := jsonb_build_object('messages', v_messages, 'comments', v_comments, 'statuses', v_statuses,
                                'repeated', v_repeated, 'unknown', v_unknown, 'ignored', v_ignored);
  update public.meta_webhook_deliveries set summary = v_summary where body_sha256 = p_body_sha256;
  return v_summary;
end;
$$;
revoke all on function public.ingest_meta_webhook(text, jsonb) from public, anon, authenticated;
grant execute on function public.ingest_meta_webhook(text, jsonb) to service_role;
