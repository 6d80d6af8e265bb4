// examples/saas-foundation (seed 003) through the real supabase-js against `basalt start`:
// sign-up creates the public.users row (migration 0004); each user reads and changes only what
// the design's policies allow (own profile; subscriptions and usage read-only); the service role
// manages billing and usage; the private `user-files` bucket keeps every user in their folder;
// deleting the account cascades; the Lemon Squeezy webhook function (verify_jwt = false) checks
// X-Signature and applies subscription events once, in order; `basalt db reset` re-creates the
// project.
// The design has no realtime publication, so there is no realtime flow here.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID, createHmac } from 'node:crypto';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, repoRoot, basaltBin, freePort } from './lib/basalt.mjs';

const projectDir = join(repoRoot, 'examples/saas-foundation');
const PASSWORD = 'correct horse battery staple';
// Seeded accounts (supabase/seed.sql).
const MAYA = 'a1b2c3d4-0000-4000-8000-000000000001';

const LS_SECRET = 'whsec-lemon-e2e';
let b;
let alice;
let bob;
const run = Date.now();

before(async () => {
  b = await startBasalt({ projectDir, functions: { '.env': `LEMON_SQUEEZY_WEBHOOK_SECRET=${LS_SECRET}\nLEMON_SQUEEZY_PLAN_VARIANTS=101:basic,102:pro\n` } });
  alice = await signUp(`alice-${run}@saas-foundation.test`);
  bob = await signUp(`bob-${run}@saas-foundation.test`);
});
after(async () => { await b?.stop(); });

const clientOptions = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } };
const anon = () => createClient(b.url, b.anonKey, clientOptions);
const admin = () => createClient(b.url, b.serviceKey, clientOptions);
const withToken = (token) => createClient(b.url, b.anonKey, { ...clientOptions, accessToken: async () => token });

/** Sign up through /auth/v1 (autoconfirm): the user's id, email and a client carrying their session. */
async function signUp(email) {
  const r = await anon().auth.signUp({ email, password: PASSWORD });
  assert.equal(r.error, null, `sign-up ${email}: ${JSON.stringify(r.error)}`);
  assert.ok(r.data.session, `sign-up ${email}: autoconfirm gives a session`);
  return { id: r.data.user.id, email, token: r.data.session.access_token, db: withToken(r.data.session.access_token) };
}

const ok = (r, what = '') => {
  assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`);
  return r.data;
};
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
const scalar = (sql) => b.sql(sql)[0]?.[0];

/** RLS-filtered update/delete: no error, no row touched. */
function assertNoRows(r, what) {
  assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`);
  assert.deepEqual(r.data, [], `${what}: rows were affected: ${JSON.stringify(r.data)}`);
}
/** An insert refused by row level security. */
function assertInsertRefused(r, what) {
  assert.ok(r.error, `${what}: insert was accepted: ${JSON.stringify(r.data)}`);
  assert.equal(r.error.code, '42501', `${what}: ${JSON.stringify(r.error)}`);
}

test('sign-up through the auth API creates the public.users row', async () => {
  const me = ok(await alice.db.from('users').select('id, email').single(), 'alice reads her row');
  assert.deepEqual(me, { id: alice.id, email: alice.email });
  assert.equal(scalar(`select email from public.users where id = ${q(bob.id)}`), bob.email);
  // No subscription or usage until billing creates them.
  assert.deepEqual(ok(await alice.db.from('subscriptions').select('id')), []);
  assert.deepEqual(ok(await alice.db.from('usage_counters').select('id')), []);
});

test('users: each user reads and updates only their own row; nobody inserts or deletes', async () => {
  const seen = ok(await alice.db.from('users').select('id'), 'alice lists users');
  assert.deepEqual(seen.map((u) => u.id), [alice.id], 'alice sees only herself');
  assert.deepEqual(ok(await bob.db.from('users').select('id').eq('id', alice.id)), [], 'bob cannot read alice');
  assert.deepEqual(ok(await anon().from('users').select('id')), [], 'anon reads no users');

  const before = scalar(`select updated_at::text from public.users where id = ${q(alice.id)}`);
  const mine = ok(await alice.db.from('users').update({ email: `alice.work-${run}@saas-foundation.test` }).eq('id', alice.id).select(), 'alice updates her row');
  assert.equal(mine.length, 1);
  assert.notEqual(scalar(`select updated_at::text from public.users where id = ${q(alice.id)}`), before, 'updated_at trigger ran');
  ok(await alice.db.from('users').update({ email: alice.email }).eq('id', alice.id), 'alice restores her email');

  assertNoRows(await bob.db.from('users').update({ email: 'hijack@evil.test' }).eq('id', alice.id).select(), 'bob updates alice');
  assert.equal(scalar(`select email from public.users where id = ${q(alice.id)}`), alice.email, 'alice row unchanged');
  assertInsertRefused(await bob.db.from('users').insert({ id: randomUUID(), email: 'ghost@evil.test' }), 'bob inserts a user row');
  assertNoRows(await alice.db.from('users').delete().eq('id', alice.id).select(), 'alice deletes her row (no delete policy)');
  assertNoRows(await bob.db.from('users').delete().eq('id', alice.id).select(), 'bob deletes alice');
  assert.equal(scalar(`select count(*) from public.users where id in (${q(alice.id)}, ${q(bob.id)})`), '2');
});

