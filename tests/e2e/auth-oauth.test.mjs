// External sign-in end to end: the real supabase-js against `basalt start` and a fake OAuth /
// OpenID provider this test runs on loopback. The fake is GitHub-shaped (`/login/oauth/*`,
// `/api/v3/user`, `/api/v3/user/emails`) and Google-shaped under `/google` (OpenID discovery,
// code exchange returning an RS256 ID token signed with its own key, its JWK set). Covered:
// PKCE and implicit sign-in, the redirect allow list, forged and replayed states, ID token
// sign-in (valid, expired, wrong audience, wrong nonce), linking and unlinking identities, and
// one user for one verified email across providers.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createSign, createHash, randomUUID } from 'node:crypto';
import { startBasalt } from './lib/basalt.mjs';
import { startFakeApi } from './lib/fake-api.mjs';

const SITE = 'http://127.0.0.1:3000';
const APP = 'http://app.test/welcome';

const b64url = (buf) => Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

// The provider's signing key and its public half as a JWK set.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'fake-key-1';
const jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' }] };

function signIdToken(claims) {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: KID }));
  const body = b64url(JSON.stringify(claims));
  const sig = createSign('RSA-SHA256').update(`${head}.${body}`).sign(privateKey);
  return `${head}.${body}.${b64url(sig)}`;
}

// People the fake provider knows, picked with `login_as` on the authorization URL.
const people = {
  alice: { id: 1001, login: 'alice', name: 'Alice A', email: 'alice@example.com', verified: true },
  bob: { id: 1002, login: 'bob', name: 'Bob B', email: 'bob@example.com', verified: true },
  carol: { id: 1003, login: 'carol', name: 'Carol C', email: 'carol@example.com', verified: true },
  dave: { id: 1004, login: 'dave', name: 'Dave D', email: 'dave@example.com', verified: true },
  erin: { id: 1005, login: 'erin', name: 'Erin E', email: 'erin@example.com', verified: true },
  frank: { id: 1006, login: 'frank', name: 'Frank F', email: 'frank@example.com', verified: true },
};
const codes = new Map(); // code → { person, client_id, redirect_uri, nonce }
let fake;
let b;

function googleClaims(p, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: `${fake.url}/google`, aud: 'google-client', sub: `g-${p.id}`, email: p.email,
    email_verified: p.verified, name: p.name, picture: `https://img.test/${p.login}.png`,
    iat: now, exp: now + 600, ...extra,
  };
}

before(async () => {
  fake = await startFakeApi((call) => {
    const base = fake.url;
    // GitHub-shaped.
    if (call.path === '/login/oauth/authorize' || call.path === '/google/auth') {
      const person = people[call.query.login_as ?? 'alice'];
      const code = randomUUID();
      codes.set(code, { person, client_id: call.query.client_id, redirect_uri: call.query.redirect_uri, nonce: call.query.nonce });
      const to = new URL(call.query.redirect_uri);
      to.searchParams.set('code', code);
      to.searchParams.set('state', call.query.state);
      return { status: 302, headers: { location: to.toString() }, body: '' };
    }
    if (call.path === '/login/oauth/access_token' || call.path === '/google/token') {
      const google = call.path.startsWith('/google');
      const grant = codes.get(call.body.code);
      const [id, secret] = google ? ['google-client', 'google-secret'] : ['gh-client', 'gh-secret'];
      if (!grant || call.body.client_id !== id || call.body.client_secret !== secret || call.body.redirect_uri !== grant.redirect_uri) {
        return { status: 400, body: { error: 'bad_verification_code' } };
      }
      codes.delete(call.body.code);
      const access = `${google ? 'g' : 'gh'}-token-${grant.person.login}`;
      const out = { access_token: access, token_type: 'bearer', refresh_token: `refresh-${grant.person.login}` };
      if (google) out.id_token = signIdToken(googleClaims(grant.person, grant.nonce ? { nonce: grant.nonce } : {}));
      return { body: out };
    }
    const bearer = (call.headers.authorization ?? '').replace(/^Bearer /, '');
    const ghPerson = Object.values(people).find((p) => bearer === `gh-token-${p.login}`);
    if (call.path === '/api/v3/user' && ghPerson) {
      return { body: { id: ghPerson.id, login: ghPerson.login, name: ghPerson.name, avatar_url: `https://img.test/${ghPerson.login}.png` } };
    }
    if (call.path === '/api/v3/user/emails' && ghPerson) {
      return { body: [{ email: `${ghPerson.login}@users.noreply.test`, primary: false, verified: true }, { email: ghPerson.email, primary: true, verified: ghPerson.verified }] };
    }
    // Google-shaped OpenID provider.
    if (call.path === '/google/.well-known/openid-configuration') {
      return {
        body: {
          issuer: `${base}/google`, authorization_endpoint: `${base}/google/auth`, token_endpoint: `${base}/google/token`,
          userinfo_endpoint: `${base}/google/userinfo`, jwks_uri: `${base}/google/jwks`,
        },
      };
    }
    if (call.path === '/google/jwks') return { body: jwks };
    return undefined;
  });
  process.env.E2E_GH_SECRET = 'gh-secret';
  b = await startBasalt({
    env: { E2E_GH_SECRET: 'gh-secret' },
    config: `
[auth]
site_url = "${SITE}"
additional_redirect_urls = ["http://app.test/**"]
enable_manual_linking = true

[auth.email]
enable_confirmations = true

[auth.external.github]
enabled = true
client_id = "gh-client"
secret = "env(E2E_GH_SECRET)"
url = "${fake.url}"

[auth.external.google]
enabled = true
client_id = "google-client"
secret = "google-secret"
url = "${fake.url}/google"
`,
  });
});
after(async () => { await b?.stop(); await fake?.close(); });

