// examples/trvl-social's WhatsApp webhook and sender and its compatibility model through the real
// supabase-js against `basalt start`: Meta's verification handshake, signed and unsigned
// deliveries (X-Hub-Signature-256) stored in whatsapp_webhooks and applied once to contacts,
// conversations and messages, STOP/START opt-outs, messages sent through a fake Graph API with
// the 24-hour window and opt-in rules, their delivery statuses arriving by webhook, a delivery
// that failed to apply retried by cron; compatibility scores computed by the example's rule
// for group members and connections, recomputed when an assessment changes, seen by the pair.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { createClient } from '@supabase/supabase-js';
import ws from 'ws';
import { ok, q, until } from './lib/checks.mjs';
import { startBasalt, repoRoot } from './lib/basalt.mjs';
import { startFakeApi, postWebhook } from './lib/fake-api.mjs';

const projectDir = join(repoRoot, 'examples/trvl-social');
const ANA = '11111111-1111-4111-8111-111111111111'; // seeded, WhatsApp contact 351912000111, opted in
const BEN = '22222222-2222-4222-8222-222222222222'; // seeded, no WhatsApp contact
const KAI = '33333333-3333-4333-8333-333333333333'; // seeded vendor
const GROUP = 'dddddddd-0000-4000-8000-000000000001'; // Ana's group, Ben a member
const ANA_WA = '351912000111';
const SECRET = 'wa-app-secret-e2e';
const PHONE_ID = '109876543210';
const run = Date.now();

let b;
let graph; // the fake Graph API
let refuse = false; // the next sends fail as Meta refuses them
before(async () => {
  graph = await startFakeApi((call) => {
    if (call.method === 'POST' && call.path === `/v21.0/${PHONE_ID}/messages`) {
      if (call.headers.authorization !== 'Bearer wa-access-token') return { status: 401, body: { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190 } } };
      if (refuse) return { status: 400, body: { error: { message: '(#131030) Recipient phone number not in allowed list', type: 'OAuthException', code: 131030 } } };
      return { body: { messaging_product: 'whatsapp', contacts: [{ input: call.body.to, wa_id: call.body.to }], messages: [{ id: `wamid.out.${graph.calls.length}` }] } };
    }
    return undefined;
  });
  b = await startBasalt({
    projectDir,
    functions: { '.env': `WHATSAPP_APP_SECRET=${SECRET}\nWHATSAPP_VERIFY_TOKEN=verify-e2e\nWHATSAPP_PHONE_NUMBER_ID=${PHONE_ID}\nWHATSAPP_ACCESS_TOKEN=wa-access-token\nGRAPH_API_URL=${graph.url}\nSTRIPE_SECRET_KEY=sk_test_x\nSTRIPE_WEBHOOK_SECRET=whsec_x\n` },
  });
});
after(async () => { await b?.stop(); await graph?.close(); });

