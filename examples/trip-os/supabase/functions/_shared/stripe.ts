// Stripe's REST API (form-encoded, STRIPE_API_BASE) and webhook signatures as Stripe
// documents them: Stripe-Signature `t=<unix>,v1=<hex>`, v1 = HMAC-SHA256(secret, `${t}.${body}`).
import { env, HttpError } from './http.ts';
import { hmacSha256Hex, timingSafeEqual } from './crypto.ts';

export const PLANS = ['explorer', 'pro'] as const;
export type Plan = typeof PLANS[number];

export function priceFor(plan: Plan): string {
  return plan === 'pro' ? env('STRIPE_PRICE_PRO', 'price_pro_monthly') : env('STRIPE_PRICE_EXPLORER', 'price_explorer_monthly');
}

export function planFor(priceId: string | undefined): Plan | undefined {
  return PLANS.find((p) => priceFor(p) === priceId);
}

function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

export async function stripe(method: 'GET' | 'POST', path: string, params: Record<string, string> = {}, idempotencyKey?: string) {
  const base = env('STRIPE_API_BASE', 'https://api.stripe.com').replace(/\/$/, '');
  const headers: Record<string, string> = { authorization: `Bearer ${env('STRIPE_SECRET_KEY')}` };
  if (method === 'POST') headers['content-type'] = 'application/x-www-form-urlencoded';
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  let res: Response;
  try {
    res = await fetch(`${base}${path}${method === 'GET' && Object.keys(params).length ? '?' + form(params) : ''}`, {
      method, headers, body: method === 'POST' ? form(params) : undefined,
    });
  } catch (e) {
    throw new HttpError(502, 'stripe_error', `Stripe is unreachable: ${e}`);
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new HttpError(502, 'stripe_error', `Stripe answered ${res.status}: ${body?.error?.message ?? ''}`, body?.error);
  return body;
}

/** Verify a webhook's Stripe-Signature header against the endpoint secret (400 if not valid). */
export async function verifyStripeSignature(payload: string, header: string | null, secret: string, toleranceSeconds = 300) {
  const parts = (header ?? '').split(',').map((p) => p.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  const signatures = parts.filter(([k]) => k === 'v1').map(([, v]) => v ?? '');
  if (!t || !/^\d+$/.test(t) || signatures.length === 0) {
    throw new HttpError(400, 'invalid_signature', 'Stripe-Signature must carry t= and v1=');
  }
  if (Math.abs(Date.now() / 1000 - Number(t)) > toleranceSeconds) {
    throw new HttpError(400, 'invalid_signature', 'the signature timestamp is outside the tolerance');
  }
  const expected = await hmacSha256Hex(secret, `${t}.${payload}`);
  if (!signatures.some((s) => timingSafeEqual(s, expected))) {
    throw new HttpError(400, 'invalid_signature', 'no v1 signature matches the payload');
  }
}
