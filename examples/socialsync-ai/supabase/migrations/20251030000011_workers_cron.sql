-- The design's Python worker duties that fit edge functions and cron, as SQL the functions call
-- (service role only) and the schedules that call them:
--
-- * publishing: due `scheduled_posts` (queued, `publish_at` passed) are claimed (`publishing`)
--   and published by `publish-scheduled-posts` through the Graph API (Instagram: media container
--   then media_publish; WhatsApp: a text message); success → `published` with the platform's id,
--   a `post_runs` row and a `monitored_posts` row watched for 72 hours; failure → retried up to
--   3 times (1, 2, 4 minutes later), then `failed`.
-- * comment polling: `poll-comments` reads new comments of due `monitored_posts` (Instagram
--   `GET /{media-id}/comments`) into `comments`, each once; the next check comes 5 minutes later
--   when something new arrived, else twice the last interval (at most 6 hours), until
--   `monitoring_ends_at`.
-- * ingestion: `ingest-documents` chunks the text of `knowledge_documents` still `processing`
--   (from the `knowledge-base` bucket), embeds each chunk (Gemini, RETRIEVAL_DOCUMENT, 768
--   dimensions) into `knowledge_chunks` and marks the document `indexed` (or `failed`).
-- * the monthly credit reset: `reset_due_credits()` (SQL) resets every balance whose
--   `next_reset_at` passed, through `add_credits(…, 'monthly_reset', …)`.
--
-- Scheduling. With pg_cron (Debian's Postgres 15), cron.schedule as usual; basalt runs the
-- seconds schedules below. The Postgres 16 with pgvector this example needs
-- (scripts/install-pg16-vector.sh) has no pg_cron, and no registry ships one for it; basalt's
-- seconds scheduler only needs pg_cron's two tables, so without pg_cron this migration creates
-- them (`cron.job`, `cron.job_run_details`, pg_cron's columns) and a `cron.schedule` /
-- `cron.unschedule` that take seconds schedules ('N seconds', 1–59) only. Every job here is a
-- seconds schedule, so it runs the same on either. The functions are called through pg_net with
-- the project URL and service key from Vault (`private.set_function_secrets`), and only when
-- there is work for them.

create schema if not exists private;
revoke all on schema private from public, anon, authenticated;

------------------------------------------------------------------------------------------
-- Publishing.
------------------------------------------------------------------------------------------
create or replace function public.claim_due_posts(p_limit integer default 20)
returns table (id uuid, user_id uuid, platform text, content_json jsonb, retry_count integer,
               account_platform_id text, access_token text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  return query
  with due as (
    select p.id from public.scheduled_posts p
     where p.status = 'queued' and p.publish_at <= now()
     order by p.publish_at
     limit greatest(p_limit, 1)
       for update skip locked
  ), claimed as (
    update public.scheduled_posts p set status = 'publishing', error_message = null
      from due where p.id = due.id
    returning p.id, p.user_id, p.platform, p.content_json, p.retry_count, p.channel_id
  )
  select c.id, c.user_id, c.platform, c.content_json, c.retry_count, a.account_id::text, a.access_token
    from claimed c join public.social_accounts a on a.id = c.channel_id;
end;
$$;

create or replace function public.finish_post(p_id uuid, p_platform_post_id text, p_error text default null,
                                              p_started_at timestamptz default now())
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_post public.scheduled_posts;
  v_status text;
begin
  select * into v_post from public.scheduled_posts where id = p_id and status = 'publishing' for update;
  if not found then
    return null;
  end if;
  if p_error is null then
    update public.scheduled_posts
       set status = 'published', platform_post_id = p_platform_post_id, error_message = null
     where id = p_id;
    insert into public.post_runs (scheduled_post_id, started_at, finished_at, status)
    values (p_id, p_started_at, now(), 'success');
    if v_post.platform = 'instagram' then
      insert into public.monitored_posts (user_id, social_account_id, platform_post_id, platform, caption, media_url,
                                          posted_at, source, monitoring_enabled, monitoring_started_at,
                                          monitoring_ends_at, next_check_at)
      values (v_post.user_id, v_post.channel_id, p_platform_post_id, 'instagram', v_post.content_json->>'text',
              v_post.content_json->'media'->0->>'url', now(), 'scheduled', true, now(), now() + interval '72 hours',
              now() + interval '5 minutes')
      on conflict (social_account_id, platform_post_id) do nothing;
    end if;
    v_status := 'published';
  else
    v_status := case when v_post.retry_count >= 3 then 'failed' else 'queued' end;
    update public.scheduled_posts
       set status = v_status,
           retry_count = least(v_post.retry_count + 1, 3),
           error_message = p_error,
           publish_at = case when v_status = 'queued'
                             then now() + make_interval(mins => (2 ^ v_post.retry_count)::integer)
                             else publish_at end
     where id = p_id;
    insert into public.post_runs (scheduled_post_id, started_at, finished_at, status, error)
    values (p_id, p_started_at, now(), 'failed', p_error);
  end if;
  return v_status;
end;
$$;

------------------------------------------------------------------------------------------
-- Comment polling.
------------------------------------------------------------------------------------------
create or replace function public.claim_due_monitored_posts(p_limit integer default 20)
returns table (id uuid, user_id uuid, platform_post_id text, access_token text, last_check_at timestamptz,
               next_check_at timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  return query
  with due as (
    select m.id from public.monitored_posts m
     where m.monitoring_enabled and m.platform = 'instagram'
       and coalesce(m.next_check_at, '-infinity') <= now()
       and (m.monitoring_ends_at is null or m.monitoring_ends_at > now())
     order by m.next_check_at nulls first
     limit greatest(p_limit, 1)
       for update skip locked
  ), claimed as (
    -- Claimed for two minutes: a poll that never reports back is tried again after that.
    update public.monitored_posts m set next_check_at = now() + interval '2 minutes'
      from due where m.id = due.id
    returning m.id, m.user_id, m.platform_post_id, m.social_account_id, m.last_check_at, m.next_check_at
  )
  select c.id, c.user_id, c.platform_post_id, a.access_token, c.last_check_at, c.next_check_at
    from claimed c join public.social_accounts a on a.id = c.social_account_id;
end;
$$;

-- Store the comments of one poll (each platform comment once) and plan the next check.
-- Returns how many were new.
create or replace function public.record_comments(p_monitored_post_id uuid, p_comments jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_post public.monitored_posts;
  v_new integer;
  v_last interval;
  v_next interval;
begin
  select * into v_post from public.monitored_posts where id = p_monitored_post_id for update;
  if not found then
    raise exception 'no such monitored post' using errcode = 'P0002';
  end if;
  with ins as (
    insert into public.comments (monitored_post_id, platform_comment_id, author_name, author_id, text, parent_id, like_count, created_at)
    select v_post.id, c->>'id', c->>'username', c->'from'->>'id', coalesce(c->>'text', ''), coalesce(c->>'parent_id', c->'parent'->>'id'),
           coalesce((c->>'like_count')::integer, 0), coalesce((c->>'timestamp')::timestamptz, now())
      from jsonb_array_elements(coalesce(p_comments, '[]')) c
     where c->>'id' is not null
    on conflict (platform_comment_id) do nothing
    returning 1
  )
  select count(*) into v_new from ins;
  v_last := coalesce(nullif(v_post.next_check_at - interval '2 minutes' - v_post.last_check_at, interval '0'), interval '5 minutes');
  v_next := case when v_new > 0 then interval '5 minutes'
                 else least(greatest(v_last * 2, interval '5 minutes'), interval '6 hours') end;
  update public.monitored_posts
     set last_check_at = now(), next_check_at = now() + v_next,
         monitoring_enabled = monitoring_ends_at is null or now() + v_next < monitoring_ends_at
   where id = v_post.id;
  return v_new;
end;
$$;

------------------------------------------------------------------------------------------
-- Ingestion.
------------------------------------------------------------------------------------------
create or replace function public.claim_documents_to_ingest(p_limit integer default 5)
returns table (id uuid, user_id uuid, bucket_id text, object_name text, tsconfig text, lang_code text)
language sql
security definer
set search_path = ''
as $$
  -- A document is taken once per 10 minutes (last_ingested_at marks the attempt).
  update public.knowledge_documents d set last_ingested_at = now()
   where d.id in (select k.id from public.knowledge_documents k
                   where k.status = 'processing' and not k.is_deleted and k.object_name is not null
                     and (k.last_ingested_at = k.created_at or k.last_ingested_at < now() - interval '10 minutes')
                   order by k.created_at
                   limit greatest(p_limit, 1)
                     for update skip locked)
  returning d.id, d.user_id, d.bucket_id, d.object_name, d.tsconfig, d.lang_code;
$$;

-- Replace a document's chunks (each {content, embedding: [768 numbers], start_char, end_char,
-- token_count}) and mark it indexed; or mark it failed with p_error.
create or replace function public.store_document_chunks(p_document_id uuid, p_chunks jsonb, p_error text default null)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_doc public.knowledge_documents;
  v_count integer := 0;
begin
  select * into v_doc from public.knowledge_documents where id = p_document_id for update;
  if not found then
    raise exception 'no such document' using errcode = 'P0002';
  end if;
  if p_error is not null then
    update public.knowledge_documents set status = 'failed' where id = p_document_id;
    return 0;
  end if;
  delete from public.knowledge_chunks where document_id = p_document_id;
  insert into public.knowledge_chunks (document_id, chunk_index, content, embedding, token_count, start_char, end_char,
                                       lang_code, tsconfig, metadata)
  select p_document_id, (c.ordinality - 1)::integer, c.value->>'content',
         (c.value->>'embedding')::extensions.vector, (c.value->>'token_count')::integer,
         (c.value->>'start_char')::integer, (c.value->>'end_char')::integer,
         v_doc.lang_code, v_doc.tsconfig, jsonb_build_object('source', v_doc.object_name)
    from jsonb_array_elements(p_chunks) with ordinality c;
  get diagnostics v_count = row_count;
  update public.knowledge_documents
     set status = 'indexed', last_embedded_at = now()
   where id = p_document_id;
  return v_count;
end;
$$;

------------------------------------------------------------------------------------------
-- Monthly credit reset (SQL only).
------------------------------------------------------------------------------------------
create or replace function public.reset_due_credits()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_n integer := 0;
begin
  for v_user in
    select uc.user_id from public.user_credits uc
     where uc.next_reset_at is not null and uc.next_reset_at <= now()
     for update skip locked
  loop
    perform public.add_credits(v_user, null, 'monthly_reset', 'Monthly credit reset');
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;

revoke all on function public.claim_due_posts(integer), public.finish_post(uuid, text, text, timestamptz),
  public.claim_due_monitored_posts(integer), public.record_comments(uuid, jsonb),
  public.claim_documents_to_ingest(integer), public.store_document_chunks(uuid, jsonb, text),
  public.reset_due_credits() from public, anon, authenticated;
grant execute on function public.claim_due_posts(integer), public.finish_post(uuid, text, text, timestamptz),
  public.claim_due_monitored_posts(integer), public.record_comments(uuid, jsonb),
  public.claim_documents_to_ingest(integer), public.store_document_chunks(uuid, jsonb, text),
  public.reset_due_credits() to service_role;

------------------------------------------------------------------------------------------
-- Calling the workers: Vault holds where and with which key.
------------------------------------------------------------------------------------------
create or replace function private.set_function_secrets(p_project_url text, p_service_role_key text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid;
begin
  select id into v_id from vault.secrets where name = 'project_url';
  if v_id is null then
    perform vault.create_secret(p_project_url, 'project_url', 'socialsync-ai: where cron jobs call functions');
  else
    perform vault.update_secret(v_id, p_project_url);
  end if;
  select id into v_id from vault.secrets where name = 'service_role_key';
  if v_id is null then
    perform vault.create_secret(p_service_role_key, 'service_role_key', 'socialsync-ai: key cron jobs call functions with');
  else
    perform vault.update_secret(v_id, p_service_role_key);
  end if;
end;
$$;
revoke all on function private.set_function_secrets(text, text) from public;

-- Call worker function p_name when it has work (pg_net; the response lands in net._http_response).
create or replace function private.run_worker(p_name text)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_url text;
  v_key text;
  v_work boolean;
begin
  v_work := case p_name
    when 'publish-scheduled-posts' then
      exists (select 1 from public.scheduled_posts where status = 'queued' and publish_at <= now())
    when 'poll-comments' then
      exists (select 1 from public.monitored_posts m
               where m.monitoring_enabled and m.platform = 'instagram' and coalesce(m.next_check_at, '-infinity') <= now()
                 and (m.monitoring_ends_at is null or m.monitoring_ends_at > now()))
    when 'ingest-documents' then
      exists (select 1 from public.knowledge_documents k
               where k.status = 'processing' and not k.is_deleted and k.object_name is not null
                 and (k.last_ingested_at = k.created_at or k.last_ingested_at < now() - interval '10 minutes'))
    else false end;
  if not v_work then
    return null;
  end if;
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into v_key from vault.decrypted_secrets where name = 'service_role_key';
  if v_url is null or v_key is null then
    raise exception 'socialsync-ai: the vault secrets project_url and service_role_key are not set'
      using hint = 'select private.set_function_secrets(''<API URL>'', ''<service_role key>'')';
  end if;
  return net.http_post(
    url := rtrim(v_url, '/') || '/functions/v1/' || p_name,
    body := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key),
    timeout_milliseconds := 60000);
end;
$$;
revoke all on function private.run_worker(text) from public;

------------------------------------------------------------------------------------------
-- The schedules.
------------------------------------------------------------------------------------------
do $cron$
begin
  if exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    create extension if not exists pg_cron with schema pg_catalog;
  elsif to_regclass('cron.job') is null then
    raise notice 'socialsync-ai: pg_cron is not available; cron.job is created for basalt''s seconds scheduler';
    create schema cron;
    create table cron.job (
      jobid bigserial primary key,
      schedule text not null,
      command text not null,
      nodename text not null default 'localhost',
      nodeport integer not null default current_setting('port')::integer,
      database text not null default current_database(),
      username text not null default current_user,
      active boolean not null default true,
      jobname text,
      constraint jobname_username_uniq unique (jobname, username)
    );
    create table cron.job_run_details (
      jobid bigint,
      runid bigserial primary key,
      job_pid integer,
      database text,
      username text,
      command text,
      status text,
      return_message text,
      start_time timestamptz,
      end_time timestamptz
    );
    revoke all on schema cron from public, anon, authenticated;
    -- pg_cron's cron.schedule for the schedules basalt runs: 'N seconds' (1-59).
    create function cron.schedule(job_name text, schedule text, command text)
    returns bigint
    language plpgsql
    set search_path = ''
    as $fn$
    declare
      v_id bigint;
    begin
      if net._cron_seconds(schedule) is null then
        raise exception 'without pg_cron only seconds schedules run (basalt''s scheduler): %', schedule
          using errcode = '22023';
      end if;
      insert into cron.job (schedule, command, jobname) values (schedule, command, job_name)
      on conflict on constraint jobname_username_uniq
        do update set schedule = excluded.schedule, command = excluded.command, active = true
      returning jobid into v_id;
      return v_id;
    end;
    $fn$;
    create function cron.unschedule(job_name text)
    returns boolean
    language sql
    set search_path = ''
    as $fn$
      with gone as (delete from cron.job where jobname = job_name and username = current_user returning 1)
      select exists (select 1 from gone);
    $fn$;
    revoke all on function cron.schedule(text, text, text), cron.unschedule(text) from public;
  end if;
  perform cron.schedule('socialsync-publish-due-posts', '30 seconds', 'select private.run_worker(''publish-scheduled-posts'')');
  perform cron.schedule('socialsync-poll-comments', '30 seconds', 'select private.run_worker(''poll-comments'')');
  perform cron.schedule('socialsync-ingest-documents', '10 seconds', 'select private.run_worker(''ingest-documents'')');
  perform cron.schedule('socialsync-reset-credits', '20 seconds', 'select public.reset_due_credits()');
end
$cron$;
