-- Added to the benchmark schema for the soak: an RPC, a read policy on events so that a
-- realtime subscriber receives its own inserts, and events published for realtime.
create function public.soak_price_window(start_id bigint)
returns numeric
language sql stable
as $$ select coalesce(sum(price), 0) from public.items where id between start_id and start_id + 9 $$;
grant execute on function public.soak_price_window(bigint) to anon, authenticated;

create policy events_read_own on public.events for select to authenticated
  using (created_by = (select auth.uid()));
alter publication supabase_realtime add table public.events;
