// Edge functions on basalt's own runtime, called with supabase-js's functions.invoke: bodies of
// every kind, headers, query strings and methods; the three supabase-js error classes where
// Supabase raises them; RLS seen through a function that calls back into basalt with the
// caller's token (and all rows with the service key); verify_jwt = false webhooks; SSE arriving
// in pieces; EdgeRuntime.waitUntil finishing after the response; edits picked up without restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FunctionsHttpError, FunctionsRelayError, FunctionsFetchError } from '@supabase/supabase-js';
import { startBasalt, createUserRow, freePort } from './lib/basalt.mjs';

const cors = `export const corsHeaders = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type, x-custom',
};
`;

const echo = `import { corsHeaders } from '../_shared/cors.ts';
Deno.serve(async (req) => {
  if (req.method === 'OPTIONS') return new Response('ok', { headers: corsHeaders });
  const url = new URL(req.url);
  const type = (req.headers.get('content-type') ?? '').split(';')[0];
  let body = null;
  if (type === 'application/json') body = await req.json();
  else if (type === 'multipart/form-data') {
    const form = await req.formData();
    body = {};
    for (const [k, v] of form.entries()) body[k] = typeof v === 'string' ? v : { file: v.name, size: v.size, text: await v.text() };
  } else if (type === 'application/octet-stream') {
    const bytes = new Uint8Array(await req.arrayBuffer());
    body = { length: bytes.length, sum: bytes.reduce((a, b) => a + b, 0) };
  } else if (req.method !== 'GET' && req.method !== 'DELETE') body = await req.text();
  if (url.searchParams.get('as') === 'bytes') {
    return new Response(new Uint8Array([1, 2, 3, 250]), { headers: { ...corsHeaders, 'content-type': 'application/octet-stream' } });
  }
  if (url.searchParams.get('as') === 'text') {
    return new Response('plain ' + JSON.stringify(body), { headers: { ...corsHeaders, 'content-type': 'text/plain' } });
  }
  return Response.json({
    method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), type, body,
    custom: req.headers.get('x-custom'), secret: Deno.env.get('MY_SECRET') ?? null,
    configSecret: Deno.env.get('CONFIG_SECRET') ?? null,
    supabaseUrl: Deno.env.get('SUPABASE_URL'), hasServiceKey: !!Deno.env.get('SUPABASE_SERVICE_ROLE_KEY'),
    hasDbUrl: !!Deno.env.get('SUPABASE_DB_URL'), version: 1,
  }, { headers: corsHeaders });
});
`;

const fail = `Deno.serve((req) => {
  if (new URL(req.url).searchParams.has('throw')) throw new Error('kaboom');
  return Response.json({ error: 'teapot' }, { status: 418 });
});
`;

// Calls back into basalt with supabase-js from npm, as the caller or as the service role.
const notes = `import { createClient } from 'npm:@supabase/supabase-js@2';
Deno.serve(async (req) => {
  const asService = new URL(req.url).searchParams.has('service');
  const client = asService
    ? createClient(Deno.env.get('SUPABASE_URL'), Deno.env.get('SUPABASE_SERVICE_ROLE_KEY'))
    : createClient(Deno.env.get('SUPABASE_URL'), Deno.env.get('SUPABASE_ANON_KEY'), {
        global: { headers: { Authorization: req.headers.get('Authorization') } },
      });
  const { data, error } = await client.from('notes').select('body').order('body');
  if (error) return Response.json({ error }, { status: 500 });
  return Response.json(data.map((n) => n.body));
});
`;

const hook = `Deno.serve(async (req) => Response.json({ received: await req.json(), auth: req.headers.get('authorization') }));
`;

const sse = `Deno.serve(() => {
  let n = 0, timer;
  const body = new ReadableStream({
    start(c) {
      timer = setInterval(() => {
        c.enqueue(new TextEncoder().encode('data: ' + n + '\\n\\n'));
        if (++n === 4) { clearInterval(timer); c.close(); }
      }, 250);
    },
    cancel() { clearInterval(timer); },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
});
`;

const background = `Deno.serve(async (req) => {
  const { tag } = await req.json();
  EdgeRuntime.waitUntil((async () => {
    await new Promise((r) => setTimeout(r, 700));
    const res = await fetch(Deno.env.get('SUPABASE_URL') + '/rest/v1/jobs', {
      method: 'POST',
      headers: { apikey: Deno.env.get('SUPABASE_SERVICE_ROLE_KEY'), Authorization: 'Bearer ' + Deno.env.get('SUPABASE_SERVICE_ROLE_KEY'), 'content-type': 'application/json' },
      body: JSON.stringify({ tag }),
    });
    console.log('background job stored', tag, res.status);
  })());
  return Response.json({ accepted: tag });
});
`;

