// Downloads the media of inbound direct messages into `conversation-media` (service role only:
// the cron job calls it through pg_net, for deliveries whose download failed or was missed;
// meta-webhook downloads new media right after answering Meta). See _shared/media.ts.
import { json } from '../_shared/backend.ts';
import { jwtRole } from '../_shared/graph.ts';
import { fetchDueMedia } from '../_shared/media.ts';

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  if (jwtRole(req) !== 'service_role') return json({ error: 'media downloads run with the service role only' }, 403);
  return json({ media: await fetchDueMedia() });
});
