// examples/trip-os through the real supabase-js against `basalt start`: sign-up creates the
// profile; each traveller sees and changes only their own rows; trip collaborators (view/edit)
// get exactly what the design grants; AI, billing and messaging tables are written by the
// service role only; uploads land in the right buckets with the right access; a realtime
// subscription sees a collaborator's change; `basalt db reset` re-creates the project.
import { test, after, before } from 'node:test';
import { ok, q, assertRefused, assertInsertRefused } from './lib/checks.mjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, createUserRow, repoRoot, basaltBin, freePort } from './lib/basalt.mjs';

const projectDir = join(repoRoot, 'examples/trip-os');

// Seeded travellers (supabase/seed.sql).
const MAYA = 'a1111111-1111-4111-8111-111111111111';
const LEO = 'b2222222-2222-4222-8222-222222222222';
const LISBON = 'e0000000-0000-4000-8000-000000000001';

// Travellers created by the tests.
const OWNER = randomUUID();
const EDITOR = randomUUID();
const VIEWER = randomUUID();
const STRANGER = randomUUID();

let b;
before(async () => {
  b = await startBasalt({ projectDir });
  createUserRow(b, OWNER, 'olivia@trip-os.test');
  createUserRow(b, EDITOR, 'ed@trip-os.test');
  createUserRow(b, VIEWER, 'vic@trip-os.test');
  createUserRow(b, STRANGER, 'sam@trip-os.test');
});
after(async () => { await b?.stop(); });

const clientOptions = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } };
/** A client acting as `sub` (REST, storage and realtime all carry the user's JWT). */
function asUser(sub) {
  const now = Math.floor(Date.now() / 1000);
  const token = b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 });
  const c = createClient(b.url, b.anonKey, { realtime: { transport: ws }, accessToken: async () => token });
  // supabase-js hands the accessToken to realtime asynchronously; set it now so that a channel
  // joined right away already carries the user's token.
  c.realtime.setAuth(token);
  return c;
}
const anon = () => createClient(b.url, b.anonKey, clientOptions);
const admin = () => createClient(b.url, b.serviceKey, clientOptions);

const scalar = (sql) => b.sql(sql)[0]?.[0];


/**
 * A user-owned table: the owner's row is invisible to the stranger, who can neither change nor
 * delete it, nor insert a row in the owner's name; the owner can change it.
 */
async function assertOwnerOnly({ table, owner, stranger, id, patch, column, forged }) {
  const o = asUser(owner);
  const s = asUser(stranger);
  const before = scalar(`select ${column}::text from public.${table} where id = ${q(id)}`);
  assert.deepEqual(ok(await s.from(table).select('*').eq('id', id), `${table} stranger select`), [], `${table}: stranger sees the row`);
  assertRefused(await s.from(table).update(patch).eq('id', id).select(), `${table} stranger update`);
  assertRefused(await s.from(table).delete().eq('id', id).select(), `${table} stranger delete`);
  assert.equal(scalar(`select ${column}::text from public.${table} where id = ${q(id)}`), before, `${table}: row changed by stranger`);
  if (forged) assertInsertRefused(await s.from(table).insert(forged), `${table} insert in another user's name`);
  const mine = ok(await o.from(table).update(patch).eq('id', id).select(), `${table} owner update`);
  assert.equal(mine.length, 1, `${table}: owner could not update own row`);
}

async function insertOne(client, table, row) {
  return ok(await client.from(table).insert(row).select().single(), `insert ${table}`);
}

test('sign-up through the auth API creates the profile, preferences and notification preferences', async () => {
  const c = anon();
  const email = `new-${Date.now()}@trip-os.test`;
  const r = await c.auth.signUp({ email, password: 'correct horse battery', options: { data: { full_name: 'Nia Traveller' } } });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.ok(r.data.session, 'autoconfirm gives a session');
  const uid = r.data.user.id;
  const profile = ok(await c.from('profiles').select('id, email, full_name, timezone').single(), 'own profile');
  assert.deepEqual(profile, { id: uid, email, full_name: 'Nia Traveller', timezone: 'UTC' });
  const prefs = ok(await c.from('user_preferences').select('user_id, currency, pace'));
  assert.deepEqual(prefs, [{ user_id: uid, currency: 'USD', pace: 'moderate' }]);
  const notif = ok(await c.from('notification_preferences').select('user_id, whatsapp_enabled'));
  assert.deepEqual(notif, [{ user_id: uid, whatsapp_enabled: false }]);
  // The new user sees no one else's profile.
  assert.equal(ok(await c.from('profiles').select('id')).length, 1);
});

