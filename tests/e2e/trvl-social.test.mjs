// examples/trvl-social through the real supabase-js against `basalt start`: sign-up creates the
// profile; profiles, active adventures, reviews and public posts are public; travellers see and
// change only their own rows; vendors manage their listings and see their bookings; admins
// moderate; payments, payouts and WhatsApp are written by the service role; uploads land in
// the right buckets; a realtime subscription sees the notification another user's like causes;
// Stripe Connect onboarding, payments, the Stripe webhook (signature, once per event, failures
// retried), refunds, disputes and payouts through the functions against a fake Stripe; the
// design's remaining tables (ML, Stripe catalogue, payment tokens, invoices, reconciliation,
// forum, engagement, media, webhooks) with owner / other user / service role checks;
// `basalt db reset` re-creates the project.
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
import { startFakeApi, stripeSignature, postWebhook } from './lib/fake-api.mjs';

const projectDir = join(repoRoot, 'examples/trvl-social');

// Seeded people (supabase/seed.sql).
const ANA = '11111111-1111-4111-8111-111111111111';
const BEN = '22222222-2222-4222-8222-222222222222';
const KAI = '33333333-3333-4333-8333-333333333333';
const SALKANTAY = 'bbbbbbbb-0000-4000-8000-000000000001';

// People created by the tests.
const TARA = randomUUID(); // traveller
const THEO = randomUUID(); // traveller
const VERA = randomUUID(); // becomes a vendor
const ADMIN = randomUUID(); // moderator

// People of the payment, forum, engagement and media tests.
const PAM = randomUUID(); // traveller who books for two and splits the payment
const PIA = randomUUID(); // her friend, who pays the other share
const VIC = randomUUID(); // vendor who connects Stripe and gets paid out
const MOD = randomUUID(); // admin
const STRIPE_KEY = 'sk_test_trvl_e2e';
const run = Date.now();
const WHSEC = 'whsec_trvl_e2e';

let b;
let stripeApi; // the fake Stripe API
before(async () => {
  stripeApi = await startFakeApi(fakeStripe);
  b = await startBasalt({
    projectDir,
    functions: { '.env': `STRIPE_SECRET_KEY=${STRIPE_KEY}\nSTRIPE_WEBHOOK_SECRET=${WHSEC}\nSTRIPE_API_URL=${stripeApi.url}\nPLATFORM_FEE_PERCENT=10\n` },
  });
  createUserRow(b, TARA, 'tara@trvl.test');
  createUserRow(b, THEO, 'theo@trvl.test');
  createUserRow(b, VERA, 'vera@peaks.test');
  createUserRow(b, ADMIN, 'admin@trvl.test');
});
after(async () => { await b?.stop(); await stripeApi?.close(); });

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

async function insertOne(client, table, row) {
  return ok(await client.from(table).insert(row).select().single(), `insert ${table}`);
}

/** A private user-owned table: invisible to others, who can neither change, delete nor forge rows. */
async function assertOwnerOnly({ table, owner, other, id, patch, column, forged }) {
  const o = asUser(owner);
  const s = asUser(other);
  const before = scalar(`select ${column}::text from public.${table} where id = ${q(id)}`);
  assert.deepEqual(ok(await s.from(table).select('*').eq('id', id)), [], `${table}: other user sees the row`);
  assert.deepEqual(ok(await anon().from(table).select('*').eq('id', id)), [], `${table}: anon sees the row`);
  assertRefused(await s.from(table).update(patch).eq('id', id).select(), `${table} other update`);
  assertRefused(await s.from(table).delete().eq('id', id).select(), `${table} other delete`);
  assert.equal(scalar(`select ${column}::text from public.${table} where id = ${q(id)}`), before, `${table}: changed by another user`);
  if (forged) assertInsertRefused(await s.from(table).insert(forged), `${table} insert in another user's name`);
  assert.equal(ok(await o.from(table).update(patch).eq('id', id).select()).length, 1, `${table}: owner could not update`);
}

test('sign-up through the auth API creates a public profile, preferences and notification settings', async () => {
  const c = anon();
  const email = `zoe-${Date.now()}@trvl.test`;
  const r = await c.auth.signUp({ email, password: 'correct horse battery', options: { data: { username: 'zoe_roams', full_name: 'Zoe Reyes' } } });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.ok(r.data.session, 'autoconfirm gives a session');
  const uid = r.data.user.id;
  const me = ok(await c.from('profiles').select('id, username, full_name, role, is_verified').eq('id', uid).single());
  assert.deepEqual(me, { id: uid, username: 'zoe_roams', full_name: 'Zoe Reyes', role: 'traveler', is_verified: false });
  // Profiles are public: anon finds the new traveller by username.
  assert.deepEqual(ok(await anon().from('profiles').select('id').eq('username', 'zoe_roams')), [{ id: uid }]);
  assert.deepEqual(ok(await c.from('user_preferences').select('user_id, currency')), [{ user_id: uid, currency: 'USD' }]);
  assert.deepEqual(ok(await c.from('notification_settings').select('user_id, social_activity')), [{ user_id: uid, social_activity: true }]);

  // A second sign-up asking for a taken username gets a unique one derived from the email.
  const c2 = anon();
  const r2 = await c2.auth.signUp({ email: `zoe.other-${Date.now()}@trvl.test`, password: 'correct horse battery',
    options: { data: { username: 'zoe_roams' } } });
  assert.equal(r2.error, null, JSON.stringify(r2.error));
  const other = ok(await c2.from('profiles').select('username').eq('id', r2.data.user.id).single());
  assert.notEqual(other.username, 'zoe_roams');
  assert.match(other.username, /^zoe_other/);
});

test('profiles are public; users change only their own public details, never their role', async () => {
  for (const id of [TARA, THEO, VERA, ADMIN]) {
    assert.equal(scalar(`select role from public.profiles where id = ${q(id)}`), 'traveler');
    assert.equal(scalar(`select count(*) from public.notification_settings where user_id = ${q(id)}`), '1');
  }
  // The admin role is granted by the platform team (service role).
  ok(await admin().from('profiles').update({ role: 'admin' }).eq('id', ADMIN), 'service role makes an admin');

  const tara = asUser(TARA);
  const theo = asUser(THEO);
  assert.equal(ok(await anon().from('profiles').select('id').in('id', [TARA, THEO])).length, 2, 'anon reads profiles');
  ok(await tara.from('profiles').update({ bio: 'Peaks and pastries', location: 'Bergen' }).eq('id', TARA), 'own profile');
  assertRefused(await theo.from('profiles').update({ bio: 'hacked' }).eq('id', TARA).select(), 'update another profile');
  assertRefused(await anon().from('profiles').update({ bio: 'hacked' }).eq('id', TARA).select(), 'anon updates a profile');
  assertRefused(await tara.from('profiles').update({ role: 'admin' }).eq('id', TARA).select(), 'self-promotion to admin');
  assertRefused(await tara.from('profiles').update({ is_verified: true }).eq('id', TARA).select(), 'self-verification');
  assertInsertRefused(await theo.from('profiles').insert({ id: randomUUID(), username: 'ghost_user' }), 'insert a profile');
  assertRefused(await theo.from('profiles').delete().eq('id', TARA).select(), 'delete another profile');
  assert.deepEqual(b.sql(`select role, bio from public.profiles where id = ${q(TARA)}`), [['traveler', 'Peaks and pastries']]);
  // Admins may edit anyone's public details (moderation), but not through their own role column.
  ok(await asUser(ADMIN).from('profiles').update({ bio: '[removed by moderation]' }).eq('id', THEO), 'admin edits a bio');
  assert.equal(scalar(`select bio from public.profiles where id = ${q(THEO)}`), '[removed by moderation]');
});

test('private user-owned tables: cross-user reads and writes are refused', async () => {
  const tara = asUser(TARA);
  const prefs = scalar(`select id from public.user_preferences where user_id = ${q(TARA)}`);
  await assertOwnerOnly({ table: 'user_preferences', owner: TARA, other: THEO, id: prefs, patch: { currency: 'NOK' }, column: 'currency',
    forged: { user_id: TARA } });
  const ns = scalar(`select id from public.notification_settings where user_id = ${q(TARA)}`);
  await assertOwnerOnly({ table: 'notification_settings', owner: TARA, other: THEO, id: ns, patch: { marketing: true }, column: 'marketing',
    forged: { user_id: TARA } });
  const pa = await insertOne(tara, 'personality_assessments', { openness: 80, conscientiousness: 55, extraversion: 62, agreeableness: 71,
    neuroticism: 30, answers: { q1: 4 } });
  assert.equal(pa.user_id, TARA);
  await assertOwnerOnly({ table: 'personality_assessments', owner: TARA, other: THEO, id: pa.id, patch: { openness: 81 }, column: 'openness',
    forged: { user_id: TARA, openness: 1, conscientiousness: 1, extraversion: 1, agreeableness: 1, neuroticism: 1 } });
  const tp = await insertOne(tara, 'travel_preferences', { travel_styles: ['adventure'], interests: ['hiking', 'fjords'], budget_min: 200,
    budget_max: 1200, preferred_group_size: '[3,8]' });
  await assertOwnerOnly({ table: 'travel_preferences', owner: TARA, other: THEO, id: tp.id, patch: { budget_max: 1500 }, column: 'budget_max',
    forged: { user_id: TARA } });
});

let vendorId;
let adventureId;

