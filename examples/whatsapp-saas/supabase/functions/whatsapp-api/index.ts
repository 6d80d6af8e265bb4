// The customer-facing WhatsApp actions, for signed-in users (verify_jwt on):
//
// POST /whatsapp-api/connect       the onboarding wizard's `whatsapp_connect` step (Embedded
//      { code, waba_id, phone_number_id, business_name, pin?, session_token? }
//      Signup): the code is exchanged for a business token (GET /oauth/access_token with the app
//      id and secret), the number read (GET /{phone_number_id}), the app subscribed to the WABA's
//      webhooks (POST /{waba_id}/subscribed_apps) and, with a PIN, the number registered for the
//      Cloud API (POST /{phone_number_id}/register). The account is stored active for the
//      caller with the token sealed (AES-256-GCM), and the caller's onboarding session — the
//      anonymous one whose token they pass, which they then own, else their latest one in
//      progress — gets whatsapp_connected_at (the progress trigger advances it).
// POST /whatsapp-api/test-message  the `test_message` step: Meta's `hello_world` template to
//      { account_id, to, session_token? }   `to`; the session gets test_message_sent_at.
// POST /whatsapp-api/send          a text, a template the account has approved, or media
//      { account_id, to, text } | { account_id, to, template: { name, language, components? } }
//      | { account_id, to, media: { type: image|audio|video|document, link | path, caption?, filename? } }
//      (media by link, or a file the owner put in whatsapp-media under <account_id>/outbound/,
//      uploaded to the number's media endpoint and sent by its media id: _shared/outbound-media.ts)
// POST /whatsapp-api/media         fetch an inbound message's media again (one whose download
//      { message_id }                 failed or is pending) into the whatsapp-media bucket
//
// Sent messages are recorded in whatsapp.messages (accepted, or failed with Meta's error);
// their delivery statuses arrive through whatsapp-webhook. A caller reaches only accounts
// they can read under row level security (their own).
import { caller, env, graph, GraphError, json, openToken, rest, sealToken } from '../_shared/whatsapp.ts';
import { storeMedia } from '../_shared/media.ts';
import { intendedMessage, mediaMessage, MediaRefusal, parseMedia } from '../_shared/outbound-media.ts';

type User = { id: string };

class Refusal extends Error {
  constructor(public status: number, message: string, public extra: Record<string, unknown> = {}) {
    super(message);
  }
}

const need = (v: unknown, name: string): string => {
  if (typeof v !== 'string' || !v.trim()) throw new Refusal(400, `${name} is required`);
  return v.trim();
};

const waId = (to: unknown): string => {
  const digits = need(to, 'to').replace(/[\s()+-]/g, '');
  if (!/^[0-9]{6,20}$/.test(digits)) throw new Refusal(400, 'to must be a phone number in international format');
  return digits;
};

/** The onboarding session a step applies to (claimed by the caller if it was anonymous). */
async function sessionFor(user: User, sessionToken?: string) {
  if (sessionToken) {
    const [s] = await rest(`sessions?select=id,user_id&session_token=eq.${encodeURIComponent(sessionToken)}`, { schema: 'onboarding' });
    if (!s || (s.user_id && s.user_id !== user.id)) throw new Refusal(404, 'no such onboarding session');
    if (!s.user_id) await rest(`sessions?id=eq.${s.id}`, { method: 'PATCH', schema: 'onboarding', body: { user_id: user.id } });
    return s.id as string;
  }
  const [s] = await rest(`sessions?select=id&user_id=eq.${user.id}&status=eq.in_progress&order=started_at.desc&limit=1`, { schema: 'onboarding' });
  return (s?.id as string) ?? null;
}

async function markSession(id: string | null, column: string) {
  if (!id) return null;
  const [s] = await rest(`sessions?id=eq.${id}&select=id,current_step,progress_percentage,status`, {
    method: 'PATCH', schema: 'onboarding', body: { [column]: new Date().toISOString() }, prefer: 'return=representation',
  });
  return s ?? null;
}

