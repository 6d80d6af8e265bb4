// Outbound WhatsApp messages through the Cloud API (WHATSAPP_API_BASE, default Meta's Graph
// API), recorded in whatsapp_messages and delivery_logs with the service role.
import { env, HttpError } from './http.ts';
import { eq, serviceDb } from './db.ts';
import { consumeOrRefuse } from './usage.ts';

/** The user's opted-in number, or 409 saying what is missing. */
export async function reachableContact(userId: string) {
  const db = serviceDb();
  const contact = await db.one('whatsapp_contacts', { user_id: eq(userId) });
  if (!contact) throw new HttpError(409, 'no_whatsapp_contact', 'register a WhatsApp number first');
  if (!contact.opted_in) throw new HttpError(409, 'not_opted_in', 'the WhatsApp number has not opted in to messages');
  const prefs = await db.one('notification_preferences', { user_id: eq(userId) });
  if (prefs && !prefs.whatsapp_enabled) throw new HttpError(409, 'whatsapp_disabled', 'WhatsApp notifications are turned off in the notification preferences');
  return contact;
}

async function callApi(to: string, text: string, template?: string): Promise<string> {
  const base = env('WHATSAPP_API_BASE', 'https://graph.facebook.com').replace(/\/$/, '');
  const version = env('WHATSAPP_API_VERSION', 'v21.0');
  const message = template
    ? { type: 'template', template: { name: template, language: { code: 'en' }, components: [{ type: 'body', parameters: [{ type: 'text', text }] }] } }
    : { type: 'text', text: { preview_url: false, body: text } };
  let res: Response;
  try {
    res = await fetch(`${base}/${version}/${env('WHATSAPP_PHONE_NUMBER_ID')}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env('WHATSAPP_ACCESS_TOKEN')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', to: to.replace(/^\+/, ''), ...message }),
    });
  } catch (e) {
    throw new HttpError(502, 'whatsapp_error', `the WhatsApp API is unreachable: ${e}`);
  }
  const body = await res.json().catch(() => null);
  const id = body?.messages?.[0]?.id;
  if (!res.ok || typeof id !== 'string') {
    throw new HttpError(502, 'whatsapp_error', `the WhatsApp API answered ${res.status}: ${body?.error?.message ?? 'no message id'}`, body?.error);
  }
  return id;
}

/** Send `text` to the user's number: usage taken, message and delivery log recorded. */
export async function deliver(opts: { userId: string; text: string; tripId?: string | null; jobId?: string; template?: string }) {
  const db = serviceDb();
  const contact = await reachableContact(opts.userId);
  await consumeOrRefuse(opts.userId, 'whatsapp_message');
  const [msg] = await db.insert('whatsapp_messages', {
    user_id: opts.userId, trip_id: opts.tripId ?? null, contact_id: contact.id, direction: 'outbound',
    template_name: opts.template ?? null, body: opts.text, status: 'queued',
  });
  const log = (status: string, detail: Record<string, unknown>) => db.insert('delivery_logs', {
    user_id: opts.userId, message_id: msg.id, job_id: opts.jobId ?? null, channel: 'whatsapp', status, detail,
  });
  try {
    const waId = await callApi(contact.phone_e164, opts.text, opts.template);
    const [sent] = await db.update('whatsapp_messages', { id: eq(msg.id) }, { wa_message_id: waId, status: 'sent' });
    await log('sent', { wa_message_id: waId });
    return sent;
  } catch (e) {
    await db.update('whatsapp_messages', { id: eq(msg.id) }, { status: 'failed', error: String((e as Error).message ?? e) });
    await log('failed', { error: String((e as Error).message ?? e) });
    throw e;
  }
}
