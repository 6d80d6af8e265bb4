// examples/whatsapp-saas (seed 002) through the real supabase-js against `basalt start`: the five
// product schemas reached by schema switching; public, rate-limited and deduplicated lead capture;
// onboarding sessions readable and writable only with their session token; analytics written by
// anyone and read by admins; experiment auto-assignment; WhatsApp accounts and templates owned by
// their user; the maintenance functions (service role only); GDPR access and deletion; the admin's
// live lead feed over realtime; the Cloud API webhook (verification handshake, signed deliveries
// of messages, statuses, template reviews and quality, each applied once), the onboarding
// wizard's connect and test-message steps and message sending through a fake Graph API;
// `basalt db reset` re-creates the project.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, repoRoot, basaltBin, freePort } from './lib/basalt.mjs';
import { startFakeApi } from './lib/fake-api.mjs';

const projectDir = join(repoRoot, 'examples/whatsapp-saas');
const PASSWORD = 'correct horse battery staple';
const run = Date.now();
const mail = (name) => `${name}-${run}@wa-saas.test`;

let b;
let ops; // admin (app_metadata.role = 'admin')
let carla; // signs up with the address of an earlier lead
let dan; // another customer
let carlaLead; // the response to Carla's form submission
let graphApi; // the fake WhatsApp Graph API
const APP_SECRET = 'meta-app-secret-e2e';
const VERIFY_TOKEN = 'verify-me-e2e';
const BUSINESS_TOKEN = `EAAG${run}businesstoken`;

