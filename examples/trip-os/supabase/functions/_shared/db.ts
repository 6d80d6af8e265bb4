// A small PostgREST client: as the calling user (their token, so row level security decides)
// or as the service role (the server acting, as the design says for runs, billing and messages).
import { HttpError } from './http.ts';

type Query = Record<string, string>;

export class Db {
  constructor(private token: string, private apikey: string) {}

  async request(method: string, path: string, opts: { query?: Query; body?: unknown; prefer?: string } = {}) {
    const url = new URL(`${Deno.env.get('SUPABASE_URL')}/rest/v1/${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = {
      apikey: this.apikey,
      authorization: `Bearer ${this.token}`,
      'content-type': 'application/json',
    };
    if (opts.prefer) headers.prefer = opts.prefer;
    const res = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw dbError(res.status, data);
    return data;
  }

  select(table: string, query: Query = {}): Promise<any[]> {
    return this.request('GET', table, { query });
  }

  async one(table: string, query: Query): Promise<any | null> {
    const rows = await this.select(table, { ...query, limit: '1' });
    return rows[0] ?? null;
  }

  insert(table: string, rows: unknown, opts: { onConflict?: string; ignoreDuplicates?: boolean; merge?: boolean } = {}): Promise<any[]> {
    const prefer = ['return=representation'];
    if (opts.ignoreDuplicates) prefer.push('resolution=ignore-duplicates');
    if (opts.merge) prefer.push('resolution=merge-duplicates');
    const query: Query = opts.onConflict ? { on_conflict: opts.onConflict } : {};
    return this.request('POST', table, { query, body: rows, prefer: prefer.join(',') });
  }

  update(table: string, query: Query, patch: unknown): Promise<any[]> {
    return this.request('PATCH', table, { query, body: patch, prefer: 'return=representation' });
  }

  delete(table: string, query: Query): Promise<any[]> {
    return this.request('DELETE', table, { query, prefer: 'return=representation' });
  }

  rpc(fn: string, args: unknown): Promise<any> {
    return this.request('POST', `rpc/${fn}`, { body: args });
  }
}

/** PostgREST's error as an HttpError the caller can act on. */
function dbError(status: number, e: any): HttpError {
  const code = e?.code ?? '';
  const message = e?.message ?? `database request failed (${status})`;
  if (code === '42501' || status === 403) return new HttpError(403, 'forbidden', 'not allowed: ' + message, { code });
  if (code === '23505') return new HttpError(409, 'conflict', message, { code });
  if (['23503', '23514', '22P02', '22023', '22007', '22008'].includes(code)) return new HttpError(400, 'invalid_input', message, { code });
  console.error('database error', status, JSON.stringify(e));
  return new HttpError(502, 'database_error', message, { code });
}

/** The caller's view of the database (row level security applies). */
export function userDb(token: string): Db {
  return new Db(token, Deno.env.get('SUPABASE_ANON_KEY') ?? '');
}

/** The service role (bypasses row level security): only for what the server itself writes. */
export function serviceDb(): Db {
  const key = Deno.env.get('SUPABASE_SERVICE_ROLE_KEY') ?? '';
  return new Db(key, key);
}

export const eq = (v: string | number | boolean) => `eq.${v}`;
