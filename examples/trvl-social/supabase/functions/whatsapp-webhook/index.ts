// The WhatsApp Cloud API webhook (verify_jwt = false: Meta sends no JWT).
//
// GET  — the verification handshake: `hub.challenge` echoed (200, text/plain) when
//        `hub.mode=subscribe` and `hub.verify_token` is WHATSAPP_VERIFY_TOKEN; else 403.
// POST — `X-Hub-Signature-256` checked against WHATSAPP_APP_SECRET. Every delivery is kept in
//        `whatsapp_webhooks` once per body (`signature_valid` says whether it was signed; an
//        unsigned one is answered 401 and never applied); a signed one is applied at once by
//        public.receive_whatsapp_webhook (contacts, conversations, inbound messages, statuses).
//        A delivery that fails to apply is still answered 200 (it is stored; the cron job
//        retries it), so Meta does not send it again; a repeat answers {"duplicate": true}.
import { env, json, rest } from '../_shared/stripe.ts';
import { metaSignatureValid } from '../_shared/whatsapp.ts';

Deno.serve(async (req) => {
  const url = new URL(req.url);
  if (req.method === 'GET') {
    if (url.searchParams.get('hub.mode') === 'subscribe' && url.searchParams.get('hub.verify_token') === env('WHATSAPP_VERIFY_TOKEN')) {
      return new Response(url.searchParams.get('hub.challenge') ?? '', { headers: { 'content-type': 'text/plain' } });
    }
    return json({ error: 'verification failed' }, 403);
  }
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const body = new Uint8Array(await req.arrayBuffer());
  const valid = await metaSignatureValid(body, req.headers.get('x-hub-signature-256'));
  let payload;
  try {
    payload = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return json({ error: valid ? 'body is not JSON' : 'invalid signature' }, valid ? 400 : 401);
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return json({ error: valid ? 'body is not a JSON object' : 'invalid signature' }, valid ? 400 : 401);
  }
  const sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', body)), (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    const out = await rest('rpc/receive_whatsapp_webhook', { method: 'POST', body: { p_payload: payload, p_payload_sha256: sha, p_signature_valid: valid } });
    if (!valid) return json({ error: 'invalid signature' }, 401);
    return json(out);
  } catch (e) {
    console.error('receive_whatsapp_webhook failed:', (e as Error).message);
    return json({ error: 'could not record the delivery' }, 500);
  }
});
