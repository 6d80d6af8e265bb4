// examples/socialsync-ai's remaining backend duties through the real supabase-js against
// `basalt start` (Postgres 16 with pgvector): PDF and DOCX documents extracted, chunked and
// embedded by the ingestion cron job; new comments triaged by the AI provider (a fake
// OpenRouter) with the auto-reply sent through the Graph API for 'respond' only; the media of
// inbound DMs downloaded into `conversation-media`; the Whop webhook (Standard Webhooks
// signatures) writing subscriptions, customers and products with `source = 'whop'` once per
// event; the LangGraph checkpointer's put/get. Every external API is a local fake that records
// what it receives. Skipped, with the reason, where no Postgres with pgvector is found.
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt, repoRoot } from './lib/basalt.mjs';
import { requirePgvector } from './lib/pgvector.mjs';
import { startFakeApi, postWebhook } from './lib/fake-api.mjs';
import { until } from './lib/checks.mjs';

const projectDir = join(repoRoot, 'examples/socialsync-ai');
const skip = requirePgvector('socialsync-ai backend');

const PASSWORD = 'correct horse battery staple';
const WHOP_SECRET = 'ws_e2e_0123456789abcdef';
const run = Date.now();

/** A one-page PDF whose text is `lines` (Helvetica), written by hand with a correct xref table. */
function makePdf(lines) {
  const esc = (s) => s.replace(/[\\()]/g, (c) => `\\${c}`);
  const content = `BT /F1 12 Tf 72 720 Td ${lines.map((l) => `(${esc(l)}) Tj 0 -16 Td`).join(' ')} ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
  ];
  let out = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((o, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** A zip archive of `files` ({ name: text }), each deflated. */
function makeZip(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const raw = Buffer.from(text, 'utf8');
    const data = deflateRawSync(raw);
    const n = Buffer.from(name, 'utf8');
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0); head.writeUInt16LE(20, 4); head.writeUInt16LE(8, 8);
    head.writeUInt32LE(crc32(raw), 14); head.writeUInt32LE(data.length, 18); head.writeUInt32LE(raw.length, 22);
    head.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(raw), 16); central.writeUInt32LE(data.length, 20); central.writeUInt32LE(raw.length, 24);
    central.writeUInt16LE(n.length, 28); central.writeUInt32LE(offset, 42);
    locals.push(head, n, data);
    centrals.push(central, n);
    offset += head.length + n.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(centrals.length / 2, 8); end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(dir.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}
/** A minimal DOCX: [Content_Types].xml, the package relationship and word/document.xml. */
function makeDocx(paragraphs) {
  const body = paragraphs.map((runs) => `<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr>${runs.map((r) => `<w:r><w:t xml:space="preserve">${r}</w:t></w:r>`).join('')}</w:p>`).join('');
  return makeZip({
    '[Content_Types].xml': '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    '_rels/.rels': '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
    'word/document.xml': `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}<w:sectPr/></w:body></w:document>`,
  });
}

/** Standard Webhooks headers as Whop sends them (HMAC key: the secret's bytes). */
function whopHeaders(secret, id, body, ts = Math.floor(Date.now() / 1000)) {
  const sig = createHmac('sha256', secret).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` };
}

