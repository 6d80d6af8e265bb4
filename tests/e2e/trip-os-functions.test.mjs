// examples/trip-os's edge functions and cron jobs through the real supabase-js against
// `basalt start`, as travellers use them: an owner invites a collaborator who accepts and edits
// the trip; a Stripe checkout and its signed webhook upgrade the plan and its usage limits
// (wrong signatures refused, a repeated event changes nothing); AI runs are recorded with their
// token usage and refused past the plan's limit; a reminder scheduled through the function is
// sent by the dispatch cron job to WhatsApp, and its delivery status arrives by the signed
// webhook. Stripe, the AI provider and the WhatsApp Graph API are local fakes started here.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ok, q } from './lib/checks.mjs';
import { startBasalt, createUserRow, repoRoot } from './lib/basalt.mjs';

const projectDir = join(repoRoot, 'examples/trip-os');

// Seeded (supabase/seed.sql): Maya owns the Lisbon trip, has an opted-in WhatsApp number and a
// packing-reminder automation.
const MAYA = 'a1111111-1111-4111-8111-111111111111';
const LISBON = 'e0000000-0000-4000-8000-000000000001';
const LEO_ID = 'b2222222-2222-4222-8222-222222222222';

const OWNER = randomUUID();
const FRIEND = randomUUID();
const STRANGER = randomUUID();
const BUYER = randomUUID();
const PLANNER = randomUUID();
const FLAKY = randomUUID();
const NOTIFIED = randomUUID();
const SUBSCRIBER_A = randomUUID();
const SUBSCRIBER_B = randomUUID();

const STRIPE_KEY = 'sk_test_trip_os_fake';
const STRIPE_WHSEC = 'whsec_trip_os_fake';
const WA_APP_SECRET = 'wa-app-secret-fake';
const WA_VERIFY = 'wa-verify-token-fake';
const WA_PHONE_ID = '1098765432';

/**
 * One local HTTP server standing in for Stripe (/stripe), the AI provider (/ai), Meta (/wa),
 * the email provider (/email) and Expo's push service (/push). `control` steers failures:
 * `emailFailures` (the next N emails answer 500), `receiptsReady` (receipts of devices named
 * `later` are withheld until set).
 */
async function startFakes() {
  const calls = [];
  const subscriptions = new Map();
  const tickets = new Map();
  const control = { emailFailures: 0, receiptsReady: false };
  let n = 0;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://fake');
      const type = req.headers['content-type'] ?? '';
      const body = type.includes('json') ? JSON.parse(raw || 'null')
        : type.includes('x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(raw)) : raw;
      const call = { method: req.method, path: url.pathname, headers: req.headers, body };
      calls.push(call);
      const send = (status, payload) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(payload)); };
      const p = url.pathname;
      if (p.startsWith('/stripe/')) {
        if (req.headers.authorization !== `Bearer ${STRIPE_KEY}`) return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
        if (req.method === 'POST' && p === '/stripe/v1/customers') {
          return send(200, { id: `cus_fake_${++n}`, object: 'customer', email: body.email, metadata: { user_id: body['metadata[user_id]'] } });
        }
        if (req.method === 'POST' && p === '/stripe/v1/checkout/sessions') {
          const id = `cs_test_fake_${++n}`;
          const now = Math.floor(Date.now() / 1000);
          // What Stripe will have once the customer pays: the session's subscription.
          subscriptions.set(`sub_fake_${n}`, {
            id: `sub_fake_${n}`, object: 'subscription', customer: body.customer, status: 'active',
            cancel_at_period_end: false, canceled_at: null,
            metadata: { user_id: body['subscription_data[metadata][user_id]'], plan: body['subscription_data[metadata][plan]'] },
            items: { object: 'list', data: [{ id: `si_${n}`, price: { id: body['line_items[0][price]'] }, current_period_start: now, current_period_end: now + 30 * 86400 }] },
          });
          return send(200, { id, object: 'checkout.session', mode: body.mode, customer: body.customer, url: `https://checkout.stripe.com/c/pay/${id}`, subscription: null });
        }
        const sub = p.match(/^\/stripe\/v1\/subscriptions\/([^/]+)$/);
        if (req.method === 'GET' && sub && subscriptions.has(sub[1])) return send(200, subscriptions.get(sub[1]));
        return send(404, { error: { type: 'invalid_request_error', message: `No such resource: ${p}` } });
      }
      if (p === '/ai/chat/completions' && req.method === 'POST') {
        const [system, user] = body.messages.map((m) => m.content);
        // OpenAI's answer to a failure on its side.
        if (/provider-down/.test(user)) return send(500, { error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } });
        let content = 'Day 1: Alfama and a fado night. Day 2: Belém.';
        if (/classify/i.test(system)) content = 'museum';
        else if (/reorder/i.test(system)) content = JSON.stringify({ order: JSON.parse(user.slice(user.indexOf('\n') + 1)).map((i) => i.id).reverse() });
        else if (/summar/i.test(system)) content = 'Three easy days of food and views.';
        return send(200, {
          id: `chatcmpl-${++n}`, object: 'chat.completion', model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 120, completion_tokens: 80, total_tokens: 200 },
        });
      }
      // Email (Resend's API shape) and push (Expo's push API shape).
      if (p === '/email/emails' && req.method === 'POST') {
        if (req.headers.authorization !== 'Bearer email-key-fake') return send(401, { name: 'validation_error', message: 'API key is invalid' });
        if (control.emailFailures > 0) {
          control.emailFailures--;
          return send(500, { statusCode: 500, name: 'internal_server_error', message: 'An unexpected error occurred.' });
        }
        return send(200, { id: `email_${++n}` });
      }
      if (p === '/push/push/send' && req.method === 'POST') {
        return send(200, { data: body.map((m) => {
          if (!m.to.startsWith('ExponentPushToken[')) return { status: 'error', message: `"${m.to}" is not a registered push notification recipient`, details: { error: 'DeviceNotRegistered' } };
          const id = `ticket-${++n}`;
          tickets.set(id, m.to);
          return { status: 'ok', id };
        }) });
      }
      // Expo's receipts: {data: {<ticket id>: receipt}}; a receipt not ready yet is left out.
      if (p === '/push/push/getReceipts' && req.method === 'POST') {
        const data = {};
        for (const id of body.ids) {
          const to = tickets.get(id);
          if (!to) continue;
          if (to.includes('gone')) data[id] = { status: 'error', message: `"${to}" is not a registered push notification recipient`, details: { error: 'DeviceNotRegistered' } };
          else if (to.includes('big')) data[id] = { status: 'error', message: 'Message too big', details: { error: 'MessageTooBig' } };
          else if (to.includes('later') && !control.receiptsReady) continue;
          else data[id] = { status: 'ok' };
        }
        return send(200, { data });
      }
      const wa = p.match(/^\/wa\/v21\.0\/(\d+)\/messages$/);
      if (wa && req.method === 'POST') {
        if (req.headers.authorization !== 'Bearer wa-access-token-fake') return send(401, { error: { message: 'Invalid OAuth access token', code: 190 } });
        return send(200, { messaging_product: 'whatsapp', contacts: [{ input: body.to, wa_id: body.to }], messages: [{ id: `wamid.FAKE${++n}` }] });
      }
      return send(404, { error: { message: `fake: no route for ${req.method} ${p}` } });
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    calls,
    control,
    to: (part) => calls.filter((c) => c.path.includes(part)),
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

