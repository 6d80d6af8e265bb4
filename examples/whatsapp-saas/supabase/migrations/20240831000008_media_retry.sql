-- Added: failed or stalled media downloads are retried by a cron job. Every 30 seconds
-- `whatsapp.request_media_retry()` calls the `whatsapp-media` function (pg_net, the project URL
-- and service key from Vault: `private.set_function_secrets(url, key)`) when some inbound media
-- is `failed`, or still `pending` two minutes after it arrived (a worker that died mid-download),
-- and has been tried fewer than 5 times; the function fetches it again, each message after a
-- backoff of 1, 2, 4, 8 minutes.

alter table whatsapp.messages
  add column media_attempts integer not null default 0,
  add column media_tried_at timestamptz;

-- The messages whose media is due another try.
create or replace function whatsapp.media_due(p_limit integer default 20)
returns setof whatsapp.messages
language sql
stable
set search_path = ''
as $$
  select m.* from whatsapp.messages m
   where m.media_status in ('failed', 'pending') and m.media_attempts < 5
     and coalesce(m.media_tried_at, m.created_at)
         < now() - case when m.media_status = 'pending' and m.media_attempts = 0 then interval '2 minutes'
                        else make_interval(mins => (2 ^ greatest(m.media_attempts - 1, 0))::integer) end
   order by coalesce(m.media_tried_at, m.created_at)
   limit greatest(p_limit, 1);
$$;
revoke all on function whatsapp.media_due(integer) from public, anon, authenticated;
grant execute on function whatsapp.media_due(integer) to service_role;

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
    perform vault.create_secret(p_project_url, 'project_url', 'whatsapp-saas: where cron jobs call functions');
  else
    perform vault.update_secret(v_id, p_project_url);
  end if;
  select id into v_id from vault.secrets where name = 'service_role_key';
  if v_id is null then
    perform vault.create_secret(p_service_role_key, 'service_role_key', 'whatsapp-saas: key cron jobs call functions with');
  else
    perform vault.update_secret(v_id, p_service_role_key);
  end if;
end;
$$;
revoke all on function private.set_function_secrets(text, text) from public, anon, authenticated;

create or replace function whatsapp.request_media_retry()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_url text;
  v_key text;
begin
  if not exists (select 1 from whatsapp.media_due(1)) then
    return null;
  end if;
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into v_key from vault.decrypted_secrets where name = 'service_role_key';
  if v_url is null or v_key is null then
    raise exception 'whatsapp-saas: the vault secrets project_url and service_role_key are not set'
      using hint = 'select private.set_function_secrets(''<API URL>'', ''<service_role key>'')';
  end if;
  return net.http_post(
    url := rtrim(v_url, '/') || '/functions/v1/whatsapp-media',
    body := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key),
    timeout_milliseconds := 60000);
end;
$$;
revoke all on function whatsapp.request_media_retry() from public, anon, authenticated, service_role;

do $cron$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'whatsapp-saas: pg_cron is not available; failed media downloads are not retried on their own';
    return;
  end if;
  create extension if not exists pg_cron with schema pg_catalog;
  perform cron.schedule('whatsapp-saas-retry-media', '30 seconds', 'select whatsapp.request_media_retry()');
end
$cron$;