test('subscriptions: written by the service role, read by their owner only, one per user', async () => {
  const svc = admin();
  const periodEnd = new Date(Date.now() + 30 * 86400e3).toISOString();
  ok(await svc.from('subscriptions').insert([
    { user_id: alice.id, status: 'active', plan: 'pro', lemon_squeezy_id: `ls_${run}_a`, current_period_start: new Date().toISOString(), current_period_end: periodEnd },
    { user_id: bob.id, status: 'trial', plan: 'free', trial_ends_at: periodEnd },
  ]), 'service role creates subscriptions');

  const aliceSub = ok(await alice.db.from('subscriptions').select('user_id, status, plan').single(), 'alice reads hers');
  assert.deepEqual(aliceSub, { user_id: alice.id, status: 'active', plan: 'pro' });
  assert.deepEqual(ok(await bob.db.from('subscriptions').select('plan').eq('user_id', alice.id)), [], 'bob cannot read alice\'s');
  assert.equal(ok(await bob.db.from('subscriptions').select('plan')).length, 1);
  assert.deepEqual(ok(await anon().from('subscriptions').select('id')), []);

  // Users cannot change billing, not even their own.
  assertNoRows(await alice.db.from('subscriptions').update({ plan: 'basic' }).eq('user_id', alice.id).select(), 'alice downgrades herself');
  assertNoRows(await bob.db.from('subscriptions').update({ status: 'cancelled' }).eq('user_id', alice.id).select(), 'bob cancels alice');
  assertNoRows(await alice.db.from('subscriptions').delete().eq('user_id', alice.id).select(), 'alice deletes hers');
  assertInsertRefused(await bob.db.from('subscriptions').insert({ user_id: bob.id, status: 'active', plan: 'pro' }), 'bob grants himself pro');
  assert.equal(scalar(`select plan || '/' || status from public.subscriptions where user_id = ${q(alice.id)}`), 'pro/active');

  // One subscription per user (UNIQUE(user_id)); the service role moves the plan.
  const dup = await svc.from('subscriptions').insert({ user_id: alice.id, status: 'trial', plan: 'free' });
  assert.equal(dup.error?.code, '23505', JSON.stringify(dup.error));
  const changed = ok(await svc.from('subscriptions').update({ status: 'past_due' }).eq('user_id', bob.id).select('status'), 'webhook marks past_due');
  assert.deepEqual(changed, [{ status: 'past_due' }]);
  const bad = await svc.from('subscriptions').update({ plan: 'enterprise' }).eq('user_id', bob.id);
  assert.equal(bad.error?.code, '23514', 'plan check constraint');
});

test('usage_counters: the service role counts usage; users read only their own', async () => {
  const svc = admin();
  const windowStart = new Date(Date.UTC(2025, 0, 1)).toISOString();
  const windowEnd = new Date(Date.UTC(2025, 1, 1)).toISOString();
  ok(await svc.from('usage_counters').upsert([
    { user_id: alice.id, metric: 'api_calls', count: 120, window_start: windowStart, window_end: windowEnd },
    { user_id: alice.id, metric: 'storage_mb', count: 12, window_start: windowStart, window_end: windowEnd },
    { user_id: bob.id, metric: 'api_calls', count: 7, window_start: windowStart, window_end: windowEnd },
  ], { onConflict: 'user_id,metric,window_start' }), 'service role records usage');
  // The same window again increments in place (UNIQUE(user_id, metric, window_start)).
  ok(await svc.from('usage_counters').upsert(
    { user_id: alice.id, metric: 'api_calls', count: 121, window_start: windowStart, window_end: windowEnd },
    { onConflict: 'user_id,metric,window_start' }), 'service role bumps the counter');

  const mine = ok(await alice.db.from('usage_counters').select('metric, count').order('metric'), 'alice reads her usage');
  assert.deepEqual(mine, [{ metric: 'api_calls', count: 121 }, { metric: 'storage_mb', count: 12 }]);
  assert.deepEqual(ok(await bob.db.from('usage_counters').select('metric, count')), [{ metric: 'api_calls', count: 7 }]);
  assert.deepEqual(ok(await bob.db.from('usage_counters').select('id').eq('user_id', alice.id)), []);

  assertNoRows(await alice.db.from('usage_counters').update({ count: 0 }).eq('user_id', alice.id).select(), 'alice resets her quota');
  assertNoRows(await bob.db.from('usage_counters').delete().eq('user_id', alice.id).select(), 'bob deletes alice\'s usage');
  assertInsertRefused(await alice.db.from('usage_counters').insert({ user_id: alice.id, metric: 'api_calls', count: 0, window_start: new Date().toISOString(), window_end: windowEnd }), 'alice inserts usage');
  assert.equal(scalar(`select count from public.usage_counters where user_id = ${q(alice.id)} and metric = 'api_calls'`), '121');
});