const opts = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } };
const admin = () => createClient(b.url, b.serviceKey, opts);
function as(sub) {
  const now = Math.floor(Date.now() / 1000);
  const token = b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 });
  return createClient(b.url, b.anonKey, { ...opts, accessToken: async () => token });
}
const scalar = (sql) => b.sql(sql)[0]?.[0];
const hook = () => `${b.url}/functions/v1/whatsapp-webhook`;
const sign = (raw, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
async function deliver(payload, secret = SECRET) {
  const raw = JSON.stringify(payload);
  return postWebhook(hook(), raw, { 'x-hub-signature-256': secret ? sign(raw, secret) : null });
}
const change = (value) => ({ object: 'whatsapp_business_account', entry: [{ id: 'waba-e2e', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550001111', phone_number_id: PHONE_ID }, ...value } }] }] });
const inbound = (from, name, id, text) => change({ contacts: [{ profile: { name }, wa_id: from }], messages: [{ from, id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }] });
const status = (id, s, extra = {}) => change({ statuses: [{ id, status: s, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: ANA_WA, ...extra }] });
const send = (body, client = admin()) => client.functions.invoke('send-whatsapp', { body });

test('webhook: the handshake; unsigned deliveries kept but never applied; signed ones create contacts, conversations and messages once', async () => {
  let res = await fetch(`${hook()}?hub.mode=subscribe&hub.verify_token=verify-e2e&hub.challenge=31337`);
  assert.deepEqual([res.status, await res.text()], [200, '31337']);
  res = await fetch(`${hook()}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=31337`);
  assert.equal(res.status, 403);

  const stranger = `4479${String(run).slice(-8)}`;
  const first = inbound(stranger, 'Lena', `wamid.in.${run}.1`, 'Hi! Is the Salkantay trek still on in June?');
  assert.equal((await deliver(first, null)).status, 401, 'unsigned');
  assert.equal((await deliver(first, 'not-the-secret')).status, 401, 'wrongly signed');
  assert.deepEqual(b.sql(`select signature_valid, processed_at is not null, error from public.whatsapp_webhooks where payload->'entry'->0->'changes'->0->'value'->'messages'->0->>'id' = 'wamid.in.${run}.1'`), [['f', 't', 'invalid signature']]);
  assert.equal(Number(scalar(`select count(*) from public.whatsapp_messages where wa_message_id = 'wamid.in.${run}.1'`)), 0);

  let r = await deliver(first);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual([r.body.messages, r.body.repeated], [1, 0]);
  assert.deepEqual(await deliver(first).then((x) => x.body), { duplicate: true });
  assert.deepEqual(b.sql(`select c.phone_e164, c.display_name, c.user_id is null, c.opted_in, m.direction, m.status, m.body
                           from public.whatsapp_contacts c join public.whatsapp_conversations v on v.contact_id = c.id
                           join public.whatsapp_messages m on m.conversation_id = v.id where c.wa_id = ${q(stranger)}`),
    [[`+${stranger}`, 'Lena', 't', 'f', 'inbound', 'received', 'Hi! Is the Salkantay trek still on in June?']]);
  assert.equal(Number(scalar(`select count(*) from public.whatsapp_webhooks where signature_valid and processed_at is not null and payload_sha256 is not null`)) >= 1, true);

  // Ana writes from her registered number: into her open conversation, readable by her only.
  r = await deliver(inbound(ANA_WA, 'Ana', `wamid.in.${run}.ana`, 'What time is pickup on day one?'));
  assert.equal(r.body.messages, 1);
  const mine = ok(await as(ANA).from('whatsapp_messages').select('direction, body, status').eq('wa_message_id', `wamid.in.${run}.ana`));
  assert.deepEqual(mine, [{ direction: 'inbound', body: 'What time is pickup on day one?', status: 'received' }]);
  assert.equal(ok(await as(ANA).from('whatsapp_conversations').select('id')).length, 1, 'the seeded conversation, not a new one');
  assert.deepEqual(ok(await as(BEN).from('whatsapp_messages').select('id').eq('wa_message_id', `wamid.in.${run}.ana`)), []);
  const raw = await as(ANA).from('whatsapp_webhooks').select('id');
  assert.ok(raw.error || raw.data.length === 0, 'raw deliveries are the service role\'s');

  // STOP opts the contact out, START back in.
  await deliver(inbound(stranger, 'Lena', `wamid.in.${run}.2`, 'START'));
  assert.equal(scalar(`select opted_in from public.whatsapp_contacts where wa_id = ${q(stranger)}`), 't');
  await deliver(inbound(stranger, 'Lena', `wamid.in.${run}.3`, ' stop '));
  assert.equal(scalar(`select opted_in from public.whatsapp_contacts where wa_id = ${q(stranger)}`), 'f');
  // Malformed JSON, signed: 400.
  const junk = '{"object":';
  assert.equal((await postWebhook(hook(), junk, { 'x-hub-signature-256': sign(junk) })).status, 400);
});

test('sender: text inside the 24-hour window, templates outside it, opt-in required; statuses arrive by webhook; Graph errors recorded', async () => {
  // Ana wrote within the last day (previous test): free text goes out with the business token.
  let r = await send({ user_id: ANA, text: 'Pickup is at 4:30 from your hotel.' });
  assert.equal(r.error, null, String(r.error));
  const sent = r.data;
  assert.equal(sent.status, 'sent');
  const call = graph.to('/messages').at(-1);
  assert.equal(call.headers.authorization, 'Bearer wa-access-token');
  assert.deepEqual(call.body, { messaging_product: 'whatsapp', recipient_type: 'individual', to: ANA_WA, type: 'text', text: { preview_url: false, body: 'Pickup is at 4:30 from your hotel.' } });
  const row = async () => ok(await admin().from('whatsapp_messages').select('direction, status, error, body, wa_message_id').eq('id', sent.id).single());
  assert.deepEqual(await row(), { direction: 'outbound', status: 'sent', error: null, body: 'Pickup is at 4:30 from your hotel.', wa_message_id: sent.wa_message_id });
  assert.equal(ok(await as(ANA).from('whatsapp_messages').select('id').eq('id', sent.id)).length, 1);

  // Delivery statuses move it forward only.
  await deliver(status(sent.wa_message_id, 'delivered'));
  assert.equal((await row()).status, 'delivered');
  await deliver(status(sent.wa_message_id, 'read'));
  const late = await deliver(status(sent.wa_message_id, 'delivered', { timestamp: '1' }));
  assert.equal(late.body.repeated, 1);
  assert.equal((await row()).status, 'read');

  // Outside the window: text refused, a template goes out.
  b.sql(`update public.whatsapp_messages set created_at = now() - interval '2 days' where direction = 'inbound' and conversation_id in (select id from public.whatsapp_conversations where user_id = ${q(ANA)})`);
  r = await send({ user_id: ANA, text: 'Hello again' });
  assert.equal(r.error?.context?.status, 422);
  r = await send({ user_id: ANA, template: { name: 'booking_reminder', language: 'en', body: 'Your trek starts in 2 days!' } });
  assert.equal(r.error, null, String(r.error));
  assert.deepEqual(graph.to('/messages').at(-1).body.template, { name: 'booking_reminder', language: { code: 'en' } });
  assert.deepEqual(ok(await admin().from('whatsapp_messages').select('message_type, template_name, body, status').eq('id', r.data.id).single()),
    { message_type: 'template', template_name: 'booking_reminder', body: 'Your trek starts in 2 days!', status: 'sent' });
  // Meta reports it failed: recorded with the reason.
  await deliver(status(r.data.wa_message_id, 'failed', { errors: [{ code: 131026, title: 'Message undeliverable' }] }));
  assert.deepEqual(ok(await admin().from('whatsapp_messages').select('status, error').eq('id', r.data.id).single()), { status: 'failed', error: 'Message undeliverable' });

  // The Graph API refuses: 502 and a failed row with its message.
  refuse = true;
  r = await send({ user_id: ANA, template: { name: 'booking_reminder' } });
  refuse = false;
  assert.equal(r.error?.context?.status, 502);
  assert.equal(scalar(`select error from public.whatsapp_messages where direction = 'outbound' and status = 'failed' and wa_message_id is null order by created_at desc limit 1`), '(#131030) Recipient phone number not in allowed list');

  // No contact: 404; opted out: 409; bad input: 400; not the service role: 403. Nothing sent.
  const before = graph.to('/messages').length;
  assert.equal((await send({ user_id: BEN, template: { name: 'booking_reminder' } })).error?.context?.status, 404);
  ok(await as(ANA).from('whatsapp_contacts').update({ opted_in: false }).eq('user_id', ANA), 'Ana opts out');
  assert.equal((await send({ user_id: ANA, template: { name: 'booking_reminder' } })).error?.context?.status, 409);
  assert.equal((await send({ user_id: 'nope', text: 'x' })).error?.context?.status, 400);
  assert.equal((await send({ user_id: ANA, text: 'x', template: { name: 'y' } })).error?.context?.status, 400);
  assert.equal((await send({ user_id: ANA, template: { name: 'booking_reminder' } }, as(KAI))).error?.context?.status, 403);
  assert.equal(graph.to('/messages').length, before);
  ok(await as(ANA).from('whatsapp_contacts').update({ opted_in: true }).eq('user_id', ANA));
});

test('retry: a delivery that failed to apply stays unprocessed with its error and is applied by the cron job once the cause is gone', async () => {
  assert.deepEqual(b.sql(`select schedule from cron.job where jobname = 'trvl-retry-whatsapp-webhooks'`), [['15 seconds']]);
  // A transient failure while applying (a trigger standing in for, say, a lock timeout).
  b.sql(`create function public.e2e_fail() returns trigger language plpgsql as $$ begin raise exception 'transient failure'; end $$;
         create trigger e2e_fail before insert on public.whatsapp_messages for each row execute function public.e2e_fail();`);
  const id = `wamid.in.${run}.retry`;
  const r = await deliver(inbound(ANA_WA, 'Ana', id, 'Can I bring my dog?'));
  assert.equal(r.status, 200, 'stored: Meta need not send it again');
  assert.equal(r.body.error, 'transient failure');
  assert.deepEqual(b.sql(`select processed_at is null, attempts, error from public.whatsapp_webhooks where payload::text like '%${id}%'`), [['t', '1', 'transient failure']]);
  b.sql(`drop trigger e2e_fail on public.whatsapp_messages; drop function public.e2e_fail();`);
  await until('the cron job to apply it', () => scalar(`select processed_at is not null from public.whatsapp_webhooks where payload::text like '%${id}%'`) === 't', 60000);
  assert.deepEqual(b.sql(`select attempts, error is null from public.whatsapp_webhooks where payload::text like '%${id}%'`), [['2', 't']]);
  assert.deepEqual(ok(await as(ANA).from('whatsapp_messages').select('body').eq('wa_message_id', id)), [{ body: 'Can I bring my dog?' }]);
  // A delivery that never applies stops after 5 attempts.
  b.sql(`insert into public.whatsapp_webhooks (event_type, payload, signature_valid, attempts, last_attempt_at, error)
         values ('messages', '{"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"from": "0", "id": "wamid.bad.${run}", "type": "text", "text": {"body": "x"}}]}}]}]}', true, 4, now() - interval '1 minute', 'earlier')`);
  await until('the fifth attempt', () => scalar(`select attempts from public.whatsapp_webhooks where payload::text like '%wamid.bad.${run}%'`) === '5', 60000);
  assert.match(scalar(`select error from public.whatsapp_webhooks where payload::text like '%wamid.bad.${run}%'`), /whatsapp_contacts_phone_e164_check|violates check constraint/);
  assert.equal(b.sql(`select private.retry_whatsapp_webhooks()`)[0][0], '0', 'not tried a sixth time');
});

test('compatibility: the example\'s rule for group members and connections, recomputed when an assessment changes, seen by the pair', async () => {
  assert.deepEqual(b.sql(`select schedule from cron.job where jobname = 'trvl-refresh-compatibility'`), [['7 * * * *']]);
  // The seeded group score is current; the connection pair has none yet.
  b.sql(`select private.refresh_compatibility_scores()`);
  const pair = async (group) => ok(await admin().from('compatibility_scores').select('score, breakdown, model_version').eq('user_a', ANA).eq('user_b', BEN)[group ? 'eq' : 'is']('group_id', group ?? null).single());
  assert.deepEqual(await pair(GROUP).then((p) => [p.score, p.model_version]), [84.5, 'compat-v2']);
  // Ana 82/64/58/77/31, Ben 75/52/71/69/40: personality 100 − 49/5 = 90.2; interests 2 of 5 = 40;
  // budgets 300–1500 and 200–900 overlap 600 of the narrower 700 = 85.71; 0.6/0.25/0.15 → 76.98.
  let p = await pair(null);
  assert.equal(p.model_version, 'rule-1');
  assert.equal(p.score, 76.98);
  assert.deepEqual(p.breakdown, { personality: 90.2, interests: 40, budget: 85.71, weights: { personality: 0.6, interests: 0.25, budget: 0.15 } });
  // Ben retakes the assessment: both of his scores with Ana are recomputed on the next run.
  ok(await as(BEN).from('personality_assessments').update({ openness: 82, conscientiousness: 64, extraversion: 58, agreeableness: 77, neuroticism: 31 }).eq('user_id', BEN));
  assert.equal(scalar(`select private.refresh_compatibility_scores()`), '2');
  p = await pair(GROUP);
  assert.deepEqual([p.score, p.breakdown.personality, p.model_version], [82.86, 100, 'rule-1']); // 60 + 10 + 12.86
  assert.equal(scalar(`select private.refresh_compatibility_scores()`), '0', 'nothing changed since');
  // Kai joins the group without an assessment: no score for him; with one (no preferences), personality alone.
  ok(await as(KAI).from('group_members').insert({ group_id: GROUP, user_id: KAI }));
  b.sql(`select private.refresh_compatibility_scores()`);
  assert.equal(Number(scalar(`select count(*) from public.compatibility_scores where ${q(KAI)} in (user_a, user_b)`)), 0);
  ok(await as(KAI).from('personality_assessments').insert({ user_id: KAI, openness: 72, conscientiousness: 64, extraversion: 58, agreeableness: 77, neuroticism: 31 }));
  assert.equal(scalar(`select private.refresh_compatibility_scores()`), '2');
  const kai = ok(await as(KAI).from('compatibility_scores').select('score, breakdown').eq('group_id', GROUP).order('score'));
  assert.deepEqual(kai.map((k) => [k.score, k.breakdown.weights.personality]), [[98, 1], [98, 1]]);
  // The pair sees its scores; others do not; clients cannot run the model.
  assert.equal(ok(await as(ANA).from('compatibility_scores').select('id').is('group_id', null)).length, 1);
  assert.deepEqual(ok(await as(KAI).from('compatibility_scores').select('id').is('group_id', null)), []);
  assert.ok((await as(ANA).rpc('refresh_compatibility_scores')).error);
});
