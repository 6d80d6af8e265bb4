// basalt Studio's Backups page in a real browser: the repository's backups (label, type, size,
// times) and the project's branches, listed from /api/backups; "Take backup now" runs a full
// backup through that API and the new one appears in the list and in `basalt db backups`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startStudio, launch, screenshot, signIn, apiSignIn } from './lib/studio.mjs';
import { basaltBin } from '../e2e/lib/basalt.mjs';

let b;
let browser;
let page;

function basalt(args) {
  const r = spawnSync(basaltBin(), args, { encoding: 'utf8', env: { ...process.env, BASALT_LOG: 'warn' } });
  if (r.status !== 0) throw new Error(`basalt ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

before(async () => {
  b = await startStudio({
    config: '[basalt.backup]\nenabled = true\ninterval = "0s"\narchive_timeout = "5s"\n',
  });
  browser = await launch();
  page = browser.page;
  page.setDefaultTimeout(60000);
});
after(async () => {
  await browser?.close();
  await b?.stop();
});

test('the Backups page lists branches, takes a backup now and lists it', async () => {
  basalt(['db', 'branch', 'create', 'preview', '--project', b.dir]);
  await signIn(page, `${b.studioUrl}/#/backups`);
  await page.getByRole('heading', { name: 'Backups', exact: true }).waitFor();
  await page.getByText('No backups yet.').waitFor();
  const branches = page.getByRole('table', { name: 'Branches' });
  await branches.getByRole('cell', { name: 'preview' }).waitFor();
  await branches.getByText('stopped').waitFor();

  const started = Date.now();
  await page.getByRole('button', { name: 'Take backup now' }).click();
  await page.getByText(/Backup \d{8}-\d{6}F taken/).waitFor();
  console.log(`# backup from the dashboard: ${Date.now() - started} ms`);
  const backups = page.getByRole('table', { name: 'Backups' });
  const listed = JSON.parse(basalt(['db', 'backups', '--project', b.dir, '--json']));
  assert.equal(listed.length, 1);
  await backups.getByRole('cell', { name: listed[0].label }).waitFor();
  await backups.getByRole('cell', { name: 'full', exact: true }).waitFor();
  await page.getByRole('heading', { name: 'Backups (1)' }).waitFor();
  await screenshot(page, '20-backups');
  assert.deepEqual(browser.errors, []);
});

test('taking a backup needs the CSRF token', async () => {
  const { cookie, csrf } = await apiSignIn(b.studioUrl);
  const without = await fetch(`${b.studioUrl}/api/backups`, { method: 'POST', headers: { cookie } });
  assert.equal(without.status, 403);
  const list = await (await fetch(`${b.studioUrl}/api/backups`, { headers: { cookie } })).json();
  assert.equal(list.enabled, true);
  assert.equal(list.backups.length, 1);
  assert.deepEqual(list.branches.map((x) => x.name), ['preview']);
  assert.ok(csrf);
});
