// Email and push notifications through configurable providers, recorded in delivery_logs with
// the service role (channel `email` / `push`).
//   email: a Resend-shaped API: POST {EMAIL_API_BASE}/emails, Bearer EMAIL_API_KEY,
//          {from: EMAIL_FROM, to: [address], subject, text} → {id}
//   push:  Expo's push API: POST {PUSH_API_BASE}/push/send, [{to, title, body, data}] →
//          {data: [{status: 'ok', id} | {status: 'error', message}]}; Bearer PUSH_ACCESS_TOKEN
//          when set (Expo's enhanced security); tickets and receipts in _shared/push.ts
// The user's notification preferences decide (email_enabled, push_enabled: 409 when off).
import { env, HttpError } from './http.ts';
import { eq, serviceDb } from './db.ts';
import { pushBase, pushHeaders, recordTickets, type Ticket } from './push.ts';

async function preferences(userId: string) {
  return await serviceDb().one('notification_preferences', { user_id: eq(userId) });
}

function log(userId: string, jobId: string | undefined, channel: 'email' | 'push', status: string, detail: Record<string, unknown>) {
  return serviceDb().insert('delivery_logs', { user_id: userId, job_id: jobId ?? null, channel, status, detail });
}

async function post(url: string, headers: Record<string, string>, body: unknown, what: string) {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  } catch (e) {
    throw new HttpError(502, `${what}_error`, `the ${what} provider is unreachable: ${e}`);
  }
  const answer = await res.json().catch(() => null);
  if (!res.ok) {
    throw new HttpError(502, `${what}_error`, `the ${what} provider answered ${res.status}: ${answer?.message ?? answer?.error?.message ?? answer?.errors?.[0]?.message ?? 'no reason'}`);
  }
  return answer;
}

/** Email the user (the address of their account). */
export async function sendEmail(opts: { userId: string; subject: string; text: string; jobId?: string }) {
  const prefs = await preferences(opts.userId);
  if (prefs && !prefs.email_enabled) throw new HttpError(409, 'email_disabled', 'email notifications are turned off in the notification preferences');
  const profile = await serviceDb().one('profiles', { id: eq(opts.userId), select: 'email' });
  if (!profile?.email) throw new HttpError(409, 'no_email', 'the user has no email address');
  const base = env('EMAIL_API_BASE', 'https://api.resend.com').replace(/\/$/, '');
  try {
    const sent = await post(`${base}/emails`, { authorization: `Bearer ${env('EMAIL_API_KEY')}` },
      { from: env('EMAIL_FROM', 'trip-os <notifications@trip-os.app>'), to: [profile.email], subject: opts.subject, text: opts.text }, 'email');
    await log(opts.userId, opts.jobId, 'email', 'sent', { provider_id: sent?.id ?? null, to: profile.email, subject: opts.subject });
    return { channel: 'email', provider_id: sent?.id ?? null, to: profile.email };
  } catch (e) {
    await log(opts.userId, opts.jobId, 'email', 'failed', { error: String((e as Error).message ?? e) });
    throw e;
  }
}

/**
 * Push to every device the user registered (push_tokens). Expo's tickets are kept in
 * push_tickets and their receipts fetched later (_shared/push.ts); a device a ticket reports
 * as not registered is removed at once.
 */
export async function sendPush(opts: { userId: string; title: string; body: string; data?: Record<string, unknown>; jobId?: string }) {
  const prefs = await preferences(opts.userId);
  if (prefs && !prefs.push_enabled) throw new HttpError(409, 'push_disabled', 'push notifications are turned off in the notification preferences');
  const tokens = (await serviceDb().select('push_tokens', { user_id: eq(opts.userId), select: 'token' })).map((t: any) => String(t.token));
  if (!tokens.length) throw new HttpError(409, 'no_push_token', 'the user has registered no device for push notifications');
  const { authorization } = pushHeaders();
  let tickets: Ticket[];
  try {
    const answer = await post(`${pushBase()}/push/send`, authorization ? { authorization } : {},
      tokens.map((to) => ({ to, title: opts.title, body: opts.body, data: opts.data ?? {}, sound: 'default' })), 'push');
    tickets = Array.isArray(answer?.data) ? answer.data : [];
  } catch (e) {
    await log(opts.userId, opts.jobId, 'push', 'failed', { error: String((e as Error).message ?? e) });
    throw e;
  }
  await recordTickets(opts.userId, opts.jobId ?? null, tokens, tickets);
  const okCount = tickets.filter((t) => t?.status === 'ok').length;
  const status = okCount === tokens.length ? 'sent' : okCount ? 'partial' : 'failed';
  await log(opts.userId, opts.jobId, 'push', status, { tickets, devices: tokens.length });
  if (!okCount) throw new HttpError(502, 'push_error', `the push provider refused every device: ${tickets[0]?.message ?? 'no ticket'}`);
  return { channel: 'push', devices: tokens.length, delivered: okCount, tickets: tickets.map((t) => t?.id ?? null) };
}