test('creating an auth user (trigger on auth.users) creates profile and preferences', () => {
  for (const id of [OWNER, EDITOR, VIEWER, STRANGER]) {
    assert.equal(scalar(`select count(*) from public.profiles where id = ${q(id)}`), '1');
    assert.equal(scalar(`select count(*) from public.user_preferences where user_id = ${q(id)}`), '1');
    assert.equal(scalar(`select count(*) from public.notification_preferences where user_id = ${q(id)}`), '1');
  }
});

test('anon sees nothing in any trip-os table', async () => {
  const a = anon();
  for (const table of ['profiles', 'trips', 'trip_items', 'places', 'collaborators', 'votes', 'ai_agents', 'ai_messages',
    'subscriptions', 'invoices', 'whatsapp_messages', 'automation_rules']) {
    const r = await a.from(table).select('*');
    if (r.error) assert.equal(r.error.code, '42501', `${table}: ${JSON.stringify(r.error)}`);
    else assert.deepEqual(r.data, [], `${table} visible to anon`);
  }
  assertInsertRefused(await a.from('trips').insert({ user_id: OWNER, title: 'anon trip' }), 'anon insert trip');
});

test('user-owned tables: cross-user reads and writes are refused', async () => {
  const o = asUser(OWNER);
  // profiles and preferences (created by the trigger)
  await assertOwnerOnly({ table: 'profiles', owner: OWNER, stranger: STRANGER, id: OWNER, patch: { full_name: 'Olivia O.' }, column: 'full_name' });
  const prefId = scalar(`select id from public.user_preferences where user_id = ${q(OWNER)}`);
  await assertOwnerOnly({ table: 'user_preferences', owner: OWNER, stranger: STRANGER, id: prefId, patch: { pace: 'packed' }, column: 'pace',
    forged: { user_id: OWNER } });
  const npId = scalar(`select id from public.notification_preferences where user_id = ${q(OWNER)}`);
  await assertOwnerOnly({ table: 'notification_preferences', owner: OWNER, stranger: STRANGER, id: npId, patch: { whatsapp_enabled: true },
    column: 'whatsapp_enabled', forged: { user_id: OWNER } });

  const place = await insertOne(o, 'places', { name: 'Café A Brasileira', category: 'cafe', city: 'Lisbon', country_code: 'PT' });
  assert.equal(place.user_id, OWNER, 'user_id defaults to auth.uid()');
  await assertOwnerOnly({ table: 'places', owner: OWNER, stranger: STRANGER, id: place.id, patch: { name: 'Renamed' }, column: 'name',
    forged: { user_id: OWNER, name: 'forged' } });

  const trip = await insertOne(o, 'trips', { title: 'Solo Kyoto', destination: 'Kyoto', start_date: '2025-10-01', end_date: '2025-10-08' });
  assert.equal(trip.status, 'planning');
  await assertOwnerOnly({ table: 'trips', owner: OWNER, stranger: STRANGER, id: trip.id, patch: { title: 'Kyoto!' }, column: 'title',
    forged: { user_id: OWNER, title: 'forged' } });

  const item = await insertOne(o, 'trip_items', { trip_id: trip.id, title: 'Fushimi Inari at dawn', day_number: 1 });
  await assertOwnerOnly({ table: 'trip_items', owner: OWNER, stranger: STRANGER, id: item.id, patch: { title: 'Inari' }, column: 'title',
    forged: { trip_id: trip.id, title: 'forged', created_by: STRANGER } });

  const coll = await insertOne(o, 'collections', { name: 'Kyoto coffee' });
  await assertOwnerOnly({ table: 'collections', owner: OWNER, stranger: STRANGER, id: coll.id, patch: { name: 'Coffee' }, column: 'name',
    forged: { user_id: OWNER, name: 'forged' } });
  const saved = await insertOne(o, 'saved_places', { place_id: place.id, collection_id: coll.id, category: 'cafe' });
  await assertOwnerOnly({ table: 'saved_places', owner: OWNER, stranger: STRANGER, id: saved.id, patch: { notes: 'best bica' }, column: 'notes',
    forged: { user_id: OWNER, place_id: place.id } });

  const tag = await insertOne(o, 'tags', { name: 'solo' });
  await assertOwnerOnly({ table: 'tags', owner: OWNER, stranger: STRANGER, id: tag.id, patch: { color: '#000' }, column: 'color',
    forged: { user_id: OWNER, name: 'forged' } });
  const tt = await insertOne(o, 'trip_tags', { trip_id: trip.id, tag_id: tag.id });
  assert.deepEqual(ok(await asUser(STRANGER).from('trip_tags').select('*').eq('id', tt.id)), []);
  assertRefused(await asUser(STRANGER).from('trip_tags').delete().eq('id', tt.id).select(), 'trip_tags stranger delete');
  const strangerTag = await insertOne(asUser(STRANGER), 'tags', { name: 'mine' });
  assertInsertRefused(await asUser(STRANGER).from('trip_tags').insert({ trip_id: trip.id, tag_id: strangerTag.id }), 'tag a trip the stranger cannot see');

  const contact = await insertOne(o, 'whatsapp_contacts', { user_id: OWNER, phone_e164: '+14155550100', opted_in: true });
  await assertOwnerOnly({ table: 'whatsapp_contacts', owner: OWNER, stranger: STRANGER, id: contact.id, patch: { opted_in: false },
    column: 'opted_in', forged: { user_id: OWNER, phone_e164: '+14155550199' } });
  // Verification is the webhook's job.
  assertRefused(await o.from('whatsapp_contacts').update({ verified_at: new Date().toISOString() }).eq('id', contact.id).select(), 'self-verify');

  const rule = await insertOne(o, 'automation_rules', { trip_id: trip.id, name: 'Leave reminder', trigger_type: 'days_before_trip',
    trigger_config: { days: 1 }, action: 'whatsapp_message' });
  await assertOwnerOnly({ table: 'automation_rules', owner: OWNER, stranger: STRANGER, id: rule.id, patch: { is_enabled: false },
    column: 'is_enabled', forged: { user_id: OWNER, name: 'forged', trigger_type: 'daily_digest', action: 'email' } });
  // A rule on someone else's trip is refused.
  assertInsertRefused(await asUser(STRANGER).from('automation_rules').insert({ trip_id: trip.id, name: 'spy', trigger_type: 'daily_digest',
    action: 'email' }), 'rule on a trip the stranger cannot edit');

  // The owner deletes their own rows.
  ok(await o.from('trips').delete().eq('id', trip.id), 'owner deletes trip');
  assert.equal(scalar(`select count(*) from public.trip_items where id = ${q(item.id)}`), '0', 'items go with the trip');
});

