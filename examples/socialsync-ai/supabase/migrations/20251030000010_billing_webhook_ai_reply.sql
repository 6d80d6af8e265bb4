-- Added: the SQL the edge functions (supabase/functions/stripe-webhook, ai-reply) call with
-- the service role, each in one transaction.
--
-- apply_stripe_billing_event: one verified Stripe event, recorded once in webhook_events (the
--   design's idempotency table: a replayed event id changes nothing) and applied: credit-pack
--   checkouts grant credits, subscriptions are mirrored (and set the plan's monthly credits),
--   products and prices are synced. An event that fails rolls back, its id unrecorded, so
--   Stripe's retry is processed anew.
-- record_ai_reply / record_ai_escalation: the AI worker's outcome for one inbound message:
--   credits deducted (402 when short), the decision, the outbound reply or the escalation.

create or replace function public.apply_stripe_billing_event(p_event jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  o jsonb := p_event->'data'->'object';
  v_type text := p_event->>'type';
  v_user uuid;
  v_credits integer;
  v_balance integer;
  v_outcome text := 'processed';
begin
  insert into public.webhook_events (stripe_event_id, event_type, source, payload)
  values (p_event->>'id', v_type, 'stripe', p_event)
  on conflict (stripe_event_id) do nothing;
  if not found then
    return jsonb_build_object('duplicate', true);
  end if;

  if v_type = 'checkout.session.completed' then
    v_user := coalesce(o->>'client_reference_id', o->'metadata'->>'user_id')::uuid;
    if v_user is null then
      raise exception 'checkout session % names no user', o->>'id';
    end if;
    if o->>'customer' is not null then
      insert into public.customers (id, stripe_customer_id) values (v_user, o->>'customer')
      on conflict (id) do update set stripe_customer_id = excluded.stripe_customer_id;
    end if;
    if o->>'mode' = 'payment' and o->>'payment_status' = 'paid' then
      v_credits := (o->'metadata'->>'credits')::integer;
      if v_credits is null or v_credits <= 0 then
        raise exception 'checkout session % carries no credits', o->>'id';
      end if;
      v_balance := public.add_credits(v_user, v_credits, 'purchase', 'Credit pack purchase',
                                      jsonb_build_object('event_id', p_event->>'id', 'checkout_session', o->>'id'));
    end if;

  elsif v_type in ('customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted') then
    v_user := coalesce((select c.id from public.customers c where c.stripe_customer_id = o->>'customer'),
                       (o->'metadata'->>'user_id')::uuid);
    if v_user is null then
      raise exception 'subscription % belongs to no known customer (%)', o->>'id', o->>'customer';
    end if;
    insert into public.subscriptions as s (id, user_id, price_id, status, source, quantity, cancel_at_period_end,
      current_period_start, current_period_end, trial_start, trial_end, cancel_at, canceled_at, ended_at, metadata)
    values (o->>'id', v_user, o->'items'->'data'->0->'price'->>'id', o->>'status', 'stripe',
      coalesce((o->'items'->'data'->0->>'quantity')::integer, 1), coalesce((o->>'cancel_at_period_end')::boolean, false),
      to_timestamp((o->>'current_period_start')::bigint), to_timestamp((o->>'current_period_end')::bigint),
      to_timestamp((o->>'trial_start')::bigint), to_timestamp((o->>'trial_end')::bigint),
      to_timestamp((o->>'cancel_at')::bigint), to_timestamp((o->>'canceled_at')::bigint),
      to_timestamp((o->>'ended_at')::bigint), coalesce(o->'metadata', '{}'))
    on conflict (id) do update set
      price_id = excluded.price_id, status = excluded.status, quantity = excluded.quantity,
      cancel_at_period_end = excluded.cancel_at_period_end, current_period_start = excluded.current_period_start,
      current_period_end = excluded.current_period_end, trial_start = excluded.trial_start, trial_end = excluded.trial_end,
      cancel_at = excluded.cancel_at, canceled_at = excluded.canceled_at, ended_at = excluded.ended_at,
      metadata = excluded.metadata;
    -- The plan's monthly allowance, reset at the end of each period (monthly_reset job).
    update public.user_credits uc
    set subscription_id = case when o->>'status' in ('active', 'trialing') then o->>'id' end,
        plan_credits = case when o->>'status' in ('active', 'trialing')
                            then coalesce((select (p.metadata->>'credits')::integer from public.prices pr
                                           join public.products p on p.id = pr.product_id
                                           where pr.id = o->'items'->'data'->0->'price'->>'id'), 0)
                            else 0 end,
        next_reset_at = case when o->>'status' in ('active', 'trialing') then to_timestamp((o->>'current_period_end')::bigint) end
    where uc.user_id = v_user;

  elsif v_type in ('product.created', 'product.updated') then
    insert into public.products (id, name, description, active, source, metadata)
    values (o->>'id', o->>'name', o->>'description', coalesce((o->>'active')::boolean, true), 'stripe', coalesce(o->'metadata', '{}'))
    on conflict (id) do update set name = excluded.name, description = excluded.description,
      active = excluded.active, metadata = excluded.metadata;

  elsif v_type in ('price.created', 'price.updated') then
    insert into public.prices (id, product_id, unit_amount, currency, type, interval, interval_count, active, metadata)
    values (o->>'id', o->>'product', (o->>'unit_amount')::bigint, o->>'currency', o->>'type',
      o->'recurring'->>'interval', coalesce((o->'recurring'->>'interval_count')::integer, 1),
      coalesce((o->>'active')::boolean, true), coalesce(o->'metadata', '{}'))
    on conflict (id) do update set unit_amount = excluded.unit_amount, active = excluded.active,
      interval = excluded.interval, interval_count = excluded.interval_count, metadata = excluded.metadata;

  else
    v_outcome := 'ignored';
  end if;
  return jsonb_build_object('outcome', v_outcome, 'type', v_type, 'credits_balance', v_balance);
end;
$$;

create or replace function public.record_ai_reply(
  p_user_id uuid, p_conversation_id uuid, p_message_id uuid, p_model text, p_credits integer,
  p_reply text, p_confidence numeric, p_snapshot jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance integer;
  v_decision uuid;
  v_reply uuid;
begin
  v_balance := public.deduct_credits(p_user_id, p_credits, 'AI reply',
                                     jsonb_build_object('model', p_model, 'conversation_id', p_conversation_id, 'message_id', p_message_id));
  insert into public.ai_decisions (user_id, message_id, decision, confidence, reason, message_text, snapshot_json)
  values (p_user_id, p_message_id, 'respond', least(greatest(p_confidence, 0), 1), 'answered from the knowledge base',
          left((select content from public.conversation_messages where id = p_message_id), 500), p_snapshot)
  returning id into v_decision;
  insert into public.conversation_messages (conversation_id, direction, content, message_type, reply_to_message_id, status, metadata)
  values (p_conversation_id, 'outbound', p_reply, 'text', p_message_id, 'sent',
          jsonb_build_object('ai', true, 'model', p_model, 'ai_decision_id', v_decision))
  returning id into v_reply;
  update public.conversations set last_message_at = now() where id = p_conversation_id;
  return jsonb_build_object('reply_message_id', v_reply, 'ai_decision_id', v_decision, 'credits_balance', v_balance);
end;
$$;

create or replace function public.record_ai_escalation(
  p_user_id uuid, p_conversation_id uuid, p_message_id uuid, p_matched text, p_reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_text text := (select content from public.conversation_messages where id = p_message_id);
  v_decision uuid;
  v_escalation uuid;
begin
  insert into public.ai_decisions (user_id, message_id, decision, confidence, reason, matched_rule, message_text)
  values (p_user_id, p_message_id, 'escalate', 1, 'flagged content', p_matched, left(v_text, 500))
  returning id into v_decision;
  insert into public.support_escalations (user_id, conversation_id, message, confidence, reason)
  values (p_user_id, p_conversation_id, coalesce(v_text, ''), 1, p_reason)
  returning id into v_escalation;
  update public.conversations set priority = 'high' where id = p_conversation_id;
  return jsonb_build_object('ai_decision_id', v_decision, 'escalation_id', v_escalation);
end;
$$;

revoke all on function public.apply_stripe_billing_event(jsonb),
  public.record_ai_reply(uuid, uuid, uuid, text, integer, text, numeric, jsonb),
  public.record_ai_escalation(uuid, uuid, uuid, text, text) from public, anon, authenticated;
grant execute on function public.apply_stripe_billing_event(jsonb),
  public.record_ai_reply(uuid, uuid, uuid, text, integer, text, numeric, jsonb),
  public.record_ai_escalation(uuid, uuid, uuid, text, text) to service_role;
