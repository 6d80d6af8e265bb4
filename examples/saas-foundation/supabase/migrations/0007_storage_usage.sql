-- Added (not in the design's SQL): `storage_mb` measured from the bucket instead of counted.
--
-- The design keeps each user's files in `user-files` under `{userId}/…` and names `storage_mb`
-- among the usage metrics. What a user stores is therefore known exactly: the sum of the sizes
-- storage keeps in `storage.objects.metadata` for the objects in their folder. A trigger on
-- `storage.objects` re-measures the owner's folder after every upload, replacement, move and
-- deletion in `user-files` and writes it (MiB, rounded up) to their `storage_mb` counter of the
-- current window; `measure_storage(user_id)` does the same on demand (service role only; the
-- `track-usage` function calls it for `storage_mb`). `record_usage` no longer adds to
-- `storage_mb`: an amount cannot be counted for what is measured.

-- Bytes the user's folder of `user-files` holds.
create or replace function private.storage_bytes(p_user_id uuid)
returns bigint
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(sum(coalesce((o.metadata ->> 'size')::bigint, 0)), 0)::bigint
      from storage.objects o
     where o.bucket_id = 'user-files'
       and o.name like p_user_id::text || '/%';
$$;
revoke all on function private.storage_bytes(uuid) from public, anon, authenticated;

-- Measure the user's folder and store it as this window's `storage_mb`; `p_amount` MB more
-- (an upload the application is about to make) is checked against the plan's quota, never
-- recorded. Returns the figures `record_usage` returns, plus `bytes`.
create or replace function public.measure_storage(p_user_id uuid, p_amount integer default 0)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_plan text;
    v_quota public.plan_quotas;
    v_window record;
    v_bytes bigint;
    v_mb integer;
begin
    if p_amount is null or p_amount < 0 then
        raise exception 'amount must be a non-negative integer' using errcode = '22023';
    end if;
    if not exists (select 1 from public.users u where u.id = p_user_id) then
        raise exception 'no such user' using errcode = 'P0002';
    end if;
    v_plan := private.current_plan(p_user_id);
    select * into v_quota from public.plan_quotas q where q.plan = v_plan and q.metric = 'storage_mb';
    select * into v_window from private.usage_window(coalesce(v_quota.period, 'month'), now());
    v_bytes := private.storage_bytes(p_user_id);
    v_mb := ceil(v_bytes / 1048576.0)::integer;
    insert into public.usage_counters (user_id, metric, count, window_start, window_end)
    values (p_user_id, 'storage_mb', v_mb, v_window.window_start, v_window.window_end)
    on conflict (user_id, metric, window_start) do update set count = excluded.count
    where public.usage_counters.count is distinct from excluded.count;
    return jsonb_build_object(
        'allowed', v_quota.quota is null or v_mb + p_amount <= v_quota.quota, 'recorded', false, 'measured', true,
        'plan', v_plan, 'metric', 'storage_mb', 'period', coalesce(v_quota.period, 'month'), 'amount', p_amount,
        'used', v_mb, 'bytes', v_bytes, 'quota', v_quota.quota,
        'remaining', case when v_quota.quota is null then null else greatest(v_quota.quota - v_mb, 0) end,
        'window_start', v_window.window_start, 'window_end', v_window.window_end);
end;
$$;
revoke all on function public.measure_storage(uuid, integer) from public, anon, authenticated;
grant execute on function public.measure_storage(uuid, integer) to service_role;

-- After a change in `user-files`, re-measure the folders it touched (old and new name).
create or replace function private.on_user_file_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_folder text;
begin
    foreach v_folder in array array[
        case when tg_op in ('UPDATE', 'DELETE') and old.bucket_id = 'user-files' then (storage.foldername(old.name))[1] end,
        case when tg_op in ('INSERT', 'UPDATE') and new.bucket_id = 'user-files' then (storage.foldername(new.name))[1] end]
    loop
        continue when v_folder is null
            or v_folder !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            or not exists (select 1 from public.users u where u.id = v_folder::uuid);
        perform public.measure_storage(v_folder::uuid);
    end loop;
    return null;
end;
$$;
revoke all on function private.on_user_file_change() from public, anon, authenticated;

drop trigger if exists user_files_measure_storage on storage.objects;
create trigger user_files_measure_storage
    after insert or update or delete on storage.objects
    for each row execute function private.on_user_file_change();

-- `record_usage` counts every metric but the measured one.
create or replace function private.refuse_counted_storage()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.metric = 'storage_mb' and new.count is distinct from ceil(private.storage_bytes(new.user_id) / 1048576.0)::integer then
        raise exception 'storage_mb is measured from the user-files bucket, not counted'
            using errcode = '22023', hint = 'call measure_storage(user_id)';
    end if;
    return new;
end;
$$;
revoke all on function private.refuse_counted_storage() from public, anon, authenticated;

drop trigger if exists usage_counters_storage_measured on public.usage_counters;
create trigger usage_counters_storage_measured
    before update of count on public.usage_counters
    for each row when (new.metric = 'storage_mb')
    execute function private.refuse_counted_storage();