let sharedTrip;
let sharedItem;

test('collaboration: invitations, view and edit permissions, owner-only delete, ownership stays put', async () => {
  const o = asUser(OWNER);
  const ed = asUser(EDITOR);
  const vic = asUser(VIEWER);
  const sam = asUser(STRANGER);
  sharedTrip = await insertOne(o, 'trips', { title: 'Iceland ring road', destination: 'Iceland', start_date: '2025-08-01', end_date: '2025-08-10' });
  sharedItem = await insertOne(o, 'trip_items', { trip_id: sharedTrip.id, title: 'Blue Lagoon', day_number: 1, order_index: 0 });

  // Only the owner invites, and only as pending.
  assertInsertRefused(await sam.from('collaborators').insert({ trip_id: sharedTrip.id, user_id: STRANGER, permission: 'edit' }), 'self-invite');
  assertInsertRefused(await o.from('collaborators').insert({ trip_id: sharedTrip.id, user_id: EDITOR, permission: 'edit', status: 'accepted' }),
    'owner cannot mark an invitation accepted');
  const edInvite = await insertOne(o, 'collaborators', { trip_id: sharedTrip.id, user_id: EDITOR, permission: 'edit' });
  const vicInvite = await insertOne(o, 'collaborators', { trip_id: sharedTrip.id, user_id: VIEWER, permission: 'view' });
  assert.equal(edInvite.status, 'pending');
  assert.equal(edInvite.invited_by, OWNER);

  // A pending invitation grants nothing but the invitation itself.
  assert.deepEqual(ok(await ed.from('trips').select('id').eq('id', sharedTrip.id)), []);
  assert.deepEqual(ok(await ed.from('collaborators').select('id, status').eq('trip_id', sharedTrip.id)), [{ id: edInvite.id, status: 'pending' }]);
  // The invitee cannot accept by writing the row: acceptance is the accept-invitation function (service role).
  assertRefused(await ed.from('collaborators').update({ status: 'accepted' }).eq('id', edInvite.id).select(), 'self-accept');
  const svc = admin();
  ok(await svc.from('collaborators').update({ status: 'accepted', accepted_at: new Date().toISOString() })
    .in('id', [edInvite.id, vicInvite.id]), 'service role accepts');

  // Viewer: reads trip, items, collaborators and the owner's profile; cannot change anything.
  assert.deepEqual(ok(await vic.from('trips').select('id, title').eq('id', sharedTrip.id)), [{ id: sharedTrip.id, title: 'Iceland ring road' }]);
  assert.deepEqual(ok(await vic.from('trip_items').select('title').eq('trip_id', sharedTrip.id)), [{ title: 'Blue Lagoon' }]);
  assert.equal(ok(await vic.from('collaborators').select('user_id').eq('trip_id', sharedTrip.id)).length, 2);
  assert.deepEqual(ok(await vic.from('profiles').select('id').eq('id', OWNER)), [{ id: OWNER }]);
  assertRefused(await vic.from('trips').update({ title: 'viewer edit' }).eq('id', sharedTrip.id).select(), 'viewer updates trip');
  assertRefused(await vic.from('trip_items').update({ title: 'viewer edit' }).eq('id', sharedItem.id).select(), 'viewer updates item');
  assertInsertRefused(await vic.from('trip_items').insert({ trip_id: sharedTrip.id, title: 'viewer item' }), 'viewer adds item');
  assertRefused(await vic.from('collaborators').update({ permission: 'edit' }).eq('id', vicInvite.id).select(), 'viewer upgrades self');
  assert.equal(scalar(`select permission from public.collaborators where id = ${q(vicInvite.id)}`), 'view');

  // Editor: changes the trip and its items, adds items, but does not delete and cannot take ownership.
  const upd = ok(await ed.from('trips').update({ title: 'Iceland ring road (final)' }).eq('id', sharedTrip.id).select('title'));
  assert.deepEqual(upd, [{ title: 'Iceland ring road (final)' }]);
  ok(await ed.from('trip_items').update({ notes: 'book ahead' }).eq('id', sharedItem.id), 'editor updates item');
  const edItem = await insertOne(ed, 'trip_items', { trip_id: sharedTrip.id, title: 'Jökulsárlón', day_number: 4 });
  assert.equal(edItem.created_by, EDITOR);
  const steal = await ed.from('trips').update({ user_id: EDITOR }).eq('id', sharedTrip.id).select();
  assert.ok(steal.error, 'changing the owner must fail');
  assert.equal(steal.error.code, '42501');
  assert.equal(scalar(`select user_id from public.trips where id = ${q(sharedTrip.id)}`), OWNER);
  assertRefused(await ed.from('trips').delete().eq('id', sharedTrip.id).select(), 'editor deletes trip');
  assertRefused(await ed.from('trip_items').delete().eq('id', sharedItem.id).select(), 'editor deletes item');
  assertRefused(await ed.from('collaborators').update({ permission: 'view' }).eq('id', vicInvite.id).select(), 'editor changes permissions');
  assert.equal(scalar(`select count(*) from public.trips where id = ${q(sharedTrip.id)}`), '1');

  // Stranger: still nothing.
  assert.deepEqual(ok(await sam.from('trips').select('id').eq('id', sharedTrip.id)), []);
  assert.deepEqual(ok(await sam.from('trip_items').select('id').eq('trip_id', sharedTrip.id)), []);
  assert.deepEqual(ok(await sam.from('collaborators').select('id').eq('trip_id', sharedTrip.id)), []);
  assert.deepEqual(ok(await sam.from('profiles').select('id').eq('id', OWNER)), []);
  assertRefused(await sam.from('trip_items').update({ title: 'x' }).eq('id', sharedItem.id).select(), 'stranger updates item');
  assertRefused(await sam.from('collaborators').update({ permission: 'edit' }).eq('id', vicInvite.id).select(), 'stranger changes a permission');
  assertRefused(await sam.from('collaborators').delete().eq('id', edInvite.id).select(), 'stranger removes a collaborator');
  assert.equal(scalar(`select count(*) from public.collaborators where trip_id = ${q(sharedTrip.id)}`), '2');

  // Collections attached to the trip are shared with its members.
  const coll = await insertOne(o, 'collections', { trip_id: sharedTrip.id, name: 'Hot springs' });
  assert.deepEqual(ok(await vic.from('collections').select('name').eq('id', coll.id)), [{ name: 'Hot springs' }]);
  assert.deepEqual(ok(await sam.from('collections').select('name').eq('id', coll.id)), []);
  ok(await ed.from('collections').update({ description: 'bring towels' }).eq('id', coll.id), 'editor updates shared collection');
  assertRefused(await vic.from('collections').update({ description: 'viewer' }).eq('id', coll.id).select(), 'viewer updates collection');
  assertRefused(await ed.from('collections').delete().eq('id', coll.id).select(), 'editor deletes collection');

  // The owner changes a permission; the owner removes; a collaborator may leave.
  ok(await o.from('collaborators').update({ permission: 'edit' }).eq('id', vicInvite.id), 'owner upgrades viewer');
  ok(await vic.from('trip_items').update({ notes: 'now I can' }).eq('id', sharedItem.id), 'upgraded viewer edits');
  ok(await o.from('collaborators').update({ permission: 'view' }).eq('id', vicInvite.id), 'owner downgrades');
});

