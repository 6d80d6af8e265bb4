// examples/socialsync-ai (seed 004) through the real supabase-js against `basalt start`: sign-up
// creates the profile, AI settings and trial credits; every user-owned table refuses cross-user
// reads and writes; the backend's tables (AI decisions, comments, analytics, chunks, billing,
// LangGraph checkpoints) are written by the service role only; knowledge chunks are searched by
// vector similarity within the caller's own documents; credits move only through the credit
// functions; webhooks are processed once; storage buckets give the right access; the inbox sees
// new messages over realtime; the Stripe webhook function (signature, each event once) and the
// AI reply function (RAG: Gemini embedding, vector search as the user, OpenRouter completion,
// credits) against fake providers; `basalt db reset` re-creates the project.
//
// The example needs pgvector. Debian's Postgres has none; examples/socialsync-ai/README.md shows
// how to assemble a Postgres 16 with pgvector (scripts/install-pg16-vector.sh). This file runs
// when BASALT_PG_BIN, /opt/basalt-pg16-vector/bin or the default Postgres has pgvector, and is
// skipped with the reason printed otherwise.
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, repoRoot, basaltBin, freePort } from './lib/basalt.mjs';
import { startFakeApi, stripeSignature, postWebhook } from './lib/fake-api.mjs';
import { requirePgvector } from './lib/pgvector.mjs';

const projectDir = join(repoRoot, 'examples/socialsync-ai');
const skip = requirePgvector('socialsync-ai');

const PASSWORD = 'correct horse battery staple';
const run = Date.now();
const SOFIA = '5f1a0000-0000-4000-8000-000000000001';

