// Auth end to end: the real supabase-js against `basalt start` — sign-up confirmed through the
// development mailbox, password sign-in, refresh and auto-refresh across expiry, user updates,
// sign-out, password recovery, magic links, anonymous sign-in, MFA raising `aal`, the admin API,
// and the issued token driving `auth.uid()` under RLS in /rest/v1.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import ws from 'ws';
import { startBasalt } from './lib/basalt.mjs';
import { mailFor as mailbox, follow } from './lib/mailbox.mjs';

/** A supabase-js client of instance `inst` (Node 20 needs `ws` for realtime). */
function client(inst = b, key = inst.anonKey, auth = {}) {
  return inst.client(key, { auth: { persistSession: false, autoRefreshToken: false, ...auth }, realtime: { transport: ws } });
}

let b;
before(async () => {
  b = await startBasalt({
    config: `
[auth]
site_url = "http://127.0.0.1:3000"
enable_anonymous_sign_ins = true

[auth.email]
enable_confirmations = true
max_frequency = "0s"
`,
    migrations: {
      '0001_notes.sql': `
create table public.notes (id bigserial primary key, owner uuid not null default auth.uid() references auth.users(id) on delete cascade, body text not null);
alter table public.notes enable row level security;
create policy "own notes" on public.notes for all to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
`,
    },
  });
});
after(async () => { await b?.stop(); });

/** The development mailbox for an address, newest first. */
const mailFor = (email) => mailbox(b, email);

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}

/** The current TOTP code (RFC 6238, SHA-1, 6 digits, 30 s). */
function totp(secret) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const h = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1000000).padStart(6, '0');
}

/** A confirmed user with a password, through sign-up and the emailed link. */
async function confirmedUser(email, password) {
  const c = client();
  const { data, error } = await c.auth.signUp({ email, password });
  assert.equal(error, null);
  assert.equal(data.session, null);
  const [mail] = await mailFor(email);
  await follow(mail.action_link);
  return c;
}

test('sign up, confirm through the mailbox, sign in', async () => {
  const c = client();
  const { data, error } = await c.auth.signUp({ email: 'ada@example.com', password: 'analytical', options: { data: { name: 'Ada' } } });
  assert.equal(error, null);
  assert.equal(data.session, null);
  assert.equal(data.user.email, 'ada@example.com');
  assert.equal(data.user.user_metadata.name, 'Ada');

  const early = await c.auth.signInWithPassword({ email: 'ada@example.com', password: 'analytical' });
  assert.equal(early.error.code, 'email_not_confirmed');
  assert.equal(early.error.status, 400);

  const [mail] = await mailFor('ada@example.com');
  assert.equal(mail.type, 'signup');
  const landed = await follow(mail.action_link);
  assert.equal(landed.origin, 'http://127.0.0.1:3000');
  const frag = new URLSearchParams(landed.hash.slice(1));
  assert.equal(frag.get('type'), 'signup');
  const set = await c.auth.setSession({ access_token: frag.get('access_token'), refresh_token: frag.get('refresh_token') });
  assert.equal(set.error, null);
  const me = await c.auth.getUser();
  assert.equal(me.error, null);
  assert.ok(me.data.user.email_confirmed_at);

  const s = await client().auth.signInWithPassword({ email: 'ada@example.com', password: 'analytical' });
  assert.equal(s.error, null);
  assert.equal(s.data.session.token_type, 'bearer');
  assert.equal(s.data.session.expires_in, 3600);
  assert.equal(s.data.user.id, me.data.user.id);

  const bad = await client().auth.signInWithPassword({ email: 'ada@example.com', password: 'wrong-one' });
  assert.equal(bad.error.name, 'AuthApiError');
  assert.equal(bad.error.code, 'invalid_credentials');
  assert.equal(bad.error.message, 'Invalid login credentials');
});

test('refresh rotates the refresh token', async () => {
  const c = await confirmedUser('rot@example.com', 'rotation');
  const { data } = await c.auth.signInWithPassword({ email: 'rot@example.com', password: 'rotation' });
  const first = data.session.refresh_token;
  const r = await c.auth.refreshSession();
  assert.equal(r.error, null);
  assert.notEqual(r.data.session.refresh_token, first);
  // A second tab with the old token inside the reuse interval gets the same child.
  const other = client();
  const again = await other.auth.refreshSession({ refresh_token: first });
  assert.equal(again.error, null);
  assert.equal(again.data.session.refresh_token, r.data.session.refresh_token);
  const missing = await client().auth.refreshSession({ refresh_token: 'abcdefghij12' });
  assert.equal(missing.error.code, 'refresh_token_not_found');
  const malformed = await client().auth.refreshSession({ refresh_token: 'not-a-token' });
  assert.equal(malformed.error.code, 'validation_failed');
  assert.equal(malformed.error.message, 'Refresh token is not valid');
});

