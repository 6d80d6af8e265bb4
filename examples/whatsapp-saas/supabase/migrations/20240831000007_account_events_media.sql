-- Account-level Meta events and inbound media.
--
-- Account events: `account_update` deliveries (bans with `ban_info.waba_ban_state`, restrictions,
-- policy violations, the account deleted or the partner removed) and `account_review_update`
-- are recorded once per account in `whatsapp.account_events` (the owner and admins read them)
-- and move the account: DISABLE → `suspended` (sending stops: whatsapp-api/send needs `active`),
-- REINSTATE → `active` again, SCHEDULE_FOR_DISABLE → a reason with the date, ACCOUNT_RESTRICTION
-- → `restrictions`, ACCOUNT_DELETED / PARTNER_REMOVED → `disconnected`.
-- `message_template_quality_update` sets `templates.quality_score`.
--
-- Media: an inbound image, audio, video, document or sticker message is stored with its media
-- id and `media_status = 'pending'`; whatsapp-webhook then fetches it from the Graph API
-- (GET /{media_id} for the short-lived URL, then the URL, both with the account's token), checks
-- its SHA-256 and stores the bytes in the private bucket `whatsapp-media` under
-- `<account_id>/<message_id>`, readable by the account's owner and admins only.

alter table whatsapp.accounts
  add column status_reason text,
  add column ban_state text,
  add column restrictions jsonb not null default '[]'::jsonb,
  add column review_status text;
alter table whatsapp.templates add column quality_score text;

create table whatsapp.account_events (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references whatsapp.accounts (id) on delete cascade,
  field text not null,
  event text,
  payload jsonb not null,
  occurred_at timestamptz not null default now()
);
comment on table whatsapp.account_events is 'Account-level events Meta delivered (bans, restrictions, reviews), per account.';
create index account_events_account_idx on whatsapp.account_events (account_id, occurred_at desc);
alter table whatsapp.account_events enable row level security;
revoke all on whatsapp.account_events from anon, authenticated;
grant select on whatsapp.account_events to authenticated;
grant all on whatsapp.account_events to service_role;
create policy "Owners read their account events" on whatsapp.account_events
  for select to authenticated
  using (private.owns_whatsapp_account(account_id) or (select private.is_admin()));

alter table whatsapp.messages
  add column media_id text,
  add column media_mime_type text,
  add column media_sha256 text,
  add column media_path text,
  add column media_status text check (media_status in ('pending', 'stored', 'failed')),
  add column media_error text;
create index messages_media_pending_idx on whatsapp.messages (account_id) where media_status = 'pending';

-- An inbound media message carries its media object under its type.
create or replace function whatsapp.note_media()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.direction = 'inbound' and new.type in ('image', 'audio', 'video', 'document', 'sticker')
     and new.content->new.type->>'id' is not null then
    new.media_id := new.content->new.type->>'id';
    new.media_mime_type := new.content->new.type->>'mime_type';
    new.media_sha256 := new.content->new.type->>'sha256';
    new.media_status := 'pending';
  end if;
  return new;
end;
$$;
create trigger messages_note_media
  before insert on whatsapp.messages
  for each row execute function whatsapp.note_media();

insert into storage.buckets (id, name, public, file_size_limit)
values ('whatsapp-media', 'whatsapp-media', false, 104857600)
on conflict (id) do nothing;

-- `<account_id>/<message_id>`: the owner of the account (and admins) read; only the service
-- role (the webhook function) writes.
create policy "Account owners read their WhatsApp media" on storage.objects
  for select to authenticated
  using (
    bucket_id = 'whatsapp-media'
    and ((select private.is_admin())
         or exists (select 1 from whatsapp.accounts a
                     where a.id::text = (storage.foldername(name))[1] and a.user_id = (select auth.uid())))
  );

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
  v_accounts int := 0; v_unknown int := 0; v_ignored int := 0; v_events int := 0;
  v_row whatsapp.accounts;
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
      elsif c->>'field' in ('account_update', 'account_review_update') then
        -- Account-level events of the WhatsApp Business Account (entry.id is the WABA).
        for v_row in select * from whatsapp.accounts a where a.waba_id = e->>'id' loop
          insert into whatsapp.account_events (account_id, field, event, payload)
          values (v_row.id, c->>'field', coalesce(v->>'event', v->>'decision'), v);
          v_events := v_events + 1;
          if c->>'field' = 'account_review_update' then
            update whatsapp.accounts set review_status = lower(v->>'decision') where id = v_row.id;
          elsif v->>'event' = 'DISABLED_UPDATE' then
            update whatsapp.accounts a
               set ban_state = v->'ban_info'->>'waba_ban_state',
                   status = case v->'ban_info'->>'waba_ban_state'
                              when 'DISABLE' then 'suspended'
                              when 'REINSTATE' then case when a.status = 'suspended' then 'active' else a.status end
                              else a.status end::whatsapp.account_status,
                   status_reason = case v->'ban_info'->>'waba_ban_state'
                                     when 'DISABLE' then 'banned by Meta'
                                     when 'SCHEDULE_FOR_DISABLE' then 'scheduled to be disabled by Meta on ' || coalesce(v->'ban_info'->>'waba_ban_date', 'an unknown date')
                                     when 'REINSTATE' then null
                                     else a.status_reason end
             where a.id = v_row.id;
          elsif v->>'event' = 'ACCOUNT_RESTRICTION' then
            update whatsapp.accounts set restrictions = coalesce(v->'restriction_info', '[]') where id = v_row.id;
          elsif v->>'event' = 'ACCOUNT_VIOLATION' then
            update whatsapp.accounts set status_reason = 'policy violation: ' || coalesce(v->'violation_info'->>'violation_type', 'unspecified')
             where id = v_row.id;
          elsif v->>'event' in ('ACCOUNT_DELETED', 'PARTNER_REMOVED') then
            update whatsapp.accounts
               set status = 'disconnected', status_reason = lower(replace(v->>'event', '_', ' '))
             where id = v_row.id;
          end if;
          v_accounts := v_accounts + 1;
        end loop;
      elsif c->>'field' = 'message_template_quality_update' then
        update whatsapp.templates t
           set quality_score = v->>'new_quality_score'
          from whatsapp.accounts a
         where a.id = t.account_id and a.waba_id = e->>'id'
           and (t.meta_template_id = v->>'message_template_id'
                or (t.name = v->>'message_template_name'
                    and t.language = replace(v->>'message_template_language', '-', '_')));
        get diagnostics n = row_count;
        v_templates := v_templates + n;
      else
        v_ignored := v_ignored + 1;
      end if;
    end loop;
  end loop;

  v_summary := jsonb_build_object('messages', v_messages, 'statuses', v_statuses, 'repeated', v_repeated,
                                'templates', v_templates, 'accounts', v_accounts,
                                'unknown_numbers', v_unknown, 'ignored', v_ignored,
                                'account_events', v_events);
  update whatsapp.webhook_events set summary = v_summary where body_sha256 = p_body_sha256;
  return v_summary;
end;
$$;
