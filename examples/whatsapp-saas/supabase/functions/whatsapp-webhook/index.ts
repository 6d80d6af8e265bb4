// The WhatsApp Cloud API webhook (verify_jwt = false: Meta sends no JWT).
//
// GET  — the verification handshake Meta performs when the callback URL is saved:
//        `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`; the challenge is echoed
//        (200, text/plain) when the token is the app's WHATSAPP_VERIFY_TOKEN or the
//        `webhook_verify_token` of a connected account; otherwise 403.
// POST — a delivery: `X-Hub-Signature-256` must be `sha256=` + the hex HMAC-SHA256 of the raw
//        body with WHATSAPP_APP_SECRET (401 otherwise, before the body is parsed). The payload
//        is handed to `whatsapp.ingest_webhook` (migration 20240831000005), which records it
//        once and writes inbound messages, delivery statuses, template review results and
//        phone number quality, account-level events (bans, restrictions, reviews) and template
//        quality in one transaction. Any answer but 200 makes Meta retry. Inbound media is then
//        fetched from the Graph API and stored in the `whatsapp-media` bucket after the answer
//        (EdgeRuntime.waitUntil; see _shared/media.ts).
import { env, json, rest } from '../_shared/whatsapp.ts';
import { storePendingMedia } from '../_shared/media.ts';

declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

/** The ids of the messages a delivery carries. */
function messageIds(payload: any): string[] {
  const ids: string[] = [];
  for (const e of payload?.entry ?? []) for (const c of e?.changes ?? []) {
    if (c?.field !== 'messages') continue;
    for (const m of c?.value?.messages ?? []) if (typeof m?.id === 'string') ids.push(m.id);
  }
  return ids;
}

const encoder = new TextEncoder();

function hexToBytes(hex: string): Uint8Array | null {
  if (hex.length !== 64 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
  return Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

async function signed(body: Uint8Array, header: string | null): Promise<boolean> {
  if (!header?.startsWith('sha256=')) return false;
  const sig = hexToBytes(header.slice('sha256='.length));
  if (!sig) return false;
  const key = await crypto.subtle.importKey('raw', encoder.encode(env('WHATSAPP_APP_SECRET')), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return crypto.subtle.verify('HMAC', key, sig, body);
}

async function verifyTokenKnown(token: string): Promise<boolean> {
  if (token === env('WHATSAPP_VERIFY_TOKEN')) return true;
  const rows = await rest(`accounts?select=id&webhook_verify_token=eq.${encodeURIComponent(token)}&limit=1`, { schema: 'whatsapp' });
  return rows.length > 0;
}

Deno.serve(async (req) => {
  const url = new URL(req.url);
  if (req.method === 'GET') {
    const mode = url.searchParams.get('hub.mode');
    const token = url.searchParams.get('hub.verify_token') ?? '';
    const challenge = url.searchParams.get('hub.challenge') ?? '';
    if (mode === 'subscribe' && token && (await verifyTokenKnown(token))) {
      return new Response(challenge, { headers: { 'content-type': 'text/plain' } });
    }
    return json({ error: 'verification failed' }, 403);
  }
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);

  const body = new Uint8Array(await req.arrayBuffer());
  if (!(await signed(body, req.headers.get('x-hub-signature-256')))) {
    return json({ error: 'invalid signature' }, 401);
  }
  let payload;
  try {
    payload = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return json({ error: 'body is not JSON' }, 400);
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
  const sha = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    const summary = await rest('rpc/ingest_webhook', { method: 'POST', schema: 'whatsapp', body: { p_body_sha256: sha, p_payload: payload } });
    const ids = summary?.messages ? messageIds(payload) : [];
    if (ids.length) {
      const media = storePendingMedia(ids).catch((e) => console.error('media download failed:', (e as Error).message));
      if (typeof EdgeRuntime !== 'undefined') EdgeRuntime.waitUntil(media);
      else await media;
    }
    return json(summary);
  } catch (e) {
    console.error('ingest_webhook failed:', (e as Error).message);
    return json({ error: 'could not record the delivery' }, 500);
  }
});