function client(flowType = 'pkce') {
  return b.client(b.anonKey, { auth: { persistSession: false, autoRefreshToken: false, flowType } });
}

/** Follow one redirect like a browser; the Location as a URL. */
async function hop(url) {
  const r = await fetch(url, { redirect: 'manual' });
  assert.equal(r.status, 302, `expected a redirect from ${url}, got ${r.status}: ${await r.text()}`);
  return new URL(r.headers.get('location'), url);
}

/**
 * Run a browser through a sign-in URL (basalt → provider → basalt's callback → the app).
 * Returns { callback (the provider's redirect to basalt), final (where basalt sends the browser) }.
 */
async function browse(startUrl) {
  const toProvider = await hop(startUrl);
  assert.ok(toProvider.href.startsWith(fake.url), `went to the provider: ${toProvider}`);
  const callback = await hop(toProvider);
  assert.ok(callback.href.startsWith(`${b.url}/auth/v1/callback`), `came back to basalt: ${callback}`);
  const final = await hop(callback);
  return { toProvider, callback, final };
}

async function pkceSignIn(sb, provider, login, redirectTo = APP) {
  const { data, error } = await sb.auth.signInWithOAuth({
    provider, options: { redirectTo, skipBrowserRedirect: true, queryParams: { login_as: login } },
  });
  assert.equal(error, null);
  const flow = await browse(data.url);
  const code = flow.final.searchParams.get('code');
  assert.ok(code, `a code in ${flow.final}`);
  const session = await sb.auth.exchangeCodeForSession(code);
  assert.equal(session.error, null, JSON.stringify(session.error));
  return { ...flow, session: session.data.session, user: session.data.user };
}

test('/settings lists the enabled external providers', async () => {
  const r = await fetch(`${b.url}/auth/v1/settings`, { headers: { apikey: b.anonKey } });
  const s = await r.json();
  assert.equal(s.external.github, true);
  assert.equal(s.external.google, true);
  assert.equal(s.external.gitlab, false);
});

test('PKCE sign-in with a GitHub-shaped provider', async () => {
  const sb = client();
  const { toProvider, final, session, user } = await pkceSignIn(sb, 'github', 'alice');
  // The provider saw basalt's client, callback, scopes and the pass-through parameter.
  assert.equal(toProvider.searchParams.get('client_id'), 'gh-client');
  assert.equal(toProvider.searchParams.get('redirect_uri'), `${b.url}/auth/v1/callback`);
  assert.equal(toProvider.searchParams.get('scope'), 'user:email');
  assert.equal(toProvider.searchParams.get('login_as'), 'alice');
  assert.equal(`${final.origin}${final.pathname}`, APP);
  assert.equal(user.email, 'alice@example.com');
  assert.ok(user.email_confirmed_at, 'verified by the provider');
  assert.equal(user.app_metadata.provider, 'github');
  assert.deepEqual(user.app_metadata.providers, ['github']);
  assert.equal(user.user_metadata.user_name, 'alice');
  assert.equal(user.identities.length, 1);
  assert.equal(user.identities[0].provider, 'github');
  assert.equal(user.identities[0].id, '1001');
  assert.equal(user.identities[0].identity_data.email, 'alice@example.com');
  // The session works against the API and the database.
  const me = await sb.auth.getUser(session.access_token);
  assert.equal(me.data.user.id, user.id);
  const row = b.sql(`select provider, provider_id, email from auth.identities where user_id = '${user.id}'`);
  assert.deepEqual(row, [['github', '1001', 'alice@example.com']]);
  // Signing in again is the same user and identity.
  const again = await pkceSignIn(client(), 'github', 'alice');
  assert.equal(again.user.id, user.id);
  assert.equal(again.user.identities.length, 1);
});

