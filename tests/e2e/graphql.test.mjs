// /graphql/v1 on examples/saas-foundation (seed 003) through graphql-request, as a signed-in
// supabase-js user and as the service role: row-level security limits what a user reads (own
// profile only, no one else's subscription), nested one-to-one and one-to-many relations come
// in one request, a write the policies refuse fails with Postgres' row-level security error,
// an update filtered onto another user's row touches nothing, and introspection answers.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GraphQLClient, ClientError } from 'graphql-request';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, repoRoot } from './lib/basalt.mjs';

const projectDir = join(repoRoot, 'examples/saas-foundation');
const PASSWORD = 'correct horse battery staple';
// Seeded account with an active 'pro' subscription and three usage counters (supabase/seed.sql).
const MAYA = 'a1b2c3d4-0000-4000-8000-000000000001';

let b;
let alice;
const run = Date.now();

before(async () => {
  b = await startBasalt({ projectDir });
  const supabase = createClient(b.url, b.anonKey, { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } });
  const r = await supabase.auth.signUp({ email: `alice-gql-${run}@saas-foundation.test`, password: PASSWORD });
  assert.equal(r.error, null, JSON.stringify(r.error));
  alice = { id: r.data.user.id, token: r.data.session.access_token };
});
after(async () => { await b?.stop(); });

const gql = (token) => new GraphQLClient(`${b.url}/graphql/v1`, {
  headers: { apikey: b.anonKey, Authorization: `Bearer ${token}` },
});

test('a signed-in user reads only their own rows', async () => {
  const data = await gql(alice.token).request(`{
    usersCollection { edges { node { id email } } }
    subscriptionsCollection { edges { node { plan } } }
  }`);
  assert.deepEqual(data.usersCollection.edges.map((e) => e.node.id), [alice.id]);
  assert.deepEqual(data.subscriptionsCollection.edges, [], 'no subscription of theirs; Maya\'s is hidden');
});

test('the service role reads across users, relations nested in one request', async () => {
  const data = await gql(b.serviceKey).request(`query One($id: UUID!) {
    usersCollection(filter: {id: {eq: $id}}) {
      edges { node { id nodeId subscriptions { plan status } usage_countersCollection(orderBy: [{metric: AscNullsLast}]) { edges { node { metric count } } } } }
    }
  }`, { id: MAYA });
  const [maya] = data.usersCollection.edges.map((e) => e.node);
  assert.equal(maya.id, MAYA);
  assert.deepEqual(maya.subscriptions, { plan: 'pro', status: 'active' });
  assert.deepEqual(maya.usage_countersCollection.edges.map((e) => e.node.metric), ['agent_runs', 'api_calls', 'storage_mb']);
  // nodeId round-trips through node(nodeId:).
  const node = await gql(b.serviceKey).request(`query N($n: ID!) { node(nodeId: $n) { nodeId ... on users { id } } }`, { n: maya.nodeId });
  assert.equal(node.node.id, MAYA);
  // The signed-in user cannot reach Maya through node() either.
  const hidden = await gql(alice.token).request(`query N($n: ID!) { node(nodeId: $n) { nodeId } }`, { n: maya.nodeId });
  assert.equal(hidden.node, null);
});

test('writes the policies refuse fail or touch nothing', async () => {
  await assert.rejects(
    gql(alice.token).request(`mutation M($u: UUID!) {
      insertIntosubscriptionsCollection(objects: [{user_id: $u, status: "active", plan: "pro"}]) { affectedCount }
    }`, { u: alice.id }),
    (e) => e instanceof ClientError && /row-level security/.test(e.response.errors[0].message),
  );
  const upd = await gql(alice.token).request(`mutation M($id: UUID!) {
    updateusersCollection(set: {email: "stolen@x.test"}, filter: {id: {eq: $id}}) { affectedCount }
  }`, { id: MAYA });
  assert.equal(upd.updateusersCollection.affectedCount, 0);
  // Their own row they may update.
  const own = await gql(alice.token).request(`mutation M($id: UUID!) {
    updateusersCollection(set: {email: "alice-new@x.test"}, filter: {id: {eq: $id}}) { affectedCount records { email } }
  }`, { id: alice.id });
  assert.deepEqual(own.updateusersCollection, { affectedCount: 1, records: [{ email: 'alice-new@x.test' }] });
});

test('introspection answers, and a GET request works', async () => {
  const data = await gql(alice.token).request(`{ __schema { queryType { name } types { name } } }`);
  assert.equal(data.__schema.queryType.name, 'Query');
  const names = data.__schema.types.map((t) => t.name);
  for (const n of ['users', 'usersConnection', 'usersFilter', 'subscriptionsOrderBy', 'PageInfo', 'UUID', 'Datetime', 'Cursor']) {
    assert.ok(names.includes(n), `${n} in the schema`);
  }
  const q = encodeURIComponent('{ usersCollection { edges { node { id } } } }');
  const r = await fetch(`${b.url}/graphql/v1?query=${q}`, { headers: { apikey: b.anonKey, Authorization: `Bearer ${alice.token}` } });
  assert.equal(r.status, 200);
  assert.deepEqual((await r.json()).data.usersCollection.edges, [{ node: { id: alice.id } }]);
});

test('aggregates, computed fields and primary-key queries, row-level security deciding', async () => {
  b.sql(`comment on table public.usage_counters is e'@graphql({"aggregate": {"enabled": true}})';
    create or replace function public.email_domain(u public.users) returns text
      language sql stable as $$ select split_part(u.email, '@', 2) $$;`);
  const query = `query A($id: UUID!) {
    usersByPk(id: $id) { email_domain }
    usage_countersCollection(filter: {user_id: {eq: $id}}) { aggregate { count sum { count } } }
  }`;
  // The DDL reloads the schema; wait for the new fields.
  let data;
  for (let i = 0; i < 50; i++) {
    try { data = await gql(b.serviceKey).request(query, { id: MAYA }); break; } catch (e) {
      if (i === 49) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const [[count, sum]] = b.sql(`select count(*), sum(count) from public.usage_counters where user_id = '${MAYA}'`);
  const [[email]] = b.sql(`select email from public.users where id = '${MAYA}'`);
  assert.equal(data.usersByPk.email_domain, email.split('@')[1]);
  assert.equal(data.usage_countersCollection.aggregate.count, Number(count));
  assert.equal(Number(data.usage_countersCollection.aggregate.sum.count), Number(sum));
  // Alice sees none of Maya's counters, and not Maya's row.
  const hers = await gql(alice.token).request(query, { id: MAYA });
  assert.equal(hers.usersByPk, null);
  assert.deepEqual(hers.usage_countersCollection.aggregate, { count: 0, sum: { count: null } });
});