describe('socialsync-ai backend', { skip }, () => {
  let b;
  let fake; // Gemini, OpenRouter, the Graph API and a media CDN
  let ana;
  let ben;
  let igAccount;
  let waAccount;
  const opts = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } };
  const admin = () => createClient(b.url, b.serviceKey, opts);
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
  const scalar = (sql) => b.sql(sql)[0]?.[0];
  const ok = (r, what = '') => { assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`); return r.data; };
  async function signUp(email) {
    const c = createClient(b.url, b.anonKey, opts);
    const r = await c.auth.signUp({ email, password: PASSWORD });
    assert.equal(r.error, null, JSON.stringify(r.error));
    const token = r.data.session.access_token;
    return { id: r.data.user.id, email, db: createClient(b.url, b.anonKey, { ...opts, accessToken: async () => token }) };
  }

  // ASCII stand-ins for the bytes (the fake answers text).
  const photo = Buffer.from('JFIF fake jpeg bytes of a cracked vase');
  const voice = Buffer.from('OggS fake voice note');
  // The AI provider's verdicts by comment text (the test's model of a classifier).
  const verdicts = [
    [/ship to Spain/, { triage: 'respond', confidence: 0.92, reason: 'shipping question', reply: 'Yes! We ship to Spain in 3-5 days.' }],
    [/😍|gorgeous/i, { triage: 'ignore', confidence: 0.88, reason: 'praise', reply: '' }],
    [/broken/, { triage: 'escalate', confidence: 0.81, reason: 'damaged order', reply: '' }],
  ];
  function route(call) {
    if (call.path === '/v1beta/models/gemini-embedding-001:embedContent') {
      const h = createHash('sha256').update(call.body.content.parts[0].text).digest();
      const v = new Array(768).fill(0);
      for (let i = 0; i < 8; i++) v[h[i] % 768] += 1;
      return { body: { embedding: { values: v } } };
    }
    if (call.path === '/api/v1/chat/completions') {
      if (call.headers.authorization !== 'Bearer or-key') return { status: 401, body: { error: { message: 'No auth credentials found', code: 401 } } };
      const asked = call.body.messages.at(-1).content;
      const verdict = verdicts.find(([re]) => re.test(asked))?.[1];
      if (!verdict) return { status: 503, body: { error: { message: 'model overloaded', code: 503 } } };
      return { body: { id: `gen-${run}`, model: call.body.model, choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: JSON.stringify(verdict) } }], usage: { prompt_tokens: 80, completion_tokens: 20, total_tokens: 100 } } };
    }
    if (call.path === '/cdn/ig-photo.jpg') return { body: photo.toString(), headers: { 'content-type': 'image/jpeg' } };
    if (call.path === '/cdn/wa-voice') {
      if (call.headers.authorization !== 'Bearer wa-token') return { status: 401, body: { error: 'unauthorized' } };
      return { body: voice.toString(), headers: { 'content-type': 'audio/ogg' } };
    }
    if (!call.path.startsWith('/v21.0/')) return undefined;
    let m = call.path.match(/^\/v21\.0\/([^/]+)\/replies$/);
    if (m && call.method === 'POST') {
      if (call.headers.authorization !== `Bearer ig-token-${run}`) return { status: 401, body: { error: { message: 'Invalid OAuth access token.', code: 190 } } };
      return { body: { id: `reply_to_${m[1]}` } };
    }
    m = call.path.match(/^\/v21\.0\/(wamedia_[^/]+)$/);
    if (m && call.method === 'GET') {
      if (call.headers.authorization !== 'Bearer wa-token') return { status: 401, body: { error: { message: 'Invalid OAuth access token.', code: 190 } } };
      return { body: { messaging_product: 'whatsapp', url: `${fake.url}/cdn/wa-voice`, mime_type: 'audio/ogg', sha256: createHash('sha256').update(voice).digest('hex'), file_size: voice.length, id: m[1] } };
    }
    return undefined;
  }

  before(async () => {
    fake = await startFakeApi(route);
    b = await startBasalt({
      projectDir,
      functions: { '.env': `STRIPE_WEBHOOK_SECRET=whsec_x\nGEMINI_API_KEY=gem-key\nOPENROUTER_API_KEY=or-key\nGEMINI_API_URL=${fake.url}\nOPENROUTER_API_URL=${fake.url}\nGRAPH_API_URL=${fake.url}\nMETA_APP_SECRET=meta-secret-e2e\nMETA_VERIFY_TOKEN=meta-verify-e2e\nWHOP_WEBHOOK_SECRET=${WHOP_SECRET}\n` },
    });
    b.sql(`select private.set_function_secrets(${q(b.url)}, ${q(b.serviceKey)})`);
    ana = await signUp(`ana-${run}@socialsync.test`);
    ben = await signUp(`ben-${run}@socialsync.test`);
    igAccount = ok(await admin().from('social_accounts').insert({ user_id: ana.id, platform: 'instagram', account_id: `1784${run}`, username: 'ana.ceramics', access_token: `ig-token-${run}` }).select().single());
    waAccount = ok(await admin().from('social_accounts').insert({ user_id: ana.id, platform: 'whatsapp', account_id: `1550${run}`.slice(0, 15), username: 'ana wa', access_token: 'wa-token' }).select().single());
  });
  after(async () => { await b?.stop(); await fake?.close(); });

  test('the new workers are cron jobs', () => {
    const jobs = b.sql(`select jobname, schedule from cron.job where jobname in ('socialsync-triage-comments', 'socialsync-fetch-dm-media') order by jobname`);
    assert.deepEqual(jobs, [['socialsync-fetch-dm-media', '30 seconds'], ['socialsync-triage-comments', '15 seconds']]);
  });

  test('ingestion: a PDF and a DOCX are extracted, chunked and embedded by cron; a broken one fails; owner-only', async () => {
    const pdfLines = ['Kiln firing runs every Thursday at 9.', 'All our glazes are lead free and food safe.'];
    const pdfPath = `${ana.id}/care-${run}.pdf`;
    ok(await ana.db.storage.from('knowledge-base').upload(pdfPath, new Blob([makePdf(pdfLines)], { type: 'application/pdf' }), { contentType: 'application/pdf' }));
    const docxType = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
    const docxPath = `${ana.id}/returns-${run}.docx`;
    const docx = makeDocx([['Returns policy'], ['Return any piece within ', '30 days &amp; get a full refund.'], ['Shipping to the EU takes 3&#8211;5 days.']]);
    ok(await ana.db.storage.from('knowledge-base').upload(docxPath, new Blob([docx], { type: docxType }), { contentType: docxType }));
    const badPath = `${ana.id}/broken-${run}.docx`;
    ok(await ana.db.storage.from('knowledge-base').upload(badPath, new Blob(['not a zip at all'], { type: docxType }), { contentType: docxType }));
    const insert = async (title, path) => ok(await ana.db.from('knowledge_documents').insert({ user_id: ana.id, title, bucket_id: 'knowledge-base', object_name: path }).select().single());
    const pdf = await insert('Care guide', pdfPath);
    const word = await insert('Returns', docxPath);
    const bad = await insert('Broken', badPath);

    const status = async (id) => ok(await ana.db.from('knowledge_documents').select('status').eq('id', id).single()).status;
    await until('the PDF and the DOCX to be indexed', async () => (await status(pdf.id)) === 'indexed' && (await status(word.id)) === 'indexed', 90000);
    const chunks = async (id) => ok(await ana.db.from('knowledge_chunks').select('chunk_index, content, token_count').eq('document_id', id).order('chunk_index'));
    const pdfChunks = await chunks(pdf.id);
    assert.equal(pdfChunks.length, 1);
    assert.match(pdfChunks[0].content, /Kiln firing runs every Thursday at 9\.\s+All our glazes are lead free and food safe\./);
    const wordChunks = await chunks(word.id);
    assert.deepEqual(wordChunks.map((c) => c.content), ['Returns policy\n\nReturn any piece within 30 days & get a full refund.\n\nShipping to the EU takes 3–5 days.']);
    for (const id of [pdf.id, word.id]) {
      assert.equal(Number(scalar(`select count(*) from public.knowledge_chunks where document_id = ${q(id)} and vector_dims(embedding) = 768 and tsv is not null`)), 1);
    }
    // The embedded texts are the extracted ones, as documents.
    const embedded = fake.to('embedContent').filter((c) => c.body.taskType === 'RETRIEVAL_DOCUMENT').map((c) => c.body.content.parts[0].text);
    assert.ok(embedded.includes(wordChunks[0].content));
    assert.ok(embedded.includes(pdfChunks[0].content));
    await until('the broken DOCX to fail', async () => (await status(bad.id)) === 'failed');
    assert.equal(Number(scalar(`select count(*) from public.knowledge_chunks where document_id = ${q(bad.id)}`)), 0);
    // Search finds the DOCX chunk for its owner only.
    const vec = scalar(`select embedding::text from public.knowledge_chunks where document_id = ${q(word.id)}`);
    const found = ok(await ana.db.rpc('match_knowledge_chunks', { query_embedding: vec, query_text: 'refund', match_count: 3, min_similarity: 0.5 }));
    assert.equal(found[0].document_id, word.id);
    assert.deepEqual(ok(await ben.db.rpc('match_knowledge_chunks', { query_embedding: vec, query_text: 'refund', match_count: 3, min_similarity: 0.5 })), []);
    assert.deepEqual(ok(await ben.db.from('knowledge_chunks').select('id').in('document_id', [pdf.id, word.id])), []);
  });

  test('comment triage: cron classifies new comments through the AI provider; only "respond" is answered on Instagram', async () => {
    const media = `ig_media_triage_${run}`;
    const post = ok(await admin().from('monitored_posts').insert({ user_id: ana.id, social_account_id: igAccount.id, platform_post_id: media, platform: 'instagram', caption: 'New blue vases', posted_at: new Date().toISOString(), source: 'manual', monitoring_enabled: false }).select().single());
    ok(await ana.db.from('ai_settings').update({ flagged_keywords: ['lawyer'], ai_model: 'anthropic/claude-3.5-haiku' }).eq('user_id', ana.id));
    const c = (n, text) => ({ monitored_post_id: post.id, platform_comment_id: `tri_${run}_${n}`, author_name: `fan${n}`, text });
    ok(await admin().from('comments').insert([
      c(1, 'Do you ship to Spain?'), c(2, 'Gorgeous 😍'), c(3, 'My vase arrived broken!'), c(4, 'I will call my lawyer'),
    ]));
    const rows = await until('all four comments to be triaged', async () => {
      const r = ok(await ana.db.from('comments').select('platform_comment_id, triage, ai_reply_text, replied_at, ai_decision_id').like('platform_comment_id', `tri_${run}_%`).order('platform_comment_id'));
      return r.every((x) => x.triage) && r.find((x) => x.triage === 'respond')?.replied_at ? r : null;
    });
    assert.deepEqual(rows.map((r) => [r.platform_comment_id, r.triage]), [[`tri_${run}_1`, 'respond'], [`tri_${run}_2`, 'ignore'], [`tri_${run}_3`, 'escalate'], [`tri_${run}_4`, 'escalate']]);
    assert.equal(rows[0].ai_reply_text, 'Yes! We ship to Spain in 3-5 days.');
    assert.ok(rows.slice(1).every((r) => r.ai_reply_text === null && r.replied_at === null));
    // The Graph API received exactly one reply, on the 'respond' comment, with Ana's token.
    const replies = fake.to('/replies');
    assert.equal(replies.length, 1);
    assert.equal(replies[0].path, `/v21.0/tri_${run}_1/replies`);
    assert.deepEqual(replies[0].body, { message: 'Yes! We ship to Spain in 3-5 days.' });
    // The model saw three comments (the flagged one escalated without a call), with Ana's model.
    const asked = fake.to('/chat/completions').filter((x) => /Comment by fan/.test(x.body.messages.at(-1).content));
    assert.equal(asked.length, 3);
    assert.ok(asked.every((x) => x.body.model === 'anthropic/claude-3.5-haiku'));
    assert.ok(asked.every((x) => x.body.messages[1].content.includes('Post caption: New blue vases')));
    // Ana reads the decisions; Ben sees neither comments nor decisions.
    const decisions = ok(await ana.db.from('ai_decisions').select('id, decision, confidence, reason, matched_rule, message_text, snapshot_json').in('id', rows.map((r) => r.ai_decision_id)));
    assert.equal(decisions.length, 4);
    const byId = Object.fromEntries(decisions.map((d) => [d.id, d]));
    assert.deepEqual([byId[rows[0].ai_decision_id].decision, Number(byId[rows[0].ai_decision_id].confidence)], ['respond', 0.92]);
    assert.equal(byId[rows[0].ai_decision_id].snapshot_json.platform_reply_id, `reply_to_tri_${run}_1`);
    assert.deepEqual([byId[rows[3].ai_decision_id].decision, byId[rows[3].ai_decision_id].matched_rule, byId[rows[3].ai_decision_id].message_text], ['escalate', 'lawyer', 'I will call my lawyer']);
    assert.deepEqual(byId[rows[0].ai_decision_id].snapshot_json.usage, { prompt_tokens: 80, completion_tokens: 20, total_tokens: 100 });
    assert.deepEqual(ok(await ben.db.from('ai_decisions').select('id').in('id', rows.map((r) => r.ai_decision_id))), []);
    assert.deepEqual(ok(await ben.db.from('comments').select('id').like('platform_comment_id', `tri_${run}_%`)), []);
    // A comment the provider cannot classify stays untriaged (retried later), nothing replied.
    ok(await admin().from('comments').insert(c(5, 'qwerty')));
    const r = await admin().functions.invoke('triage-comments', { body: {} });
    assert.equal(r.error, null, String(r.error));
    assert.equal(ok(await ana.db.from('comments').select('triage').eq('platform_comment_id', `tri_${run}_5`).single()).triage, null);
    assert.equal(fake.to('/replies').length, 1);
    // AI off for comments: nothing is claimed. Users cannot run the worker or its SQL.
    b.sql(`update public.comments set triage_attempted_at = null where platform_comment_id = 'tri_${run}_5'`);
    ok(await ana.db.from('ai_settings').update({ ai_enabled_for_comments: false }).eq('user_id', ana.id));
    assert.deepEqual(ok(await admin().rpc('claim_comments_to_triage', { p_limit: 20 })).filter((x) => x.user_id === ana.id), []);
    assert.equal((await ana.db.functions.invoke('triage-comments', { body: {} })).error?.context?.status, 403);
    assert.ok((await ana.db.rpc('record_comment_triage', { p_comment_id: post.id, p_decision: 'ignore', p_confidence: 1, p_reason: 'x', p_matched_rule: null, p_summary: {} })).error);
  });

  test('DM media: images and voice notes of inbound DMs are stored in conversation-media for their owner', async () => {
    const hook = `${b.url}/functions/v1/meta-webhook`;
    const deliver = async (payload) => {
      const raw = JSON.stringify(payload);
      return postWebhook(hook, raw, { 'x-hub-signature-256': `sha256=${createHmac('sha256', 'meta-secret-e2e').update(raw).digest('hex')}` });
    };
    let r = await deliver({ object: 'instagram', entry: [{ id: `1784${run}`, time: Date.now(), messaging: [
      { sender: { id: `igsid_m_${run}` }, recipient: { id: `1784${run}` }, timestamp: Date.now(), message: { mid: `mid_media_${run}`, attachments: [{ type: 'image', payload: { url: `${fake.url}/cdn/ig-photo.jpg` } }] } },
      { sender: { id: `igsid_m_${run}` }, recipient: { id: `1784${run}` }, timestamp: Date.now(), message: { mid: `mid_gone_${run}`, attachments: [{ type: 'image', payload: { url: `${fake.url}/cdn/expired.jpg` } }] } },
    ] }] });
    assert.deepEqual([r.status, r.body.messages], [200, 2]);
    r = await deliver({ object: 'whatsapp_business_account', entry: [{ id: 'waba', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '+1 555 000 0000', phone_number_id: waAccount.account_id },
      contacts: [{ profile: { name: 'Marco' }, wa_id: '393331112222' }],
      messages: [{ from: '393331112222', id: `wamid.voice.${run}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'audio', audio: { id: `wamedia_${run}`, mime_type: 'audio/ogg; codecs=opus', voice: true } }] } }] }] });
    assert.deepEqual([r.status, r.body.messages], [200, 1]);

    const message = async (mid) => ok(await ana.db.from('conversation_messages').select('id, message_type, media_type, storage_object_name, metadata').eq('external_message_id', mid).single());
    const img = await until('the Instagram photo to be stored', async () => { const m = await message(`mid_media_${run}`); return m.storage_object_name ? m : null; });
    assert.deepEqual([img.message_type, img.media_type, img.storage_object_name, img.metadata.media_status], ['image', 'image/jpeg', `${ana.id}/${img.id}`, 'stored']);
    const audio = await until('the WhatsApp voice note to be stored', async () => { const m = await message(`wamid.voice.${run}`); return m.storage_object_name ? m : null; });
    assert.deepEqual([audio.message_type, audio.media_type, audio.storage_object_name], ['audio', 'audio/ogg', `${ana.id}/${audio.id}`]);
    // The Cloud API was asked for the media URL with the account's token; the bytes are intact.
    assert.equal(fake.to(`/v21.0/wamedia_${run}`)[0].headers.authorization, 'Bearer wa-token');
    const got = ok(await ana.db.storage.from('conversation-media').download(img.storage_object_name));
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), photo);
    const gotVoice = ok(await ana.db.storage.from('conversation-media').download(audio.storage_object_name));
    assert.deepEqual(Buffer.from(await gotVoice.arrayBuffer()), voice);
    // Ben cannot read Ana's media.
    assert.ok((await ben.db.storage.from('conversation-media').download(img.storage_object_name)).error);
    // An expired attachment URL is recorded as failed (with the reason) and retried by cron later.
    const gone = await until('the expired attachment to fail', async () => { const m = await message(`mid_gone_${run}`); return m.metadata.media_status === 'failed' ? m : null; });
    assert.equal(gone.storage_object_name, null);
    assert.match(gone.metadata.media_error, /answered 404/);
    assert.equal(gone.metadata.media_attempts, 1);
    b.sql(`update public.conversation_messages set metadata = metadata || '{"media_tried_at": "2000-01-01T00:00:00Z"}' where external_message_id = 'mid_gone_${run}'`);
    await until('the cron job to retry it', async () => (await message(`mid_gone_${run}`)).metadata.media_attempts === 2);
    assert.equal((await ana.db.functions.invoke('fetch-dm-media', { body: {} })).error?.context?.status, 403);
  });

  test('Whop webhook: signed memberships and payments applied once with source whop; unsigned, wrong and stale refused', async () => {
    const hook = `${b.url}/functions/v1/whop-webhook`;
    // A Whop product carrying monthly credits, as the catalogue sync would have it.
    ok(await admin().from('products').insert({ id: `prod_whop_${run}`, name: 'Pro (Whop)', source: 'whop', metadata: { credits: 800 } }));
    const membership = (id, type, status) => JSON.stringify({
      id, api_version: 'v1', timestamp: new Date().toISOString(), type, company_id: 'biz_e2e',
      data: { id: `mem_${run}`, status, cancel_at_period_end: false, renewal_period_start: '2026-12-01T00:00:00Z', renewal_period_end: '2027-01-01T00:00:00Z',
        product: { id: `prod_whop_${run}`, title: 'Pro (Whop)' }, plan: { id: `plan_${run}`, renewal_price: 29, currency: 'usd', plan_type: 'renewal' },
        user: { id: `user_whop_${run}`, username: 'ana', email: ana.email }, metadata: {} },
    });
    const activated = membership(`msg_act_${run}`, 'membership.activated', 'active');
    const count = () => Number(scalar(`select count(*) from public.webhook_events where source = 'whop'`));
    // Refused: no headers, a wrong secret, a tampered body, a stale timestamp.
    assert.equal((await postWebhook(hook, activated, {})).status, 401);
    assert.equal((await postWebhook(hook, activated, whopHeaders('ws_wrong', `msg_act_${run}`, activated))).status, 401);
    assert.equal((await postWebhook(hook, activated.replace('"active"', '"trialing"'), whopHeaders(WHOP_SECRET, `msg_act_${run}`, activated))).status, 401);
    assert.equal((await postWebhook(hook, activated, whopHeaders(WHOP_SECRET, `msg_act_${run}`, activated, Math.floor(Date.now() / 1000) - 600))).status, 401);
    assert.equal(count(), 0);
    assert.deepEqual(ok(await ana.db.from('subscriptions').select('id')), []);

    let r = await postWebhook(hook, activated, whopHeaders(WHOP_SECRET, `msg_act_${run}`, activated));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.outcome, 'processed');
    const sub = ok(await ana.db.from('subscriptions').select('id, status, source, price_id, current_period_end').single());
    assert.deepEqual([sub.id, sub.status, sub.source, sub.price_id], [`mem_${run}`, 'active', 'whop', `plan_${run}`]);
    assert.equal(new Date(sub.current_period_end).toISOString(), '2027-01-01T00:00:00.000Z');
    assert.deepEqual(b.sql(`select whop_customer_id, stripe_customer_id is null from public.customers where id = ${q(ana.id)}`), [[`user_whop_${run}`, 't']]);
    assert.deepEqual(ok(await ana.db.from('prices').select('product_id, unit_amount, currency, type').eq('id', `plan_${run}`).single()), { product_id: `prod_whop_${run}`, unit_amount: 2900, currency: 'usd', type: 'recurring' });
    assert.deepEqual(ok(await ana.db.from('user_credits').select('plan_credits, subscription_id').single()), { plan_credits: 800, subscription_id: `mem_${run}` });
    assert.deepEqual(b.sql(`select whop_event_id, stripe_event_id is null, event_type from public.webhook_events where source = 'whop'`), [[`msg_act_${run}`, 't', 'membership.activated']]);
    // The same delivery again (Whop retries with the same id): nothing changes.
    r = await postWebhook(hook, activated, whopHeaders(WHOP_SECRET, `msg_act_${run}`, activated));
    assert.deepEqual([r.status, r.body], [200, { duplicate: true }]);
    assert.equal(count(), 1);
    assert.deepEqual(ok(await ben.db.from('subscriptions').select('id')), []);

    // A credit pack paid through Whop: credits granted once.
    const before = ok(await ana.db.from('user_credits').select('credits_balance').single()).credits_balance;
    const pay = JSON.stringify({ id: `msg_pay_${run}`, api_version: 'v1', timestamp: new Date().toISOString(), type: 'payment.succeeded',
      data: { id: `pay_${run}`, total: 9, currency: 'usd', user: { id: `user_whop_${run}`, email: ana.email }, product: { id: `prod_pack_${run}`, title: '300 credits' }, plan: { id: `plan_pack_${run}`, plan_type: 'one_time', currency: 'usd', initial_price: 9 }, metadata: { credits: '300' } } });
    r = await postWebhook(hook, pay, whopHeaders(WHOP_SECRET, `msg_pay_${run}`, pay));
    assert.equal(r.body.credits_balance, before + 300);
    r = await postWebhook(hook, pay, whopHeaders(WHOP_SECRET, `msg_pay_${run}`, pay));
    assert.deepEqual(r.body, { duplicate: true });
    assert.equal(ok(await ana.db.from('user_credits').select('credits_balance').single()).credits_balance, before + 300);
    const tx = ok(await ana.db.from('credit_transactions').select('transaction_type, credits_amount, metadata').eq('transaction_type', 'purchase'));
    assert.deepEqual(tx.map((t) => [t.credits_amount, t.metadata.whop_payment]), [[300, `pay_${run}`]]);
    assert.equal(ok(await admin().from('products').select('source').eq('id', `prod_pack_${run}`).single()).source, 'whop');

    // Deactivated: the subscription is canceled and the plan's credits cleared.
    const ended = membership(`msg_end_${run}`, 'membership.deactivated', 'canceled');
    r = await postWebhook(hook, ended, whopHeaders(WHOP_SECRET, `msg_end_${run}`, ended));
    assert.equal(r.status, 200);
    assert.equal(ok(await ana.db.from('subscriptions').select('status').single()).status, 'canceled');
    assert.deepEqual(ok(await ana.db.from('user_credits').select('plan_credits, subscription_id').single()), { plan_credits: 0, subscription_id: null });
    // An unknown Whop user: 500, unrecorded (Whop retries); a malformed event: 400.
    const stranger = JSON.stringify({ id: `msg_x_${run}`, type: 'membership.activated', data: { id: `mem_x_${run}`, status: 'active', user: { id: 'user_nobody', email: 'nobody@nowhere.test' } } });
    assert.equal((await postWebhook(hook, stranger, whopHeaders(WHOP_SECRET, `msg_x_${run}`, stranger))).status, 500);
    assert.equal(Number(scalar(`select count(*) from public.webhook_events where whop_event_id = 'msg_x_${run}'`)), 0);
    const junk = JSON.stringify({ id: `msg_j_${run}`, hello: 'world' });
    assert.equal((await postWebhook(hook, junk, whopHeaders(WHOP_SECRET, `msg_j_${run}`, junk))).status, 400);
    assert.equal(count(), 3);
    assert.ok((await ana.db.rpc('apply_whop_event', { p_event_id: 'msg_forged', p_event: JSON.parse(activated) })).error);
  });

  test('LangGraph checkpointer: put, pending writes and get as the Postgres saver does; service role only', async () => {
    const thread = `studio-${run}`;
    ok(await ana.db.from('ai_studio_conversation_metadata').insert({ thread_id: thread, user_id: ana.id, title: 'Glaze ideas' }));
    const blob = (s) => Buffer.from(s).toString('base64');
    const cp1 = { v: 1, id: '1f0a-0001', ts: '2026-12-03T10:00:00Z', channel_versions: { messages: '00001.1', __start__: '00001.1' }, versions_seen: {} };
    ok(await admin().rpc('checkpoint_put', { p_thread_id: thread, p_checkpoint_ns: '', p_checkpoint_id: cp1.id, p_parent_checkpoint_id: null, p_checkpoint: cp1, p_metadata: { source: 'input', step: -1 },
      p_blobs: [{ channel: 'messages', version: '00001.1', type: 'msgpack', blob: blob('[hi]') }, { channel: '__start__', version: '00001.1', type: 'msgpack', blob: blob('{start}') }] }));
    const cp2 = { v: 1, id: '1f0a-0002', ts: '2026-12-03T10:00:01Z', channel_versions: { messages: '00002.1', __start__: '00001.1' }, versions_seen: { agent: { messages: '00001.1' } } };
    ok(await admin().rpc('checkpoint_put', { p_thread_id: thread, p_checkpoint_ns: '', p_checkpoint_id: cp2.id, p_parent_checkpoint_id: cp1.id, p_checkpoint: cp2, p_metadata: { source: 'loop', step: 0 },
      p_blobs: [{ channel: 'messages', version: '00002.1', type: 'msgpack', blob: blob('[hi, hello]') }] }));
    assert.equal(ok(await admin().rpc('checkpoint_put_writes', { p_thread_id: thread, p_checkpoint_ns: '', p_checkpoint_id: cp2.id, p_task_id: 'task-a', p_task_path: '~__pregel_pull, agent',
      p_writes: [{ idx: 0, channel: 'messages', type: 'msgpack', blob: blob('[draft]') }, { idx: -1, channel: '__error__', type: 'msgpack', blob: blob('oops') }] })), 2);
    // A regular write is kept once; a special channel's write is replaced.
    ok(await admin().rpc('checkpoint_put_writes', { p_thread_id: thread, p_checkpoint_ns: '', p_checkpoint_id: cp2.id, p_task_id: 'task-a', p_task_path: '~__pregel_pull, agent',
      p_writes: [{ idx: 0, channel: 'messages', type: 'msgpack', blob: blob('[changed]') }, { idx: -1, channel: '__error__', type: 'msgpack', blob: blob('fixed') }] }));

    const latest = ok(await admin().rpc('checkpoint_get', { p_thread_id: thread, p_checkpoint_ns: '', p_checkpoint_id: null }));
    assert.equal(latest.checkpoint_id, cp2.id);
    assert.equal(latest.parent_checkpoint_id, cp1.id);
    assert.deepEqual(latest.metadata, { source: 'loop', step: 0 });
    const values = Object.fromEntries(latest.channel_values.map((c) => [c.channel, Buffer.from(c.blob, 'base64').toString()]));
    assert.deepEqual(values, { messages: '[hi, hello]', __start__: '{start}' });
    assert.deepEqual(latest.pending_writes.map((w) => [w.idx, w.channel, Buffer.from(w.blob, 'base64').toString()]), [[-1, '__error__', 'fixed'], [0, 'messages', '[draft]']]);
    const first = ok(await admin().rpc('checkpoint_get', { p_thread_id: thread, p_checkpoint_ns: '', p_checkpoint_id: cp1.id }));
    assert.deepEqual(Object.fromEntries(first.channel_values.map((c) => [c.channel, Buffer.from(c.blob, 'base64').toString()])), { messages: '[hi]', __start__: '{start}' });
    assert.deepEqual(first.pending_writes, []);
    assert.equal(ok(await admin().rpc('checkpoint_get', { p_thread_id: 'no-such-thread', p_checkpoint_ns: '', p_checkpoint_id: null })), null);
    // Rows as the design keys them: blobs by channel and version, writes by task and index.
    assert.equal(Number(scalar(`select count(*) from public.checkpoint_blobs where thread_id = ${q(thread)}`)), 3);
    assert.equal(Number(scalar(`select count(*) from public.checkpoint_writes where thread_id = ${q(thread)}`)), 2);
    // Ana reads her thread's checkpoints (not the blobs or writes), Ben nothing; users cannot call the saver.
    assert.deepEqual(ok(await ana.db.from('checkpoints').select('checkpoint_id').eq('thread_id', thread).order('checkpoint_id')).map((c) => c.checkpoint_id), [cp1.id, cp2.id]);
    assert.deepEqual(ok(await ben.db.from('checkpoints').select('checkpoint_id').eq('thread_id', thread)), []);
    for (const t of ['checkpoint_blobs', 'checkpoint_writes']) {
      const r = await ana.db.from(t).select('channel').eq('thread_id', thread);
      assert.ok(r.error || r.data.length === 0, `${t}: ${JSON.stringify(r.data)}`);
    }
    assert.ok((await ana.db.rpc('checkpoint_get', { p_thread_id: thread, p_checkpoint_ns: '', p_checkpoint_id: null })).error);
    assert.ok((await ana.db.rpc('checkpoint_put', { p_thread_id: thread, p_checkpoint_ns: '', p_checkpoint_id: 'x', p_parent_checkpoint_id: null, p_checkpoint: {}, p_metadata: {}, p_blobs: [] })).error);
  });
});
