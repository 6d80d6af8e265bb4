// Auth errors and redirects as supabase-js parses them, against `basalt start`: the error
// classes and codes (`AuthApiError.code`, `isAuthWeakPasswordError`, `AuthSessionMissingError`,
// `otp_disabled` for `shouldCreateUser: false`, `user_banned`),
// where a followed email link puts its error (implicit and PKCE flows), PKCE links exchanged by
// `exchangeCodeForSession`, and what the admin API accepts.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import ws from 'ws';
import { isAuthApiError, isAuthWeakPasswordError, isAuthSessionMissingError } from '@supabase/supabase-js';
import { startBasalt } from './lib/basalt.mjs';
import { mailFor as mailbox, follow } from './lib/mailbox.mjs';

let b;
before(async () => {
  b = await startBasalt({
    config: `
[auth]
site_url = "http://127.0.0.1:3000"
additional_redirect_urls = ["http://127.0.0.1:3000/**"]

[auth.email]
enable_confirmations = true
max_frequency = "0s"
`,
  });
});
after(async () => { await b?.stop(); });

function client(auth = {}) {
  return b.client(b.anonKey, { auth: { persistSession: false, autoRefreshToken: false, ...auth }, realtime: { transport: ws } });
}
const admin = () => b.client(b.serviceKey, { realtime: { transport: ws } }).auth.admin;

/** The development mailbox for an address, newest first. */
const mailFor = (email) => mailbox(b, email);

test('error classes and codes', async () => {
  const c = client();
  const weak = await c.auth.signUp({ email: 'weak@example.com', password: '123' });
  assert.ok(isAuthWeakPasswordError(weak.error));
  assert.equal(weak.error.status, 422);
  assert.equal(weak.error.code, 'weak_password');
  assert.deepEqual(weak.error.reasons, ['length']);

  const made = await admin().createUser({ email: 'taken@example.com', password: 'long-enough', email_confirm: true });
  assert.equal(made.error, null);
  const dup = await admin().createUser({ email: 'taken@example.com', password: 'long-enough' });
  assert.ok(isAuthApiError(dup.error));
  assert.equal(dup.error.code, 'email_exists');
  assert.equal(dup.error.status, 422);

  // Signing up a confirmed address again (phones autoconfirm in the CLI's default config).
  const twice = await client().auth.signUp({ email: 'taken@example.com', password: 'long-enough' });
  assert.equal(twice.error.code, 'user_already_exists');
  assert.equal(twice.error.status, 422);

  const s = await c.auth.signInWithPassword({ email: 'taken@example.com', password: 'long-enough' });
  assert.equal(s.error, null);
  const same = await c.auth.updateUser({ password: 'long-enough' });
  assert.equal(same.error.code, 'same_password');
  assert.equal(same.error.status, 422);
  const other = await c.auth.updateUser({ email: 'weak@example.com' });
  assert.equal(other.error, null, 'an address nobody has is free');

  // A one-time code for an address nobody has, without creating a user.
  const otp = await client().auth.signInWithOtp({ email: 'stranger@example.com', options: { shouldCreateUser: false } });
  assert.ok(isAuthApiError(otp.error));
  assert.equal(otp.error.status, 422);
  assert.equal(otp.error.code, 'otp_disabled');
  assert.equal(otp.error.message, 'Signups not allowed for otp');

  // Single sign-on through SAML is not offered.
  const sso = await client().auth.signInWithSSO({ domain: 'example.com' });
  assert.equal(sso.error.status, 404);
  assert.equal(sso.error.code, 'saml_provider_disabled');

  // Signed out everywhere: the old session is gone, which supabase-js reports as missing.
  const holder = client();
  await holder.auth.setSession(s.data.session);
  assert.equal((await c.auth.signOut({ scope: 'global' })).error, null);
  const gone = await holder.auth.getUser();
  assert.ok(isAuthSessionMissingError(gone.error), String(gone.error));
});

test('the admin API creates users with any password', async () => {
  const made = await admin().createUser({ email: 'pin@example.com', password: '1234', email_confirm: true });
  assert.equal(made.error, null);
  const s = await client().auth.signInWithPassword({ email: 'pin@example.com', password: '1234' });
  assert.equal(s.error, null);
  assert.deepEqual(s.data.weakPassword?.reasons, ['length']);
  const none = await admin().createUser({ password: 'long-enough' });
  assert.equal(none.error.code, 'validation_failed');
  assert.equal(none.error.message, 'Cannot create a user without either an email or phone');
  const weakUpdate = await admin().updateUserById(made.data.user.id, { password: '1' });
  assert.ok(isAuthWeakPasswordError(weakUpdate.error));

  // A ban refuses the session's token; lifting it lets the same session work again.
  const c = client();
  await c.auth.setSession(s.data.session);
  assert.equal((await admin().updateUserById(made.data.user.id, { ban_duration: '1h' })).error, null);
  const banned = await c.auth.getUser();
  assert.equal(banned.error.code, 'user_banned');
  assert.equal(banned.error.status, 403);
  assert.equal((await admin().updateUserById(made.data.user.id, { ban_duration: 'none' })).error, null);
  assert.equal((await c.auth.getUser()).error, null);
});

test('an implicit-flow link keeps its error in the fragment', async () => {
  const c = client();
  const r = await c.auth.signUp({ email: 'imp@example.com', password: 'long-enough', options: { emailRedirectTo: 'http://127.0.0.1:3000/welcome?from=mail' } });
  assert.equal(r.error, null);
  const [mail] = await mailFor('imp@example.com');
  const ok = await follow(mail.action_link);
  assert.equal(ok.search, '?from=mail');
  const frag = new URLSearchParams(ok.hash.slice(1));
  assert.ok(frag.get('access_token'));
  assert.equal(frag.get('sb'), '');
  const again = await follow(mail.action_link);
  assert.equal(`${again.origin}${again.pathname}${again.search}`, 'http://127.0.0.1:3000/welcome?from=mail');
  const err = new URLSearchParams(again.hash.slice(1));
  assert.equal(err.get('error'), 'access_denied');
  assert.equal(err.get('error_code'), 'otp_expired');
  assert.equal(err.get('error_description'), 'Email link is invalid or has expired');
});

test('a PKCE link leads to a code that exchangeCodeForSession takes, and its error to the query', async () => {
  const c = client({ flowType: 'pkce' });
  const r = await c.auth.signUp({ email: 'pkce@example.com', password: 'long-enough', options: { emailRedirectTo: 'http://127.0.0.1:3000/cb' } });
  assert.equal(r.error, null);
  const [mail] = await mailFor('pkce@example.com');
  assert.match(mail.action_link, /[?&]token=pkce_/);
  const landed = await follow(mail.action_link);
  assert.equal(landed.hash, '');
  const code = landed.searchParams.get('code');
  assert.ok(code);
  const ex = await c.auth.exchangeCodeForSession(code);
  assert.equal(ex.error, null);
  assert.equal(ex.data.user.email, 'pkce@example.com');
  const again = await follow(mail.action_link);
  assert.equal(again.searchParams.get('error_code'), 'otp_expired');
  assert.equal(again.searchParams.get('error_description'), 'Email link is invalid or has expired');
  assert.equal(new URLSearchParams(again.hash.slice(1)).get('error_code'), 'otp_expired');
});
