// Email and push delivery of notifications (service role only: the cron job calls it through
// pg_net every 30 seconds, public.request_notification_delivery). Claims what is new
// (public.claim_notification_deliveries: the channels each user's notification_settings allow,
// each notification once) and sends it:
//   email  a Resend-shaped API: POST {EMAIL_API_URL}/emails, Bearer EMAIL_API_KEY,
//          {from: EMAIL_FROM, to: [email], subject: title, text: body} → {id}
//   push   Expo's push API: POST {PUSH_API_URL}/push/send, one message per device token →
//          {data: [{status: 'ok', id} | {status: 'error', message}]} (Bearer PUSH_ACCESS_TOKEN if set)
// Each outcome is recorded with public.finish_notification_delivery (sent with the provider's
// id, or failed with its reason); the user reads their deliveries.
import { env, HttpError, json, jwtRole, rest, serve } from '../_shared/stripe.ts';

async function post(url: string, headers: Record<string, string>, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const answer = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${res.status}: ${answer?.message ?? answer?.error?.message ?? answer?.errors?.[0]?.message ?? 'refused'}`);
  return answer;
}

async function sendEmail(d: any): Promise<string> {
  if (!d.email) throw new Error('the user has no email address');
  const sent = await post(`${env('EMAIL_API_URL', 'https://api.resend.com').replace(/\/$/, '')}/emails`,
    { authorization: `Bearer ${env('EMAIL_API_KEY')}` },
    { from: env('EMAIL_FROM', 'TRVL Social <notifications@trvl.social>'), to: [d.email], subject: d.title, text: d.body ?? d.title });
  return String(sent?.id ?? '');
}

async function sendPush(d: any): Promise<string> {
  const access = Deno.env.get('PUSH_ACCESS_TOKEN');
  const answer = await post(`${env('PUSH_API_URL', 'https://exp.host/--/api/v2').replace(/\/$/, '')}/push/send`,
    access ? { authorization: `Bearer ${access}` } : {},
    d.push_tokens.map((to: string) => ({ to, title: d.title, body: d.body ?? '', data: { notification_id: d.notification_id, type: d.type, ...(d.data ?? {}) } })));
  const tickets = Array.isArray(answer?.data) ? answer.data : [];
  const okTickets = tickets.filter((t: any) => t?.status === 'ok');
  if (!okTickets.length) throw new Error(`no device accepted: ${tickets[0]?.message ?? 'no ticket'}`);
  return okTickets.map((t: any) => t.id).join(',');
}

serve('deliver-notifications', async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  if (jwtRole(req) !== 'service_role') throw new HttpError(403, 'notification delivery runs with the service role only');
  const claimed = await rest('rpc/claim_notification_deliveries', { method: 'POST', body: { p_limit: 100 } });
  const results = [];
  for (const d of claimed) {
    let providerId: string | null = null;
    let error: string | null = null;
    try {
      providerId = d.channel === 'email' ? await sendEmail(d) : await sendPush(d);
    } catch (e) {
      error = String((e as Error).message ?? e);
    }
    await rest('rpc/finish_notification_delivery', { method: 'POST', body: { p_delivery_id: d.delivery_id, p_provider_id: providerId, p_error: error } });
    results.push({ notification_id: d.notification_id, channel: d.channel, status: error ? 'failed' : 'sent', error });
  }
  return json({ deliveries: results });
});
