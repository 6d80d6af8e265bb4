// examples/trvl-social's workers through the real supabase-js against `basalt start`: automated
// moderation (keyword rules on posts and comments, automated flags, three reports hide a post),
// the feed builder (get_feed ranks what the caller may see, under row level security), and
// email/push delivery of notifications by the deliver-notifications function and its cron job
// against local fakes of an email API (Resend's shape) and a push API (Expo's shape).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createClient } from '@supabase/supabase-js';
import ws from 'ws';
import { ok, q, assertInsertRefused } from './lib/checks.mjs';
import { startBasalt, createUserRow, repoRoot } from './lib/basalt.mjs';
import { startFakeApi } from './lib/fake-api.mjs';

const projectDir = join(repoRoot, 'examples/trvl-social');
const ANA = '11111111-1111-4111-8111-111111111111'; // seeded; connected to Ben
const BEN = '22222222-2222-4222-8222-222222222222';
const KAI = '33333333-3333-4333-8333-333333333333';
const MILA = randomUUID(); // traveller
const NOAH = randomUUID(); // traveller
const OMAR = randomUUID(); // traveller
const MOD = randomUUID(); // admin

let b;
let provider; // the fake email + push provider
before(async () => {
  provider = await startFakeApi((call) => {
    if (call.method === 'POST' && call.path === '/email/emails') {
      if (call.headers.authorization !== 'Bearer re_fake') return { status: 401, body: { name: 'validation_error', message: 'API key is invalid' } };
      if (call.body.to[0].startsWith('bounce')) return { status: 422, body: { name: 'validation_error', message: 'Invalid `to` field.' } };
      return { body: { id: `re_${provider.calls.length}` } };
    }
    if (call.method === 'POST' && call.path === '/push/push/send') {
      return { body: { data: call.body.map((m, i) => (m.to.startsWith('ExponentPushToken[') ? { status: 'ok', id: `tkt_${provider.calls.length}_${i}` } : { status: 'error', message: 'DeviceNotRegistered' })) } };
    }
    return undefined;
  });
  b = await startBasalt({
    projectDir,
    functions: { '.env': `EMAIL_API_URL=${provider.url}/email\nEMAIL_API_KEY=re_fake\nEMAIL_FROM=TRVL <hello@trvl.test>\nPUSH_API_URL=${provider.url}/push\n` },
  });
  createUserRow(b, MILA, 'mila@trvl.test');
  createUserRow(b, NOAH, 'noah@trvl.test');
  createUserRow(b, OMAR, 'omar@trvl.test');
  createUserRow(b, MOD, 'moderator@trvl-workers.test');
  b.sql(`update public.profiles set role = 'admin' where id = ${q(MOD)}`);
});
after(async () => { await b?.stop(); await provider?.close(); });

