// Retries inbound media downloads (service role only: the cron job of migration
// 20240831000008 calls it through pg_net): every message `whatsapp.media_due()` names — failed,
// or pending two minutes after it arrived, fewer than 5 tries, past its backoff — is fetched
// again from the Graph API into the whatsapp-media bucket (_shared/media.ts).
import { json, rest } from '../_shared/whatsapp.ts';
import { storeMedia } from '../_shared/media.ts';

function role(req: Request): string | null {
  const token = req.headers.get('authorization')?.replace(/^Bearer\s+/i, '');
  try {
    const part = token!.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))).role ?? null;
  } catch {
    return null;
  }
}

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  if (role(req) !== 'service_role') return json({ error: 'media retries run with the service role only' }, 403);
  const due = await rest('rpc/media_due', { method: 'POST', schema: 'whatsapp', body: { p_limit: 20 } });
  const results = [];
  for (const m of due) results.push(await storeMedia(m));
  return json({ media: results });
});
