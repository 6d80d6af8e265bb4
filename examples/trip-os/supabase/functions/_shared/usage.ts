// The current period's limits (public.consume_usage, one locked row per user and month).
import { HttpError } from './http.ts';
import { serviceDb } from './db.ts';

export type UsageKind = 'ai_run' | 'whatsapp_message' | 'tokens';

export interface Usage {
  allowed: boolean;
  kind: UsageKind;
  plan: string;
  used: number;
  limit: number;
  remaining: number;
  tokens_used: number;
  tokens_limit: number;
  period_start: string;
  period_end: string;
}

/** Check (commit = false) or take `amount` of `kind` from the user's current period. */
export function usage(userId: string, kind: UsageKind, amount = 1, commit = true): Promise<Usage> {
  return serviceDb().rpc('consume_usage', { p_user_id: userId, p_kind: kind, p_amount: amount, p_commit: commit });
}

/** Take one unit or refuse with 402 usage_limit_exceeded. */
export async function consumeOrRefuse(userId: string, kind: UsageKind): Promise<Usage> {
  const u = await usage(userId, kind);
  if (!u.allowed) {
    throw new HttpError(402, 'usage_limit_exceeded',
      `the ${u.plan} plan's ${kind === 'ai_run' ? 'AI runs (or tokens)' : 'WhatsApp messages'} for this month are used up; upgrade to continue`, u);
  }
  return u;
}

/** Give back one unit of `kind` taken from the period starting at `periodStart`. */
export function release(userId: string, kind: 'ai_run' | 'whatsapp_message', periodStart?: string): Promise<number> {
  return serviceDb().rpc('release_usage', { p_user_id: userId, p_kind: kind, p_amount: 1, p_period_start: periodStart ?? null });
}
