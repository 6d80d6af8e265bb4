// basalt Studio in a real browser: sign in, create a table, insert and edit a row (seen through
// /rest/v1), a policy through the form changes what anon reads, SQL errors with their position,
// a user created in the dashboard signs in with supabase-js, a file uploaded and downloaded on
// the storage page; then the access rules over HTTP (401 without a session, CSRF required, wrong
// passwords rate limited). Each test leaves a screenshot in test-output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStudio, launch, screenshot, signIn, apiSignIn, PASSWORD } from './lib/studio.mjs';
import { startBasalt } from '../e2e/lib/basalt.mjs';

let b;
let browser;
let page;

before(async () => {
  b = await startStudio();
  browser = await launch();
  page = browser.page;
  page.setDefaultTimeout(15000);
});
after(async () => {
  await browser?.close();
  await b?.stop();
});

const rest = (path, key) => fetch(`${b.url}/rest/v1/${path}`, { headers: { apikey: key, authorization: `Bearer ${key}` } }).then(async (r) => ({ status: r.status, body: await r.json() }));

test('signs in to the dashboard with the password', async () => {
  await signIn(page, b.studioUrl, 'not the password');
  await page.getByText('Wrong password.').waitFor();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Table editor' }).waitFor();
  await screenshot(page, '01-signed-in');
  assert.deepEqual(browser.errors, []);
});

test('creates a table with three columns through the UI', async () => {
  await page.getByRole('button', { name: '+ New table' }).click();
  const dlg = page.getByRole('dialog', { name: 'Create a table' });
  await dlg.getByLabel('Name', { exact: true }).fill('notes');
  await dlg.getByRole('button', { name: '+ Add column' }).click();
  await dlg.getByLabel('Column 3 name').fill('title');
  await dlg.getByLabel('Column 3 type').fill('text');
  await dlg.getByLabel('Column 3 nullable').uncheck();
  const sql = await dlg.locator('pre.sql-preview').textContent();
  assert.match(sql, /create table "public"\."notes"/);
  assert.match(sql, /"title" text not null/);
  assert.match(sql, /enable row level security/);
  await screenshot(page, '02-create-table-dialog');
  await dlg.getByRole('button', { name: 'Create table' }).click();
  await page.getByRole('heading', { name: 'public.notes' }).waitFor();
  await page.getByText('This table has no rows yet.').waitFor();
  const cols = b.sql(`select column_name from information_schema.columns where table_name = 'notes' order by ordinal_position`).map((r) => r[0]);
  assert.deepEqual(cols, ['id', 'created_at', 'title']);
  await screenshot(page, '02-table-created');
});

test('inserts and edits a row, seen through /rest/v1 with the service key', async () => {
  await page.getByRole('button', { name: '+ Insert row' }).click();
  let dlg = page.getByRole('dialog', { name: /Insert a row/ });
  await dlg.getByLabel(/^title/).fill('hello');
  await dlg.getByRole('button', { name: 'Insert' }).click();
  await page.getByRole('cell', { name: 'hello', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Edit row 1' }).click();
  dlg = page.getByRole('dialog', { name: 'Edit row 1' });
  await dlg.getByLabel(/^title/).fill('hello, edited');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('cell', { name: 'hello, edited', exact: true }).waitFor();
  await screenshot(page, '03-row-edited');
  const r = await rest('notes?select=id,title', b.serviceKey);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, [{ id: 1, title: 'hello, edited' }]);
});

test('a policy created through the form changes what anon reads', async () => {
  assert.deepEqual((await rest('notes?select=title', b.anonKey)).body, [], 'RLS on, no policy: anon sees nothing');
  await page.getByRole('button', { name: '+ New policy' }).click();
  const dlg = page.getByRole('dialog', { name: 'Create a policy' });
  await dlg.getByLabel('Policy name').fill('anon reads notes');
  await dlg.getByLabel('Command').selectOption('select');
  await dlg.getByLabel('public', { exact: true }).uncheck();
  await dlg.getByLabel('anon', { exact: true }).check();
  await dlg.getByLabel(/USING expression/).fill('true');
  const sql = await dlg.locator('pre.sql-preview').textContent();
  assert.equal(sql, 'create policy "anon reads notes"\n  on "public"."notes"\n  as permissive\n  for select\n  to "anon"\n  using (true);');
  await screenshot(page, '04-policy-form');
  await dlg.getByRole('button', { name: 'Create policy' }).click();
  await page.getByText('Policy anon reads notes created').waitFor();
  assert.deepEqual((await rest('notes?select=title', b.anonKey)).body, [{ title: 'hello, edited' }]);
  await screenshot(page, '04-policy-created');
});

test('the table editor sorts, filters and pages', async () => {
  b.sql(`insert into notes (title) select 'n' || g from generate_series(1, 60) g`);
  await page.reload();
  await page.getByText(/Rows 1–50 of 61/).waitFor();
  await page.getByRole('button', { name: 'Next →' }).click();
  await page.getByText(/Rows 51–61 of 61/).waitFor();
  await page.getByLabel('Filter column').selectOption('title');
  await page.getByLabel('Filter operator').selectOption('eq');
  await page.getByLabel('Filter value').fill('n42');
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.getByText(/Rows 1–1 of 1/).waitFor();
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.getByRole('button', { name: /id bigint/ }).click(); // ascending
  await page.getByRole('button', { name: /id bigint/ }).click(); // descending
  await page.getByRole('cell', { name: '61', exact: true }).first().waitFor();
  const first = await page.locator('table.grid tbody tr').first().locator('td').first().textContent();
  assert.equal(first, '61');
  await screenshot(page, '05-table-editor');
});

test('SQL with a syntax error shows its position', async () => {
  await page.getByRole('link', { name: 'SQL editor' }).click();
  await page.getByLabel('SQL', { exact: true }).fill('select 1;\nselect * fro notes');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const pos = page.locator('#sql-error-position');
  await pos.waitFor();
  assert.match(await pos.textContent(), /line 2, column 10/);
  assert.match(await page.locator('#sql-error').textContent(), /syntax error at or near "notes"|syntax error/);
  await screenshot(page, '06-sql-error');
  // Several statements: a result each.
  await page.getByLabel('SQL', { exact: true }).fill('select 1 as a;\nselect count(*) as n from notes;');
  await page.keyboard.press('Control+Enter');
  await page.getByRole('heading', { name: 'Statement 2' }).waitFor();
  await page.getByRole('cell', { name: '61', exact: true }).waitFor();
  await screenshot(page, '06-sql-results');
});

test('a user created in the dashboard signs in through supabase-js', async () => {
  await page.getByRole('link', { name: 'Auth users' }).click();
  await page.getByRole('button', { name: '+ Create user' }).click();
  const dlg = page.getByRole('dialog', { name: 'Create a user' });
  await dlg.getByLabel('Email', { exact: true }).fill('ada@example.com');
  await dlg.getByLabel('Password').fill('correct-horse-42');
  await dlg.getByRole('button', { name: 'Create user' }).click();
  await page.getByRole('cell', { name: 'ada@example.com', exact: true }).waitFor();
  await screenshot(page, '07-user-created');
  const { data, error } = await b.client().auth.signInWithPassword({ email: 'ada@example.com', password: 'correct-horse-42' });
  assert.equal(error, null);
  assert.equal(data.user.email, 'ada@example.com');
});

test('uploads a file and downloads it on the storage page', async () => {
  await page.getByRole('link', { name: 'Storage' }).click();
  await page.getByRole('button', { name: '+ New bucket' }).click();
  const dlg = page.getByRole('dialog', { name: 'Create a bucket' });
  await dlg.getByLabel('Name').fill('docs');
  await dlg.getByRole('button', { name: 'Create bucket' }).click();
  await page.getByText('private bucket').waitFor();
  const dir = mkdtempSync(join(tmpdir(), 'studio-upload-'));
  const file = join(dir, 'hello.txt');
  writeFileSync(file, 'hello from the browser test\n');
  await page.locator('#upload-input').setInputFiles(file);
  await page.getByRole('cell', { name: 'hello.txt', exact: true }).waitFor();
  await screenshot(page, '08-storage');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download hello.txt' }).click(),
  ]);
  const saved = join(dir, 'downloaded.txt');
  await download.saveAs(saved);
  assert.equal(readFileSync(saved, 'utf8'), 'hello from the browser test\n');
  // The object is in basalt storage, as a client sees it.
  const r = await fetch(`${b.url}/storage/v1/object/docs/hello.txt`, { headers: { authorization: `Bearer ${b.serviceKey}` } });
  assert.equal(await r.text(), 'hello from the browser test\n');
});

