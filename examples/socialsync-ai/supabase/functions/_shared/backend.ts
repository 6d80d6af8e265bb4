// What the SocialSync functions share: JSON answers, REST as the service role or the caller,
// the signed-in caller. Plain fetch only.

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

/** A REST call that failed, with basalt's status and error body. */
export class RestError extends Error {
  constructor(public status: number, public body: any, what: string) {
    super(`${what}: ${status} ${JSON.stringify(body)}`);
  }
}

/** REST as the service role, or as the caller when `authorization` is given. */
export async function rest(path: string, init: { method?: string; body?: unknown; authorization?: string | null } = {}) {
  const service = env('SUPABASE_SERVICE_ROLE_KEY');
  const res = await fetch(`${env('SUPABASE_URL')}/rest/v1/${path}`, {
    method: init.method ?? 'GET',
    headers: {
      apikey: init.authorization ? env('SUPABASE_ANON_KEY') : service,
      authorization: init.authorization ?? `Bearer ${service}`,
      'content-type': 'application/json',
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (!res.ok) throw new RestError(res.status, body, `REST ${init.method ?? 'GET'} ${path}`);
  return body;
}

/** The signed-in caller (their JWT checked by auth), or null. */
export async function caller(req: Request): Promise<{ id: string } | null> {
  const authorization = req.headers.get('authorization');
  if (!authorization) return null;
  const res = await fetch(`${env('SUPABASE_URL')}/auth/v1/user`, { headers: { apikey: env('SUPABASE_ANON_KEY'), authorization } });
  return res.ok ? await res.json() : null;
}
