// What the Stripe functions share: the Stripe API client (form-encoded, as Stripe's API
// takes it), webhook signature checking, REST as the service role, the caller, JSON answers.
// Plain fetch and Web Crypto only.
//
// Secrets: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET (whsec_…), STRIPE_API_URL (default
// https://api.stripe.com), PLATFORM_FEE_PERCENT (default 10), SITE_URL (Connect return links).

export const env = (name: string, fallback?: string): string => {
  const v = Deno.env.get(name) ?? fallback;
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
};

export const json = (body: unknown, status = 200): Response => Response.json(body, { status });

export class HttpError extends Error {
  constructor(public status: number, message: string, public extra: Record<string, unknown> = {}) {
    super(message);
  }
}

export class StripeError extends Error {
  constructor(public status: number, public body: any) {
    super(body?.error?.message ?? `Stripe answered ${status}`);
  }
}

/** `{a: {b: 1}, c: [x]}` → `a[b]=1&c[0]=x`, Stripe's form encoding. */
function form(params: Record<string, unknown>, prefix = '', out = new URLSearchParams()): URLSearchParams {
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    const key = prefix ? `${prefix}[${k}]` : k;
    if (typeof v === 'object') form(v as Record<string, unknown>, key, out);
    else out.append(key, String(v));
  }
  return out;
}

export async function stripe(path: string, params: Record<string, unknown> = {}, idempotencyKey?: string) {
  const headers: Record<string, string> = {
    authorization: `Bearer ${env('STRIPE_SECRET_KEY')}`,
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  const res = await fetch(`${env('STRIPE_API_URL', 'https://api.stripe.com')}/v1/${path}`, {
    method: 'POST', headers, body: form(params).toString(),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new StripeError(res.status, body);
  return body;
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Stripe-Signature: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (several v1 allowed);
 * refused when no v1 matches or t is more than `tolerance` seconds away.
 */
export async function stripeSignatureValid(raw: string, header: string | null, secret: string, tolerance = 300): Promise<boolean> {
  if (!header) return false;
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  const sigs = parts.filter(([k]) => k === 'v1').map(([, v]) => v);
  if (!t || !/^[0-9]+$/.test(t) || sigs.length === 0) return false;
  if (Math.abs(Date.now() / 1000 - Number(t)) > tolerance) return false;
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const expected = hex(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${t}.${raw}`))));
  // Constant-time comparison of equal-length hex strings.
  return sigs.some((s) => s.length === expected.length && [...s].reduce((d, c, i) => d | (c.charCodeAt(0) ^ expected.charCodeAt(i)), 0) === 0);
}

/** REST as the service role, or as the caller when `authorization` is given. */
export async function rest(path: string, init: { method?: string; body?: unknown; authorization?: string; prefer?: string } = {}) {
  const service = env('SUPABASE_SERVICE_ROLE_KEY');
  const headers: Record<string, string> = {
    apikey: init.authorization ? env('SUPABASE_ANON_KEY') : service,
    authorization: init.authorization ?? `Bearer ${service}`,
    'content-type': 'application/json',
  };
  if (init.prefer) headers.prefer = init.prefer;
  const res = await fetch(`${env('SUPABASE_URL')}/rest/v1/${path}`, {
    method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`REST ${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The signed-in caller (their JWT checked by auth), or null. */
export async function caller(req: Request): Promise<{ id: string; email?: string; role?: string } | null> {
  const authorization = req.headers.get('authorization');
  if (!authorization) return null;
  const res = await fetch(`${env('SUPABASE_URL')}/auth/v1/user`, { headers: { apikey: env('SUPABASE_ANON_KEY'), authorization } });
  return res.ok ? await res.json() : null;
}

/** The JWT's role claim (its signature was checked by the functions gateway). */
export function jwtRole(req: Request): string | null {
  const token = req.headers.get('authorization')?.replace(/^Bearer\s+/i, '');
  try {
    return JSON.parse(atob(token!.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).role ?? null;
  } catch {
    return null;
  }
}

/** Runs a handler, mapping refusals and Stripe errors to their answers. */
export function serve(name: string, handler: (req: Request) => Promise<Response>) {
  Deno.serve(async (req) => {
    try {
      return await handler(req);
    } catch (e) {
      if (e instanceof HttpError) return json({ error: e.message, ...e.extra }, e.status);
      if (e instanceof StripeError) return json({ error: 'Stripe refused the request', stripe: e.body?.error ?? null }, 502);
      console.error(`${name}:`, e);
      return json({ error: 'internal error' }, 500);
    }
  });
}