test('vendors: apply, admin approval, public listings, vendor-only management, private insurance', async () => {
  const vera = asUser(VERA);
  const tara = asUser(TARA);
  const adm = asUser(ADMIN);
  assertInsertRefused(await vera.from('vendors').insert({ user_id: VERA, business_name: 'Peaks', status: 'active' }), 'self-approved vendor');
  assertInsertRefused(await tara.from('vendors').insert({ user_id: VERA, business_name: 'Fake Peaks' }), 'vendor in another user\'s name');
  const vendor = await insertOne(vera, 'vendors', { user_id: VERA, business_name: 'Fjord Peaks Guiding', location: 'Bergen, Norway',
    email: 'hello@peaks.test' });
  vendorId = vendor.id;
  assert.equal(vendor.status, 'pending');
  // Pending vendors are not public.
  assert.deepEqual(ok(await anon().from('vendors').select('id').eq('id', vendorId)), []);
  assert.deepEqual(ok(await tara.from('vendors').select('id').eq('id', vendorId)), []);
  // The vendor cannot approve itself; an admin can.
  const selfApprove = await vera.from('vendors').update({ status: 'active' }).eq('id', vendorId).select();
  assert.ok(selfApprove.error, 'self-approval must fail');
  assert.equal(selfApprove.error.code, '42501');
  assertRefused(await tara.from('vendors').update({ business_name: 'Mine now' }).eq('id', vendorId).select(), 'traveller edits vendor');
  assertRefused(await vera.from('vendors').update({ stripe_account_id: 'acct_self' }).eq('id', vendorId).select(), 'vendor sets its Stripe account');
  assert.equal(ok(await adm.from('vendors').select('id').eq('id', vendorId)).length, 1, 'admins see pending vendors');
  ok(await adm.from('vendors').update({ status: 'active' }).eq('id', vendorId), 'admin approves');
  assert.equal(scalar(`select role from public.profiles where id = ${q(VERA)}`), 'vendor', 'approval promotes the profile');
  assert.deepEqual(ok(await anon().from('vendors').select('business_name').eq('id', vendorId)), [{ business_name: 'Fjord Peaks Guiding' }]);

  // Adventures: only the vendor lists and manages them; active ones are public.
  assertInsertRefused(await tara.from('adventures').insert({ vendor_id: vendorId, title: 'Fake tour', category: 'hiking', location: 'x',
    duration_hours: 1, price_per_person: 1 }), 'traveller lists an adventure for the vendor');
  const adv = await insertOne(vera, 'adventures', { vendor_id: vendorId, title: 'Trolltunga sunrise hike', category: 'hiking',
    difficulty: 'challenging', location: 'Odda, Norway', duration_hours: 10, max_participants: 8, price_per_person: 240, currency: 'EUR' });
  adventureId = adv.id;
  const draft = await insertOne(vera, 'adventures', { vendor_id: vendorId, title: 'Winter kayak (draft)', category: 'kayaking',
    location: 'Bergen', duration_hours: 3, price_per_person: 90, is_active: false });
  const pub = ok(await anon().from('adventures').select('title, vendors!adventures_vendor_id_fkey(business_name)').eq('vendor_id', vendorId));
  assert.deepEqual(pub, [{ title: 'Trolltunga sunrise hike', vendors: { business_name: 'Fjord Peaks Guiding' } }]);
  assert.equal(ok(await vera.from('adventures').select('id').eq('vendor_id', vendorId)).length, 2, 'vendor sees its drafts');
  assertRefused(await tara.from('adventures').update({ price_per_person: 1 }).eq('id', adventureId).select(), 'traveller reprices');
  assertRefused(await tara.from('adventures').delete().eq('id', adventureId).select(), 'traveller deletes adventure');
  assertRefused(await vera.from('adventures').update({ rating: 5 }).eq('id', adventureId).select(), 'vendor sets its own rating');
  ok(await vera.from('adventures').update({ description: 'Start at 3am, headlamps provided' }).eq('id', adventureId), 'vendor edits');
  ok(await vera.from('adventures').delete().eq('id', draft.id), 'vendor deletes draft');

  // Availability and media follow the adventure.
  const slot = await insertOne(vera, 'adventure_availability', { adventure_id: adventureId, available_date: '2025-07-12', start_time: '03:00',
    spots_total: 8 });
  assertInsertRefused(await tara.from('adventure_availability').insert({ adventure_id: adventureId, available_date: '2025-07-13', spots_total: 99 }),
    'traveller adds availability');
  assertRefused(await tara.from('adventure_availability').update({ spots_booked: 8 }).eq('id', slot.id).select(), 'traveller books out a slot');
  assert.equal(ok(await anon().from('adventure_availability').select('id').eq('adventure_id', adventureId)).length, 1);
  const media = await insertOne(vera, 'adventure_media', { adventure_id: adventureId, storage_path: `${vendorId}/trolltunga.jpg`, caption: 'The tongue' });
  assert.equal(ok(await anon().from('adventure_media').select('id').eq('id', media.id)).length, 1);
  assertRefused(await tara.from('adventure_media').delete().eq('id', media.id).select(), 'traveller deletes media');
  assertInsertRefused(await tara.from('adventure_media').insert({ adventure_id: adventureId, storage_path: 'x' }), 'traveller adds media');

  // Certifications become public once verified by an admin; insurance stays with vendor and admins.
  const cert = await insertOne(vera, 'vendor_certifications', { vendor_id: vendorId, name: 'Mountain Leader', issuer: 'NORSK' });
  assertInsertRefused(await vera.from('vendor_certifications').insert({ vendor_id: vendorId, name: 'x', issuer: 'y',
    verified_at: new Date().toISOString() }), 'self-verified certification');
  assert.deepEqual(ok(await anon().from('vendor_certifications').select('id').eq('id', cert.id)), []);
  assertRefused(await vera.from('vendor_certifications').update({ verified_at: new Date().toISOString() }).eq('id', cert.id).select(),
    'vendor verifies own certification');
  ok(await adm.from('vendor_certifications').update({ verified_at: new Date().toISOString() }).eq('id', cert.id), 'admin verifies');
  assert.equal(ok(await anon().from('vendor_certifications').select('id').eq('id', cert.id)).length, 1);
  assertRefused(await tara.from('vendor_certifications').delete().eq('id', cert.id).select(), 'traveller deletes a certification');
  assertInsertRefused(await tara.from('vendor_certifications').insert({ vendor_id: vendorId, name: 'x', issuer: 'y' }), 'traveller adds a certification');
  const ins = await insertOne(vera, 'vendor_insurance', { vendor_id: vendorId, provider: 'If Skadeforsikring', policy_number: 'IF-1',
    coverage_amount: 2000000, valid_from: '2025-01-01', valid_until: '2025-12-31' });
  assert.deepEqual(ok(await tara.from('vendor_insurance').select('id').eq('id', ins.id)), []);
  assert.deepEqual(ok(await anon().from('vendor_insurance').select('id')), []);
  assertRefused(await tara.from('vendor_insurance').delete().eq('id', ins.id).select(), 'traveller deletes insurance');
  assertRefused(await vera.from('vendor_insurance').update({ verified_at: new Date().toISOString() }).eq('id', ins.id).select(), 'vendor verifies insurance');
  assertInsertRefused(await tara.from('vendor_insurance').insert({ vendor_id: vendorId, provider: 'x', policy_number: 'y', coverage_amount: 1,
    valid_from: '2025-01-01', valid_until: '2025-02-01' }), 'traveller adds insurance');
  assert.equal(ok(await adm.from('vendor_insurance').select('id').eq('id', ins.id)).length, 1);
});

let bookingId;

test('bookings: travellers and their vendor only; prices from the listing; payments by the service role', async () => {
  const tara = asUser(TARA);
  const theo = asUser(THEO);
  const vera = asUser(VERA);
  // The trigger takes vendor and price from the adventure, whatever the client sends.
  const booking = await insertOne(tara, 'bookings', { adventure_id: adventureId, vendor_id: vendorId, booking_date: '2025-07-12',
    participants: 2, total_amount: 1, special_requests: 'Gluten-free lunch' });
  bookingId = booking.id;
  assert.equal(booking.user_id, TARA);
  assert.equal(Number(booking.total_amount), 480);
  assert.equal(booking.currency, 'EUR');
  assertInsertRefused(await theo.from('bookings').insert({ user_id: TARA, adventure_id: adventureId, vendor_id: vendorId, booking_date: '2025-07-12' }),
    'booking in another traveller\'s name');
  assertInsertRefused(await tara.from('bookings').insert({ adventure_id: adventureId, vendor_id: vendorId, booking_date: '2025-07-12', status: 'confirmed' }),
    'pre-confirmed booking');

  assert.deepEqual(ok(await theo.from('bookings').select('id').eq('id', bookingId)), [], 'other traveller sees the booking');
  assert.deepEqual(ok(await anon().from('bookings').select('id')), []);
  assert.equal(ok(await vera.from('bookings').select('id').eq('id', bookingId)).length, 1, 'vendor sees the booking');
  assert.deepEqual(ok(await asUser(KAI).from('bookings').select('id').eq('id', bookingId)), [], 'another vendor does not');
  assertRefused(await theo.from('bookings').update({ status: 'cancelled' }).eq('id', bookingId).select(), 'other traveller cancels');
  assertRefused(await theo.from('bookings').delete().eq('id', bookingId).select(), 'other traveller deletes');
  assertRefused(await tara.from('bookings').update({ status: 'confirmed' }).eq('id', bookingId).select(), 'traveller confirms own booking');
  assertRefused(await tara.from('bookings').update({ total_amount: 1 }).eq('id', bookingId).select(), 'traveller reprices booking');
  ok(await tara.from('bookings').update({ special_requests: 'Gluten-free lunch, early pickup' }).eq('id', bookingId), 'traveller edits requests');
  ok(await vera.from('bookings').update({ status: 'confirmed' }).eq('id', bookingId), 'vendor confirms');
  assert.equal(scalar(`select status from public.bookings where id = ${q(bookingId)}`), 'confirmed');
  // The vendor was notified of the booking, the traveller of the confirmation.
  assert.deepEqual(ok(await vera.from('notifications').select('type').eq('data->>booking_id', bookingId)), [{ type: 'booking_created' }]);
  assert.deepEqual(ok(await tara.from('notifications').select('type').eq('data->>booking_id', bookingId)), [{ type: 'booking_confirmed' }]);

  // Participants: the booking owner manages them, the vendor reads them.
  const p = await insertOne(tara, 'booking_participants', { booking_id: bookingId, full_name: 'Tara Lund', profile_id: TARA });
  await insertOne(tara, 'booking_participants', { booking_id: bookingId, full_name: 'Theo Berg', profile_id: THEO });
  assert.equal(ok(await vera.from('booking_participants').select('id').eq('booking_id', bookingId)).length, 2);
  assert.deepEqual(ok(await theo.from('booking_participants').select('id').eq('booking_id', bookingId)), []);
  assertInsertRefused(await theo.from('booking_participants').insert({ booking_id: bookingId, full_name: 'Gatecrasher' }), 'add to other booking');
  assertRefused(await theo.from('booking_participants').delete().eq('id', p.id).select(), 'remove from other booking');

  // Split: Theo sees his share only; he cannot split someone else's booking or mark it paid.
  const split = await insertOne(tara, 'payment_splits', { booking_id: bookingId, payer_id: THEO, amount: 240, due_date: '2025-07-01' });
  assert.deepEqual(ok(await theo.from('payment_splits').select('id, amount')), [{ id: split.id, amount: 240 }]);
  assert.deepEqual(ok(await theo.from('bookings').select('id').eq('id', bookingId)), [], 'a split does not reveal the booking');
  assertInsertRefused(await theo.from('payment_splits').insert({ booking_id: bookingId, payer_id: THEO, amount: 1 }), 'payer splits');
  assertRefused(await theo.from('payment_splits').update({ status: 'succeeded' }).eq('id', split.id).select(), 'payer marks paid');

  // Payments come from the Stripe webhook (service role).
  assertInsertRefused(await tara.from('booking_payments').insert({ booking_id: bookingId, user_id: TARA, amount: 480, status: 'succeeded' }),
    'client records a payment');
  const pay = ok(await admin().from('booking_payments').insert({ booking_id: bookingId, user_id: TARA, amount: 480, currency: 'EUR',
    status: 'succeeded', stripe_payment_intent_id: 'pi_test_tara', paid_at: new Date().toISOString() }).select().single());
  assert.equal(ok(await tara.from('booking_payments').select('id').eq('id', pay.id)).length, 1);
  assert.equal(ok(await vera.from('booking_payments').select('id').eq('id', pay.id)).length, 1);
  assert.deepEqual(ok(await theo.from('booking_payments').select('id').eq('id', pay.id)), []);
  assertRefused(await tara.from('booking_payments').update({ status: 'refunded' }).eq('id', pay.id).select(), 'client refunds itself');

  // Modifications: requested by the traveller, decided by the vendor.
  const mod = await insertOne(tara, 'booking_modifications', { booking_id: bookingId, modification_type: 'date_change',
    old_values: { booking_date: '2025-07-12' }, new_values: { booking_date: '2025-07-19' }, reason: 'Weather' });
  assert.deepEqual(ok(await theo.from('booking_modifications').select('id').eq('id', mod.id)), []);
  assertInsertRefused(await theo.from('booking_modifications').insert({ booking_id: bookingId, modification_type: 'cancellation' }),
    'modify another\'s booking');
  assertRefused(await theo.from('booking_modifications').update({ status: 'rejected' }).eq('id', mod.id).select(), 'bystander decides');
  assertRefused(await tara.from('booking_modifications').update({ status: 'approved' }).eq('id', mod.id).select(), 'traveller approves own change');
  ok(await vera.from('booking_modifications').update({ status: 'approved', decided_at: new Date().toISOString() }).eq('id', mod.id), 'vendor approves');

  // Reviews: only after completion, by the traveller; public; stats follow.
  const review = { booking_id: bookingId, adventure_id: adventureId, vendor_id: vendorId, rating: 4, title: 'Epic', body: 'Worth the 3am start' };
  assertInsertRefused(await tara.from('reviews').insert(review), 'review before completion');
  ok(await vera.from('bookings').update({ status: 'completed' }).eq('id', bookingId), 'vendor completes');
  assertInsertRefused(await theo.from('reviews').insert(review), 'review someone else\'s booking');
  const rv = await insertOne(tara, 'reviews', review);
  assert.deepEqual(ok(await anon().from('reviews').select('rating, title').eq('id', rv.id)), [{ rating: 4, title: 'Epic' }]);
  assert.deepEqual(ok(await anon().from('adventures').select('rating, total_reviews').eq('id', adventureId).single()), { rating: 4, total_reviews: 1 });
  assertRefused(await theo.from('reviews').update({ rating: 1 }).eq('id', rv.id).select(), 'edit another\'s review');
  assertRefused(await vera.from('reviews').delete().eq('id', rv.id).select(), 'vendor deletes a review');
  ok(await tara.from('reviews').update({ rating: 5 }).eq('id', rv.id), 'author edits review');
  assert.equal(scalar(`select rating from public.adventures where id = ${q(adventureId)}`), '5.00');
});

