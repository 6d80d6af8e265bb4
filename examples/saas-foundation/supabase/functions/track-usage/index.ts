// Usage metering (the design's `usage_counters` with the quotas of migration 0006).
//
// POST {metric, amount = 1, dry_run = false}           a signed-in user records their own usage
// POST {user_id, metric, amount = 1, dry_run = false}  the service role (your backend) records anyone's
//   → 200 {allowed: true, recorded, plan, metric, period, used, quota, remaining, window_start, window_end}
//   → 402 {error: 'quota_exceeded', …the same figures}: nothing is recorded
//   → 400 for an unknown metric or a bad amount, 404 for an unknown user
// GET → the caller's usage in the current windows of their plan (`usage_summary()`, read as them).
// `dry_run` checks whether the amount would fit without recording it. The count and the check
// are one locked statement in Postgres (`record_usage`), so concurrent calls never pass a quota.
// `storage_mb` is measured, not counted (migration 0007): the user's folder of `user-files` is
// measured (`measure_storage`) and `amount` (default 0) is the MB of an upload to check against
// the quota — never recorded; the answer carries `bytes` and `measured: true`.

const json = (body: unknown, status = 200) => Response.json(body, { status, headers: { 'access-control-allow-origin': '*' } });
const env = (name: string) => Deno.env.get(name)!;

function claims(req: Request): { role?: string; sub?: string } | null {
  const token = req.headers.get('authorization')?.replace(/^Bearer\s+/i, '');
  try {
    const part = token!.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

async function rest(path: string, init: { method?: string; body?: unknown; authorization?: string }) {
  const service = env('SUPABASE_SERVICE_ROLE_KEY');
  const res = await fetch(`${env('SUPABASE_URL')}/rest/v1/${path}`, {
    method: init.method ?? 'GET',
    headers: {
      apikey: init.authorization ? env('SUPABASE_ANON_KEY') : service,
      authorization: init.authorization ?? `Bearer ${service}`,
      'content-type': 'application/json',
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

Deno.serve(async (req) => {
  if (req.method === 'OPTIONS') {
    return new Response('ok', { headers: { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization, x-client-info, apikey, content-type' } });
  }
  const who = claims(req);
  const isService = who?.role === 'service_role';
  if (!isService && (who?.role !== 'authenticated' || !who.sub)) return json({ error: 'unauthorized', message: 'sign in first' }, 401);

  if (req.method === 'GET') {
    if (isService) return json({ error: 'invalid_input', message: 'GET answers a signed-in user\'s own usage' }, 400);
    const r = await rest('rpc/usage_summary', { method: 'POST', body: {}, authorization: req.headers.get('authorization')! });
    return r.status === 200 ? json({ usage: r.body }) : json({ error: 'database_error', message: r.body?.message }, 502);
  }
  if (req.method !== 'POST') return json({ error: 'method_not_allowed' }, 405);

  const body = await req.json().catch(() => null);
  if (!body || typeof body !== 'object' || Array.isArray(body)) return json({ error: 'invalid_json', message: 'the body must be a JSON object' }, 400);
  const metric = body.metric;
  if (typeof metric !== 'string' || !/^[a-z][a-z0-9_]{0,62}$/.test(metric)) return json({ error: 'invalid_input', message: 'metric is required' }, 400);
  const measured = metric === 'storage_mb';
  const amount = body.amount ?? (measured ? 0 : 1);
  const least = measured ? 0 : 1;
  if (!Number.isInteger(amount) || amount < least || amount > 1_000_000) return json({ error: 'invalid_input', message: `amount must be an integer from ${least} to 1000000` }, 400);
  let userId = who!.sub;
  if (isService) userId = body.user_id;
  else if (body.user_id !== undefined && body.user_id !== who!.sub) return json({ error: 'forbidden', message: 'you can only record your own usage' }, 403);
  if (typeof userId !== 'string') return json({ error: 'invalid_input', message: 'user_id is required' }, 400);

  const r = measured
    ? await rest('rpc/measure_storage', { method: 'POST', body: { p_user_id: userId, p_amount: amount } })
    : await rest('rpc/record_usage', { method: 'POST', body: { p_user_id: userId, p_metric: metric, p_amount: amount, p_dry_run: body.dry_run === true } });
  if (r.status !== 200) {
    const code = r.body?.code;
    if (code === 'P0002') return json({ error: 'user_not_found', message: r.body.message }, 404);
    if (code === '22023' || code === '22P02') return json({ error: 'invalid_input', message: r.body.message }, 400);
    console.error('record_usage failed', r.status, JSON.stringify(r.body));
    return json({ error: 'database_error', message: 'could not record usage' }, 502);
  }
  return r.body.allowed
    ? json(r.body)
    : json({ error: 'quota_exceeded', message: `the ${r.body.plan} plan allows ${r.body.quota} ${metric} a ${r.body.period}`, ...r.body }, 402);
});
