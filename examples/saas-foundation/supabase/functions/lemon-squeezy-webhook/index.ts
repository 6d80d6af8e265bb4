// Lemon Squeezy webhook: keeps `public.subscriptions` in step with Lemon Squeezy.
//
// Lemon Squeezy signs each delivery with the webhook's signing secret: `X-Signature` is the hex
// HMAC-SHA256 of the raw request body. A delivery without a valid signature is refused (401)
// before its body is parsed. Subscription events (`subscription_created`, `_updated`,
// `_cancelled`, `_resumed`, `_expired`, `_paused`, `_unpaused`, and the `subscription`
// object they carry) are applied through `apply_lemon_squeezy_event` (migration 0005) in one
// transaction: a delivery seen before (same body) changes nothing, and an event older than one
// already applied to the subscription is recorded but not applied. Other events are recorded
// and acknowledged. The user comes from the checkout's custom data (`meta.custom_data.user_id`,
// set when the app creates the checkout), else the subscription already linked, else the email.
//
// Secrets: LEMON_SQUEEZY_WEBHOOK_SECRET (required); LEMON_SQUEEZY_PLAN_VARIANTS, optional
// `variantId:plan` pairs ("101:basic,102:pro") — without a match the plan is read from the
// variant or product name. Deployed with verify_jwt = false (Lemon Squeezy sends no JWT).

const encoder = new TextEncoder();

// Lemon Squeezy's subscription statuses mapped onto the design's five.
const STATUS: Record<string, string> = {
  on_trial: 'trial',
  active: 'active',
  past_due: 'past_due',
  unpaid: 'past_due',
  paused: 'cancelled',
  cancelled: 'cancelled',
  expired: 'expired',
};

function json(body: unknown, status = 200): Response {
  return Response.json(body, { status });
}

function hexToBytes(hex: string): Uint8Array | null {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

async function signatureValid(secret: string, body: Uint8Array, header: string | null): Promise<boolean> {
  const sig = header ? hexToBytes(header.trim()) : null;
  if (!sig) return false;
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return crypto.subtle.verify('HMAC', key, sig, body); // constant-time comparison
}

async function sha256Hex(body: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function planOf(attrs: Record<string, unknown>): string | null {
  const pairs = (Deno.env.get('LEMON_SQUEEZY_PLAN_VARIANTS') ?? '').split(',').map((p) => p.trim().split(':'));
  const byVariant = pairs.find(([id]) => id && id === String(attrs.variant_id));
  if (byVariant && ['free', 'basic', 'pro'].includes(byVariant[1])) return byVariant[1];
  const name = `${attrs.variant_name ?? ''} ${attrs.product_name ?? ''}`.toLowerCase();
  for (const plan of ['pro', 'basic', 'free']) if (new RegExp(`\\b${plan}\\b`).test(name)) return plan;
  return null;
}

const time = (v: unknown) => (typeof v === 'string' && v ? v : null);

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const secret = Deno.env.get('LEMON_SQUEEZY_WEBHOOK_SECRET');
  if (!secret) return json({ error: 'LEMON_SQUEEZY_WEBHOOK_SECRET is not set' }, 500);

  const body = new Uint8Array(await req.arrayBuffer());
  if (!(await signatureValid(secret, body, req.headers.get('x-signature')))) {
    return json({ error: 'invalid signature' }, 401);
  }

  let event;
  try {
    event = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return json({ error: 'body is not JSON' }, 400);
  }
  const eventName: string = event?.meta?.event_name ?? req.headers.get('x-event-name') ?? '';
  const data = event?.data ?? {};
  const attrs = data.attributes ?? {};
  const isSubscription = data.type === 'subscriptions' && eventName.startsWith('subscription_');

  let status: string | null = null;
  let plan: string | null = null;
  if (isSubscription) {
    status = STATUS[attrs.status];
    if (!status) return json({ error: `unknown subscription status ${attrs.status}` }, 422);
    plan = planOf(attrs);
    if (!plan) return json({ error: `no plan for variant ${attrs.variant_id} (${attrs.variant_name})` }, 422);
  }

  const userId = event?.meta?.custom_data?.user_id;
  const args = {
    p_body_sha256: await sha256Hex(body),
    p_event_name: eventName || 'unknown',
    p_lemon_squeezy_id: data.id != null ? String(data.id) : null,
    p_user_id: typeof userId === 'string' && /^[0-9a-f-]{36}$/i.test(userId) ? userId : null,
    p_email: attrs.user_email ?? null,
    p_status: status,
    p_plan: plan,
    p_period_start: time(attrs.created_at),
    // A cancelled subscription stays usable until ends_at; an active one renews at renews_at.
    p_period_end: time(attrs.ends_at) ?? time(attrs.renews_at),
    p_trial_ends_at: time(attrs.trial_ends_at),
    p_occurred_at: time(attrs.updated_at) ?? new Date().toISOString(),
  };

  const key = Deno.env.get('SUPABASE_SERVICE_ROLE_KEY')!;
  const res = await fetch(`${Deno.env.get('SUPABASE_URL')}/rest/v1/rpc/apply_lemon_squeezy_event`, {
    method: 'POST',
    headers: { apikey: key, authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(args),
  });
  if (!res.ok) {
    // Lemon Squeezy retries a delivery that does not answer 200.
    console.error('apply_lemon_squeezy_event failed', res.status, await res.text());
    return json({ error: 'could not record the event' }, 500);
  }
  return json({ event: eventName, ...(await res.json()) });
});