test('groups: public groups are open, private groups need an invitation, roles need an admin', async () => {
  const tara = asUser(TARA);
  const theo = asUser(THEO);
  const vera = asUser(VERA);
  const open = await insertOne(tara, 'groups', { name: 'Trolltunga July crew', adventure_id: adventureId, privacy: 'public' });
  assert.deepEqual(ok(await anon().from('group_members').select('user_id, role').eq('group_id', open.id)), [{ user_id: TARA, role: 'owner' }]);
  assertInsertRefused(await theo.from('group_members').insert({ group_id: open.id, user_id: THEO, role: 'admin' }), 'join as admin');
  await insertOne(theo, 'group_members', { group_id: open.id, user_id: THEO });
  assert.equal(ok(await anon().from('group_members').select('id').eq('group_id', open.id)).length, 2);
  assertRefused(await theo.from('groups').update({ name: 'Theo\'s group' }).eq('id', open.id).select(), 'member renames group');
  assertRefused(await theo.from('groups').delete().eq('id', open.id).select(), 'member deletes group');
  const theoRow = scalar(`select id from public.group_members where group_id = ${q(open.id)} and user_id = ${q(THEO)}`);
  const promote = await theo.from('group_members').update({ role: 'admin' }).eq('id', theoRow).select();
  assert.ok(promote.error, 'self-promotion must fail');
  assert.equal(promote.error.code, '42501');
  assertInsertRefused(await theo.from('group_members').insert({ group_id: open.id, user_id: VERA }), 'member adds someone else');

  const closed = await insertOne(tara, 'groups', { name: 'Secret fjord swim', privacy: 'private' });
  assert.deepEqual(ok(await anon().from('groups').select('id').eq('id', closed.id)), []);
  assert.deepEqual(ok(await theo.from('groups').select('id').eq('id', closed.id)), []);
  assertInsertRefused(await theo.from('group_members').insert({ group_id: closed.id, user_id: THEO }), 'join a private group');
  const invite = await insertOne(tara, 'group_members', { group_id: closed.id, user_id: THEO, status: 'invited' });
  assert.deepEqual(ok(await theo.from('notifications').select('type').eq('data->>group_id', closed.id)), [{ type: 'group_invite' }]);
  assert.deepEqual(ok(await theo.from('groups').select('id').eq('id', closed.id)), [], 'an invitation alone does not reveal the group');
  assertRefused(await vera.from('group_members').update({ status: 'active' }).eq('id', invite.id).select(), 'accept someone else\'s invitation');
  ok(await theo.from('group_members').update({ status: 'active' }).eq('id', invite.id), 'invitee accepts');
  assert.deepEqual(ok(await theo.from('groups').select('name').eq('id', closed.id)), [{ name: 'Secret fjord swim' }]);
  assert.deepEqual(ok(await vera.from('groups').select('id').eq('id', closed.id)), []);
  assert.deepEqual(ok(await vera.from('group_members').select('id').eq('group_id', closed.id)), []);
  ok(await tara.from('group_members').update({ role: 'admin' }).eq('id', invite.id), 'owner promotes');

  // Compatibility scores are computed by the matching function (service role) and shown to the pair.
  assertInsertRefused(await tara.from('compatibility_scores').insert({ user_a: TARA, user_b: THEO, score: 100, model_version: 'self' }),
    'client writes its own score');
  ok(await admin().from('compatibility_scores').insert({ user_a: TARA, user_b: THEO, group_id: closed.id, score: 88.5, model_version: 'compat-v2',
    breakdown: { personality: 90 } }));
  assert.equal(ok(await tara.from('compatibility_scores').select('score').eq('group_id', closed.id).single()).score, 88.5);
  assert.equal(ok(await theo.from('compatibility_scores').select('score').eq('group_id', closed.id).single()).score, 88.5);
  assert.deepEqual(ok(await vera.from('compatibility_scores').select('id')), []);
});

let publicPost;
let friendsPost;

