// `[realtime] enabled = false` in supabase/config.toml, as the Supabase CLI writes it: the
// project serves no realtime (no route, no replication slot) while the other APIs work.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startBasalt } from './lib/basalt.mjs';

let b;
before(async () => {
  b = await startBasalt({ config: '[realtime]\nenabled = false\n' });
});
after(async () => { await b?.stop(); });

test('realtime disabled: /realtime/v1 is not served and no replication slot is held', async () => {
  const res = await fetch(`${b.url}/realtime/v1/api/broadcast`, {
    method: 'POST',
    headers: { apikey: b.anonKey, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ topic: 't', event: 'e', payload: {} }] }),
  });
  assert.equal(res.status, 404);
  assert.deepEqual(b.sql('select count(*) from pg_replication_slots'), [['0']]);
  const rest = await fetch(`${b.url}/rest/v1/`, { headers: { apikey: b.anonKey } });
  assert.equal(rest.status, 200);
});