let b;
let fakes;
before(async () => {
  fakes = await startFakes();
  b = await startBasalt({ projectDir });
  // The project's function secrets, pointing at the fakes (read when a function's worker boots).
  writeFileSync(join(b.dir, 'supabase/functions/.env'), [
    `STRIPE_API_BASE=${fakes.url}/stripe`, `STRIPE_SECRET_KEY=${STRIPE_KEY}`, `STRIPE_WEBHOOK_SECRET=${STRIPE_WHSEC}`,
    `AI_API_BASE=${fakes.url}/ai`, 'AI_API_KEY=sk-ai-fake',
    `WHATSAPP_API_BASE=${fakes.url}/wa`, `WHATSAPP_PHONE_NUMBER_ID=${WA_PHONE_ID}`, 'WHATSAPP_ACCESS_TOKEN=wa-access-token-fake',
    `WHATSAPP_APP_SECRET=${WA_APP_SECRET}`, `WHATSAPP_VERIFY_TOKEN=${WA_VERIFY}`,
    `EMAIL_API_BASE=${fakes.url}/email`, 'EMAIL_API_KEY=email-key-fake', 'EMAIL_FROM=trip-os <hello@trip-os.test>',
    `PUSH_API_BASE=${fakes.url}/push`, 'SITE_URL=http://127.0.0.1:3000', '',
  ].join('\n'));
  // Started on another port than config.toml's: store where the cron jobs call functions.
  b.sql(`select private.set_function_secrets(${q(b.url)}, ${q(b.serviceKey)})`);
  createUserRow(b, OWNER, 'olivia@trip-os.test');
  createUserRow(b, FRIEND, 'fred@trip-os.test');
  createUserRow(b, STRANGER, 'sam@trip-os.test');
  createUserRow(b, BUYER, 'bea@trip-os.test');
  createUserRow(b, PLANNER, 'paul@trip-os.test');
  createUserRow(b, FLAKY, 'flo@trip-os.test');
  createUserRow(b, NOTIFIED, 'nora@trip-os.test');
  createUserRow(b, SUBSCRIBER_A, 'sia@trip-os.test');
  createUserRow(b, SUBSCRIBER_B, 'sib@trip-os.test');
});
after(async () => {
  await b?.stop();
  await fakes?.close();
});

const scalar = (sql) => b.sql(sql)[0]?.[0];
const as = (sub) => b.userClient(sub, { email: scalar(`select email from auth.users where id = ${q(sub)}`) });

/** Invoke a function; returns { status, body } for successes and HTTP errors alike. */
async function call(client, name, body, options = {}) {
  const { data, error, response } = await client.functions.invoke(name, { body, ...options });
  if (!error) return { status: response.status, body: data };
  assert.ok(error.context?.status, `${name}: ${error.name}: ${error.message}`);
  if (error.context.headers.get('x-relay-error')) {
    assert.fail(`${name}: no function runtime (${error.context.status}): edge functions need Deno: run .ci/setup or set BASALT_DENO`);
  }
  return { status: error.context.status, body: await error.context.json() };
}

