// enforce-usage-limits: may this user run an AI agent or send a WhatsApp message now? Users
// check their own limits (200 with the figures, 402 usage_limit_exceeded past the limit); the
// server (service key) may check any user and consume units.
import { bool, HttpError, int, json, oneOf, readJson, serve } from '../_shared/http.ts';
import { actingFor, caller, isService } from '../_shared/auth.ts';
import { usage } from '../_shared/usage.ts';

serve(['POST'], async (req) => {
  const who = caller(req);
  const body = await readJson(req);
  const kind = oneOf(body, 'kind', ['ai_run', 'whatsapp_message'] as const);
  const amount = int(body, 'amount', { min: 1, max: 1000, fallback: 1 });
  const consume = bool(body, 'consume', false);
  const userId = actingFor(who, body);
  if (consume && !isService(who)) throw new HttpError(403, 'forbidden', 'only the server consumes usage');
  const u = await usage(userId, kind, amount, consume);
  if (!u.allowed) return json({ error: 'usage_limit_exceeded', message: `the ${u.plan} plan's limit is reached`, usage: u }, 402);
  return json({ allowed: true, usage: u });
});
