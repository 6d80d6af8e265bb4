// basalt start: the gateway in front of every service (health, apikey check, CORS, JSON 404)
// and the project lifecycle as supabase-js users meet it.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startBasalt } from './lib/basalt.mjs';

let b;
before(async () => {
  b = await startBasalt({
    migrations: { '0001_notes.sql': 'create table public.notes (id serial primary key, body text not null);' },
    seed: "insert into public.notes (body) values ('seeded');",
  });
});
after(async () => { await b?.stop(); });

test('health answers JSON', async () => {
  const r = await fetch(`${b.url}/health`);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).status, 'ok');
});

test('unknown paths answer a JSON 404', async () => {
  const r = await fetch(`${b.url}/nowhere`);
  assert.equal(r.status, 404);
  assert.ok((await r.json()).message);
});

test('the apikey is required on /rest/v1 and must be signed with the project secret', async () => {
  let r = await fetch(`${b.url}/rest/v1/notes`);
  assert.equal(r.status, 401);
  assert.equal((await r.json()).message, 'No API key found in request');
  r = await fetch(`${b.url}/rest/v1/notes`, { headers: { apikey: 'nope' } });
  assert.equal(r.status, 401);
  assert.equal((await r.json()).message, 'Invalid API key');
  r = await fetch(`${b.url}/rest/v1/notes?apikey=${b.anonKey}`);
  assert.notEqual(r.status, 401);
});

test('CORS preflight allows what supabase-js sends', async () => {
  const r = await fetch(`${b.url}/rest/v1/notes`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://localhost:3000',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,apikey,x-client-info,content-type,prefer',
    },
  });
  assert.ok(r.status === 200 || r.status === 204);
  assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  assert.match(r.headers.get('access-control-allow-headers') ?? '', /apikey/);
});

test('requests get an x-request-id', async () => {
  const r = await fetch(`${b.url}/health`);
  assert.match(r.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});

test('migrations and the seed were applied', () => {
  assert.deepEqual(b.sql('select body from public.notes'), [['seeded']]);
  assert.deepEqual(b.sql('select version, name from supabase_migrations.schema_migrations'), [['0001', 'notes']]);
});
