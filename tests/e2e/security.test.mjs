// The security suite: what an attacker holding only the public anon key can send, against
// `basalt start`. Every attempt must get a clear 4xx in the wire format of the API it hit, and the
// process must stay up and keep serving (checked after each group).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createServer } from 'node:http';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, freePort, createUserRow } from './lib/basalt.mjs';

const ALICE = '11111111-1111-4111-8111-1111111111a1';
const BOB = '22222222-2222-4222-8222-2222222222b2';

let b;
let runtime;
before(async () => {
  // A function runtime answering every call (the relay's own checks are what is tested).
  const port = await freePort();
  runtime = createServer((req, res) => { res.writeHead(200); res.end(req.url); });
  await new Promise((r) => runtime.listen(port, '127.0.0.1', r));
  b = await startBasalt({
    config: `[basalt]\nfunctions_url = "http://127.0.0.1:${port}"\n`,
    migrations: {
      '0001_notes.sql': `
        create table public.notes (id bigserial primary key, owner uuid not null default auth.uid(), body text);
        alter table public.notes enable row level security;
        create policy own on public.notes for all to authenticated
          using (owner = auth.uid()) with check (owner = auth.uid());
        alter publication supabase_realtime add table public.notes;
        insert into storage.buckets (id, name, public) values ('docs', 'docs', false);
        create policy own_files on storage.objects for all to authenticated
          using (bucket_id = 'docs' and (storage.foldername(name))[1] = auth.uid()::text)
          with check (bucket_id = 'docs' and (storage.foldername(name))[1] = auth.uid()::text);`,
    },
  });
  createUserRow(b, ALICE, 'alice@example.com');
  createUserRow(b, BOB, 'bob@example.com');
});
after(async () => { await b?.stop(); await new Promise((r) => runtime?.close(r)); });

const now = () => Math.floor(Date.now() / 1000);
const userToken = (sub, extra = {}) =>
  b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now(), exp: now() + 600, ...extra });
const user = (sub) => b.userClient(sub);

/** GET `path` with the anon key (and optional headers); status and parsed body. */
async function get(path, headers = {}) {
  const r = await fetch(`${b.url}${path}`, { headers: { apikey: b.anonKey, ...headers } });
  const text = await r.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body };
}

