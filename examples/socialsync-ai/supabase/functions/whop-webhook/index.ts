// The Whop webhook (verify_jwt = false: Whop sends no JWT). Whop signs deliveries with the
// Standard Webhooks scheme: headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
// `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`); the
// HMAC key is the webhook secret's own bytes (WHOP_WEBHOOK_SECRET as the dashboard shows it;
// Whop's SDK takes it base64-encoded, which decodes to the same bytes). A missing, wrong or
// stale (more than 5 minutes off) signature answers 401 and records nothing. The event is then
// applied once by its id (public.apply_whop_event: `webhook_events.whop_event_id`):
// memberships into `subscriptions`, products and plans, the Whop user into `customers`, credit
// packs into credits, all `source = 'whop'`. A replay answers {"duplicate": true}; an event that
// cannot be applied answers 500 and stays unrecorded, so Whop's retry is processed anew.
import { env, json, rest, RestError } from '../_shared/backend.ts';

const TOLERANCE_S = 300;
const encoder = new TextEncoder();

function b64(bytes: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

function same(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

async function verified(req: Request, body: Uint8Array): Promise<boolean> {
  const id = req.headers.get('webhook-id');
  const ts = req.headers.get('webhook-timestamp');
  const signatures = req.headers.get('webhook-signature');
  if (!id || !ts || !signatures || !/^\d+$/.test(ts)) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE_S) return false;
  const key = await crypto.subtle.importKey('raw', encoder.encode(env('WHOP_WEBHOOK_SECRET')), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const signed = new Uint8Array([...encoder.encode(`${id}.${ts}.`), ...body]);
  const expected = b64(await crypto.subtle.sign('HMAC', key, signed));
  return signatures.split(' ').some((s) => s.startsWith('v1,') && same(s.slice(3), expected));
}

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const body = new Uint8Array(await req.arrayBuffer());
  if (!(await verified(req, body))) return json({ error: 'invalid signature' }, 401);
  let event;
  try {
    event = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return json({ error: 'body is not JSON' }, 400);
  }
  if (typeof event?.type !== 'string' || typeof event?.data !== 'object' || event.data === null) {
    return json({ error: 'not a Whop event (type and data are required)' }, 400);
  }
  try {
    const out = await rest('rpc/apply_whop_event', { method: 'POST', body: { p_event_id: event.id ?? req.headers.get('webhook-id'), p_event: event } });
    return json(out);
  } catch (e) {
    if (e instanceof RestError && e.body?.code === '22023') return json({ error: 'the event is malformed', detail: e.body?.message }, 400);
    console.error('apply_whop_event failed:', (e as Error).message);
    return json({ error: 'could not apply the event' }, 500);
  }
});
