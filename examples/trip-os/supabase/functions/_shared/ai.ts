// AI agent runs: the plan's limit is taken first (reserved before the call, so concurrent
// calls cannot exceed it), then the run, its messages and token usage are recorded with the
// service role (clients only read them). A run the provider fails (unreachable, an error
// status, no answer) is recorded as failed and its reserved run given back. The provider
// speaks OpenAI's chat completions API at AI_API_BASE.
import { env, HttpError } from './http.ts';
import { eq, serviceDb } from './db.ts';
import { consumeOrRefuse, release, usage } from './usage.ts';

// USD per million tokens (prompt, completion).
const PRICES: Record<string, [number, number]> = {
  'gpt-4o-mini': [0.15, 0.6],
  'gpt-4o': [2.5, 10],
};

export interface AgentRun<T> {
  run_id: string;
  output: T;
  content: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cost_usd: number };
  limits: { ai_runs_remaining: number; tokens_used: number; tokens_limit: number };
}

async function chat(model: string, temperature: number, messages: { role: string; content: string }[]) {
  const base = env('AI_API_BASE', 'https://api.openai.com/v1').replace(/\/$/, '');
  let res: Response;
  try {
    res = await fetch(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env('AI_API_KEY')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, temperature, messages }),
    });
  } catch (e) {
    throw new HttpError(502, 'ai_provider_error', `the AI provider is unreachable: ${e}`);
  }
  const body = await res.json().catch(() => null);
  if (!res.ok || typeof body?.choices?.[0]?.message?.content !== 'string') {
    throw new HttpError(502, 'ai_provider_error', `the AI provider answered ${res.status}`, body?.error);
  }
  return {
    content: body.choices[0].message.content as string,
    prompt_tokens: Number(body.usage?.prompt_tokens ?? 0),
    completion_tokens: Number(body.usage?.completion_tokens ?? 0),
  };
}

/**
 * Run agent `slug` for `userId` on `prompt`. `parse` turns the answer into the function's
 * output; if it throws, the run is recorded as failed (502 ai_invalid_output).
 */
export async function runAgent<T>(opts: {
  userId: string;
  slug: string;
  prompt: string;
  tripId?: string;
  input: Record<string, unknown>;
  parse: (content: string) => T;
}): Promise<AgentRun<T>> {
  const db = serviceDb();
  const agent = await db.one('ai_agents', { slug: eq(opts.slug), is_active: eq(true) });
  if (!agent) throw new HttpError(404, 'agent_not_found', `no active agent ${opts.slug}`);
  const reserved = await consumeOrRefuse(opts.userId, 'ai_run');
  const [run] = await db.insert('ai_runs', {
    user_id: opts.userId, agent_id: agent.id, trip_id: opts.tripId ?? null, status: 'running',
    input: opts.input, started_at: new Date().toISOString(),
  });
  const fail = async (e: unknown) => {
    await db.update('ai_runs', { id: eq(run.id) }, {
      status: 'failed', error: e instanceof Error ? e.message : String(e), finished_at: new Date().toISOString(),
    });
  };
  let reply;
  try {
    reply = await chat(agent.model, Number(agent.temperature), [
      { role: 'system', content: agent.system_prompt },
      { role: 'user', content: opts.prompt },
    ]);
  } catch (e) {
    await fail(e);
    // The provider did not answer: the run does not count against the plan.
    await release(opts.userId, 'ai_run', reserved.period_start);
    throw e;
  }
  const [p, c] = PRICES[agent.model] ?? [0, 0];
  const cost = Number(((reply.prompt_tokens * p + reply.completion_tokens * c) / 1e6).toFixed(6));
  const message = (role: string, content: string, sequence: number) => ({
    run_id: run.id, user_id: opts.userId, trip_id: opts.tripId ?? null, role, content, sequence,
  });
  await db.insert('ai_messages', [message('user', opts.prompt, 0), message('assistant', reply.content, 1)]);
  await db.insert('token_usage', {
    user_id: opts.userId, run_id: run.id, model: agent.model,
    prompt_tokens: reply.prompt_tokens, completion_tokens: reply.completion_tokens, cost_usd: cost,
  });
  const total = reply.prompt_tokens + reply.completion_tokens;
  const after = await usage(opts.userId, 'tokens', total);
  let output: T;
  try {
    output = opts.parse(reply.content);
  } catch (e) {
    await fail(e);
    throw new HttpError(502, 'ai_invalid_output', `the agent's answer could not be used: ${e instanceof Error ? e.message : e}`);
  }
  await db.update('ai_runs', { id: eq(run.id) }, {
    status: 'succeeded', output: { content: reply.content, result: output }, finished_at: new Date().toISOString(),
  });
  const runs = await usage(opts.userId, 'ai_run', 0, false);
  return {
    run_id: run.id,
    output,
    content: reply.content,
    usage: { prompt_tokens: reply.prompt_tokens, completion_tokens: reply.completion_tokens, total_tokens: total, cost_usd: cost },
    limits: { ai_runs_remaining: runs.remaining, tokens_used: after.tokens_used, tokens_limit: after.tokens_limit },
  };
}
