-- Added: the rest of the design's backend duties as SQL the edge functions call with the service
-- role (each in one transaction), and their schedules:
--
-- * comment triage (`triage-comments`, cron every 15 s): new comments on monitored posts whose
--   owner has AI on for comments are claimed (`comments.triage_attempted_at`, added here so two
--   runs never classify one comment twice) and classified by the AI provider into the design's
--   'respond' / 'ignore' / 'escalate'; `record_comment_triage` stores the `ai_decisions` row
--   and the comment's triage, `record_comment_reply` the reply sent for 'respond' only.
-- * DM media (`fetch-dm-media`, after each webhook delivery and by cron every 30 s): inbound
--   messages carrying media (an Instagram attachment URL, a WhatsApp media id) are downloaded
--   into the `conversation-media` bucket under `<user id>/<message id>`;
--   `record_dm_media` stores the object name and MIME type, or the failure (3 attempts).
-- * the Whop webhook (`whop-webhook`): `apply_whop_event` records the event once by its id
--   (`webhook_events.whop_event_id`) and mirrors memberships into `subscriptions`, products and
--   plans into `products`/`prices`, the Whop user into `customers.whop_customer_id`
--   (`source = 'whop'` throughout), and credit-pack payments into credits.
-- * the LangGraph checkpointer: `checkpoint_put`, `checkpoint_put_writes`, `checkpoint_get`
--   store and load a checkpoint as LangGraph's Postgres saver does (channel values in
--   `checkpoint_blobs` by channel and version, pending writes in `checkpoint_writes`).

------------------------------------------------------------------------------------------
-- Comment triage.
------------------------------------------------------------------------------------------
alter table public.comments add column if not exists triage_attempted_at timestamptz;

create or replace function public.claim_comments_to_triage(p_limit integer default 20)
returns table (id uuid, user_id uuid, platform_comment_id text, text text, author_name text,
               caption text, platform text, access_token text, ai_model text, temperature numeric,
               lang text, tone text, instructions text, ignore_examples text[],
               flagged_keywords text[], flagged_phrases text[])
language plpgsql
security definer
set search_path = ''
as $$
begin
  return query
  with due as (
    select c.id
      from public.comments c
      join public.monitored_posts mp on mp.id = c.monitored_post_id
      join public.ai_settings s on s.user_id = mp.user_id
     where c.triage is null and not c.hidden
       and (c.triage_attempted_at is null or c.triage_attempted_at < now() - interval '10 minutes')
       and s.ai_control_enabled and s.ai_enabled_for_comments
     order by c.created_at
     limit p_limit
     for update of c skip locked
  ), claimed as (
    update public.comments c set triage_attempted_at = now() from due where c.id = due.id returning c.*
  )
  select c.id, mp.user_id, c.platform_comment_id, c.text, c.author_name, mp.caption, a.platform::text,
         a.access_token, s.ai_model, s.temperature, s.lang, s.tone, s.instructions, s.ignore_examples,
         s.flagged_keywords, s.flagged_phrases
    from claimed c
    join public.monitored_posts mp on mp.id = c.monitored_post_id
    join public.social_accounts a on a.id = mp.social_account_id
    join public.ai_settings s on s.user_id = mp.user_id;
end;
$$;

create or replace function public.record_comment_triage(p_comment_id uuid, p_decision text, p_confidence numeric,
                                                        p_reason text, p_matched_rule text, p_summary jsonb)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_text text;
  v_decision uuid;
begin
  select mp.user_id, c.text into v_user, v_text
    from public.comments c join public.monitored_posts mp on mp.id = c.monitored_post_id
   where c.id = p_comment_id and c.triage is null;
  if v_user is null then
    return null; -- triaged meanwhile (by hand or another run)
  end if;
  insert into public.ai_decisions (user_id, decision, confidence, reason, matched_rule, message_text, snapshot_json)
  values (v_user, p_decision, p_confidence, p_reason, p_matched_rule, left(v_text, 500),
          coalesce(p_summary, '{}') || jsonb_build_object('comment_id', p_comment_id))
  returning id into v_decision;
  update public.comments set triage = p_decision, ai_decision_id = v_decision where id = p_comment_id;
  return v_decision;
