// examples/whatsapp-saas (seed 002) through the real supabase-js against `basalt start`: the five
// product schemas reached by schema switching; public, rate-limited and deduplicated lead capture;
// onboarding sessions readable and writable only with their session token; analytics written by
// anyone and read by admins; experiment auto-assignment; WhatsApp accounts and templates owned by
// their user; the maintenance functions (service role only); GDPR access and deletion; the admin's
// live lead feed over realtime; `basalt db reset` re-creates the project.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, repoRoot, basaltBin, freePort } from './lib/basalt.mjs';

const projectDir = join(repoRoot, 'examples/whatsapp-saas');
const PASSWORD = 'correct horse battery staple';
const run = Date.now();
const mail = (name) => `${name}-${run}@wa-saas.test`;

let b;
let ops; // admin (app_metadata.role = 'admin')
let carla; // signs up with the address of an earlier lead
let dan; // another customer
let carlaLead; // the response to Carla's form submission

before(async () => {
  b = await startBasalt({ projectDir });
  // Carla was a lead before she signed up (the lead-capture tests assert that this insert works).
  carlaLead = await visitor('198.51.100.10').schema('marketing').from('leads')
    .insert({ email: mail('carla').toUpperCase(), full_name: 'Carla Ruiz', company_name: 'Ruiz Flores', source: 'demo-request' });
  carla = await signUp(mail('carla'));
  dan = await signUp(mail('dan'));
  const opsUser = await signUp(mail('ops'));
  const promote = await admin().auth.admin.updateUserById(opsUser.id, { app_metadata: { role: 'admin' } });
  assert.equal(promote.error, null, JSON.stringify(promote.error));
  ops = await signIn(opsUser.email);
});
after(async () => { await b?.stop(); });

const clientOptions = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } };
const anon = () => createClient(b.url, b.anonKey, clientOptions);
const admin = () => createClient(b.url, b.serviceKey, clientOptions);
/** An anonymous website visitor from `ip` (optionally holding an onboarding session token). */
const visitor = (ip, sessionToken) => createClient(b.url, b.anonKey, {
  ...clientOptions,
  global: { headers: { 'x-forwarded-for': ip, ...(sessionToken ? { 'x-session-token': sessionToken } : {}) } },
});
function userClient(token) {
  const c = createClient(b.url, b.anonKey, { ...clientOptions, accessToken: async () => token });
  c.realtime.setAuth(token);
  return c;
}
async function signUp(email) {
  const r = await anon().auth.signUp({ email, password: PASSWORD });
  assert.equal(r.error, null, `sign-up ${email}: ${JSON.stringify(r.error)}`);
  assert.ok(r.data.session, 'autoconfirm gives a session');
  return { id: r.data.user.id, email, db: userClient(r.data.session.access_token) };
}
async function signIn(email, password = PASSWORD) {
  const r = await anon().auth.signInWithPassword({ email, password });
  assert.equal(r.error, null, `sign-in ${email}: ${JSON.stringify(r.error)}`);
  return { id: r.data.user.id, email, db: userClient(r.data.session.access_token) };
}

const ok = (r, what = '') => {
  assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`);
  return r.data;
};
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
const scalar = (sql) => b.sql(sql)[0]?.[0];
function assertNoRows(r, what) {
  assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`);
  assert.deepEqual(r.data, [], `${what}: rows were affected: ${JSON.stringify(r.data)}`);
}
function assertDenied(r, what) {
  assert.ok(r.error, `${what}: was accepted: ${JSON.stringify(r.data)}`);
  assert.equal(r.error.code, '42501', `${what}: ${JSON.stringify(r.error)}`);
}

test('schema switching: the five product schemas are exposed, private is not', async () => {
  const exps = ok(await anon().schema('experiments').from('experiments').select('key, status').order('key'), 'anon reads experiments');
  assert.deepEqual(exps, [{ key: 'pricing-cta', status: 'running' }, { key: 'short-onboarding', status: 'running' }], 'only running experiments are public');
  const all = ok(await ops.db.schema('experiments').from('experiments').select('key').order('key'), 'admin reads experiments');
  assert.deepEqual(all.map((e) => e.key), ['pricing-cta', 'short-onboarding', 'whatsapp-widget']);
  for (const [schema, table] of [['marketing', 'leads'], ['onboarding', 'sessions'], ['analytics', 'events'], ['whatsapp', 'accounts']]) {
    const r = await ops.db.schema(schema).from(table).select('*', { count: 'exact', head: true });
    assert.equal(r.error, null, `${schema}.${table}: ${JSON.stringify(r.error)}`);
  }
  const hidden = await anon().schema('private').from('rate_limit_events').select('*');
  assert.equal(hidden.error?.code, 'PGRST106', JSON.stringify(hidden.error));
  // The same table name in public does not exist: the profile header decides.
  const wrong = await anon().from('leads').select('*');
  assert.ok(wrong.error, 'public.leads does not exist');
});

