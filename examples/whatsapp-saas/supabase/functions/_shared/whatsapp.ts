// What the WhatsApp functions share: the Graph API client, the access-token cipher, the
// service-role REST client and JSON answers. Plain fetch and Web Crypto only.
//
// Secrets (supabase/functions/.env or [edge_runtime.secrets]):
//   WHATSAPP_APP_ID, WHATSAPP_APP_SECRET  the Meta app (Embedded Signup code exchange, webhook signatures)
//   WHATSAPP_VERIFY_TOKEN                 the webhook verify token set in the app dashboard
//   WHATSAPP_TOKEN_KEY                    base64 of 32 bytes: AES-256-GCM key of stored access tokens
//   WHATSAPP_GRAPH_URL                    default https://graph.facebook.com
//   WHATSAPP_GRAPH_VERSION                default v21.0

export const env = (name: string): string => {
  const v = Deno.env.get(name);
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

export const json = (body: unknown, status = 200): Response => Response.json(body, { status });

const encoder = new TextEncoder();
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

// ---- Graph API -------------------------------------------------------------------------------

export class GraphError extends Error {
  constructor(public status: number, public body: any) {
    super(body?.error?.message ?? `Graph API answered ${status}`);
  }
}

/**
 * A Graph API call: `path` below the version, bearer `token` if given; a JSON `body`, or a
 * multipart `form` (media uploads).
 */
export async function graph(path: string, init: { method?: string; token?: string; body?: unknown; form?: FormData; query?: Record<string, string> } = {}) {
  const base = (Deno.env.get('WHATSAPP_GRAPH_URL') ?? 'https://graph.facebook.com').replace(/\/$/, '');
  const version = Deno.env.get('WHATSAPP_GRAPH_VERSION') ?? 'v21.0';
  const url = new URL(`${base}/${version}/${path}`);
  for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    body: init.form ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new GraphError(res.status, body);
  return body;
}

// ---- access tokens at rest -------------------------------------------------------------------

async function tokenKey(): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', unb64(env('WHATSAPP_TOKEN_KEY')), 'AES-GCM', false, ['encrypt', 'decrypt']);
}

/** `v1:gcm:<base64 iv>:<base64 ciphertext>` — the form `accounts.access_token_ciphertext` holds. */
export async function sealToken(token: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await tokenKey(), encoder.encode(token)));
  return `v1:gcm:${b64(iv)}:${b64(ct)}`;
}

export async function openToken(sealed: string): Promise<string> {
  const [v, alg, iv, ct] = sealed.split(':');
  if (v !== 'v1' || alg !== 'gcm' || !iv || !ct) throw new Error('unknown token format');
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: unb64(iv) }, await tokenKey(), unb64(ct));
  return new TextDecoder().decode(plain);
}

// ---- basalt ----------------------------------------------------------------------------------

/** REST as the service role (or as `authorization` when given), in schema `schema`. */
export async function rest(path: string, init: { method?: string; body?: unknown; schema?: string; authorization?: string; prefer?: string } = {}) {
  const key = env('SUPABASE_SERVICE_ROLE_KEY');
  const apikey = init.authorization ? env('SUPABASE_ANON_KEY') : key;
  const headers: Record<string, string> = {
    apikey,
    authorization: init.authorization ?? `Bearer ${key}`,
    'content-type': 'application/json',
  };
  if (init.schema) {
    headers['accept-profile'] = init.schema;
    headers['content-profile'] = init.schema;
  }
  if (init.prefer) headers.prefer = init.prefer;
  const res = await fetch(`${env('SUPABASE_URL')}/rest/v1/${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`REST ${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return body;
}

/** The signed-in caller (from their JWT, checked by auth), or null. */
export async function caller(req: Request): Promise<{ id: string; email?: string } | null> {
  const authorization = req.headers.get('authorization');
  if (!authorization) return null;
  const res = await fetch(`${env('SUPABASE_URL')}/auth/v1/user`, {
    headers: { apikey: env('SUPABASE_ANON_KEY'), authorization },
  });
  if (!res.ok) return null;
  return await res.json();
}