test('votes: trip members vote as themselves and see each other, strangers cannot', async () => {
  const ed = asUser(EDITOR);
  const vic = asUser(VIEWER);
  const sam = asUser(STRANGER);
  const v1 = await insertOne(ed, 'votes', { trip_id: sharedTrip.id, trip_item_id: sharedItem.id, value: 1 });
  await insertOne(vic, 'votes', { trip_id: sharedTrip.id, trip_item_id: sharedItem.id, value: -1 });
  assertInsertRefused(await vic.from('votes').insert({ trip_id: sharedTrip.id, trip_item_id: sharedItem.id, value: 1, user_id: OWNER }),
    'vote in the owner\'s name');
  assertInsertRefused(await sam.from('votes').insert({ trip_id: sharedTrip.id, trip_item_id: sharedItem.id, value: 1 }), 'stranger votes');
  const all = ok(await asUser(OWNER).from('votes').select('user_id, value').eq('trip_item_id', sharedItem.id).order('value'));
  assert.deepEqual(all, [{ user_id: VIEWER, value: -1 }, { user_id: EDITOR, value: 1 }]);
  assert.deepEqual(ok(await sam.from('votes').select('id').eq('trip_id', sharedTrip.id)), []);
  assertRefused(await vic.from('votes').update({ value: -1 }).eq('id', v1.id).select(), 'change another member\'s vote');
  assertRefused(await vic.from('votes').delete().eq('id', v1.id).select(), 'withdraw another member\'s vote');
  ok(await ed.from('votes').update({ value: -1 }).eq('id', v1.id), 'change own vote');
  assert.equal(scalar(`select value from public.votes where id = ${q(v1.id)}`), '-1');
});