test('lead capture: anonymous insert only, normalised, stamped with the client address, deduplicated', async () => {
  const v = visitor('203.0.113.20');
  const email = mail('maria');
  ok(await v.schema('marketing').from('leads').insert({
    email: `  ${email.toUpperCase()} `, company_name: 'Maria\'s Tapas', country: 'es', company_size: '11-50',
    expected_monthly_messages: 2500, source: 'website-form', utm: { utm_source: 'google' }, consent_marketing: true,
  }), 'visitor submits the form');
  // Visitors cannot read leads back, nor set what the team decides.
  assertDenied(await v.schema('marketing').from('leads').select('*'), 'visitor reads leads');
  assertDenied(await v.schema('marketing').from('leads').insert({ email: mail('sneaky'), status: 'converted' }), 'visitor sets status');
  assertDenied(await v.schema('marketing').from('leads').insert({ email: mail('sneaky2'), score: 100 }), 'visitor sets score');
  // A second submission of the same address merges into the lead.
  ok(await visitor('203.0.113.21').schema('marketing').from('leads').insert({ email, full_name: 'María López', phone: '+34 600 111 222', utm: { utm_campaign: 'tapas' } }), 'resubmission');

  const rows = ok(await ops.db.schema('marketing').from('leads').select('*').eq('email', email), 'admin reads the lead');
  assert.equal(rows.length, 1, 'one lead per address');
  const lead = rows[0];
  assert.equal(lead.country, 'ES');
  assert.equal(lead.full_name, 'María López');
  assert.equal(lead.submission_count, 2);
  assert.deepEqual(lead.utm, { utm_source: 'google', utm_campaign: 'tapas' });
  assert.equal(lead.ip_address, '203.0.113.21');
  assert.equal(lead.status, 'new');
  assert.ok(lead.consent_at, 'consent time recorded');
  assert.ok(lead.score > 0, 'lead scored');
  // Customers see no one else's leads.
  assert.deepEqual(ok(await dan.db.schema('marketing').from('leads').select('id').eq('email', email)), []);
});

test('lead capture is rate limited per IP address and per email address (HTTP 429)', async () => {
  const v = visitor('192.0.2.77');
  for (let i = 0; i < 5; i++) {
    ok(await v.schema('marketing').from('leads').insert({ email: mail(`burst${i}`) }), `submission ${i + 1}`);
  }
  const sixth = await v.schema('marketing').from('leads').insert({ email: mail('burst5') });
  assert.ok(sixth.error, 'the sixth submission from one address within the hour is refused');
  assert.equal(sixth.status, 429, JSON.stringify(sixth));
  assert.equal(scalar(`select count(*) from marketing.leads where email = ${q(mail('burst5'))}`), '0');
  // Other visitors are not affected.
  ok(await visitor('192.0.2.78').schema('marketing').from('leads').insert({ email: mail('neighbour') }), 'another address');
  // Per email address: three submissions an hour, from wherever they come.
  for (let i = 0; i < 3; i++) {
    ok(await visitor(`192.0.2.${100 + i}`).schema('marketing').from('leads').insert({ email: mail('eager') }), `eager ${i + 1}`);
  }
  const fourth = await visitor('192.0.2.110').schema('marketing').from('leads').insert({ email: mail('eager') });
  assert.equal(fourth.status, 429, JSON.stringify(fourth));
  assert.equal(scalar(`select submission_count from marketing.leads where email = ${q(mail('eager'))}`), '3');
  // The service role (imports) is not limited.
  const svc = admin();
  for (let i = 0; i < 7; i++) ok(await svc.schema('marketing').from('leads').insert({ email: mail(`import${i}`), source: 'import' }), `import ${i}`);
});