test('PKCE sign-in with a Google-shaped OpenID provider (ID token from the code exchange)', async () => {
  const { toProvider, user } = await pkceSignIn(client(), 'google', 'bob');
  assert.ok(toProvider.href.startsWith(`${fake.url}/google/auth?`), 'discovered authorization endpoint');
  assert.equal(toProvider.searchParams.get('scope'), 'openid email profile');
  assert.equal(user.email, 'bob@example.com');
  assert.equal(user.app_metadata.provider, 'google');
  assert.equal(user.identities[0].provider, 'google');
  assert.equal(user.identities[0].id, 'g-1002');
  assert.equal(user.user_metadata.full_name, 'Bob B');
  assert.equal(user.user_metadata.iss, `${fake.url}/google`);
});

test('implicit sign-in puts the session in the fragment', async () => {
  const sb = client('implicit');
  const { data } = await sb.auth.signInWithOAuth({
    provider: 'github', options: { redirectTo: APP, skipBrowserRedirect: true, queryParams: { login_as: 'alice' } },
  });
  assert.equal(new URL(data.url).searchParams.get('code_challenge'), null);
  const { final } = await browse(data.url);
  assert.equal(final.search, '');
  const frag = new URLSearchParams(final.hash.slice(1));
  assert.equal(frag.get('token_type'), 'bearer');
  assert.equal(frag.get('provider_token'), 'gh-token-alice');
  assert.equal(frag.get('provider_refresh_token'), 'refresh-alice');
  assert.ok(frag.get('refresh_token'));
  const me = await sb.auth.getUser(frag.get('access_token'));
  assert.equal(me.data.user.email, 'alice@example.com');
});

test('a redirect_to outside the allow list falls back to the site URL', async () => {
  const sb = client();
  const { data } = await sb.auth.signInWithOAuth({
    provider: 'github', options: { redirectTo: 'https://evil.test/steal', skipBrowserRedirect: true, queryParams: { login_as: 'alice' } },
  });
  const { final } = await browse(data.url);
  assert.equal(`${final.origin}${final.pathname}`.replace(/\/$/, ''), SITE);
  assert.ok(final.searchParams.get('code'), 'still signed in, back on the site');
  // Look-alike hosts are refused too; the site's own host is allowed on any path.
  for (const [to, expected] of [['http://app.test.evil.test/x', SITE], ['http://evil.test/app.test/x', SITE], [`${SITE}/dashboard`, `${SITE}/dashboard`]]) {
    const r = await sb.auth.signInWithOAuth({ provider: 'github', options: { redirectTo: to, skipBrowserRedirect: true } });
    const f = (await browse(r.data.url)).final;
    assert.equal(`${f.origin}${f.pathname}`.replace(/\/$/, ''), expected, to);
  }
});