test('social: public, connections-only and private posts; likes, comments and the feed', async () => {
  const tara = asUser(TARA);
  const theo = asUser(THEO);
  const vera = asUser(VERA);
  // Tara and Vera connect; Theo does not.
  const conn = await insertOne(tara, 'user_connections', { addressee_id: VERA });
  assertInsertRefused(await theo.from('user_connections').insert({ requester_id: TARA, addressee_id: THEO, status: 'accepted' }),
    'forged accepted connection');
  assertRefused(await tara.from('user_connections').update({ status: 'accepted' }).eq('id', conn.id).select(), 'requester accepts own request');
  assertRefused(await theo.from('user_connections').update({ status: 'accepted' }).eq('id', conn.id).select(), 'bystander accepts');
  assert.deepEqual(ok(await theo.from('user_connections').select('id').eq('id', conn.id)), []);
  ok(await vera.from('user_connections').update({ status: 'accepted', responded_at: new Date().toISOString() }).eq('id', conn.id), 'accept');

  publicPost = await insertOne(tara, 'posts', { content: 'Trolltunga at sunrise. No words.', adventure_id: adventureId });
  friendsPost = await insertOne(tara, 'posts', { content: 'Spare headlamp anyone?', visibility: 'connections' });
  const diary = await insertOne(tara, 'posts', { content: 'Blisters. So many blisters.', visibility: 'private' });
  assertInsertRefused(await theo.from('posts').insert({ user_id: TARA, content: 'forged' }), 'post in another\'s name');

  const ids = [publicPost.id, friendsPost.id, diary.id];
  const seen = async (c) => ok(await c.from('posts').select('id').in('id', ids)).map((p) => p.id).sort();
  assert.deepEqual(await seen(anon()), [publicPost.id]);
  assert.deepEqual(await seen(theo), [publicPost.id]);
  assert.deepEqual(await seen(vera), [publicPost.id, friendsPost.id].sort());
  assert.deepEqual(await seen(tara), [...ids].sort());
  assertRefused(await theo.from('posts').update({ content: 'edited by theo' }).eq('id', publicPost.id).select(), 'edit another\'s post');
  assertRefused(await theo.from('posts').delete().eq('id', publicPost.id).select(), 'delete another\'s post');
  assertRefused(await tara.from('posts').update({ likes_count: 1000 }).eq('id', publicPost.id).select(), 'inflate likes');

  // Likes and comments only on posts one can see; counters maintained by triggers.
  await insertOne(vera, 'post_likes', { post_id: friendsPost.id });
  assertInsertRefused(await theo.from('post_likes').insert({ post_id: friendsPost.id }), 'like a post one cannot see');
  assertInsertRefused(await theo.from('comments').insert({ post_id: diary.id, content: 'peek' }), 'comment on a private post');
  const c1 = await insertOne(theo, 'comments', { post_id: publicPost.id, content: 'Bucket list!' });
  assertInsertRefused(await theo.from('post_likes').insert({ post_id: publicPost.id, user_id: VERA }), 'like in another\'s name');
  assertRefused(await theo.from('post_likes').delete().eq('post_id', friendsPost.id).select(), 'remove another\'s like');
  assert.equal(scalar(`select likes_count from public.posts where id = ${q(friendsPost.id)}`), '1');
  assertRefused(await vera.from('comments').update({ content: 'edited by vera' }).eq('id', c1.id).select(), 'edit another\'s comment');
  assert.deepEqual(ok(await anon().from('comments').select('content').eq('post_id', publicPost.id)), [{ content: 'Bucket list!' }]);
  assert.deepEqual(ok(await theo.from('post_likes').select('id').eq('post_id', friendsPost.id)), [], 'likes of hidden posts stay hidden');
  const c2 = await insertOne(vera, 'comments', { post_id: publicPost.id, content: 'buy me a coffee at cheap-crypto.example' });
  ok(await tara.from('comments').delete().eq('id', c2.id), 'post author removes a comment');
  assert.deepEqual(ok(await anon().from('posts').select('comments_count').eq('id', publicPost.id).single()), { comments_count: 1 });
  await insertOne(asUser(ADMIN), 'comment_likes', { comment_id: c1.id });
  assertRefused(await theo.from('comment_likes').delete().eq('comment_id', c1.id).select(), 'unlike for someone else');

  // The feed is built by the ranking job (service role); users read and mark their own.
  assertInsertRefused(await theo.from('community_feed_items').insert({ user_id: THEO, post_id: publicPost.id }), 'client writes its feed');
  ok(await admin().from('community_feed_items').insert([
    { user_id: THEO, post_id: publicPost.id, score: 0.9, reason: 'same adventure' },
    { user_id: VERA, post_id: friendsPost.id, score: 0.7, reason: 'connection' },
  ]));
  const feed = ok(await theo.from('community_feed_items').select('id, posts(content)'));
  assert.deepEqual(feed.map((f) => f.posts.content), ['Trolltunga at sunrise. No words.']);
  assertRefused(await theo.from('community_feed_items').update({ seen_at: new Date().toISOString() }).eq('user_id', VERA).select(), 'mark another feed');
  ok(await theo.from('community_feed_items').update({ seen_at: new Date().toISOString() }).eq('id', feed[0].id), 'mark own feed seen');
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

test('realtime: a like by another user reaches the author as a live notification, and only the author', async () => {
  const tara = asUser(TARA);
  const theo = asUser(THEO);
  const forTara = [];
  const forTheo = [];
  const chTara = tara.channel(`notifications:${TARA}`)
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notifications', filter: `user_id=eq.${TARA}` }, (p) => forTara.push(p));
  const chTheo = theo.channel('theo-all-notifications')
    .on('postgres_changes', { event: '*', schema: 'public', table: 'notifications' }, (p) => forTheo.push(p));
  const readyTara = cdcReady(chTara);
  const readyTheo = cdcReady(chTheo);
  await subscribed(chTara);
  await subscribed(chTheo);
  await readyTara; await readyTheo;
  try {
    await insertOne(asUser(VERA), 'post_likes', { post_id: publicPost.id });
    assert.ok(await until(() => forTara.length >= 1), 'Tara got no notification');
    assert.equal(forTara[0].new.type, 'post_like');
    assert.equal(forTara[0].new.actor_id, VERA);
    assert.equal(forTara[0].new.data.post_id, publicPost.id);
    ok(await tara.from('notifications').update({ read_at: new Date().toISOString() }).eq('id', forTara[0].new.id), 'mark read');
    await sleep(500);
    assert.deepEqual(forTheo, [], 'Theo must not receive Tara\'s notifications');
  } finally {
    await tara.removeAllChannels();
    await theo.removeAllChannels();
  }
  assert.deepEqual(ok(await anon().from('posts').select('likes_count').eq('id', publicPost.id).single()), { likes_count: 1 });
});

test('notifications: read and dismissed by their user only; written by triggers and the service role', async () => {
  const tara = asUser(TARA);
  const theo = asUser(THEO);
  const n = ok(await tara.from('notifications').select('id, title').eq('type', 'post_like').limit(1).single());
  assertRefused(await theo.from('notifications').update({ read_at: new Date().toISOString() }).eq('id', n.id).select(), 'mark another\'s read');
  assertRefused(await theo.from('notifications').delete().eq('id', n.id).select(), 'dismiss another\'s');
  assert.deepEqual(ok(await theo.from('notifications').select('id').eq('id', n.id)), []);
  assertRefused(await tara.from('notifications').update({ title: 'rewritten' }).eq('id', n.id).select(), 'rewrite a notification');
  assertInsertRefused(await theo.from('notifications').insert({ user_id: TARA, type: 'system', title: 'Phish' }), 'spoof a notification');
  ok(await admin().from('notifications').insert({ user_id: TARA, type: 'system', title: 'Welcome to trvl' }), 'service role notifies');
  ok(await tara.from('notifications').delete().eq('id', n.id), 'dismiss own');
});

test('WhatsApp: the service role writes contacts, conversations and messages; users read and opt out', async () => {
  const tara = asUser(TARA);
  const theo = asUser(THEO);
  const svc = admin();
  assertInsertRefused(await tara.from('whatsapp_contacts').insert({ user_id: TARA, wa_id: '4791234567', phone_e164: '+4791234567' }), 'client adds contact');
  const contact = ok(await svc.from('whatsapp_contacts').insert({ user_id: TARA, wa_id: '4791234567', phone_e164: '+4791234567', opted_in: true })
    .select().single());
  const convo = ok(await svc.from('whatsapp_conversations').insert({ contact_id: contact.id, user_id: TARA, booking_id: bookingId,
    last_message_at: new Date().toISOString() }).select().single());
  ok(await svc.from('whatsapp_messages').insert({ conversation_id: convo.id, direction: 'outbound', message_type: 'template',
    template_name: 'booking_confirmed', body: 'See you at 3am!', status: 'sent', wa_message_id: 'wamid.trvl1' }));
  ok(await svc.from('whatsapp_webhooks').insert({ event_type: 'messages', payload: { statuses: [] }, signature_valid: true }));

  assert.equal(ok(await tara.from('whatsapp_messages').select('body').eq('conversation_id', convo.id)).length, 1);
  assert.deepEqual(ok(await theo.from('whatsapp_messages').select('id').eq('conversation_id', convo.id)), []);
  assert.deepEqual(ok(await theo.from('whatsapp_conversations').select('id').eq('id', convo.id)), []);
  assert.deepEqual(ok(await theo.from('whatsapp_contacts').select('id').eq('id', contact.id)), []);
  assertInsertRefused(await tara.from('whatsapp_messages').insert({ conversation_id: convo.id, direction: 'outbound', body: 'spam' }), 'client sends');
  const hooks = await tara.from('whatsapp_webhooks').select('id');
  assert.ok(hooks.error?.code === '42501' || (hooks.error === null && hooks.data.length === 0), `webhooks visible: ${JSON.stringify(hooks)}`);
  assertRefused(await theo.from('whatsapp_contacts').update({ opted_in: false }).eq('id', contact.id).select(), 'opt someone else out');
  assertRefused(await tara.from('whatsapp_contacts').update({ wa_id: '1' }).eq('id', contact.id).select(), 'change own wa_id');
  ok(await tara.from('whatsapp_contacts').update({ opted_in: false }).eq('id', contact.id), 'opt out');
  assert.equal(scalar(`select opted_in from public.whatsapp_contacts where id = ${q(contact.id)}`), 'f');
});

test('moderation: anyone reports, only admins act; a hidden post disappears for everyone but its author', async () => {
  const tara = asUser(TARA);
  const theo = asUser(THEO);
  const adm = asUser(ADMIN);
  const report = await insertOne(theo, 'content_reports', { content_type: 'post', content_id: publicPost.id, reason: 'spam', details: 'looks like an ad' });
  assertInsertRefused(await theo.from('content_reports').insert({ reporter_id: TARA, content_type: 'post', content_id: publicPost.id, reason: 'spam' }),
    'report in another\'s name');
  assert.deepEqual(ok(await tara.from('content_reports').select('id').eq('id', report.id)), [], 'the reported author does not see the reporter');
  assertRefused(await theo.from('content_reports').update({ status: 'dismissed' }).eq('id', report.id).select(), 'reporter closes own report');
  assertInsertRefused(await theo.from('moderation_actions').insert({ report_id: report.id, target_type: 'post', target_id: publicPost.id, action: 'hide' }),
    'non-admin moderates');
  assert.deepEqual(ok(await theo.from('automated_moderation_rules').select('id')), [], 'rules are for admins');
  assertInsertRefused(await theo.from('automated_moderation_rules').insert({ name: 'mine', content_type: 'post', pattern: '.*', action: 'hide' }),
    'non-admin writes a rule');
  assertRefused(await theo.from('automated_moderation_rules').update({ is_active: false }).eq('name', 'crypto-spam').select(), 'non-admin disables a rule');
  assert.equal(ok(await adm.from('automated_moderation_rules').select('name')).length, 1);

  assert.equal(ok(await adm.from('content_reports').select('id').eq('status', 'open')).length, 1);
  await insertOne(adm, 'moderation_actions', { report_id: report.id, target_type: 'post', target_id: publicPost.id, action: 'hide', notes: 'spam' });
  assert.deepEqual(ok(await theo.from('content_reports').select('status').eq('id', report.id).single()), { status: 'actioned' });
  assert.deepEqual(ok(await anon().from('posts').select('id').eq('id', publicPost.id)), []);
  assert.deepEqual(ok(await theo.from('posts').select('id').eq('id', publicPost.id)), []);
  assert.deepEqual(ok(await anon().from('comments').select('id').eq('post_id', publicPost.id)), [], 'comments go with the hidden post');
  assert.equal(ok(await tara.from('posts').select('is_hidden').eq('id', publicPost.id).single()).is_hidden, true);
  assertRefused(await tara.from('posts').update({ is_hidden: false }).eq('id', publicPost.id).select(), 'author unhides');
  await insertOne(adm, 'moderation_actions', { target_type: 'post', target_id: publicPost.id, action: 'unhide', notes: 'appeal upheld' });
  assert.equal(ok(await anon().from('posts').select('id').eq('id', publicPost.id)).length, 1);
});

test('payouts: vendors choose their schedule and read their payouts; payouts are recorded by the service role', async () => {
  const vera = asUser(VERA);
  const tara = asUser(TARA);
  const sched = await insertOne(vera, 'payout_schedules', { vendor_id: vendorId, frequency: 'monthly', minimum_amount: 200 });
  assertInsertRefused(await tara.from('payout_schedules').insert({ vendor_id: vendorId, frequency: 'daily' }), 'traveller schedules payouts');
  assertRefused(await tara.from('payout_schedules').update({ frequency: 'daily' }).eq('id', sched.id).select(), 'traveller changes schedule');
  assert.deepEqual(ok(await tara.from('payout_schedules').select('id')), []);
  ok(await vera.from('payout_schedules').update({ frequency: 'weekly' }).eq('id', sched.id), 'vendor changes schedule');
  assertRefused(await vera.from('payout_schedules').update({ next_payout_date: '2025-01-01' }).eq('id', sched.id).select(), 'vendor moves payout date');

  assertInsertRefused(await vera.from('payout_transactions').insert({ vendor_id: vendorId, amount: 1000000, period_start: '2025-07-01',
    period_end: '2025-07-31' }), 'vendor pays itself');
  const payout = ok(await admin().from('payout_transactions').insert({ vendor_id: vendorId, amount: 456, fee_amount: 24, currency: 'EUR',
    status: 'paid', stripe_transfer_id: 'tr_test_vera', period_start: '2025-07-01', period_end: '2025-07-31', booking_ids: [bookingId] })
    .select().single());
  assert.equal(ok(await vera.from('payout_transactions').select('id').eq('id', payout.id)).length, 1);
  assert.deepEqual(ok(await tara.from('payout_transactions').select('id')), []);
  assert.deepEqual(ok(await asUser(KAI).from('payout_transactions').select('id').eq('id', payout.id)), [], 'another vendor');
  assertRefused(await vera.from('payout_transactions').update({ amount: 9999 }).eq('id', payout.id).select(), 'vendor edits payout');
  assert.equal(ok(await asUser(ADMIN).from('payout_transactions').select('id').eq('id', payout.id)).length, 1, 'admins audit payouts');
});

const jpeg = () => new Blob([Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex')], { type: 'image/jpeg' });
const pdf = () => new Blob(['%PDF-1.4\n%%EOF\n'], { type: 'application/pdf' });

test('storage: avatars and adventure media are public, vendor documents and user uploads are private, system media is read-only', async () => {
  const tara = asUser(TARA);
  const theo = asUser(THEO);
  const vera = asUser(VERA);
  const up = (c, bucket, path, blob) => c.storage.from(bucket).upload(path, blob, { contentType: blob.type, upsert: true });

  // avatars
  ok(await up(tara, 'avatars', `${TARA}/me.jpg`, jpeg()), 'own avatar');
  assert.ok((await up(theo, 'avatars', `${TARA}/me.jpg`, jpeg())).error, 'overwrite another\'s avatar');
  assert.ok((await up(tara, 'avatars', `${TARA}/cv.pdf`, pdf())).error, 'a PDF is not an avatar');
  const avatarUrl = anon().storage.from('avatars').getPublicUrl(`${TARA}/me.jpg`).data.publicUrl;
  assert.equal((await fetch(avatarUrl)).status, 200);
  ok(await tara.from('profiles').update({ avatar_url: avatarUrl }).eq('id', TARA), 'profile avatar');

  // adventure-media: the vendor's folder
  ok(await up(vera, 'adventure-media', `${vendorId}/trolltunga.jpg`, jpeg()), 'vendor uploads media');
  assert.ok((await up(tara, 'adventure-media', `${vendorId}/fake.jpg`, jpeg())).error, 'traveller uploads into vendor folder');
  assert.ok((await up(vera, 'adventure-media', `${TARA}/x.jpg`, jpeg())).error, 'vendor uploads outside its folder');
  ok(await anon().storage.from('adventure-media').download(`${vendorId}/trolltunga.jpg`), 'anon downloads media');
  assert.ok((await tara.storage.from('adventure-media').remove([`${vendorId}/trolltunga.jpg`])).data?.length !== 1);
  assert.equal(scalar(`select count(*) from storage.objects where bucket_id = 'adventure-media' and name = ${q(`${vendorId}/trolltunga.jpg`)}`), '1');

  // vendor-documents: the vendor and admins only
  ok(await up(vera, 'vendor-documents', `${vendorId}/insurance-2025.pdf`, pdf()), 'vendor uploads a document');
  assert.ok((await tara.storage.from('vendor-documents').download(`${vendorId}/insurance-2025.pdf`)).error, 'traveller reads vendor document');
  assert.ok((await anon().storage.from('vendor-documents').download(`${vendorId}/insurance-2025.pdf`)).error, 'anon reads vendor document');
  assert.ok((await asUser(KAI).storage.from('vendor-documents').download(`${vendorId}/insurance-2025.pdf`)).error, 'other vendor reads');
  ok(await asUser(ADMIN).storage.from('vendor-documents').download(`${vendorId}/insurance-2025.pdf`), 'admin reads vendor document');
  assert.ok((await up(tara, 'vendor-documents', `${vendorId}/forged.pdf`, pdf())).error, 'traveller uploads vendor document');

  // user-uploads: own folder only
  ok(await up(theo, 'user-uploads', `${THEO}/passport.pdf`, pdf()), 'own upload');
  assert.ok((await tara.storage.from('user-uploads').download(`${THEO}/passport.pdf`)).error, 'read another\'s upload');
  assert.ok((await up(tara, 'user-uploads', `${THEO}/planted.pdf`, pdf())).error, 'write into another\'s folder');
  assert.deepEqual(ok(await tara.storage.from('user-uploads').list(THEO)), []);
  ok(await theo.storage.from('user-uploads').download(`${THEO}/passport.pdf`), 'own download');

  // system-media: written by the service role, read by all
  assert.ok((await up(tara, 'system-media', 'logo.jpg', jpeg())).error, 'user writes system media');
  ok(await up(admin(), 'system-media', 'brand/logo.jpg', jpeg()), 'service role writes system media');
  ok(await anon().storage.from('system-media').download('brand/logo.jpg'), 'anon reads system media');
});

test('seed data: the Salkantay listing, its review and the seeded social graph', async () => {
  const a = anon();
  const adv = ok(await a.from('adventures').select('title, rating, total_reviews, vendors!adventures_vendor_id_fkey(business_name), reviews(rating, title)')
    .eq('id', SALKANTAY).single());
  assert.deepEqual(adv, { title: 'Salkantay Trek to Machu Picchu', rating: 5, total_reviews: 1, vendors: { business_name: 'Andes Trails Co.' },
    reviews: [{ rating: 5, title: 'Worth every step' }] });
  // Ben is connected to Ana and sees her connections-only post; a new traveller does not.
  const friends = ok(await asUser(BEN).from('posts').select('content').eq('user_id', ANA).order('created_at'));
  assert.equal(friends.length, 2);
  assert.equal(ok(await asUser(THEO).from('posts').select('id').eq('user_id', ANA)).length, 1);
  // Kai (the vendor) sees Ana's booking, Ben only his split.
  assert.equal(ok(await asUser(KAI).from('bookings').select('id').eq('user_id', ANA)).length, 1);
  assert.deepEqual(ok(await asUser(BEN).from('bookings').select('id')), []);
  assert.equal(ok(await asUser(BEN).from('payment_splits').select('amount').single()).amount, 650);
  // The seeded accounts sign in with their password.
  const c = anon();
  const r = await c.auth.signInWithPassword({ email: 'kai@andestrails.test', password: 'trvl-demo' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.user.id, KAI);
  assert.equal(ok(await c.from('vendors').select('business_name').eq('user_id', KAI).single()).business_name, 'Andes Trails Co.');
});

// ---- Stripe Connect, payments, webhooks, refunds, disputes, payouts (functions + fake Stripe) ----

let stripeSeq = 0;
const stripeIdempotent = new Map();
/** The Stripe API as documented, for the calls the functions make (form-encoded bodies). */
function fakeStripe(call) {
  if (call.headers.authorization !== `Bearer ${STRIPE_KEY}`) {
    return { status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } } };
  }
  const key = call.headers['idempotency-key'];
  if (key && stripeIdempotent.has(key)) return stripeIdempotent.get(key);
  const p = call.body;
  const n = ++stripeSeq;
  let answer;
  if (call.path === '/v1/accounts') {
    answer = { body: { id: `acct_${run}${n}`, object: 'account', type: p.type, country: 'US', default_currency: 'usd', email: p.email, charges_enabled: false, payouts_enabled: false, details_submitted: false, metadata: { vendor_id: p['metadata[vendor_id]'] } } };
  } else if (call.path === '/v1/account_links') {
    answer = { body: { object: 'account_link', created: Math.floor(Date.now() / 1000), expires_at: Math.floor(Date.now() / 1000) + 300, url: `https://connect.stripe.com/setup/e/${p.account}/link${n}` } };
  } else if (call.path === '/v1/payment_intents') {
    answer = { body: { id: `pi_${run}${n}`, object: 'payment_intent', amount: Number(p.amount), currency: p.currency, status: 'requires_payment_method', client_secret: `pi_${run}${n}_secret_x${n}`, transfer_group: p.transfer_group, metadata: {} } };
  } else if (call.path === '/v1/transfers') {
    if (p.destination === 'acct_disabled') {
      answer = { status: 400, body: { error: { type: 'invalid_request_error', code: 'insufficient_capabilities_for_transfer', message: 'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments' } } };
    } else {
      answer = { body: { id: `tr_${run}${n}`, object: 'transfer', amount: Number(p.amount), currency: p.currency, destination: p.destination, transfer_group: p.transfer_group } };
    }
  }
  if (answer && key) stripeIdempotent.set(key, answer);
  return answer;
}

let evtSeq = 0;
const stripeEvent = (type, object, extra = {}) => ({ id: `evt_${run}_${++evtSeq}`, object: 'event', api_version: '2024-06-20', created: Math.floor(Date.now() / 1000), livemode: false, type, data: { object }, ...extra });
/** Deliver an event as Stripe does: Stripe-Signature t=…,v1=hex HMAC-SHA256("t.body"), no JWT. */
async function deliverStripe(event, { secret = WHSEC, t = Math.floor(Date.now() / 1000), header } = {}) {
  const body = JSON.stringify(event);
  return postWebhook(`${b.url}/functions/v1/stripe-webhook`, body, { 'stripe-signature': header !== undefined ? header : stripeSignature(secret, body, t) });
}
/** functions.invoke as `client`; the status and JSON body, errors included. */
async function invoke(client, name, body) {
  const r = await client.functions.invoke(name, { body });
  if (!r.error) return { status: 200, body: r.data };
  return { status: r.error.context?.status, body: await r.error.context?.json?.().catch(() => null) };
}

const pay = {}; // ids shared by the payment tests
const lastNotification = (user) => b.sql(`select type, title from public.notifications where user_id = ${q(user)} order by created_at desc limit 1`)[0];

test('stripe connect: a vendor onboards through the function; the webhook completes it', async () => {
  for (const [id, email] of [[PAM, 'pam@trvl.test'], [PIA, 'pia@trvl.test'], [VIC, 'vic@rapids.test'], [MOD, 'mod2@trvl.test']]) createUserRow(b, id, email);
  b.sql(`update public.profiles set role = 'admin' where id = ${q(MOD)}`);
  pay.vendor = b.sql(`insert into public.vendors (user_id, business_name, email, status) values (${q(VIC)}, 'Rapid Rivers', 'vic@rapids.test', 'active') returning id`)[0][0];
  pay.adventure = b.sql(`insert into public.adventures (vendor_id, title, category, location, duration_hours, price_per_person) values (${q(pay.vendor)}, 'Futaleufú rafting', 'kayaking', 'Chile', 6, 150) returning id`)[0][0];
  pay.booking = b.sql(`insert into public.bookings (user_id, adventure_id, vendor_id, booking_date, participants) values (${q(PAM)}, ${q(pay.adventure)}, ${q(pay.vendor)}, current_date + 30, 2) returning id`)[0][0];
  [[pay.pamSplit], [pay.piaSplit]] = b.sql(`insert into public.payment_splits (booking_id, payer_id, amount) values (${q(pay.booking)}, ${q(PAM)}, 150), (${q(pay.booking)}, ${q(PIA)}, 150) returning id`);

  assert.equal((await invoke(asUser(PAM), 'stripe-connect', {})).status, 403, 'a traveller has no vendor to connect');
  let r = await invoke(asUser(VIC), 'stripe-connect', {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(r.body.url, /^https:\/\/connect\.stripe\.com\/setup\/e\/acct_/);
  pay.acct = r.body.stripe_account_id;
  const created = stripeApi.to('/v1/accounts')[0];
  assert.deepEqual([created.body.type, created.body['capabilities[transfers][requested]'], created.body['metadata[vendor_id]']], ['express', 'true', pay.vendor]);
  assert.equal(created.headers['idempotency-key'], `vendor-account-${pay.vendor}`);
  // Asking again gives a new link for the same account.
  r = await invoke(asUser(VIC), 'stripe-connect', {});
  assert.equal(r.body.stripe_account_id, pay.acct);
  assert.equal(stripeApi.to('/v1/accounts').length, 1);
  assert.deepEqual(ok(await asUser(VIC).from('stripe_account_onboarding').select('status')).map((o) => o.status), ['link_created', 'link_created']);

  // No payments before Stripe says the account can take them.
  assert.equal((await invoke(asUser(PAM), 'stripe-payments', { payment_split_id: pay.pamSplit })).status, 409);
  r = await deliverStripe(stripeEvent('account.updated', { id: pay.acct, object: 'account', charges_enabled: true, payouts_enabled: true, details_submitted: true, requirements: { currently_due: [], disabled_reason: null } }, { account: pay.acct }));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(ok(await asUser(VIC).from('stripe_accounts').select('charges_enabled, payouts_enabled')), [{ charges_enabled: true, payouts_enabled: true }]);
  assert.deepEqual(ok(await asUser(PAM).from('stripe_accounts').select('id')), [], 'travellers see no connected accounts');
  assert.equal(ok(await asUser(MOD).from('stripe_accounts').select('id').eq('vendor_id', pay.vendor)).length, 1, 'admins do');
  assert.equal(scalar(`select stripe_account_id from public.vendors where id = ${q(pay.vendor)}`), pay.acct);
  assert.equal(scalar(`select count(*) from public.stripe_account_onboarding o join public.stripe_accounts a on a.id = o.stripe_account_id where a.vendor_id = ${q(pay.vendor)} and o.status = 'completed'`), '2');
  assertInsertRefused(await asUser(VIC).from('stripe_accounts').insert({ vendor_id: pay.vendor, stripe_account_id: 'acct_forged' }), 'vendor writes its account');
});

test('stripe payments: each payer pays their own share; the webhook checks signatures and applies each event once', async () => {
  let r = await invoke(asUser(PIA), 'stripe-payments', { payment_split_id: pay.pamSplit });
  assert.equal(r.status, 404, 'pia pays pam\'s share');
  r = await invoke(asUser(PAM), 'stripe-payments', { payment_split_id: pay.pamSplit });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(r.body.client_secret, /^pi_.*_secret_/);
  pay.pamIntent = r.body.payment_intent_id;
  const sent = stripeApi.to('/v1/payment_intents').at(-1);
  assert.deepEqual([sent.body.amount, sent.body.currency, sent.body.transfer_group, sent.body['metadata[payment_split_id]']], ['15000', 'usd', `booking_${pay.booking}`, pay.pamSplit]);
  r = await invoke(asUser(PIA), 'stripe-payments', { payment_split_id: pay.piaSplit });
  pay.piaIntent = r.body.payment_intent_id;
  assert.deepEqual(ok(await asUser(PAM).from('stripe_payment_intents').select('stripe_payment_intent_id').order('created_at')).map((x) => x.stripe_payment_intent_id), [pay.pamIntent, pay.piaIntent], 'the booking owner sees both');
  assert.deepEqual(ok(await asUser(PIA).from('stripe_payment_intents').select('stripe_payment_intent_id')).map((x) => x.stripe_payment_intent_id), [pay.piaIntent], 'pia sees her own');
  assert.equal(ok(await asUser(VIC).from('stripe_payment_intents').select('id')).length, 2, 'the vendor sees the booking\'s');

  // Refused deliveries: no signature, another secret, a stale timestamp, a malformed header.
  const succeeded = stripeEvent('payment_intent.succeeded', { id: pay.pamIntent, object: 'payment_intent', amount: 15000, amount_received: 15000, currency: 'usd', status: 'succeeded' });
  const logsBefore = Number(scalar('select count(*) from public.webhook_logs where not signature_valid'));
  for (const [what, opts] of [['unsigned', { header: null }], ['another secret', { secret: 'whsec_other' }], ['stale', { t: Math.floor(Date.now() / 1000) - 600 }], ['malformed', { header: 'v1=abc' }]]) {
    assert.equal((await deliverStripe(succeeded, opts)).status, 400, what);
  }
  assert.equal(Number(scalar('select count(*) from public.webhook_logs where not signature_valid')), logsBefore + 4, 'refused deliveries are logged');
  assert.equal(scalar(`select count(*) from public.booking_payments where stripe_payment_intent_id = ${q(pay.pamIntent)}`), '0');

  r = await deliverStripe(succeeded);
  assert.deepEqual(r.body, { received: true, outcome: 'processed', type: 'payment_intent.succeeded' });
  const payment = ok(await asUser(PAM).from('booking_payments').select('id, amount, status, payment_method').eq('stripe_payment_intent_id', pay.pamIntent).single());
  assert.deepEqual([payment.amount, payment.status, payment.payment_method], [150, 'succeeded', 'split']);
  pay.pamPayment = payment.id;
  assert.equal(scalar(`select status from public.payment_splits where id = ${q(pay.pamSplit)}`), 'succeeded');
  const invoice = ok(await asUser(PAM).from('invoices').select('id, invoice_number, status, total, invoice_items(description, amount)').single(), 'pam reads her invoice');
  assert.match(invoice.invoice_number, /^TRVL-\d{4}-\d{6}$/);
  assert.deepEqual([invoice.status, invoice.total, invoice.invoice_items.length, invoice.invoice_items[0].amount], ['paid', 150, 1, 150]);
  assert.match(invoice.invoice_items[0].description, /Futaleufú rafting, .* \(your share\)/);
  assert.equal(ok(await asUser(VIC).from('invoices').select('id')).length, 1, 'the vendor sees it');
  assert.deepEqual(ok(await asUser(PIA).from('invoices').select('id')), [], 'pia does not');
  assert.deepEqual(ok(await asUser(PIA).from('invoice_items').select('id')), []);
  assert.deepEqual(lastNotification(PAM), ['payment', 'Payment received']);
  assert.deepEqual(lastNotification(VIC), ['payment', 'Booking payment received']);

  // Stripe delivers the same event again (a new signature, same event id): nothing changes.
  const counts = () => b.sql(`select (select count(*) from public.booking_payments), (select count(*) from public.invoices), (select count(*) from public.notifications), (select count(*) from public.webhook_events)`)[0];
  const before = counts();
  r = await deliverStripe(succeeded);
  assert.deepEqual(r.body, { received: true, duplicate: true });
  assert.deepEqual(counts(), before);

  // Pia's card fails: her share is marked, she is told.
  r = await deliverStripe(stripeEvent('payment_intent.payment_failed', { id: pay.piaIntent, object: 'payment_intent', amount: 15000, currency: 'usd', status: 'requires_payment_method', last_payment_error: { code: 'card_declined', message: 'Your card was declined.' } }));
  assert.equal(r.body.outcome, 'processed');
  assert.equal(scalar(`select status from public.payment_splits where id = ${q(pay.piaSplit)}`), 'failed');
  assert.deepEqual(b.sql(`select title, body from public.notifications where user_id = ${q(PIA)} order by created_at desc limit 1`)[0], ['Payment failed', 'Your card was declined.']);

  // An event the platform does not handle is recorded as ignored.
  r = await deliverStripe(stripeEvent('customer.created', { id: 'cus_1', object: 'customer' }));
  assert.equal(r.body.outcome, 'ignored');
});

test('stripe webhook: a failing event is recorded with its attempts, retried by Stripe, and resolved', async () => {
  const orphan = `pi_${run}_orphan`;
  const event = stripeEvent('payment_intent.succeeded', { id: orphan, object: 'payment_intent', amount: 5000, amount_received: 5000, currency: 'usd', status: 'succeeded' });
  let r = await deliverStripe(event);
  assert.equal(r.status, 500);
  assert.equal(r.body.attempts, 1);
  r = await deliverStripe(event);
  assert.equal(r.body.attempts, 2);
  assert.equal(scalar(`select count(*) from public.webhook_events where event_id = ${q(event.id)}`), '0', 'a failed event is not marked processed');
  const failure = ok(await asUser(MOD).from('webhook_failures').select('event_type, attempts, error, resolved_at').eq('event_id', event.id).single(), 'admin reads failures');
  assert.equal(failure.attempts, 2);
  assert.match(failure.error, /unknown payment intent/);
  assert.equal(failure.resolved_at, null);
  const forged = {
    webhook_failures: { event_id: 'evt_forged', payload: {}, error: 'x' },
    webhook_events: { event_id: 'evt_forged', event_type: 'payment_intent.succeeded', payload: {} },
    webhook_logs: { endpoint: 'stripe-webhook', signature_valid: true, http_status: 200 },
  };
  for (const [t, row] of Object.entries(forged)) {
    assert.deepEqual(ok(await asUser(PAM).from(t).select('*').limit(1)), [], `${t} is hidden from users`);
    assertInsertRefused(await asUser(PAM).from(t).insert(row), `${t} user insert`);
  }
  assert.ok(ok(await asUser(MOD).from('webhook_logs').select('http_status').eq('event_id', event.id)).every((l) => l.http_status === 500));

  // The missing intent is recorded (e.g. a booking made elsewhere); Stripe's next retry succeeds.
  b.sql(`insert into public.stripe_payment_intents (stripe_payment_intent_id, booking_id, user_id, amount) values (${q(orphan)}, ${q(pay.booking)}, ${q(PAM)}, 5000)`);
  r = await deliverStripe(event);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.notEqual(scalar(`select resolved_at from public.webhook_failures where event_id = ${q(event.id)}`), '');
  // Tidy up so the payout below sees Pam's share only.
  b.sql(`delete from public.invoices where booking_payment_id in (select id from public.booking_payments where stripe_payment_intent_id = ${q(orphan)}); delete from public.booking_payments where stripe_payment_intent_id = ${q(orphan)}`);
});

test('refunds and disputes: the traveller asks, the vendor decides, Stripe executes; disputes reach vendor and admins', async () => {
  const req = ok(await asUser(PAM).from('refund_requests').insert({ booking_id: pay.booking, booking_payment_id: pay.pamPayment, amount: 50, reason: 'One participant fell ill' }).select('id, status').single(), 'pam asks for a refund');
  assert.equal(req.status, 'requested');
  assertInsertRefused(await asUser(PIA).from('refund_requests').insert({ booking_id: pay.booking, amount: 300, reason: 'not my booking' }), 'pia asks for a refund of pam\'s booking');
  assertInsertRefused(await asUser(PAM).from('refund_requests').insert({ booking_id: pay.booking, amount: 10, reason: 'self approved', status: 'approved' }), 'pam files it approved');
  assert.deepEqual(ok(await asUser(PIA).from('refund_requests').select('id')), [], 'pia sees no request');
  assertRefused(await asUser(PAM).from('refund_requests').update({ status: 'approved' }).eq('id', req.id).select(), 'pam approves her own');
  const badMove = await asUser(VIC).from('refund_requests').update({ status: 'refunded' }).eq('id', req.id).select();
  assert.equal(badMove.error?.code, '42501', 'a vendor cannot mark a refund executed');
  const approved = ok(await asUser(VIC).from('refund_requests').update({ status: 'approved', decision_note: 'Get well soon' }).eq('id', req.id).select('status, decided_by').single(), 'vic approves');
  assert.deepEqual(approved, { status: 'approved', decided_by: VIC });

  let r = await deliverStripe(stripeEvent('charge.refunded', { id: 'ch_1', object: 'charge', payment_intent: pay.pamIntent, amount: 15000, amount_refunded: 5000, currency: 'usd', refunds: { data: [{ id: `re_${run}`, amount: 5000 }] } }));
  assert.equal(r.body.outcome, 'processed');
  assert.deepEqual(ok(await asUser(PAM).from('refund_requests').select('status, stripe_refund_id').eq('id', req.id).single()), { status: 'refunded', stripe_refund_id: `re_${run}` });
  assert.deepEqual(lastNotification(PAM), ['payment', 'Refund issued']);
  assert.equal(scalar(`select status from public.booking_payments where id = ${q(pay.pamPayment)}`), 'succeeded', 'a partial refund leaves the payment standing');

  r = await deliverStripe(stripeEvent('charge.dispute.created', { id: `dp_${run}`, object: 'dispute', payment_intent: pay.pamIntent, amount: 2000, currency: 'usd', reason: 'product_not_received', status: 'needs_response', evidence_details: { due_by: Math.floor(Date.now() / 1000) + 7 * 86400 } }));
  assert.equal(r.body.outcome, 'processed');
  assert.equal(ok(await asUser(VIC).from('dispute_cases').select('status').single()).status, 'needs_response');
  assert.equal(ok(await asUser(PAM).from('dispute_cases').select('id')).length, 1, 'the booking owner sees it');
  assert.deepEqual(ok(await asUser(PIA).from('dispute_cases').select('id')), []);
  assert.deepEqual(lastNotification(VIC), ['payment', 'A payment is disputed']);
  assertRefused(await asUser(VIC).from('dispute_cases').update({ resolution_note: 'mine' }).eq('stripe_dispute_id', `dp_${run}`).select(), 'vendor edits the dispute');
  ok(await asUser(MOD).from('dispute_cases').update({ assigned_admin: MOD, resolution_note: 'Evidence sent' }).eq('stripe_dispute_id', `dp_${run}`), 'admin works it');
  r = await deliverStripe(stripeEvent('charge.dispute.closed', { id: `dp_${run}`, object: 'dispute', payment_intent: pay.pamIntent, amount: 2000, currency: 'usd', reason: 'product_not_received', status: 'won', evidence_details: { due_by: null } }));
  assert.deepEqual(b.sql(`select status, resolution_note from public.dispute_cases where stripe_dispute_id = ${q(`dp_${run}`)}`)[0], ['won', 'Evidence sent']);
});

test('split reminders and payouts: due shares are reminded once a day; completed, paid bookings are transferred on schedule', async () => {
  b.sql(`update public.payment_splits set due_date = current_date + 1 where id = ${q(pay.piaSplit)}`);
  assert.ok((await asUser(PAM).rpc('remind_due_payment_splits')).error, 'users cannot run the reminder job');
  const svc = admin();
  assert.ok(ok(await svc.rpc('remind_due_payment_splits')) >= 1);
  assert.equal(ok(await svc.rpc('remind_due_payment_splits')), 0, 'once per share and day');
  assert.equal(ok(await asUser(PIA).from('split_payment_reminders').select('id')).length, 1);
  assert.deepEqual(ok(await asUser(PAM).from('split_payment_reminders').select('id')), [], 'pam sees none of pia\'s reminders');
  assert.deepEqual(b.sql(`select title from public.notifications where user_id = ${q(PIA)} order by created_at desc limit 1`)[0], ['Your share is due']);

  ok(await asUser(VIC).from('payout_schedules').insert({ vendor_id: pay.vendor, frequency: 'weekly', minimum_amount: 20 }), 'vic sets a schedule');
  // Nothing is due while the booking is not completed.
  const run1 = await invoke(admin(), 'process-payouts', {});
  assert.deepEqual(run1, { status: 200, body: { payouts: [] } });
  assert.equal((await invoke(asUser(VIC), 'process-payouts', {})).status, 403, 'vendors cannot trigger payouts');
  b.sql(`update public.bookings set status = 'completed' where id = ${q(pay.booking)}`);
  const run2 = await invoke(admin(), 'process-payouts', {});
  assert.equal(run2.status, 200, JSON.stringify(run2.body));
  assert.equal(run2.body.payouts.length, 1);
  const payout = run2.body.payouts[0];
  // Pam's 150 paid, 50 refunded: 100 gross, 10 % platform fee.
  assert.deepEqual([payout.status, payout.amount, payout.fee_amount, payout.booking_ids], ['paid', 90, 10, [pay.booking]]);
  const transfer = stripeApi.to('/v1/transfers').at(-1);
  assert.deepEqual([transfer.body.amount, transfer.body.currency, transfer.body.destination, transfer.headers['idempotency-key']], ['9000', 'usd', pay.acct, `payout-${payout.id}`]);
  assert.equal(payout.stripe_transfer_id, `tr_${run}${stripeSeq}`);
  assert.deepEqual(lastNotification(VIC), ['payment', 'Payout sent']);
  assert.equal(ok(await asUser(VIC).from('payout_transactions').select('id').eq('id', payout.id)).length, 1);
  assert.deepEqual(ok(await asUser(PAM).from('payout_transactions').select('id').eq('id', payout.id)), []);
  // The next run pays nothing twice.
  b.sql(`update public.payout_schedules set next_payout_date = current_date where vendor_id = ${q(pay.vendor)}`);
  assert.deepEqual((await invoke(admin(), 'process-payouts', {})).body, { payouts: [] });

  // A transfer Stripe refuses is recorded as failed with Stripe's reason.
  b.sql(`update public.stripe_accounts set stripe_account_id = 'acct_disabled' where vendor_id = ${q(pay.vendor)};
         update public.payout_transactions set status = 'failed' where id = ${q(payout.id)}`);
  const run3 = await invoke(admin(), 'process-payouts', {});
  assert.equal(run3.body.payouts[0].status, 'failed');
  assert.match(run3.body.payouts[0].failure_reason, /capabilities enabled: transfers/);
  assert.deepEqual(lastNotification(VIC), ['payment', 'Payout failed']);

  // The scheduled run: pg_cron's job calls request_payouts(), which posts to the function with
  // the URL and service key from Vault (pg_net); the transfer is retried and paid.
  if (scalar(`select count(*) from pg_available_extensions where name = 'pg_cron'`) !== '0') {
    assert.equal(scalar(`select command from cron.job where jobname = 'trvl-request-payouts'`), 'select public.request_payouts()');
  }
  assert.throws(() => b.sql('select public.request_payouts()'), /vault secrets project_url and service_role_key are not set/);
  b.sql(`select private.set_function_secrets(${q(b.url)}, ${q(b.serviceKey)});
         update public.stripe_accounts set stripe_account_id = ${q(pay.acct)} where vendor_id = ${q(pay.vendor)};
         update public.payout_schedules set next_payout_date = current_date where vendor_id = ${q(pay.vendor)}`);
  assert.equal(scalar(`select count(*) from vault.secrets where name in ('project_url', 'service_role_key') and secret not like '%' || ${q(b.serviceKey.slice(-12))} || '%'`), '2', 'the key is stored encrypted');
  const requestId = scalar('select public.request_payouts()');
  let status;
  for (let i = 0; i < 100 && !status; i++) {
    status = scalar(`select status_code from net._http_response where id = ${requestId}`);
    if (!status) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, '200', `pg_net's call to process-payouts: ${JSON.stringify(b.sql(`select status_code, error_msg, content from net._http_response where id = ${requestId}`))}`);
  assert.deepEqual(b.sql(`select status, amount::text from public.payout_transactions where vendor_id = ${q(pay.vendor)} order by created_at desc limit 1`)[0], ['paid', '90.00']);
  assert.equal(stripeApi.to('/v1/transfers').at(-1).body.destination, pay.acct);
  assertRefused(await asUser(VIC).rpc('request_payouts'), 'vendors cannot start the payout run');
});

// ---- The design's remaining tables: owner, other user, service role ----

test('ML, catalogue, payment tokens and reconciliation: service-written, read by whom they concern', async () => {
  const svc = admin();
  const model = ok(await svc.from('compatibility_model_versions').insert({ version: '1.2.0', weights: { openness: 0.3 }, is_active: true }).select('id').single(), 'service stores a model');
  assert.equal((await svc.from('compatibility_model_versions').insert({ version: '1.3.0', is_active: true })).error?.code, '23505', 'one active model');
  ok(await svc.from('model_training_data').insert({ model_version_id: model.id, user_a: PAM, user_b: PIA, features: { openness_gap: 0.1 }, label: 0.9 }));
  ok(await svc.from('user_behavior_data').insert([{ user_id: PAM, event_type: 'view_adventure', target_id: pay.adventure }, { user_id: PIA, event_type: 'search' }]));
  assert.deepEqual(ok(await asUser(PAM).from('user_behavior_data').select('event_type')), [{ event_type: 'view_adventure' }], 'pam reads only her behaviour');
  assert.deepEqual(ok(await asUser(PAM).from('compatibility_model_versions').select('id')), []);
  assert.deepEqual(ok(await asUser(PAM).from('model_training_data').select('id')), []);
  assert.equal(ok(await asUser(MOD).from('model_training_data').select('id')).length, 1, 'admins read training data');
  assertInsertRefused(await asUser(PAM).from('user_behavior_data').insert({ user_id: PAM, event_type: 'book' }), 'users write behaviour data');
  assertInsertRefused(await asUser(MOD).from('compatibility_model_versions').insert({ version: '9.9.9' }), 'even admins do not write models');

  const product = ok(await svc.from('stripe_products').insert({ stripe_product_id: `prod_${run}`, adventure_id: pay.adventure, vendor_id: pay.vendor, name: 'Futaleufú rafting' }).select('id').single());
  ok(await svc.from('stripe_prices').insert({ stripe_price_id: `price_${run}`, product_id: product.id, unit_amount: 15000 }));
  ok(await svc.from('stripe_products').insert({ stripe_product_id: `prod_${run}_old`, vendor_id: pay.vendor, name: 'Retired', active: false }));
  assert.deepEqual(ok(await anon().from('stripe_prices').select('unit_amount, stripe_products(name)').eq('stripe_price_id', `price_${run}`)), [{ unit_amount: 15000, stripe_products: { name: 'Futaleufú rafting' } }], 'the active catalogue is public');
  assert.deepEqual(ok(await anon().from('stripe_products').select('id').eq('stripe_product_id', `prod_${run}_old`)), [], 'inactive products are hidden');
  assert.equal(ok(await asUser(VIC).from('stripe_products').select('id').eq('stripe_product_id', `prod_${run}_old`)).length, 1, 'but not from their vendor');
  assertInsertRefused(await asUser(VIC).from('stripe_prices').insert({ stripe_price_id: 'price_forged', product_id: product.id, unit_amount: 1 }), 'vendor sets a price');

  const token = ok(await svc.from('payment_tokens').insert({ user_id: PAM, stripe_customer_id: 'cus_pam', stripe_payment_method_id: `pm_${run}`, brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, is_default: true }).select('id').single());
  assert.deepEqual(ok(await asUser(PAM).from('payment_tokens').select('brand, last4')), [{ brand: 'visa', last4: '4242' }]);
  assert.deepEqual(ok(await asUser(PIA).from('payment_tokens').select('id')), []);
  assertRefused(await asUser(PIA).from('payment_tokens').delete().eq('id', token.id).select(), 'pia removes pam\'s card');
  assertInsertRefused(await asUser(PIA).from('payment_tokens').insert({ user_id: PIA, stripe_customer_id: 'cus_x', stripe_payment_method_id: 'pm_forged' }), 'users store cards themselves');
  assert.equal(ok(await asUser(PAM).from('payment_tokens').delete().eq('id', token.id).select()).length, 1, 'pam removes her card');

  ok(await svc.from('payment_reconciliations').insert({ booking_payment_id: pay.pamPayment, stripe_payment_intent_id: pay.pamIntent, stripe_balance_transaction_id: `txn_${run}`, expected_amount: 150, settled_amount: 145.35, fee_amount: 4.65 }));
  assert.deepEqual(ok(await asUser(PAM).from('payment_reconciliations').select('id')), []);
  assert.deepEqual(ok(await asUser(VIC).from('payment_reconciliations').select('id')), []);
  assert.equal(ok(await asUser(MOD).from('payment_reconciliations').select('status').eq('stripe_balance_transaction_id', `txn_${run}`).single()).status, 'matched');
});

test('vendor forum: active vendors and admins only; one vote per vendor, never on one\'s own post; locked topics take no replies', async () => {
  const KAI = '33333333-3333-4333-8333-333333333333'; // seeded active vendor
  assertInsertRefused(await asUser(VIC).from('forum_categories').insert({ slug: 'pricing', name: 'Pricing' }), 'vendor creates a category');
  const cat = ok(await asUser(MOD).from('forum_categories').insert({ slug: `pricing-${run}`, name: 'Pricing' }).select('id').single(), 'admin creates a category');
  const topic = ok(await asUser(VIC).from('forum_topics').insert({ category_id: cat.id, title: 'High season surcharges?', body: 'How do you price December?' }).select('id').single(), 'vic opens a topic');
  assert.deepEqual(ok(await asUser(PAM).from('forum_topics').select('id')), [], 'travellers cannot read the forum');
  assert.equal((await anon().from('forum_categories').select('id')).error?.code, '42501', 'the forum is not granted to anon');
  assertInsertRefused(await asUser(PAM).from('forum_topics').insert({ category_id: cat.id, title: 'Hello vendors', body: 'spam' }), 'traveller posts a topic');
  assertInsertRefused(await asUser(VIC).from('forum_topics').insert({ category_id: cat.id, title: 'Pinned by me', body: 'x', is_pinned: true }), 'vendor pins own topic');
  const reply = ok(await asUser(KAI).from('forum_posts').insert({ topic_id: topic.id, body: '+20% from Dec 15' }).select('id').single(), 'kai replies');
  ok(await asUser(VIC).from('forum_post_votes').insert({ post_id: reply.id, value: 1 }), 'vic upvotes');
  assert.equal((await asUser(VIC).from('forum_post_votes').insert({ post_id: reply.id, value: 1 })).error?.code, '23505', 'one vote each');
  assertInsertRefused(await asUser(KAI).from('forum_post_votes').insert({ post_id: reply.id, value: 1 }), 'kai upvotes himself');
  assertInsertRefused(await asUser(PAM).from('forum_post_votes').insert({ post_id: reply.id, value: -1 }), 'traveller votes');
  assert.deepEqual(b.sql(`select reply_count, (select score from public.forum_posts where id = ${q(reply.id)}) from public.forum_topics where id = ${q(topic.id)}`)[0], ['1', '1']);
  assertRefused(await asUser(KAI).from('forum_topics').update({ title: 'Hijacked' }).eq('id', topic.id).select(), 'kai edits vic\'s topic');
  ok(await asUser(MOD).from('forum_topics').update({ is_locked: true }).eq('id', topic.id), 'admin locks');
  assertInsertRefused(await asUser(VIC).from('forum_posts').insert({ topic_id: topic.id, body: 'one more thing' }), 'reply to a locked topic');
  assertRefused(await asUser(VIC).from('forum_posts').delete().eq('id', reply.id).select(), 'vic deletes kai\'s post');
  assert.equal(ok(await asUser(MOD).from('forum_posts').delete().eq('id', reply.id).select()).length, 1, 'admin removes a post');
  assert.equal(scalar(`select reply_count from public.forum_topics where id = ${q(topic.id)}`), '0');
});

test('engagement and media: users record about themselves; metrics by the service; media private until published', async () => {
  const pam = asUser(PAM);
  const pia = asUser(PIA);
  ok(await pam.from('user_activity_logs').insert({ activity: 'search', details: { q: 'rafting' } }), 'pam logs activity');
  ok(await pam.from('content_views').insert({ content_type: 'adventure', content_id: pay.adventure, duration_ms: 4000 }));
  ok(await pam.from('user_interactions').insert({ target_user_id: PIA, interaction: 'message' }));
  assertInsertRefused(await pia.from('user_activity_logs').insert({ user_id: PAM, activity: 'sign_in' }), 'pia logs as pam');
  assertInsertRefused(await pia.from('content_views').insert({ viewer_id: PAM, content_type: 'post', content_id: randomUUID() }), 'pia records a view as pam');
  assert.deepEqual(ok(await pia.from('user_activity_logs').select('id').eq('user_id', PAM)), []);
  assert.deepEqual(ok(await pia.from('content_views').select('id').eq('viewer_id', PAM)), []);
  assert.equal(ok(await pia.from('user_interactions').select('interaction').eq('user_id', PAM)).length, 1, 'the target sees an interaction with her');
  assertRefused(await pam.from('user_activity_logs').delete().eq('user_id', PAM).select(), 'activity logs are append-only');
  const today = new Date().toISOString().slice(0, 10);
  assert.ok((await pam.rpc('refresh_engagement_metrics', { p_day: today })).error, 'users cannot compute metrics');
  assert.ok(ok(await admin().rpc('refresh_engagement_metrics', { p_day: today })) >= 2);
  assert.deepEqual(ok(await pam.from('engagement_metrics').select('interactions_made, activities').eq('metric_date', today)), [{ interactions_made: 1, activities: 1 }]);
  assert.deepEqual(ok(await pia.from('engagement_metrics').select('user_id, interactions_received').eq('metric_date', today)), [{ user_id: PIA, interactions_received: 1 }]);
  assertInsertRefused(await pam.from('engagement_metrics').insert({ user_id: PAM, metric_date: today }), 'users write metrics');

  const file = ok(await pam.from('media_files').insert({ bucket_id: 'user-uploads', object_path: `${PAM}/rafting.jpg`, mime_type: 'image/jpeg', size_bytes: 120000 }).select('id, status').single(), 'pam registers an upload');
  assertInsertRefused(await pam.from('media_files').insert({ bucket_id: 'user-uploads', object_path: `${PIA}/x.jpg`, mime_type: 'image/jpeg', size_bytes: 1 }), 'into pia\'s folder');
  assertInsertRefused(await pam.from('media_thumbnails').insert({ media_file_id: file.id, size: 'small', object_path: 'x', width: 1, height: 1 }), 'users write thumbnails');
  ok(await admin().from('media_thumbnails').insert({ media_file_id: file.id, size: 'small', object_path: `${PAM}/rafting.small.jpg`, width: 160, height: 120 }), 'the worker adds a thumbnail');
  ok(await admin().from('media_metadata').insert({ media_file_id: file.id, width: 4032, height: 3024, location: 'Futaleufú' }));
  assert.equal(ok(await pam.from('media_files').select('status').eq('id', file.id).single()).status, 'ready');
  assert.equal(ok(await pam.from('media_thumbnails').select('id').eq('media_file_id', file.id)).length, 1);
  for (const [who, c] of [['pia', pia], ['anon', anon()]]) {
    assert.deepEqual(ok(await c.from('media_files').select('id').eq('id', file.id)), [], `${who} sees a private file`);
    assert.deepEqual(ok(await c.from('media_metadata').select('location').eq('media_file_id', file.id)), [], `${who} sees private metadata`);
  }
  assertRefused(await pia.from('media_files').update({ is_public: true }).eq('id', file.id).select(), 'pia publishes pam\'s file');
  ok(await pam.from('media_files').update({ is_public: true }).eq('id', file.id), 'pam publishes');
  assert.deepEqual(ok(await anon().from('media_metadata').select('location').eq('media_file_id', file.id)), [{ location: 'Futaleufú' }]);
  assert.equal(ok(await pia.from('media_thumbnails').select('id').eq('media_file_id', file.id)).length, 1);
  assertRefused(await pia.from('media_files').delete().eq('id', file.id).select(), 'pia deletes pam\'s file');
});

test('basalt db reset re-creates the project from migrations and seed, twice in a row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-trvl-social-reset-'));
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