const opts = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } };
function as(sub) {
  const now = Math.floor(Date.now() / 1000);
  const token = b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 });
  return createClient(b.url, b.anonKey, { realtime: { transport: ws }, accessToken: async () => token });
}
const scalar = (sql) => b.sql(sql)[0]?.[0];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('automated moderation: keyword rules hide or flag posts and comments; three reports hide a post pending review', async () => {
  const mila = as(MILA);
  const noah = as(NOAH);
  const mod = as(MOD);
  // Admins write rules (an invalid pattern is refused); the seeded crypto-spam rule hides.
  ok(await mod.from('automated_moderation_rules').insert({ name: 'phone-numbers', content_type: 'comment', pattern: '\\+?[0-9][0-9 ]{8,}[0-9]', action: 'flag' }).select());
  const bad = await mod.from('automated_moderation_rules').insert({ name: 'broken', content_type: 'post', pattern: '(unclosed', action: 'hide' });
  assert.ok(bad.error, 'an invalid pattern was accepted');
  assertInsertRefused(await mila.from('automated_moderation_rules').insert({ name: 'mine', content_type: 'post', pattern: 'x', action: 'hide' }), 'a traveller writes a rule');

  // A post matching a hide rule is hidden at once: its author still sees it, others do not.
  const spam = ok(await mila.from('posts').insert({ user_id: MILA, content: 'Get FREE   crypto on every booking!', visibility: 'public' }).select().single());
  assert.equal(ok(await mila.from('posts').select('is_hidden').eq('id', spam.id).single()).is_hidden, true);
  assert.deepEqual(ok(await noah.from('posts').select('id').eq('id', spam.id)), []);
  assert.deepEqual(ok(await createClient(b.url, b.anonKey, opts).from('posts').select('id').eq('id', spam.id)), []);
  const actions = ok(await mod.from('moderation_actions').select('action, automated, moderator_id, notes').eq('target_id', spam.id));
  assert.deepEqual(actions, [{ action: 'hide', automated: true, moderator_id: null, notes: 'automated rule crypto-spam' }]);
  const told = ok(await mila.from('notifications').select('type, title, data').eq('type', 'system'));
  assert.equal(told.length, 1);
  assert.equal(told[0].title, 'Your post was hidden');
  assert.equal(told[0].data.target_id, spam.id);
  // The author cannot unhide it; an edit that no longer matches leaves it hidden for review.
  ok(await mila.from('posts').update({ content: 'Great trip, no crypto here' }).eq('id', spam.id).select());
  assert.equal(scalar(`select is_hidden from public.posts where id = ${q(spam.id)}`), 't');

  // A clean post stays; a comment with a phone number is flagged for the admins, not hidden.
  const post = ok(await mila.from('posts').insert({ user_id: MILA, content: 'Sunrise over Torres del Paine', visibility: 'public' }).select().single());
  assert.equal(post.is_hidden, false);
  const comment = ok(await noah.from('comments').insert({ post_id: post.id, user_id: NOAH, content: 'Call me on +56 9 1234 5678 for a cheaper tour' }).select().single());
  assert.equal(ok(await mila.from('comments').select('id').eq('id', comment.id)).length, 1, 'a flagged comment stays visible');
  const flags = ok(await mod.from('content_reports').select('automated, reporter_id, status, details').eq('content_id', comment.id));
  assert.deepEqual(flags, [{ automated: true, reporter_id: null, status: 'open', details: 'flagged by automated rule phone-numbers' }]);
  assert.deepEqual(ok(await noah.from('content_reports').select('id').eq('content_id', comment.id)), [], 'the author does not see the flag');
  // Travellers cannot file automated reports or reports without a reporter.
  assert.ok((await mila.from('content_reports').insert({ reporter_id: null, automated: true, content_type: 'post', content_id: post.id, reason: 'spam' })).error);

  // Reports from three different people hide the post until an admin reviews; the same person
  // reporting twice does not count twice.
  const target = ok(await noah.from('posts').insert({ user_id: NOAH, content: 'Selling my booking, DM me', visibility: 'public' }).select().single());
  for (const [who, id] of [[mila, MILA], [mila, MILA], [as(OMAR), OMAR]]) {
    ok(await who.from('content_reports').insert({ reporter_id: id, content_type: 'post', content_id: target.id, reason: 'scam' }).select());
  }
  assert.equal(scalar(`select is_hidden from public.posts where id = ${q(target.id)}`), 'f', 'two reporters are not enough');
  ok(await as(KAI).from('content_reports').insert({ reporter_id: KAI, content_type: 'post', content_id: target.id, reason: 'scam' }).select());
  assert.equal(scalar(`select is_hidden from public.posts where id = ${q(target.id)}`), 't');
  assert.deepEqual(ok(await mila.from('posts').select('id').eq('id', target.id)), []);
  assert.equal(ok(await mod.from('content_reports').select('id').eq('content_id', target.id).eq('status', 'open')).length, 4, 'the reports wait for review');
  // The admin reviews and restores it.
  ok(await mod.from('moderation_actions').insert({ moderator_id: MOD, target_type: 'post', target_id: target.id, action: 'unhide', notes: 'legitimate resale' }).select());
  assert.equal(ok(await mila.from('posts').select('id').eq('id', target.id)).length, 1);
});