test('a forged or replayed state is refused', async () => {
  const sb = client();
  const { data } = await sb.auth.signInWithOAuth({
    provider: 'github', options: { redirectTo: APP, skipBrowserRedirect: true, queryParams: { login_as: 'alice' } },
  });
  const toProvider = await hop(data.url);
  const callback = await hop(toProvider);
  // Forged: the state's payload changed (another flow, another referrer), signature kept.
  const state = callback.searchParams.get('state');
  const [h, p, s] = state.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  const forged = new URL(callback);
  forged.searchParams.set('state', `${h}.${b64url(JSON.stringify({ ...claims, referrer: 'https://evil.test/' }))}.${s}`);
  let to = await hop(forged);
  assert.equal(`${to.origin}${to.pathname}`.replace(/\/$/, ''), SITE, 'a forged state never reaches its referrer');
  assert.equal(to.searchParams.get('error_code'), 'bad_oauth_state');
  assert.equal(to.searchParams.get('error'), 'invalid_request');
  assert.equal(new URLSearchParams(to.hash.slice(1)).get('error_code'), 'bad_oauth_state');
  // A state signed with some other key.
  const other = new URL(callback);
  other.searchParams.set('state', `${h}.${p}.${b64url(Buffer.alloc(32, 7))}`);
  to = await hop(other);
  assert.equal(to.searchParams.get('error_code'), 'bad_oauth_state');
  // No state at all.
  const none = new URL(callback);
  none.searchParams.delete('state');
  to = await hop(none);
  assert.equal(to.searchParams.get('error_code'), 'bad_oauth_callback');
  // The genuine callback works once…
  const first = await hop(callback);
  const code = first.searchParams.get('code');
  assert.ok(code);
  // …and a replay of it is refused, before and after the code is exchanged.
  to = await hop(callback);
  assert.equal(to.searchParams.get('error_code'), 'flow_state_already_used');
  assert.equal(`${to.origin}${to.pathname}`, APP);
  const { error } = await sb.auth.exchangeCodeForSession(code);
  assert.equal(error, null);
  to = await hop(callback);
  assert.equal(to.searchParams.get('error_code'), 'bad_oauth_state');
  // An implicit flow's state is single-use as well.
  const imp = client('implicit');
  const r = await imp.auth.signInWithOAuth({ provider: 'github', options: { redirectTo: APP, skipBrowserRedirect: true } });
  const cb = await hop(await hop(r.data.url));
  assert.ok((await hop(cb)).hash.includes('access_token='));
  to = await hop(cb);
  assert.equal(to.searchParams.get('error_code'), 'bad_oauth_state');
});

test('signInWithIdToken: a valid ID token signs in; expired, wrong-audience and wrong-nonce ones are refused', async () => {
  const sb = client();
  const nonce = 'raw-nonce-123';
  const hashed = createHash('sha256').update(nonce).digest('hex');
  const ok = await sb.auth.signInWithIdToken({ provider: 'google', token: signIdToken(googleClaims(people.erin, { nonce: hashed })), nonce });
  assert.equal(ok.error, null, JSON.stringify(ok.error));
  assert.equal(ok.data.user.email, 'erin@example.com');
  assert.equal(ok.data.user.identities[0].provider, 'google');
  assert.equal(ok.data.user.identities[0].id, 'g-1005');
  const me = await sb.auth.getUser(ok.data.session.access_token);
  assert.equal(me.data.user.id, ok.data.user.id);

  const now = Math.floor(Date.now() / 1000);
  const refused = async (token, opts = {}) => {
    const r = await client().auth.signInWithIdToken({ provider: 'google', token, ...opts });
    assert.equal(r.data.session, null);
    assert.ok(r.error, 'refused');
    assert.equal(r.error.status, 400);
    return r.error.message;
  };
  assert.equal(await refused(signIdToken(googleClaims(people.erin, { nonce: hashed, iat: now - 7200, exp: now - 3600 })), { nonce }), 'Bad ID token');
  assert.match(await refused(signIdToken(googleClaims(people.erin, { nonce: hashed, aud: 'someone-else' })), { nonce }), /Unacceptable audience/);
  assert.equal(await refused(signIdToken(googleClaims(people.erin, { nonce: hashed })), { nonce: 'another-nonce' }), 'Nonces mismatch');
  assert.match(await refused(signIdToken(googleClaims(people.erin, { nonce: hashed }))), /nonce/);
  // A token signed by someone else, and one from another issuer, are bad too.
  const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: KID }));
  const body = b64url(JSON.stringify(googleClaims(people.erin)));
  const badSig = b64url(createSign('RSA-SHA256').update(`${head}.${body}`).sign(otherKey));
  assert.equal(await refused(`${head}.${body}.${badSig}`), 'Bad ID token');
  assert.equal(await refused(signIdToken(googleClaims(people.erin, { iss: 'https://accounts.example.test' }))), 'Bad ID token');
  // A provider without ID token support, or not enabled, is refused.
  const gh = await client().auth.signInWithIdToken({ provider: 'github', token: signIdToken(googleClaims(people.erin)) });
  assert.ok(gh.error);
  const apple = await client().auth.signInWithIdToken({ provider: 'apple', token: signIdToken(googleClaims(people.erin)) });
  assert.ok(apple.error);
  assert.match(apple.error.message, /not enabled/);
});