test('update the user, then sign out', async () => {
  const c = await confirmedUser('upd@example.com', 'first-pass');
  await c.auth.signInWithPassword({ email: 'upd@example.com', password: 'first-pass' });
  const u = await c.auth.updateUser({ data: { plan: 'pro' } });
  assert.equal(u.error, null);
  assert.equal(u.data.user.user_metadata.plan, 'pro');
  const p = await c.auth.updateUser({ password: 'second-pass' });
  assert.equal(p.error, null);
  const same = await c.auth.updateUser({ password: 'second-pass' });
  assert.equal(same.error.code, 'same_password');
  const weak = await c.auth.updateUser({ password: 'x' });
  assert.equal(weak.error.name, 'AuthWeakPasswordError');
  assert.deepEqual(weak.error.reasons, ['length']);
  assert.equal((await client().auth.signInWithPassword({ email: 'upd@example.com', password: 'second-pass' })).error, null);

  const token = (await c.auth.getSession()).data.session.access_token;
  const out = await c.auth.signOut();
  assert.equal(out.error, null);
  assert.equal((await c.auth.getSession()).data.session, null);
  const stale = await client().auth.getUser(token);
  // supabase-js turns GoTrue's session_not_found into AuthSessionMissingError.
  assert.equal(stale.error.name, 'AuthSessionMissingError');
});

test('recover a password through the emailed token', async () => {
  await confirmedUser('lost@example.com', 'forgotten');
  const c = client();
  const r = await c.auth.resetPasswordForEmail('lost@example.com', { redirectTo: 'http://127.0.0.1:3000/reset' });
  assert.equal(r.error, null);
  assert.deepEqual(r.data, {});
  const unknown = await c.auth.resetPasswordForEmail('nobody@example.com');
  assert.equal(unknown.error, null);
  const [mail] = await mailFor('lost@example.com');
  assert.equal(mail.type, 'recovery');
  const tokenHash = new URL(mail.action_link).searchParams.get('token');
  const v = await c.auth.verifyOtp({ token_hash: tokenHash, type: 'recovery' });
  assert.equal(v.error, null);
  assert.ok(v.data.session.access_token);
  assert.equal((await c.auth.updateUser({ password: 'remembered' })).error, null);
  assert.equal((await client().auth.signInWithPassword({ email: 'lost@example.com', password: 'remembered' })).error, null);
});

test('magic link and email code', async () => {
  await confirmedUser('magic@example.com', 'abracadabra');
  const c = client();
  const r = await c.auth.signInWithOtp({ email: 'magic@example.com', options: { shouldCreateUser: false } });
  assert.equal(r.error, null);
  const [mail] = await mailFor('magic@example.com');
  assert.equal(mail.type, 'magiclink');
  const v = await c.auth.verifyOtp({ email: 'magic@example.com', token: mail.otp, type: 'email' });
  assert.equal(v.error, null);
  assert.equal(v.data.user.email, 'magic@example.com');

  // A second magic link, followed as a link.
  await client().auth.signInWithOtp({ email: 'magic@example.com' });
  const [link] = await mailFor('magic@example.com');
  const landed = await follow(link.action_link);
  assert.ok(new URLSearchParams(landed.hash.slice(1)).get('access_token'));
});

test('anonymous sign-in', async () => {
  const c = client();
  const { data, error } = await c.auth.signInAnonymously({ options: { data: { guest: true } } });
  assert.equal(error, null);
  assert.equal(data.user.is_anonymous, true);
  assert.equal(data.user.user_metadata.guest, true);
  assert.ok(data.session.access_token);
});

test('MFA TOTP enroll and verify raise aal', async () => {
  await confirmedUser('mfa@example.com', 'two-factors');
  const c = client();
  await c.auth.signInWithPassword({ email: 'mfa@example.com', password: 'two-factors' });
  const e = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'app' });
  assert.equal(e.error, null);
  assert.match(e.data.totp.qr_code, /^data:image\/svg\+xml;utf-8,(<\?xml[^>]*>)?<svg/);
  const ch = await c.auth.mfa.challenge({ factorId: e.data.id });
  assert.equal(ch.error, null);
  const wrong = await c.auth.mfa.verify({ factorId: e.data.id, challengeId: ch.data.id, code: '000000' });
  assert.equal(wrong.error?.code ?? 'lucky', totp(e.data.totp.secret) === '000000' ? 'lucky' : 'mfa_verification_failed');
  const v = await c.auth.mfa.verify({ factorId: e.data.id, challengeId: ch.data.id, code: totp(e.data.totp.secret) });
  assert.equal(v.error, null);
  const aal = await c.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.equal(aal.data.currentLevel, 'aal2');
  assert.equal(aal.data.nextLevel, 'aal2');
  const factors = await c.auth.mfa.listFactors();
  assert.equal(factors.data.totp.length, 1);
  // A fresh sign-in is aal1 with aal2 as the next level.
  const other = client();
  await other.auth.signInWithPassword({ email: 'mfa@example.com', password: 'two-factors' });
  const lvl = await other.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.equal(lvl.data.currentLevel, 'aal1');
  assert.equal(lvl.data.nextLevel, 'aal2');
  const un = await c.auth.mfa.unenroll({ factorId: e.data.id });
  assert.equal(un.error, null);
});

