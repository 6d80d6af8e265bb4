-- The WhatsApp webhook and sender, the retry of unprocessed webhooks, and the compatibility
-- model's periodic recomputation (service role and cron only).
--
-- WhatsApp (the Cloud API): the `whatsapp-webhook` function stores every signed delivery in
-- `whatsapp_webhooks` (once per body: `payload_sha256`) and applies it with
-- `process_whatsapp_webhook`: inbound messages create or update the `whatsapp_contacts` row
-- (by `wa_id`), go into the contact's open `whatsapp_conversations` row (created on first
-- contact) as `whatsapp_messages` (`received`, once per `wa_message_id`); STOP / START opt the
-- contact out / in; status updates move outbound messages forward (sent → delivered → read,
-- or failed with Meta's error). A delivery that fails to apply keeps `processed_at` null with
-- its error and attempt count; `private.retry_whatsapp_webhooks()` (cron, every 15 seconds)
-- applies those again (10 seconds after the last attempt at the earliest), at most 5 attempts.
-- The `send-whatsapp` function records what it sends through `record_whatsapp_outbound`.
--
-- Compatibility (this example's rule; the design names the table, not the model):
--   personality = 100 − the mean absolute difference of the five Big Five traits (0–100 each);
--   interests   = 100 × |A ∩ B| / |A ∪ B| over travel styles and interests together;
--   budget      = 100 × overlap / the narrower of the two budget ranges (0 when disjoint);
--   score       = 0.6 × personality + 0.25 × interests + 0.15 × budget, the weights of the
--                 parts that are missing (no travel preferences, no budgets) shared out among
--                 the others; no score without both assessments.
-- Pairs: the active members of each group (group_id set) and accepted connections (group_id
-- null). `private.refresh_compatibility_scores()` (cron, hourly) computes pairs without a score
-- and those whose assessment or preferences changed since, with model_version 'rule-1'.

------------------------------------------------------------------------------------------
-- WhatsApp.
------------------------------------------------------------------------------------------
alter table public.whatsapp_webhooks
  add column payload_sha256 text,
  add column attempts integer not null default 0,
  add column last_attempt_at timestamptz;
-- Its unique index is built concurrently in 20250918000002 (receive_whatsapp_webhook's
-- `on conflict (payload_sha256)` needs it when called, not when created).

-- One inbound message into its contact's open conversation; true when it was new.
create or replace function private.whatsapp_inbound(p_wa_id text, p_name text, m jsonb)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_contact public.whatsapp_contacts;
  v_conversation uuid;
  v_type text := m->>'type';
  v_body text;
begin
  insert into public.whatsapp_contacts as c (wa_id, phone_e164, display_name)
  values (p_wa_id, '+' || p_wa_id, p_name)
  on conflict (wa_id) do update set display_name = coalesce(excluded.display_name, c.display_name)
  returning * into v_contact;
  select cv.id into v_conversation from public.whatsapp_conversations cv
   where cv.contact_id = v_contact.id and cv.status = 'open'
   order by cv.last_message_at desc nulls last limit 1;
  if v_conversation is null then
    insert into public.whatsapp_conversations (contact_id, user_id, last_message_at)
    values (v_contact.id, v_contact.user_id, now()) returning id into v_conversation;
  end if;
  v_body := coalesce(m->'text'->>'body', m->(v_type)->>'caption', m->'button'->>'text',
                     m->'interactive'->'button_reply'->>'title', m->'interactive'->'list_reply'->>'title',
                     case when v_type = 'location' then concat_ws(', ', m->'location'->>'name', m->'location'->>'latitude', m->'location'->>'longitude') end);
  insert into public.whatsapp_messages (conversation_id, direction, wa_message_id, message_type, body, status, created_at)
  values (v_conversation, 'inbound', m->>'id',
          case when v_type in ('text', 'image', 'document', 'location') then v_type else 'text' end,
          v_body, 'received', coalesce(to_timestamp((m->>'timestamp')::bigint), now()))
  on conflict (wa_message_id) do nothing;
  if not found then
    return false;
  end if;
  update public.whatsapp_conversations set last_message_at = now() where id = v_conversation;
  -- Opt-out and opt-in keywords.
  if upper(btrim(coalesce(v_body, ''))) in ('STOP', 'UNSUBSCRIBE') then
    update public.whatsapp_contacts set opted_in = false where id = v_contact.id;
  elsif upper(btrim(coalesce(v_body, ''))) in ('START', 'SUBSCRIBE') then
    update public.whatsapp_contacts set opted_in = true, opted_in_at = now() where id = v_contact.id;
  end if;
  return true;
end;
$$;
revoke all on function private.whatsapp_inbound(text, text, jsonb) from public;

-- Apply one stored delivery. Failures are recorded on the row (not raised), for the retry.
create or replace function public.process_whatsapp_webhook(p_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  w public.whatsapp_webhooks;
  e jsonb; c jsonb; m jsonb; st jsonb; v jsonb;
  v_messages int := 0; v_statuses int := 0; v_repeated int := 0;
  v_summary jsonb;
begin
  select * into w from public.whatsapp_webhooks where id = p_id for update;
  if w.id is null then
    return jsonb_build_object('error', 'no such webhook');
  end if;
  if w.processed_at is not null then
    return jsonb_build_object('already_processed', true);
  end if;
  if not w.signature_valid then
    return jsonb_build_object('error', 'the delivery was not signed');
  end if;
  update public.whatsapp_webhooks set attempts = attempts + 1, last_attempt_at = now() where id = p_id;
  begin
    for e in select * from jsonb_array_elements(coalesce(w.payload->'entry', '[]')) loop
      for c in select * from jsonb_array_elements(coalesce(e->'changes', '[]')) loop
        continue when c->>'field' <> 'messages';
        v := c->'value';
        for m in select * from jsonb_array_elements(coalesce(v->'messages', '[]')) loop
          if private.whatsapp_inbound(m->>'from',
               (select x->'profile'->>'name' from jsonb_array_elements(coalesce(v->'contacts', '[]')) x where x->>'wa_id' = m->>'from' limit 1),
               m) then
            v_messages := v_messages + 1;
          else
            v_repeated := v_repeated + 1;
          end if;
        end loop;
        for st in select * from jsonb_array_elements(coalesce(v->'statuses', '[]')) loop
          update public.whatsapp_messages wm
             set status = st->>'status',
                 error = case when st->>'status' = 'failed'
                              then coalesce(st->'errors'->0->>'title', st->'errors'->0->>'message', 'failed') end
           where wm.wa_message_id = st->>'id' and wm.direction = 'outbound'
             and st->>'status' in ('sent', 'delivered', 'read', 'failed') and wm.status <> 'failed'
             and coalesce(array_position(array['queued', 'sent', 'delivered', 'read'], wm.status), 0)
                 < coalesce(array_position(array['queued', 'sent', 'delivered', 'read'], st->>'status'), 5);
          if found then v_statuses := v_statuses + 1; else v_repeated := v_repeated + 1; end if;
        end loop;
      end loop;
    end loop;
    v_summary := jsonb_build_object('messages', v_messages, 'statuses', v_statuses, 'repeated', v_repeated);
    update public.whatsapp_webhooks set processed_at = now(), error = null where id = p_id;
    return v_summary;
  exception when others then
    update public.whatsapp_webhooks set error = sqlerrm where id = p_id;
    return jsonb_build_object('error', sqlerrm);
  end;
end;
$$;

-- Store a delivery (once per body) and apply it when it is signed.
create or replace function public.receive_whatsapp_webhook(p_payload jsonb, p_payload_sha256 text, p_signature_valid boolean)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into public.whatsapp_webhooks (event_type, payload, signature_valid, payload_sha256, processed_at, error)
  values (coalesce(p_payload->'entry'->0->'changes'->0->>'field', p_payload->>'object', 'unknown'), p_payload,
          p_signature_valid, p_payload_sha256,
          case when p_signature_valid then null else now() end,
          case when p_signature_valid then null else 'invalid signature' end)
  -- A body seen unsigned before and now signed is applied (the unsigned copy never was).
  on conflict (payload_sha256) do update set signature_valid = true, processed_at = null, error = null
    where not public.whatsapp_webhooks.signature_valid and excluded.signature_valid
  returning id into v_id;
  if v_id is null then
    return jsonb_build_object('duplicate', true);
  end if;
  if not p_signature_valid then
    return jsonb_build_object('refused', true);
  end if;
  return jsonb_build_object('id', v_id) || public.process_whatsapp_webhook(v_id);
end;
$$;

create or replace function private.retry_whatsapp_webhooks()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid;
  n integer := 0;
begin
  for v_id in select w.id from public.whatsapp_webhooks w
               where w.processed_at is null and w.signature_valid and w.attempts < 5
                 and coalesce(w.last_attempt_at, w.created_at) < now() - interval '10 seconds'
               order by w.created_at limit 100 loop
    perform public.process_whatsapp_webhook(v_id);
    n := n + 1;
  end loop;
  return n;
end;
$$;
revoke all on function private.retry_whatsapp_webhooks() from public;

-- What send-whatsapp needs: the user's contact and open conversation (created when missing),
-- and whether the 24-hour customer service window is open (an inbound message in the last day).
create or replace function public.whatsapp_send_context(p_user_id uuid, p_booking_id uuid default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_contact public.whatsapp_contacts;
  v_conversation uuid;
begin
  select * into v_contact from public.whatsapp_contacts where user_id = p_user_id;
  if v_contact.id is null then
    return null;
  end if;
  select cv.id into v_conversation from public.whatsapp_conversations cv
   where cv.contact_id = v_contact.id and cv.status = 'open'
   order by cv.last_message_at desc nulls last limit 1;
  if v_conversation is null and v_contact.opted_in then
    insert into public.whatsapp_conversations (contact_id, user_id, booking_id, last_message_at)
    values (v_contact.id, p_user_id, p_booking_id, now()) returning id into v_conversation;
  end if;
  return jsonb_build_object(
    'contact_id', v_contact.id, 'wa_id', v_contact.wa_id, 'opted_in', v_contact.opted_in,
    'conversation_id', v_conversation,
    'window_open', exists (select 1 from public.whatsapp_messages m
                            join public.whatsapp_conversations cv on cv.id = m.conversation_id
                           where cv.contact_id = v_contact.id and m.direction = 'inbound'
                             and m.created_at > now() - interval '24 hours'));
end;
$$;

create or replace function public.record_whatsapp_outbound(p_conversation_id uuid, p_type text, p_body text, p_template text,
                                                           p_wa_message_id text, p_error text default null)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into public.whatsapp_messages (conversation_id, direction, wa_message_id, message_type, body, template_name, status, error)
  values (p_conversation_id, 'outbound', p_wa_message_id, p_type, p_body, p_template,
          case when p_error is null then 'sent' else 'failed' end, p_error)
  returning id into v_id;
  update public.whatsapp_conversations set last_message_at = now() where id = p_conversation_id;
  return v_id;
end;
$$;

revoke all on function public.process_whatsapp_webhook(uuid), public.receive_whatsapp_webhook(jsonb, text, boolean),
  public.whatsapp_send_context(uuid, uuid), public.record_whatsapp_outbound(uuid, text, text, text, text, text)
  from public, anon, authenticated;
grant execute on function public.process_whatsapp_webhook(uuid), public.receive_whatsapp_webhook(jsonb, text, boolean),
  public.whatsapp_send_context(uuid, uuid), public.record_whatsapp_outbound(uuid, text, text, text, text, text)
  to service_role;

------------------------------------------------------------------------------------------
-- Compatibility.
------------------------------------------------------------------------------------------
-- The rule for one pair (see the header); null without both assessments.
create or replace function private.compatibility(p_a uuid, p_b uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  pa public.personality_assessments;
  pb public.personality_assessments;
  ta public.travel_preferences;
  tb public.travel_preferences;
  v_personality numeric;
  v_interests numeric;
  v_budget numeric;
  v_union integer;
  v_overlap numeric;
  v_narrow numeric;
  w_p numeric := 0.6; w_i numeric := 0.25; w_b numeric := 0.15;
  v_score numeric;
begin
  select * into pa from public.personality_assessments where user_id = p_a;
  select * into pb from public.personality_assessments where user_id = p_b;
  if pa.id is null or pb.id is null then
    return null;
  end if;
  v_personality := 100 - (abs(pa.openness - pb.openness) + abs(pa.conscientiousness - pb.conscientiousness)
                          + abs(pa.extraversion - pb.extraversion) + abs(pa.agreeableness - pb.agreeableness)
                          + abs(pa.neuroticism - pb.neuroticism)) / 5;
  select * into ta from public.travel_preferences where user_id = p_a;
  select * into tb from public.travel_preferences where user_id = p_b;
  if ta.id is not null and tb.id is not null then
    select count(*) into v_union from (select unnest(ta.travel_styles || ta.interests) union select unnest(tb.travel_styles || tb.interests)) u;
    if v_union > 0 then
      v_interests := 100.0 * (select count(*) from (select unnest(ta.travel_styles || ta.interests) intersect select unnest(tb.travel_styles || tb.interests)) i) / v_union;
    end if;
    if ta.budget_min is not null and ta.budget_max is not null and tb.budget_min is not null and tb.budget_max is not null then
      v_overlap := greatest(0, least(ta.budget_max, tb.budget_max) - greatest(ta.budget_min, tb.budget_min));
      v_narrow := least(ta.budget_max - ta.budget_min, tb.budget_max - tb.budget_min);
      v_budget := case when v_narrow > 0 then 100 * v_overlap / v_narrow
                       when least(ta.budget_max, tb.budget_max) >= greatest(ta.budget_min, tb.budget_min) then 100 else 0 end;
    end if;
  end if;
  if v_interests is null then w_i := 0; end if;
  if v_budget is null then w_b := 0; end if;
  v_score := (w_p * v_personality + w_i * coalesce(v_interests, 0) + w_b * coalesce(v_budget, 0)) / (w_p + w_i + w_b);
  return jsonb_build_object(
    'score', round(v_score, 2),
    'breakdown', jsonb_build_object('personality', round(v_personality, 2), 'interests', round(v_interests, 2),
                                    'budget', round(v_budget, 2),
                                    'weights', jsonb_build_object('personality', round(w_p / (w_p + w_i + w_b), 4),
                                                                  'interests', round(w_i / (w_p + w_i + w_b), 4),
                                                                  'budget', round(w_b / (w_p + w_i + w_b), 4))));
end;
$$;
revoke all on function private.compatibility(uuid, uuid) from public;

create or replace function private.refresh_compatibility_scores()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  r record;
  v jsonb;
  n integer := 0;
begin
  for r in
    with pairs as (
      select least(a.user_id, b.user_id) as ua, greatest(a.user_id, b.user_id) as ub, a.group_id as gid
        from public.group_members a
        join public.group_members b on b.group_id = a.group_id and a.user_id < b.user_id
       where a.status = 'active' and b.status = 'active'
      union
      select least(c.requester_id, c.addressee_id), greatest(c.requester_id, c.addressee_id), null::uuid
        from public.user_connections c where c.status = 'accepted'
    )
    select p.ua, p.ub, p.gid, s.id as score_id
      from pairs p
      left join public.compatibility_scores s
        on least(s.user_a, s.user_b) = p.ua and greatest(s.user_a, s.user_b) = p.ub
       and coalesce(s.group_id, '00000000-0000-0000-0000-000000000000'::uuid) = coalesce(p.gid, '00000000-0000-0000-0000-000000000000'::uuid)
     where s.id is null
        or exists (select 1 from public.personality_assessments x where x.user_id in (p.ua, p.ub) and x.updated_at > s.calculated_at)
        or exists (select 1 from public.travel_preferences x where x.user_id in (p.ua, p.ub) and x.updated_at > s.calculated_at)
  loop
    v := private.compatibility(r.ua, r.ub);
    continue when v is null;
    if r.score_id is null then
      insert into public.compatibility_scores (user_a, user_b, group_id, score, breakdown, model_version, calculated_at)
      values (r.ua, r.ub, r.gid, (v->>'score')::numeric, v->'breakdown', 'rule-1', now());
    else
      update public.compatibility_scores
         set score = (v->>'score')::numeric, breakdown = v->'breakdown', model_version = 'rule-1', calculated_at = now()
       where id = r.score_id;
    end if;
    n := n + 1;
  end loop;
  return n;
end;
$$;
revoke all on function private.refresh_compatibility_scores() from public;

do $cron$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'trvl-social: pg_cron is not available; WhatsApp retries and compatibility scores are not scheduled';
    return;
  end if;
  create extension if not exists pg_cron with schema pg_catalog;
  perform cron.schedule('trvl-retry-whatsapp-webhooks', '15 seconds', 'select private.retry_whatsapp_webhooks()');
  perform cron.schedule('trvl-refresh-compatibility', '7 * * * *', 'select private.refresh_compatibility_scores()');
end
$cron$;
