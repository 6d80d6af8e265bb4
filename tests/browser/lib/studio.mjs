// Test harness for basalt Studio: `basalt start` on a throw-away project (tests/e2e's harness)
// with the Studio on a free port, and Debian's Chromium driven by playwright-core.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import { startBasalt, freePort } from '../../e2e/lib/basalt.mjs';

export const PASSWORD = 'studio-test-password-0123';
const here = dirname(fileURLToPath(import.meta.url));
export const outputDir = join(here, '..', 'test-output');

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** basalt with its Studio; `studioUrl` on top of what startBasalt gives. */
export async function startStudio(opts = {}) {
  const port = await freePort();
  const b = await startBasalt({
    ...opts,
    config: `[studio]\nport = ${port}\n${opts.config ?? ''}`,
    env: { BASALT_STUDIO_PASSWORD: PASSWORD, ...(opts.env ?? {}) },
  });
  b.studioUrl = `http://127.0.0.1:${port}`;
  if (!b.output().includes(`Studio URL: ${b.studioUrl}`)) throw new Error(`no Studio URL printed:\n${b.output()}`);
  return b;
}

/** A fresh Chromium profile; `close()` removes it. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'basalt-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    acceptDownloads: true,
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return {
    context, page, errors,
    async close() { await context.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}

export async function screenshot(page, name) {
  mkdirSync(outputDir, { recursive: true });
  const path = join(outputDir, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

export async function signIn(page, url, password = PASSWORD) {
  await page.goto(url);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Sign in over HTTP: the session cookie and CSRF token. */
export async function apiSignIn(url, password = PASSWORD) {
  const r = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  if (r.status !== 200) throw new Error(`sign-in: ${r.status}`);
  const cookie = r.headers.get('set-cookie').split(';')[0];
  const { csrf } = await r.json();
  return { cookie, csrf };
}

/**
 * basalt with its Studio and a browser page for the tests of one file: registers node:test's
 * before/after hooks and returns the object they fill ({ b, browser, page }).
 */
export function useStudio(opts = {}, timeout = 15000) {
  const ctx = {};
  before(async () => {
    ctx.b = await startStudio(opts);
    ctx.browser = await launch();
    ctx.page = ctx.browser.page;
    ctx.page.setDefaultTimeout(timeout);
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.b?.stop();
  });
  return ctx;
}