test('admin create, list, generate link, delete', async () => {
  const admin = client(b, b.serviceKey).auth.admin;
  const created = await admin.createUser({ email: 'made@example.com', password: 'by-admin', email_confirm: true, user_metadata: { a: 1 } });
  assert.equal(created.error, null);
  const id = created.data.user.id;
  assert.equal((await client().auth.signInWithPassword({ email: 'made@example.com', password: 'by-admin' })).error, null);
  const list = await admin.listUsers({ page: 1, perPage: 2 });
  assert.equal(list.error, null);
  assert.equal(list.data.users.length, 2);
  assert.ok(list.data.total >= 3);
  assert.equal(list.data.nextPage, 2);
  const got = await admin.getUserById(id);
  assert.equal(got.data.user.email, 'made@example.com');
  const link = await admin.generateLink({ type: 'magiclink', email: 'made@example.com' });
  assert.equal(link.error, null);
  assert.match(link.data.properties.action_link, /\/auth\/v1\/verify\?token=/);
  assert.equal(link.data.properties.verification_type, 'magiclink');
  const upd = await admin.updateUserById(id, { app_metadata: { role: 'editor' } });
  assert.equal(upd.data.user.app_metadata.role, 'editor');
  const del = await admin.deleteUser(id);
  assert.equal(del.error, null);
  assert.equal((await admin.getUserById(id)).error.status, 404);
  const notAdmin = await client().auth.admin.listUsers();
  assert.equal(notAdmin.error.code, 'not_admin');
});

test('the sign-in token drives auth.uid() under RLS', async () => {
  await confirmedUser('owner@example.com', 'row-level');
  const c = client();
  const { data } = await c.auth.signInWithPassword({ email: 'owner@example.com', password: 'row-level' });
  const uid = data.user.id;
  // The claims as the REST layer sets them make auth.uid() the signed-in user.
  const claims = JSON.parse(Buffer.from(data.session.access_token.split('.')[1], 'base64url').toString());
  const rows = b.sql(`begin; select set_config('request.jwt.claims', '${JSON.stringify(claims).replace(/'/g, "''")}', true); select auth.uid(); commit;`);
  assert.deepEqual(rows.at(-1), [uid]);
  // And through /rest/v1 with the session token.
  b.sql(`insert into public.notes (owner, body) values ('${uid}', 'mine'), ((select id from auth.users where email = 'ada@example.com'), 'not mine')`);
  const mine = await c.from('notes').select('body');
  assert.equal(mine.error, null);
  assert.deepEqual(mine.data, [{ body: 'mine' }]);
  const ins = await c.from('notes').insert({ body: 'new' }).select('owner').single();
  assert.equal(ins.error, null);
  assert.equal(ins.data.owner, uid);
});

test('the session refreshes itself across access-token expiry', async () => {
  const short = await startBasalt({ config: '[auth]\njwt_expiry = 3\n' });
  let c;
  try {
    c = client(short, short.anonKey, { autoRefreshToken: true });
    const s = await c.auth.signUp({ email: 'short@example.com', password: 'short-lived' });
    assert.equal(s.error, null);
    const first = s.data.session.access_token;
    const events = [];
    c.auth.onAuthStateChange((event) => events.push(event));
    await new Promise((r) => setTimeout(r, 4000));
    // The old token has expired; the client refreshes before using the session.
    const expired = await client(short).auth.getUser(first);
    assert.equal(expired.error.code, 'bad_jwt');
    const me = await c.auth.getUser();
    assert.equal(me.error, null);
    assert.equal(me.data.user.email, 'short@example.com');
    assert.ok(events.includes('TOKEN_REFRESHED'), events.join(','));
    assert.notEqual((await c.auth.getSession()).data.session.access_token, first);
  } finally {
    await c?.auth.stopAutoRefresh();
    await short.stop();
  }
});
