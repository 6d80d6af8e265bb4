// Comment triage (service role only: the cron job calls it through pg_net). New comments on
// monitored posts whose owner has AI on for comments are claimed (claim_comments_to_triage) and
// classified into the design's 'respond' / 'ignore' / 'escalate':
//   * a flagged keyword or phrase of the owner's AI settings escalates without a model call;
//   * otherwise the AI provider (OpenRouter chat completions, OPENROUTER_API_URL) is asked with
//     the owner's model, tone, language, instructions and ignore examples for a JSON verdict
//     {"triage", "confidence", "reason", "reply"}.
// record_comment_triage stores the ai_decisions row and the comment's triage; for 'respond'
// only, the reply is posted through the Graph API (Instagram `POST /{comment-id}/replies` with
// the account's token) and recorded by record_comment_reply. A provider or Graph failure leaves
// the comment untriaged (tried again 10 minutes later) or triaged without reply.
import { env, json, rest } from '../_shared/backend.ts';
import { graph, jwtRole } from '../_shared/graph.ts';

const TRIAGES = ['respond', 'ignore', 'escalate'];

type Comment = {
  id: string; user_id: string; platform_comment_id: string; text: string; author_name: string | null;
  caption: string | null; platform: string; access_token: string | null; ai_model: string; temperature: number;
  lang: string; tone: string; instructions: string | null; ignore_examples: string[];
  flagged_keywords: string[]; flagged_phrases: string[];
};

async function classify(c: Comment) {
  const system = [
    'You triage comments on a small business\'s social media post.',
    'Answer with a JSON object only: {"triage": "respond" | "ignore" | "escalate", "confidence": 0..1, "reason": string, "reply": string}.',
    '"respond": a question or remark the business should answer (write the reply); "ignore": praise, emoji, spam; "escalate": complaints, refunds, anything a person must handle.',
    `Tone: ${c.tone}. Reply in language: ${c.lang}.`,
    c.instructions ?? '',
    c.ignore_examples?.length ? `Ignore comments like: ${c.ignore_examples.join(' | ')}` : '',
  ].filter(Boolean).join('\n');
  const res = await fetch(`${env('OPENROUTER_API_URL', 'https://openrouter.ai')}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${env('OPENROUTER_API_KEY')}` },
    body: JSON.stringify({
      model: c.ai_model, temperature: Number(c.temperature), response_format: { type: 'json_object' },
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: `Post caption: ${c.caption ?? ''}\nComment by ${c.author_name ?? 'someone'}: ${c.text}` },
      ],
    }),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`the AI provider answered ${res.status}`);
  let verdict;
  try {
    verdict = JSON.parse(body?.choices?.[0]?.message?.content ?? '');
  } catch {
    throw new Error('the AI provider gave no JSON verdict');
  }
  if (!TRIAGES.includes(verdict?.triage)) throw new Error(`the AI provider gave no triage (${JSON.stringify(verdict)})`);
  const confidence = Math.min(1, Math.max(0, Number(verdict.confidence ?? 0.5)));
  return { triage: verdict.triage as string, confidence, reason: String(verdict.reason ?? ''), reply: String(verdict.reply ?? ''), usage: body.usage ?? null, completion_id: body.id ?? null };
}

async function triage(c: Comment) {
  const lower = c.text.toLowerCase();
  const flagged = [...(c.flagged_keywords ?? []), ...(c.flagged_phrases ?? [])].find((w) => w && lower.includes(w.toLowerCase()));
  if (flagged) {
    await rest('rpc/record_comment_triage', { method: 'POST', body: { p_comment_id: c.id, p_decision: 'escalate', p_confidence: 1, p_reason: 'flagged keyword', p_matched_rule: flagged, p_summary: { source: 'keyword' } } });
    return { id: c.id, triage: 'escalate', matched: flagged };
  }
  let verdict;
  try {
    verdict = await classify(c);
  } catch (e) {
    return { id: c.id, error: String((e as Error).message ?? e) };
  }
  const decision = await rest('rpc/record_comment_triage', {
    method: 'POST',
    body: { p_comment_id: c.id, p_decision: verdict.triage, p_confidence: verdict.confidence, p_reason: verdict.reason, p_matched_rule: null, p_summary: { source: 'model', model: c.ai_model, usage: verdict.usage, completion_id: verdict.completion_id } },
  });
  if (!decision) return { id: c.id, skipped: 'triaged meanwhile' };
  if (verdict.triage !== 'respond') return { id: c.id, triage: verdict.triage };
  if (!verdict.reply.trim()) return { id: c.id, triage: 'respond', error: 'no reply text' };
  if (c.platform !== 'instagram' || !c.access_token) return { id: c.id, triage: 'respond', error: 'no way to reply on this account' };
  try {
    const sent = await graph(`${encodeURIComponent(c.platform_comment_id)}/replies`, c.access_token, { method: 'POST', body: { message: verdict.reply } });
    await rest('rpc/record_comment_reply', { method: 'POST', body: { p_comment_id: c.id, p_reply: verdict.reply, p_platform_reply_id: sent?.id ?? null } });
    return { id: c.id, triage: 'respond', replied: sent?.id ?? true };
  } catch (e) {
    return { id: c.id, triage: 'respond', error: String((e as Error).message ?? e) };
  }
}

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  if (jwtRole(req) !== 'service_role') return json({ error: 'comment triage runs with the service role only' }, 403);
  const due: Comment[] = await rest('rpc/claim_comments_to_triage', { method: 'POST', body: { p_limit: 20 } });
  const results = [];
  for (const c of due) results.push(await triage(c));
  return json({ comments: results });
});