before(async () => {
  graphApi = await startFakeApi(fakeGraph);
  b = await startBasalt({
    projectDir,
    functions: {
      '.env': [`WHATSAPP_APP_ID=1234567890`, `WHATSAPP_APP_SECRET=${APP_SECRET}`, `WHATSAPP_VERIFY_TOKEN=${VERIFY_TOKEN}`,
        `WHATSAPP_TOKEN_KEY=${randomBytes(32).toString('base64')}`, `WHATSAPP_GRAPH_URL=${graphApi.url}`].join('\n') + '\n',
    },
  });
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
after(async () => { await b?.stop(); await graphApi?.close(); });

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

// ---- WhatsApp Cloud API: webhook, onboarding connect / test message, sending ----

let wamidSeq = 0;
let uploadSeq = 0;
const uploads = new Map(); // media id → what the fake Graph API received
const mediaBytes = (id) => `JFIF-fake-image-bytes-of-${id}`;
const flakyServed = new Set();

/** The Graph API as Meta documents it, for the calls the functions make. */
function fakeGraph(call) {
  const bearer = call.headers.authorization === `Bearer ${BUSINESS_TOKEN}`;
  const oauthError = { status: 401, body: { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190, fbtrace_id: 'Afake' } } };
  if (call.method === 'GET' && call.path === '/v21.0/oauth/access_token') {
    if (call.query.code !== 'signup-code-ok' || call.query.client_secret !== APP_SECRET) {
      return { status: 400, body: { error: { message: 'Error validating verification code.', type: 'OAuthException', code: 100, error_subcode: 36007, fbtrace_id: 'Afake' } } };
    }
    return { body: { access_token: BUSINESS_TOKEN, token_type: 'bearer' } };
  }
  let m = call.path.match(/^\/v21\.0\/([^/]+)$/);
  if (call.method === 'GET' && m && m[1].startsWith('media-')) {
    // A media object (GET /{media_id}): a short-lived URL on the fake, its type and SHA-256.
    if (!bearer) return oauthError;
    const bytes = mediaBytes(m[1]);
    return { body: { messaging_product: 'whatsapp', url: `${graphApi.url}/files/${m[1]}`, mime_type: 'image/jpeg', sha256: createHash('sha256').update(bytes).digest('hex'), file_size: bytes.length, id: m[1] } };
  }
  m = call.path.match(/^\/files\/([^/]+)$/);
  if (call.method === 'GET' && m) {
    if (!bearer) return oauthError;
    // The first download of a "flaky" media id fails, as a URL that expired would.
    if (m[1].includes('flaky') && !flakyServed.has(m[1])) { flakyServed.add(m[1]); return { status: 404, body: { error: { message: 'URL expired' } } }; }
    return { body: mediaBytes(m[1]), headers: { 'content-type': 'image/jpeg' } };
  }
  m = call.path.match(/^\/v21\.0\/([^/]+)$/);
  if (call.method === 'GET' && m) {
    if (!bearer) return oauthError;
    return { body: { verified_name: 'Erin Flowers', display_phone_number: '+1 555-010-0199', quality_rating: 'GREEN', id: m[1] } };
  }
  if (call.method === 'POST' && /^\/v21\.0\/[^/]+\/(subscribed_apps|register)$/.test(call.path)) {
    return bearer ? { body: { success: true } } : oauthError;
  }
  m = call.path.match(/^\/v21\.0\/([^/]+)\/media$/);
  if (call.method === 'POST' && m) {
    // A media upload (multipart: messaging_product, type, file), answered with the media id.
    if (!bearer) return oauthError;
    return new Response(call.bytes, { headers: { 'content-type': call.headers['content-type'] ?? '' } }).formData().then((form) => {
      const file = form.get('file');
      if (form.get('messaging_product') !== 'whatsapp') return { status: 400, body: { error: { message: '(#100) The parameter messaging_product is required.', type: 'OAuthException', code: 100, fbtrace_id: 'Afake' } } };
      if (!(file instanceof Blob) || !form.get('type')) return { status: 400, body: { error: { message: '(#100) Param file must be a file with one of the following types: ...', type: 'OAuthException', code: 100, fbtrace_id: 'Afake' } } };
      if (file.name.includes('rejected')) return { status: 400, body: { error: { message: '(#131053) Media upload error', type: 'OAuthException', code: 131053, error_data: { messaging_product: 'whatsapp', details: 'Unable to upload the media used in the message.' }, fbtrace_id: 'Afake' } } };
      const id = `${++uploadSeq}${run}`;
      uploads.set(id, { type: form.get('type'), name: file.name, file });
      return { body: { id } };
    }, () => ({ status: 400, body: { error: { message: '(#100) Invalid multipart body', type: 'OAuthException', code: 100 } } }));
  }
  m = call.path.match(/^\/v21\.0\/([^/]+)\/messages$/);
  if (call.method === 'POST' && m) {
    if (!bearer) return oauthError;
    if (call.body.to === '15550000000') {
      return { status: 400, body: { error: { message: '(#131030) Recipient phone number not in allowed list', type: 'OAuthException', code: 131030, error_data: { messaging_product: 'whatsapp', details: 'Recipient phone number not in allowed list' }, fbtrace_id: 'Afake' } } };
    }
    const id = `wamid.HBgL${run}${++wamidSeq}`;
    return { body: { messaging_product: 'whatsapp', contacts: [{ input: call.body.to, wa_id: call.body.to }], messages: [{ id, ...(call.body.type === 'template' ? { message_status: 'accepted' } : {}) }] } };
  }
  return undefined;
}

const fnUrl = (name) => `${b.url}/functions/v1/${name}`;
/** POST a webhook delivery as Meta does (no JWT); signed with the app secret unless told otherwise. */
async function deliverWebhook(payload, { secret = APP_SECRET, header, raw } = {}) {
  const body = raw ?? JSON.stringify(payload);
  const headers = { 'content-type': 'application/json' };
  const sig = header !== undefined ? header : `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  if (sig !== null) headers['x-hub-signature-256'] = sig;
  const res = await fetch(fnUrl('whatsapp-webhook'), { method: 'POST', headers, body });
  return { status: res.status, body: await res.json() };
}
/** Call whatsapp-api/<action> as a signed-in user (supabase-js functions.invoke). */
async function api(user, action, body) {
  const r = await user.db.functions.invoke(`whatsapp-api/${action}`, { body });
  if (!r.error) return { status: 200, body: r.data };
  return { status: r.error.context?.status, body: await r.error.context?.json?.().catch(() => null) };
}
const messagesChange = (waba, pnid, value) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: waba, changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550100199', phone_number_id: pnid }, ...value } }] }],
});
const ts = (offset = 0) => String(Math.floor(Date.now() / 1000) + offset);

let erin; // connects a WhatsApp number through the onboarding wizard
let erinAccount;
const ERIN_WABA = `waba_erin_${run}`;
const ERIN_PNID = `pn_erin_${run}`;

test('webhook: the GET verification handshake echoes the challenge only for a known verify token', async () => {
  const get = (params) => fetch(`${fnUrl('whatsapp-webhook')}?${new URLSearchParams(params)}`);
  let res = await get({ 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '1158201444' });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain/);
  assert.equal(await res.text(), '1158201444');
  res = await get({ 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '42' });
  assert.equal(res.status, 403);
  assert.doesNotMatch(await res.text(), /42/);
  res = await get({ 'hub.mode': 'unsubscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '42' });
  assert.equal(res.status, 403);
  // A connected account's own verify token (whatsapp.accounts.webhook_verify_token) works too.
  const seeded = scalar(`select webhook_verify_token from whatsapp.accounts limit 1`);
  res = await get({ 'hub.mode': 'subscribe', 'hub.verify_token': seeded, 'hub.challenge': 'abc' });
  assert.equal(await res.text(), 'abc');
});

test('onboarding: a visitor\'s wizard, claimed at sign-in, connects WhatsApp (Embedded Signup) and sends the test message', async () => {
  // Anonymous steps: start, business info, bot setup.
  const v = visitor('198.51.100.200');
  const [s] = ok(await v.schema('onboarding').rpc('start_session', { p_email: mail('erin'), p_company_name: 'Erin Flowers' }), 'start');
  const holder = visitor('198.51.100.200', s.session_token);
  const step = ok(await holder.schema('onboarding').from('sessions')
    .update({ business_info_completed_at: new Date().toISOString(), business_info: { industry: 'florist' } })
    .eq('id', s.session_id).select('current_step').single());
  assert.equal(step.current_step, 'whatsapp_connect');

  // Connecting needs an account: anonymous callers are refused, before anything reaches Meta.
  const anonCall = await anon().functions.invoke('whatsapp-api/connect', { body: { code: 'signup-code-ok' } });
  assert.equal(anonCall.error?.context?.status, 401);
  erin = await signUp(mail('erin'));

  // A bad Embedded Signup code: Meta's error comes back, nothing is stored.
  let r = await api(erin, 'connect', { code: 'expired', waba_id: ERIN_WABA, phone_number_id: ERIN_PNID, business_name: 'Erin Flowers', session_token: s.session_token });
  assert.equal(r.status, 502, JSON.stringify(r.body));
  assert.equal(r.body.graph.code, 100);
  assert.equal(scalar(`select count(*) from whatsapp.accounts where waba_id = ${q(ERIN_WABA)}`), '0');

  const before = graphApi.calls.length;
  r = await api(erin, 'connect', { code: 'signup-code-ok', waba_id: ERIN_WABA, phone_number_id: ERIN_PNID, business_name: 'Erin Flowers', pin: '246810', session_token: s.session_token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  erinAccount = r.body.account;
  assert.deepEqual([erinAccount.status, erinAccount.display_phone_number, erinAccount.quality_rating], ['active', '+1 555-010-0199', 'GREEN']);
  assert.deepEqual(r.body.session, { id: s.session_id, current_step: 'bot_setup', progress_percentage: 50, status: 'in_progress' });
  // What Meta received: the code exchange with the app's id and secret, then the business token.
  const calls = graphApi.calls.slice(before);
  assert.deepEqual(calls.map((c) => `${c.method} ${c.path}`), [
    'GET /v21.0/oauth/access_token', `GET /v21.0/${ERIN_PNID}`, `POST /v21.0/${ERIN_WABA}/subscribed_apps`, `POST /v21.0/${ERIN_PNID}/register`]);
  assert.deepEqual(calls[0].query, { client_id: '1234567890', client_secret: APP_SECRET, code: 'signup-code-ok' });
  assert.ok(calls.slice(1).every((c) => c.headers.authorization === `Bearer ${BUSINESS_TOKEN}`));
  assert.deepEqual(calls[3].body, { messaging_product: 'whatsapp', pin: '246810' });
  // The session is Erin's now; the token is stored sealed, never in the clear.
  assert.equal(scalar(`select user_id from onboarding.sessions where id = ${q(s.session_id)}`), erin.id);
  const sealed = scalar(`select access_token_ciphertext from whatsapp.accounts where id = ${q(erinAccount.id)}`);
  assert.match(sealed, /^v1:gcm:/);
  assert.ok(!sealed.includes(BUSINESS_TOKEN));
  assert.deepEqual(ok(await erin.db.schema('whatsapp').from('accounts').select('id, user_id')), [{ id: erinAccount.id, user_id: erin.id }]);
  assert.deepEqual(ok(await dan.db.schema('whatsapp').from('accounts').select('id').eq('id', erinAccount.id)), []);
  // Another user cannot connect the same business account.
  r = await api(dan, 'connect', { code: 'signup-code-ok', waba_id: ERIN_WABA, phone_number_id: `pn_other_${run}`, business_name: 'Dan' });
  assert.equal(r.status, 409);

  ok(await erin.db.schema('onboarding').from('sessions').update({ bot_setup_completed_at: new Date().toISOString(), bot_config: { greeting: 'Hi!' } }).eq('id', s.session_id), 'bot setup');
  r = await api(erin, 'test-message', { account_id: erinAccount.id, to: '+44 7700 900123' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.session, { id: s.session_id, current_step: 'completed', progress_percentage: 100, status: 'completed' });
  const sent = graphApi.calls.at(-1);
  assert.equal(sent.path, `/v21.0/${ERIN_PNID}/messages`);
  assert.equal(sent.headers.authorization, `Bearer ${BUSINESS_TOKEN}`, 'the sealed token was opened for the call');
  assert.deepEqual(sent.body, { messaging_product: 'whatsapp', recipient_type: 'individual', to: '447700900123', type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } } });
  assert.deepEqual([r.body.message.direction, r.body.message.status, r.body.message.contact_wa_id], ['outbound', 'accepted', '447700900123']);
});

test('sending: texts and approved templates through the Graph API; refusals recorded; others\' accounts unreachable', async () => {
  let r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', text: 'Your bouquet is ready 🌷' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(graphApi.calls.at(-1).body, { messaging_product: 'whatsapp', recipient_type: 'individual', to: '447700900123', type: 'text', text: { preview_url: false, body: 'Your bouquet is ready 🌷' } });
  assert.match(r.body.message.wamid, /^wamid\./);

  // A template that is not approved is refused before Meta is called.
  const tpl = ok(await erin.db.schema('whatsapp').from('templates').insert({ account_id: erinAccount.id, name: 'pickup_ready', language: 'en_US', category: 'utility', components: [{ type: 'BODY', text: 'Hi {{1}}' }] }).select('id').single());
  const calls = graphApi.calls.length;
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', template: { name: 'pickup_ready' } });
  assert.equal(r.status, 422);
  assert.equal(graphApi.calls.length, calls);

  // Meta's review result arrives by webhook (message_template_status_update); then it sends.
  ok(await erin.db.schema('whatsapp').rpc('submit_template', { p_template_id: tpl.id }), 'submit');
  const review = { object: 'whatsapp_business_account', entry: [{ id: ERIN_WABA, time: Number(ts()), changes: [{ field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 9988776655, message_template_name: 'pickup_ready', message_template_language: 'en_US', reason: 'NONE' } }] }] };
  const d = await deliverWebhook(review);
  assert.equal(d.body.templates, 1, JSON.stringify(d.body));
  assert.deepEqual(ok(await erin.db.schema('whatsapp').from('templates').select('status, meta_template_id').eq('id', tpl.id).single()), { status: 'approved', meta_template_id: '9988776655' });
  const components = [{ type: 'body', parameters: [{ type: 'text', text: 'Sam' }] }];
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', template: { name: 'pickup_ready', components } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(graphApi.calls.at(-1).body.template, { name: 'pickup_ready', language: { code: 'en_US' }, components });
  assert.equal(r.body.message.template_id, tpl.id);

  // Meta refuses a recipient: the error comes back and the attempt is recorded as failed.
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '15550000000', text: 'hello?' });
  assert.equal(r.status, 502);
  assert.equal(r.body.graph.code, 131030);
  assert.equal(r.body.message.status, 'failed');
  assert.equal(r.body.message.error.code, 131030);

  // A status may arrive before the send call has recorded its message: it is kept and applied.
  const nextWamid = `wamid.HBgL${run}${wamidSeq + 1}`;
  const early = await deliverWebhook(messagesChange(ERIN_WABA, ERIN_PNID, { statuses: [{ id: nextWamid, status: 'delivered', timestamp: ts(), recipient_id: '447700900123' }] }));
  assert.equal(early.body.statuses, 1);
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', text: 'See you at 5' });
  assert.deepEqual([r.body.message.wamid, r.body.message.status], [nextWamid, 'delivered']);

  // Dan cannot send from Erin's number, nor send nonsense; nothing reaches Meta.
  const n = graphApi.calls.length;
  assert.equal((await api(dan, 'send', { account_id: erinAccount.id, to: '447700900123', text: 'spoof' })).status, 404);
  assert.equal((await api(erin, 'send', { account_id: erinAccount.id, to: 'not a number', text: 'x' })).status, 400);
  assert.equal(graphApi.calls.length, n);
  // Users cannot write messages themselves.
  assertDenied(await erin.db.schema('whatsapp').from('messages').insert({ account_id: erinAccount.id, direction: 'outbound', contact_wa_id: '447700900123', type: 'text', status: 'read' }), 'erin forges a message');
  assertDenied(await erin.db.schema('whatsapp').rpc('record_outbound_message', { p_account_id: erinAccount.id, p_wamid: 'x', p_to: '447700900123', p_type: 'text', p_body: 'x', p_content: {}, p_template_id: null, p_sent_by: erin.id }), 'erin calls the recorder');
});

test('sending media: uploaded to the number\'s media endpoint and sent by id, or sent by link; refusals before Meta', async () => {
  const pdf = '%PDF-1.4 Bella Cucina menu\n' + 'x'.repeat(2000);
  const path = `${erinAccount.id}/outbound/menu-${run}.pdf`;
  ok(await erin.db.storage.from('whatsapp-media').upload(path, new Blob([pdf], { type: 'application/pdf' }), { contentType: 'application/pdf' }), 'the owner puts the file in her outbound folder');
  // Nobody else writes there.
  assert.ok((await dan.db.storage.from('whatsapp-media').upload(`${erinAccount.id}/outbound/spoof.pdf`, new Blob(['x']), { contentType: 'application/pdf' })).error, 'dan writes into erin\'s outbound folder');

  let calls = graphApi.calls.length;
  let r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', media: { type: 'document', path, caption: 'Our new menu', filename: 'menu.pdf' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [upload, send] = graphApi.calls.slice(calls);
  assert.equal(`${upload.method} ${upload.path}`, `POST /v21.0/${ERIN_PNID}/media`);
  assert.equal(upload.headers.authorization, `Bearer ${BUSINESS_TOKEN}`);
  assert.match(upload.headers['content-type'], /^multipart\/form-data; boundary=/);
  const mediaId = graphApi.calls.length && [...uploads.keys()].at(-1);
  const received = uploads.get(mediaId);
  assert.equal(received.type, 'application/pdf');
  assert.equal(received.name, 'menu.pdf');
  assert.equal(await received.file.text(), pdf, 'the bytes Meta received are the file');
  assert.equal(`${send.method} ${send.path}`, `POST /v21.0/${ERIN_PNID}/messages`);
  assert.deepEqual(send.body, { messaging_product: 'whatsapp', recipient_type: 'individual', to: '447700900123', type: 'document', document: { id: mediaId, caption: 'Our new menu', filename: 'menu.pdf' } });
  const stored = ok(await erin.db.schema('whatsapp').from('messages').select('direction, type, body, status, media_id, media_mime_type, media_path, media_status, content').eq('id', r.body.message.id).single());
  assert.deepEqual({ ...stored, content: undefined }, { direction: 'outbound', type: 'document', body: 'Our new menu', status: 'accepted', media_id: mediaId, media_mime_type: 'application/pdf', media_path: path, media_status: 'stored', content: undefined });
  assert.deepEqual(stored.content.document, { id: mediaId, caption: 'Our new menu', filename: 'menu.pdf' });

  // By link: no upload, Meta fetches the URL.
  calls = graphApi.calls.length;
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', media: { type: 'image', link: 'https://cdn.bellacucina.test/tiramisu.jpg', caption: 'Today\'s dessert' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(graphApi.calls.slice(calls).map((c) => c.path), [`/v21.0/${ERIN_PNID}/messages`]);
  assert.deepEqual(graphApi.calls.at(-1).body.image, { link: 'https://cdn.bellacucina.test/tiramisu.jpg', caption: 'Today\'s dessert' });
  assert.deepEqual(ok(await erin.db.schema('whatsapp').from('messages').select('type, body, media_status').eq('id', r.body.message.id).single()), { type: 'image', body: 'Today\'s dessert', media_status: null });

  // Audio uploads too (no caption on audio).
  const voice = `${erinAccount.id}/outbound/voice-${run}.ogg`;
  ok(await erin.db.storage.from('whatsapp-media').upload(voice, new Blob(['OggS fake opus'], { type: 'audio/ogg' }), { contentType: 'audio/ogg' }));
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', media: { type: 'audio', path: voice } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(graphApi.calls.at(-1).body.audio), ['id']);

  // Meta refuses the upload: its error comes back, the attempt is recorded failed, no message is sent.
  const rejected = `${erinAccount.id}/outbound/rejected-${run}.pdf`;
  ok(await erin.db.storage.from('whatsapp-media').upload(rejected, new Blob(['%PDF-1.4 broken'], { type: 'application/pdf' }), { contentType: 'application/pdf' }));
  calls = graphApi.calls.length;
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', media: { type: 'document', path: rejected, caption: 'Broken' } });
  assert.equal(r.status, 502, JSON.stringify(r.body));
  assert.equal(r.body.graph.code, 131053);
  assert.deepEqual([r.body.message.status, r.body.message.type, r.body.message.body, r.body.message.error.code], ['failed', 'document', 'Broken', 131053]);
  assert.deepEqual(r.body.message.content.document, { path: rejected, caption: 'Broken' });
  assert.deepEqual(graphApi.calls.slice(calls).map((c) => c.path), [`/v21.0/${ERIN_PNID}/media`]);

  // Refused before Meta is called: bad shapes, Meta's rules, files the caller cannot reach.
  const textFile = `${erinAccount.id}/outbound/notes-${run}.txt`;
  ok(await erin.db.storage.from('whatsapp-media').upload(textFile, new Blob(['just text'], { type: 'text/plain' }), { contentType: 'text/plain' }));
  calls = graphApi.calls.length;
  for (const [why, media, status] of [
    ['an unknown type', { type: 'sticker', link: 'https://x.test/a.webp' }, 400],
    ['both link and path', { type: 'image', link: 'https://x.test/a.jpg', path }, 400],
    ['neither', { type: 'image' }, 400],
    ['a caption on audio', { type: 'audio', path: voice, caption: 'listen' }, 400],
    ['a filename on an image', { type: 'image', link: 'https://x.test/a.jpg', filename: 'a.jpg' }, 400],
    ['a non-http link', { type: 'image', link: 'file:///etc/passwd' }, 400],
    ['a path outside the account', { type: 'document', path: `someone/outbound/menu.pdf` }, 400],
    ['a text file as an image', { type: 'image', path: textFile }, 400],
    ['a missing file', { type: 'document', path: `${erinAccount.id}/outbound/none-${run}.pdf` }, 404],
  ]) {
    r = await api(erin, 'send', { account_id: erinAccount.id, to: '447700900123', media });
    assert.equal(r.status, status, `${why}: ${JSON.stringify(r.body)}`);
  }
  // Dan cannot send Erin's file from Erin's account, nor reach it from his side.
  assert.equal((await api(dan, 'send', { account_id: erinAccount.id, to: '447700900123', media: { type: 'document', path } })).status, 404);
  assert.equal(graphApi.calls.length, calls, 'nothing reached Meta');
});

test('webhook: signed deliveries write inbound messages and statuses once, in order; unsigned ones are refused', async () => {
  const [sent] = ok(await erin.db.schema('whatsapp').from('messages').select('id, wamid, status').eq('body', 'Your bouquet is ready 🌷'));
  const inbound = messagesChange(ERIN_WABA, ERIN_PNID, {
    contacts: [{ profile: { name: 'Sam Lee' }, wa_id: '447700900123' }],
    messages: [{ from: '447700900123', id: `wamid.IN${run}1`, timestamp: ts(), type: 'text', text: { body: 'Thanks! Can I pick it up at 5?' } }],
  });
  // Refused: no signature, another secret, the signature of another body, sha1 form.
  const body = JSON.stringify(inbound);
  for (const [what, opts] of [
    ['unsigned', { header: null }],
    ['another secret', { secret: 'nope' }],
    ['another body', { raw: body.replace('at 5', 'at 6'), header: `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}` }],
    ['sha1', { header: `sha1=${createHmac('sha1', APP_SECRET).update(body).digest('hex')}` }],
  ]) {
    const r = await deliverWebhook(inbound, opts);
    assert.equal(r.status, 401, what);
  }
  assert.equal(scalar(`select count(*) from whatsapp.messages where wamid = 'wamid.IN${run}1'`), '0');

  let r = await deliverWebhook(inbound);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.messages, 1);
  const got = ok(await erin.db.schema('whatsapp').from('messages').select('direction, status, contact_wa_id, contact_name, type, body').eq('wamid', `wamid.IN${run}1`).single(), 'erin reads the inbound message');
  assert.deepEqual(got, { direction: 'inbound', status: 'received', contact_wa_id: '447700900123', contact_name: 'Sam Lee', type: 'text', body: 'Thanks! Can I pick it up at 5?' });
  assert.deepEqual(ok(await dan.db.schema('whatsapp').from('messages').select('id').eq('account_id', erinAccount.id)), [], 'dan reads none of erin\'s messages');
  // Delivered twice: a duplicate, nothing changes.
  const snapshot = b.sql(`select count(*), max(updated_at)::text from whatsapp.messages where account_id = ${q(erinAccount.id)}`);
  r = await deliverWebhook(inbound);
  assert.deepEqual(r.body, { duplicate: true });
  assert.deepEqual(b.sql(`select count(*), max(updated_at)::text from whatsapp.messages where account_id = ${q(erinAccount.id)}`), snapshot);

  // Statuses out of order: read arrives before delivered; the message stays read.
  const status = (st, off) => ({ id: sent.wamid, status: st, timestamp: ts(off), recipient_id: '447700900123', conversation: { id: 'conv1', origin: { type: 'service' } }, pricing: { billable: true, pricing_model: 'CBP', category: 'service' } });
  r = await deliverWebhook(messagesChange(ERIN_WABA, ERIN_PNID, { statuses: [status('sent', 1), status('read', 3)] }));
  assert.equal(r.body.statuses, 2);
  r = await deliverWebhook(messagesChange(ERIN_WABA, ERIN_PNID, { statuses: [status('delivered', 2)] }));
  assert.equal(r.body.statuses, 1);
  // The same status again in another delivery (Meta resends) is recorded once.
  r = await deliverWebhook(messagesChange(ERIN_WABA, ERIN_PNID, { statuses: [status('read', 3)], extra: 1 }));
  assert.deepEqual([r.body.statuses, r.body.repeated], [0, 1]);
  assert.equal(ok(await erin.db.schema('whatsapp').from('messages').select('status').eq('id', sent.id).single()).status, 'read');
  const history = ok(await erin.db.schema('whatsapp').from('message_statuses').select('status').eq('message_id', sent.id).order('occurred_at'));
  assert.deepEqual(history.map((h) => h.status), ['sent', 'delivered', 'read']);
  assert.deepEqual(ok(await dan.db.schema('whatsapp').from('message_statuses').select('id').eq('message_id', sent.id)), []);

  // A failure status carries Meta's error onto the message.
  const [failedLater] = ok(await erin.db.schema('whatsapp').from('messages').select('id, wamid').eq('type', 'template').not('wamid', 'is', null).limit(1));
  r = await deliverWebhook(messagesChange(ERIN_WABA, ERIN_PNID, { statuses: [{ id: failedLater.wamid, status: 'failed', timestamp: ts(5), recipient_id: '447700900123', errors: [{ code: 131047, title: 'Re-engagement message' }] }] }));
  assert.equal(r.body.statuses, 1);
  assert.deepEqual(ok(await erin.db.schema('whatsapp').from('messages').select('status, error').eq('id', failedLater.id).single()), { status: 'failed', error: [{ code: 131047, title: 'Re-engagement message' }] });

  // Numbers no account owns are counted, not stored; quality updates reach the account.
  r = await deliverWebhook(messagesChange('waba_unknown', 'pn_unknown', { messages: [{ from: '447700900999', id: `wamid.X${run}`, timestamp: ts(), type: 'text', text: { body: 'hi' } }] }));
  assert.equal(r.body.unknown_numbers, 1);
  r = await deliverWebhook({ object: 'whatsapp_business_account', entry: [{ id: ERIN_WABA, changes: [{ field: 'phone_number_quality_update', value: { display_phone_number: '15550100199', event: 'FLAGGED', current_limit: 'TIER_1K' } }] }] });
  assert.equal(r.body.accounts, 1);
  assert.deepEqual(ok(await erin.db.schema('whatsapp').from('accounts').select('quality_rating, messaging_limit_tier').eq('id', erinAccount.id).single()), { quality_rating: 'RED', messaging_limit_tier: 'TIER_1K' });
  // The raw deliveries are the service's only.
  assertDenied(await erin.db.schema('whatsapp').from('webhook_events').select('id'), 'erin reads webhook deliveries');
  assert.ok(Number(scalar('select count(*) from whatsapp.webhook_events')) >= 8);
});

test('realtime: the account owner\'s inbox receives an inbound message live; another customer does not', async () => {
  const seenByErin = [];
  const seenByDan = [];
  const chErin = erin.db.channel('erin-inbox').on('postgres_changes', { event: 'INSERT', schema: 'whatsapp', table: 'messages' }, (p) => seenByErin.push(p));
  const chDan = dan.db.channel('dan-inbox').on('postgres_changes', { event: 'INSERT', schema: 'whatsapp', table: 'messages' }, (p) => seenByDan.push(p));
  const ready = [cdcReady(chErin), cdcReady(chDan)];
  await subscribed(chErin);
  await subscribed(chDan);
  await Promise.all(ready);
  try {
    const r = await deliverWebhook(messagesChange(ERIN_WABA, ERIN_PNID, { contacts: [{ profile: { name: 'Sam Lee' }, wa_id: '447700900123' }], messages: [{ from: '447700900123', id: `wamid.IN${run}live`, timestamp: ts(), type: 'text', text: { body: 'On my way' } }] }));
    assert.equal(r.body.messages, 1);
    assert.ok(await until(() => seenByErin.length >= 1), 'erin did not receive the message');
    assert.equal(seenByErin[0].new.body, 'On my way');
    await sleep(500);
    assert.deepEqual(seenByDan, []);
  } finally {
    await erin.db.removeAllChannels();
    await dan.db.removeAllChannels();
  }
});

test('webhook: account-level events move the account (ban, reinstatement, restriction, removal); template quality; owner-only history', async () => {
  const event = (field, value) => ({ object: 'whatsapp_business_account', entry: [{ id: ERIN_WABA, time: Number(ts()), changes: [{ field, value }] }] });
  const account = async () => ok(await erin.db.schema('whatsapp').from('accounts').select('status, status_reason, ban_state, restrictions, review_status').eq('id', erinAccount.id).single());
  // Meta bans the business account: suspended, and sending stops before anything reaches Meta.
  const ban = event('account_update', { phone_number: '15550100199', event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'DISABLE', waba_ban_date: 'December 3, 2026' } });
  let r = await deliverWebhook(ban);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual([r.body.accounts, r.body.account_events], [1, 1]);
  assert.deepEqual(await account(), { status: 'suspended', status_reason: 'banned by Meta', ban_state: 'DISABLE', restrictions: [], review_status: null });
  const before = graphApi.calls.length;
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '+44 7700 900123', text: 'still there?' });
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.equal(graphApi.calls.length, before, 'nothing reached Meta');
  assert.deepEqual(await deliverWebhook(ban).then((x) => x.body), { duplicate: true });

  // Reinstated: active again, and sending works.
  r = await deliverWebhook(event('account_update', { phone_number: '15550100199', event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'REINSTATE', waba_ban_date: 'December 4, 2026' } }));
  assert.equal(r.body.accounts, 1);
  assert.deepEqual(await account(), { status: 'active', status_reason: null, ban_state: 'REINSTATE', restrictions: [], review_status: null });
  r = await api(erin, 'send', { account_id: erinAccount.id, to: '+44 7700 900123', text: 'back online' });
  assert.equal(r.status, 200, JSON.stringify(r.body));

  // A restriction and a review decision are kept on the account; a violation gives the reason.
  const restriction = [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: 1767225600 }];
  await deliverWebhook(event('account_update', { phone_number: '15550100199', event: 'ACCOUNT_RESTRICTION', restriction_info: restriction }));
  await deliverWebhook(event('account_review_update', { decision: 'APPROVED' }));
  await deliverWebhook(event('account_update', { phone_number: '15550100199', event: 'ACCOUNT_VIOLATION', violation_info: { violation_type: 'SCAM' } }));
  assert.deepEqual(await account(), { status: 'active', status_reason: 'policy violation: SCAM', ban_state: 'REINSTATE', restrictions: restriction, review_status: 'approved' });

  // Template quality.
  const [tpl] = b.sql(`select id, name, language from whatsapp.templates where account_id = ${q(erinAccount.id)} order by created_at limit 1`);
  r = await deliverWebhook(event('message_template_quality_update', { previous_quality_score: 'GREEN', new_quality_score: 'YELLOW', message_template_id: 9999, message_template_name: tpl[1], message_template_language: tpl[2] }));
  assert.equal(r.body.templates, 1);
  assert.equal(ok(await erin.db.schema('whatsapp').from('templates').select('quality_score').eq('id', tpl[0]).single()).quality_score, 'YELLOW');

  // Erin reads her account's history; Dan none of it, and nobody writes it.
  const history = ok(await erin.db.schema('whatsapp').from('account_events').select('field, event').eq('account_id', erinAccount.id).order('occurred_at'));
  assert.deepEqual(history.map((h) => h.event), ['DISABLED_UPDATE', 'DISABLED_UPDATE', 'ACCOUNT_RESTRICTION', 'APPROVED', 'ACCOUNT_VIOLATION']);
  assert.deepEqual(ok(await dan.db.schema('whatsapp').from('account_events').select('id').eq('account_id', erinAccount.id)), []);
  assertDenied(await erin.db.schema('whatsapp').from('account_events').insert({ account_id: erinAccount.id, field: 'account_update', payload: {} }), 'erin forges an event');

  // The partner removed: disconnected.
  await deliverWebhook(event('account_update', { phone_number: '15550100199', event: 'PARTNER_REMOVED' }));
  assert.equal((await account()).status, 'disconnected');
  b.sql(`update whatsapp.accounts set status = 'active', status_reason = null where id = ${q(erinAccount.id)}`);
});

test('webhook: inbound media is fetched from the Graph API into the whatsapp-media bucket, readable by the owner only', async () => {
  const media = (id, type = 'image') => messagesChange(ERIN_WABA, ERIN_PNID, {
    contacts: [{ profile: { name: 'Sam Lee' }, wa_id: '447700900123' }],
    messages: [{ from: '447700900123', id: `wamid.MEDIA${run}${id}`, timestamp: ts(), type, [type]: { id, mime_type: 'image/jpeg', sha256: createHash('sha256').update(mediaBytes(id)).digest('hex'), caption: `photo ${id}` } }],
  });
  const okId = `media-ok-${run}`;
  let r = await deliverWebhook(media(okId));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.messages, 1);
  const row = async () => ok(await erin.db.schema('whatsapp').from('messages').select('id, body, media_id, media_status, media_path, media_mime_type, media_error').eq('wamid', `wamid.MEDIA${run}${okId}`).single());
  let msg;
  for (let i = 0; i < 100; i++) {
    msg = await row();
    if (msg.media_status !== 'pending') break;
    await sleep(100);
  }
  assert.equal(msg.media_status, 'stored', JSON.stringify(msg));
  assert.equal(msg.body, `photo ${okId}`);
  assert.equal(msg.media_path, `${erinAccount.id}/${msg.id}`);
  assert.equal(msg.media_mime_type, 'image/jpeg');
  // Meta was asked for the media object, then its URL, both with the business token.
  const fetched = graphApi.calls.filter((c) => c.path.endsWith(okId));
  assert.deepEqual(fetched.map((c) => `${c.method} ${c.path}`), [`GET /v21.0/${okId}`, `GET /files/${okId}`]);
  assert.ok(fetched.every((c) => c.headers.authorization === `Bearer ${BUSINESS_TOKEN}`));
  // The owner downloads the bytes; another customer and anonymous callers cannot.
  const file = await erin.db.storage.from('whatsapp-media').download(msg.media_path);
  assert.equal(file.error, null, JSON.stringify(file.error));
  assert.equal(await file.data.text(), mediaBytes(okId));
  const byDan = await dan.db.storage.from('whatsapp-media').download(msg.media_path);
  assert.ok(byDan.error, 'dan downloaded erin\'s media');
  assert.ok((await anon().storage.from('whatsapp-media').download(msg.media_path)).error, 'anon downloaded it');
  const upload = await erin.db.storage.from('whatsapp-media').upload(`${erinAccount.id}/forged`, new Blob(['x']), { contentType: 'image/jpeg' });
  assert.ok(upload.error, 'clients do not write the bucket');

  // A download that fails is marked failed; the owner fetches it again through whatsapp-api/media.
  const flaky = `media-flaky-${run}`;
  await deliverWebhook(media(flaky));
  const flakyRow = async () => ok(await erin.db.schema('whatsapp').from('messages').select('id, media_status, media_error').eq('wamid', `wamid.MEDIA${run}${flaky}`).single());
  let f;
  for (let i = 0; i < 100; i++) { f = await flakyRow(); if (f.media_status !== 'pending') break; await sleep(100); }
  assert.equal(f.media_status, 'failed');
  assert.match(f.media_error, /404/);
  r = await api(dan, 'media', { message_id: f.id });
  assert.equal(r.status, 404, 'not dan\'s message');
  r = await api(erin, 'media', { message_id: f.id });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.media.status, 'stored');
  assert.equal((await flakyRow()).media_status, 'stored');
  const again = await erin.db.storage.from('whatsapp-media').download(`${erinAccount.id}/${f.id}`);
  assert.equal(await again.data.text(), mediaBytes(flaky));
  // A failed download is retried by the cron job once its backoff has passed (here: made to
  // have passed), without anyone asking (where pg_cron is installed).
  if (scalar(`select count(*) from pg_available_extensions where name = 'pg_cron'`) === '0') return;
  b.sql(`select private.set_function_secrets(${q(b.url)}, ${q(b.serviceKey)})`);
  const flaky2 = `media-flaky2-${run}`;
  await deliverWebhook(media(flaky2));
  const row2 = async () => ok(await erin.db.schema('whatsapp').from('messages').select('id, media_status, media_attempts').eq('wamid', `wamid.MEDIA${run}${flaky2}`).single());
  let g;
  for (let i = 0; i < 100; i++) { g = await row2(); if (g.media_status !== 'pending') break; await sleep(100); }
  assert.deepEqual([g.media_status, g.media_attempts], ['failed', 1]);
  b.sql(`update whatsapp.messages set media_tried_at = now() - interval '10 minutes' where id = ${q(g.id)}`);
  for (let i = 0; i < 200; i++) { g = await row2(); if (g.media_status === 'stored') break; await sleep(250); }
  assert.deepEqual([g.media_status, g.media_attempts], ['stored', 2], 'the cron job fetched it again');
  assert.equal(await (await erin.db.storage.from('whatsapp-media').download(`${erinAccount.id}/${g.id}`)).data.text(), mediaBytes(flaky2));
  assert.equal(scalar(`select count(*) from cron.job where jobname = 'whatsapp-saas-retry-media' and schedule = '30 seconds'`), '1');
  // Only the service role runs the retries.
  const refused = await erin.db.functions.invoke('whatsapp-media', { body: {} });
  assert.equal(refused.error?.context?.status, 403);
});

test('cron: the design\'s maintenance runs as pg_cron jobs (when pg_cron is installed)', async (t) => {
  if (scalar(`select count(*) from pg_available_extensions where name = 'pg_cron'`) === '0') {
    t.skip('pg_cron is not installed in this Postgres: the migration installs no jobs');
    return;
  }
  assert.deepEqual(b.sql(`select jobname, schedule, command from cron.job where jobname like 'whatsapp-saas-%' order by jobname`), [
    ['whatsapp-saas-abandon-inactive-sessions', '*/15 * * * *', 'select public.abandon_inactive_sessions()'],
    ['whatsapp-saas-cleanup-old-data', '15 3 * * *', 'select public.cleanup_old_data()'],
    ['whatsapp-saas-process-pending-events', '*/5 * * * *', 'select public.process_pending_events()'],
    ['whatsapp-saas-retry-media', '30 seconds', 'select whatsapp.request_media_retry()'],
  ]);
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