test('AI runs, messages and token usage: service role writes, users read their own, trip members read the trip\'s messages', async () => {
  const o = asUser(OWNER);
  const sam = asUser(STRANGER);
  const svc = admin();
  const agents = ok(await o.from('ai_agents').select('slug').order('slug'));
  assert.deepEqual(agents.map((a) => a.slug), ['itinerary-optimizer', 'place-classifier', 'trip-planner', 'trip-summarizer']);
  const agentId = agents.length && scalar(`select id from public.ai_agents where slug = 'trip-planner'`);

  // Clients cannot write any of these tables.
  assertInsertRefused(await o.from('ai_runs').insert({ user_id: OWNER, agent_id: agentId }), 'client creates a run');
  assertInsertRefused(await o.from('ai_agents').insert({ slug: 'x', name: 'x', model: 'x', system_prompt: 'x' }), 'client creates an agent');
  assertInsertRefused(await o.from('token_usage').insert({ user_id: OWNER, model: 'x', prompt_tokens: 1 }), 'client records usage');

  // The run-ai-agent function (service role) records a run on the shared trip.
  const run = ok(await svc.from('ai_runs').insert({ user_id: OWNER, agent_id: agentId, trip_id: sharedTrip.id, status: 'running',
    input: { prompt: 'plan day 2' } }).select().single());
  ok(await svc.from('ai_messages').insert([
    { run_id: run.id, user_id: OWNER, trip_id: sharedTrip.id, role: 'user', content: 'Plan day 2', sequence: 0 },
    { run_id: run.id, user_id: OWNER, trip_id: sharedTrip.id, role: 'assistant', content: 'Golden Circle loop', sequence: 1 },
  ]));
  ok(await svc.from('token_usage').insert({ user_id: OWNER, run_id: run.id, model: 'gpt-4o-mini', prompt_tokens: 120, completion_tokens: 80,
    cost_usd: 0.0001 }));
  ok(await svc.from('ai_runs').update({ status: 'succeeded' }).eq('id', run.id));

  assert.deepEqual(ok(await o.from('ai_runs').select('id, status').eq('id', run.id)), [{ id: run.id, status: 'succeeded' }]);
  assertRefused(await o.from('ai_runs').update({ status: 'failed' }).eq('id', run.id).select(), 'client updates its run');
  assertRefused(await o.from('ai_runs').delete().eq('id', run.id).select(), 'client deletes its run');
  assert.deepEqual(ok(await o.from('token_usage').select('total_tokens').eq('run_id', run.id)), [{ total_tokens: 200 }]);
  // Trip members read the trip's AI conversation; strangers read nothing.
  const viewerMsgs = ok(await asUser(VIEWER).from('ai_messages').select('content').eq('run_id', run.id).order('sequence'));
  assert.deepEqual(viewerMsgs.map((m) => m.content), ['Plan day 2', 'Golden Circle loop']);
  assert.deepEqual(ok(await asUser(VIEWER).from('ai_runs').select('id').eq('id', run.id)), [], 'runs stay private to their user');
  assert.deepEqual(ok(await sam.from('ai_messages').select('id').eq('run_id', run.id)), []);
  assert.deepEqual(ok(await sam.from('token_usage').select('id').eq('run_id', run.id)), []);

  // AI memory: service writes, the user may read and forget, others see nothing.
  const mem = ok(await svc.from('ai_memory').insert({ user_id: OWNER, trip_id: sharedTrip.id, key: 'likes', content: { food: 'lamb soup' } })
    .select().single());
  assert.deepEqual(ok(await sam.from('ai_memory').select('id').eq('id', mem.id)), []);
  assertRefused(await sam.from('ai_memory').delete().eq('id', mem.id).select(), 'stranger forgets owner memory');
  assertRefused(await o.from('ai_memory').update({ content: { food: 'none' } }).eq('id', mem.id).select(), 'client rewrites memory');
  ok(await o.from('ai_memory').delete().eq('id', mem.id), 'owner forgets');
  assert.equal(scalar(`select count(*) from public.ai_memory where id = ${q(mem.id)}`), '0');
});