/** Send `path` byte for byte (no client-side normalisation); the status code. */
function rawStatus(path, headers = {}) {
  const { hostname, port } = new URL(b.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => {
      const h = Object.entries({ apikey: b.anonKey, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      s.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\n${h}connection: close\r\n\r\n`);
    });
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(Number(out.split(' ')[1])));
    s.on('error', reject);
  });
}

/** basalt is up and still answers a normal request. */
async function alive() {
  const h = await fetch(`${b.url}/health`);
  assert.equal(h.status, 200);
  const r = await get('/rest/v1/notes?select=id');
  assert.equal(r.status, 200);
}

test('deep nesting in every parser is a clear 400, not a crash', async () => {
  const select = `${'a('.repeat(4000)}id${')'.repeat(4000)}`;
  let r = await get(`/rest/v1/notes?select=${encodeURIComponent(select)}`);
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'PGRST100');
  const or = `${'or('.repeat(2000)}id.eq.1${')'.repeat(2000)}`;
  r = await get(`/rest/v1/notes?or=(${encodeURIComponent(or)})`);
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'PGRST100');
  r = await get(`/rest/v1/notes?order=${encodeURIComponent('('.repeat(10000))}`);
  assert.equal(r.status, 400);
  r = await get(`/rest/v1/notes?id=in.${encodeURIComponent('('.repeat(10000))}`);
  assert.equal(r.status, 400);
  // A deeply nested JSON body.
  const post = await fetch(`${b.url}/rest/v1/notes`, {
    method: 'POST',
    headers: { apikey: b.anonKey, authorization: `Bearer ${userToken(ALICE)}`, 'content-type': 'application/json' },
    body: `${'['.repeat(100000)}${']'.repeat(100000)}`,
  });
  assert.equal(post.status, 400);
  // Realtime: a filter thousands of parentheses deep does not hurt the socket: the same
  // connection still subscribes and receives changes afterwards.
  const c = user(ALICE);
  const filter = `id=in.${'('.repeat(5000)}1${')'.repeat(5000)}`;
  const status = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('TIMED_OUT'), 8000);
    c.channel('deep').on('postgres_changes', { event: '*', schema: 'public', table: 'notes', filter }, () => {})
      .subscribe((s) => { clearTimeout(timer); resolve(s); });
  });
  assert.ok(['SUBSCRIBED', 'CHANNEL_ERROR'].includes(status), status);
  const seen = [];
  const ok = c.channel('fine').on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notes' }, (p) => seen.push(p));
  await new Promise((resolve) => ok.subscribe((s) => { if (s === 'SUBSCRIBED') resolve(); }));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await c.from('notes').insert({ body: 'after deep filter' })).error, null);
  for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, 1);
  await c.removeAllChannels();
  await alive();
});

test('an oversized body with a bad token is refused before it is read', async () => {
  const big = Buffer.alloc(64 * 1024 * 1024, 'a');
  const t = Date.now();
  const r = await fetch(`${b.url}/rest/v1/notes`, {
    method: 'POST',
    headers: { apikey: b.anonKey, authorization: 'Bearer not.a.token', 'content-type': 'application/json' },
    body: big,
  }).catch((e) => ({ status: 0, error: e }));
  // Either the 401 arrives (the server answers before reading the body) or the server closes
  // the connection after answering; never a 5xx, never a stored row.
  assert.ok(r.status === 401 || r.status === 0, `status ${r.status}`);
  assert.ok(Date.now() - t < 20000);
  await alive();
});

test('tokens naming privileged roles are refused by every service', async () => {
  for (const role of ['postgres', 'supabase_admin']) {
    const token = b.sign({ sub: ALICE, role, iat: now(), exp: now() + 600 });
    const auth = { authorization: `Bearer ${token}` };
    const rest = await get('/rest/v1/notes', auth);
    assert.equal(rest.status, 403, role);
    assert.equal(rest.body.code, '42501');
    const storage = await fetch(`${b.url}/storage/v1/object/list/docs`, {
      method: 'POST',
      headers: { apikey: b.anonKey, ...auth, 'content-type': 'application/json' },
      body: '{"prefix":""}',
    });
    assert.ok([400, 403].includes(storage.status), `storage ${storage.status}`);
    const rpc = await fetch(`${b.url}/rest/v1/rpc/pg_sleep`, {
      method: 'POST',
      headers: { apikey: b.anonKey, ...auth, 'content-type': 'application/json' },
      body: '{"seconds":0}',
    });
    assert.ok(rpc.status >= 400 && rpc.status < 500, `rpc ${rpc.status}`);
  }
  // A forged token (signed with another secret) and an expired one.
  const forged = (await import('./lib/basalt.mjs')).signJwt('x'.repeat(40), { role: 'service_role' });
  assert.equal((await get('/rest/v1/notes', { authorization: `Bearer ${forged}` })).status, 401);
  const expired = b.sign({ role: 'service_role', exp: now() - 60 });
  assert.equal((await get('/rest/v1/notes', { authorization: `Bearer ${expired}` })).status, 401);
  await alive();
});

test('traversal in every path parameter stays inside its resource', async () => {
  // Storage object paths.
  for (const path of [
    '/storage/v1/object/docs/../../../etc/passwd',
    '/storage/v1/object/docs/%2e%2e/%2e%2e/etc/passwd',
    '/storage/v1/object/docs/..%2f..%2fetc%2fpasswd',
    '/storage/v1/object/public/docs/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/storage/v1/object/authenticated/..%2fdocs/x',
  ]) {
    const s = await rawStatus(path, { authorization: `Bearer ${userToken(ALICE)}` });
    assert.ok(s >= 400 && s < 500, `${path}: ${s}`);
  }
  // Function names.
  for (const path of ['/functions/v1/fn/%2e%2e/other', '/functions/v1/..%2Fother', '/functions/v1/fn/../x']) {
    const s = await rawStatus(path, { authorization: `Bearer ${b.anonKey}` });
    assert.equal(s, 404, path);
  }
  // REST resource names and RPC names.
  for (const path of ['/rest/v1/..%2Fauth.users', '/rest/v1/rpc/..%2Fpg_sleep', '/rest/v1/notes%2F..']) {
    const s = await rawStatus(path);
    assert.ok(s >= 400 && s < 500, `${path}: ${s}`);
  }
  await alive();
});

test('cross-user attempts are refused in every service', async () => {
  const alice = user(ALICE);
  const bob = user(BOB);
  const ins = await alice.from('notes').insert({ body: 'secret' }).select().single();
  assert.equal(ins.error, null);
  // REST: Bob sees nothing of Alice's and cannot change or delete it.
  assert.deepEqual((await bob.from('notes').select('*')).data, []);
  const upd = await bob.from('notes').update({ body: 'mine' }).eq('id', ins.data.id).select();
  assert.deepEqual(upd.data, []);
  const steal = await bob.from('notes').insert({ body: 'x', owner: ALICE });
  assert.equal(steal.error?.code, '42501');
  // Storage: Bob cannot read, overwrite or list Alice's folder.
  const up = await alice.storage.from('docs').upload(`${ALICE}/a.txt`, 'hi', { contentType: 'text/plain' });
  assert.equal(up.error, null);
  assert.notEqual((await bob.storage.from('docs').download(`${ALICE}/a.txt`)).error, null);
  assert.notEqual(
    (await bob.storage.from('docs').upload(`${ALICE}/a.txt`, 'evil', { upsert: true, contentType: 'text/plain' })).error,
    null,
  );
  assert.deepEqual((await bob.storage.from('docs').list(ALICE)).data, []);
  // Realtime: Bob's subscription receives nothing of Alice's changes.
  const seen = [];
  const ch = bob.channel('bob-notes').on('postgres_changes', { event: '*', schema: 'public', table: 'notes' }, (p) => seen.push(p));
  await new Promise((resolve) => ch.subscribe((s) => { if (s === 'SUBSCRIBED') resolve(); }));
  await new Promise((r) => setTimeout(r, 500));
  await alice.from('notes').insert({ body: 'another secret' });
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(seen, []);
  await bob.removeAllChannels();
  // The data is unchanged.
  const rows = b.sql(`select body from public.notes where owner = '${ALICE}' order by id`);
  assert.deepEqual(rows.map((r) => r[0]).filter((x) => x !== 'after deep filter'), ['secret', 'another secret']);
  await alive();
});