test('feed builder: get_feed ranks what the caller may see, connections first, popular above quiet, hidden and private never', async () => {
  const ben = as(BEN);
  const ana = as(ANA);
  // Ana (Ben's connection) posts for connections; Omar posts publicly twice, one popular;
  // Noah posts privately; Omar's third post is hidden by moderation.
  const friends = ok(await ana.from('posts').insert({ user_id: ANA, content: 'Crew dinner on Friday?', visibility: 'connections' }).select().single());
  const quiet = ok(await as(OMAR).from('posts').insert({ user_id: OMAR, content: 'Rainy day in Hanoi', visibility: 'public' }).select().single());
  const popular = ok(await as(OMAR).from('posts').insert({ user_id: OMAR, content: 'Ha Long Bay at dawn', visibility: 'public' }).select().single());
  for (const id of [MILA, NOAH, KAI]) ok(await as(id).from('post_likes').insert({ post_id: popular.id, user_id: id }).select());
  const secret = ok(await as(NOAH).from('posts').insert({ user_id: NOAH, content: 'Note to self', visibility: 'private' }).select().single());
  const hidden = ok(await as(OMAR).from('posts').insert({ user_id: OMAR, content: 'free crypto giveaway', visibility: 'public' }).select().single());
  const mine = ok(await ben.from('posts').insert({ user_id: BEN, content: 'My own post', visibility: 'public' }).select().single());

  const feed = ok(await ben.rpc('get_feed', { p_limit: 50 }));
  const ids = feed.map((f) => f.post_id);
  // Ben's connection is Ana: her posts (the seeded ones and the new one) rank above everyone else's.
  const firstOther = feed.findIndex((f) => f.reason !== 'connection');
  assert.ok(firstOther > 0 && feed.slice(firstOther).every((f) => f.reason !== 'connection'), `connections first: ${JSON.stringify(feed.map((f) => [f.reason, f.score]))}`);
  assert.ok(feed.slice(0, firstOther).every((f) => f.author_id === ANA));
  assert.equal(feed.find((f) => f.post_id === friends.id).reason, 'connection');
  assert.ok(ids.indexOf(popular.id) < ids.indexOf(quiet.id), 'popular above quiet');
  assert.equal(feed.find((f) => f.post_id === popular.id).reason, 'popular');
  for (const [what, p] of [['private', secret], ['hidden', hidden], ['own', mine]]) assert.ok(!ids.includes(p.id), `${what} post in the feed`);
  assert.deepEqual(feed.map((f) => Number(f.score)), feed.map((f) => Number(f.score)).sort((x, y) => y - x), 'ranked by score');
  // The ranking is kept for the caller only: Ben reads his feed items, marks one seen; Mila
  // sees none of his and does not get Ana's connections-only post.
  const kept = ok(await ben.from('community_feed_items').select('post_id, score').order('score', { ascending: false }));
  assert.deepEqual(kept.map((k) => k.post_id).sort(), [...ids].sort());
  assert.equal(kept[0].post_id, ids[0]);
  ok(await ben.from('community_feed_items').update({ seen_at: new Date().toISOString() }).eq('post_id', friends.id).select());
  assert.ok(ok(await ben.rpc('get_feed', { p_limit: 50 })).find((f) => f.post_id === friends.id).seen_at, 'seen is kept across rebuilds');
  assert.deepEqual(ok(await as(MILA).from('community_feed_items').select('post_id').eq('user_id', BEN)), []);
  const milaFeed = ok(await as(MILA).rpc('get_feed', {})).map((f) => f.post_id);
  assert.ok(!milaFeed.includes(friends.id), 'a connections-only post reached a stranger');
  assert.ok(milaFeed.includes(popular.id));
  // Clients cannot write rankings; anon has no feed.
  assertInsertRefused(await ben.from('community_feed_items').insert({ user_id: BEN, post_id: quiet.id, score: 9999 }), 'a client ranks');
  assert.ok((await createClient(b.url, b.anonKey, opts).rpc('get_feed', {})).error, 'anon reads a feed');
  // When Ana's post is hidden, the next build drops it; the cron job re-ranks feeds.
  b.sql(`update public.posts set is_hidden = true where id = ${q(friends.id)}`);
  assert.ok(!ok(await ben.rpc('get_feed', { p_limit: 50 })).some((f) => f.post_id === friends.id));
  assert.ok(Number(scalar('select private.refresh_feeds()')) >= 2);
  const jobs = b.sql(`select jobname, schedule from cron.job where jobname in ('trvl-refresh-feeds', 'trvl-deliver-notifications') order by jobname`);
  assert.deepEqual(jobs, [['trvl-deliver-notifications', '30 seconds'], ['trvl-refresh-feeds', '*/15 * * * *']]);
});