test('storage: user-files is private, each user confined to their own folder', async () => {
  const bucket = 'user-files';
  const path = `${alice.id}/invoices/2025/01/${randomUUID()}.pdf`;
  const pdf = new Blob(['%PDF-1.4 alice invoice'], { type: 'application/pdf' });
  const up = ok(await alice.db.storage.from(bucket).upload(path, pdf, { contentType: 'application/pdf' }), 'alice uploads to her folder');
  assert.equal(up.path, path);
  assert.equal(scalar(`select owner_id from storage.objects where bucket_id = 'user-files' and name = ${q(path)}`), alice.id);

  const dl = ok(await alice.db.storage.from(bucket).download(path), 'alice downloads');
  assert.equal(await dl.text(), '%PDF-1.4 alice invoice');
  assert.ok((await bob.db.storage.from(bucket).download(path)).error, 'bob must not download alice\'s file');
  assert.ok((await anon().storage.from(bucket).download(path)).error, 'anon must not download');
  assert.deepEqual(ok(await bob.db.storage.from(bucket).list(`${alice.id}/invoices/2025/01`)), [], 'bob lists alice\'s folder');
  const listed = ok(await alice.db.storage.from(bucket).list(`${alice.id}/invoices/2025/01`), 'alice lists her folder');
  assert.deepEqual(listed.map((o) => o.name), [path.split('/').pop()]);

  // Writes outside one's own folder are refused.
  const intruder = await bob.db.storage.from(bucket).upload(`${alice.id}/invoices/planted.txt`, new Blob(['x'], { type: 'text/plain' }), { contentType: 'text/plain' });
  assert.ok(intruder.error, 'bob uploads into alice\'s folder');
  const atRoot = await alice.db.storage.from(bucket).upload(`loose-${run}.txt`, new Blob(['x'], { type: 'text/plain' }), { contentType: 'text/plain' });
  assert.ok(atRoot.error, 'an upload outside any user folder is refused');
  const overwrite = await bob.db.storage.from(bucket).upload(path, new Blob(['%PDF-1.4 forged'], { type: 'application/pdf' }), { contentType: 'application/pdf', upsert: true });
  assert.ok(overwrite.error, 'bob overwrites alice\'s file');
  assert.equal(await (ok(await alice.db.storage.from(bucket).download(path))).text(), '%PDF-1.4 alice invoice');
  const removed = await bob.db.storage.from(bucket).remove([path]);
  assert.ok(removed.error || removed.data.length === 0, `bob deletes alice's file: ${JSON.stringify(removed.data)}`);
  assert.equal(scalar(`select count(*) from storage.objects where bucket_id = 'user-files' and name = ${q(path)}`), '1');

  // The bucket's limits: MIME types from the allow-list only.
  const zip = await alice.db.storage.from(bucket).upload(`${alice.id}/archive.zip`, new Blob(['PK'], { type: 'application/zip' }), { contentType: 'application/zip' });
  assert.ok(zip.error, 'application/zip is not an allowed type');
  ok(await alice.db.storage.from(bucket).upload(`${alice.id}/exports/usage.csv`, new Blob(['metric,count\napi_calls,121\n'], { type: 'text/csv' }), { contentType: 'text/csv' }), 'csv is allowed');

  // Private bucket: no public URL, but a signed URL from the owner works.
  const { data: { publicUrl } } = anon().storage.from(bucket).getPublicUrl(path);
  const pub = await fetch(publicUrl);
  assert.notEqual(pub.status, 200, 'a private bucket serves no public URL');
  const signed = ok(await alice.db.storage.from(bucket).createSignedUrl(path, 60), 'alice signs a URL');
  const viaSigned = await fetch(signed.signedUrl);
  assert.equal(viaSigned.status, 200);
  assert.equal(await viaSigned.text(), '%PDF-1.4 alice invoice');
  assert.ok((await bob.db.storage.from(bucket).createSignedUrl(path, 60)).error, 'bob cannot sign alice\'s file');

  // Bob's own folder works for him and is invisible to alice; the service role sees both.
  const bobPath = `${bob.id}/avatars/2025/01/${randomUUID()}.png`;
  ok(await bob.db.storage.from(bucket).upload(bobPath, new Blob([new Uint8Array([137, 80, 78, 71])], { type: 'image/png' }), { contentType: 'image/png' }), 'bob uploads');
  assert.ok((await alice.db.storage.from(bucket).download(bobPath)).error, 'alice must not download bob\'s file');
  const svc = admin();
  assert.equal(ok(await svc.storage.from(bucket).list(`${alice.id}/invoices/2025/01`)).length, 1, 'service role lists alice\'s folder');
  ok(await svc.storage.from(bucket).download(bobPath), 'service role downloads bob\'s file');

  // Alice replaces and deletes her own file.
  ok(await alice.db.storage.from(bucket).update(path, new Blob(['%PDF-1.4 v2'], { type: 'application/pdf' }), { contentType: 'application/pdf' }), 'alice replaces her file');
  const gone = ok(await alice.db.storage.from(bucket).remove([path]), 'alice deletes her file');
  assert.equal(gone.length, 1);
});

