// The AI reply to the latest inbound message of a conversation (signed in; the conversation's
// owner). POST { conversation_id }:
//   1. the conversation, its latest inbound message and the caller's AI settings, read with the
//      caller's own token (row level security: someone else's conversation is a 404);
//   2. AI off for the conversation or for chats: 409; a flagged keyword or phrase: escalated to a
//      human (ai_decisions + support_escalations), no model call, no credits;
//   3. the model's credit cost (ai_models) must be covered: 402 before any provider is called;
//   4. retrieval: the message embedded by Gemini (embedContent, RETRIEVAL_QUERY, 768 dimensions)
//      and matched with match_knowledge_chunks as the caller, so only their own chunks;
//   5. the reply from OpenRouter (chat completions with the user's model, temperature, top_p,
//      tone, language, instructions and the retrieved context);
//   6. record_ai_reply: credits deducted, the decision and the outbound message, in one transaction.
// Provider errors answer 502 and cost nothing.
// Secrets: GEMINI_API_KEY, OPENROUTER_API_KEY; GEMINI_API_URL, OPENROUTER_API_URL (defaults:
// https://generativelanguage.googleapis.com, https://openrouter.ai).
import { caller, env, HttpError, json, rest, RestError } from '../_shared/backend.ts';

class ProviderError extends Error {
  constructor(public provider: string, public status: number, public body: unknown) {
    super(`${provider} answered ${status}`);
  }
}

async function post(provider: string, url: string, headers: Record<string, string>, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const answer = await res.json().catch(() => null);
  if (!res.ok) throw new ProviderError(provider, res.status, answer);
  return answer;
}

async function embed(text: string): Promise<number[]> {
  const base = env('GEMINI_API_URL', 'https://generativelanguage.googleapis.com');
  const r = await post('gemini', `${base}/v1beta/models/gemini-embedding-001:embedContent`, { 'x-goog-api-key': env('GEMINI_API_KEY') }, {
    model: 'models/gemini-embedding-001', content: { parts: [{ text }] }, taskType: 'RETRIEVAL_QUERY', outputDimensionality: 768,
  });
  const values = r?.embedding?.values;
  if (!Array.isArray(values) || values.length !== 768) throw new ProviderError('gemini', 200, { error: 'embedding is not 768-dimensional' });
  return values;
}

async function reply(req: Request): Promise<Response> {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const user = await caller(req);
  if (!user) throw new HttpError(401, 'sign in first');
  const asCaller = { authorization: req.headers.get('authorization') };
  const { conversation_id: conversationId } = await req.json().catch(() => ({}));
  if (typeof conversationId !== 'string') throw new HttpError(400, 'conversation_id is required');

  const [conversation] = await rest(`conversations?select=id,ai_mode,automation_disabled&id=eq.${encodeURIComponent(conversationId)}`, asCaller);
  if (!conversation) throw new HttpError(404, 'no such conversation');
  const [settings] = await rest('ai_settings?select=ai_model,temperature,top_p,lang,tone,system_prompt,instructions,ai_control_enabled,ai_enabled_for_chats,flagged_keywords,flagged_phrases', asCaller);
  if (conversation.ai_mode !== 'ON' || conversation.automation_disabled || !settings?.ai_control_enabled || !settings.ai_enabled_for_chats) {
    throw new HttpError(409, 'AI replies are off for this conversation');
  }
  const [message] = await rest(`conversation_messages?select=id,content&conversation_id=eq.${conversation.id}&direction=eq.inbound&order=created_at.desc&limit=1`, asCaller);
  if (!message?.content) throw new HttpError(409, 'no inbound message to answer');

  const lower = message.content.toLowerCase();
  const flagged = [...(settings.flagged_keywords ?? []), ...(settings.flagged_phrases ?? [])].find((w: string) => w && lower.includes(w.toLowerCase()));
  if (flagged) {
    const out = await rest('rpc/record_ai_escalation', { method: 'POST', body: { p_user_id: user.id, p_conversation_id: conversation.id, p_message_id: message.id, p_matched: flagged, p_reason: 'human_requested' } });
    return json({ decision: 'escalate', matched: flagged, ...out });
  }

  const [model] = await rest(`ai_models?select=openrouter_id,credit_cost&openrouter_id=eq.${encodeURIComponent(settings.ai_model)}&is_active=eq.true`);
  if (!model) throw new HttpError(409, `model ${settings.ai_model} is not available`);
  const cost = Math.ceil(Number(model.credit_cost));
  const [credits] = await rest('user_credits?select=credits_balance', asCaller);
  if ((credits?.credits_balance ?? 0) < cost) throw new HttpError(402, 'Insufficient credits', { needed: cost, balance: credits?.credits_balance ?? 0 });

  const hits = await rest('rpc/match_knowledge_chunks', {
    method: 'POST', ...asCaller,
    body: { query_embedding: `[${(await embed(message.content)).join(',')}]`, query_text: message.content, match_count: 4, min_similarity: 0.3 },
  });
  const context = hits.map((h: any, i: number) => `[${i + 1}] ${h.title}: ${h.content}`).join('\n');
  const system = [
    settings.system_prompt ?? 'You answer direct messages for a small business.',
    `Tone: ${settings.tone}. Reply in language: ${settings.lang}.`,
    settings.instructions ?? '',
    context ? `Answer from this knowledge base only:\n${context}` : 'There is no knowledge base entry for this; say a person will follow up.',
  ].filter(Boolean).join('\n');
  const completion = await post('openrouter', `${env('OPENROUTER_API_URL', 'https://openrouter.ai')}/api/v1/chat/completions`, { authorization: `Bearer ${env('OPENROUTER_API_KEY')}` }, {
    model: model.openrouter_id, temperature: Number(settings.temperature), top_p: Number(settings.top_p),
    messages: [{ role: 'system', content: system }, { role: 'user', content: message.content }],
  });
  const text = completion?.choices?.[0]?.message?.content;
  if (typeof text !== 'string' || !text.trim()) throw new ProviderError('openrouter', 200, completion);

  const sources = hits.map((h: any) => ({ chunk_id: h.chunk_id, document_id: h.document_id, title: h.title, similarity: h.similarity }));
  const recorded = await rest('rpc/record_ai_reply', {
    method: 'POST',
    body: {
      p_user_id: user.id, p_conversation_id: conversation.id, p_message_id: message.id, p_model: model.openrouter_id,
      p_credits: cost, p_reply: text, p_confidence: hits[0]?.similarity ?? 0,
      p_snapshot: { model: model.openrouter_id, sources, usage: completion.usage ?? null, completion_id: completion.id ?? null },
    },
  });
  return json({ decision: 'respond', reply: text, sources, ...recorded });
}

Deno.serve(async (req) => {
  try {
    return await reply(req);
  } catch (e) {
    if (e instanceof HttpError) return json({ error: e.message, ...e.extra }, e.status);
    if (e instanceof ProviderError) return json({ error: `the ${e.provider} API failed`, status: e.status, provider_error: e.body }, 502);
    if (e instanceof RestError && e.status === 402) return json({ error: 'Insufficient credits' }, 402);
    console.error('ai-reply:', e);
    return json({ error: 'internal error' }, 500);
  }
});