async function connect(user: User, input: any) {
  const wabaId = need(input.waba_id, 'waba_id');
  const phoneNumberId = need(input.phone_number_id, 'phone_number_id');
  const businessName = need(input.business_name, 'business_name');
  const code = need(input.code, 'code');
  const taken = await rest(`accounts?select=id,user_id&or=(waba_id.eq.${encodeURIComponent(wabaId)},phone_number_id.eq.${encodeURIComponent(phoneNumberId)})`, { schema: 'whatsapp' });
  if (taken.some((a: any) => a.user_id !== user.id)) throw new Refusal(409, 'this WhatsApp Business account is connected to another user');
  const sessionId = await sessionFor(user, input.session_token);

  const { access_token: token } = await graph('oauth/access_token', {
    query: { client_id: env('WHATSAPP_APP_ID'), client_secret: env('WHATSAPP_APP_SECRET'), code },
  });
  const phone = await graph(phoneNumberId, { token, query: { fields: 'display_phone_number,verified_name,quality_rating' } });
  await graph(`${wabaId}/subscribed_apps`, { method: 'POST', token });
  if (input.pin) await graph(`${phoneNumberId}/register`, { method: 'POST', token, body: { messaging_product: 'whatsapp', pin: String(input.pin) } });

  const row = {
    user_id: user.id, business_name: businessName, waba_id: wabaId, phone_number_id: phoneNumberId,
    display_phone_number: phone.display_phone_number ?? null, quality_rating: phone.quality_rating ?? null,
    access_token_ciphertext: await sealToken(token), status: 'active', connected_at: new Date().toISOString(),
  };
  const select = 'select=id,business_name,waba_id,phone_number_id,display_phone_number,status,quality_rating,connected_at';
  const [account] = taken.length
    ? await rest(`accounts?id=eq.${taken[0].id}&${select}`, { method: 'PATCH', schema: 'whatsapp', body: row, prefer: 'return=representation' })
    : await rest(`accounts?${select}`, { method: 'POST', schema: 'whatsapp', body: row, prefer: 'return=representation' });
  return { account, session: await markSession(sessionId, 'whatsapp_connected_at') };
}

type Prepared = { message: Record<string, any>; upload: Record<string, string> | null };
/** A message built once the account is reached (a media upload first); `intended` is recorded if that fails at Meta. */
type Deferred = { intended: Record<string, any>; prepare: (phoneNumberId: string, token: string) => Promise<Prepared> };

/**
 * Sends `what` (the Graph API's message object without `to`, or a Deferred one) from the
 * caller's account.
 */
async function send(req: Request, user: User, accountId: string, to: string, what: Record<string, any> | Deferred, templateId: string | null) {
  const [visible] = await rest(`accounts?select=id&id=eq.${encodeURIComponent(accountId)}`, { schema: 'whatsapp', authorization: req.headers.get('authorization')! });
  const [account] = visible
    ? await rest(`accounts?select=id,user_id,status,phone_number_id,access_token_ciphertext&id=eq.${visible.id}`, { schema: 'whatsapp' })
    : [];
  if (!account || account.user_id !== user.id) throw new Refusal(404, 'no such WhatsApp account');
  if (account.status !== 'active' || !account.access_token_ciphertext) throw new Refusal(409, `the account is ${account.status}, not connected`);

  const token = await openToken(account.access_token_ciphertext);
  const deferred = typeof what.prepare === 'function' ? what as Deferred : null;
  let message: Record<string, any> = deferred ? deferred.intended : what;
  let upload: Record<string, string> | null = null;
  const record = (wamid: string | null, wa: string, error: unknown) => rest('rpc/record_outbound_message', {
    method: 'POST', schema: 'whatsapp',
    body: {
      p_account_id: account.id, p_wamid: wamid, p_to: wa, p_type: message.type,
      p_body: message.text?.body ?? message.template?.name ?? message[message.type]?.caption ?? message[message.type]?.filename ?? null,
      p_content: message,
      p_template_id: templateId, p_sent_by: user.id, p_error: error,
    },
  });
  try {
    if (deferred) ({ message, upload } = await deferred.prepare(account.phone_number_id, token));
    const res = await graph(`${account.phone_number_id}/messages`, {
      method: 'POST', token, body: { messaging_product: 'whatsapp', recipient_type: 'individual', to, ...message },
    });
    const sent = await record(res.messages?.[0]?.id ?? null, res.contacts?.[0]?.wa_id ?? to, null);
    if (!upload) return sent;
    // The uploaded file is the message's media: kept where the owner put it.
    const [withMedia] = await rest(`messages?id=eq.${sent.id}`, {
      method: 'PATCH', schema: 'whatsapp', body: { ...upload, media_status: 'stored' }, prefer: 'return=representation',
    });
    return withMedia;
  } catch (e) {
    if (!(e instanceof GraphError)) throw e;
    const failed = await record(null, to, e.body?.error ?? { message: e.message });
    throw new Refusal(502, 'the WhatsApp Cloud API refused the message', { graph: e.body?.error ?? null, message: failed });
  }
}