test('billing: Stripe tables are written by the service role and read by their user only', async () => {
  const o = asUser(OWNER);
  const sam = asUser(STRANGER);
  const svc = admin();
  const start = new Date(Date.now() - 86400000).toISOString();
  const end = new Date(Date.now() + 29 * 86400000).toISOString();
  ok(await svc.from('stripe_customers').insert({ user_id: OWNER, stripe_customer_id: 'cus_test_olivia' }));
  const sub = ok(await svc.from('subscriptions').insert({ user_id: OWNER, stripe_subscription_id: 'sub_test_olivia', stripe_price_id: 'price_pro',
    plan: 'pro', status: 'active', current_period_start: start, current_period_end: end }).select().single());
  ok(await svc.from('usage_limits').insert({ user_id: OWNER, period_start: start, period_end: end, ai_runs_limit: 50, ai_runs_used: 12 }));
  ok(await svc.from('billing_events').insert({ user_id: OWNER, stripe_event_id: 'evt_test_1', type: 'invoice.paid', payload: { ok: true } }));
  ok(await svc.from('invoices').insert({ user_id: OWNER, subscription_id: sub.id, stripe_invoice_id: 'in_test_1', amount_due: 19, amount_paid: 19,
    status: 'paid' }));

  for (const table of ['stripe_customers', 'subscriptions', 'usage_limits', 'billing_events', 'invoices']) {
    assert.equal(ok(await o.from(table).select('id')).length, 1, `${table}: owner reads own row`);
    assert.deepEqual(ok(await sam.from(table).select('id').eq('user_id', OWNER)), [], `${table}: stranger reads owner's row`);
  }
  assertInsertRefused(await o.from('subscriptions').insert({ user_id: OWNER, stripe_subscription_id: 'sub_free', stripe_price_id: 'p',
    plan: 'pro', status: 'active' }), 'client grants itself a subscription');
  assertRefused(await o.from('usage_limits').update({ ai_runs_used: 0 }).eq('user_id', OWNER).select(), 'client resets usage');
  assertRefused(await o.from('subscriptions').update({ plan: 'pro' }).eq('id', sub.id).select(), 'client changes plan');
  assertRefused(await o.from('invoices').delete().eq('user_id', OWNER).select(), 'client deletes invoices');
  assert.equal(scalar(`select ai_runs_used from public.usage_limits where user_id = ${q(OWNER)}`), '12');

  assert.equal(ok(await o.rpc('remaining_ai_runs')), 38);
  assert.equal(ok(await sam.rpc('remaining_ai_runs')), 0);
});

test('WhatsApp messages, scheduled jobs and delivery logs: service writes, users read their own', async () => {
  const o = asUser(OWNER);
  const sam = asUser(STRANGER);
  const svc = admin();
  const msg = ok(await svc.from('whatsapp_messages').insert({ user_id: OWNER, trip_id: sharedTrip.id, direction: 'outbound',
    template_name: 'trip_reminder', body: 'Iceland in 3 days!', status: 'sent', wa_message_id: 'wamid.test1' }).select().single());
  const job = ok(await svc.from('scheduled_jobs').insert({ user_id: OWNER, trip_id: sharedTrip.id, job_type: 'reminder',
    run_at: new Date(Date.now() + 3600000).toISOString() }).select().single());
  ok(await svc.from('delivery_logs').insert({ user_id: OWNER, message_id: msg.id, job_id: job.id, channel: 'whatsapp', status: 'sent' }));

  for (const [table, id] of [['whatsapp_messages', msg.id], ['scheduled_jobs', job.id]]) {
    assert.equal(ok(await o.from(table).select('id').eq('id', id)).length, 1, `${table}: owner reads`);
    assert.deepEqual(ok(await sam.from(table).select('id').eq('id', id)), [], `${table}: stranger reads`);
    assertRefused(await o.from(table).update({ status: 'failed' }).eq('id', id).select(), `${table}: client update`);
    assertRefused(await o.from(table).delete().eq('id', id).select(), `${table}: client delete`);
  }
  assert.equal(ok(await o.from('delivery_logs').select('id').eq('message_id', msg.id)).length, 1);
  assert.deepEqual(ok(await sam.from('delivery_logs').select('id').eq('message_id', msg.id)), []);
  assertInsertRefused(await o.from('whatsapp_messages').insert({ user_id: OWNER, direction: 'outbound', body: 'spoof' }), 'client sends');
  assertInsertRefused(await o.from('scheduled_jobs').insert({ user_id: OWNER, job_type: 'x', run_at: new Date().toISOString() }), 'client schedules');
  assertInsertRefused(await o.from('delivery_logs').insert({ user_id: OWNER, channel: 'email', status: 'sent' }), 'client logs delivery');
});

