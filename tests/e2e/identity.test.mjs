// One identity layer: with an asymmetric signing key (ES256, then RS256) a user signed in through
// auth uses the same token for REST, storage, realtime (join and postgres_changes) and functions;
// a token signed by an unknown key is refused by each with its usual error; while keys rotate
// (new key signs, old key still listed) tokens of the old key keep working. Then every service
// alike: `Authorization: bearer` in any case is accepted, a token expired 10 seconds ago refused.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { generateKeyPairSync, sign as cryptoSign, randomUUID } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, freePort } from './lib/basalt.mjs';

const b64url = (buf) => Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

/** A fresh key pair of `alg` as JWKs: `{ priv, pub, privateKey }`. */
function keyPair(alg, kid) {
  const { privateKey, publicKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = { ...privateKey.export({ format: 'jwk' }), kid };
  const pub = { ...publicKey.export({ format: 'jwk' }), kid };
  return { priv, pub, privateKey, alg, kid };
}

/** Sign claims with a key pair, as auth would. */
function signWith(pair, claims) {
  const head = b64url(JSON.stringify({ alg: pair.alg, typ: 'JWT', kid: pair.kid }));
  const body = b64url(JSON.stringify(claims));
  const data = Buffer.from(`${head}.${body}`);
  const sig = pair.alg === 'ES256'
    ? cryptoSign('sha256', data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' })
    : cryptoSign('sha256', data, pair.privateKey);
  return `${head}.${body}.${b64url(sig)}`;
}

/** A function runtime that answers every call with 200 and what it saw. */
async function functionRuntime() {
  const port = await freePort();
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, auth: req.headers.authorization ?? null }));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

const MIGRATION = `
  create table public.notes (id bigserial primary key, owner uuid not null default auth.uid(), body text);
  alter table public.notes enable row level security;
  create policy own on public.notes for all to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
  alter publication supabase_realtime add table public.notes;
  insert into storage.buckets (id, name, public) values ('docs', 'docs', false);
  create policy docs_write on storage.objects for insert to authenticated with check (bucket_id = 'docs');
  create policy docs_read on storage.objects for select to authenticated using (bucket_id = 'docs');
  create policy room on realtime.messages for select to authenticated using (true);`;

function subscribe(channel) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('TIMED_OUT'), 10000);
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') { clearTimeout(timer); resolve(status); }
      if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' || status === 'CLOSED') {
        clearTimeout(timer);
        resolve(status + (err ? `: ${err.message}` : ''));
      }
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A supabase-js client whose every request carries `token`. */
function tokenClient(b, token) {
  const c = createClient(b.url, b.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers: { Authorization: `Bearer ${token}` } },
    realtime: { transport: ws },
  });
  c.realtime.setAuth(token);
  return c;
}

