// Two basalt realtime nodes (two processes) against one Postgres: a change, a broadcast and a
// presence made through one node reach the subscribers of the other.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import ws from 'ws';
import { RealtimeClient } from '@supabase/realtime-js';
import { startBasalt, basaltBin, freePort } from './lib/basalt.mjs';

const A = '00000000-0000-0000-0000-0000000000a1';
let b;
const nodes = [];

async function startNode(name) {
  const port = await freePort();
  const child = spawn(basaltBin(), ['realtime'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DATABASE_URL: b.dbUrl, API_JWT_SECRET: b.jwtSecret, PORT: String(port), SLOT_NAME_SUFFIX: name, BASALT_LOG: 'warn' },
  });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  nodes.push(child);
  // Ready when the port accepts WebSocket upgrades.
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((res) => {
      const s = new ws(`ws://127.0.0.1:${port}/websocket?apikey=${b.anonKey}&vsn=2.0.0`);
      s.on('open', () => { s.close(); res(true); });
      s.on('error', () => res(false));
    });
    if (ok) return port;
    if (child.exitCode !== null) throw new Error(`node ${name} exited: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node ${name} did not start: ${err}`);
}

function clientOn(port, sub) {
  const c = new RealtimeClient(`ws://127.0.0.1:${port}`, { params: { apikey: b.anonKey, eventsPerSecond: 1000 }, transport: ws });
  const now = Math.floor(Date.now() / 1000);
  c.setAuth(b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 }));
  return c;
}

function subscribed(channel) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('subscribe timed out')), 15000);
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') { clearTimeout(timer); resolve(); }
      if (status === 'CHANNEL_ERROR') { clearTimeout(timer); reject(err ?? new Error(status)); }
    });
  });
}

function waitFor(list, pred, what) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      const hit = list.find(pred);
      if (hit) return resolve(hit);
      if (Date.now() - start > 15000) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

before(async () => {
  b = await startBasalt({
    migrations: {
      '0001_trips.sql': `
        create table public.trips (id bigserial primary key, owner uuid not null, title text);
        alter table public.trips enable row level security;
        create policy own on public.trips for select to authenticated using (owner = auth.uid());
        alter publication supabase_realtime add table public.trips;`,
    },
  });
});

after(async () => {
  for (const n of nodes) if (n.exitCode === null) n.kill('SIGTERM');
  await b?.stop();
});

test('two realtime processes share changes, broadcasts and presence', async () => {
  const p1 = await startNode('node1');
  const p2 = await startNode('node2');
  const c1 = clientOn(p1, A);
  const c2 = clientOn(p2, A);
  const got1 = [];
  const got2 = [];
  const ch1 = c1.channel('room', { config: { broadcast: { self: false }, presence: { key: 'one' } } })
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'trips' }, (p) => got1.push({ kind: 'change', p }))
    .on('broadcast', { event: 'hello' }, (p) => got1.push({ kind: 'broadcast', p }))
    .on('presence', { event: 'join' }, (p) => got1.push({ kind: 'join', p }));
  const ch2 = c2.channel('room', { config: { broadcast: { self: false }, presence: { key: 'two' } } })
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'trips' }, (p) => got2.push({ kind: 'change', p }));
  await subscribed(ch1);
  await subscribed(ch2);

  // A committed change reaches the subscribers of both nodes.
  b.sql(`insert into public.trips (owner, title) values ('${A}', 'Lisbon')`);
  const c1change = await waitFor(got1, (e) => e.kind === 'change', 'the change on node 1');
  const c2change = await waitFor(got2, (e) => e.kind === 'change', 'the change on node 2');
  assert.equal(c1change.p.new.title, 'Lisbon');
  assert.equal(c2change.p.new.title, 'Lisbon');

  // A broadcast sent through node 2 reaches a subscriber on node 1.
  await ch2.send({ type: 'broadcast', event: 'hello', payload: { from: 'node2' } });
  const bc = await waitFor(got1, (e) => e.kind === 'broadcast', 'the broadcast from node 2');
  assert.equal(bc.p.payload.from, 'node2');

  // Presence tracked on node 2 is seen on node 1.
  await ch2.track({ user: 'two' });
  const join = await waitFor(got1, (e) => e.kind === 'join' && e.p.key === 'two', 'presence from node 2');
  assert.equal(join.p.newPresences[0].user, 'two');

  await c1.removeAllChannels();
  await c2.removeAllChannels();
  c1.disconnect();
  c2.disconnect();
});