test('an email change in auth is carried over to public.users', async () => {
  const newEmail = `bob.new-${run}@saas-foundation.test`;
  ok(await admin().auth.admin.updateUserById(bob.id, { email: newEmail, email_confirm: true }), 'admin changes bob\'s email');
  assert.equal(scalar(`select email from public.users where id = ${q(bob.id)}`), newEmail);
  bob.email = newEmail;
});

test('deleting the account removes the user row, subscription and usage (cascade)', async () => {
  const carol = await signUp(`carol-${run}@saas-foundation.test`);
  const svc = admin();
  ok(await svc.from('subscriptions').insert({ user_id: carol.id, status: 'trial', plan: 'basic' }));
  ok(await svc.from('usage_counters').insert({ user_id: carol.id, metric: 'agent_runs', count: 3, window_start: new Date().toISOString(), window_end: new Date(Date.now() + 86400e3).toISOString() }));
  ok(await svc.auth.admin.deleteUser(carol.id), 'admin deletes carol');
  for (const t of ['users', 'subscriptions', 'usage_counters']) {
    const col = t === 'users' ? 'id' : 'user_id';
    assert.equal(scalar(`select count(*) from public.${t} where ${col} = ${q(carol.id)}`), '0', `${t} row left behind`);
  }
});

// ---- Lemon Squeezy webhook (supabase/functions/lemon-squeezy-webhook) ----

/** A subscription event as Lemon Squeezy sends it (meta + JSON:API `subscriptions` object). */
function lsEvent(name, id, attrs, custom = undefined) {
  return {
    meta: { event_name: name, test_mode: true, webhook_id: 'wh-1', ...(custom ? { custom_data: custom } : {}) },
    data: {
      type: 'subscriptions', id: String(id),
      attributes: {
        store_id: 7, customer_id: 55, order_id: 900 + Number(id), product_id: 3, variant_id: 101,
        product_name: 'Foundation', variant_name: 'Basic monthly', user_name: 'Test', user_email: 'nobody@example.test',
        status: 'active', cancelled: false, pause: null, trial_ends_at: null, renews_at: '2030-02-01T00:00:00.000000Z',
        ends_at: null, created_at: '2030-01-01T00:00:00.000000Z', updated_at: '2030-01-01T00:00:00.000000Z', test_mode: true,
        ...attrs,
      },
    },
  };
}

