// REST end to end: the real supabase-js `from(...)` / `rpc(...)` against `basalt start`, with
// RLS allowing some rows and refusing others — selects with embedding, filters, ordering,
// counts, single/maybeSingle, csv, inserts, upserts, updates, deletes, RPC and error bodies.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, createUserRow } from './lib/basalt.mjs';

const ALICE = '11111111-1111-4111-8111-111111111111';
const BOB = '22222222-2222-4222-8222-222222222222';

let b;
before(async () => {
  b = await startBasalt({
    migrations: {
      '0001_todos.sql': `
create table public.lists (id bigint primary key, name text not null);
create table public.todos (
  id bigserial primary key,
  owner uuid not null default auth.uid() references auth.users(id),
  list_id bigint references public.lists(id),
  title text not null unique,
  done boolean not null default false,
  meta jsonb
);
alter table public.lists enable row level security;
create policy "lists readable" on public.lists for select using (true);
alter table public.todos enable row level security;
create policy "own todos" on public.todos for all to authenticated
  using (owner = auth.uid()) with check (owner = auth.uid());
create function public.add(a int, b int) returns int language sql immutable as $$ select a + b $$;
create function public.my_titles() returns setof public.todos language sql stable as
  $$ select * from public.todos order by title $$;
create function public.whoami() returns text language sql stable as $$ select auth.uid()::text $$;
`,
    },
  });
  createUserRow(b, ALICE, 'alice@rest.test');
  createUserRow(b, BOB, 'bob@rest.test');
  b.sql(`insert into public.lists values (1, 'home'), (2, 'work');
         insert into public.todos (owner, list_id, title, done, meta) values
           ('${ALICE}', 1, 'alice: dishes', false, '{"prio": 1}'),
           ('${ALICE}', 2, 'alice: report', true, '{"prio": 2}'),
           ('${BOB}', 1, 'bob: groceries', false, null);`);
});
after(async () => { await b?.stop(); });

/** supabase-js with a user's JWT, or anonymous (Node 20 needs `ws` for realtime). */
function clientFor(sub) {
  const now = Math.floor(Date.now() / 1000);
  const headers = sub
    ? { Authorization: `Bearer ${b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 })}` }
    : {};
  return createClient(b.url, b.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers },
    realtime: { transport: ws },
  });
}

function ok({ data, error }, what) {
  assert.equal(error, null, `${what}: ${JSON.stringify(error)}`);
  return data;
}

test('select with embedding, filters, ordering and RLS', async () => {
  const alice = clientFor(ALICE);
  const rows = ok(await alice.from('todos').select('title, done, lists(name)').order('title', { ascending: false }), 'select');
  assert.deepEqual(rows, [
    { title: 'alice: report', done: true, lists: { name: 'work' } },
    { title: 'alice: dishes', done: false, lists: { name: 'home' } },
  ]);
  const filtered = ok(await alice.from('todos').select('title').eq('done', false).like('title', '%dish%'), 'filters');
  assert.deepEqual(filtered, [{ title: 'alice: dishes' }]);
  const json = ok(await alice.from('todos').select('title, prio:meta->prio').gte('meta->prio', 2), 'json path');
  assert.deepEqual(json, [{ title: 'alice: report', prio: 2 }]);
  const ors = ok(await alice.from('todos').select('title').or('done.eq.true,title.eq.alice: dishes').order('title'), 'or');
  assert.equal(ors.length, 2);
  const inList = ok(await alice.from('todos').select('title').in('title', ['alice: dishes', 'bob: groceries']), 'in');
  assert.deepEqual(inList, [{ title: 'alice: dishes' }], 'bob\'s row is hidden by RLS');
  const embedded = ok(await alice.from('lists').select('name, todos(title)').order('id'), 'one-to-many');
  assert.deepEqual(embedded, [
    { name: 'home', todos: [{ title: 'alice: dishes' }] },
    { name: 'work', todos: [{ title: 'alice: report' }] },
  ]);
  const anon = clientFor(null);
  assert.deepEqual(ok(await anon.from('todos').select('*'), 'anon'), [], 'anon sees no todos');
});

