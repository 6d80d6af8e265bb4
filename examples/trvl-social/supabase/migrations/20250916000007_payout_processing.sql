-- Vendor payouts through Stripe Connect (the process-payouts function, service role): vendors
-- whose schedule is due and whose connected account may receive payouts are paid what their
-- completed, paid bookings earned and no earlier payout covered, less the platform fee, when
-- it reaches their minimum (refunds deducted). Claiming creates the pending payout_transactions row (so a booking
-- is never paid out twice, even by two runs at once) and moves the schedule on; the function
-- then creates the Stripe transfer (idempotency key: the payout's id) and finishes the row.

create or replace function public.claim_due_payouts(p_fee_percent numeric default 10)
returns table (payout_id uuid, vendor_id uuid, stripe_account_id text, amount numeric, currency text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  s record;
  v_ids uuid[];
  v_gross numeric;
  v_first date;
  v_fee numeric;
  v_payout uuid;
begin
  for s in
    select ps.id, ps.vendor_id, ps.frequency, ps.minimum_amount, ps.currency, sa.stripe_account_id as acct
    from public.payout_schedules ps
    join public.stripe_accounts sa on sa.vendor_id = ps.vendor_id and sa.payouts_enabled
    where coalesce(ps.next_payout_date, current_date) <= current_date
    for update of ps skip locked
  loop
    select array_agg(distinct b.id), sum(p.amount), min(b.booking_date) into v_ids, v_gross, v_first
    from public.bookings b
    join public.booking_payments p on p.booking_id = b.id and p.status = 'succeeded' and p.currency = s.currency
    where b.vendor_id = s.vendor_id and b.status = 'completed'
      and not exists (select 1 from public.payout_transactions t
                      where b.id = any (t.booking_ids) and t.status not in ('failed', 'cancelled'));
    continue when v_gross is null;
    -- Refunded amounts are not the vendor's.
    v_gross := v_gross - coalesce((select sum(r.amount) from public.refund_requests r
                                   where r.booking_id = any (v_ids) and r.status = 'refunded'), 0);
    v_fee := round(v_gross * p_fee_percent / 100, 2);
    continue when v_gross - v_fee < s.minimum_amount or v_gross - v_fee <= 0;
    insert into public.payout_transactions (vendor_id, amount, fee_amount, currency, status, period_start, period_end, booking_ids)
    values (s.vendor_id, v_gross - v_fee, v_fee, s.currency, 'pending', v_first, greatest(v_first, current_date), v_ids)
    returning id into v_payout;
    update public.payout_schedules
    set next_payout_date = current_date + case s.frequency when 'daily' then 1 when 'weekly' then 7 else 30 end
    where id = s.id;
    payout_id := v_payout; vendor_id := s.vendor_id; stripe_account_id := s.acct;
    amount := v_gross - v_fee; currency := s.currency;
    return next;
  end loop;
end;
$$;

create or replace function public.finish_payout(p_payout_id uuid, p_transfer_id text, p_error text default null)
returns public.payout_transactions
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.payout_transactions;
begin
  update public.payout_transactions
  set status = case when p_error is null then 'paid' else 'failed' end,
      stripe_transfer_id = p_transfer_id,
      paid_at = case when p_error is null then now() end,
      failure_reason = p_error
  where id = p_payout_id and status = 'pending'
  returning * into t;
  if t.id is not null then
    perform private.notify(v.user_id, null, 'payment',
      case when p_error is null then 'Payout sent' else 'Payout failed' end,
      format('%s %s%s', t.amount, t.currency, case when p_error is null then '' else ': ' || p_error end),
      jsonb_build_object('payout_transaction_id', t.id))
    from public.vendors v where v.id = t.vendor_id;
  end if;
  return t;
end;
$$;

revoke all on function public.claim_due_payouts(numeric), public.finish_payout(uuid, text, text) from public, anon, authenticated;
grant execute on function public.claim_due_payouts(numeric), public.finish_payout(uuid, text, text) to service_role;

-- Needs pg_cron: daily payment-split reminders and engagement metrics. (Payouts call Stripe, so
-- they run from the process-payouts function; schedule it with net.http_post where the
-- project's URL and service key are in Vault.) Without pg_cron the migration applies and says so.
do $cron$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'trvl-social: pg_cron is not available; the daily jobs are not installed';
    return;
  end if;
  create extension if not exists pg_cron with schema pg_catalog;
  perform cron.schedule('trvl-remind-due-payment-splits', '0 9 * * *', 'select public.remind_due_payment_splits()');
  perform cron.schedule('trvl-refresh-engagement-metrics', '10 0 * * *', 'select public.refresh_engagement_metrics()');
end
$cron$;
