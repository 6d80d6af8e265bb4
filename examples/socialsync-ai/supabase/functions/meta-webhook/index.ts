// The Instagram and WhatsApp webhook (verify_jwt = false: Meta sends no JWT).
//
// GET  — Meta's verification handshake: `hub.challenge` echoed (200, text/plain) when
//        `hub.mode=subscribe` and `hub.verify_token` is META_VERIFY_TOKEN; else 403.
// POST — `X-Hub-Signature-256` must be `sha256=` + the hex HMAC-SHA256 of the raw body with
//        META_APP_SECRET (401 otherwise, before the body is parsed); then the delivery is applied
//        once by public.ingest_meta_webhook (migration 20251030000012): Instagram DMs and
//        comments, WhatsApp messages and statuses. A repeated delivery answers {"duplicate": true}.
//        New messages carrying media are then downloaded into `conversation-media` after the
//        answer (EdgeRuntime.waitUntil; _shared/media.ts; the fetch-dm-media cron job retries).
import { env, json, rest } from '../_shared/backend.ts';
import { fetchDueMedia } from '../_shared/media.ts';

declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

const encoder = new TextEncoder();

async function signed(body: Uint8Array<ArrayBuffer>, header: string | null): Promise<boolean> {
  const hex = header?.startsWith('sha256=') ? header.slice(7) : '';
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false;
  const sig = Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  const key = await crypto.subtle.importKey('raw', encoder.encode(env('META_APP_SECRET')), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return crypto.subtle.verify('HMAC', key, sig, body);
}

Deno.serve(async (req) => {
  const url = new URL(req.url);
  if (req.method === 'GET') {
    if (url.searchParams.get('hub.mode') === 'subscribe' && url.searchParams.get('hub.verify_token') === env('META_VERIFY_TOKEN')) {
      return new Response(url.searchParams.get('hub.challenge') ?? '', { headers: { 'content-type': 'text/plain' } });
    }
    return json({ error: 'verification failed' }, 403);
  }
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const body = new Uint8Array(await req.arrayBuffer());
  if (!(await signed(body, req.headers.get('x-hub-signature-256')))) return json({ error: 'invalid signature' }, 401);
  let payload;
  try {
    payload = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return json({ error: 'body is not JSON' }, 400);
  }
  const sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', body)), (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    const summary = await rest('rpc/ingest_meta_webhook', { method: 'POST', body: { p_body_sha256: sha, p_payload: payload } });
    if (summary?.messages) {
      const media = fetchDueMedia().catch((e) => console.error('media download failed:', (e as Error).message));
      if (typeof EdgeRuntime !== 'undefined') EdgeRuntime.waitUntil(media);
      else await media;
    }
    return json(summary);
  } catch (e) {
    console.error('ingest_meta_webhook failed:', (e as Error).message);
    return json({ error: 'could not record the delivery' }, 500);
  }
});