test('counts, head, single, maybeSingle, csv and ranges', async () => {
  const alice = clientFor(ALICE);
  const { count, data } = await alice.from('todos').select('*', { count: 'exact', head: true });
  assert.equal(count, 2);
  assert.equal(data, null);
  const ranged = ok(await alice.from('todos').select('title').order('title').range(1, 1), 'range');
  assert.deepEqual(ranged, [{ title: 'alice: report' }]);
  const one = ok(await alice.from('todos').select('title').eq('done', true).single(), 'single');
  assert.deepEqual(one, { title: 'alice: report' });
  const none = await alice.from('todos').select('title').eq('title', 'nope').single();
  assert.equal(none.error.code, 'PGRST116');
  assert.equal(none.status, 406);
  const maybe = ok(await alice.from('todos').select('title').eq('title', 'nope').maybeSingle(), 'maybeSingle');
  assert.equal(maybe, null);
  const csv = ok(await alice.from('lists').select('id,name').order('id').csv(), 'csv');
  assert.equal(csv, 'id,name\n1,home\n2,work');
});

test('insert, upsert, update and delete follow RLS', async () => {
  const alice = clientFor(ALICE);
  const bob = clientFor(BOB);
  const created = ok(await alice.from('todos').insert({ title: 'alice: new', list_id: 1 }).select('title, owner').single(), 'insert');
  assert.deepEqual(created, { title: 'alice: new', owner: ALICE });
  const forged = await alice.from('todos').insert({ title: 'forged', owner: BOB });
  assert.equal(forged.error.code, '42501');
  assert.equal(forged.status, 403);
  const bulk = ok(await alice.from('todos').insert([{ title: 'alice: a' }, { title: 'alice: b' }]).select('title'), 'bulk');
  assert.equal(bulk.length, 2);
  const dup = await alice.from('todos').insert([{ title: 'alice: c' }, { title: 'alice: a' }]);
  assert.equal(dup.error.code, '23505');
  assert.equal(dup.status, 409);
  assert.deepEqual(ok(await alice.from('todos').select('title').eq('title', 'alice: c'), 'atomic'), [], 'failed bulk insert left no row');
  const up = ok(await alice.from('todos').upsert({ title: 'alice: a', done: true }, { onConflict: 'title' }).select('title, done'), 'upsert');
  assert.deepEqual(up, [{ title: 'alice: a', done: true }]);
  const updated = ok(await alice.from('todos').update({ done: true }).eq('done', false).select('title'), 'update');
  assert.ok(updated.every((r) => r.title.startsWith('alice')));
  const hijack = ok(await bob.from('todos').update({ title: 'hijacked' }).eq('title', 'alice: new').select(), 'bob update');
  assert.deepEqual(hijack, [], 'bob cannot touch alice rows');
  const removed = ok(await alice.from('todos').delete().in('title', ['alice: a', 'alice: b', 'alice: new']).select('title'), 'delete');
  assert.equal(removed.length, 3);
  const bobs = ok(await bob.from('todos').select('title, done'), 'bob rows');
  assert.deepEqual(bobs, [{ title: 'bob: groceries', done: false }]);
});

test('rpc: scalar, setof with filters, GET, claims, errors', async () => {
  const alice = clientFor(ALICE);
  assert.equal(ok(await alice.rpc('add', { a: 2, b: 3 }), 'rpc'), 5);
  assert.equal(ok(await alice.rpc('add', { a: 1, b: 1 }, { get: true }), 'rpc get'), 2);
  const titles = ok(await alice.rpc('my_titles').select('title').like('title', '%report'), 'setof');
  assert.deepEqual(titles, [{ title: 'alice: report' }]);
  assert.equal(ok(await alice.rpc('whoami'), 'claims'), ALICE);
  const missing = await alice.rpc('nope', { x: 1 });
  assert.equal(missing.error.code, 'PGRST202');
  assert.equal(missing.status, 404);
  const bad = await alice.from('nothing').select('*');
  assert.equal(bad.error.code, 'PGRST205');
  const badCol = await alice.from('todos').select('nope');
  assert.equal(badCol.error.code, '42703');
});