for (const alg of ['ES256', 'RS256']) {
  describe(`${alg} signing keys`, () => {
    let b;
    let runtime;
    const old = keyPair(alg, `${alg}-old`);
    const current = keyPair(alg, `${alg}-new`);
    before(async () => {
      runtime = await functionRuntime();
      const keysDir = join(tmpdir(), `basalt-keys-${randomUUID()}`);
      mkdirSync(keysDir, { recursive: true });
      // Rotation: the new key signs (first private key), the old one is still listed.
      const file = join(keysDir, 'signing_keys.json');
      writeFileSync(file, JSON.stringify([current.priv, old.pub]));
      b = await startBasalt({
        migrations: { '0001_notes.sql': MIGRATION },
        config: `[auth]\nsigning_keys_path = "${file}"\n[basalt]\nfunctions_url = "${runtime.url}"\n`,
      });
    });
    after(async () => { await b?.stop(); await runtime?.close(); });

    test('a signed-in user\'s token works for REST, storage, realtime and functions', async () => {
      const c = b.client();
      const email = `${alg.toLowerCase()}-${randomUUID()}@example.com`;
      const { data, error } = await c.auth.signUp({ email, password: 'long-enough-password' });
      assert.equal(error, null);
      const token = data.session.access_token;
      const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url'));
      assert.equal(header.alg, alg);
      assert.equal(header.kid, current.kid);
      const jwks = await (await fetch(`${b.url}/auth/v1/.well-known/jwks.json`, { headers: { apikey: b.anonKey } })).json();
      assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [current.kid, old.kid].sort());
      assert.ok(jwks.keys.every((k) => k.d === undefined));
      const user = tokenClient(b, token);

      // Realtime: postgres_changes for the user's own rows, and a private channel join.
      const seen = [];
      const changes = user.channel(`notes-${alg}`)
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notes' }, (p) => seen.push(p.new));
      assert.equal(await subscribe(changes), 'SUBSCRIBED');
      const room = user.channel(`room-${alg}`, { config: { private: true } });
      assert.equal(await subscribe(room), 'SUBSCRIBED');
      await sleep(500);

      // REST.
      const ins = await user.from('notes').insert({ body: 'mine' }).select().single();
      assert.equal(ins.error, null);
      assert.equal(ins.data.owner, data.user.id);
      const read = await user.from('notes').select('body');
      assert.deepEqual(read.data, [{ body: 'mine' }]);

      // Storage.
      const up = await user.storage.from('docs').upload(`${data.user.id}/a.txt`, new Blob(['hello']), { contentType: 'text/plain' });
      assert.equal(up.error, null);
      const down = await user.storage.from('docs').download(`${data.user.id}/a.txt`);
      assert.equal(await down.data.text(), 'hello');

      // Functions.
      const fn = await user.functions.invoke('echo', { body: { x: 1 } });
      assert.equal(fn.error, null);
      assert.equal(fn.data.auth, `Bearer ${token}`);

      for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(50);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].body, 'mine');
      await user.removeAllChannels();

      // A token of the old key, still listed, is accepted too.
      const now = Math.floor(Date.now() / 1000);
      const oldToken = signWith(old, { sub: data.user.id, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 600 });
      const viaOld = await tokenClient(b, oldToken).from('notes').select('body');
      assert.equal(viaOld.error, null);
      assert.deepEqual(viaOld.data, [{ body: 'mine' }]);
    });

    test('a token signed by an unknown key is refused by every service', async () => {
      const stranger = keyPair(alg, current.kid); // same kid, different key
      const now = Math.floor(Date.now() / 1000);
      const token = signWith(stranger, { sub: randomUUID(), role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 600 });
      const auth = { apikey: b.anonKey, authorization: `Bearer ${token}` };
      const rest = await fetch(`${b.url}/rest/v1/notes`, { headers: auth });
      assert.equal(rest.status, 401);
      assert.equal((await rest.json()).code, 'PGRST301');
      const storage = await fetch(`${b.url}/storage/v1/object/list/docs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"prefix":""}' });
      assert.equal(storage.status, 400);
      assert.equal((await storage.json()).statusCode, '403');
      const fn = await fetch(`${b.url}/functions/v1/echo`, { method: 'POST', headers: auth });
      assert.equal(fn.status, 401);
      const me = await fetch(`${b.url}/auth/v1/user`, { headers: auth });
      assert.equal(me.status, 403);
      const c = tokenClient(b, token);
      const status = await subscribe(c.channel(`refused-${alg}`, { config: { private: true } }));
      assert.notEqual(status, 'SUBSCRIBED');
      await c.removeAllChannels();
    });
  });
}

describe('every service alike', () => {
  let b;
  let runtime;
  before(async () => {
    runtime = await functionRuntime();
    b = await startBasalt({
      migrations: { '0001_notes.sql': MIGRATION },
      config: `[basalt]\nfunctions_url = "${runtime.url}"\n`,
    });
  });
  after(async () => { await b?.stop(); await runtime?.close(); });

  /** Status of each service for one Authorization header value. */
  async function statuses(authorization) {
    const h = { apikey: b.anonKey, authorization };
    const rest = await fetch(`${b.url}/rest/v1/notes`, { headers: h });
    const storage = await fetch(`${b.url}/storage/v1/object/list/docs`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: '{"prefix":""}' });
    const fn = await fetch(`${b.url}/functions/v1/echo`, { method: 'POST', headers: h });
    const auth = await fetch(`${b.url}/auth/v1/user`, { headers: h });
    const broadcast = await fetch(`${b.url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { ...h, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ topic: 'room', event: 'e', payload: {} }] }),
    });
    return { rest: rest.status, storage: storage.status, functions: fn.status, auth: auth.status, realtime: broadcast.status };
  }

  test('`bearer` in any case is accepted by every service', async () => {
    const id = randomUUID();
    b.sql(`insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
           values ('${id}', 'authenticated', 'authenticated', '${id}@example.com', '{}', '{}', now(), now())`);
    const now = Math.floor(Date.now() / 1000);
    const token = b.sign({ sub: id, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 600 });
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      assert.deepEqual(await statuses(`${scheme} ${token}`), { rest: 200, storage: 200, functions: 200, auth: 200, realtime: 202 }, scheme);
    }
  });

  test('a token expired 10 seconds ago is refused by every service', async () => {
    const id = randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const token = b.sign({ sub: id, role: 'authenticated', aud: 'authenticated', iat: now - 100, exp: now - 10 });
    assert.deepEqual(await statuses(`Bearer ${token}`), { rest: 401, storage: 400, functions: 401, auth: 403, realtime: 401 });
    // The realtime socket refuses it on join.
    const c = tokenClient(b, token);
    const status = await subscribe(c.channel('expired', { config: { private: true } }));
    assert.notEqual(status, 'SUBSCRIBED');
    await c.removeAllChannels();
    // And a token not valid before a minute from now, likewise.
    const early = b.sign({ sub: id, role: 'authenticated', aud: 'authenticated', nbf: now + 60, exp: now + 600 });
    assert.deepEqual(await statuses(`Bearer ${early}`), { rest: 401, storage: 400, functions: 401, auth: 403, realtime: 401 });
  });
});

