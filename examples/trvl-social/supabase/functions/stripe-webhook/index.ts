// Stripe webhook (verify_jwt = false: Stripe sends no JWT; the Stripe-Signature header is
// checked instead). Every delivery is logged in webhook_logs. A verified event is applied by
// public.process_stripe_event once (webhook_events, unique event id): payment intents succeeded
// or failed (booking payments, split shares, invoices, notifications), refunds, disputes and
// Connect account updates. When processing fails the transaction rolls back, the failure is
// recorded in webhook_failures (attempts counted) and Stripe gets a 500, so it retries; a
// later success marks the failure resolved.
import { env, json, rest, serve, stripeSignatureValid } from '../_shared/stripe.ts';

async function log(entry: Record<string, unknown>) {
  await rest('webhook_logs', { method: 'POST', body: { provider: 'stripe', endpoint: 'stripe-webhook', ...entry } })
    .catch((e) => console.error('webhook_logs:', e.message));
}

serve('stripe-webhook', async (req) => {
  const started = Date.now();
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const raw = await req.text();
  if (!(await stripeSignatureValid(raw, req.headers.get('stripe-signature'), env('STRIPE_WEBHOOK_SECRET')))) {
    await log({ signature_valid: false, http_status: 400, error: 'invalid signature', duration_ms: Date.now() - started });
    return json({ error: 'invalid signature' }, 400);
  }
  let event;
  try {
    event = JSON.parse(raw);
  } catch {
    await log({ signature_valid: true, http_status: 400, error: 'body is not JSON' });
    return json({ error: 'body is not JSON' }, 400);
  }
  const meta = { event_id: event.id ?? null, event_type: event.type ?? null, signature_valid: true };
  try {
    const result = await rest('rpc/process_stripe_event', { method: 'POST', body: { p_event: event } });
    await log({ ...meta, http_status: 200, duration_ms: Date.now() - started });
    return json({ received: true, ...result });
  } catch (e) {
    const error = (e as Error).message.replace(/^REST POST rpc\/process_stripe_event: /, '');
    const attempts = await rest('rpc/record_webhook_failure', { method: 'POST', body: { p_provider: 'stripe', p_event: event, p_error: error } })
      .catch((f) => { console.error('record_webhook_failure:', f.message); return null; });
    await log({ ...meta, http_status: 500, error, duration_ms: Date.now() - started });
    return json({ error: 'processing failed', attempts }, 500);
  }
});