test('sign-up converts the lead; the person reads the lead data held about them (GDPR access)', async () => {
  assert.equal(carlaLead.error, null, `carla's form submission: ${JSON.stringify(carlaLead.error)}`);
  const mine = ok(await carla.db.schema('marketing').from('leads').select('email, full_name, status, converted_user_id'), 'carla reads her lead');
  assert.deepEqual(mine, [{ email: mail('carla'), full_name: 'Carla Ruiz', status: 'converted', converted_user_id: carla.id }]);
  assert.deepEqual(ok(await dan.db.schema('marketing').from('leads').select('id')), [], 'dan holds no lead and sees none');
  assertNoRows(await carla.db.schema('marketing').from('leads').update({ status: 'lost' }).eq('email', mail('carla')).select(), 'carla edits her lead');
  assertNoRows(await dan.db.schema('marketing').from('leads').delete().eq('email', mail('carla')).select(), 'dan deletes carla\'s lead');
  assert.equal(scalar(`select status from marketing.leads where email = ${q(mail('carla'))}`), 'converted');
});

test('CRM: admins manage leads and interactions; customers cannot', async () => {
  const lead = ok(await ops.db.schema('marketing').from('leads').select('id').eq('email', mail('maria')).single(), 'admin finds the lead');
  const note = ok(await ops.db.schema('marketing').from('lead_interactions')
    .insert({ lead_id: lead.id, type: 'call', summary: 'Discovery call: 3 restaurants, wants reservations bot', outcome: 'demo booked' })
    .select('performed_by').single(), 'admin logs a call');
  assert.equal(note.performed_by, ops.id);
  ok(await ops.db.schema('marketing').from('leads').update({ status: 'qualified' }).eq('id', lead.id), 'admin qualifies');
  assert.equal(scalar(`select status from marketing.leads where id = ${q(lead.id)}`), 'qualified');

  assert.deepEqual(ok(await dan.db.schema('marketing').from('lead_interactions').select('id')), [], 'dan reads interactions');
  assertDenied(await dan.db.schema('marketing').from('lead_interactions').insert({ lead_id: lead.id, type: 'note', summary: 'x' }), 'dan logs an interaction');
  assertDenied(await anon().schema('marketing').from('lead_interactions').select('id'), 'anon reads interactions');
  // Every change to a lead is in the audit trail, readable by admins only.
  const trail = ok(await ops.db.from('audit_log').select('action').eq('table_name', 'leads').eq('record_id', lead.id).order('id'), 'admin reads the audit log');
  assert.deepEqual(trail.map((t) => t.action), ['INSERT', 'UPDATE', 'UPDATE']);
  assert.deepEqual(ok(await dan.db.from('audit_log').select('id')), [], 'dan reads no audit entries');
});

test('onboarding: the session is reachable only with its session token', async () => {
  const v = visitor('198.51.100.40');
  const [s] = ok(await v.schema('onboarding').rpc('start_session', { p_email: mail('maria'), p_company_name: 'Maria\'s Tapas' }), 'start');
  assert.match(s.session_token, /^sess_[0-9a-f]{48}$/);
  assert.equal(s.current_step, 'welcome');
  const holder = visitor('198.51.100.40', s.session_token);
  const other = visitor('198.51.100.41', 'sess_not_the_right_one');

  assert.deepEqual(ok(await v.schema('onboarding').from('sessions').select('id')), [], 'without the token nothing is visible');
  assert.deepEqual(ok(await other.schema('onboarding').from('sessions').select('id')), [], 'another token sees nothing');
  const mine = ok(await holder.schema('onboarding').from('sessions').select('id, email, lead_id, status').single(), 'holder reads the session');
  assert.equal(mine.id, s.session_id);
  assert.ok(mine.lead_id, 'linked to the lead with the same address');

  // The design's flow: business info done, jump to bot setup.
  const step = ok(await holder.schema('onboarding').from('sessions')
    .update({ current_step: 'bot_setup', business_info_completed_at: new Date().toISOString(), business_info: { industry: 'restaurants' } })
    .eq('session_token', s.session_token).select('current_step, progress_percentage, status').single(), 'holder advances');
  assert.deepEqual(step, { current_step: 'bot_setup', progress_percentage: 25, status: 'in_progress' });
  assertNoRows(await other.schema('onboarding').from('sessions').update({ current_step: 'completed' }).eq('id', s.session_id).select(), 'other token updates');
  assertDenied(await holder.schema('onboarding').from('sessions').update({ status: 'completed' }).eq('id', s.session_id), 'holder sets status directly');
  assertDenied(await holder.schema('onboarding').from('sessions').update({ session_token: 'sess_mine_now' }).eq('id', s.session_id), 'holder changes the token');

  ok(await holder.schema('onboarding').from('step_activities').insert({ session_id: s.session_id, step: 'bot_setup', action: 'viewed', duration_ms: 1200 }), 'activity');
  assertDenied(await other.schema('onboarding').from('step_activities').insert({ session_id: s.session_id, step: 'bot_setup', action: 'error' }), 'activity without the token');
  assert.deepEqual(ok(await other.schema('onboarding').from('step_activities').select('id').eq('session_id', s.session_id)), []);
  assert.equal(ok(await holder.schema('onboarding').from('step_activities').select('id').eq('session_id', s.session_id)).length, 1);

  // Finishing every step completes the session.
  const now = new Date().toISOString();
  const done = ok(await holder.schema('onboarding').from('sessions')
    .update({ whatsapp_connected_at: now, bot_setup_completed_at: now, test_message_sent_at: now })
    .eq('id', s.session_id).select('current_step, progress_percentage, status, completed_at').single(), 'finish');
  assert.equal(done.current_step, 'completed');
  assert.equal(done.progress_percentage, 100);
  assert.equal(done.status, 'completed');
  assert.ok(done.completed_at);
});

