// Sends a WhatsApp message to a traveller through the Cloud API (service role only: the
// backend's booking and group flows call it). POST
//   { user_id, text }                                    a free-form text, or
//   { user_id, template: { name, language?, body? } }     an approved template (language
//                                                        default en_US; `body` is what the
//                                                        traveller sees, kept in the history)
//   optional booking_id: the conversation's booking when a new one starts.
// The traveller needs a WhatsApp contact (404) that opted in (409); free-form text only inside
// the 24-hour customer service window, i.e. after an inbound message in the last day (422:
// use a template). The message is recorded as `sent` with Meta's id (its delivery status then
// arrives by webhook), or as `failed` with the Graph API's error (502).
import { HttpError, json, jwtRole, rest, serve } from '../_shared/stripe.ts';
import { GraphError, sendMessage } from '../_shared/whatsapp.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

serve('send-whatsapp', async (req) => {
  if (req.method !== 'POST') throw new HttpError(405, 'method not allowed');
  if (jwtRole(req) !== 'service_role') throw new HttpError(403, 'WhatsApp messages are sent by the backend (service role) only');
  const input = await req.json().catch(() => null);
  if (!input || typeof input.user_id !== 'string' || !UUID.test(input.user_id)) throw new HttpError(400, 'user_id (a uuid) is required');
  const text = typeof input.text === 'string' ? input.text.trim() : '';
  const template = input.template;
  if (!text === !template) throw new HttpError(400, 'give either text or template');
  if (text.length > 4096) throw new HttpError(400, 'text is longer than 4096 characters');
  if (template && (typeof template.name !== 'string' || !/^[a-z0-9_]{1,512}$/.test(template.name))) throw new HttpError(400, 'template.name is required (lowercase letters, digits, _)');
  if (input.booking_id !== undefined && (typeof input.booking_id !== 'string' || !UUID.test(input.booking_id))) throw new HttpError(400, 'booking_id must be a uuid');

  const ctx = await rest('rpc/whatsapp_send_context', { method: 'POST', body: { p_user_id: input.user_id, p_booking_id: input.booking_id ?? null } });
  if (!ctx) throw new HttpError(404, 'the traveller has no WhatsApp contact');
  if (!ctx.opted_in) throw new HttpError(409, 'the traveller has not opted in to WhatsApp messages');
  if (text && !ctx.window_open) throw new HttpError(422, 'outside the 24-hour customer service window: send a template');

  const message = text
    ? { to: ctx.wa_id, type: 'text', text: { preview_url: false, body: text } }
    : { to: ctx.wa_id, type: 'template', template: { name: template.name, language: { code: template.language ?? 'en_US' } } };
  const record = (waId: string | null, error: string | null) =>
    rest('rpc/record_whatsapp_outbound', {
      method: 'POST',
      body: { p_conversation_id: ctx.conversation_id, p_type: text ? 'text' : 'template', p_body: text || (template.body ?? null), p_template: text ? null : template.name, p_wa_message_id: waId, p_error: error },
    });
  let waId;
  try {
    waId = await sendMessage(message);
  } catch (e) {
    if (!(e instanceof GraphError)) throw e;
    const id = await record(null, e.message);
    return json({ error: 'the WhatsApp API refused the message', id, graph: e.body?.error ?? null }, 502);
  }
  const id = await record(waId, null);
  return json({ id, wa_message_id: waId, conversation_id: ctx.conversation_id, status: 'sent' });
});
