// Realtime with the real supabase-js against `basalt start`: postgres_changes per user under
// RLS (with and without filters), broadcast between clients, presence, private channels.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import ws from 'ws';
import { startBasalt } from './lib/basalt.mjs';

const A = '00000000-0000-0000-0000-00000000000a';
const B = '00000000-0000-0000-0000-00000000000b';

let b;
before(async () => {
  b = await startBasalt({
    migrations: {
      '0001_trips.sql': `
        create table public.trips (id bigserial primary key, owner uuid not null, title text, votes int default 0);
        alter table public.trips enable row level security;
        create policy own on public.trips for select to authenticated using (owner = auth.uid());
        alter publication supabase_realtime add table public.trips;
        create policy team_read on realtime.messages for select to authenticated
          using (realtime.topic() = 'team-a' and auth.uid() = '${A}');
        create policy team_write on realtime.messages for insert to authenticated
          with check (realtime.topic() = 'team-a' and auth.uid() = '${A}');`,
    },
  });
});
after(async () => { await b?.stop(); });

/**
 * A client; with `sub`, realtime joins with a JWT of that user. The token is also what the
 * `accessToken` option returns: supabase-js 2.119 asks that callback again after connecting and
 * on heartbeats, and without it a token given only to `realtime.setAuth` gives way to the anon key.
 */
function client(sub) {
  const now = Math.floor(Date.now() / 1000);
  const token = sub && b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 });
  const c = b.client(b.anonKey, {
    realtime: { transport: ws, params: { eventsPerSecond: 1000 } },
    ...(token ? { accessToken: async () => token } : {}),
  });
  if (token) c.realtime.setAuth(token);
  return c;
}

function subscribe(channel) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('subscribe timed out')), 10000);
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') { clearTimeout(timer); resolve(status); }
      if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') { clearTimeout(timer); resolve(status + (err ? `: ${err.message}` : '')); }
    });
  });
}

/** Resolve once the "Subscribed to PostgreSQL" system message arrived (changes flow from then on). */
function cdcReady(channel) {
  return new Promise((resolve) => channel.on('system', {}, (m) => { if (m.extension === 'postgres_changes') resolve(m); }));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms = 8000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (pred()) return true; await sleep(50); }
  return pred();
}

test('postgres_changes: each user receives exactly the rows its policies allow', async () => {
  const ca = client(A);
  const cb = client(B);
  const gotA = [];
  const gotAFiltered = [];
  const gotB = [];
  const chA = ca.channel('trips-a')
    .on('postgres_changes', { event: '*', schema: 'public', table: 'trips' }, (p) => gotA.push(p))
    .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'trips', filter: 'votes=gte.2' }, (p) => gotAFiltered.push(p));
  const readyA = cdcReady(chA);
  assert.equal(await subscribe(chA), 'SUBSCRIBED');
  const chB = cb.channel('trips-b')
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'trips' }, (p) => gotB.push(p));
  const readyB = cdcReady(chB);
  assert.equal(await subscribe(chB), 'SUBSCRIBED');
  await readyA; await readyB;

  b.sql(`insert into trips (owner, title) values ('${A}', 'lisbon'), ('${B}', 'oslo'), ('${A}', 'rome')`);
  b.sql(`update trips set votes = 1 where title = 'lisbon'`);
  b.sql(`update trips set votes = 2 where title = 'rome'`);
  b.sql(`update trips set votes = 5 where title = 'oslo'`);
  b.sql(`delete from trips where title = 'lisbon'`);

  assert.ok(await until(() => gotA.length >= 5), `A got ${JSON.stringify(gotA)}`);
  await sleep(500);
  assert.deepEqual(gotA.map((p) => [p.eventType, p.new.title ?? null]), [
    ['INSERT', 'lisbon'], ['INSERT', 'rome'], ['UPDATE', 'lisbon'], ['UPDATE', 'rome'], ['DELETE', null],
  ]);
  // supabase-js converts the text cells by column type
  assert.equal(typeof gotA[0].new.id, 'number');
  assert.equal(gotA[0].new.owner, A);
  assert.equal(gotA[2].new.votes, 1);
  assert.deepEqual(Object.keys(gotA[4].old), ['id']);
  assert.deepEqual(gotAFiltered.map((p) => p.new.title), ['rome']);
  assert.deepEqual(gotB.map((p) => p.new.title), ['oslo']);
  await ca.removeAllChannels();
  await cb.removeAllChannels();
});

test('broadcast between two clients, with self and ack', async () => {
  const c1 = client();
  const c2 = client();
  const got1 = [];
  const got2 = [];
  const ch1 = c1.channel('room1', { config: { broadcast: { self: true, ack: true } } })
    .on('broadcast', { event: 'cursor' }, (m) => got1.push(m.payload));
  const ch2 = c2.channel('room1').on('broadcast', { event: 'cursor' }, (m) => got2.push(m.payload));
  assert.equal(await subscribe(ch1), 'SUBSCRIBED');
  assert.equal(await subscribe(ch2), 'SUBSCRIBED');
  assert.equal(await ch1.send({ type: 'broadcast', event: 'cursor', payload: { x: 1 } }), 'ok');
  assert.equal(await ch2.send({ type: 'broadcast', event: 'cursor', payload: { x: 2 } }), 'ok');
  assert.ok(await until(() => got1.length >= 2 && got2.length >= 1));
  await sleep(300);
  assert.deepEqual(got1, [{ x: 1 }, { x: 2 }]);
  assert.deepEqual(got2, [{ x: 1 }], 'without self, the sender does not hear itself');
  // HTTP broadcast (httpSend) reaches the sockets too
  const res = await ch2.httpSend('cursor', { x: 3 });
  assert.equal(res.success, true);
  assert.ok(await until(() => got1.length === 3));
  await c1.removeAllChannels();
  await c2.removeAllChannels();
});