const alice = '11111111-1111-1111-1111-111111111111';
const bob = '22222222-2222-2222-2222-222222222222';
let b;

before(async () => {
  b = await startBasalt({
    migrations: {
      '0001_notes.sql': `
        create table notes (id bigserial primary key, owner uuid not null, body text not null);
        alter table notes enable row level security;
        create policy own on notes for select to authenticated using (owner = auth.uid());
        grant select on notes to authenticated;
        create table jobs (tag text primary key, at timestamptz default now());
        grant all on jobs to service_role;`,
    },
    config: '[functions.hook]\nverify_jwt = false\n[edge_runtime.secrets]\nCONFIG_SECRET = "from-config"\n',
    env: { BASALT_LOG: 'warn,basalt_edge::function=info' },
    functions: {
      '_shared/cors.ts': cors,
      'echo/index.ts': echo,
      'fail/index.ts': fail,
      'notes/index.ts': notes,
      'hook/index.ts': hook,
      'sse/index.ts': sse,
      'background/index.ts': background,
      '.env': 'MY_SECRET=from-dotenv\nSUPABASE_URL=http://evil.example\n',
    },
  });
  createUserRow(b, alice, 'alice@example.com');
  createUserRow(b, bob, 'bob@example.com');
  b.sql(`insert into notes (owner, body) values ('${alice}', 'alice 1'), ('${alice}', 'alice 2'), ('${bob}', 'bob 1')`);
});

after(async () => { await b?.stop(); });

test('Deno is there: functions run on basalt itself', async () => {
  const { data, error, response } = await b.client().functions.invoke('echo', { body: { hello: 'world' } });
  assert.equal(error, null, `first call failed (${error?.context?.status}): ${await error?.context?.text?.()}\n` +
    'edge functions need Deno: run .ci/setup (installs it into tools/) or set BASALT_DENO');
  assert.deepEqual(data.body, { hello: 'world' });
});

test('invoke with JSON, text, FormData and binary bodies, headers, query strings and methods', async () => {
  const fn = b.client().functions;
  let r = await fn.invoke('echo?x=1&y=two', { body: { a: [1, 2] }, headers: { 'x-custom': 'yes' } });
  assert.equal(r.error, null);
  assert.equal(r.data.method, 'POST');
  assert.equal(r.data.path, '/echo');
  assert.deepEqual(r.data.query, { x: '1', y: 'two' });
  assert.equal(r.data.type, 'application/json');
  assert.deepEqual(r.data.body, { a: [1, 2] });
  assert.equal(r.data.custom, 'yes');
  // Secrets from functions/.env and [edge_runtime.secrets]; SUPABASE_* is reserved.
  assert.equal(r.data.secret, 'from-dotenv');
  assert.equal(r.data.configSecret, 'from-config');
  assert.equal(r.data.supabaseUrl, b.url);
  assert.ok(r.data.hasServiceKey && r.data.hasDbUrl);

  r = await fn.invoke('echo', { body: 'just text' });
  assert.equal(r.data.type, 'text/plain');
  assert.equal(r.data.body, 'just text');

  const form = new FormData();
  form.append('name', 'ada');
  form.append('upload', new Blob(['file contents'], { type: 'text/plain' }), 'a.txt');
  r = await fn.invoke('echo', { body: form });
  assert.equal(r.data.type, 'multipart/form-data');
  assert.deepEqual(r.data.body, { name: 'ada', upload: { file: 'a.txt', size: 13, text: 'file contents' } });

  const bytes = new Uint8Array(100000).map((_, i) => i % 256);
  r = await fn.invoke('echo', { body: bytes.buffer });
  assert.equal(r.data.type, 'application/octet-stream');
  assert.deepEqual(r.data.body, { length: 100000, sum: bytes.reduce((a, x) => a + x, 0) });

  r = await fn.invoke('echo?as=bytes', { body: { x: 1 } });
  assert.ok(r.data instanceof Blob);
  assert.deepEqual([...new Uint8Array(await r.data.arrayBuffer())], [1, 2, 3, 250]);
  r = await fn.invoke('echo?as=text', { body: 'hi' });
  assert.equal(r.data, 'plain "hi"');

  for (const method of ['GET', 'PUT', 'DELETE']) {
    r = await fn.invoke('echo?m=1', { method, ...(method === 'PUT' ? { body: { put: true } } : {}) });
    assert.equal(r.error, null, method);
    assert.equal(r.data.method, method);
  }
  assert.deepEqual(r.data.query, { m: '1' });
});