/** Deliver raw bytes as Lemon Squeezy does: no apikey, no JWT; X-Signature = hex HMAC-SHA256(body). */
async function deliver(event, { secret = LS_SECRET, signature, raw } = {}) {
  const body = raw ?? JSON.stringify(event);
  const sig = signature !== undefined ? signature : createHmac('sha256', secret).update(body).digest('hex');
  const headers = { 'content-type': 'application/json', 'x-event-name': event?.meta?.event_name ?? '' };
  if (sig !== null) headers['x-signature'] = sig;
  const res = await fetch(`${b.url}/functions/v1/lemon-squeezy-webhook`, { method: 'POST', headers, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}

const subRow = (userId) => scalar(`select status || '/' || plan || '/' || coalesce(lemon_squeezy_id, '-') || '/' || coalesce(current_period_end::text, '-') || '/' || updated_at::text from public.subscriptions where user_id = ${q(userId)}`);
const eventCount = () => scalar('select count(*) from public.lemon_squeezy_events');

test('lemon squeezy webhook: wrongly signed deliveries are refused and change nothing', async () => {
  const dana = await signUp(`dana-${run}@saas-foundation.test`);
  const event = lsEvent('subscription_created', 7001, { user_email: dana.email }, { user_id: dana.id });
  const body = JSON.stringify(event);
  const before = eventCount();
  const attempts = [
    ['no signature', { signature: null }],
    ['signed with another secret', { secret: 'not-the-secret' }],
    ['not hex', { signature: 'zz' + createHmac('sha256', LS_SECRET).update(body).digest('hex').slice(2) }],
    ['base64 instead of hex', { signature: createHmac('sha256', LS_SECRET).update(body).digest('base64') }],
    ['signature of another body', { raw: body.replace('Basic monthly', 'Pro monthly'), signature: createHmac('sha256', LS_SECRET).update(body).digest('hex') }],
  ];
  for (const [what, opts] of attempts) {
    const r = await deliver(event, opts);
    assert.equal(r.status, 401, `${what}: ${JSON.stringify(r.body)}`);
    assert.deepEqual(r.body, { error: 'invalid signature' }, what);
  }
  assert.equal(eventCount(), before, 'no refused delivery was recorded');
  assert.equal(subRow(dana.id), undefined, 'no subscription was created');
  assert.deepEqual(ok(await dana.db.from('subscriptions').select('id')), []);
  // Only POST is served.
  assert.equal((await fetch(`${b.url}/functions/v1/lemon-squeezy-webhook`)).status, 405);
});

test('lemon squeezy webhook: created, updated, cancelled, each applied once and in order; the user sees it', async () => {
  const erin = await signUp(`erin-${run}@saas-foundation.test`);
  const id = 7100 + (run % 1000);
  const created = lsEvent('subscription_created', id, { user_email: erin.email, status: 'on_trial', trial_ends_at: '2030-01-15T00:00:00.000000Z', renews_at: '2030-01-15T00:00:00.000000Z' }, { user_id: erin.id });
  let r = await deliver(created);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.outcome, 'applied');
  let mine = ok(await erin.db.from('subscriptions').select('status, plan, lemon_squeezy_id, trial_ends_at').single(), 'erin reads her subscription');
  assert.deepEqual(mine, { status: 'trial', plan: 'basic', lemon_squeezy_id: String(id), trial_ends_at: '2030-01-15T00:00:00+00:00' });
  assert.deepEqual(ok(await alice.db.from('subscriptions').select('id').eq('user_id', erin.id)), [], 'alice does not see erin\'s');

  // The same delivery again (Lemon Squeezy retries with the same bytes): nothing changes.
  const afterFirst = subRow(erin.id);
  const events = eventCount();
  r = await deliver(created);
  assert.equal(r.status, 200);
  assert.equal(r.body.outcome, 'duplicate');
  assert.equal(subRow(erin.id), afterFirst, 'a repeated delivery changes nothing (not even updated_at)');
  assert.equal(eventCount(), events, 'a repeated delivery is not recorded twice');

  // Upgrade to pro and active, with a later event time; the subscription is found by its
  // Lemon Squeezy id (no custom data on updates).
  const updated = lsEvent('subscription_updated', id, { user_email: erin.email, status: 'active', variant_id: 102, variant_name: 'Pro monthly', renews_at: '2030-02-15T00:00:00.000000Z', updated_at: '2030-01-15T00:00:05.000000Z' });
  r = await deliver(updated);
  assert.equal(r.body.outcome, 'applied', JSON.stringify(r.body));
  mine = ok(await erin.db.from('subscriptions').select('status, plan, current_period_end').single());
  assert.deepEqual(mine, { status: 'active', plan: 'pro', current_period_end: '2030-02-15T00:00:00+00:00' });

  // An older event delivered late is recorded as stale and not applied.
  const late = lsEvent('subscription_updated', id, { user_email: erin.email, status: 'past_due', updated_at: '2030-01-10T00:00:00.000000Z' });
  r = await deliver(late);
  assert.equal(r.body.outcome, 'stale');
  assert.equal(scalar(`select status || '/' || plan from public.subscriptions where user_id = ${q(erin.id)}`), 'active/pro');

  // Cancelled: usable until ends_at; delivered twice, the second changes nothing.
  const cancelled = lsEvent('subscription_cancelled', id, { user_email: erin.email, status: 'cancelled', cancelled: true, variant_id: 102, variant_name: 'Pro monthly', ends_at: '2030-02-15T00:00:00.000000Z', updated_at: '2030-01-20T00:00:00.000000Z' });
  assert.equal((await deliver(cancelled)).body.outcome, 'applied');
  const afterCancel = subRow(erin.id);
  assert.equal((await deliver(cancelled)).body.outcome, 'duplicate');
  assert.equal(subRow(erin.id), afterCancel);
  mine = ok(await erin.db.from('subscriptions').select('status, plan, current_period_end').single());
  assert.deepEqual(mine, { status: 'cancelled', plan: 'pro', current_period_end: '2030-02-15T00:00:00+00:00' });
  assert.deepEqual(b.sql(`select event_name, outcome from public.lemon_squeezy_events where lemon_squeezy_id = ${q(id)} order by id`),
    [['subscription_created', 'applied'], ['subscription_updated', 'applied'], ['subscription_updated', 'stale'], ['subscription_cancelled', 'applied']]);

  // Users can neither read the event log nor call the function that applies events.
  assert.equal((await erin.db.from('lemon_squeezy_events').select('id')).error?.code, '42501', 'the event log is not granted to users');
  const forged = await erin.db.rpc('apply_lemon_squeezy_event', { p_body_sha256: 'x', p_event_name: 'subscription_created', p_lemon_squeezy_id: 'forged', p_user_id: erin.id, p_email: null, p_status: 'active', p_plan: 'pro', p_period_start: null, p_period_end: null, p_trial_ends_at: null, p_occurred_at: '2031-01-01T00:00:00Z' });
  assert.equal(forged.error?.code, '42501', JSON.stringify(forged));
});

test('lemon squeezy webhook: the user found by email; unknown users and other events recorded, not applied', async () => {
  const finn = await signUp(`finn-${run}@saas-foundation.test`);
  const id = 7200 + (run % 1000);
  let r = await deliver(lsEvent('subscription_created', id, { user_email: finn.email.toUpperCase(), variant_id: 999, variant_name: 'Pro yearly' }));
  assert.equal(r.body.outcome, 'applied', JSON.stringify(r.body));
  assert.deepEqual(ok(await finn.db.from('subscriptions').select('status, plan').single()), { status: 'active', plan: 'pro' });

  r = await deliver(lsEvent('subscription_created', id + 1, { user_email: `stranger-${run}@elsewhere.test` }));
  assert.equal(r.status, 200);
  assert.deepEqual([r.body.outcome, r.body.detail], ['ignored', 'no matching user']);

  const order = { meta: { event_name: 'order_created', test_mode: true }, data: { type: 'orders', id: String(id), attributes: { user_email: finn.email, total: 900, status: 'paid' } } };
  r = await deliver(order);
  assert.equal(r.body.outcome, 'ignored');
  assert.equal(scalar(`select outcome from public.lemon_squeezy_events where event_name = 'order_created' and lemon_squeezy_id = ${q(id)}`), 'ignored');
  assert.deepEqual(ok(await finn.db.from('subscriptions').select('status, plan').single()), { status: 'active', plan: 'pro' }, 'the order changed nothing');

  // A variant the foundation cannot map to a plan is refused (422), so Lemon Squeezy retries it.
  r = await deliver(lsEvent('subscription_updated', id, { user_email: finn.email, variant_id: 555, variant_name: 'Enterprise', product_name: 'Custom' }));
  assert.equal(r.status, 422, JSON.stringify(r.body));
});

test('usage tracking: track-usage counts against the plan\'s quota, refuses past it (402), atomically; users read only their own', async () => {
  const carol = await signUp(`carol-${run}@saas-foundation.test`); // free plan (no subscription)
  const dave = await signUp(`dave-${run}@saas-foundation.test`);
  ok(await admin().from('subscriptions').insert({ user_id: dave.id, status: 'active', plan: 'pro' }), 'dave on pro');
  const track = async (who, body) => {
    const r = await who.db.functions.invoke('track-usage', { body });
    if (!r.error) return { status: 200, body: r.data };
    return { status: r.error.context?.status, body: await r.error.context?.json?.().catch(() => null) };
  };
  const counter = (user, metric) => b.sql(`select count from public.usage_counters where user_id = ${q(user.id)} and metric = ${q(metric)} order by window_start desc limit 1`)[0]?.[0];

  // Carol uses agent runs: counted in this month's window of the free plan.
  let r = await track(carol, { metric: 'agent_runs', amount: 5 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual([r.body.plan, r.body.period, r.body.used, r.body.quota, r.body.remaining, r.body.recorded], ['free', 'month', 5, 20, 15, true]);
  assert.equal(new Date(r.body.window_start).toISOString(), new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1)).toISOString());
  assert.equal(counter(carol, 'agent_runs'), '5');
  // A dry run checks without counting; past the quota is refused and nothing is recorded.
  r = await track(carol, { metric: 'agent_runs', amount: 15, dry_run: true });
  assert.deepEqual([r.status, r.body.allowed, r.body.recorded], [200, true, false]);
  r = await track(carol, { metric: 'agent_runs', amount: 16 });
  assert.equal(r.status, 402);
  assert.equal(r.body.error, 'quota_exceeded');
  assert.deepEqual([r.body.used, r.body.remaining], [5, 15]);
  assert.equal(counter(carol, 'agent_runs'), '5');
  // Concurrent calls never pass the quota: 15 left, 25 calls of one, exactly 15 succeed.
  const results = await Promise.all(Array.from({ length: 25 }, () => track(carol, { metric: 'agent_runs' })));
  assert.equal(results.filter((x) => x.status === 200).length, 15);
  assert.equal(results.filter((x) => x.status === 402).length, 10);
  assert.equal(counter(carol, 'agent_runs'), '20');
  // Daily windows: three exports a day on free, unlimited on pro.
  for (let i = 0; i < 3; i++) assert.equal((await track(carol, { metric: 'exports' })).status, 200);
  r = await track(carol, { metric: 'exports' });
  assert.equal(r.status, 402);
  assert.equal(r.body.period, 'day');
  r = await track(dave, { metric: 'exports', amount: 50 });
  assert.deepEqual([r.status, r.body.plan, r.body.quota, r.body.remaining], [200, 'pro', null, null]);

  // Bad input, others' usage, anon.
  assert.equal((await track(carol, { metric: 'made_up' })).status, 400);
  assert.equal((await track(carol, { metric: 'api_calls', amount: 0 })).status, 400);
  r = await track(carol, { metric: 'api_calls', user_id: dave.id });
  assert.equal(r.status, 403, 'carol records usage for dave');
  const byAnon = await anon().functions.invoke('track-usage', { body: { metric: 'api_calls' } });
  assert.equal(byAnon.error?.context?.status, 401);
  // The service role (the app's backend) records anyone's usage.
  const svc = await admin().functions.invoke('track-usage', { body: { user_id: dave.id, metric: 'api_calls', amount: 250 } });
  assert.equal(svc.error, null, String(svc.error));
  assert.equal(svc.data.used, 250);

  // Users read their own usage (the function's GET and the counters), never another's, and
  // cannot call the recorder or change counters themselves.
  const mine = await carol.db.functions.invoke('track-usage', { method: 'GET' });
  assert.equal(mine.error, null, String(mine.error));
  const byMetric = Object.fromEntries(mine.data.usage.map((u) => [u.metric, [u.used, u.quota]]));
  assert.deepEqual(byMetric, { agent_runs: [20, 20], api_calls: [0, 1000], exports: [3, 3], storage_mb: [0, 100] });
  assert.deepEqual(ok(await carol.db.from('usage_counters').select('user_id').eq('user_id', dave.id)), []);
  const rpc = await carol.db.rpc('record_usage', { p_user_id: carol.id, p_metric: 'agent_runs', p_amount: -20 });
  assert.ok(rpc.error, 'a user called the recorder');
  assertNoRows(await carol.db.from('usage_counters').update({ count: 0 }).eq('user_id', carol.id).select(), 'carol resets her counter');
  assert.equal(counter(carol, 'agent_runs'), '20');
  assert.equal(ok(await carol.db.from('plan_quotas').select('plan').eq('metric', 'exports')).length, 3, 'the quotas are readable');
  const raise = await carol.db.from('plan_quotas').update({ quota: 999999 }).eq('plan', 'free').select();
  assert.equal(raise.error?.code, '42501', 'a user raised a quota');
  assert.equal(scalar(`select quota from public.plan_quotas where plan = 'free' and metric = 'agent_runs'`), '20');
});

test('storage_mb: measured from the user-files bucket as files come and go; the quota checked against it', async () => {
  const gina = await signUp(`gina-${run}@saas-foundation.test`); // free plan: 100 MB
  const hugo = await signUp(`hugo-${run}@saas-foundation.test`);
  const MiB = 1024 * 1024;
  const bucket = gina.db.storage.from('user-files');
  const counter = (user) => b.sql(`select count from public.usage_counters where user_id = ${q(user.id)} and metric = 'storage_mb' and now() between window_start and window_end`)[0]?.[0];
  const bytes = (user) => Number(scalar(`select coalesce(sum((metadata->>'size')::bigint), 0) from storage.objects where bucket_id = 'user-files' and name like ${q(user.id + '/%')}`));
  const track = async (who, body) => {
    const r = await who.db.functions.invoke('track-usage', { body });
    if (!r.error) return { status: 200, body: r.data };
    return { status: r.error.context?.status, body: await r.error.context?.json?.().catch(() => null) };
  };
  const big = `${gina.id}/reports/2025/01/${run}-report.pdf`;
  ok(await bucket.upload(big, new Blob(['%PDF-1.4\n' + 'a'.repeat(1.5 * MiB)], { type: 'application/pdf' }), { contentType: 'application/pdf' }), 'a 1.5 MiB report');
  ok(await bucket.upload(`${gina.id}/exports/2025/01/${run}.csv`, new Blob(['metric,count\n' + 'api_calls,1\n'.repeat(50000)], { type: 'text/csv' }), { contentType: 'text/csv' }), 'a 0.6 MiB export');
  ok(await bucket.upload(`${gina.id}/notes/${run}.txt`, new Blob(['hello'], { type: 'text/plain' }), { contentType: 'text/plain' }), 'a note');
  // Measured at each upload: the sizes storage keeps, in MiB rounded up.
  assert.equal(bytes(gina), 1.5 * MiB + 9 + 13 + 12 * 50000 + 5);
  assert.equal(counter(gina), '3');
  assert.deepEqual(ok(await gina.db.from('usage_counters').select('metric, count').eq('metric', 'storage_mb')), [{ metric: 'storage_mb', count: 3 }]);
  const summary = ok(await gina.db.rpc('usage_summary')).find((u) => u.metric === 'storage_mb');
  assert.deepEqual([summary.used, summary.quota, summary.remaining], [3, 100, 97]);

  // track-usage measures rather than counts; amount is an upload to check, never recorded.
  let r = await track(gina, { metric: 'storage_mb' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual([r.body.measured, r.body.recorded, r.body.used, r.body.bytes, r.body.quota, r.body.remaining], [true, false, 3, bytes(gina), 100, 97]);
  r = await track(gina, { metric: 'storage_mb', amount: 97 });
  assert.deepEqual([r.status, r.body.allowed], [200, true]);
  r = await track(gina, { metric: 'storage_mb', amount: 98 });
  assert.equal(r.status, 402, JSON.stringify(r.body));
  assert.equal(r.body.error, 'quota_exceeded');
  assert.equal(counter(gina), '3', 'nothing recorded');
  assert.equal((await track(gina, { metric: 'storage_mb', amount: -1 })).status, 400);
  // Nobody counts storage by hand, not even the service role.
  const counted = await admin().rpc('record_usage', { p_user_id: gina.id, p_metric: 'storage_mb', p_amount: 5 });
  assert.equal(counted.error?.code, '22023', JSON.stringify(counted));
  assert.equal(counter(gina), '3');

  // Files come and go: a deletion, a replacement and a move are measured too.
  ok(await bucket.remove([big]), 'the report deleted');
  assert.equal(counter(gina), '1');
  ok(await bucket.upload(`${gina.id}/notes/${run}.txt`, new Blob(['x'.repeat(2 * MiB)], { type: 'text/plain' }), { contentType: 'text/plain', upsert: true }), 'the note replaced by 2 MiB');
  assert.equal(counter(gina), '3');
  ok(await bucket.move(`${gina.id}/notes/${run}.txt`, `${gina.id}/archive/${run}.txt`), 'moved within her folder');
  assert.equal(counter(gina), '3');
  assert.equal(bytes(gina), 2 * MiB + 13 + 12 * 50000);
  // Another user's files are theirs: Hugo's upload changes Hugo's measure only.
  ok(await hugo.db.storage.from('user-files').upload(`${hugo.id}/a/${run}.txt`, new Blob(['y'.repeat(MiB + 1)], { type: 'text/plain' }), { contentType: 'text/plain' }));
  assert.deepEqual([counter(hugo), counter(gina)], ['2', '3']);
  // The service role measures anyone's.
  r = await (async () => { const x = await admin().functions.invoke('track-usage', { body: { metric: 'storage_mb', user_id: hugo.id } }); return x.data; })();
  assert.deepEqual([r.used, r.bytes], [2, MiB + 1]);
});

test('seed data: the demo account signs in and sees its pro plan and usage', async () => {
  const c = anon();
  const r = await c.auth.signInWithPassword({ email: 'maya@acme-analytics.io', password: 'password123' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.user.id, MAYA);
  const maya = withToken(r.data.session.access_token);
  assert.deepEqual(ok(await maya.from('subscriptions').select('plan, status').single()), { plan: 'pro', status: 'active' });
  const usage = ok(await maya.from('usage_counters').select('metric').order('metric'));
  assert.deepEqual(usage.map((u) => u.metric), ['agent_runs', 'api_calls', 'storage_mb']);
  assert.deepEqual(ok(await maya.from('users').select('email')), [{ email: 'maya@acme-analytics.io' }]);
});

test('basalt db reset re-creates the project from migrations and seed, twice in a row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-saas-foundation-reset-'));
  chmodSync(dir, 0o755);
  try {
    cpSync(projectDir, dir, { recursive: true, filter: (src) => !src.includes('/.basalt') });
    const dbPort = String(await freePort());
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(basaltBin(), ['db', 'reset', '--project', dir, '--db-port', dbPort], { encoding: 'utf8', timeout: 120000 });
      assert.equal(r.status, 0, `db reset #${i + 1} failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /Finished basalt db reset\./);
      assert.match(r.stderr, /0005/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
