// examples/trvl-social through the real supabase-js against `basalt start`: sign-up creates the
// profile; profiles, active adventures, reviews and public posts are public; travellers see and
// change only their own rows; vendors manage their listings and see their bookings; admins
// moderate; payments, payouts and WhatsApp are written by the service role; uploads land in
// the right buckets; a realtime subscription sees the notification another user's like causes;
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

let b;
before(async () => {
  b = await startBasalt({ projectDir });
  createUserRow(b, TARA, 'tara@trvl.test');
  createUserRow(b, THEO, 'theo@trvl.test');
  createUserRow(b, VERA, 'vera@peaks.test');
  createUserRow(b, ADMIN, 'admin@trvl.test');
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