end;
$$;

create or replace function public.record_comment_reply(p_comment_id uuid, p_reply text, p_platform_reply_id text)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.comments
     set ai_reply_text = p_reply, replied_at = now()
   where id = p_comment_id and triage = 'respond' and replied_at is null;
  update public.ai_decisions d
     set snapshot_json = coalesce(d.snapshot_json, '{}') || jsonb_build_object('platform_reply_id', p_platform_reply_id)
    from public.comments c
   where c.id = p_comment_id and d.id = c.ai_decision_id;
$$;

------------------------------------------------------------------------------------------
-- Media of inbound direct messages.
------------------------------------------------------------------------------------------
create or replace function public.claim_dm_media(p_limit integer default 20, p_ids uuid[] default null)
returns table (id uuid, user_id uuid, platform text, access_token text, message_type text,
               media_url text, media_id text, media_mime text, media_sha256 text)
language plpgsql
security definer
set search_path = ''
as $$
begin
  return query
  with due as (
    select m.id
      from public.conversation_messages m
     where m.direction = 'inbound' and m.storage_object_name is null
       and (m.metadata->'attachments'->0->'payload'->>'url' is not null or m.metadata->'media'->>'id' is not null)
       and coalesce((m.metadata->>'media_attempts')::integer, 0) < 3
       and coalesce((m.metadata->>'media_tried_at')::timestamptz, '-infinity') < now() - interval '1 minute'
       and (p_ids is null or m.id = any (p_ids))
     order by m.created_at
     limit p_limit
     for update of m skip locked
  ), claimed as (
    update public.conversation_messages m
       set metadata = m.metadata || jsonb_build_object('media_tried_at', now(),
                                                      'media_attempts', coalesce((m.metadata->>'media_attempts')::integer, 0) + 1)
      from due where m.id = due.id
    returning m.*
  )
  select m.id, a.user_id, a.platform::text, a.access_token, m.message_type::text,
         m.metadata->'attachments'->0->'payload'->>'url', m.metadata->'media'->>'id',
         m.metadata->'media'->>'mime_type', m.metadata->'media'->>'sha256'
    from claimed m
    join public.conversations cv on cv.id = m.conversation_id
    join public.social_accounts a on a.id = cv.social_account_id;
end;
$$;

create or replace function public.record_dm_media(p_message_id uuid, p_object_name text, p_mime text, p_error text default null)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.conversation_messages
     set storage_object_name = coalesce(p_object_name, storage_object_name),
         media_type = coalesce(p_mime, media_type),
         metadata = case when p_error is null
                         then (metadata - 'media_error') || jsonb_build_object('media_status', 'stored')
                         else metadata || jsonb_build_object('media_status', 'failed', 'media_error', p_error) end
   where id = p_message_id;
$$;