test('a function answers its own CORS preflight', async () => {
  const res = await fetch(`${b.url}/functions/v1/echo`, {
    method: 'OPTIONS',
    headers: { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-custom' },
  });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok');
  assert.match(res.headers.get('access-control-allow-headers'), /x-custom/);
});

test('FunctionsHttpError, FunctionsRelayError and FunctionsFetchError arise where Supabase raises them', async () => {
  let r = await b.client().functions.invoke('fail');
  assert.ok(r.error instanceof FunctionsHttpError);
  assert.equal(r.error.context.status, 418);
  assert.deepEqual(await r.error.context.json(), { error: 'teapot' });

  r = await b.client().functions.invoke('fail?throw');
  assert.ok(r.error instanceof FunctionsHttpError);
  assert.equal(r.error.context.status, 500);
  assert.equal((await r.error.context.json()).code, 'WORKER_ERROR');

  r = await b.client().functions.invoke('does-not-exist');
  assert.ok(r.error instanceof FunctionsHttpError);
  assert.equal(r.error.context.status, 404);

  // A relay in front of a runtime that is not there (functions_url to a closed port).
  const closed = await freePort();
  const relay = await startBasalt({
    config: `[basalt]\nfunctions_url = "http://127.0.0.1:${closed}"\n`,
    functions: { 'echo/index.ts': echo },
  });
  try {
    r = await relay.client().functions.invoke('echo', { body: {} });
    assert.ok(r.error instanceof FunctionsRelayError, String(r.error));
  } finally {
    await relay.stop();
  }

  // No Deno (BASALT_DENO names none): basalt starts, says how to get it, calls are relay errors.
  const bare = await startBasalt({ functions: { 'echo/index.ts': echo }, env: { BASALT_DENO: '/nonexistent/deno' } });
  try {
    r = await bare.client().functions.invoke('echo', { body: {} });
    assert.ok(r.error instanceof FunctionsRelayError, String(r.error));
    assert.equal(r.error.context.status, 503);
    assert.match(bare.output(), /edge functions need Deno/);
  } finally {
    await bare.stop();
  }

  // Nothing listening at all: the fetch itself fails.
  const gone = b.client().functions;
  gone.url = `http://127.0.0.1:${closed}/functions/v1`;
  r = await gone.invoke('echo', { body: {} });
  assert.ok(r.error instanceof FunctionsFetchError, String(r.error));
});

test("a function calling back into basalt with the caller's token sees that user's rows; with the service key all", async () => {
  let r = await b.userClient(alice).functions.invoke('notes');
  assert.equal(r.error, null, String(r.error));
  assert.deepEqual(r.data, ['alice 1', 'alice 2']);
  r = await b.userClient(bob).functions.invoke('notes');
  assert.deepEqual(r.data, ['bob 1']);
  r = await b.client().functions.invoke('notes');
  assert.deepEqual(r.data, [], 'anon sees no rows');
  r = await b.userClient(bob).functions.invoke('notes?service');
  assert.deepEqual(r.data, ['alice 1', 'alice 2', 'bob 1']);
});

test('verify_jwt = false accepts a webhook without a token; other functions refuse it', async () => {
  let res = await fetch(`${b.url}/functions/v1/hook`, { method: 'POST', body: JSON.stringify({ event: 'paid' }), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: { event: 'paid' }, auth: null });
  res = await fetch(`${b.url}/functions/v1/echo`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 401);
});

test('an SSE response arrives in pieces, not at the end', async () => {
  const { data, error } = await b.client().functions.invoke('sse');
  assert.equal(error, null);
  const reader = data.body.getReader();
  const started = Date.now();
  const arrivals = [];
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    arrivals.push(Date.now() - started);
  }
  assert.equal(text, 'data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n');
  assert.ok(arrivals.length >= 3, `chunks: ${arrivals}`);
  assert.ok(arrivals[arrivals.length - 1] - arrivals[0] >= 400, `arrivals spread over time: ${arrivals}`);
});

test('EdgeRuntime.waitUntil work finishes after the response', async () => {
  const t = Date.now();
  const r = await b.client().functions.invoke('background', { body: { tag: 'job-1' } });
  assert.deepEqual(r.data, { accepted: 'job-1' });
  assert.ok(Date.now() - t < 700, 'the response did not wait for the background work');
  assert.deepEqual(b.sql(`select tag from jobs`), []);
  for (let i = 0; i < 50 && b.sql(`select tag from jobs`).length === 0; i++) await new Promise((res) => setTimeout(res, 100));
  assert.deepEqual(b.sql(`select tag from jobs`), [['job-1']]);
});

test('an edited function is served on the next call without a restart; its logs reach basalt', async () => {
  writeFileSync(join(b.dir, 'supabase/functions/echo/index.ts'), echo.replace('version: 1', 'version: 2'));
  const r = await b.client().functions.invoke('echo', { body: {} });
  assert.equal(r.data.version, 2);
  assert.match(b.output(), /background job stored job-1 201/);
});