describe('the Supabase CLI local keys', () => {
  const CLI_ANON = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0';
  const PUBLISHABLE = 'sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH';
  const SECRET = 'sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz';
  let b;
  before(async () => {
    b = await startBasalt({ migrations: { '0001_notes.sql': MIGRATION } });
  });
  after(async () => { await b?.stop(); });

  test('a project without a secret accepts the keys supabase start prints, old and new', async () => {
    assert.equal(b.anonKey, CLI_ANON);
    b.sql("insert into public.notes (owner, body) values ('00000000-0000-4000-8000-000000000001', 'secret')");
    // The publishable key is the anon role: RLS hides the row; the secret key is the service role.
    const anon = createClient(b.url, PUBLISHABLE, { auth: { persistSession: false }, realtime: { transport: ws } });
    const read = await anon.from('notes').select('body');
    assert.equal(read.error, null);
    assert.deepEqual(read.data, []);
    const admin = createClient(b.url, SECRET, { auth: { persistSession: false }, realtime: { transport: ws } });
    const all = await admin.from('notes').select('body');
    assert.equal(all.error, null);
    assert.deepEqual(all.data, [{ body: 'secret' }]);
    const buckets = await admin.storage.listBuckets();
    assert.equal(buckets.error, null);
    assert.ok(buckets.data.some((x) => x.id === 'docs'));
    // Sign-up with the publishable key, then the user's own token.
    const { data, error } = await anon.auth.signUp({ email: `${randomUUID()}@example.com`, password: 'long-enough-password' });
    assert.equal(error, null);
    assert.ok(data.session.access_token.split('.').length === 3);
    // A wrong opaque key is refused at the gateway.
    const r = await fetch(`${b.url}/rest/v1/notes`, { headers: { apikey: 'sb_publishable_nope' } });
    assert.equal(r.status, 401);
    // Realtime joins with the publishable key as the socket's apikey.
    const ch = anon.channel('opaque-room');
    const status = await subscribe(ch);
    assert.equal(status, 'SUBSCRIBED');
    await anon.removeAllChannels();
  });
});
