// examples/socialsync-ai's worker duties as edge functions and cron, through the real
// supabase-js against `basalt start` on a Postgres 16 with pgvector (no pg_cron there: the
// migration gives basalt's seconds scheduler the cron.job table it runs): publishing due
// scheduled posts through a fake Graph API (with retries), polling comments of monitored posts,
// ingesting knowledge-base documents into embedded chunks (a fake Gemini), and the monthly
// credit reset. Skipped, with the reason, where no Postgres with pgvector is found.
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, repoRoot } from './lib/basalt.mjs';
import { requirePgvector } from './lib/pgvector.mjs';
import { startFakeApi } from './lib/fake-api.mjs';

const projectDir = join(repoRoot, 'examples/socialsync-ai');
const skip = requirePgvector('socialsync-ai workers');

const PASSWORD = 'correct horse battery staple';
const run = Date.now();

describe('socialsync-ai workers', { skip }, () => {
  let b;
  let fake; // Graph API and Gemini
  let ana;
  let ben;
  let igAccount;
  const opts = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } };
  const admin = () => createClient(b.url, b.serviceKey, opts);
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
  const scalar = (sql) => b.sql(sql)[0]?.[0];
  const ok = (r, what = '') => { assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`); return r.data; };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  async function until(what, check, ms = 45000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = await check();
      if (v) return v;
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await sleep(250);
    }
  }
  async function signUp(email) {
    const c = createClient(b.url, b.anonKey, opts);
    const r = await c.auth.signUp({ email, password: PASSWORD });
    assert.equal(r.error, null, JSON.stringify(r.error));
    const token = r.data.session.access_token;
    return { id: r.data.user.id, db: createClient(b.url, b.anonKey, { ...opts, accessToken: async () => token }) };
  }
  const comments = [
    { id: `igc_${run}_1`, text: 'Love this glaze!', username: 'lia', timestamp: '2026-12-01T10:00:00+0000', like_count: 2, from: { id: '901', username: 'lia' } },
    { id: `igc_${run}_2`, text: 'Do you ship to Spain?', username: 'jordi', timestamp: '2026-12-01T10:05:00+0000', like_count: 0, from: { id: '902', username: 'jordi' } },
    { id: `igc_${run}_3`, text: 'Price?', username: 'mo', timestamp: '2026-12-01T10:07:00+0000', like_count: 0, from: { id: '903', username: 'mo' }, parent_id: `igc_${run}_1` },
  ];
  function route(call) {
    const bearer = call.headers.authorization === `Bearer ig-token-${run}`;
    if (call.path === '/v1beta/models/gemini-embedding-001:embedContent') {
      const text = call.body.content.parts[0].text;
      const h = createHash('sha256').update(text).digest();
      const v = new Array(768).fill(0);
      for (let i = 0; i < 8; i++) v[h[i] % 768] += 1;
      return { body: { embedding: { values: v } } };
    }
    if (!call.path.startsWith('/v21.0/')) return undefined;
    if (!bearer) return { status: 401, body: { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190 } } };
    let m = call.path.match(/^\/v21\.0\/([^/]+)\/media$/);
    if (m && call.method === 'POST') return { body: { id: `container_${call.body.caption.length}` } };
    m = call.path.match(/^\/v21\.0\/([^/]+)\/media_publish$/);
    if (m && call.method === 'POST') return { body: { id: `ig_media_${run}_${call.body.creation_id}` } };
    m = call.path.match(/^\/v21\.0\/([^/]+)\/comments$/);
    if (m && call.method === 'GET') {
      if (!call.query.after) return { body: { data: comments.slice(0, 2), paging: { cursors: { after: 'c2' }, next: `https://graph.facebook.com/v21.0/${m[1]}/comments?after=c2` } } };
      return { body: { data: comments.slice(2), paging: { cursors: { before: 'c2' } } } };
    }
    return undefined;
  }

  before(async () => {
    fake = await startFakeApi(route);
    b = await startBasalt({
      projectDir,
      functions: { '.env': `STRIPE_WEBHOOK_SECRET=whsec_x\nGEMINI_API_KEY=gem-key\nOPENROUTER_API_KEY=or-key\nGEMINI_API_URL=${fake.url}\nGRAPH_API_URL=${fake.url}\nMETA_APP_SECRET=meta-secret-e2e\nMETA_VERIFY_TOKEN=meta-verify-e2e\n` },
    });
    b.sql(`select private.set_function_secrets(${q(b.url)}, ${q(b.serviceKey)})`);
    ana = await signUp(`ana-${run}@socialsync.test`);
    ben = await signUp(`ben-${run}@socialsync.test`);
    // The backend stores the account's token when the user connects Instagram.
    igAccount = ok(await admin().from('social_accounts').insert({ user_id: ana.id, platform: 'instagram', account_id: `1784${run}`, username: 'ana.ceramics', access_token: `ig-token-${run}` }).select().single());
  });
  after(async () => { await b?.stop(); await fake?.close(); });

  test('the worker schedules are cron jobs basalt runs (pg_cron, or the migration\'s cron.job without it)', () => {
    const jobs = b.sql(`select jobname, schedule from cron.job where jobname like 'socialsync-%' order by jobname`);
    assert.deepEqual(jobs, [
      ['socialsync-fetch-dm-media', '30 seconds'], ['socialsync-ingest-documents', '10 seconds'], ['socialsync-poll-comments', '30 seconds'],
      ['socialsync-publish-due-posts', '30 seconds'], ['socialsync-reset-credits', '20 seconds'], ['socialsync-triage-comments', '15 seconds'],
    ]);
    const hasPgCron = scalar(`select count(*) from pg_extension where extname = 'pg_cron'`) === '1';
    console.log(`# cron: ${hasPgCron ? 'pg_cron' : 'no pg_cron in this Postgres: basalt\'s seconds scheduler on the migration\'s cron.job'}`);
    if (!hasPgCron) {
      const refused = (() => { try { b.sql(`select cron.schedule('x', '0 * * * *', 'select 1')`); return false; } catch { return true; } })();
      assert.ok(refused, 'a minute schedule cannot run without pg_cron and is refused');
    }
  });

  test('publishing: cron publishes a due post through the Graph API, watches it for comments; a failing post is retried three times', async () => {
    const due = ok(await ana.db.from('scheduled_posts').insert({
      user_id: ana.id, channel_id: igAccount.id, platform: 'instagram', publish_at: new Date(Date.now() - 1000).toISOString(),
      content_json: { text: 'Kiln day: twelve new mugs', media: [{ type: 'image', url: 'https://cdn.example.com/mugs.jpg' }] },
    }).select().single());
    const later = ok(await ana.db.from('scheduled_posts').insert({
      user_id: ana.id, channel_id: igAccount.id, platform: 'instagram', publish_at: new Date(Date.now() + 86400000).toISOString(),
      content_json: { text: 'Tomorrow', media: [{ type: 'image', url: 'https://cdn.example.com/t.jpg' }] },
    }).select().single());
    const broken = ok(await ana.db.from('scheduled_posts').insert({
      user_id: ana.id, channel_id: igAccount.id, platform: 'instagram', publish_at: new Date(Date.now() - 1000).toISOString(),
      content_json: { text: 'No picture' },
    }).select().single());
    const post = await until('the cron job to publish the due post', async () => {
      const p = ok(await ana.db.from('scheduled_posts').select('status, platform_post_id, retry_count').eq('id', due.id).single());
      return p.status === 'published' ? p : null;
    });
    assert.equal(post.platform_post_id, `ig_media_${run}_container_${'Kiln day: twelve new mugs'.length}`);
    const [container, publish] = fake.to(`/v21.0/1784${run}/`);
    assert.equal(container.path, `/v21.0/1784${run}/media`);
    assert.deepEqual(container.body, { image_url: 'https://cdn.example.com/mugs.jpg', caption: 'Kiln day: twelve new mugs' });
    assert.equal(publish.path, `/v21.0/1784${run}/media_publish`);
    assert.equal(container.headers.authorization, `Bearer ig-token-${run}`);
    assert.deepEqual(ok(await ana.db.from('post_runs').select('status').eq('scheduled_post_id', due.id)), [{ status: 'success' }]);
    const watched = ok(await ana.db.from('monitored_posts').select('platform_post_id, source, monitoring_enabled, caption, media_url').eq('platform_post_id', post.platform_post_id).single());
    assert.deepEqual(watched, { platform_post_id: post.platform_post_id, source: 'scheduled', monitoring_enabled: true, caption: 'Kiln day: twelve new mugs', media_url: 'https://cdn.example.com/mugs.jpg' });
    assert.equal(ok(await ana.db.from('scheduled_posts').select('status').eq('id', later.id).single()).status, 'queued', 'not due yet');
    assert.deepEqual(ok(await ben.db.from('scheduled_posts').select('id').eq('id', due.id)), []);
    assert.deepEqual(ok(await ben.db.from('monitored_posts').select('id').eq('user_id', ana.id)), []);

    // The post without an image failed once and waits for its retry (1 minute later).
    let p = await until('the first failure', async () => {
      const x = ok(await ana.db.from('scheduled_posts').select('status, retry_count, error_message, publish_at').eq('id', broken.id).single());
      return x.retry_count === 1 ? x : null;
    });
    assert.equal(p.status, 'queued');
    assert.match(p.error_message, /needs an image/);
    assert.ok(new Date(p.publish_at) > new Date(Date.now() + 30000));
    // Run its retries now (as the cron job would once each backoff passes): failed after 3.
    for (let i = 0; i < 3; i++) {
      b.sql(`update public.scheduled_posts set publish_at = now() where id = ${q(broken.id)}`);
      const r = await admin().functions.invoke('publish-scheduled-posts', { body: {} });
      assert.equal(r.error, null, String(r.error));
    }
    p = ok(await ana.db.from('scheduled_posts').select('status, retry_count').eq('id', broken.id).single());
    assert.deepEqual(p, { status: 'failed', retry_count: 3 });
    assert.equal(ok(await ana.db.from('post_runs').select('status').eq('scheduled_post_id', broken.id).eq('status', 'failed')).length, 4);
    // Users cannot run the worker or its SQL.
    const refused = await ana.db.functions.invoke('publish-scheduled-posts', { body: {} });
    assert.equal(refused.error?.context?.status, 403);
    assert.ok((await ana.db.rpc('claim_due_posts', {})).error);
  });

  test('comment polling: new comments stored once (all pages), seen by the owner only; the next check adapts', async () => {
    const media = scalar(`select platform_post_id from public.monitored_posts where social_account_id = ${q(igAccount.id)}`);
    b.sql(`update public.monitored_posts set next_check_at = now() - interval '1 second' where platform_post_id = ${q(media)}`);
    let r = await admin().functions.invoke('poll-comments', { body: {} });
    assert.equal(r.error, null, String(r.error));
    const mine = r.data.monitored_posts.find((m) => m.new !== undefined && m.comments === 3);
    assert.ok(mine, JSON.stringify(r.data));
    assert.equal(mine.new, 3);
    const stored = ok(await ana.db.from('comments').select('platform_comment_id, author_name, text, parent_id, like_count').order('platform_comment_id').like('platform_comment_id', `igc_${run}_%`));
    assert.deepEqual(stored.map((c) => [c.author_name, c.text, c.parent_id]), [['lia', 'Love this glaze!', null], ['jordi', 'Do you ship to Spain?', null], ['mo', 'Price?', `igc_${run}_1`]]);
    assert.deepEqual(ok(await ben.db.from('comments').select('id').like('platform_comment_id', `igc_${run}_%`)), []);
    const minutes = () => Number(scalar(`select round(extract(epoch from next_check_at - now()) / 60) from public.monitored_posts where platform_post_id = ${q(media)}`));
    assert.equal(minutes(), 5, 'news: checked again in 5 minutes');
    // Nothing new after 20 quiet minutes: the next check is 40 minutes away; nothing stored twice.
    b.sql(`update public.monitored_posts set last_check_at = now() - interval '20 minutes', next_check_at = now() - interval '1 second' where platform_post_id = ${q(media)}`);
    r = await admin().functions.invoke('poll-comments', { body: {} });
    assert.equal(r.data.monitored_posts.find((m) => m.comments === 3).new, 0);
    assert.equal(Number(scalar(`select count(*) from public.comments where platform_comment_id like 'igc_${run}_%'`)), 3);
    assert.equal(minutes(), 40);
  });

  test('ingestion: an uploaded text document is chunked, embedded and indexed by cron; other formats fail; owner-only chunks', async () => {
    const faq = Array.from({ length: 12 }, (_, i) => `Question ${i + 1}: do you run workshop number ${i + 1} on Saturdays? Yes, every Saturday at ten, bring an apron and clay-friendly clothes. We fire the pieces within two weeks.`).join('\n\n');
    const path = `${ana.id}/workshop-faq-${run}.md`;
    ok(await ana.db.storage.from('knowledge-base').upload(path, new Blob([faq], { type: 'text/markdown' }), { contentType: 'text/markdown' }));
    const doc = ok(await ana.db.from('knowledge_documents').insert({ user_id: ana.id, title: 'Workshop FAQ', bucket_id: 'knowledge-base', object_name: path, file_size_bytes: faq.length }).select().single());
    assert.equal(doc.status, 'processing');
    const pdfPath = `${ana.id}/catalogue-${run}.pdf`;
    ok(await ana.db.storage.from('knowledge-base').upload(pdfPath, new Blob(['%PDF-1.4\n%%EOF\n'], { type: 'application/pdf' }), { contentType: 'application/pdf' }));
    const pdf = ok(await ana.db.from('knowledge_documents').insert({ user_id: ana.id, title: 'Catalogue', bucket_id: 'knowledge-base', object_name: pdfPath }).select().single());

    await until('the cron job to index the document', async () => ok(await ana.db.from('knowledge_documents').select('status').eq('id', doc.id).single()).status === 'indexed');
    const chunks = ok(await ana.db.from('knowledge_chunks').select('chunk_index, content, start_char, end_char, token_count').eq('document_id', doc.id).order('chunk_index'));
    assert.ok(chunks.length >= 2, `${chunks.length} chunks`);
    assert.ok(chunks.every((c) => c.content.length <= 1000 && c.token_count > 0));
    assert.match(chunks[0].content, /^Question 1:/);
    assert.ok(chunks.at(-1).content.includes('Question 12'));
    assert.equal(Number(scalar(`select count(*) from public.knowledge_chunks where document_id = ${q(doc.id)} and embedding is not null and vector_dims(embedding) = 768`)), chunks.length);
    const embeds = fake.to('embedContent').filter((c) => c.body.taskType === 'RETRIEVAL_DOCUMENT');
    assert.ok(embeds.length >= chunks.length);
    assert.equal(embeds[0].headers['x-goog-api-key'], 'gem-key');
    await until('the PDF to be refused', async () => ok(await ana.db.from('knowledge_documents').select('status').eq('id', pdf.id).single()).status === 'failed');
    // Ben sees none of it; the chunk is found by its own embedding through match_knowledge_chunks as Ana.
    assert.deepEqual(ok(await ben.db.from('knowledge_chunks').select('id').eq('document_id', doc.id)), []);
    const vec = scalar(`select embedding::text from public.knowledge_chunks where document_id = ${q(doc.id)} and chunk_index = 0`);
    const found = ok(await ana.db.rpc('match_knowledge_chunks', { query_embedding: vec, query_text: 'workshop Saturday', match_count: 3, min_similarity: 0.5 }));
    assert.ok(found.length >= 1, JSON.stringify(found));
    assert.deepEqual(ok(await ben.db.rpc('match_knowledge_chunks', { query_embedding: vec, query_text: 'workshop Saturday', match_count: 3, min_similarity: 0.5 })), []);
  });

  test('monthly credit reset: a passed next_reset_at restores the plan\'s credits by cron, recorded once', async () => {
    b.sql(`update public.user_credits set plan_credits = 500, credits_balance = 3, next_reset_at = now() - interval '1 minute' where user_id = ${q(ana.id)}`);
    const credits = await until('the reset', async () => {
      const c = ok(await ana.db.from('user_credits').select('credits_balance, next_reset_at').single());
      return c.credits_balance === 500 ? c : null;
    }, 30000);
    assert.ok(new Date(credits.next_reset_at) > new Date(Date.now() + 27 * 86400000));
    const resets = ok(await ana.db.from('credit_transactions').select('transaction_type, credits_amount, credits_balance_after').eq('transaction_type', 'monthly_reset'));
    assert.deepEqual(resets.filter((t) => t.credits_balance_after === 500), [{ transaction_type: 'monthly_reset', credits_amount: 497, credits_balance_after: 500 }]);
    assert.deepEqual(ok(await ben.db.from('credit_transactions').select('id').eq('user_id', ana.id)), []);
  });

  test('meta-webhook: signed Instagram DMs and comments and WhatsApp messages land in the owner\'s inbox once; unsigned ones are refused', async () => {
    const hook = `${b.url}/functions/v1/meta-webhook`;
    const deliver = async (payload, secret = 'meta-secret-e2e') => {
      const raw = JSON.stringify(payload);
      const headers = { 'content-type': 'application/json' };
      if (secret) headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
      const res = await fetch(hook, { method: 'POST', headers, body: raw });
      return { status: res.status, body: await res.json() };
    };
    let res = await fetch(`${hook}?hub.mode=subscribe&hub.verify_token=meta-verify-e2e&hub.challenge=4242`);
    assert.deepEqual([res.status, await res.text()], [200, '4242']);
    res = await fetch(`${hook}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=4242`);
    assert.equal(res.status, 403);

    const waAccount = ok(await admin().from('social_accounts').insert({ user_id: ana.id, platform: 'whatsapp', account_id: `1550${run}`.slice(0, 15), username: 'ana wa', access_token: 'wa-token' }).select().single());
    const dm = { object: 'instagram', entry: [{ id: `1784${run}`, time: Date.now(), messaging: [
      { sender: { id: `igsid_${run}` }, recipient: { id: `1784${run}` }, timestamp: Date.now(), message: { mid: `mid_${run}_1`, text: 'Hi! Is the blue vase still available?' } },
      { sender: { id: `1784${run}` }, recipient: { id: `igsid_${run}` }, timestamp: Date.now(), message: { mid: `mid_${run}_echo`, text: 'echo', is_echo: true } },
    ] }] };
    assert.equal((await deliver(dm, null)).status, 401, 'unsigned');
    assert.equal((await deliver(dm, 'another-secret')).status, 401, 'wrongly signed');
    assert.equal(Number(scalar(`select count(*) from public.conversation_messages where external_message_id = 'mid_${run}_1'`)), 0);
    let r = await deliver(dm);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.messages, r.body.ignored], [1, 1]);
    assert.deepEqual(await deliver(dm).then((x) => x.body), { duplicate: true });
    const conv = ok(await ana.db.from('conversations').select('id, customer_identifier, unread_count, status').eq('social_account_id', igAccount.id).single());
    assert.deepEqual([conv.customer_identifier, conv.unread_count, conv.status], [`igsid_${run}`, 1, 'open']);
    const msgs = ok(await ana.db.from('conversation_messages').select('direction, content, message_type').eq('conversation_id', conv.id));
    assert.deepEqual(msgs, [{ direction: 'inbound', content: 'Hi! Is the blue vase still available?', message_type: 'text' }]);
    assert.deepEqual(ok(await ben.db.from('conversation_messages').select('id').eq('conversation_id', conv.id)), []);

    // A comment on the monitored post; a comment on a post nobody monitors is counted only.
    const media = scalar(`select platform_post_id from public.monitored_posts where social_account_id = ${q(igAccount.id)}`);
    const comment = (id, mediaId) => ({ object: 'instagram', entry: [{ id: `1784${run}`, time: Date.now(), changes: [{ field: 'comments', value: { id, text: 'Gorgeous!', from: { id: '777', username: 'zoe' }, media: { id: mediaId, media_product_type: 'FEED' } } }] }] });
    r = await deliver(comment(`igc_hook_${run}`, media));
    assert.equal(r.body.comments, 1);
    r = await deliver(comment(`igc_hook2_${run}`, 'not-monitored'));
    assert.deepEqual([r.body.comments, r.body.unknown], [0, 1]);
    assert.deepEqual(ok(await ana.db.from('comments').select('author_name, text').eq('platform_comment_id', `igc_hook_${run}`)), [{ author_name: 'zoe', text: 'Gorgeous!' }]);

    // WhatsApp: an inbound message with the contact's name, then a second one in the same chat.
    const wa = (id, text) => ({ object: 'whatsapp_business_account', entry: [{ id: 'waba', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '+1 555 000 0000', phone_number_id: waAccount.account_id },
      contacts: [{ profile: { name: 'Marco' }, wa_id: '393331112222' }],
      messages: [{ from: '393331112222', id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }] } }] }] });
    assert.equal((await deliver(wa(`wamid.${run}.1`, 'Ciao! Open on Sunday?'))).body.messages, 1);
    assert.equal((await deliver(wa(`wamid.${run}.2`, 'Grazie'))).body.messages, 1);
    const chat = ok(await ana.db.from('conversations').select('customer_name, unread_count').eq('social_account_id', waAccount.id).single());
    assert.deepEqual(chat, { customer_name: 'Marco', unread_count: 2 });
    // Deliveries for an account nobody connected are counted, not stored; users cannot read deliveries.
    const stray = wa(`wamid.${run}.3`, 'hello?');
    stray.entry[0].changes[0].value.metadata.phone_number_id = '000';
    stray.entry[0].changes[0].value.metadata.display_phone_number = '000';
    assert.equal((await deliver(stray)).body.unknown, 1);
    assert.ok((await ana.db.from('meta_webhook_deliveries').select('id')).error);
  });
});
