// Responses, errors and input checks shared by every trip-os function.

export const corsHeaders = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
};

/** An error the caller should see: its status, a stable code and a sentence. */
export class HttpError extends Error {
  constructor(public status: number, public code: string, message: string, public details?: unknown) {
    super(message);
  }
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...corsHeaders, 'content-type': 'application/json', ...headers },
  });
}

/** Serve `handler`: CORS preflight, allowed methods, and every failure as a JSON error. */
export function serve(methods: string[], handler: (req: Request) => Promise<Response>) {
  Deno.serve(async (req) => {
    if (req.method === 'OPTIONS') return new Response('ok', { headers: corsHeaders });
    try {
      if (!methods.includes(req.method)) {
        throw new HttpError(405, 'method_not_allowed', `use ${methods.join(' or ')}`);
      }
      return await handler(req);
    } catch (e) {
      if (e instanceof HttpError) {
        return json({ error: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) }, e.status);
      }
      console.error('unexpected error', e);
      return json({ error: 'internal_error', message: 'unexpected error' }, 500);
    }
  });
}

export type Body = Record<string, unknown>;

/** The request's JSON object body (400 when it is not one). */
export async function readJson(req: Request): Promise<Body> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body must be a JSON object');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'invalid_json', 'the body must be a JSON object');
  }
  return body as Body;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function invalid(field: string, why: string): never {
  throw new HttpError(400, 'invalid_input', `${field} ${why}`, { field });
}

export function uuid(body: Body, field: string, required = true): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return required ? invalid(field, 'is required') : undefined;
  if (typeof v !== 'string' || !UUID.test(v)) invalid(field, 'must be a UUID');
  return v as string;
}

export function text(body: Body, field: string, opts: { required?: boolean; max?: number } = {}): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return opts.required === false ? undefined : invalid(field, 'is required');
  if (typeof v !== 'string' || !v.trim()) invalid(field, 'must be a non-empty string');
  const s = (v as string).trim();
  if (opts.max && s.length > opts.max) invalid(field, `must be at most ${opts.max} characters`);
  return s;
}

export function oneOf<T extends string>(body: Body, field: string, allowed: readonly T[], fallback?: T): T {
  const v = body[field];
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || !allowed.includes(v as T)) invalid(field, `must be one of ${allowed.join(', ')}`);
  return v as T;
}

export function int(body: Body, field: string, opts: { min?: number; max?: number; fallback?: number } = {}): number {
  const v = body[field];
  if ((v === undefined || v === null) && opts.fallback !== undefined) return opts.fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) invalid(field, 'must be an integer');
  const n = v as number;
  if (opts.min !== undefined && n < opts.min) invalid(field, `must be at least ${opts.min}`);
  if (opts.max !== undefined && n > opts.max) invalid(field, `must be at most ${opts.max}`);
  return n;
}

export function bool(body: Body, field: string, fallback: boolean): boolean {
  const v = body[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') invalid(field, 'must be true or false');
  return v as boolean;
}

export function httpUrl(body: Body, field: string, fallback: string): string {
  const v = body[field] ?? fallback;
  try {
    const u = new URL(String(v));
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.toString();
  } catch { /* below */ }
  invalid(field, 'must be an http(s) URL');
}

/** A secret from the function's environment (503 when the project has not set it). */
export function env(name: string, fallback?: string): string {
  const v = Deno.env.get(name) ?? fallback;
  if (!v) throw new HttpError(503, 'not_configured', `${name} is not set (supabase/functions/.env)`);
  return v;
}