test('linking and unlinking an identity', async () => {
  const sb = client();
  const first = await pkceSignIn(sb, 'github', 'carol');
  assert.equal(first.user.identities.length, 1);
  // Link a Google identity (a different address) to the signed-in user.
  const { data, error } = await sb.auth.linkIdentity({
    provider: 'google', options: { redirectTo: APP, skipBrowserRedirect: true, queryParams: { login_as: 'frank' } },
  });
  assert.equal(error, null, JSON.stringify(error));
  // The link endpoint answers with the provider's URL (skip_http_redirect).
  const toProvider = new URL(data.url);
  assert.ok(toProvider.href.startsWith(`${fake.url}/google/auth`), data.url);
  const final = await hop(await hop(toProvider));
  const linked = await sb.auth.exchangeCodeForSession(final.searchParams.get('code'));
  assert.equal(linked.error, null, JSON.stringify(linked.error));
  assert.equal(linked.data.user.id, first.user.id);
  const ids = await sb.auth.getUserIdentities();
  assert.equal(ids.error, null);
  assert.deepEqual(ids.data.identities.map((i) => i.provider).sort(), ['github', 'google']);
  assert.deepEqual(linked.data.user.app_metadata.providers, ['github', 'google']);
  // Linking the same identity again is refused.
  const again = await sb.auth.linkIdentity({ provider: 'google', options: { redirectTo: APP, skipBrowserRedirect: true, queryParams: { login_as: 'frank' } } });
  const refused = await hop(await hop(again.data.url));
  assert.equal(refused.searchParams.get('error_code'), 'identity_already_exists');
  // Unlink Google: one identity left, and it cannot be unlinked.
  const google = ids.data.identities.find((i) => i.provider === 'google');
  const un = await sb.auth.unlinkIdentity(google);
  assert.equal(un.error, null, JSON.stringify(un.error));
  const after1 = await sb.auth.getUserIdentities();
  assert.deepEqual(after1.data.identities.map((i) => i.provider), ['github']);
  const last = await sb.auth.unlinkIdentity(after1.data.identities[0]);
  assert.equal(last.error.code, 'single_identity_not_deletable');
  assert.equal(b.sql(`select count(*) from auth.identities where user_id = '${first.user.id}'`)[0][0], '1');
});

test('manual linking is refused when [auth] enable_manual_linking is off', async () => {
  const off = await startBasalt({ config: `
[auth.external.github]
enabled = true
client_id = "gh-client"
secret = "gh-secret"
url = "${fake.url}"
` });
  try {
    const sb = off.client(off.anonKey, { auth: { persistSession: false, autoRefreshToken: false, flowType: 'pkce' } });
    const email = `m-${Date.now()}@example.com`;
    await sb.auth.signUp({ email, password: 'password-123' });
    const { error } = await sb.auth.linkIdentity({ provider: 'github', options: { skipBrowserRedirect: true } });
    assert.equal(error.code, 'manual_linking_disabled');
  } finally {
    await off.stop();
  }
});

test('one verified email across two providers is one user', async () => {
  const gh = await pkceSignIn(client(), 'github', 'dave');
  const hashed = createHash('sha256').update('n-dave').digest('hex');
  const viaGoogle = await client().auth.signInWithIdToken({
    provider: 'google', token: signIdToken(googleClaims(people.dave, { nonce: hashed })), nonce: 'n-dave',
  });
  assert.equal(viaGoogle.error, null, JSON.stringify(viaGoogle.error));
  assert.equal(viaGoogle.data.user.id, gh.user.id);
  assert.deepEqual(viaGoogle.data.user.identities.map((i) => i.provider).sort(), ['github', 'google']);
  assert.equal(b.sql(`select count(*) from auth.users where email = 'dave@example.com'`)[0][0], '1');
  // An address the provider did not verify joins nobody (email confirmations are on): the
  // sign-in is refused until it is verified, and no second user with the address appears.
  const unverified = await client().auth.signInWithIdToken({
    provider: 'google', token: signIdToken(googleClaims({ ...people.dave, id: 9999, verified: false })),
  });
  assert.equal(unverified.error?.code, 'provider_email_needs_verification');
  assert.equal(b.sql(`select count(*) from auth.identities where provider_id = 'g-9999'`)[0][0], '0');
  assert.equal(b.sql(`select count(*) from auth.users where email = 'dave@example.com'`)[0][0], '1');
});