async function waitFor(what, check, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** POST to a webhook as Stripe or Meta would: no Supabase JWT, the raw body and its signature. */
function webhook(name, raw, headers) {
  return fetch(`${b.url}/functions/v1/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
}
const stripeSig = (raw, t = Math.floor(Date.now() / 1000), secret = STRIPE_WHSEC) =>
  `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${raw}`).digest('hex')}`;
const metaSig = (raw, secret = WA_APP_SECRET) => `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

test('the cron jobs are installed and the vault holds where they call functions', () => {
  const jobs = b.sql(`select jobname, schedule from cron.job where jobname like 'trip-os-%' order by jobname`);
  assert.deepEqual(jobs, [
    ['trip-os-dispatch-due-jobs', '5 seconds'],
    ['trip-os-evaluate-automations', '* * * * *'],
    ['trip-os-open-usage-periods', '5 0 1 * *'],
    ['trip-os-prune-cron-history', '30 3 * * *'],
  ]);
  assert.equal(scalar(`select decrypted_secret from vault.decrypted_secrets where name = 'project_url'`), b.url);
});

test('collaboration: the owner invites, the collaborator accepts through the function and edits the trip', async () => {
  const owner = as(OWNER);
  const friend = as(FRIEND);
  const trip = ok(await owner.from('trips').insert({ user_id: OWNER, title: 'Porto weekend', destination: 'Porto' }).select().single());

  // Input is checked; only the owner invites.
  let r = await call(owner, 'invite-collaborator', { trip_id: trip.id });
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'invalid_input');
  r = await call(owner, 'invite-collaborator', { trip_id: 'nope', email: 'fred@trip-os.test' });
  assert.equal(r.status, 400);
  r = await call(owner, 'invite-collaborator', { trip_id: trip.id, email: 'fred@trip-os.test', permission: 'admin' });
  assert.equal(r.status, 400);
  r = await call(as(STRANGER), 'invite-collaborator', { trip_id: trip.id, email: 'fred@trip-os.test' });
  assert.equal(r.status, 404, 'a stranger does not even see the trip');
  r = await call(b.client(), 'invite-collaborator', { trip_id: trip.id, email: 'fred@trip-os.test' });
  assert.equal(r.status, 401, 'anon is refused');

  const mailsBefore = fakes.to('/email/emails').length;
  r = await call(owner, 'invite-collaborator', { trip_id: trip.id, email: 'Fred@trip-os.test', permission: 'edit' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const invitation = r.body.invitation;
  // Fred has an account: he is told by email through the provider.
  assert.equal(r.body.emailed, true);
  const told = fakes.to('/email/emails').slice(mailsBefore);
  assert.equal(told.length, 1);
  assert.deepEqual(told[0].body.to, ['fred@trip-os.test']);
  assert.match(told[0].body.subject, /Porto weekend/);
  assert.equal(invitation.status, 'pending');
  assert.equal(invitation.user_id, FRIEND);
  assert.equal(invitation.invited_by, OWNER);
  r = await call(owner, 'invite-collaborator', { trip_id: trip.id, email: 'fred@trip-os.test' });
  assert.equal(r.status, 409);
  assert.equal(r.body.error, 'already_invited');

  // Pending grants nothing; someone else cannot accept it; the invitee does.
  assert.deepEqual(ok(await friend.from('trips').select('id').eq('id', trip.id)), []);
  r = await call(as(STRANGER), 'accept-invitation', { invitation_id: invitation.id });
  assert.equal(r.status, 404);
  r = await call(friend, 'accept-invitation', {});
  assert.equal(r.status, 400);
  r = await call(friend, 'accept-invitation', { invitation_id: invitation.id });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.invitation.status, 'accepted');
  assert.equal(r.body.trip.title, 'Porto weekend');
  const acceptedAt = scalar(`select accepted_at::text from public.collaborators where id = ${q(invitation.id)}`);
  r = await call(friend, 'accept-invitation', { invitation_id: invitation.id });
  assert.equal(r.status, 200, 'accepting again is harmless');
  assert.equal(scalar(`select accepted_at::text from public.collaborators where id = ${q(invitation.id)}`), acceptedAt);
  r = await call(friend, 'accept-invitation', { invitation_id: invitation.id, decline: true });
  assert.equal(r.status, 409);

  // The collaborator edits as themselves.
  const edited = ok(await friend.from('trips').update({ title: 'Porto long weekend' }).eq('id', trip.id).select());
  assert.equal(edited.length, 1);
  ok(await friend.from('trip_items').insert({ trip_id: trip.id, created_by: FRIEND, title: 'Livraria Lello', day_number: 1 }).select());
  assert.equal(scalar(`select title from public.trips where id = ${q(trip.id)}`), 'Porto long weekend');
});

test('billing: checkout against Stripe, the signed webhook activates the plan and its limits, once', async () => {
  const buyer = as(BUYER);
  let r = await call(buyer, 'enforce-usage-limits', { kind: 'ai_run' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.usage.plan, 'free');
  assert.equal(r.body.usage.limit, 3);
  r = await call(buyer, 'enforce-usage-limits', { kind: 'ai_run', consume: true });
  assert.equal(r.status, 403, 'users cannot consume units themselves');
  r = await call(buyer, 'enforce-usage-limits', { kind: 'teleport' });
  assert.equal(r.status, 400);

  r = await call(buyer, 'create-checkout-session', { plan: 'platinum' });
  assert.equal(r.status, 400);
  r = await call(buyer, 'create-checkout-session', { plan: 'explorer', success_url: 'javascript:alert(1)' });
  assert.equal(r.status, 400);
  r = await call(buyer, 'create-checkout-session', { plan: 'explorer', success_url: 'http://127.0.0.1:3000/ok' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(r.body.url, /^https:\/\/checkout\.stripe\.com\//);
  const checkout = r.body;
  const [customerCall] = fakes.to('/stripe/v1/customers');
  assert.equal(customerCall.body.email, 'bea@trip-os.test');
  assert.equal(customerCall.headers['idempotency-key'], `trip-os-customer-${BUYER}`);
  const [sessionCall] = fakes.to('/stripe/v1/checkout/sessions');
  assert.equal(sessionCall.body.mode, 'subscription');
  assert.equal(sessionCall.body['line_items[0][price]'], 'price_explorer_monthly');
  assert.equal(sessionCall.body.client_reference_id, BUYER);
  assert.equal(ok(await buyer.from('stripe_customers').select('stripe_customer_id').single()).stripe_customer_id, r.body.customer);

  // Stripe tells us the checkout completed.
  const subId = `sub_fake_${r.body.id.split('_').pop()}`;
  const event = {
    id: 'evt_checkout_1', object: 'event', type: 'checkout.session.completed', created: Math.floor(Date.now() / 1000),
    data: { object: { id: r.body.id, object: 'checkout.session', mode: 'subscription', customer: r.body.customer, subscription: subId, client_reference_id: BUYER, payment_status: 'paid' } },
  };
  const raw = JSON.stringify(event);
  const countEvents = () => Number(scalar(`select count(*) from public.billing_events where stripe_event_id = 'evt_checkout_1'`));

  for (const [why, sig] of [
    ['no signature', undefined],
    ['another secret', stripeSig(raw, undefined, 'whsec_wrong')],
    ['a stale timestamp', stripeSig(raw, Math.floor(Date.now() / 1000) - 600)],
    ['a changed body', stripeSig(raw.replace('paid', 'unpaid'))],
  ]) {
    const res = await webhook('handle-stripe-webhook', raw, sig ? { 'stripe-signature': sig } : {});
    assert.equal(res.status, 400, why);
    assert.equal((await res.json()).error, 'invalid_signature', why);
  }
  assert.equal(countEvents(), 0, 'nothing recorded for refused deliveries');
  assert.equal(Number(scalar(`select count(*) from public.subscriptions where user_id = ${q(BUYER)}`)), 0);

  let res = await webhook('handle-stripe-webhook', raw, { 'stripe-signature': stripeSig(raw) });
  assert.equal(res.status, 200, await res.clone().text());
  const sub = ok(await buyer.from('subscriptions').select('plan,status,stripe_subscription_id').single());
  assert.deepEqual(sub, { plan: 'explorer', status: 'active', stripe_subscription_id: subId });
  r = await call(buyer, 'enforce-usage-limits', { kind: 'ai_run' });
  assert.equal(r.body.usage.plan, 'explorer');
  assert.equal(r.body.usage.limit, 100);
  const limits = ok(await buyer.from('usage_limits').select('ai_runs_limit,tokens_limit,whatsapp_messages_limit').single());
  assert.deepEqual(limits, { ai_runs_limit: 100, tokens_limit: 1000000, whatsapp_messages_limit: 200 });

  // The same event again (Stripe retries): acknowledged, nothing changes.
  const snapshot = () => b.sql(`select s.updated_at::text, u.updated_at::text, e.processed_at::text
    from public.subscriptions s, public.usage_limits u, public.billing_events e
    where s.user_id = ${q(BUYER)} and u.user_id = s.user_id and e.stripe_event_id = 'evt_checkout_1'`);
  const before = snapshot();
  res = await webhook('handle-stripe-webhook', raw, { 'stripe-signature': stripeSig(raw) });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).duplicate, true);
  assert.deepEqual(snapshot(), before);
  assert.equal(countEvents(), 1);
  assert.equal(fakes.to('/stripe/v1/subscriptions/').length, 1, 'Stripe asked once');

  // An invoice, then the subscription ends: back to the free plan's limits.
  const invoice = JSON.stringify({ id: 'evt_invoice_1', type: 'invoice.paid', data: { object: {
    id: 'in_fake_1', customer: checkout.customer,
    subscription: subId, amount_due: 900, amount_paid: 900, currency: 'eur', status: 'paid', hosted_invoice_url: 'https://invoice.stripe.com/i/fake',
  } } });
  res = await webhook('handle-stripe-webhook', invoice, { 'stripe-signature': stripeSig(invoice) });
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(ok(await buyer.from('invoices').select('amount_paid,currency,status').single()), { amount_paid: 9, currency: 'EUR', status: 'paid' });
  const ended = JSON.stringify({ id: 'evt_sub_deleted_1', type: 'customer.subscription.deleted', data: { object: { id: subId, customer: checkout.customer, status: 'canceled', canceled_at: Math.floor(Date.now() / 1000), metadata: { user_id: BUYER }, items: { data: [{ price: { id: 'price_explorer_monthly' } }] } } } });
  res = await webhook('handle-stripe-webhook', ended, { 'stripe-signature': stripeSig(ended) });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(ok(await buyer.from('subscriptions').select('status').single()).status, 'canceled');
  assert.equal(ok(await buyer.from('usage_limits').select('ai_runs_limit').single()).ai_runs_limit, 3);
});

test('AI: runs are recorded with token usage (fake provider) and refused past the plan\'s limit', async () => {
  const planner = as(PLANNER);
  const trip = ok(await planner.from('trips').insert({ user_id: PLANNER, title: 'Kyoto', destination: 'Kyoto' }).select().single());
  const place = ok(await planner.from('places').insert({ user_id: PLANNER, name: 'Kyoto National Museum', city: 'Kyoto' }).select().single());
  const items = ok(await planner.from('trip_items').insert(['Fushimi Inari', 'Gion', 'Kiyomizu-dera'].map((title, i) => ({
    trip_id: trip.id, created_by: PLANNER, title, day_number: 1, order_index: i }))).select('id,title').order('order_index'));

  let r = await call(planner, 'run-ai-agent', { agent: 'trip-planner' });
  assert.equal(r.status, 400);
  r = await call(planner, 'run-ai-agent', { agent: 'fortune-teller', prompt: 'hello' });
  assert.equal(r.status, 404);
  r = await call(planner, 'run-ai-agent', { agent: 'trip-planner', prompt: 'x', trip_id: LISBON });
  assert.equal(r.status, 404, 'a trip the user cannot see');

  // Run 1 of the free plan's 3.
  r = await call(planner, 'run-ai-agent', { agent: 'trip-planner', prompt: 'Plan two days', trip_id: trip.id });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(r.body.output, /Alfama/);
  assert.deepEqual(r.body.usage, { prompt_tokens: 120, completion_tokens: 80, total_tokens: 200, cost_usd: 0.000066 });
  assert.equal(r.body.limits.ai_runs_remaining, 2);
  const aiCall = fakes.to('/ai/chat/completions').at(-1);
  assert.equal(aiCall.headers.authorization, 'Bearer sk-ai-fake');
  assert.match(aiCall.body.messages[1].content, /Trip: Kyoto/);
  const run = ok(await planner.from('ai_runs').select('status,trip_id,output').eq('id', r.body.run_id).single());
  assert.equal(run.status, 'succeeded');
  assert.equal(run.trip_id, trip.id);
  assert.deepEqual(ok(await planner.from('ai_messages').select('role').eq('run_id', r.body.run_id).order('sequence')).map((m) => m.role), ['user', 'assistant']);
  assert.equal(ok(await planner.from('token_usage').select('total_tokens').eq('run_id', r.body.run_id).single()).total_tokens, 200);

  // Run 2: the place is classified and stored.
  r = await call(planner, 'classify-place', { place_id: place.id });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.category, 'museum');
  assert.equal(ok(await planner.from('places').select('category').eq('id', place.id).single()).category, 'museum');

  // Run 3: the day is reordered (the fake reverses it) and applied as the user.
  r = await call(planner, 'optimize-itinerary', { trip_id: trip.id, day_number: 1 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const order = ok(await planner.from('trip_items').select('id').eq('trip_id', trip.id).order('order_index')).map((i) => i.id);
  assert.deepEqual(order, items.map((i) => i.id).reverse());

  // The plan's 3 runs are used: refused, nothing recorded, the provider not called.
  const calls = fakes.to('/ai/').length;
  r = await call(planner, 'summarize-trip', { trip_id: trip.id });
  assert.equal(r.status, 402, JSON.stringify(r.body));
  assert.equal(r.body.error, 'usage_limit_exceeded');
  assert.equal(r.body.details.plan, 'free');
  assert.equal(fakes.to('/ai/').length, calls);
  assert.equal(Number(scalar(`select count(*) from public.ai_runs where user_id = ${q(PLANNER)}`)), 3);
  assert.deepEqual(b.sql(`select ai_runs_used, tokens_used from public.usage_limits where user_id = ${q(PLANNER)}`), [['3', '600']]);
  assert.equal(ok(await planner.rpc('remaining_ai_runs')), 0);

  // Maya (explorer) summarises her shared trip; the summary is kept in her AI memory.
  const maya = as(MAYA);
  r = await call(maya, 'summarize-trip', { trip_id: LISBON });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.summary, 'Three easy days of food and views.');
  const memory = ok(await maya.from('ai_memory').select('content').eq('trip_id', LISBON).eq('key', 'trip_summary').single());
  assert.equal(memory.content.summary, r.body.summary);
  // Someone else's trip is not found.
  r = await call(as(OWNER), 'optimize-itinerary', { trip_id: LISBON, day_number: 1 });
  assert.equal(r.status, 404);
});

test('WhatsApp: a scheduled reminder is sent by cron, its status arrives by the signed webhook, once', async () => {
  const maya = as(MAYA);
  // Sent right away, as herself, to her own number; the plan's message count follows.
  const used = () => Number(scalar(`select whatsapp_messages_used from public.usage_limits where user_id = ${q(MAYA)} and now() between period_start and period_end`));
  const usedBefore = used();
  let r = await call(maya, 'send-whatsapp-message', {});
  assert.equal(r.status, 400);
  r = await call(maya, 'send-whatsapp-message', { message: 'Hi', user_id: LEO_ID });
  assert.equal(r.status, 403, 'not in someone else\'s name');
  r = await call(maya, 'send-whatsapp-message', { message: 'Boarding at 9', trip_id: LISBON });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.message.status, 'sent');
  assert.equal(fakes.to('/wa/').at(-1).body.text.body, 'Boarding at 9');
  assert.equal(used(), usedBefore + 1);

  r = await call(maya, 'schedule-reminder', { message: 'Pack the sunscreen', run_at: 'tomorrow' });
  assert.equal(r.status, 400);
  r = await call(maya, 'schedule-reminder', { message: 'Pack', run_at: '2020-01-01T00:00:00Z' });
  assert.equal(r.status, 400);
  r = await call(as(STRANGER), 'schedule-reminder', { message: 'Pack', run_at: new Date(Date.now() + 60000).toISOString() });
  assert.equal(r.status, 409, 'no WhatsApp number registered');
  assert.equal(r.body.error, 'no_whatsapp_contact');

  r = await call(maya, 'schedule-reminder', { message: 'Pack the sunscreen', trip_id: LISBON, run_at: new Date(Date.now() + 500).toISOString() });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const jobId = r.body.job.id;
  assert.equal(ok(await maya.from('scheduled_jobs').select('status').eq('id', jobId).single()).status, 'scheduled');

  // The dispatch cron job (every 5 seconds) hands it to send-whatsapp-message.
  await waitFor('the reminder to be sent', () => scalar(`select status from public.scheduled_jobs where id = ${q(jobId)}`) === 'done');
  const sent = fakes.to(`/wa/v21.0/${WA_PHONE_ID}/messages`).find((c) => c.body.text?.body === 'Pack the sunscreen');
  assert.ok(sent, 'the WhatsApp API received the reminder');
  assert.equal(sent.body.to, '351912345678');
  assert.equal(sent.body.messaging_product, 'whatsapp');
  assert.equal(sent.headers.authorization, 'Bearer wa-access-token-fake');
  const message = ok(await maya.from('whatsapp_messages').select('id,status,wa_message_id,trip_id').eq('body', 'Pack the sunscreen').single());
  assert.equal(message.status, 'sent');
  assert.equal(message.trip_id, LISBON);
  assert.equal(ok(await maya.from('delivery_logs').select('job_id').eq('message_id', message.id).single()).job_id, jobId);

  // Meta's verification handshake.
  let res = await fetch(`${b.url}/functions/v1/handle-whatsapp-webhook?hub.mode=subscribe&hub.verify_token=${WA_VERIFY}&hub.challenge=1158201444`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), '1158201444');
  res = await fetch(`${b.url}/functions/v1/handle-whatsapp-webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`);
  assert.equal(res.status, 403);

  const statusEvent = (status) => JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: {
    messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: WA_PHONE_ID },
    statuses: [{ id: message.wa_message_id, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: '351912345678' }],
  } }] }] });
  const delivered = statusEvent('delivered');
  res = await webhook('handle-whatsapp-webhook', delivered, { 'x-hub-signature-256': metaSig(delivered, 'another-secret') });
  assert.equal(res.status, 401);
  res = await webhook('handle-whatsapp-webhook', delivered, {});
  assert.equal(res.status, 401);
  assert.equal(scalar(`select status from public.whatsapp_messages where id = ${q(message.id)}`), 'sent');

  res = await webhook('handle-whatsapp-webhook', delivered, { 'x-hub-signature-256': metaSig(delivered) });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).updated, 1);
  assert.equal(ok(await maya.from('whatsapp_messages').select('status').eq('id', message.id).single()).status, 'delivered');
  const logs = () => b.sql(`select status, job_id from public.delivery_logs where message_id = ${q(message.id)} order by created_at`);
  assert.deepEqual(logs(), [['sent', jobId], ['delivered', jobId]]);
  // Delivered again: nothing changes. A late "sent" does not move it back.
  res = await webhook('handle-whatsapp-webhook', delivered, { 'x-hub-signature-256': metaSig(delivered) });
  assert.equal((await res.json()).unchanged, 1);
  const late = statusEvent('sent');
  res = await webhook('handle-whatsapp-webhook', late, { 'x-hub-signature-256': metaSig(late) });
  assert.equal((await res.json()).unchanged, 1);
  assert.equal(logs().length, 2);
  assert.equal(scalar(`select status from public.whatsapp_messages where id = ${q(message.id)}`), 'delivered');

  // A reply from Maya is stored once.
  const inbound = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: {
    messaging_product: 'whatsapp', metadata: { phone_number_id: WA_PHONE_ID },
    messages: [{ from: '351912345678', id: 'wamid.INBOUND1', timestamp: '1700000000', type: 'text', text: { body: 'Done!' } }],
  } }] }] });
  for (let i = 0; i < 2; i++) {
    res = await webhook('handle-whatsapp-webhook', inbound, { 'x-hub-signature-256': metaSig(inbound) });
    assert.equal(res.status, 200);
  }
  assert.deepEqual(ok(await maya.from('whatsapp_messages').select('body,direction,status').eq('wa_message_id', 'wamid.INBOUND1')),
    [{ body: 'Done!', direction: 'inbound', status: 'received' }]);
});

test('automations: a rule runs on demand, and its evaluated occurrence is dispatched by cron once', async () => {
  const maya = as(MAYA);
  const rule = ok(await maya.from('automation_rules').select('id,name').eq('name', 'Packing reminder').single());
  let r = await call(as(STRANGER), 'trigger-automation', { rule_id: rule.id });
  assert.equal(r.status, 404, 'another user\'s rule');
  r = await call(maya, 'trigger-automation', { rule_id: rule.id });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(r.body.text, /Lisbon long weekend/);
  const templated = fakes.to('/wa/').at(-1).body;
  assert.equal(templated.type, 'template');
  assert.equal(templated.template.name, 'packing_reminder');

  // Two days before the trip the rule holds: one occurrence, however often it is evaluated.
  assert.equal(scalar(`select private.evaluate_automation_rules('2025-04-30 09:00Z')`), '1');
  assert.equal(scalar(`select private.evaluate_automation_rules('2025-04-30 09:01Z')`), '0');
  const job = scalar(`select id from public.scheduled_jobs where rule_id = ${q(rule.id)} and job_type = 'automation'`);
  await waitFor('the automation job to run', () => scalar(`select status from public.scheduled_jobs where id = ${q(job)}`) === 'done');
  assert.equal(Number(scalar(`select count(*) from public.delivery_logs where job_id = ${q(job)}`)), 1);
});

test('usage periods: the monthly job opens next month for every user with their plan\'s limits', () => {
  const next = `date_trunc('month', now(), 'UTC') + interval '1 month'`;
  const opened = Number(scalar(`select private.open_usage_periods(${next})`));
  assert.ok(opened >= 7, `opened ${opened}`);
  assert.equal(scalar(`select private.open_usage_periods(${next})`), '0', 'idempotent');
  assert.deepEqual(b.sql(`select ai_runs_limit, ai_runs_used from public.usage_limits where user_id = ${q(MAYA)} and period_start = ${next}`), [['100', '0']]);
  assert.deepEqual(b.sql(`select ai_runs_limit from public.usage_limits where user_id = ${q(PLANNER)} and period_start = ${next}`), [['3']]);
});

test('invitations: someone without an account is invited by email, signs in from the invitation, sets a password and accepts', async () => {
  const owner = as(OWNER);
  const trip = ok(await owner.from('trips').insert({ user_id: OWNER, title: 'Madeira hikes', destination: 'Funchal' }).select().single());
  ok(await owner.from('trip_items').insert({ trip_id: trip.id, created_by: OWNER, title: 'Levada do Rei', day_number: 1 }).select());
  const email = 'nina@newcomer.test';
  assert.deepEqual(b.sql(`select 1 from auth.users where email = ${q(email)}`), []);

  let r = await call(as(STRANGER), 'invite-collaborator', { trip_id: trip.id, email });
  assert.equal(r.status, 404, 'a stranger cannot invite to the trip');
  r = await call(owner, 'invite-collaborator', { trip_id: trip.id, email: 'Nina@Newcomer.test', permission: 'view', redirect_to: 'http://127.0.0.1:3000/welcome' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.invited_by_email, true);
  const invitation = r.body.invitation;
  assert.equal(invitation.status, 'pending');
  // The account exists unconfirmed and invited; the invitation email went out.
  assert.deepEqual(b.sql(`select id::text, invited_at is not null, email_confirmed_at is null from auth.users where email = ${q(email)}`),
    [[invitation.user_id, 't', 't']]);
  const mailbox = await fetch(`${b.url}/auth/v1/basalt/mail?email=${encodeURIComponent(email)}`, { headers: { apikey: b.serviceKey, authorization: `Bearer ${b.serviceKey}` } });
  const [mail] = (await mailbox.json()).messages;
  assert.equal(mail.type, 'invite');
  assert.ok(mail.otp, 'the invitation carries a code');
  assert.match(mail.action_link, /type=invite/);
  r = await call(owner, 'invite-collaborator', { trip_id: trip.id, email });
  assert.equal(r.status, 409, 'invited twice');

  // The invitee signs in from the invitation (supabase-js verifyOtp, type invite) and sets a password.
  const nina = b.client();
  const verified = await nina.auth.verifyOtp({ email, token: mail.otp, type: 'invite' });
  assert.equal(verified.error, null, JSON.stringify(verified.error));
  assert.equal(verified.data.user.id, invitation.user_id);
  ok(await nina.auth.updateUser({ password: 'madeira-levadas' }));
  const again = b.client();
  ok(await again.auth.signInWithPassword({ email, password: 'madeira-levadas' }));

  // Pending grants nothing; accepting opens the trip to the viewer, read-only.
  assert.deepEqual(ok(await again.from('trips').select('id').eq('id', trip.id)), []);
  const { data, error } = await again.functions.invoke('accept-invitation', { body: { trip_id: trip.id } });
  assert.equal(error, null, String(error));
  assert.equal(data.invitation.status, 'accepted');
  assert.equal(data.trip.title, 'Madeira hikes');
  assert.deepEqual(ok(await again.from('trip_items').select('title').eq('trip_id', trip.id)), [{ title: 'Levada do Rei' }]);
  const write = await again.from('trips').update({ title: 'mine now' }).eq('id', trip.id).select();
  assert.deepEqual(write.data ?? [], [], 'a viewer cannot edit');
  assert.equal(scalar(`select title from public.trips where id = ${q(trip.id)}`), 'Madeira hikes');
});

test('votes close: a vote_closed automation emails and pushes the result through the providers, once', async () => {
  const maya = as(MAYA);
  const leo = as(LEO_ID);
  const item = ok(await maya.from('trip_items').insert({ trip_id: LISBON, created_by: MAYA, title: 'Sintra day trip', day_number: 2 }).select().single());
  ok(await maya.from('votes').insert({ trip_id: LISBON, trip_item_id: item.id, user_id: MAYA, value: 1 }).select());
  ok(await leo.from('votes').insert({ trip_id: LISBON, trip_item_id: item.id, user_id: LEO_ID, value: 1 }).select());

  // Maya's devices and rules, as herself; nobody else registers a device for her or sees hers.
  ok(await maya.from('push_tokens').insert({ token: 'ExponentPushToken[maya-phone]' }).select());
  const forged = await leo.from('push_tokens').insert({ user_id: MAYA, token: 'ExponentPushToken[leo-phone]' }).select();
  assert.equal(forged.error?.code, '42501');
  assert.deepEqual(ok(await leo.from('push_tokens').select('token')), []);
  const [pushRule, emailRule] = ok(await maya.from('automation_rules').insert([
    { trip_id: LISBON, name: 'Vote result by email', trigger_type: 'vote_closed', trigger_config: { trip_item_id: item.id }, action: 'email', action_config: { subject: 'Sintra: the vote is in' } },
    { trip_id: LISBON, name: 'Vote result', trigger_type: 'vote_closed', trigger_config: { trip_item_id: item.id }, action: 'push', action_config: { title: 'Vote closed' } },
  ]).select('id').order('name'));

  // Only the owner or an editor closes a vote; a stranger does not even see the item.
  let r = await as(STRANGER).rpc('close_voting', { p_trip_item_id: item.id });
  assert.ok(r.error, 'a stranger cannot close the vote');
  const emailsBefore = fakes.to('/email/emails').length;
  const closed = ok(await leo.rpc('close_voting', { p_trip_item_id: item.id }));
  assert.equal(closed.up, 2);
  assert.equal(closed.down, 0);
  assert.ok(closed.voting_closed_at);
  // Closed: votes no longer change, and the close cannot be undone.
  r = await leo.from('votes').update({ value: -1 }).eq('trip_item_id', item.id).select();
  assert.ok(r.error || r.data.length === 0, 'a vote changed after closing');
  r = await maya.from('trip_items').update({ voting_closed_at: null }).eq('id', item.id).select();
  assert.equal(r.error?.code, '42501', 'reopening is refused');
  assert.deepEqual(b.sql(`select value from public.votes where trip_item_id = ${q(item.id)} order by value`), [['1'], ['1']]);

  // Each rule has one occurrence for the item; the dispatch cron job runs both.
  const jobs = () => b.sql(`select status from public.scheduled_jobs where rule_id in (${q(emailRule.id)}, ${q(pushRule.id)}) and payload->>'item_id' = ${q(item.id)}`);
  assert.equal(jobs().length, 2);
  await waitFor('both vote_closed jobs to run', () => jobs().every(([s]) => s === 'done'));
  assert.equal(scalar(`select private.evaluate_automation_rules()`), '0', 'no second occurrence');

  const emails = fakes.to('/email/emails').slice(emailsBefore);
  assert.equal(emails.length, 1);
  assert.deepEqual(emails[0].body.to, ['maya@trip-os.test']);
  assert.equal(emails[0].body.from, 'trip-os <hello@trip-os.test>');
  assert.equal(emails[0].body.subject, 'Sintra: the vote is in');
  assert.match(emails[0].body.text, /Voting closed on Sintra day trip .*2 for, 0 against/);
  const push = fakes.to('/push/push/send').at(-1).body;
  assert.equal(push.length, 1);
  assert.equal(push[0].to, 'ExponentPushToken[maya-phone]');
  assert.equal(push[0].title, 'Vote closed');
  assert.equal(push[0].data.item_id, item.id);
  // Maya reads her delivery log; Leo sees none of it.
  const logs = ok(await maya.from('delivery_logs').select('channel,status,detail').in('channel', ['email', 'push']).order('channel'));
  assert.deepEqual(logs.map((l) => [l.channel, l.status]), [['email', 'sent'], ['push', 'sent']]);
  assert.equal(logs[0].detail.to, 'maya@trip-os.test');
  assert.deepEqual(ok(await leo.from('delivery_logs').select('id').in('channel', ['email', 'push'])), []);

  // A deadline that passed closes the vote too: votes are refused and the evaluation finds it.
  const late = ok(await maya.from('trip_items').insert({ trip_id: LISBON, created_by: MAYA, title: 'Cascais beach', day_number: 3, voting_closes_at: new Date(Date.now() - 60000).toISOString() }).select().single());
  r = await leo.from('votes').insert({ trip_id: LISBON, trip_item_id: late.id, user_id: LEO_ID, value: 1 }).select();
  assert.equal(r.error?.code, '42501', 'a vote after the deadline');
  ok(await maya.from('automation_rules').insert({ trip_id: LISBON, name: 'Any vote', trigger_type: 'vote_closed', action: 'email', is_enabled: false }).select());

  // Preferences decide: with push turned off the rule is refused, nothing is sent.
  assert.deepEqual(ok(await maya.from('notification_preferences').update({ push_enabled: false }).eq('user_id', MAYA).select('push_enabled')), [{ push_enabled: false }]);
  assert.equal(scalar(`select push_enabled from public.notification_preferences where user_id = ${q(MAYA)}`), 'f');
  const pushes = fakes.to('/push/push/send').length;
  r = await call(maya, 'trigger-automation', { rule_id: pushRule.id });
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.equal(r.body.error, 'push_disabled');
  assert.equal(fakes.to('/push/push/send').length, pushes);
  ok(await maya.from('notification_preferences').update({ push_enabled: true }).eq('user_id', MAYA).select());
});

test('AI: a run the provider fails is recorded as failed and does not count against the plan', async () => {
  const flaky = as(FLAKY);
  const used = () => b.sql(`select ai_runs_used, tokens_used from public.usage_limits where user_id = ${q(FLAKY)} and now() between period_start and period_end`);
  for (let i = 0; i < 4; i++) {
    const r = await call(flaky, 'run-ai-agent', { agent: 'trip-planner', prompt: 'provider-down: plan a day' });
    assert.equal(r.status, 502, JSON.stringify(r.body));
    assert.equal(r.body.error, 'ai_provider_error');
    assert.match(r.body.message, /answered 500/);
  }
  // Four failed calls on a plan of three runs: every one recorded as failed, none counted.
  assert.deepEqual(b.sql(`select status, error like '%answered 500%' from public.ai_runs where user_id = ${q(FLAKY)}`),
    Array(4).fill(['failed', 't']));
  assert.deepEqual(used(), [['0', '0']]);
  assert.equal(ok(await flaky.rpc('remaining_ai_runs')), 3);
  assert.equal(Number(scalar(`select count(*) from public.token_usage where user_id = ${q(FLAKY)}`)), 0);
  // The provider answers again: the run counts.
  const r = await call(flaky, 'run-ai-agent', { agent: 'trip-planner', prompt: 'Plan a day' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.limits.ai_runs_remaining, 2);
  assert.deepEqual(used(), [['1', '200']]);
  // Users cannot give runs back themselves.
  const refund = await flaky.rpc('release_usage', { p_user_id: FLAKY, p_kind: 'ai_run' });
  assert.ok(refund.error, 'release_usage is the service role\'s');
  assert.deepEqual(used(), [['1', '200']]);
});

test('Stripe: an older customer.subscription.updated delivered after a newer one does not overwrite it', async () => {
  const now = Math.floor(Date.now() / 1000);
  const event = (id, userId, subId, created, price, status, cancelAtPeriodEnd) => JSON.stringify({
    id, object: 'event', type: 'customer.subscription.updated', created,
    data: { object: {
      id: subId, object: 'subscription', customer: `cus_${subId}`, status, cancel_at_period_end: cancelAtPeriodEnd, canceled_at: null,
      metadata: { user_id: userId },
      items: { object: 'list', data: [{ price: { id: price }, current_period_start: now - 86400, current_period_end: now + 29 * 86400 }] },
    } },
  });
  const deliver = async (raw) => {
    const res = await webhook('handle-stripe-webhook', raw, { 'stripe-signature': stripeSig(raw) });
    assert.equal(res.status, 200, await res.clone().text());
    return res.json();
  };
  const state = (userId) => b.sql(`select s.plan, s.status, s.cancel_at_period_end, extract(epoch from s.last_event_at)::bigint, u.ai_runs_limit
    from public.subscriptions s join public.usage_limits u on u.user_id = s.user_id and now() between u.period_start and u.period_end
    where s.user_id = ${q(userId)}`);

  // Newer first (upgraded to pro at now-10), then the older one (explorer at now-100) arrives late.
  const newerA = event('evt_order_a_new', SUBSCRIBER_A, 'sub_order_a', now - 10, 'price_pro_monthly', 'active', true);
  const olderA = event('evt_order_a_old', SUBSCRIBER_A, 'sub_order_a', now - 100, 'price_explorer_monthly', 'active', false);
  let answer = await deliver(newerA);
  assert.equal(answer.stale, undefined);
  answer = await deliver(olderA);
  assert.equal(answer.stale, true, 'the late older event is reported stale');
  assert.deepEqual(state(SUBSCRIBER_A), [['pro', 'active', 't', String(now - 10), '1000']]);
  // The stale event is recorded (and processed) once: delivered again it is a duplicate.
  assert.deepEqual(b.sql(`select processed_at is not null from public.billing_events where stripe_event_id = 'evt_order_a_old'`), [['t']]);
  assert.equal((await deliver(olderA)).duplicate, true);
  assert.deepEqual(state(SUBSCRIBER_A), [['pro', 'active', 't', String(now - 10), '1000']]);
  const subscriber = as(SUBSCRIBER_A);
  assert.deepEqual(ok(await subscriber.from('subscriptions').select('plan,cancel_at_period_end')), [{ plan: 'pro', cancel_at_period_end: true }]);

  // In order: the older, then the newer, which is applied.
  const olderB = event('evt_order_b_old', SUBSCRIBER_B, 'sub_order_b', now - 100, 'price_explorer_monthly', 'active', false);
  const newerB = event('evt_order_b_new', SUBSCRIBER_B, 'sub_order_b', now - 10, 'price_pro_monthly', 'past_due', false);
  assert.equal((await deliver(olderB)).stale, undefined);
  assert.deepEqual(state(SUBSCRIBER_B), [['explorer', 'active', 'f', String(now - 100), '100']]);
  assert.equal((await deliver(newerB)).stale, undefined);
  // past_due grants no paid plan: the free limits.
  assert.deepEqual(state(SUBSCRIBER_B), [['pro', 'past_due', 'f', String(now - 10), '3']]);
});

test('push: Expo receipts are fetched by cron; unregistered devices are removed, other errors recorded', async () => {
  const nora = as(NOTIFIED);
  const devices = ['ExponentPushToken[ok-phone]', 'ExponentPushToken[gone-phone]', 'ExponentPushToken[big-phone]', 'ExponentPushToken[later-phone]', 'stale-device-token'];
  ok(await nora.from('push_tokens').insert(devices.map((token) => ({ token }))).select());
  const rule = ok(await nora.from('automation_rules').insert({ name: 'Starts soon', trigger_type: 'item_starting_soon', action: 'push', action_config: { title: 'Soon' } }).select('id').single());

  const r = await call(nora, 'trigger-automation', { rule_id: rule.id });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.devices, 5);
  assert.equal(r.body.delivered, 4);
  const tokens = () => b.sql(`select token from public.push_tokens where user_id = ${q(NOTIFIED)} order by token`).map(([t]) => t);
  // The ticket already said the old device is not registered: removed at once.
  assert.deepEqual(tokens(), devices.slice(0, 4).sort());
  const tickets = async () => ok(await nora.from('push_tickets').select('token,status,error,token_removed').order('token'));
  const byToken = async () => Object.fromEntries((await tickets()).map((t) => [t.token, [t.status, t.error, t.token_removed]]));
  assert.deepEqual((await byToken())['stale-device-token'], ['error', 'DeviceNotRegistered', true]);
  assert.equal((await tickets()).filter((t) => t.status === 'pending').length, 4);

  // One receipt job, 15 minutes after the send, as Expo recommends.
  const [[job, delay]] = b.sql(`select id, round(extract(epoch from run_at - now()) / 60) from public.scheduled_jobs where user_id = ${q(NOTIFIED)} and job_type = 'push_receipts'`);
  assert.equal(delay, '15');
  const receiptCalls = fakes.to('/push/push/getReceipts').length;
  // Fifteen minutes pass: the dispatch cron job fetches the receipts.
  b.sql(`update public.scheduled_jobs set run_at = now() where id = ${q(job)}`);
  const jobState = () => b.sql(`select status, attempts, coalesce(last_error, '') from public.scheduled_jobs where id = ${q(job)}`)[0];
  await waitFor('the receipts to be checked', () => jobState()[1] === '1' && jobState()[0] === 'scheduled');
  const [asked] = fakes.to('/push/push/getReceipts').slice(receiptCalls);
  assert.equal(asked.body.ids.length, 4);
  assert.match(jobState()[2], /^receipts_pending: 1 of 4/);
  let seen = await byToken();
  assert.deepEqual(seen['ExponentPushToken[ok-phone]'], ['ok', null, false]);
  assert.deepEqual(seen['ExponentPushToken[gone-phone]'], ['error', 'DeviceNotRegistered', true]);
  assert.deepEqual(seen['ExponentPushToken[big-phone]'], ['error', 'MessageTooBig', false]);
  assert.deepEqual(seen['ExponentPushToken[later-phone]'], ['pending', null, false]);
  // DeviceNotRegistered removed the device; the other error is recorded and the device kept.
  assert.deepEqual(tokens(), ['ExponentPushToken[big-phone]', 'ExponentPushToken[later-phone]', 'ExponentPushToken[ok-phone]']);
  const undelivered = ok(await nora.from('delivery_logs').select('detail').eq('channel', 'push').eq('status', 'undelivered'));
  assert.deepEqual(undelivered.map((l) => l.detail.error).sort(), ['DeviceNotRegistered', 'MessageTooBig']);

  // The receipt that was not ready is asked for again (backoff), alone.
  fakes.control.receiptsReady = true;
  b.sql(`update public.scheduled_jobs set run_at = now() where id = ${q(job)}`);
  await waitFor('the last receipt', () => jobState()[0] === 'done');
  const again = fakes.to('/push/push/getReceipts').slice(receiptCalls + 1);
  assert.equal(again.length, 1);
  assert.equal(again[0].body.ids.length, 1);
  seen = await byToken();
  assert.deepEqual(seen['ExponentPushToken[later-phone]'], ['ok', null, false]);
  // Another user sees none of Nora's tickets.
  assert.deepEqual(ok(await as(STRANGER).from('push_tickets').select('id')), []);
});

test('email: a failed delivery is retried by cron with backoff, up to 5 attempts, each recorded', async () => {
  const flo = as(FLAKY);
  const rule = ok(await flo.from('automation_rules').insert({ name: 'Digest by email', trigger_type: 'item_starting_soon', action: 'email', action_config: { subject: 'Your digest' } }).select('id').single());
  const admin = b.admin();
  const jobState = (id) => b.sql(`select status, attempts, coalesce(last_error, ''), round(extract(epoch from run_at - updated_at)) from public.scheduled_jobs where id = ${q(id)}`)[0];
  const logs = (id) => b.sql(`select status from public.delivery_logs where job_id = ${q(id)} and channel = 'email' order by created_at`).map(([s]) => s);

  // The provider fails once: the job waits 60 s (30 s doubled per attempt), then succeeds.
  fakes.control.emailFailures = 1;
  const job = ok(await admin.from('scheduled_jobs').insert({ user_id: FLAKY, rule_id: rule.id, job_type: 'automation', payload: { occurrence: 'retry-1' }, run_at: new Date().toISOString() }).select('id').single()).id;
  await waitFor('the first attempt', () => jobState(job)[1] === '1' && jobState(job)[0] === 'scheduled');
  let [, , error, backoff] = jobState(job);
  assert.match(error, /^email_error: the email provider answered 500/);
  assert.equal(backoff, '60');
  assert.deepEqual(logs(job), ['failed']);
  b.sql(`update public.scheduled_jobs set run_at = now() where id = ${q(job)}`);
  await waitFor('the retry', () => jobState(job)[0] === 'done');
  assert.equal(jobState(job)[1], '2');
  assert.deepEqual(logs(job), ['failed', 'sent']);
  assert.deepEqual(ok(await flo.from('delivery_logs').select('status').eq('job_id', job).order('created_at')).map((l) => l.status), ['failed', 'sent']);

  // A provider that keeps failing: after four failed attempts, the fifth is the last, the job fails.
  fakes.control.emailFailures = 100;
  const doomed = ok(await admin.from('scheduled_jobs').insert({ user_id: FLAKY, rule_id: rule.id, job_type: 'automation', payload: { occurrence: 'retry-2' }, run_at: new Date().toISOString(), attempts: 4 }).select('id').single()).id;
  await waitFor('the last attempt', () => jobState(doomed)[0] === 'failed');
  assert.equal(jobState(doomed)[1], '5');
  assert.match(jobState(doomed)[2], /^email_error/);
  assert.deepEqual(logs(doomed), ['failed']);
  fakes.control.emailFailures = 0;
});