test('the database page lists policies, functions and extensions', async () => {
  await page.getByRole('link', { name: 'Database' }).click();
  await page.getByRole('cell', { name: 'anon reads notes', exact: true }).waitFor();
  await page.getByRole('tab', { name: 'Extensions' }).click();
  await page.getByRole('cell', { name: 'pgcrypto', exact: true }).waitFor();
  await screenshot(page, '09-database');
  assert.deepEqual(browser.errors, []);
});

test('no access without the password: API calls answer 401', async () => {
  for (const path of ['/api/meta', '/api/rest/notes', '/api/auth/admin/users', '/api/storage/bucket']) {
    const r = await fetch(`${b.studioUrl}${path}`);
    assert.equal(r.status, 401, path);
  }
  const r = await fetch(`${b.studioUrl}/api/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sql":"drop table notes"}' });
  assert.equal(r.status, 401);
});

test('a cross-site POST without the CSRF token is refused', async () => {
  const { cookie, csrf } = await apiSignIn(b.studioUrl);
  const post = (headers) => fetch(`${b.studioUrl}/api/sql`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, ...headers }, body: '{"sql":"drop table notes"}' });
  assert.equal((await post({})).status, 403);
  assert.equal((await post({ origin: 'https://evil.example', 'x-csrf-token': csrf })).status, 403);
  // What a cross-site HTML form can send: urlencoded, no token.
  const form = await fetch(`${b.studioUrl}/api/rest/notes`, { method: 'POST', headers: { cookie, origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'title=pwned' });
  assert.equal(form.status, 403);
  assert.equal(b.sql(`select count(*) from notes where title = 'pwned'`)[0][0], '0');
  assert.equal(b.sql(`select to_regclass('public.notes') is not null`)[0][0], 't');
});

test('wrong password attempts are rate limited', async () => {
  const attempt = (password) => fetch(`${b.studioUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await attempt(`guess-${i}`)).status);
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  const r = await attempt(PASSWORD);
  assert.equal(r.status, 429, 'the right password waits out the window too');
  assert.ok(Number(r.headers.get('retry-after')) > 0);
  // The page says so.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(/too many wrong passwords/).waitFor();
  await screenshot(page, '10-rate-limited');
});

test('off loopback without a configured password basalt refuses to start', async () => {
  const env = { BASALT_JWT_SECRET: 'a-project-secret-with-at-least-32-characters!!', BASALT_STUDIO_PASSWORD: '' };
  await assert.rejects(
    startBasalt({ config: '[basalt]\nlisten_address = "0.0.0.0"\n[studio]\nport = 0\n', env }),
    /Studio on 0\.0\.0\.0 without a password/,
  );
});
