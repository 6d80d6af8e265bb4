-- Phase 5 (design: 010_enhance_webhook_system) — Stripe webhooks, processed once:
--   webhook_logs      every delivery the endpoint received (signature valid or not, the answer)
--   webhook_events    each provider event processed, once (unique provider + event id)
--   webhook_failures  events whose processing failed, with attempts; resolved when a retry succeeds
-- public.process_stripe_event applies one verified event in one transaction; a failure rolls it
-- back (so the provider's retry processes it anew) and the function records it as a failure.

create table public.webhook_events (
  id uuid primary key default gen_random_uuid(),
  provider text not null default 'stripe' check (provider in ('stripe', 'whatsapp')),
  event_id text not null,
  event_type text not null,
  account text,
  payload jsonb not null,
  outcome text not null default 'processed' check (outcome in ('processed', 'ignored')),
  received_at timestamptz not null default now(),
  processed_at timestamptz not null default now(),
  unique (provider, event_id)
);
create index idx_webhook_events_type on public.webhook_events (provider, event_type, received_at desc);

create table public.webhook_logs (
  id bigint generated always as identity primary key,
  provider text not null default 'stripe',
  endpoint text not null,
  event_id text,
  event_type text,
  signature_valid boolean not null,
  http_status integer not null,
  duration_ms integer,
  error text,
  received_at timestamptz not null default now()
);
create index idx_webhook_logs_received_at on public.webhook_logs (received_at desc);
create index idx_webhook_logs_event_id on public.webhook_logs (event_id);

create table public.webhook_failures (
  id uuid primary key default gen_random_uuid(),
  provider text not null default 'stripe',
  event_id text not null,
  event_type text,
  payload jsonb not null,
  error text not null,
  attempts integer not null default 1 check (attempts > 0),
  first_failed_at timestamptz not null default now(),
  last_failed_at timestamptz not null default now(),
  resolved_at timestamptz,
  unique (provider, event_id)
);
create index idx_webhook_failures_open on public.webhook_failures (last_failed_at) where resolved_at is null;

alter table public.webhook_events enable row level security;
alter table public.webhook_logs enable row level security;
alter table public.webhook_failures enable row level security;
revoke insert, update, delete on public.webhook_events, public.webhook_logs, public.webhook_failures from anon, authenticated;
create policy "Admins view webhook events" on public.webhook_events for select to authenticated using ((select private.is_admin()));
create policy "Admins view webhook logs" on public.webhook_logs for select to authenticated using ((select private.is_admin()));
create policy "Admins view webhook failures" on public.webhook_failures for select to authenticated using ((select private.is_admin()));

create or replace function public.record_webhook_failure(p_provider text, p_event jsonb, p_error text)
returns integer
language sql
security definer
set search_path = ''
as $$
  insert into public.webhook_failures (provider, event_id, event_type, payload, error)
  values (p_provider, p_event->>'id', p_event->>'type', p_event, p_error)
  on conflict (provider, event_id) do update
    set attempts = public.webhook_failures.attempts + 1, error = excluded.error, payload = excluded.payload,
        last_failed_at = now(), resolved_at = null
  returning attempts;
$$;

create or replace function public.process_stripe_event(p_event jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  o jsonb := p_event->'data'->'object';
  v_type text := p_event->>'type';
  v_outcome text := 'processed';
  v_pi public.stripe_payment_intents;
  v_booking public.bookings;
  v_payment uuid;
  v_invoice uuid;
  v_vendor_user uuid;
  v_title text;
  n integer;
begin
  insert into public.webhook_events (provider, event_id, event_type, account, payload)
  values ('stripe', p_event->>'id', v_type, p_event->>'account', p_event)
  on conflict (provider, event_id) do nothing;
  if not found then
    return jsonb_build_object('duplicate', true);
  end if;

  if v_type in ('payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.processing') then
    update public.stripe_payment_intents
    set status = case v_type when 'payment_intent.succeeded' then 'succeeded'
                             when 'payment_intent.processing' then 'processing' else 'failed' end,
        last_error = o->'last_payment_error'->>'message'
    where stripe_payment_intent_id = o->>'id'
    returning * into v_pi;
    if v_pi.id is null then
      raise exception 'unknown payment intent %', o->>'id';
    end if;
    select * into v_booking from public.bookings where id = v_pi.booking_id;
    select v.user_id into v_vendor_user from public.vendors v where v.id = v_booking.vendor_id;
    select a.title into v_title from public.adventures a where a.id = v_booking.adventure_id;
    if v_type = 'payment_intent.succeeded' then
      insert into public.booking_payments (booking_id, user_id, amount, currency, payment_method, status, stripe_payment_intent_id, paid_at)
      values (v_pi.booking_id, v_pi.user_id, (o->>'amount_received')::numeric / 100, upper(o->>'currency'),
              case when v_pi.payment_split_id is null then 'card' else 'split' end, 'succeeded', o->>'id', now())
      on conflict (stripe_payment_intent_id) do update set status = 'succeeded', paid_at = now()
      returning id into v_payment;
      if v_pi.payment_split_id is not null then
        update public.payment_splits set status = 'succeeded', paid_at = now() where id = v_pi.payment_split_id;
      end if;
      insert into public.invoices (invoice_number, booking_id, user_id, vendor_id, booking_payment_id, status, currency, paid_at)
      values ('TRVL-' || to_char(now(), 'YYYY') || '-' || lpad(nextval('public.invoice_number_seq')::text, 6, '0'),
              v_pi.booking_id, v_pi.user_id, v_booking.vendor_id, v_payment, 'paid', upper(o->>'currency'), now())
      returning id into v_invoice;
      insert into public.invoice_items (invoice_id, description, quantity, unit_amount)
      values (v_invoice, format('%s, %s%s', v_title, v_booking.booking_date,
                                case when v_pi.payment_split_id is null then '' else ' (your share)' end),
              1, (o->>'amount_received')::numeric / 100);
      perform private.notify(v_pi.user_id, null, 'payment', 'Payment received',
        format('%s %s for %s', (o->>'amount_received')::numeric / 100, upper(o->>'currency'), v_title),
        jsonb_build_object('booking_id', v_pi.booking_id, 'invoice_id', v_invoice));
      perform private.notify(v_vendor_user, v_pi.user_id, 'payment', 'Booking payment received',
        format('%s %s for %s', (o->>'amount_received')::numeric / 100, upper(o->>'currency'), v_title),
        jsonb_build_object('booking_id', v_pi.booking_id));
    elsif v_type = 'payment_intent.payment_failed' then
      if v_pi.payment_split_id is not null then
        update public.payment_splits set status = 'failed' where id = v_pi.payment_split_id;
      end if;
      perform private.notify(v_pi.user_id, null, 'payment', 'Payment failed',
        coalesce(o->'last_payment_error'->>'message', 'Your payment did not go through'),
        jsonb_build_object('booking_id', v_pi.booking_id));
    end if;

  elsif v_type = 'charge.refunded' then
    update public.booking_payments
    set status = case when (o->>'amount_refunded')::bigint >= (o->>'amount')::bigint then 'refunded' else status end
    where stripe_payment_intent_id = o->>'payment_intent'
    returning id, booking_id into v_payment, v_booking.id;
    if v_payment is null then
      raise exception 'no booking payment for payment intent %', o->>'payment_intent';
    end if;
    update public.refund_requests
    set status = 'refunded', refunded_at = now(), stripe_refund_id = o->'refunds'->'data'->0->>'id'
    where booking_payment_id = v_payment and status in ('approved', 'processing');
    update public.invoices set status = 'refunded' where booking_payment_id = v_payment
      and (o->>'amount_refunded')::bigint >= (o->>'amount')::bigint;
    -- The whole booking is refunded once none of its payments stands.
    update public.bookings b set status = 'refunded'
    where b.id = v_booking.id and not exists (
      select 1 from public.booking_payments p where p.booking_id = b.id and p.status = 'succeeded');
    for v_vendor_user in select requested_by from public.refund_requests where booking_payment_id = v_payment and status = 'refunded' loop
      perform private.notify(v_vendor_user, null, 'payment', 'Refund issued',
        format('%s %s refunded', (o->>'amount_refunded')::numeric / 100, upper(o->>'currency')),
        jsonb_build_object('booking_id', v_booking.id));
    end loop;

  elsif v_type in ('charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed') then
    select p.id, p.booking_id into v_payment, v_booking.id
    from public.booking_payments p where p.stripe_payment_intent_id = o->>'payment_intent';
    insert into public.dispute_cases (stripe_dispute_id, booking_id, booking_payment_id, amount, currency, reason, status, evidence_due_by)
    values (o->>'id', v_booking.id, v_payment, (o->>'amount')::numeric / 100, upper(o->>'currency'), o->>'reason',
            o->>'status', to_timestamp((o->'evidence_details'->>'due_by')::bigint))
    on conflict (stripe_dispute_id) do update set status = excluded.status, reason = excluded.reason;
    if v_type = 'charge.dispute.created' and v_booking.id is not null then
      select v.user_id into v_vendor_user from public.bookings b join public.vendors v on v.id = b.vendor_id where b.id = v_booking.id;
      perform private.notify(v_vendor_user, null, 'payment', 'A payment is disputed',
        format('%s %s, reason: %s', (o->>'amount')::numeric / 100, upper(o->>'currency'), o->>'reason'),
        jsonb_build_object('booking_id', v_booking.id, 'stripe_dispute_id', o->>'id'));
    end if;

  elsif v_type = 'account.updated' then
    update public.stripe_accounts
    set charges_enabled = coalesce((o->>'charges_enabled')::boolean, false),
        payouts_enabled = coalesce((o->>'payouts_enabled')::boolean, false),
        details_submitted = coalesce((o->>'details_submitted')::boolean, false),
        requirements = coalesce(o->'requirements', '{}')
    where stripe_account_id = o->>'id';
    get diagnostics n = row_count;
    if n = 0 then
      v_outcome := 'ignored';
    else
      update public.stripe_account_onboarding ob
      set status = case when (o->>'details_submitted')::boolean and (o->>'charges_enabled')::boolean then 'completed'
                        when o->'requirements'->>'disabled_reason' is not null then 'restricted'
                        else 'in_progress' end,
          completed_at = case when (o->>'details_submitted')::boolean and (o->>'charges_enabled')::boolean then now() end
      from public.stripe_accounts a
      where a.id = ob.stripe_account_id and a.stripe_account_id = o->>'id';
      update public.vendors v set stripe_account_id = o->>'id'
      from public.stripe_accounts a where a.vendor_id = v.id and a.stripe_account_id = o->>'id' and (o->>'charges_enabled')::boolean;
    end if;

  else
    v_outcome := 'ignored';
  end if;

  update public.webhook_events set outcome = v_outcome where provider = 'stripe' and event_id = p_event->>'id';
  update public.webhook_failures set resolved_at = now() where provider = 'stripe' and event_id = p_event->>'id' and resolved_at is null;
  return jsonb_build_object('outcome', v_outcome, 'type', v_type);
end;
$$;

revoke all on function public.process_stripe_event(jsonb), public.record_webhook_failure(text, jsonb, text) from public, anon, authenticated;
grant execute on function public.process_stripe_event(jsonb), public.record_webhook_failure(text, jsonb, text) to service_role;