test('onboarding: a signed-in user\'s session is theirs without a token', async () => {
  const [s] = ok(await dan.db.schema('onboarding').rpc('start_session', { p_company_name: 'Dan Bikes' }), 'dan starts');
  const own = ok(await dan.db.schema('onboarding').from('sessions').select('id, user_id'), 'dan lists his sessions');
  assert.deepEqual(own, [{ id: s.session_id, user_id: dan.id }]);
  assert.deepEqual(ok(await carla.db.schema('onboarding').from('sessions').select('id').eq('id', s.session_id)), [], 'carla sees dan\'s session');
  assertNoRows(await carla.db.schema('onboarding').from('sessions').update({ company_name: 'Hijacked' }).eq('id', s.session_id).select(), 'carla updates dan\'s session');
  ok(await dan.db.schema('onboarding').from('sessions').update({ business_info_completed_at: new Date().toISOString() }).eq('id', s.session_id), 'dan progresses');
  assert.equal(scalar(`select current_step::text from onboarding.sessions where id = ${q(s.session_id)}`), 'whatsapp_connect', 'auto-advanced to the first open step');
  // Admins see every session (drop-off analysis).
  assert.ok(ok(await ops.db.schema('onboarding').from('sessions').select('id')).length >= 5);
});

test('analytics: anyone sends events (enriched on insert); only admins read them and their aggregates', async () => {
  const v = visitor('198.51.100.60');
  ok(await v.schema('analytics').from('events').insert({ type: 'user_action', name: 'demo_request', session_id: `web_${run}`, properties: { page: '/demo' } }), 'visitor event');
  ok(await dan.db.schema('analytics').from('events').insert({ type: 'page_view', name: 'page_view', session_id: `app_${run}`, properties: { page: '/dashboard' } }), 'dan event');
  assertDenied(await dan.db.schema('analytics').from('events').insert({ type: 'conversion', name: 'paid', user_id: carla.id }), 'dan attributes an event to carla');
  assertDenied(await v.schema('analytics').from('events').insert({ type: 'system', name: 'x', processed_at: new Date().toISOString() }), 'visitor marks processed');
  assertDenied(await v.schema('analytics').from('events').select('id'), 'visitor reads events');
  assert.deepEqual(ok(await dan.db.schema('analytics').from('events').select('id')), [], 'dan reads events');

  const [demo] = ok(await ops.db.schema('analytics').from('events').select('page, event_date, event_hour, context, user_id').eq('session_id', `web_${run}`), 'admin reads');
  assert.equal(demo.page, '/demo');
  assert.equal(demo.event_date, new Date().toISOString().slice(0, 10));
  assert.equal(demo.context.ip, '198.51.100.60');
  assert.equal(demo.user_id, null);
  const [mine] = ok(await ops.db.schema('analytics').from('events').select('user_id').eq('session_id', `app_${run}`));
  assert.equal(mine.user_id, dan.id, 'signed-in events are attributed to the sender');

  // The 5-minute batch job (needs cron) aggregates; callable by the service role only.
  assertDenied(await dan.db.rpc('process_pending_events'), 'dan runs the batch');
  const processed = ok(await admin().rpc('process_pending_events'), 'service role runs the batch');
  assert.ok(processed >= 2, `processed ${processed}`);
  const agg = ok(await ops.db.schema('analytics').from('event_aggregations').select('event_count, unique_sessions').eq('name', 'demo_request'), 'admin reads aggregates');
  assert.ok(agg.reduce((n, a) => n + a.event_count, 0) >= 1);
  assert.deepEqual(ok(await dan.db.schema('analytics').from('event_aggregations').select('id')), []);
  assert.deepEqual(ok(await dan.db.schema('analytics').from('metrics').select('id')), []);
  assert.ok(ok(await ops.db.schema('analytics').from('metrics').select('metric').eq('metric', 'events_total')).length >= 1);
});

