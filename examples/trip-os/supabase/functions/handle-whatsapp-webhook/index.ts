// handle-whatsapp-webhook: Meta's webhook for the WhatsApp Cloud API.
//   GET  the verification handshake: hub.mode=subscribe and hub.verify_token equal to
//        WHATSAPP_VERIFY_TOKEN answer hub.challenge; anything else 403.
//   POST X-Hub-Signature-256 = "sha256=" + HMAC-SHA256(app secret, raw body), else 401. Message
//        statuses move forward only (public.record_whatsapp_status) and inbound messages are
//        stored once (wa_message_id is unique), so a delivery repeated changes nothing.
import { env, HttpError, json, serve } from '../_shared/http.ts';
import { hmacSha256Hex, timingSafeEqual } from '../_shared/crypto.ts';
import { eq, serviceDb } from '../_shared/db.ts';

serve(['GET', 'POST'], async (req) => {
  if (req.method === 'GET') {
    const q = new URL(req.url).searchParams;
    const token = env('WHATSAPP_VERIFY_TOKEN');
    if (q.get('hub.mode') === 'subscribe' && timingSafeEqual(q.get('hub.verify_token') ?? '', token) && q.get('hub.challenge')) {
      return new Response(q.get('hub.challenge'), { headers: { 'content-type': 'text/plain' } });
    }
    throw new HttpError(403, 'verification_failed', 'hub.mode or hub.verify_token does not match');
  }
  const raw = await req.text();
  const signature = req.headers.get('x-hub-signature-256') ?? '';
  const expected = 'sha256=' + (await hmacSha256Hex(env('WHATSAPP_APP_SECRET'), raw));
  if (!timingSafeEqual(signature, expected)) throw new HttpError(401, 'invalid_signature', 'X-Hub-Signature-256 does not match the body');
  let payload: any;
  try {
    payload = JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not JSON');
  }
  if (payload?.object !== 'whatsapp_business_account' || !Array.isArray(payload.entry)) {
    throw new HttpError(400, 'invalid_event', 'expected a whatsapp_business_account notification');
  }
  const db = serviceDb();
  const counts = { statuses: 0, updated: 0, unchanged: 0, unknown: 0, inbound: 0, stored: 0 };
  for (const entry of payload.entry) {
    for (const change of entry?.changes ?? []) {
      if (change?.field !== 'messages') continue;
      const value = change.value ?? {};
      for (const s of value.statuses ?? []) {
        counts.statuses++;
        const outcome: 'updated' | 'unchanged' | 'unknown' = await db.rpc('record_whatsapp_status', {
          p_wa_message_id: String(s.id), p_status: String(s.status), p_detail: s,
        });
        counts[outcome]++;
      }
      for (const m of value.messages ?? []) {
        counts.inbound++;
        const contact = await db.one('whatsapp_contacts', { phone_e164: eq('+' + String(m.from ?? '').replace(/^\+/, '')) });
        if (!contact) continue;
        const rows = await db.insert('whatsapp_messages', {
          user_id: contact.user_id, contact_id: contact.id, direction: 'inbound', status: 'received',
          wa_message_id: String(m.id), body: m.text?.body ?? `[${m.type ?? 'message'}]`,
        }, { onConflict: 'wa_message_id', ignoreDuplicates: true });
        counts.stored += rows.length;
      }
    }
  }
  return json({ received: true, ...counts });
});
