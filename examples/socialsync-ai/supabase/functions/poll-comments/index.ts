// Polls the comments of due monitored posts (service role only: the cron job calls it through
// pg_net). public.claim_due_monitored_posts takes them; each post's comments are read from the
// Graph API (GET /{ig-media-id}/comments, following paging) and stored once by
// public.record_comments, which also plans the next check (5 minutes after news, else twice the
// last interval, at most 6 hours, until monitoring ends).
import { json, rest } from '../_shared/backend.ts';
import { graph, GraphError, jwtRole } from '../_shared/graph.ts';

const FIELDS = 'id,text,username,timestamp,like_count,from,parent_id';

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  if (jwtRole(req) !== 'service_role') return json({ error: 'polling runs with the service role only' }, 403);
  const due = await rest('rpc/claim_due_monitored_posts', { method: 'POST', body: { p_limit: 20 } });
  const results = [];
  for (const m of due) {
    try {
      const comments: unknown[] = [];
      let page = await graph(`${m.platform_post_id}/comments`, m.access_token ?? '', { query: { fields: FIELDS, limit: '50' } });
      for (let pages = 0; pages < 10; pages++) {
        comments.push(...(page?.data ?? []));
        const after = page?.paging?.cursors?.after;
        if (!page?.paging?.next || !after) break;
        page = await graph(`${m.platform_post_id}/comments`, m.access_token ?? '', { query: { fields: FIELDS, limit: '50', after } });
      }
      const fresh = await rest('rpc/record_comments', { method: 'POST', body: { p_monitored_post_id: m.id, p_comments: comments } });
      results.push({ id: m.id, comments: comments.length, new: fresh });
    } catch (e) {
      // Left claimed: checked again once the claim (2 minutes) runs out.
      results.push({ id: m.id, error: e instanceof GraphError ? e.message : String((e as Error).message ?? e) });
    }
  }
  return json({ monitored_posts: results });
});