------------------------------------------------------------------------------------------
-- Whop.
------------------------------------------------------------------------------------------
create or replace function public.apply_whop_event(p_event_id text, p_event jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  d jsonb := p_event->'data';
  v_type text := p_event->>'type';
  v_user uuid;
  v_product text;
  v_plan text;
  v_status text;
  v_credits integer;
  v_balance integer;
  v_outcome text := 'processed';
begin
  if p_event_id is null or v_type is null then
    raise exception 'a Whop event needs an id and a type' using errcode = '22023';
  end if;
  insert into public.webhook_events (whop_event_id, event_type, source, payload)
  values (p_event_id, v_type, 'whop', p_event)
  on conflict (whop_event_id) do nothing;
  if not found then
    return jsonb_build_object('duplicate', true);
  end if;

  if v_type in ('membership.activated', 'membership.deactivated', 'membership.updated', 'payment.succeeded') then
    -- The SocialSync user: the customer mapping, else the checkout's metadata, else the e-mail.
    v_user := coalesce(
      (select c.id from public.customers c where c.whop_customer_id = d->'user'->>'id'),
      (select u.id from public.users u where u.id::text = d->'metadata'->>'user_id'),
      (select u.id from public.users u where lower(u.email) = lower(d->'user'->>'email')));
    if v_user is null then
      raise exception 'Whop user % (%) is no SocialSync user', d->'user'->>'id', d->'user'->>'email';
    end if;
    insert into public.customers (id, whop_customer_id) values (v_user, d->'user'->>'id')
    on conflict (id) do update set whop_customer_id = excluded.whop_customer_id;

    v_product := d->'product'->>'id';
    if v_product is not null then
      insert into public.products (id, name, active, source)
      values (v_product, coalesce(d->'product'->>'title', d->'product'->>'name', v_product), true, 'whop')
      on conflict (id) do update set name = excluded.name;
    end if;
    v_plan := d->'plan'->>'id';
    if v_plan is not null and v_product is not null then
      insert into public.prices (id, product_id, unit_amount, currency, type, interval, active, metadata)
      values (v_plan, v_product,
              round(coalesce((d->'plan'->>'renewal_price')::numeric, (d->>'total')::numeric, 0) * 100)::bigint,
              lower(coalesce(d->'plan'->>'currency', d->>'currency', 'usd')),
              case when d->'plan'->>'plan_type' = 'one_time' or v_type = 'payment.succeeded' and d->'membership' is null
                   then 'one_time' else 'recurring' end,
              case when d->'plan'->>'plan_type' = 'one_time' then null else 'month' end, true,
              jsonb_build_object('whop_plan', d->'plan'))
      on conflict (id) do nothing;
    end if;
  end if;

  if v_type in ('membership.activated', 'membership.deactivated', 'membership.updated') then
    v_status := case d->>'status'
      when 'active' then 'active' when 'trialing' then 'trialing' when 'past_due' then 'past_due'
      when 'canceling' then 'active' when 'canceled' then 'canceled' when 'completed' then 'canceled'
      when 'expired' then 'canceled' else case when v_type = 'membership.deactivated' then 'canceled' else 'active' end end;
    insert into public.subscriptions as s (id, user_id, price_id, status, source, cancel_at_period_end,
      current_period_start, current_period_end, canceled_at, ended_at, metadata)
    values (d->>'id', v_user, (select p.id from public.prices p where p.id = v_plan), v_status, 'whop',
      coalesce((d->>'cancel_at_period_end')::boolean, false),
      coalesce((d->>'renewal_period_start')::timestamptz, now()), coalesce((d->>'renewal_period_end')::timestamptz, now()),
      case when v_status = 'canceled' then now() end, case when v_status = 'canceled' then now() end,
      jsonb_build_object('whop_product', v_product, 'whop_plan', v_plan))
    on conflict (id) do update set status = excluded.status, price_id = excluded.price_id,
      cancel_at_period_end = excluded.cancel_at_period_end, current_period_start = excluded.current_period_start,
      current_period_end = excluded.current_period_end,
      canceled_at = coalesce(s.canceled_at, excluded.canceled_at), ended_at = coalesce(s.ended_at, excluded.ended_at)
    where s.source = 'whop';
    -- The plan's monthly credits (the product's `credits` metadata, as for Stripe plans).
    update public.user_credits uc
       set subscription_id = case when v_status in ('active', 'trialing') then d->>'id' end,
           plan_credits = case when v_status in ('active', 'trialing')
                               then coalesce((select (p.metadata->>'credits')::integer from public.products p where p.id = v_product), 0)
                               else 0 end,
           next_reset_at = case when v_status in ('active', 'trialing')
                                then coalesce((d->>'renewal_period_end')::timestamptz, now() + interval '1 month') end
     where uc.user_id = v_user;

  elsif v_type = 'payment.succeeded' then
    -- A credit pack: the product's or the checkout's `credits`; a membership's renewal grants none here.
    v_credits := coalesce((d->'metadata'->>'credits')::integer,
                          (select (p.metadata->>'credits_pack')::integer from public.products p where p.id = v_product));
    if v_credits is not null and v_credits > 0 then
      v_balance := public.add_credits(v_user, v_credits, 'purchase', 'Credit pack purchase (Whop)',
                                      jsonb_build_object('whop_event_id', p_event_id, 'whop_payment', d->>'id'));
    else
      v_outcome := 'ignored';
    end if;

  else
    v_outcome := 'ignored';
  end if;
  return jsonb_build_object('outcome', v_outcome, 'type', v_type, 'user_id', v_user, 'credits_balance', v_balance);