test('experiments: deterministic auto-assignment by country; users assign only themselves', async () => {
  const v = anon();
  const de = ok(await v.rpc('auto_assign_experiments', { session_id: `web_de_${run}`, country: 'DE' }), 'visitor from DE');
  assert.deepEqual(de.map((a) => a.experiment_key), ['pricing-cta', 'short-onboarding']);
  const again = ok(await v.rpc('auto_assign_experiments', { session_id: `web_de_${run}`, country: 'DE' }), 'again');
  assert.deepEqual(again, de, 'assignments are sticky');
  const us = ok(await v.rpc('auto_assign_experiments', { session_id: `web_us_${run}`, country: 'US' }), 'visitor from US');
  assert.deepEqual(us.map((a) => a.experiment_key), ['pricing-cta'], 'short-onboarding targets the EU only');
  for (const a of [...de, ...us]) assert.ok(['book_demo', 'free_trial', 'control', 'three_steps'].includes(a.variant), a.variant);

  const forOther = await dan.db.rpc('auto_assign_experiments', { user_id: carla.id, country: 'IT' });
  assert.equal(forOther.error?.code, '42501', JSON.stringify(forOther.error));
  const mine = ok(await dan.db.rpc('auto_assign_experiments', { country: 'IT' }), 'dan assigns himself');
  assert.equal(mine.length, 2);
  const rows = ok(await dan.db.schema('experiments').from('assignments').select('user_id, variant'), 'dan reads his assignments');
  assert.equal(rows.length, 2);
  assert.ok(rows.every((r) => r.user_id === dan.id));
  assert.deepEqual(ok(await carla.db.schema('experiments').from('assignments').select('id').eq('user_id', dan.id)), []);

  // Managing experiments is for admins.
  assertDenied(await dan.db.schema('experiments').from('experiments').insert({ key: `dan-${run}`, name: 'x', variants: [{ key: 'a', weight: 1 }, { key: 'b', weight: 1 }] }), 'dan creates an experiment');
  ok(await ops.db.schema('experiments').from('experiments').insert({ key: `onboarding-video-${run}`, name: 'Video in onboarding', variants: [{ key: 'off', weight: 50 }, { key: 'on', weight: 50 }] }), 'admin drafts');
  assert.deepEqual(ok(await anon().schema('experiments').from('experiments').select('key').eq('key', `onboarding-video-${run}`)), [], 'drafts are not public');
  assertNoRows(await dan.db.schema('experiments').from('experiments').update({ status: 'paused' }).eq('key', 'pricing-cta').select(), 'dan pauses an experiment');
});