test('presence: join and leave', async () => {
  const c1 = client();
  const c2 = client();
  const joins = [];
  const leaves = [];
  const ch1 = c1.channel('lobby', { config: { presence: { key: 'alice' } } })
    .on('presence', { event: 'join' }, ({ key }) => joins.push(key))
    .on('presence', { event: 'leave' }, ({ key }) => leaves.push(key));
  assert.equal(await subscribe(ch1), 'SUBSCRIBED');
  const ch2 = c2.channel('lobby', { config: { presence: { key: 'bob' } } });
  ch2.on('presence', { event: 'sync' }, () => {});
  assert.equal(await subscribe(ch2), 'SUBSCRIBED');
  assert.equal(await ch2.track({ status: 'online' }), 'ok');
  assert.ok(await until(() => joins.includes('bob')));
  assert.equal(ch1.presenceState().bob[0].status, 'online');
  assert.equal(await ch2.untrack(), 'ok');
  assert.ok(await until(() => leaves.includes('bob')));
  assert.equal(ch1.presenceState().bob, undefined);
  await c1.removeAllChannels();
  await c2.removeAllChannels();
});

test('private channel: refused without a policy, joined with one', async () => {
  const cb = client(B);
  const refused = await subscribe(cb.channel('team-a', { config: { private: true } }));
  assert.match(refused, /^CHANNEL_ERROR/);
  assert.match(refused, /Unauthorized/);
  await cb.removeAllChannels();

  const ca = client(A);
  const got = [];
  const ch = ca.channel('team-a', { config: { private: true } }).on('broadcast', { event: 'db' }, (m) => got.push(m.payload));
  assert.equal(await subscribe(ch), 'SUBSCRIBED');
  // broadcast from the database
  b.sql(`select realtime.send('{"hello":"from sql"}'::jsonb, 'db', 'team-a', true)`);
  assert.ok(await until(() => got.length === 1));
  // realtime.send adds the message id to a payload without one.
  assert.deepEqual(Object.keys(got[0]).sort(), ['hello', 'id']);
  assert.equal(got[0].hello, 'from sql');
  assert.match(got[0].id, /^[0-9a-f-]{36}$/);
  await ca.removeAllChannels();
});

test('private channel with broadcast replay: stored broadcasts since an instant arrive first, marked replayed', async () => {
  const since = Date.now() - 500;
  // Two transactions: one insert time each.
  b.sql(`select realtime.send('{"n":1}'::jsonb, 'replay', 'team-a', true)`);
  b.sql(`select realtime.send('{"n":2}'::jsonb, 'replay', 'team-a', true)`);
  await sleep(300);
  const ca = client(A);
  const got = [];
  const ch = ca.channel('team-a', { config: { private: true, broadcast: { replay: { since, limit: 1 } } } })
    .on('broadcast', { event: 'replay' }, (m) => got.push(m));
  assert.equal(await subscribe(ch), 'SUBSCRIBED');
  assert.ok(await until(() => got.length === 1));
  await sleep(300);
  assert.equal(got.length, 1, JSON.stringify(got));
  assert.equal(got[0].type, 'broadcast');
  assert.equal(got[0].meta.replayed, true);
  assert.match(got[0].meta.id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(got[0].payload, { n: 2, id: got[0].meta.id });
  await ca.removeAllChannels();
});

test('a refreshed token keeps the channel joined; an expired one closes it with a system message', async () => {
  const now = () => Math.floor(Date.now() / 1000);
  const token = (exp) => b.sign({ sub: A, role: 'authenticated', aud: 'authenticated', iat: now(), exp });
  const c = client();
  await c.realtime.setAuth(token(now() + 3));
  const got = [];
  const ch = c.channel('refreshing')
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'trips' }, (p) => got.push(p));
  const ready = cdcReady(ch);
  assert.equal(await subscribe(ch), 'SUBSCRIBED');
  await ready;
  await c.realtime.setAuth(token(now() + 3600));
  await sleep(4500); // past the first token's expiry
  assert.equal(ch.state, 'joined');
  b.sql(`insert into trips (owner, title) values ('${A}', 'after refresh')`);
  assert.ok(await until(() => got.length === 1), 'changes still flow without a rejoin');
  assert.equal(got[0].new.title, 'after refresh');
  await c.removeAllChannels();

  const c2 = client();
  await c2.realtime.setAuth(token(now() + 2));
  const sys = [];
  const ch2 = c2.channel('expiring').on('system', {}, (m) => sys.push(m));
  assert.equal(await subscribe(ch2), 'SUBSCRIBED');
  assert.ok(await until(() => sys.some((m) => m.status === 'error' && /^Token has expired/.test(m.message)), 6000), JSON.stringify(sys));
  assert.ok(await until(() => ch2.state === 'closed'), `state ${ch2.state}`);
  await c2.removeAllChannels();
});