end;
$$;

------------------------------------------------------------------------------------------
-- The LangGraph checkpointer (blobs travel base64-encoded through JSON).
------------------------------------------------------------------------------------------
create or replace function public.checkpoint_put(p_thread_id text, p_checkpoint_ns text, p_checkpoint_id text,
                                                 p_parent_checkpoint_id text, p_checkpoint jsonb, p_metadata jsonb,
                                                 p_blobs jsonb default '[]')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  b jsonb;
begin
  for b in select * from jsonb_array_elements(coalesce(p_blobs, '[]')) loop
    insert into public.checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    values (p_thread_id, coalesce(p_checkpoint_ns, ''), b->>'channel', b->>'version', b->>'type',
            case when b->>'blob' is null then null else decode(b->>'blob', 'base64') end)
    on conflict (thread_id, checkpoint_ns, channel, version) do nothing;
  end loop;
  insert into public.checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
  values (p_thread_id, coalesce(p_checkpoint_ns, ''), p_checkpoint_id, p_parent_checkpoint_id, p_checkpoint, coalesce(p_metadata, '{}'))
  on conflict (thread_id, checkpoint_ns, checkpoint_id)
    do update set checkpoint = excluded.checkpoint, metadata = excluded.metadata;
  return jsonb_build_object('thread_id', p_thread_id, 'checkpoint_ns', coalesce(p_checkpoint_ns, ''), 'checkpoint_id', p_checkpoint_id);
end;
$$;