test('email and push: new notifications go out through the providers the user allows, once; the user reads the outcome', async () => {
  const mila = as(MILA);
  const noah = as(NOAH);
  // Mila has a phone for push; Noah turned social email off; Omar's address bounces.
  ok(await mila.from('push_tokens').insert({ user_id: MILA, token: 'ExponentPushToken[mila-phone]' }).select());
  assertInsertRefused(await noah.from('push_tokens').insert({ user_id: MILA, token: 'ExponentPushToken[not-mila]' }), 'a token for someone else');
  assert.deepEqual(ok(await noah.from('push_tokens').select('token')), []);
  ok(await noah.from('notification_settings').update({ social_activity: false }).eq('user_id', NOAH).select());
  b.sql(`update auth.users set email = 'bounce-omar@trvl.test' where id = ${q(OMAR)}`);
  // Everything before now was delivered by an earlier run: start clean.
  b.sql(`insert into public.notification_deliveries (notification_id, user_id, channel, status)
         select id, user_id, 'none', 'skipped' from public.notifications on conflict do nothing`);
  const since = scalar('select now()::text');

  const post = ok(await noah.from('posts').insert({ user_id: NOAH, content: 'Kayaking Milford Sound', visibility: 'public' }).select().single());
  const milaPost = ok(await mila.from('posts').insert({ user_id: MILA, content: 'Atacama stars', visibility: 'public' }).select().single());
  const omarPost = ok(await as(OMAR).from('posts').insert({ user_id: OMAR, content: 'Salar de Uyuni', visibility: 'public' }).select().single());
  ok(await mila.from('post_likes').insert({ post_id: post.id, user_id: MILA }).select()); // → Noah (social email off, no device)
  ok(await noah.from('post_likes').insert({ post_id: milaPost.id, user_id: NOAH }).select()); // → Mila (email + push)
  ok(await noah.from('post_likes').insert({ post_id: omarPost.id, user_id: NOAH }).select()); // → Omar (email bounces)

  // The cron job calls the function through pg_net with the Vault secrets.
  b.sql(`select private.set_function_secrets(${q(b.url)}, ${q(b.serviceKey)})`);
  const delivered = () => b.sql(`select channel, status from public.notification_deliveries d join public.notifications n on n.id = d.notification_id
                                 where n.type = 'post_like' and n.user_id = ${q(MILA)} and n.created_at > ${q(since)} order by channel`);
  for (let i = 0; i < 150 && delivered().filter(([, s]) => s !== 'sending').length < 2; i++) await sleep(200);
  assert.deepEqual(delivered(), [['email', 'sent'], ['push', 'sent']]);

  const emails = provider.to('/email/emails');
  const toMila = emails.filter((c) => c.body.to[0] === 'mila@trvl.test');
  assert.equal(toMila.length, 1);
  assert.equal(toMila[0].body.from, 'TRVL <hello@trvl.test>');
  assert.ok(toMila[0].body.subject.length > 0);
  assert.equal(emails.filter((c) => c.body.to[0] === 'noah@trvl.test').length, 0, 'Noah turned social email off');
  const pushes = provider.to('/push/push/send').filter((c) => c.body[0].to === 'ExponentPushToken[mila-phone]');
  assert.equal(pushes.length, 1);
  assert.equal(pushes[0].body[0].data.type, 'post_like');
  // Mila reads her deliveries; Noah's like was skipped for him; Omar's bounce is recorded.
  const mine = ok(await mila.from('notification_deliveries').select('channel, status, provider_id').neq('channel', 'none').order('channel'));
  assert.deepEqual(mine.map((d) => [d.channel, d.status]), [['email', 'sent'], ['push', 'sent']]);
  assert.match(mine[0].provider_id, /^re_/);
  assert.deepEqual(ok(await noah.from('notification_deliveries').select('channel, status').eq('status', 'skipped')).length >= 1, true);
  for (let i = 0; i < 50 && scalar(`select status from public.notification_deliveries d join public.notifications n on n.id = d.notification_id where n.user_id = ${q(OMAR)} and d.channel = 'email' and n.type = 'post_like'`) !== 'failed'; i++) await sleep(200);
  assert.match(scalar(`select error from public.notification_deliveries d join public.notifications n on n.id = d.notification_id where n.user_id = ${q(OMAR)} and d.channel = 'email' and n.type = 'post_like'`), /422/);
  assert.deepEqual(ok(await noah.from('notification_deliveries').select('id').eq('user_id', MILA)), [], 'others\' deliveries are private');
  assertInsertRefused(await mila.from('notification_deliveries').insert({ notification_id: randomUUID(), user_id: MILA, channel: 'email' }), 'a client records a delivery');

  // Nothing goes out twice, however often the function runs; only the service role runs it.
  const before = provider.calls.length;
  const again = await createClient(b.url, b.serviceKey, opts).functions.invoke('deliver-notifications', { body: {} });
  assert.equal(again.error, null, String(again.error));
  assert.deepEqual(again.data.deliveries, []);
  assert.equal(provider.calls.length, before);
  const refused = await mila.functions.invoke('deliver-notifications', { body: {} });
  assert.equal(refused.error?.context?.status, 403);
});
