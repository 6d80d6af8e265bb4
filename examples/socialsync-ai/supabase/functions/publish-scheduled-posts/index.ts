// Publishes due scheduled posts (service role only: the cron job calls it through pg_net).
// public.claim_due_posts marks them `publishing`; each is published through the Graph API and
// reported with public.finish_post (published with the platform's id, or retried up to 3 times
// with backoff, then failed).
//   instagram: content_json {text, media: [{type: 'image', url}]} → POST /{ig-user-id}/media
//              {image_url, caption} (a container), then POST /{ig-user-id}/media_publish {creation_id}
//   whatsapp:  content_json {to, text} → POST /{phone-number-id}/messages (a text message)
import { json, rest } from '../_shared/backend.ts';
import { graph, GraphError, jwtRole } from '../_shared/graph.ts';

async function publish(p: any): Promise<string> {
  const c = p.content_json ?? {};
  if (!p.access_token) throw new Error('the account has no access token');
  if (p.platform === 'instagram') {
    const image = (c.media ?? []).find((m: any) => m?.type === 'image' && typeof m.url === 'string');
    if (!image) throw new Error('an Instagram post needs an image (content_json.media)');
    const container = await graph(`${p.account_platform_id}/media`, p.access_token, { method: 'POST', body: { image_url: image.url, caption: c.text ?? '' } });
    const published = await graph(`${p.account_platform_id}/media_publish`, p.access_token, { method: 'POST', body: { creation_id: container.id } });
    return String(published.id);
  }
  if (p.platform === 'whatsapp') {
    if (typeof c.to !== 'string' || typeof c.text !== 'string') throw new Error('a WhatsApp post needs content_json.to and .text');
    const sent = await graph(`${p.account_platform_id}/messages`, p.access_token, {
      method: 'POST', body: { messaging_product: 'whatsapp', to: c.to.replace(/^\+/, ''), type: 'text', text: { body: c.text } },
    });
    return String(sent?.messages?.[0]?.id);
  }
  throw new Error(`cannot publish to ${p.platform}`);
}

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  if (jwtRole(req) !== 'service_role') return json({ error: 'publishing runs with the service role only' }, 403);
  const claimed = await rest('rpc/claim_due_posts', { method: 'POST', body: { p_limit: 20 } });
  const results = [];
  for (const p of claimed) {
    const started = new Date().toISOString();
    let id: string | null = null;
    let error: string | null = null;
    try {
      id = await publish(p);
    } catch (e) {
      error = e instanceof GraphError ? e.message : String((e as Error).message ?? e);
    }
    const status = await rest('rpc/finish_post', { method: 'POST', body: { p_id: p.id, p_platform_post_id: id, p_error: error, p_started_at: started } });
    results.push({ id: p.id, status, platform_post_id: id, error });
  }
  return json({ posts: results });
});