-- Pending writes of a task: special channels (LangGraph's __error__, __interrupt__, …) replace
-- what is there, others are written once.
create or replace function public.checkpoint_put_writes(p_thread_id text, p_checkpoint_ns text, p_checkpoint_id text,
                                                        p_task_id text, p_task_path text, p_writes jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  w jsonb;
  n integer := 0;
begin
  for w in select * from jsonb_array_elements(coalesce(p_writes, '[]')) loop
    if w->>'channel' like '\_\_%\_\_' then
      insert into public.checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
      values (p_thread_id, coalesce(p_checkpoint_ns, ''), p_checkpoint_id, p_task_id, coalesce(p_task_path, ''),
              (w->>'idx')::integer, w->>'channel', w->>'type', decode(w->>'blob', 'base64'))
      on conflict (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
        do update set channel = excluded.channel, type = excluded.type, blob = excluded.blob;
    else
      insert into public.checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
      values (p_thread_id, coalesce(p_checkpoint_ns, ''), p_checkpoint_id, p_task_id, coalesce(p_task_path, ''),
              (w->>'idx')::integer, w->>'channel', w->>'type', decode(w->>'blob', 'base64'))
      on conflict (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) do nothing;
    end if;
    n := n + 1;
  end loop;
  return n;
end;
$$;

-- A checkpoint (the latest of the thread and namespace when p_checkpoint_id is null) with its
-- channel values (the blobs of the versions its channel_versions name) and pending writes.
create or replace function public.checkpoint_get(p_thread_id text, p_checkpoint_ns text default '', p_checkpoint_id text default null)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'thread_id', c.thread_id, 'checkpoint_ns', c.checkpoint_ns, 'checkpoint_id', c.checkpoint_id,
    'parent_checkpoint_id', c.parent_checkpoint_id, 'checkpoint', c.checkpoint, 'metadata', c.metadata,
    'channel_values', coalesce((
      select jsonb_agg(jsonb_build_object('channel', bl.channel, 'version', bl.version, 'type', bl.type,
                                          'blob', encode(bl.blob, 'base64')) order by bl.channel)
        from jsonb_each_text(coalesce(c.checkpoint->'channel_versions', '{}')) v
        join public.checkpoint_blobs bl
          on bl.thread_id = c.thread_id and bl.checkpoint_ns = c.checkpoint_ns
         and bl.channel = v.key and bl.version = v.value), '[]'),
    'pending_writes', coalesce((
      select jsonb_agg(jsonb_build_object('task_id', w.task_id, 'task_path', w.task_path, 'idx', w.idx,
                                          'channel', w.channel, 'type', w.type, 'blob', encode(w.blob, 'base64'))
                       order by w.task_path, w.task_id, w.idx)
        from public.checkpoint_writes w
       where w.thread_id = c.thread_id and w.checkpoint_ns = c.checkpoint_ns and w.checkpoint_id = c.checkpoint_id), '[]'))
  from public.checkpoints c
  where c.thread_id = p_thread_id and c.checkpoint_ns = coalesce(p_checkpoint_ns, '')
    and (p_checkpoint_id is null or c.checkpoint_id = p_checkpoint_id)
  order by c.checkpoint_id desc
  limit 1;
$$;

revoke all on function public.claim_comments_to_triage(integer), public.record_comment_triage(uuid, text, numeric, text, text, jsonb),
  public.record_comment_reply(uuid, text, text), public.claim_dm_media(integer, uuid[]), public.record_dm_media(uuid, text, text, text),
  public.apply_whop_event(text, jsonb),
  public.checkpoint_put(text, text, text, text, jsonb, jsonb, jsonb), public.checkpoint_put_writes(text, text, text, text, text, jsonb),
  public.checkpoint_get(text, text, text)
  from public, anon, authenticated;
grant execute on function public.claim_comments_to_triage(integer), public.record_comment_triage(uuid, text, numeric, text, text, jsonb),
  public.record_comment_reply(uuid, text, text), public.claim_dm_media(integer, uuid[]), public.record_dm_media(uuid, text, text, text),
  public.apply_whop_event(text, jsonb),
  public.checkpoint_put(text, text, text, text, jsonb, jsonb, jsonb), public.checkpoint_put_writes(text, text, text, text, text, jsonb),
  public.checkpoint_get(text, text, text)
  to service_role;

------------------------------------------------------------------------------------------
-- The workers' schedules: run_worker learns the two new workers (the first three stay with
-- migration 11's function, renamed run_worker_base).
------------------------------------------------------------------------------------------
-- POST to worker function p_name with the URL and key from Vault (pg_net).
create or replace function private.call_worker(p_name text)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_url text := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url');
  v_key text := (select decrypted_secret from vault.decrypted_secrets where name = 'service_role_key');
begin
  if v_url is null or v_key is null then
    raise exception 'socialsync-ai: the vault secrets project_url and service_role_key are not set'
      using hint = 'select private.set_function_secrets(''<API URL>'', ''<service_role key>'')';
  end if;
  return net.http_post(url := rtrim(v_url, '/') || '/functions/v1/' || p_name, body := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key),
    timeout_milliseconds := 60000);
end;
$$;
revoke all on function private.call_worker(text) from public;

alter function private.run_worker(text) rename to run_worker_base;

create function private.run_worker(p_name text)
returns bigint
language plpgsql
set search_path = ''
as $$
begin
  if p_name = 'triage-comments' then
    if exists (select 1 from public.comments c
                 join public.monitored_posts mp on mp.id = c.monitored_post_id
                 join public.ai_settings s on s.user_id = mp.user_id
                where c.triage is null and not c.hidden and s.ai_control_enabled and s.ai_enabled_for_comments
                  and (c.triage_attempted_at is null or c.triage_attempted_at < now() - interval '10 minutes')) then
      return private.call_worker(p_name);
    end if;
    return null;
  elsif p_name = 'fetch-dm-media' then
    if exists (select 1 from public.conversation_messages m
                where m.direction = 'inbound' and m.storage_object_name is null
                  and (m.metadata->'attachments'->0->'payload'->>'url' is not null or m.metadata->'media'->>'id' is not null)
                  and coalesce((m.metadata->>'media_attempts')::integer, 0) < 3
                  and coalesce((m.metadata->>'media_tried_at')::timestamptz, '-infinity') < now() - interval '1 minute') then
      return private.call_worker(p_name);
    end if;
    return null;
  end if;
  return private.run_worker_base(p_name);
end;
$$;
revoke all on function private.run_worker(text) from public;

select cron.schedule('socialsync-triage-comments', '15 seconds', 'select private.run_worker(''triage-comments'')');
select cron.schedule('socialsync-fetch-dm-media', '30 seconds', 'select private.run_worker(''fetch-dm-media'')');