test('whatsapp: accounts and templates belong to their user; review status is the service\'s', async () => {
  const acct = ok(await dan.db.schema('whatsapp').from('accounts')
    .insert({ business_name: 'Dan Bikes', waba_id: `waba_${run}`, phone_number_id: `pn_${run}`, display_phone_number: '+44 20 7946 0000', access_token_ciphertext: 'v1:gcm:abc' })
    .select('id, user_id, status').single(), 'dan connects an account');
  assert.equal(acct.user_id, dan.id);
  assert.equal(acct.status, 'pending');

  assert.deepEqual(ok(await carla.db.schema('whatsapp').from('accounts').select('id').eq('id', acct.id)), [], 'carla reads dan\'s account');
  assertNoRows(await carla.db.schema('whatsapp').from('accounts').update({ business_name: 'Hijacked' }).eq('id', acct.id).select(), 'carla renames it');
  assertNoRows(await carla.db.schema('whatsapp').from('accounts').delete().eq('id', acct.id).select(), 'carla deletes it');
  assertDenied(await carla.db.schema('whatsapp').from('accounts').insert({ business_name: 'Fake', user_id: dan.id }), 'carla creates an account for dan');
  assertDenied(await dan.db.schema('whatsapp').from('accounts').update({ status: 'active' }).eq('id', acct.id), 'dan activates himself');
  assertDenied(await anon().schema('whatsapp').from('accounts').select('id'), 'anon reads accounts');

  const tpl = ok(await dan.db.schema('whatsapp').from('templates')
    .insert({ account_id: acct.id, name: 'order_ready', language: 'en_GB', category: 'utility', components: [{ type: 'BODY', text: 'Hi {{1}}, your bike is ready.' }] })
    .select('id, status').single(), 'dan drafts a template');
  assert.equal(tpl.status, 'draft');
  assertDenied(await carla.db.schema('whatsapp').from('templates').insert({ account_id: acct.id, name: 'spam', category: 'marketing' }), 'carla adds a template to dan\'s account');
  assert.deepEqual(ok(await carla.db.schema('whatsapp').from('templates').select('id').eq('id', tpl.id)), []);
  assertNoRows(await carla.db.schema('whatsapp').from('templates').update({ components: [] }).eq('id', tpl.id).select(), 'carla edits dan\'s template');
  assertNoRows(await carla.db.schema('whatsapp').from('templates').delete().eq('id', tpl.id).select(), 'carla deletes dan\'s template');
  assertDenied(await dan.db.schema('whatsapp').from('templates').update({ status: 'approved' }).eq('id', tpl.id), 'dan approves his own template');

  const bySomeoneElse = await carla.db.schema('whatsapp').rpc('submit_template', { p_template_id: tpl.id });
  assert.ok(bySomeoneElse.error, 'carla submits dan\'s template');
  const submitted = ok(await dan.db.schema('whatsapp').rpc('submit_template', { p_template_id: tpl.id }), 'dan submits for review');
  assert.equal(submitted.status, 'pending');
  ok(await admin().schema('whatsapp').from('templates').update({ status: 'approved', meta_template_id: `meta_${run}`, reviewed_at: new Date().toISOString() }).eq('id', tpl.id), 'Meta webhook approves');
  assert.equal(ok(await dan.db.schema('whatsapp').from('templates').select('status').eq('id', tpl.id).single()).status, 'approved');
  // Editing an approved template sends it back to draft.
  const edited = ok(await dan.db.schema('whatsapp').from('templates').update({ components: [{ type: 'BODY', text: 'Hello {{1}}, your bike is ready for pick-up.' }] })
    .eq('id', tpl.id).select('status').single(), 'dan edits');
  assert.equal(edited.status, 'draft');

  // The account's audit trail leaves the token out.
  const trail = ok(await ops.db.from('audit_log').select('new_data').eq('table_name', 'accounts').eq('record_id', acct.id), 'admin audit');
  assert.equal(trail.length, 1);
  assert.equal(trail[0].new_data.business_name, 'Dan Bikes');
  assert.equal('access_token_ciphertext' in trail[0].new_data, false);
});

test('maintenance functions run for the service role only', async () => {
  for (const fn of ['cleanup_old_data', 'abandon_inactive_sessions', 'process_pending_events']) {
    assertDenied(await anon().rpc(fn), `anon ${fn}`);
    assertDenied(await dan.db.rpc(fn), `dan ${fn}`);
  }
  const svc = admin();
  // The seeded in-progress wizard has been idle for 30 minutes.
  const abandoned = ok(await svc.rpc('abandon_inactive_sessions', { p_timeout: '10 minutes' }), 'abandon');
  assert.ok(abandoned >= 1, `abandoned ${abandoned}`);
  assert.equal(scalar(`select status from onboarding.sessions where session_token = 'sess_demo_in_progress_velocity'`), 'abandoned');
  // Its visitor comes back: the session resumes.
  const back = visitor('198.51.100.90', 'sess_demo_in_progress_velocity');
  const resumed = ok(await back.schema('onboarding').from('sessions').update({ whatsapp_connected_at: new Date().toISOString() })
    .eq('session_token', 'sess_demo_in_progress_velocity').select('status, current_step, progress_percentage').single(), 'resume');
  assert.deepEqual(resumed, { status: 'in_progress', current_step: 'bot_setup', progress_percentage: 50 });

  const cleaned = ok(await svc.rpc('cleanup_old_data'), 'cleanup');
  assert.deepEqual(Object.keys(cleaned).sort(), ['abandoned_sessions', 'events', 'rate_limit_events', 'stale_leads', 'step_activities']);
  assert.ok(cleaned.stale_leads >= 1, 'the lead lost 120 days ago is past the 90-day retention');
  assert.equal(scalar(`select count(*) from marketing.leads where email = 'priya@shopkart.in'`), '0');

  assertDenied(await anon().from('index_usage_stats').select('*'), 'anon reads index stats');
  assert.ok(ok(await svc.from('index_usage_stats').select('index_name').limit(5)).length > 0);
});