const png = () => new Blob([Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')], { type: 'image/png' });

test('storage: trip-images follow trip membership, place-photos are private, user-avatars are public', async () => {
  const o = asUser(OWNER);
  const ed = asUser(EDITOR);
  const vic = asUser(VIEWER);
  const sam = asUser(STRANGER);

  // trip-images: the owner and editors upload into the trip's folder; members read; others nothing.
  const cover = `${sharedTrip.id}/cover.png`;
  ok(await o.storage.from('trip-images').upload(cover, png(), { contentType: 'image/png' }), 'owner uploads cover');
  ok(await ed.storage.from('trip-images').upload(`${sharedTrip.id}/day4.png`, png(), { contentType: 'image/png' }), 'editor uploads');
  assert.ok((await vic.storage.from('trip-images').upload(`${sharedTrip.id}/viewer.png`, png(), { contentType: 'image/png' })).error,
    'viewer upload must be refused');
  assert.ok((await sam.storage.from('trip-images').upload(`${sharedTrip.id}/sam.png`, png(), { contentType: 'image/png' })).error,
    'stranger upload must be refused');
  assert.ok((await o.storage.from('trip-images').upload('not-a-trip/x.png', png(), { contentType: 'image/png' })).error,
    'upload outside a trip folder must be refused');
  const dl = ok(await vic.storage.from('trip-images').download(cover), 'viewer downloads');
  assert.equal(dl.size, png().size);
  assert.ok((await sam.storage.from('trip-images').download(cover)).error, 'stranger download must be refused');
  assert.ok((await anon().storage.from('trip-images').download(cover)).error, 'anon download must be refused');
  const listed = ok(await vic.storage.from('trip-images').list(sharedTrip.id));
  assert.deepEqual(listed.map((f) => f.name).sort(), ['cover.png', 'day4.png']);
  assert.deepEqual(ok(await sam.storage.from('trip-images').list(sharedTrip.id)), []);
  assert.ok((await vic.storage.from('trip-images').remove([cover])).data?.length !== 1, 'viewer cannot delete');
  assert.equal(scalar(`select count(*) from storage.objects where bucket_id = 'trip-images' and name = ${q(cover)}`), '1');
  assert.equal(scalar(`select owner_id from storage.objects where bucket_id = 'trip-images' and name = ${q(`${sharedTrip.id}/day4.png`)}`), EDITOR);

  // place-photos: only in one's own folder, only for oneself.
  const mine = `${OWNER}/cafe.png`;
  ok(await o.storage.from('place-photos').upload(mine, png(), { contentType: 'image/png' }), 'owner uploads place photo');
  assert.ok((await sam.storage.from('place-photos').upload(`${OWNER}/intruder.png`, png(), { contentType: 'image/png' })).error,
    'upload into another user\'s folder must be refused');
  assert.ok((await sam.storage.from('place-photos').download(mine)).error, 'stranger downloads place photo');
  assert.ok((await ed.storage.from('place-photos').download(mine)).error, 'collaborator downloads private place photo');
  ok(await o.storage.from('place-photos').download(mine), 'owner downloads place photo');

  // user-avatars: public read, write only one's own folder; mime types enforced by the bucket.
  const avatar = `${OWNER}/avatar.png`;
  ok(await o.storage.from('user-avatars').upload(avatar, png(), { contentType: 'image/png', upsert: true }), 'avatar upload');
  assert.ok((await sam.storage.from('user-avatars').upload(`${OWNER}/avatar.png`, png(), { contentType: 'image/png', upsert: true })).error,
    'overwriting another user\'s avatar must be refused');
  assert.ok((await o.storage.from('user-avatars').upload(`${OWNER}/notes.txt`, new Blob(['x'], { type: 'text/plain' }), { contentType: 'text/plain' })).error,
    'a text file is not an avatar');
  const { data: { publicUrl } } = anon().storage.from('user-avatars').getPublicUrl(avatar);
  const pub = await fetch(publicUrl);
  assert.equal(pub.status, 200);
  assert.equal((await pub.arrayBuffer()).byteLength, png().size);
  ok(await anon().storage.from('user-avatars').download(avatar), 'anon downloads avatar');
  ok(await o.from('profiles').update({ avatar_url: publicUrl }).eq('id', OWNER), 'profile points at the avatar');
});

function subscribed(channel) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('subscribe timed out')), 15000);
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') { clearTimeout(timer); resolve(); }
      if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') { clearTimeout(timer); reject(new Error(`${status}: ${err?.message}`)); }
    });
  });
}
function cdcReady(channel) {
  return new Promise((resolve) => channel.on('system', {}, (m) => { if (m.extension === 'postgres_changes') resolve(m); }));
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (pred()) return true; await sleep(50); }
  return pred();
}