async function sendRequested(req: Request, user: User, input: any) {
  const accountId = need(input.account_id, 'account_id');
  const to = waId(input.to);
  if (input.template) {
    const name = need(input.template.name, 'template.name');
    const language = input.template.language ?? 'en_US';
    const [tpl] = await rest(`templates?select=id&account_id=eq.${encodeURIComponent(accountId)}&name=eq.${encodeURIComponent(name)}&language=eq.${encodeURIComponent(language)}&status=eq.approved`, { schema: 'whatsapp', authorization: req.headers.get('authorization')! });
    if (!tpl) throw new Refusal(422, `no approved template ${name} (${language}) on this account`);
    const template = { name, language: { code: language }, ...(input.template.components ? { components: input.template.components } : {}) };
    return send(req, user, accountId, to, { type: 'template', template }, tpl.id);
  }
  if (input.media !== undefined) {
    const media = parseMedia(input.media, accountId);
    const authorization = req.headers.get('authorization')!;
    return send(req, user, accountId, to, {
      intended: intendedMessage(media),
      prepare: (phoneNumberId, token) => mediaMessage(media, phoneNumberId, token, authorization),
    }, null);
  }
  const text = need(input.text, 'text');
  if (text.length > 4096) throw new Refusal(400, 'text is longer than 4096 characters');
  return send(req, user, accountId, to, { type: 'text', text: { preview_url: false, body: text } }, null);
}

async function testMessage(req: Request, user: User, input: any) {
  const accountId = need(input.account_id, 'account_id');
  const sessionId = await sessionFor(user, input.session_token);
  // hello_world is the sample template Meta gives every WhatsApp Business account.
  const message = await send(req, user, accountId, waId(input.to), { type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } } }, null);
  return { message, session: await markSession(sessionId, 'test_message_sent_at') };
}

/** The caller's own inbound media message (read as them: RLS decides), fetched again. */
async function refetchMedia(req: Request, input: any) {
  const id = need(input.message_id, 'message_id');
  const [message] = await rest(`messages?select=id,account_id,media_id,media_sha256,media_status,media_attempts&id=eq.${encodeURIComponent(id)}`, { schema: 'whatsapp', authorization: req.headers.get('authorization')! });
  if (!message) throw new Refusal(404, 'no such message');
  if (!message.media_id) throw new Refusal(422, 'the message carries no media');
  if (message.media_status === 'stored') return { id: message.id, status: 'stored' };
  const outcome = await storeMedia(message);
  if (outcome.status !== 'stored') throw new Refusal(502, 'the media could not be fetched', { reason: outcome.error });
  return outcome;
}

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const action = new URL(req.url).pathname.split('/').filter(Boolean).pop();
  try {
    const user = await caller(req);
    if (!user) throw new Refusal(401, 'sign in first');
    const input = await req.json().catch(() => { throw new Refusal(400, 'body must be JSON'); });
    switch (action) {
      case 'connect': return json(await connect(user, input));
      case 'test-message': return json(await testMessage(req, user, input));
      case 'send': return json({ message: await sendRequested(req, user, input) });
      case 'media': return json({ media: await refetchMedia(req, input) });
      default: return json({ error: `unknown action ${action}` }, 404);
    }
  } catch (e) {
    if (e instanceof Refusal) return json({ error: e.message, ...e.extra }, e.status);
    if (e instanceof MediaRefusal) return json({ error: e.message }, e.status);
    if (e instanceof GraphError) return json({ error: 'the WhatsApp Cloud API refused the request', graph: e.body?.error ?? null }, 502);
    console.error(`whatsapp-api ${action}:`, e);
    return json({ error: 'internal error' }, 500);
  }
});
