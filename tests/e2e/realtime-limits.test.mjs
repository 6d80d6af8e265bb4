// Realtime's project limits as supabase-js sees them, with Supabase Realtime's TENANT_MAX_*
// variables set low: over the message rate a receiving channel gets the system error and is
// closed; over the join rate a subscribe fails with the reason; a sixth presence push within the
// client window (the default 5 per 30 s) closes the channel.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import ws from 'ws';
import { startBasalt } from './lib/basalt.mjs';

let b;
before(async () => {
  b = await startBasalt({
    env: { TENANT_MAX_EVENTS_PER_SECOND: '1', TENANT_MAX_JOINS_PER_SECOND: '1' },
  });
});
after(async () => { await b?.stop(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clients = [];
after(() => { for (const c of clients) c.realtime.disconnect(); });

function client() {
  const c = b.client(b.anonKey, { realtime: { transport: ws, params: { eventsPerSecond: 1000 } } });
  clients.push(c);
  return c;
}

function subscribe(channel) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('TIMED_OUT'), 10000);
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') { clearTimeout(timer); resolve(status); }
      if (status === 'CHANNEL_ERROR') { clearTimeout(timer); resolve(`${status}: ${err?.message}`); }
    });
  });
}

test('a sixth presence push within 30 s closes the channel with the client presence limit', async () => {
  const ch = client().channel('lobby', { config: { presence: { key: 'me' } } });
  const system = [];
  const states = [];
  ch.on('presence', { event: 'sync' }, () => {});
  ch.on('system', {}, (m) => system.push(m));
  await new Promise((resolve) => ch.subscribe((s) => { states.push(s); if (s === 'SUBSCRIBED') resolve(); }));
  for (let n = 0; n < 5; n++) assert.equal(await ch.track({ n }), 'ok');
  ch.track({ n: 5 });
  for (let i = 0; i < 50 && system.length === 0; i++) await sleep(100);
  assert.deepEqual(system, [{ extension: 'system', status: 'error', message: 'Client presence rate limit exceeded', channel: 'lobby' }]);
  await sleep(200);
  assert.equal(states.at(-1), 'CLOSED');
});

test('over the message rate, a channel receiving a broadcast gets the system error and closes', async () => {
  const a = client().channel('room');
  const bc = client().channel('room');
  const got = [];
  const system = [];
  const states = [];
  bc.on('broadcast', { event: 'e' }, (m) => got.push(m.payload.n));
  bc.on('system', {}, (m) => system.push(m));
  assert.equal(await subscribe(a), 'SUBSCRIBED');
  await new Promise((resolve) => bc.subscribe((s) => { states.push(s); if (s === 'SUBSCRIBED') resolve(); }));
  // 40 sends and 40 deliveries: over 1 message/s even averaged over the whole minute.
  for (let n = 0; n < 40; n++) assert.equal(await a.send({ type: 'broadcast', event: 'e', payload: { n } }), 'ok');
  for (let i = 0; i < 26 && system.length === 0; i++) {
    await sleep(500);
    await a.send({ type: 'broadcast', event: 'e', payload: { n: 100 + i } });
  }
  assert.deepEqual(system[0], { extension: 'system', status: 'error', message: 'Too many messages per second', channel: 'room' });
  await sleep(300);
  assert.equal(states.at(-1), 'CLOSED');
  // The message that found the limit was delivered before the channel closed.
  assert.ok(got.length > 40 && got.at(-1) >= 100, JSON.stringify(got));
  // Broadcasting over HTTP (a channel never subscribed) is refused too.
  const rest = client().channel('room');
  assert.equal(await rest.send({ type: 'broadcast', event: 'e', payload: {} }), 'error');
});

test('over the join rate, subscribe fails with ClientJoinRateLimitReached', async () => {
  const c = client();
  assert.equal(await subscribe(c.channel('watcher-0')), 'SUBSCRIBED');
  const many = client();
  for (let i = 0; i < 70; i++) await subscribe(many.channel(`many-${i}`));
  let outcome;
  for (let i = 1; i < 14; i++) {
    outcome = await subscribe(c.channel(`watcher-${i}`));
    if (outcome !== 'SUBSCRIBED') break;
    await sleep(500);
  }
  assert.equal(outcome, 'CHANNEL_ERROR: ClientJoinRateLimitReached: Too many joins per second');
});
