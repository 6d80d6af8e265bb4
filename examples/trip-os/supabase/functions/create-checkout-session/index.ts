// create-checkout-session: a Stripe Checkout session for the explorer or pro plan. The user's
// Stripe customer is created once (idempotency key per user) and kept with the service role;
// the session carries the user id so the webhook knows whose subscription it is.
import { env, HttpError, httpUrl, json, oneOf, readJson, serve } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { eq, serviceDb } from '../_shared/db.ts';
import { PLANS, priceFor, stripe } from '../_shared/stripe.ts';

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const plan = oneOf(body, 'plan', PLANS);
  const site = env('SITE_URL', 'http://127.0.0.1:3000');
  const successUrl = httpUrl(body, 'success_url', `${site}/billing/success`);
  const cancelUrl = httpUrl(body, 'cancel_url', `${site}/billing/cancel`);
  const db = serviceDb();
  const active = await db.one('subscriptions', { user_id: eq(me.userId), status: 'in.(active,trialing)', plan: eq(plan) });
  if (active) throw new HttpError(409, 'already_subscribed', `you already have an active ${plan} subscription`);
  let customer = await db.one('stripe_customers', { user_id: eq(me.userId) });
  if (!customer) {
    const profile = await db.one('profiles', { id: eq(me.userId), select: 'email' });
    const email = me.email ?? profile?.email ?? '';
    const created = await stripe('POST', '/v1/customers', { email, 'metadata[user_id]': me.userId }, `trip-os-customer-${me.userId}`);
    await db.insert('stripe_customers', { user_id: me.userId, stripe_customer_id: created.id, email: email || null },
      { onConflict: 'user_id', ignoreDuplicates: true });
    customer = await db.one('stripe_customers', { user_id: eq(me.userId) });
  }
  const session = await stripe('POST', '/v1/checkout/sessions', {
    mode: 'subscription',
    customer: customer.stripe_customer_id,
    client_reference_id: me.userId,
    'line_items[0][price]': priceFor(plan),
    'line_items[0][quantity]': '1',
    success_url: successUrl,
    cancel_url: cancelUrl,
    'metadata[user_id]': me.userId,
    'metadata[plan]': plan,
    'subscription_data[metadata][user_id]': me.userId,
    'subscription_data[metadata][plan]': plan,
  });
  return json({ id: session.id, url: session.url, customer: customer.stripe_customer_id, plan });
});