test('realtime: the owner sees a collaborator\'s itinerary change live; a stranger does not', async () => {
  const o = asUser(OWNER);
  const sam = asUser(STRANGER);
  const seenByOwner = [];
  const seenByStranger = [];
  const chO = o.channel(`trip-${sharedTrip.id}`)
    .on('postgres_changes', { event: '*', schema: 'public', table: 'trip_items', filter: `trip_id=eq.${sharedTrip.id}` }, (p) => seenByOwner.push(p))
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'votes', filter: `trip_id=eq.${sharedTrip.id}` }, (p) => seenByOwner.push(p));
  const chS = sam.channel('sam-items')
    .on('postgres_changes', { event: '*', schema: 'public', table: 'trip_items' }, (p) => seenByStranger.push(p));
  const readyO = cdcReady(chO);
  const readyS = cdcReady(chS);
  await subscribed(chO);
  await subscribed(chS);
  await readyO; await readyS;
  try {
    const ed = asUser(EDITOR);
    const item = await insertOne(ed, 'trip_items', { trip_id: sharedTrip.id, title: 'Skógafoss picnic', day_number: 3, order_index: 1 });
    ok(await ed.from('trip_items').update({ order_index: 0 }).eq('id', item.id), 'editor reorders');
    await insertOne(asUser(VIEWER), 'votes', { trip_id: sharedTrip.id, trip_item_id: item.id, value: 1 });
    assert.ok(await until(() => seenByOwner.length >= 3), `owner got ${JSON.stringify(seenByOwner)}`);
    const ins = seenByOwner.find((p) => p.table === 'trip_items' && p.eventType === 'INSERT');
    assert.equal(ins.new.title, 'Skógafoss picnic');
    assert.equal(ins.new.created_by, EDITOR);
    const upd = seenByOwner.find((p) => p.table === 'trip_items' && p.eventType === 'UPDATE');
    assert.equal(upd.new.order_index, 0);
    const vote = seenByOwner.find((p) => p.table === 'votes');
    assert.equal(vote.new.user_id, VIEWER);
    await sleep(500);
    assert.deepEqual(seenByStranger, [], 'the stranger must not receive the trip\'s changes');
  } finally {
    await o.removeAllChannels();
    await sam.removeAllChannels();
  }
});

test('seed data: Leo collaborates on Maya\'s Lisbon trip and sees only what is shared', async () => {
  const leo = asUser(LEO);
  const maya = asUser(MAYA);
  const trips = ok(await leo.from('trips').select('id, title').order('title'));
  assert.deepEqual(trips.map((t) => t.title), ['Alps hut-to-hut', 'Lisbon long weekend']);
  const items = ok(await leo.from('trip_items').select('title').eq('trip_id', LISBON).order('day_number').order('order_index'));
  assert.deepEqual(items.map((i) => i.title), ['Lunch at Time Out Market', 'Belém Tower at sunset', 'Browse LX Factory']);
  // Places on the shared itinerary are visible, Maya's subscription is not.
  assert.equal(ok(await leo.from('places').select('id')).length, 3);
  assert.deepEqual(ok(await leo.from('subscriptions').select('id')), []);
  assert.equal(ok(await maya.from('subscriptions').select('plan, status').single()).plan, 'explorer');
  // Neither of them sees the test users' trips.
  assert.deepEqual(ok(await leo.from('trips').select('id').eq('id', sharedTrip.id)), []);
  // The seeded accounts sign in with their password.
  const c = anon();
  const r = await c.auth.signInWithPassword({ email: 'maya@trip-os.test', password: 'trip-os-demo' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.user.id, MAYA);
  assert.equal(ok(await c.from('profiles').select('full_name').eq('id', MAYA).single()).full_name, 'Maya Duarte');
});

test('basalt db reset re-creates the project from migrations and seed, twice in a row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-trip-os-reset-'));
  chmodSync(dir, 0o755);
  try {
    cpSync(projectDir, dir, { recursive: true, filter: (src) => !src.includes('/.basalt') });
    const dbPort = String(await freePort());
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(basaltBin(), ['db', 'reset', '--project', dir, '--db-port', dbPort], { encoding: 'utf8', timeout: 120000 });
      assert.equal(r.status, 0, `db reset #${i + 1} failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /Finished basalt db reset\./);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
