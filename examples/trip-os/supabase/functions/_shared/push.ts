// Expo push tickets and receipts. Every ticket Expo answers a send with is kept in
// push_tickets: an `ok` ticket is `pending` until its receipt is fetched, an `error` ticket is
// recorded as is. The receipts are fetched by a `push_receipts` scheduled job (run by the
// dispatch cron job through `check-push-receipts`) 15 minutes after the send, as Expo
// recommends, with Expo's `POST {PUSH_API_BASE}/push/getReceipts {ids}` →
// `{data: {<ticket id>: {status: 'ok'} | {status: 'error', message, details: {error}}}}`.
// `DeviceNotRegistered` (in a ticket or a receipt) removes the token from push_tokens; every
// other error is recorded on the ticket and in delivery_logs.
import { env, HttpError } from './http.ts';
import { eq, serviceDb } from './db.ts';

/** How long after a send its receipts are fetched (Expo: receipts are ready within ~15 minutes). */
export const RECEIPT_DELAY_MS = 15 * 60 * 1000;

export interface Ticket {
  status?: string;
  id?: string;
  message?: string;
  details?: { error?: string };
}

export function pushBase(): string {
  return env('PUSH_API_BASE', 'https://exp.host/--/api/v2').replace(/\/$/, '');
}

export function pushHeaders(): Record<string, string> {
  const access = Deno.env.get('PUSH_ACCESS_TOKEN');
  return { 'content-type': 'application/json', ...(access ? { authorization: `Bearer ${access}` } : {}) };
}

async function forget(userId: string, token: string) {
  await serviceDb().delete('push_tokens', { user_id: eq(userId), token: eq(token) });
}

function undelivered(userId: string, jobId: string | null, detail: Record<string, unknown>) {
  return serviceDb().insert('delivery_logs', { user_id: userId, job_id: jobId, channel: 'push', status: 'undelivered', detail });
}

/**
 * Keep the tickets of one send (`tickets[i]` answers `tokens[i]`), drop the tokens a ticket
 * says are not registered, and schedule the receipt check of the `ok` ones.
 */
export async function recordTickets(userId: string, jobId: string | null, tokens: string[], tickets: Ticket[]) {
  const db = serviceDb();
  const ok = tickets.filter((t) => t?.status === 'ok' && typeof t.id === 'string');
  let receiptJob: string | null = null;
  if (ok.length) {
    const [job] = await db.insert('scheduled_jobs', {
      user_id: userId, job_type: 'push_receipts', payload: { ticket_ids: ok.map((t) => t.id) },
      run_at: new Date(Date.now() + RECEIPT_DELAY_MS).toISOString(),
    });
    receiptJob = job.id;
  }
  const rows = tokens.map((token, i) => {
    const t = tickets[i] ?? {};
    const good = t.status === 'ok' && typeof t.id === 'string';
    const gone = t.details?.error === 'DeviceNotRegistered';
    return {
      user_id: userId, job_id: jobId, receipt_job_id: good ? receiptJob : null, token,
      ticket_id: good ? t.id : null, status: good ? 'pending' : 'error',
      error: good ? null : (t.details?.error ?? 'no_ticket'), message: good ? null : (t.message ?? null),
      token_removed: !good && gone, checked_at: good ? null : new Date().toISOString(),
    };
  });
  if (rows.length) await db.insert('push_tickets', rows);
  for (const r of rows) if (r.token_removed) await forget(userId, r.token);
}

/** Fetch the receipts of the `push_receipts` job `job`; throws 503 while some are not ready. */
export async function checkReceipts(job: { id: string }) {
  const db = serviceDb();
  const tickets = await db.select('push_tickets', { receipt_job_id: eq(job.id), status: eq('pending') });
  if (!tickets.length) return { checked: 0, ok: 0, errors: 0, removed: 0, pending: 0 };
  let res: Response;
  try {
    res = await fetch(`${pushBase()}/push/getReceipts`, {
      method: 'POST', headers: pushHeaders(), body: JSON.stringify({ ids: tickets.map((t: any) => t.ticket_id) }),
    });
  } catch (e) {
    throw new HttpError(502, 'push_error', `the push provider is unreachable: ${e}`);
  }
  const answer = await res.json().catch(() => null);
  if (!res.ok || typeof answer?.data !== 'object' || answer.data === null) {
    throw new HttpError(502, 'push_error', `the push provider answered ${res.status}: ${answer?.errors?.[0]?.message ?? 'no receipts'}`);
  }
  const counts = { checked: tickets.length, ok: 0, errors: 0, removed: 0, pending: 0 };
  const now = new Date().toISOString();
  for (const t of tickets) {
    const receipt = answer.data[t.ticket_id] as Ticket | undefined;
    if (!receipt) {
      counts.pending++;
      continue;
    }
    if (receipt.status === 'ok') {
      counts.ok++;
      await db.update('push_tickets', { id: eq(t.id) }, { status: 'ok', checked_at: now });
      continue;
    }
    counts.errors++;
    const code = receipt.details?.error ?? 'unknown_error';
    const gone = code === 'DeviceNotRegistered';
    await db.update('push_tickets', { id: eq(t.id) }, {
      status: 'error', error: code, message: receipt.message ?? null, token_removed: gone, checked_at: now,
    });
    if (gone) {
      await forget(t.user_id, t.token);
      counts.removed++;
    }
    await undelivered(t.user_id, t.job_id, { ticket_id: t.ticket_id, error: code, message: receipt.message ?? null, token_removed: gone });
  }
  if (counts.pending) {
    throw new HttpError(503, 'receipts_pending', `${counts.pending} of ${counts.checked} receipts are not ready yet`, counts);
  }
  return counts;
}
