// handle-stripe-webhook: Stripe's events, verified with the endpoint secret (Stripe-Signature,
// 5-minute tolerance). Each event is recorded once in billing_events (stripe_event_id is
// unique): a delivery of an event already processed answers 200 and changes nothing. Checkout
// completion and subscription events store the subscription and set the usage limits of its
// plan; invoice events store the invoice. Stripe does not deliver events in order: a
// subscription event created before the one already applied is recorded and answered
// `stale: true`, and changes nothing.
import { env, HttpError, json, serve } from '../_shared/http.ts';
import { eq, serviceDb } from '../_shared/db.ts';
import { planFor, stripe, verifyStripeSignature } from '../_shared/stripe.ts';

const db = () => serviceDb();
const time = (unix: unknown) => (typeof unix === 'number' ? new Date(unix * 1000).toISOString() : null);

async function userForCustomer(customerId: unknown): Promise<string | null> {
  if (typeof customerId !== 'string') return null;
  return (await db().one('stripe_customers', { stripe_customer_id: eq(customerId) }))?.user_id ?? null;
}

// The event's `created` orders deliveries: the state of an event older than the one a
// subscription already holds is not applied (the answer says `stale`).
async function syncSubscription(sub: any, userId: string | null, eventAt: string | null) {
  userId = userId ?? sub.metadata?.user_id ?? (await userForCustomer(sub.customer));
  if (!userId) throw new HttpError(422, 'unknown_customer', `no trip-os user for Stripe customer ${sub.customer}`);
  const item = sub.items?.data?.[0] ?? {};
  const price = item.price?.id;
  const plan = planFor(price) ?? sub.metadata?.plan;
  if (!plan) throw new HttpError(422, 'unknown_price', `price ${price} is not a trip-os plan`);
  return db().rpc('sync_subscription', {
    p_user_id: userId, p_stripe_subscription_id: sub.id, p_price_id: price, p_plan: plan, p_status: sub.status,
    p_period_start: time(sub.current_period_start ?? item.current_period_start),
    p_period_end: time(sub.current_period_end ?? item.current_period_end),
    p_cancel_at_period_end: !!sub.cancel_at_period_end, p_canceled_at: time(sub.canceled_at),
    p_event_at: eventAt,
  });
}

async function handle(event: any): Promise<{ userId: string | null; result: unknown }> {
  const obj = event.data?.object ?? {};
  switch (event.type) {
    case 'checkout.session.completed': {
      const userId = obj.client_reference_id ?? obj.metadata?.user_id ?? (await userForCustomer(obj.customer));
      if (!userId) throw new HttpError(422, 'unknown_customer', 'the session names no trip-os user');
      if (typeof obj.customer === 'string') {
        await db().insert('stripe_customers', { user_id: userId, stripe_customer_id: obj.customer, email: obj.customer_details?.email ?? null },
          { onConflict: 'user_id', ignoreDuplicates: true });
      }
      if (obj.mode !== 'subscription' || typeof obj.subscription !== 'string') return { userId, result: 'no subscription' };
      // The session names the subscription; its state comes from Stripe itself.
      const sub = await stripe('GET', `/v1/subscriptions/${encodeURIComponent(obj.subscription)}`);
      return { userId, result: await syncSubscription(sub, userId, time(event.created)) };
    }
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const limits = await syncSubscription(obj, null, time(event.created));
      return { userId: limits?.user_id ?? null, result: limits };
    }
    case 'invoice.paid':
    case 'invoice.payment_failed':
    case 'invoice.finalized':
    case 'invoice.voided': {
      const userId = await userForCustomer(obj.customer);
      if (!userId) throw new HttpError(422, 'unknown_customer', `no trip-os user for Stripe customer ${obj.customer}`);
      const sub = typeof obj.subscription === 'string'
        ? await db().one('subscriptions', { stripe_subscription_id: eq(obj.subscription) })
        : null;
      const [invoice] = await db().insert('invoices', {
        user_id: userId, subscription_id: sub?.id ?? null, stripe_invoice_id: obj.id,
        amount_due: (obj.amount_due ?? 0) / 100, amount_paid: (obj.amount_paid ?? 0) / 100,
        currency: String(obj.currency ?? 'usd').toUpperCase(), status: obj.status,
        hosted_invoice_url: obj.hosted_invoice_url ?? null,
        period_start: time(obj.period_start), period_end: time(obj.period_end),
      }, { onConflict: 'stripe_invoice_id', merge: true });
      return { userId, result: invoice };
    }
    default:
      return { userId: null, result: 'ignored' };
  }
}

serve(['POST'], async (req) => {
  const payload = await req.text();
  await verifyStripeSignature(payload, req.headers.get('stripe-signature'), env('STRIPE_WEBHOOK_SECRET'));
  let event: any;
  try {
    event = JSON.parse(payload);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the event is not JSON');
  }
  if (typeof event?.id !== 'string' || typeof event?.type !== 'string') {
    throw new HttpError(400, 'invalid_event', 'an event needs id and type');
  }
  const state = await db().rpc('begin_billing_event', { p_event_id: event.id, p_type: event.type, p_payload: event });
  if (state === 'duplicate') return json({ received: true, duplicate: true });
  const { userId, result } = await handle(event);
  await db().update('billing_events', { stripe_event_id: eq(event.id) }, { processed_at: new Date().toISOString(), user_id: userId });
  const stale = (result as { stale?: boolean } | null)?.stale === true;
  return json({ received: true, type: event.type, result, ...(stale ? { stale: true } : {}) });
});
