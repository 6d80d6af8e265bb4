// The WhatsApp Cloud API for the functions: the Graph API base (GRAPH_API_URL, default
// https://graph.facebook.com; GRAPH_API_VERSION, default v21.0), the business number
// (WHATSAPP_PHONE_NUMBER_ID) and its token (WHATSAPP_ACCESS_TOKEN); Meta's webhook signature.
import { env } from './stripe.ts';

export class GraphError extends Error {
  constructor(public status: number, public body: any) {
    super(body?.error?.message ?? `the Graph API answered ${status}`);
  }
}

/** POST /{phone-number-id}/messages; the message id Meta assigned. */
export async function sendMessage(message: Record<string, unknown>): Promise<string> {
  const base = env('GRAPH_API_URL', 'https://graph.facebook.com').replace(/\/$/, '');
  const res = await fetch(`${base}/${env('GRAPH_API_VERSION', 'v21.0')}/${env('WHATSAPP_PHONE_NUMBER_ID')}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env('WHATSAPP_ACCESS_TOKEN')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', ...message }),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new GraphError(res.status, body);
  const id = body?.messages?.[0]?.id;
  if (typeof id !== 'string') throw new GraphError(res.status, { error: { message: 'no message id in the answer' } });
  return id;
}

/** `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`. */
export async function metaSignatureValid(body: Uint8Array<ArrayBuffer>, header: string | null): Promise<boolean> {
  const hex = header?.startsWith('sha256=') ? header.slice(7) : '';
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false;
  const sig = Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(env('WHATSAPP_APP_SECRET')), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return crypto.subtle.verify('HMAC', key, sig, body);
}
