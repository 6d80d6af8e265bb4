// The Meta Graph API for the workers: GRAPH_API_URL (default https://graph.facebook.com) and
// GRAPH_API_VERSION (default v21.0); the account's access token as a bearer token.
import { env } from './backend.ts';

export class GraphError extends Error {
  constructor(public status: number, public body: any) {
    super(`Graph API ${status}: ${body?.error?.message ?? 'no message'}`);
  }
}

export async function graph(path: string, token: string, init: { method?: string; body?: unknown; query?: Record<string, string> } = {}) {
  const url = new URL(`${env('GRAPH_API_URL', 'https://graph.facebook.com').replace(/\/$/, '')}/${env('GRAPH_API_VERSION', 'v21.0')}/${path}`);
  for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new GraphError(res.status, body);
  return body;
}

/** The JWT's role claim (its signature was checked by the functions gateway). */
export function jwtRole(req: Request): string | null {
  const token = req.headers.get('authorization')?.replace(/^Bearer\s+/i, '');
  try {
    const part = token!.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))).role ?? null;
  } catch {
    return null;
  }
}