test('GDPR: people erase their own data; admins anyone\'s; nothing of the address survives', async () => {
  const refused = await dan.db.rpc('gdpr_delete_user_data', { p_email: carla.email });
  assert.equal(refused.error?.code, '42501', JSON.stringify(refused.error));
  assertDenied(await anon().rpc('gdpr_delete_user_data', { p_email: carla.email }), 'anon erases');

  // Carla has a lead, an onboarding session, events and assignments.
  ok(await carla.db.schema('onboarding').rpc('start_session', { p_email: carla.email }), 'carla onboarding');
  ok(await carla.db.schema('analytics').from('events').insert({ type: 'user_action', name: 'template_created', properties: { email: carla.email } }));
  ok(await carla.db.rpc('auto_assign_experiments', { country: 'ES' }));
  const result = ok(await carla.db.rpc('gdpr_delete_user_data', { p_email: carla.email }), 'carla erases herself');
  assert.equal(result.leads, 1);
  assert.ok(result.onboarding_sessions >= 1);
  assert.ok(result.events_anonymized >= 1);
  assert.ok(result.experiment_assignments >= 1);
  assert.equal(scalar(`select count(*) from marketing.leads where lower(email) = ${q(carla.email)}`), '0');
  assert.equal(scalar(`select count(*) from analytics.events where user_id = ${q(carla.id)} or properties ->> 'email' = ${q(carla.email)}`), '0');
  assert.equal(scalar(`select count(*) from public.audit_log where old_data::text like ${q(`%${carla.email}%`)} or new_data::text like ${q(`%${carla.email}%`)}`), '0');
  const hash = createHash('sha256').update(carla.email).digest('hex');
  const record = ok(await ops.db.from('audit_log').select('action, actor').eq('record_id', hash), 'admin sees the erasure record');
  assert.deepEqual(record, [{ action: 'GDPR_DELETE', actor: carla.id }]);

  // An admin erases an anonymous lead on request.
  const erased = ok(await ops.db.rpc('gdpr_delete_user_data', { p_email: mail('neighbour') }), 'admin erases a lead');
  assert.equal(erased.leads, 1);
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

test('realtime: the admin dashboard sees a visitor\'s new lead live; a customer does not', async () => {
  const seenByOps = [];
  const seenByDan = [];
  const chOps = ops.db.channel('lead-feed')
    .on('postgres_changes', { event: 'INSERT', schema: 'marketing', table: 'leads' }, (p) => seenByOps.push(p));
  const chDan = dan.db.channel('dan-leads')
    .on('postgres_changes', { event: '*', schema: 'marketing', table: 'leads' }, (p) => seenByDan.push(p));
  const readyOps = cdcReady(chOps);
  const readyDan = cdcReady(chDan);
  await subscribed(chOps);
  await subscribed(chDan);
  await readyOps; await readyDan;
  try {
    ok(await visitor('198.51.100.120').schema('marketing').from('leads').insert({ email: mail('live'), company_name: 'Live Feed Ltd', source: 'pricing-page' }), 'visitor submits');
    assert.ok(await until(() => seenByOps.length >= 1), 'the admin did not receive the new lead');
    assert.equal(seenByOps[0].schema, 'marketing');
    assert.equal(seenByOps[0].new.email, mail('live'));
    assert.equal(seenByOps[0].new.source, 'pricing-page');
    await sleep(500);
    assert.deepEqual(seenByDan, [], 'a customer must not receive leads');
  } finally {
    await ops.db.removeAllChannels();
    await dan.db.removeAllChannels();
  }
});

test('basalt db reset re-creates the project from migrations and seed, twice in a row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-whatsapp-saas-reset-'));
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