describe('socialsync-ai', { skip }, () => {
  let b;
  let ana; // owner of most test data
  let ben; // the other user
  const ids = {}; // rows created by the tests
  let providers; // fake Gemini and OpenRouter APIs
  const WHSEC = 'whsec_socialsync_e2e';

  const clientOptions = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } };
  const anon = () => createClient(b.url, b.anonKey, clientOptions);
  const admin = () => createClient(b.url, b.serviceKey, clientOptions);
  function userClient(token) {
    const c = createClient(b.url, b.anonKey, { ...clientOptions, accessToken: async () => token });
    c.realtime.setAuth(token);
    return c;
  }
  async function signUp(email, fullName) {
    const r = await anon().auth.signUp({ email, password: PASSWORD, options: { data: { full_name: fullName } } });
    assert.equal(r.error, null, `sign-up ${email}: ${JSON.stringify(r.error)}`);
    assert.ok(r.data.session, 'autoconfirm gives a session');
    return { id: r.data.user.id, email, db: userClient(r.data.session.access_token) };
  }
  const ok = (r, what = '') => {
    assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`);
    return r.data;
  };
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
  const scalar = (sql) => b.sql(sql)[0]?.[0];
  /** Refused: a privilege/RLS error (42501), or no row touched for RLS-filtered updates/deletes. */
  function assertRefused(r, what) {
    if (r.error) assert.equal(r.error.code, '42501', `${what}: ${JSON.stringify(r.error)}`);
    else assert.deepEqual(r.data, [], `${what}: rows were affected: ${JSON.stringify(r.data)}`);
  }
  function assertDenied(r, what) {
    assert.ok(r.error, `${what}: was accepted: ${JSON.stringify(r.data)}`);
    assert.equal(r.error.code, '42501', `${what}: ${JSON.stringify(r.error)}`);
  }
  /** A 768-dimension embedding literal: weights on the given axes, zero elsewhere. */
  function embedding(axes) {
    const v = new Array(768).fill(0);
    for (const [i, w] of Object.entries(axes)) v[Number(i)] = w;
    return `[${v.join(',')}]`;
  }

  before(async () => {
    providers = await startFakeApi(fakeProviders);
    b = await startBasalt({
      projectDir,
      functions: { '.env': `STRIPE_WEBHOOK_SECRET=${WHSEC}\nGEMINI_API_KEY=gem-key\nOPENROUTER_API_KEY=or-key\nGEMINI_API_URL=${providers.url}\nOPENROUTER_API_URL=${providers.url}\n` },
    });
    ana = await signUp(`ana-${run}@socialsync.test`, 'Ana Costa');
    ben = await signUp(`ben-${run}@socialsync.test`, 'Ben Ortiz');
  });
  after(async () => { await b?.stop(); await providers?.close(); });

  test('sign-up creates the profile, AI settings, studio settings and the trial credits', async () => {
    assert.deepEqual(ok(await ana.db.from('users').select('id, email, full_name, is_active').single()),
      { id: ana.id, email: ana.email, full_name: 'Ana Costa', is_active: true });
    const settings = ok(await ana.db.from('ai_settings').select('user_id, ai_model, tone, ai_control_enabled').single());
    assert.deepEqual(settings, { user_id: ana.id, ai_model: 'anthropic/claude-3.5-haiku', tone: 'friendly', ai_control_enabled: true });
    assert.equal(ok(await ana.db.from('ai_studio_settings').select('default_model').single()).default_model, 'openai/gpt-4o');
    assert.equal(ok(await ana.db.from('user_credits').select('credits_balance').single()).credits_balance, 50);
    assert.deepEqual(ok(await ana.db.from('credit_transactions').select('transaction_type, credits_amount, credits_balance_after')),
      [{ transaction_type: 'trial_grant', credits_amount: 50, credits_balance_after: 50 }]);
    assert.equal(ok(await ana.db.from('users').select('id')).length, 1, 'ana sees only herself');
  });

  test('setup: each user connects accounts and creates content; the workers add what they produce', async () => {
    for (const u of [ana, ben]) {
      const tag = u === ana ? 'ana' : 'ben';
      const acct = ok(await u.db.from('social_accounts').insert({ user_id: u.id, platform: 'instagram', account_id: `ig_${tag}_${run}`, username: `${tag}.studio` }).select('id').single(), `${tag} connects`);
      const conv = ok(await u.db.from('conversations').insert({ social_account_id: acct.id, customer_identifier: `cust_${tag}_${run}`, customer_name: 'Customer' }).select('id').single(), `${tag} conversation`);
      const post = ok(await u.db.from('scheduled_posts').insert({ user_id: u.id, channel_id: acct.id, platform: 'instagram', content_json: { text: `${tag} post`, media: [] }, publish_at: new Date(Date.now() + 3600e3).toISOString() }).select('id').single(), `${tag} schedules`);
      const mpost = ok(await u.db.from('monitored_posts').insert({ user_id: u.id, social_account_id: acct.id, platform_post_id: `media_${tag}_${run}`, platform: 'instagram', posted_at: new Date().toISOString(), monitoring_enabled: true }).select('id').single(), `${tag} monitors`);
      const rule = ok(await u.db.from('monitoring_rules').insert({ user_id: u.id, social_account_id: acct.id, auto_monitor_count: 3 }).select('id').single(), `${tag} rule`);
      const doc = ok(await u.db.from('knowledge_documents').insert({ user_id: u.id, title: `${tag} handbook` }).select('id').single(), `${tag} document`);
      const faq = ok(await u.db.from('faq_qa').insert({ user_id: u.id, questions: ['opening hours?'], answer: '9 to 5' }).select('id').single(), `${tag} faq`);
      const thread = `studio-${tag}-${run}`;
      ok(await u.db.from('ai_studio_conversation_metadata').insert({ thread_id: thread, user_id: u.id, title: 'Captions', model: 'openai/gpt-4o' }), `${tag} studio thread`);
      ids[tag] = { acct: acct.id, conv: conv.id, post: post.id, mpost: mpost.id, rule: rule.id, doc: doc.id, faq: faq.id, thread };
    }
    // What the webhook, AI, polling and analytics workers write (service role).
    const svc = admin();
    for (const tag of ['ana', 'ben']) {
      const u = tag === 'ana' ? ana : ben;
      const x = ids[tag];
      x.msg = ok(await svc.from('conversation_messages').insert({ conversation_id: x.conv, external_message_id: `m_${tag}_${run}`, direction: 'inbound', content: 'Hello!', sender_id: 'cust' }).select('id').single(), 'message').id;
      x.decision = ok(await svc.from('ai_decisions').insert({ user_id: u.id, message_id: x.msg, decision: 'escalate', confidence: 0.9, reason: 'refund' }).select('id').single(), 'decision').id;
      x.escalation = ok(await svc.from('support_escalations').insert({ user_id: u.id, conversation_id: x.conv, message: 'refund please', confidence: 0.9, reason: 'human_requested' }).select('id').single(), 'escalation').id;
      x.run = ok(await svc.from('post_runs').insert({ scheduled_post_id: x.post, status: 'failed', error: 'token expired' }).select('id').single(), 'run').id;
      x.comment = ok(await svc.from('comments').insert({ monitored_post_id: x.mpost, platform_comment_id: `c_${tag}_${run}`, text: 'Nice!', triage: 'respond', ai_decision_id: x.decision }).select('id').single(), 'comment').id;
      x.analytics = ok(await svc.from('analytics').insert({ content_id: x.post, platform: 'instagram', likes: 10, impressions: 100 }).select('id').single(), 'analytics').id;
      x.history = ok(await svc.from('analytics_history').insert({ user_id: u.id, content_id: x.post, platform: 'instagram', likes: 10 }).select('id').single(), 'history').id;
      x.topic = ok(await svc.from('topic_analysis').insert({ user_id: u.id, topic_id: 0, topic_label: 'Pricing', date_range_start: new Date(Date.now() - 7 * 86400e3).toISOString(), date_range_end: new Date().toISOString() }).select('id').single(), 'topic').id;
      x.model = ok(await svc.from('bertopic_models').insert({ user_id: u.id, model_version: '20251030_120000', storage_path: `${u.id}/20251030_120000.pkl`, date_range_start: new Date(Date.now() - 7 * 86400e3).toISOString(), date_range_end: new Date().toISOString() }).select('id').single(), 'model').id;
      x.subscription = `sub_${tag}_${run}`;
      ok(await svc.from('subscriptions').insert({ id: x.subscription, user_id: u.id, price_id: 'price_starter_monthly', status: 'trialing' }), 'subscription');
      ok(await svc.from('customers').insert({ id: u.id, stripe_customer_id: `cus_${tag}_${run}` }), 'customer');
      ok(await svc.from('checkpoints').insert({ thread_id: x.thread, checkpoint_id: `cp_${tag}_1`, checkpoint: { v: 1, channel_values: { messages: ['hi'] } } }), 'checkpoint');
      ok(await svc.from('checkpoint_writes').insert({ thread_id: x.thread, checkpoint_id: `cp_${tag}_1`, task_id: 't1', idx: 0, channel: 'messages', blob: '\\x6869' }), 'checkpoint write');
      ok(await svc.from('checkpoint_blobs').insert({ thread_id: x.thread, channel: 'messages', version: '1', type: 'msgpack', blob: '\\x6869' }), 'checkpoint blob');
    }
  });

  /**
   * A table the user manages: the owner reads and updates the row; the other user neither sees,
   * changes nor deletes it, nor inserts a row in the owner's name.
   */
  const ownerTables = [
    { table: 'users', key: 'id', id: () => ana.id, patch: { full_name: 'Ana C.' }, forged: null },
    { table: 'ai_settings', key: 'user_id', id: () => ana.id, patch: { tone: 'formal' }, forged: () => ({ user_id: ana.id }) },
    { table: 'social_accounts', key: 'id', id: () => ids.ana.acct, patch: { display_name: 'Ana Studio' }, forged: () => ({ user_id: ana.id, platform: 'whatsapp', account_id: `wa_forged_${run}` }) },
    { table: 'conversations', key: 'id', id: () => ids.ana.conv, patch: { status: 'closed', ai_mode: 'OFF' }, forged: () => ({ social_account_id: ids.ana.acct, customer_identifier: `forged_${run}` }) },
    { table: 'scheduled_posts', key: 'id', id: () => ids.ana.post, patch: { rrule: 'FREQ=WEEKLY' }, forged: () => ({ user_id: ana.id, channel_id: ids.ana.acct, platform: 'instagram', content_json: { text: 'x' }, publish_at: new Date().toISOString() }) },
    { table: 'monitored_posts', key: 'id', id: () => ids.ana.mpost, patch: { monitoring_enabled: false }, forged: () => ({ user_id: ana.id, social_account_id: ids.ana.acct, platform_post_id: `forged_${run}`, platform: 'instagram', posted_at: new Date().toISOString() }) },
    { table: 'monitoring_rules', key: 'id', id: () => ids.ana.rule, patch: { auto_monitor_count: 10 }, forged: () => ({ user_id: ana.id }) },
    { table: 'knowledge_documents', key: 'id', id: () => ids.ana.doc, patch: { title: 'Ana handbook v2' }, forged: () => ({ user_id: ana.id, title: 'planted' }) },
    { table: 'faq_qa', key: 'id', id: () => ids.ana.faq, patch: { answer: '9 to 6' }, forged: () => ({ user_id: ana.id, answer: 'planted' }) },
    { table: 'ai_studio_settings', key: 'user_id', id: () => ana.id, patch: { temperature: 1.1 }, forged: () => ({ user_id: ana.id }) },
    { table: 'ai_studio_conversation_metadata', key: 'thread_id', id: () => ids.ana.thread, patch: { title: 'Renamed' }, forged: () => ({ thread_id: `forged-${run}`, user_id: ana.id }) },
  ];
  for (const t of ownerTables) {
    test(`${t.table}: the owner reads and changes it; the other user is refused every read and write`, async () => {
      const id = t.id();
      assert.equal(ok(await ana.db.from(t.table).select(t.key).eq(t.key, id), 'owner reads').length, 1);
      assert.deepEqual(ok(await ben.db.from(t.table).select(t.key).eq(t.key, id), 'other reads'), [], `${t.table}: ben sees ana's row`);
      assert.deepEqual(ok(await anon().from(t.table).select(t.key).eq(t.key, id), 'anon reads'), [], `${t.table}: anon sees ana's row`);
      const before = scalar(`select to_jsonb(x)::text from public.${t.table} x where ${t.key} = ${q(id)}`);
      assertRefused(await ben.db.from(t.table).update(t.patch).eq(t.key, id).select(), `${t.table}: ben updates`);
      assertRefused(await ben.db.from(t.table).delete().eq(t.key, id).select(), `${t.table}: ben deletes`);
      assert.equal(scalar(`select to_jsonb(x)::text from public.${t.table} x where ${t.key} = ${q(id)}`), before, `${t.table}: row changed by ben`);
      if (t.forged) assertDenied(await ben.db.from(t.table).insert(t.forged()), `${t.table}: ben inserts in ana's name`);
      const mine = ok(await ana.db.from(t.table).update(t.patch).eq(t.key, id).select(t.key), `${t.table}: owner updates`);
      assert.equal(mine.length, 1);
    });
  }

  /** Tables the backend writes: the owner reads the row, the other user does not; users write nothing. */
  const workerTables = [
    { table: 'conversation_messages', id: () => ids.ana.msg, patch: { content: 'edited' } },
    { table: 'ai_decisions', id: () => ids.ana.decision, patch: { decision: 'ignore' }, forged: () => ({ user_id: ana.id, decision: 'respond' }) },
    { table: 'support_escalations', id: () => ids.ana.escalation, patch: { notified: true }, forged: () => ({ user_id: ana.id, conversation_id: ids.ana.conv, message: 'x', reason: 'legal_matter' }) },
    { table: 'post_runs', id: () => ids.ana.run, patch: { status: 'success' }, forged: () => ({ scheduled_post_id: ids.ana.post, status: 'success' }) },
    { table: 'comments', id: () => ids.ana.comment, patch: { text: 'edited' }, forged: () => ({ monitored_post_id: ids.ana.mpost, platform_comment_id: `forged_${run}`, text: 'x' }) },
    { table: 'analytics', id: () => ids.ana.analytics, patch: { likes: 9999 }, forged: () => ({ content_id: ids.ana.post, platform: 'whatsapp' }) },
    { table: 'analytics_history', id: () => ids.ana.history, patch: { likes: 9999 }, forged: () => ({ user_id: ana.id, content_id: ids.ana.post, platform: 'instagram' }) },
    { table: 'topic_analysis', id: () => ids.ana.topic, patch: { topic_label: 'x' }, forged: () => ({ user_id: ana.id, topic_id: 9, topic_label: 'x', date_range_start: new Date().toISOString(), date_range_end: new Date().toISOString() }) },
    { table: 'bertopic_models', id: () => ids.ana.model, patch: { is_active: false }, forged: () => ({ user_id: ana.id, model_version: '20250101_000000', storage_path: 'x', date_range_start: new Date().toISOString(), date_range_end: new Date().toISOString() }) },
    { table: 'subscriptions', id: () => ids.ana.subscription, patch: { status: 'active' }, forged: () => ({ id: `sub_forged_${run}`, user_id: ana.id, status: 'active' }) },
    { table: 'user_credits', key: 'user_id', id: () => ana.id, patch: { credits_balance: 100000 }, forged: null },
    { table: 'credit_transactions', key: 'user_id', id: () => ana.id, patch: { credits_amount: 100000 }, forged: () => ({ user_id: ana.id, transaction_type: 'bonus', credits_amount: 1000, credits_balance_after: 1050 }) },
    { table: 'checkpoints', key: 'thread_id', id: () => ids.ana.thread, patch: { checkpoint: { hacked: true } }, forged: () => ({ thread_id: ids.ana.thread, checkpoint_id: 'forged', checkpoint: {} }) },
  ];
  for (const t of workerTables) {
    test(`${t.table}: written by the backend; the owner only reads it, the other user not even that`, async () => {
      const key = t.key ?? 'id';
      const id = t.id();
      assert.ok(ok(await ana.db.from(t.table).select(key).eq(key, id), 'owner reads').length >= 1, `${t.table}: ana cannot read her row`);
      assert.deepEqual(ok(await ben.db.from(t.table).select(key).eq(key, id), 'other reads'), [], `${t.table}: ben sees ana's row`);
      const before = scalar(`select string_agg(to_jsonb(x)::text, ',') from public.${t.table} x where ${key} = ${q(id)}`);
      assertRefused(await ana.db.from(t.table).update(t.patch).eq(key, id).select(), `${t.table}: owner updates`);
      assertRefused(await ben.db.from(t.table).update(t.patch).eq(key, id).select(), `${t.table}: ben updates`);
      assertRefused(await ana.db.from(t.table).delete().eq(key, id).select(), `${t.table}: owner deletes`);
      assertRefused(await ben.db.from(t.table).delete().eq(key, id).select(), `${t.table}: ben deletes`);
      assert.equal(scalar(`select string_agg(to_jsonb(x)::text, ',') from public.${t.table} x where ${key} = ${q(id)}`), before, `${t.table}: row changed`);
      if (t.forged) assertDenied(await ana.db.from(t.table).insert(t.forged()), `${t.table}: user inserts`);
    });
  }

  test('service-only tables (customers, webhook_events, checkpoint writes/blobs/migrations) are closed to users', async () => {
    for (const table of ['customers', 'webhook_events', 'checkpoint_writes', 'checkpoint_blobs', 'checkpoint_migrations']) {
      assert.deepEqual(ok(await ana.db.from(table).select('*'), `${table} read`), [], `${table}: ana reads rows`);
      assert.deepEqual(ok(await anon().from(table).select('*'), `${table} anon read`), [], `${table}: anon reads rows`);
    }
    assertDenied(await ana.db.from('customers').insert({ id: ana.id, stripe_customer_id: 'cus_self' }), 'ana maps herself to a customer');
    assertDenied(await ana.db.from('checkpoint_writes').insert({ thread_id: ids.ana.thread, checkpoint_id: 'x', task_id: 't', idx: 1, channel: 'c', blob: '\\x00' }), 'ana writes a checkpoint');
    assert.ok(ok(await admin().from('checkpoint_writes').select('thread_id').eq('thread_id', ids.ana.thread)).length === 1);
    const dup = await admin().from('checkpoints').insert({ thread_id: ids.ana.thread, checkpoint_id: 'cp_ana_1', checkpoint: {} });
    assert.equal(dup.error?.code, '23505', 'checkpoint primary key (thread_id, checkpoint_ns, checkpoint_id)');
  });

  test('conversations: replies only into one\'s own threads, only outbound; comments: only hide/triage', async () => {
    ok(await ana.db.from('conversation_messages').insert({ conversation_id: ids.ana.conv, direction: 'outbound', content: 'Hi! How can I help?', is_from_agent: true, agent_id: ana.id }), 'ana replies');
    assertDenied(await ana.db.from('conversation_messages').insert({ conversation_id: ids.ana.conv, direction: 'inbound', content: 'fake customer message' }), 'ana fakes an inbound message');
    assertDenied(await ben.db.from('conversation_messages').insert({ conversation_id: ids.ana.conv, direction: 'outbound', content: 'hijack' }), 'ben replies in ana\'s thread');
    assertDenied(await ben.db.from('scheduled_posts').insert({ user_id: ben.id, channel_id: ids.ana.acct, platform: 'instagram', content_json: { text: 'x' }, publish_at: new Date().toISOString() }), 'ben schedules on ana\'s channel');
    assertDenied(await ana.db.from('scheduled_posts').insert({ user_id: ana.id, channel_id: ids.ana.acct, platform: 'instagram', content_json: { text: 'x' }, publish_at: new Date().toISOString(), status: 'published' }), 'ana inserts a published post');
    const hidden = ok(await ana.db.from('comments').update({ hidden: true, triage: 'ignore' }).eq('id', ids.ana.comment).select('hidden, triage'), 'ana hides a comment');
    assert.deepEqual(hidden, [{ hidden: true, triage: 'ignore' }]);
    assertRefused(await ben.db.from('comments').update({ hidden: true }).eq('id', ids.ana.comment).select(), 'ben hides ana\'s comment');
    const thread = ok(await ana.db.from('conversation_messages').select('direction').eq('conversation_id', ids.ana.conv).order('created_at'));
    assert.deepEqual(thread.map((m) => m.direction), ['inbound', 'outbound']);
  });

  test('knowledge base: upload to one\'s folder, chunks embedded by the worker, vector search sees only one\'s own', async () => {
    const path = `${ana.id}/handbook-${run}.md`;
    const up = ok(await ana.db.storage.from('knowledge-base').upload(path, new Blob(['# Handbook\nWe ship in the EU.'], { type: 'text/markdown' }), { contentType: 'text/markdown' }), 'ana uploads');
    assert.ok((await ben.db.storage.from('knowledge-base').download(path)).error, 'ben downloads ana\'s document');
    assert.ok((await ben.db.storage.from('knowledge-base').upload(`${ana.id}/planted.md`, new Blob(['x'], { type: 'text/markdown' }), { contentType: 'text/markdown' })).error, 'ben uploads into ana\'s folder');
    assert.ok((await ana.db.storage.from('knowledge-base').upload(`${ana.id}/malware.exe`, new Blob(['MZ'], { type: 'application/x-msdownload' }), { contentType: 'application/x-msdownload' })).error, 'executables are not allowed');
    ok(await ana.db.from('knowledge_documents').update({ bucket_id: 'knowledge-base', object_name: path, storage_object_id: up.id, file_size_bytes: 30 }).eq('id', ids.ana.doc), 'ana links the file');
    const wrongFolder = await ana.db.from('knowledge_documents').insert({ user_id: ana.id, bucket_id: 'knowledge-base', object_name: `${ben.id}/x.md` });
    assert.equal(wrongFolder.error?.code, '23514', 'a document must live in its owner\'s folder');

    // The ingestion worker (service role) chunks and embeds both users' documents.
    const svc = admin();
    const texts = ['Workshops run every Saturday morning.', 'We ship everywhere in the European Union.', 'Damaged items are refunded within 48 hours.'];
    ok(await svc.from('knowledge_chunks').insert(texts.map((content, k) => ({ document_id: ids.ana.doc, chunk_index: k, content, embedding: embedding({ [k]: 1 }), token_count: 8 }))), 'chunks for ana');
    ok(await svc.from('knowledge_chunks').insert({ document_id: ids.ben.doc, chunk_index: 0, content: 'Ben ships bikes across the EU.', embedding: embedding({ 1: 1 }) }), 'chunk for ben');
    for (const tag of ['ana', 'ben']) ok(await svc.from('knowledge_documents').update({ status: 'indexed', last_embedded_at: new Date().toISOString() }).eq('id', ids[tag].doc));
    assertDenied(await ana.db.from('knowledge_chunks').insert({ document_id: ids.ana.doc, chunk_index: 9, content: 'x' }), 'ana writes a chunk');

    const query = embedding({ 1: 1, 0: 0.2 });
    const hits = ok(await ana.db.rpc('match_knowledge_chunks', { query_embedding: query, match_count: 5 }), 'ana searches');
    assert.equal(hits.length, 3, JSON.stringify(hits));
    assert.equal(hits[0].content, 'We ship everywhere in the European Union.');
    assert.ok(hits[0].similarity > 0.95 && hits[0].similarity >= hits[1].similarity, JSON.stringify(hits.map((h) => h.similarity)));
    assert.ok(hits.every((h) => h.document_id === ids.ana.doc), 'ana finds only her own chunks');
    const benHits = ok(await ben.db.rpc('match_knowledge_chunks', { query_embedding: query, match_count: 5 }), 'ben searches');
    assert.deepEqual(benHits.map((h) => h.content), ['Ben ships bikes across the EU.']);
    const filtered = ok(await ana.db.rpc('match_knowledge_chunks', { query_embedding: query, query_text: 'refund', min_similarity: 0.5 }));
    assert.deepEqual(filtered.map((h) => h.content), ['We ship everywhere in the European Union.'], 'min_similarity cuts the far chunks');
    assertDenied(await anon().rpc('match_knowledge_chunks', { query_embedding: query }), 'anon searches');
    // Full-text vectors are maintained by trigger.
    assert.equal(scalar(`select tsv @@ plainto_tsquery('simple', 'refunded') from public.knowledge_chunks where document_id = ${q(ids.ana.doc)} and chunk_index = 2`), 't');
    // The design's query, as the user: distance to the query vector over their own chunks.
    assert.equal(ok(await ana.db.from('knowledge_chunks').select('id')).length, 3);
    const dim = await svc.from('knowledge_chunks').insert({ document_id: ids.ana.doc, chunk_index: 7, content: 'x', embedding: '[1,2,3]' });
    assert.ok(dim.error, 'embeddings have 768 dimensions');
  });

  test('credits: deducted and granted only through the credit functions, history kept in step', async () => {
    const svc = admin();
    assert.equal(ok(await svc.rpc('deduct_credits', { p_user_id: ana.id, p_amount: 10, p_reason: 'AI reply', p_metadata: { model: 'openai/gpt-4o', calls_count: 2 } })), 40);
    const short = await svc.rpc('deduct_credits', { p_user_id: ana.id, p_amount: 1000, p_reason: 'AI reply' });
    assert.ok(short.error, 'a deduction beyond the balance is refused');
    assert.equal(short.status, 402, JSON.stringify(short));
    assert.equal(ok(await svc.rpc('add_credits', { p_user_id: ana.id, p_amount: 5, p_type: 'refund', p_reason: 'failed call' })), 45);
    assertDenied(await ana.db.rpc('deduct_credits', { p_user_id: ben.id, p_amount: 1, p_reason: 'x' }), 'ana drains ben\'s credits');
    assertDenied(await ana.db.rpc('add_credits', { p_user_id: ana.id, p_amount: 1000, p_type: 'bonus', p_reason: 'x' }), 'ana grants herself credits');
    assert.equal(ok(await ana.db.from('user_credits').select('credits_balance').single()).credits_balance, 45);
    const history = ok(await ana.db.from('credit_transactions').select('transaction_type, credits_amount, credits_balance_after').order('created_at'));
    assert.deepEqual(history.map((h) => [h.transaction_type, h.credits_amount, h.credits_balance_after]),
      [['trial_grant', 50, 50], ['deduction', -10, 40], ['refund', 5, 45]]);
    assert.equal(ok(await ben.db.from('credit_transactions').select('id').eq('user_id', ana.id)).length, 0);
    assert.equal(ok(await ben.db.from('user_credits').select('credits_balance').single()).credits_balance, 50);
  });

  test('webhooks are processed once: a replayed event grants nothing', async () => {
    const svc = admin();
    const evt = `evt_${run}`;
    const payload = { id: evt, type: 'checkout.session.completed', metadata: { user_id: ben.id, credits: 500 } };
    assert.equal(ok(await svc.rpc('handle_credit_purchase_webhook', { p_source: 'stripe', p_event_id: evt, p_event_type: payload.type, p_payload: payload })), true);
    assert.equal(ok(await svc.rpc('handle_credit_purchase_webhook', { p_source: 'stripe', p_event_id: evt, p_event_type: payload.type, p_payload: payload })), false, 'replay');
    assert.equal(ok(await ben.db.from('user_credits').select('credits_balance').single()).credits_balance, 550);
    assert.equal(scalar(`select count(*) from public.webhook_events where stripe_event_id = ${q(evt)}`), '1');
    const dup = await svc.from('webhook_events').insert({ stripe_event_id: evt, event_type: payload.type, source: 'stripe', payload });
    assert.equal(dup.error?.code, '23505', 'stripe_event_id is unique');
    ok(await svc.from('webhook_events').upsert({ whop_event_id: `whop_${run}`, event_type: 'payment.succeeded', source: 'whop', payload: {} }, { onConflict: 'whop_event_id', ignoreDuplicates: true }));
    ok(await svc.from('webhook_events').upsert({ whop_event_id: `whop_${run}`, event_type: 'payment.succeeded', source: 'whop', payload: {} }, { onConflict: 'whop_event_id', ignoreDuplicates: true }));
    assert.equal(scalar(`select count(*) from public.webhook_events where whop_event_id = ${q(`whop_${run}`)}`), '1');
    assertDenied(await ben.db.rpc('handle_credit_purchase_webhook', { p_source: 'stripe', p_event_id: `evt_self_${run}`, p_event_type: 'x', p_payload: payload }), 'ben grants himself credits');
  });

  test('the catalogue (models, products, prices) is public to read and closed to write', async () => {
    const models = ok(await anon().from('ai_models').select('openrouter_id, credit_cost').order('credit_cost'), 'anon reads models');
    assert.equal(models.length, 5, 'the inactive model is hidden');
    assert.ok(!models.some((m) => m.openrouter_id === 'openai/gpt-3.5-turbo'));
    const prices = ok(await anon().from('prices').select('id, unit_amount, products(name)').eq('type', 'recurring').order('unit_amount'), 'anon reads prices with products');
    assert.deepEqual(prices.map((p) => [p.id, p.products.name]), [['price_starter_monthly', 'Starter'], ['price_pro_monthly', 'Pro'], ['price_pro_yearly', 'Pro']]);
    assertDenied(await anon().from('ai_models').insert({ name: 'x', provider: 'openai', openrouter_id: 'x/y', credit_cost: 1, model_type: 'fast' }), 'anon adds a model');
    assertRefused(await ana.db.from('ai_models').update({ credit_cost: 0.01 }).eq('openrouter_id', 'openai/gpt-4o').select(), 'ana reprices a model');
    assertRefused(await ana.db.from('prices').delete().eq('id', 'price_pro_monthly').select(), 'ana deletes a price');
  });

  test('LangGraph: checkpoints of one\'s own AI Studio threads are readable, others\' are not', async () => {
    const mine = ok(await ana.db.from('checkpoints').select('thread_id, checkpoint').eq('thread_id', ids.ana.thread), 'ana reads her checkpoint');
    assert.deepEqual(mine, [{ thread_id: ids.ana.thread, checkpoint: { v: 1, channel_values: { messages: ['hi'] } } }]);
    assert.deepEqual(ok(await ben.db.from('checkpoints').select('thread_id').eq('thread_id', ids.ana.thread)), []);
    const blob = ok(await admin().from('checkpoint_blobs').select('blob').eq('thread_id', ids.ana.thread).single());
    assert.equal(blob.blob, '\\x6869');
  });

  test('storage: conversation media per user, topic models backend-only, model logos public', async () => {
    const svc = admin();
    const media = `${ana.id}/${ids.ana.conv}/${randomUUID()}.png`;
    const png = new Blob([new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10])], { type: 'image/png' });
    ok(await svc.storage.from('conversation-media').upload(media, png, { contentType: 'image/png' }), 'webhook worker stores media');
    ok(await ana.db.storage.from('conversation-media').download(media), 'ana views her media');
    assert.ok((await ben.db.storage.from('conversation-media').download(media)).error, 'ben views ana\'s media');
    assert.ok((await ana.db.storage.from('conversation-media').upload(`${ana.id}/x.png`, png, { contentType: 'image/png' })).error, 'users do not write conversation media');

    const model = `${ana.id}/20251030_120000.pkl`;
    ok(await svc.storage.from('bertopic-models').upload(model, new Blob(['pickle'], { type: 'application/octet-stream' }), { contentType: 'application/octet-stream' }), 'backend stores the model');
    assert.ok((await ana.db.storage.from('bertopic-models').download(model)).error, 'topic models are backend-only');

    ok(await svc.storage.from('ai-model-logos').upload(`openai-${run}.png`, png, { contentType: 'image/png' }), 'logo upload');
    const { data: { publicUrl } } = anon().storage.from('ai-model-logos').getPublicUrl(`openai-${run}.png`);
    const res = await fetch(publicUrl);
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, 8);
    assert.ok((await ana.db.storage.from('ai-model-logos').upload(`mine-${run}.png`, png, { contentType: 'image/png' })).error, 'users do not upload logos');
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

  test('realtime: the inbox receives new DMs of one\'s own conversations only', async () => {
    const seenByAna = [];
    const seenByBen = [];
    const chA = ana.db.channel('ana-inbox')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'conversation_messages' }, (p) => seenByAna.push(p));
    const chB = ben.db.channel('ben-inbox')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'conversation_messages' }, (p) => seenByBen.push(p));
    const readyA = cdcReady(chA);
    const readyB = cdcReady(chB);
    await subscribed(chA);
    await subscribed(chB);
    await readyA; await readyB;
    try {
      // The Instagram webhook worker stores an inbound DM for ana, then one for ben.
      const svc = admin();
      ok(await svc.from('conversation_messages').insert({ conversation_id: ids.ana.conv, external_message_id: `live_ana_${run}`, direction: 'inbound', content: 'Is the workshop still on?', sender_id: 'cust' }));
      ok(await svc.from('conversation_messages').insert({ conversation_id: ids.ben.conv, external_message_id: `live_ben_${run}`, direction: 'inbound', content: 'Do you fix brakes?', sender_id: 'cust' }));
      assert.ok(await until(() => seenByAna.length >= 1 && seenByBen.length >= 1), `ana ${seenByAna.length}, ben ${seenByBen.length}`);
      await sleep(500);
      assert.deepEqual(seenByAna.map((p) => p.new.content), ['Is the workshop still on?']);
      assert.deepEqual(seenByBen.map((p) => p.new.content), ['Do you fix brakes?']);
    } finally {
      await ana.db.removeAllChannels();
      await ben.db.removeAllChannels();
    }
  });

  // ---- edge functions: the Stripe webhook and the AI reply (RAG) ----

  /** Gemini's embedContent and OpenRouter's chat completions, as documented, recording each call. */
  function fakeProviders(call) {
    if (call.path === '/v1beta/models/gemini-embedding-001:embedContent') {
      if (call.headers['x-goog-api-key'] !== 'gem-key') return { status: 403, body: { error: { code: 403, message: 'API key not valid', status: 'PERMISSION_DENIED' } } };
      const text = call.body.content.parts[0].text.toLowerCase();
      const v = new Array(768).fill(0);
      v[text.includes('ship') ? 1 : text.includes('refund') ? 2 : 300] = 1;
      return { body: { embedding: { values: v } } };
    }
    if (call.path === '/api/v1/chat/completions') {
      if (call.headers.authorization !== 'Bearer or-key') return { status: 401, body: { error: { code: 401, message: 'No auth credentials found' } } };
      const user = call.body.messages.at(-1).content;
      if (user.includes('overload')) return { status: 429, body: { error: { code: 429, message: 'Rate limit exceeded: free-models-per-min' } } };
      return { body: { id: `gen-${run}`, model: call.body.model, object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Yes! We ship everywhere in the European Union, Spain included.' } }], usage: { prompt_tokens: 120, completion_tokens: 14, total_tokens: 134 } } };
    }
    return undefined;
  }

  let evtSeq = 0;
  const stripeEvent = (type, object) => ({ id: `evt_${run}_${++evtSeq}`, object: 'event', created: Math.floor(Date.now() / 1000), livemode: false, type, data: { object } });
  async function deliverStripe(event, { secret = WHSEC, t = Math.floor(Date.now() / 1000), header } = {}) {
    const body = JSON.stringify(event);
    return postWebhook(`${b.url}/functions/v1/stripe-webhook`, body, { 'stripe-signature': header !== undefined ? header : stripeSignature(secret, body, t) });
  }
  const balance = async (u) => ok(await u.db.from('user_credits').select('credits_balance').single()).credits_balance;

  test('stripe webhook function: signed events applied once (credit packs, subscriptions, catalogue); bad signatures refused', async () => {
    const before = await balance(ben);
    const checkout = stripeEvent('checkout.session.completed', { id: `cs_${run}`, object: 'checkout.session', mode: 'payment', payment_status: 'paid', client_reference_id: ben.id, customer: `cus_benpack_${run}`, metadata: { credits: '500', price_id: 'price_credits_500' } });
    for (const [what, opts] of [['unsigned', { header: null }], ['another secret', { secret: 'whsec_nope' }], ['stale', { t: Math.floor(Date.now() / 1000) - 3600 }]]) {
      assert.equal((await deliverStripe(checkout, opts)).status, 400, what);
    }
    assert.equal(scalar(`select count(*) from public.webhook_events where stripe_event_id = ${q(checkout.id)}`), '0');
    let r = await deliverStripe(checkout);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.credits_balance, before + 500);
    assert.equal(await balance(ben), before + 500, 'ben sees his new balance');
    r = await deliverStripe(checkout);
    assert.deepEqual(r.body, { received: true, duplicate: true });
    assert.equal(await balance(ben), before + 500, 'a replayed event grants nothing');
    assert.deepEqual(ok(await ben.db.from('credit_transactions').select('transaction_type, credits_amount').order('created_at', { ascending: false }).limit(1)), [{ transaction_type: 'purchase', credits_amount: 500 }]);

    // Ana subscribes (her Stripe customer is known); she sees it, Ben does not.
    const period = { current_period_start: Math.floor(Date.now() / 1000), current_period_end: Math.floor(Date.now() / 1000) + 30 * 86400 };
    const sub = { id: `sub_ana_pro_${run}`, object: 'subscription', customer: `cus_ana_${run}`, status: 'active', cancel_at_period_end: false, items: { data: [{ price: { id: 'price_pro_monthly' }, quantity: 1 }] }, ...period, metadata: {} };
    r = await deliverStripe(stripeEvent('customer.subscription.created', sub));
    assert.equal(r.body.outcome, 'processed', JSON.stringify(r.body));
    assert.deepEqual(ok(await ana.db.from('subscriptions').select('status, price_id').eq('id', sub.id).single()), { status: 'active', price_id: 'price_pro_monthly' });
    assert.deepEqual(ok(await ana.db.from('user_credits').select('subscription_id, plan_credits').single()), { subscription_id: sub.id, plan_credits: 10000 });
    assert.deepEqual(ok(await ben.db.from('subscriptions').select('id').eq('id', sub.id)), []);
    r = await deliverStripe(stripeEvent('customer.subscription.deleted', { ...sub, status: 'canceled', canceled_at: Math.floor(Date.now() / 1000), ended_at: Math.floor(Date.now() / 1000) }));
    assert.equal(ok(await ana.db.from('subscriptions').select('status').eq('id', sub.id).single()).status, 'canceled');
    assert.deepEqual(ok(await ana.db.from('user_credits').select('subscription_id, plan_credits').single()), { subscription_id: null, plan_credits: 0 });

    // Catalogue sync; an unknown customer fails (500, nothing recorded) so Stripe retries.
    await deliverStripe(stripeEvent('product.created', { id: `prod_${run}`, object: 'product', name: 'Agency', active: true, metadata: { credits: '50000' } }));
    await deliverStripe(stripeEvent('price.created', { id: `price_${run}`, object: 'price', product: `prod_${run}`, unit_amount: 29900, currency: 'eur', type: 'recurring', recurring: { interval: 'month', interval_count: 1 }, active: true }));
    assert.deepEqual(ok(await anon().from('prices').select('unit_amount, products(name)').eq('id', `price_${run}`)), [{ unit_amount: 29900, products: { name: 'Agency' } }]);
    const orphan = stripeEvent('customer.subscription.created', { ...sub, id: `sub_orphan_${run}`, customer: 'cus_nobody' });
    r = await deliverStripe(orphan);
    assert.equal(r.status, 500);
    assert.equal(scalar(`select count(*) from public.webhook_events where stripe_event_id = ${q(orphan.id)}`), '0', 'a failed event stays unrecorded for the retry');
    assertDenied(await ana.db.rpc('apply_stripe_billing_event', { p_event: checkout }), 'users call the event handler');
  });

  test('AI reply function: RAG over the caller\'s own chunks, the reply recorded and credits deducted; escalations, refusals', async () => {
    const svc = admin();
    // A fresh thread with AI on, and a customer's question the webhook worker stored.
    const conv = ok(await ana.db.from('conversations').insert({ social_account_id: ids.ana.acct, customer_identifier: `cust_ai_${run}`, customer_name: 'Lucía' }).select('id').single(), 'ana\'s thread');
    const question = ok(await svc.from('conversation_messages').insert({ conversation_id: conv.id, external_message_id: `m_ai_${run}`, direction: 'inbound', content: 'Hola! Do you ship to Spain?', sender_id: 'lucia' }).select('id').single());
    const credits = await balance(ana);
    const calls = providers.calls.length;

    assert.equal((await ben.db.functions.invoke('ai-reply', { body: { conversation_id: conv.id } })).error?.context?.status, 404, 'ben asks for a reply in ana\'s thread');
    assert.equal(providers.calls.length, calls, 'nothing reached a provider');

    const r = await ana.db.functions.invoke('ai-reply', { body: { conversation_id: conv.id } });
    assert.equal(r.error, null, `ai-reply: ${await r.error?.context?.text?.()}`);
    assert.equal(r.data.decision, 'respond');
    assert.equal(r.data.reply, 'Yes! We ship everywhere in the European Union, Spain included.');
    assert.equal(r.data.sources[0].title, 'Ana handbook v2');
    assert.ok(r.data.sources.every((s) => s.document_id === ids.ana.doc), 'only ana\'s own chunks were retrieved');
    assert.equal(r.data.credits_balance, credits - 2, 'Claude 3.5 Haiku costs 2 credits');
    const [embedCall, chatCall] = providers.calls.slice(calls);
    assert.deepEqual([embedCall.body.taskType, embedCall.body.outputDimensionality, embedCall.body.content.parts[0].text], ['RETRIEVAL_QUERY', 768, 'Hola! Do you ship to Spain?']);
    assert.equal(chatCall.body.model, 'anthropic/claude-3.5-haiku');
    const system = chatCall.body.messages[0].content;
    assert.match(system, /We ship everywhere in the European Union\./);
    assert.match(system, /Tone: formal/);
    assert.doesNotMatch(system, /Ben ships bikes/, 'ben\'s knowledge never reaches ana\'s prompt');

    const thread = ok(await ana.db.from('conversation_messages').select('direction, content, reply_to_message_id, metadata').eq('conversation_id', conv.id).order('created_at'));
    assert.deepEqual(thread.map((m) => m.direction), ['inbound', 'outbound']);
    assert.equal(thread[1].reply_to_message_id, question.id);
    assert.equal(thread[1].metadata.model, 'anthropic/claude-3.5-haiku');
    const decision = ok(await ana.db.from('ai_decisions').select('decision, confidence, snapshot_json').eq('message_id', question.id).single());
    assert.equal(decision.decision, 'respond');
    assert.ok(decision.confidence > 0.9);
    assert.equal(decision.snapshot_json.usage.total_tokens, 134);
    assert.deepEqual(ok(await ana.db.from('credit_transactions').select('transaction_type, credits_amount, reason').order('created_at', { ascending: false }).limit(1)), [{ transaction_type: 'deduction', credits_amount: -2, reason: 'AI reply' }]);
    assert.deepEqual(ok(await ben.db.from('conversation_messages').select('id').eq('conversation_id', conv.id)), []);

    // A flagged keyword goes to a human: no provider call, no credits.
    ok(await ana.db.from('ai_settings').update({ flagged_keywords: ['lawyer'] }).eq('user_id', ana.id));
    ok(await svc.from('conversation_messages').insert({ conversation_id: conv.id, external_message_id: `m_ai2_${run}`, direction: 'inbound', content: 'My lawyer will contact you about the refund', sender_id: 'lucia' }));
    const before = providers.calls.length;
    const esc = await ana.db.functions.invoke('ai-reply', { body: { conversation_id: conv.id } });
    assert.deepEqual([esc.data?.decision, esc.data?.matched], ['escalate', 'lawyer'], JSON.stringify(esc.data ?? await esc.error?.context?.text?.()));
    assert.equal(providers.calls.length, before);
    assert.equal(await balance(ana), credits - 2);
    assert.equal(ok(await ana.db.from('support_escalations').select('reason').eq('conversation_id', conv.id).single()).reason, 'human_requested');
    assert.equal(ok(await ana.db.from('conversations').select('priority').eq('id', conv.id).single()).priority, 'high');

    // A provider failure answers 502 and costs nothing.
    ok(await svc.from('conversation_messages').insert({ conversation_id: conv.id, external_message_id: `m_ai3_${run}`, direction: 'inbound', content: 'overload test: do you ship on Sundays?', sender_id: 'lucia' }));
    const failed = await ana.db.functions.invoke('ai-reply', { body: { conversation_id: conv.id } });
    assert.equal(failed.error?.context?.status, 502);
    assert.equal(await balance(ana), credits - 2);

    // Out of credits: 402 before any provider is called. AI off for the thread: 409.
    ok(await svc.rpc('deduct_credits', { p_user_id: ana.id, p_amount: credits - 2, p_reason: 'drain for the test' }));
    const n = providers.calls.length;
    const broke = await ana.db.functions.invoke('ai-reply', { body: { conversation_id: conv.id } });
    assert.equal(broke.error?.context?.status, 402);
    assert.equal(providers.calls.length, n);
    ok(await ana.db.from('conversations').update({ ai_mode: 'OFF' }).eq('id', conv.id));
    assert.equal((await ana.db.functions.invoke('ai-reply', { body: { conversation_id: conv.id } })).error?.context?.status, 409);
    ok(await svc.rpc('add_credits', { p_user_id: ana.id, p_amount: credits - 2, p_type: 'refund', p_reason: 'test drain returned' }));
    assertDenied(await ana.db.rpc('record_ai_reply', { p_user_id: ana.id, p_conversation_id: conv.id, p_message_id: question.id, p_model: 'x', p_credits: 1, p_reply: 'forged', p_confidence: 1, p_snapshot: {} }), 'users record AI replies');
  });

  test('seed data: the demo account signs in and finds its inbox, credits and knowledge base', async () => {
    const r = await anon().auth.signInWithPassword({ email: 'sofia@argilla-studio.com', password: 'password123' });
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(r.data.user.id, SOFIA);
    const sofia = userClient(r.data.session.access_token);
    const convs = ok(await sofia.from('conversations').select('customer_name, social_accounts(platform)'));
    assert.deepEqual(convs.map((c) => [c.customer_name, c.social_accounts.platform]).sort(), [['Jonas', 'whatsapp'], ['giulia.b', 'instagram']]);
    assert.equal(ok(await sofia.from('user_credits').select('credits_balance').single()).credits_balance, 9998);
    const seedVector = b.sql(`select embedding::text from public.knowledge_chunks where chunk_index = 1 and document_id = 'd0c00000-0000-4000-8000-000000000001'`)[0][0];
    const hits = ok(await sofia.rpc('match_knowledge_chunks', { query_embedding: seedVector, match_count: 1 }));
    assert.equal(hits[0].content, 'We ship everywhere in the European Union within five working days.');
    assert.deepEqual(ok(await ana.db.from('conversations').select('id').eq('social_account_id', '5a000000-0000-4000-8000-000000000001')), [], 'ana sees none of sofia\'s');
  });

  test('basalt db reset re-creates the project from migrations and seed, twice in a row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-socialsync-reset-'));
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
});
