// Stripe webhook (verify_jwt = false: Stripe sends no JWT). `Stripe-Signature` must carry
// `t=<unix>` within 5 minutes and a `v1=` hex HMAC-SHA256 of `"<t>.<raw body>"` with
// STRIPE_WEBHOOK_SECRET; otherwise 400 before anything is parsed. The event is applied by
// public.apply_stripe_billing_event in one transaction, recorded once in webhook_events by its
// id: credit-pack checkouts grant credits, subscriptions are mirrored with their monthly
// credits, products and prices synced. A replay answers `duplicate` and changes nothing; a
// failure answers 500 (nothing recorded), so Stripe retries it.
import { env, json, rest } from '../_shared/backend.ts';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

async function signed(raw: string, header: string | null): Promise<boolean> {
  if (!header) return false;
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  const sigs = parts.filter(([k]) => k === 'v1').map(([, v]) => v);
  if (!t || !/^[0-9]+$/.test(t) || !sigs.length || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(env('STRIPE_WEBHOOK_SECRET')), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const expected = hex(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${t}.${raw}`))));
  return sigs.some((s) => s.length === expected.length && [...s].reduce((d, c, i) => d | (c.charCodeAt(0) ^ expected.charCodeAt(i)), 0) === 0);
}

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const raw = await req.text();
  if (!(await signed(raw, req.headers.get('stripe-signature')))) return json({ error: 'invalid signature' }, 400);
  let event;
  try {
    event = JSON.parse(raw);
  } catch {
    return json({ error: 'body is not JSON' }, 400);
  }
  try {
    return json({ received: true, ...(await rest('rpc/apply_stripe_billing_event', { method: 'POST', body: { p_event: event } })) });
  } catch (e) {
    console.error(`stripe-webhook ${event.type} ${event.id}:`, (e as Error).message);
    return json({ error: 'processing failed' }, 500);
  }
});
