-- The payout run on a schedule: pg_cron calls public.request_payouts() daily, which hands the
-- run to the process-payouts function with net.http_post (pg_net's interface), the project's
-- URL and service key read from Vault as Supabase documents (secrets `project_url` and
-- `service_role_key`, stored once with private.set_function_secrets). Nothing secret is in a
-- migration or a table in the clear.

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
    perform vault.create_secret(p_project_url, 'project_url', 'trvl-social: base URL scheduled jobs call functions at');
  else
    perform vault.update_secret(v_id, p_project_url);
  end if;
  v_id := null;
  select id into v_id from vault.secrets where name = 'service_role_key';
  if v_id is null then
    perform vault.create_secret(p_service_role_key, 'service_role_key', 'trvl-social: key scheduled jobs call functions with');
  else
    perform vault.update_secret(v_id, p_service_role_key);
  end if;
end;
$$;
revoke all on function private.set_function_secrets(text, text) from public, anon, authenticated;

-- Returns pg_net's request id; the response lands in net._http_response.
create or replace function public.request_payouts()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_url text;
  v_key text;
begin
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into v_key from vault.decrypted_secrets where name = 'service_role_key';
  if v_url is null or v_key is null then
    raise exception 'trvl-social: the vault secrets project_url and service_role_key are not set'
      using hint = 'select private.set_function_secrets(''<API URL>'', ''<service_role key>'')';
  end if;
  return net.http_post(
    url := rtrim(v_url, '/') || '/functions/v1/process-payouts',
    body := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key),
    timeout_milliseconds := 60000);
end;
$$;
revoke all on function public.request_payouts() from public, anon, authenticated, service_role;

do $cron$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'trvl-social: pg_cron is not available; the payout run is not scheduled';
    return;
  end if;
  create extension if not exists pg_cron with schema pg_catalog;
  perform cron.schedule('trvl-request-payouts', '0 6 * * *', 'select public.request_payouts()');
end
$cron$;
