// Test harness: runs `basalt start` on a throw-away Supabase project directory and hands the
// test what supabase-js needs (URL, anon and service keys), plus helpers to mint JWTs and run SQL.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, cpSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@supabase/supabase-js';
import ws from 'ws';

// Node 20 has no global WebSocket; realtime-js needs one.
const realtime = { transport: ws };

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../../..');
export const sharedDir = process.env.BASALT_SHARED ?? resolve(repoRoot, '../shared');

/** Path of the basalt binary under test. */
export function basaltBin() {
  if (process.env.BASALT_BIN) return process.env.BASALT_BIN;
  // The most recently built of the release and debug binaries, so a stale one never shadows
  // the build under test.
  const found = ['target/release/basalt', 'target/debug/basalt']
    .map((p) => join(repoRoot, p))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (found.length) return found[0];
  throw new Error('basalt binary not found: run `cargo build -p basalt` or set BASALT_BIN');
}

export async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * Start basalt on a new project.
 * opts.migrations: { '0001_init.sql': 'create table …' } written to supabase/migrations
 * opts.seed: SQL for supabase/seed.sql
 * opts.config: extra TOML appended to supabase/config.toml
 * opts.projectDir: copy this existing project directory instead (e.g. an example)
 * opts.functions: { 'hello/index.ts': 'Deno.serve(…)', '_shared/cors.ts': '…', '.env': 'A=1' }
 *   written under supabase/functions
 * opts.env: extra environment of the basalt process
 */
export async function startBasalt(opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-e2e-'));
  execFileSync('chmod', ['755', dir]);
  if (opts.projectDir) {
    cpSync(opts.projectDir, dir, { recursive: true, filter: (src) => !src.includes('/.basalt') });
  }
  const sb = join(dir, 'supabase');
  mkdirSync(join(sb, 'migrations'), { recursive: true });
  for (const [name, sql] of Object.entries(opts.migrations ?? {})) {
    writeFileSync(join(sb, 'migrations', name), sql);
  }
  if (opts.seed !== undefined) writeFileSync(join(sb, 'seed.sql'), opts.seed);
  for (const [path, text] of Object.entries(opts.functions ?? {})) {
    const file = join(sb, 'functions', path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  const apiPort = await freePort();
  const dbPort = await freePort();
  const configPath = join(sb, 'config.toml');
  if (!existsSync(configPath)) writeFileSync(configPath, 'project_id = "e2e"\n' + (opts.config ?? ''));
  else if (opts.config) writeFileSync(configPath, readFileSync(configPath, 'utf8') + '\n' + opts.config);
  const child = spawn(basaltBin(), ['start', '--project', dir, '--port', String(apiPort), '--db-port', String(dbPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BASALT_LOG: process.env.BASALT_LOG ?? 'warn', ...(opts.env ?? {}) },
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; if (process.env.BASALT_E2E_VERBOSE) process.stderr.write(d); });
  await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`basalt did not start within 60s:\n${out}`)), 60000);
    const check = () => {
      if (out.includes('service_role key:')) { clearTimeout(timer); res(); }
    };
    child.stdout.on('data', check);
    child.on('exit', (code) => { clearTimeout(timer); rej(new Error(`basalt exited with ${code}:\n${out}`)); });
  });
  const status = JSON.parse(readFileSync(join(dir, '.basalt', 'status.json'), 'utf8'));
  const url = `http://127.0.0.1:${apiPort}`;
  const b = {
    dir,
    url,
    anonKey: status.anon_key,
    serviceKey: status.service_role_key,
    jwtSecret: status.jwt_secret,
    dbUrl: status.db_url,
    output: () => out,
    /** A supabase-js client; key defaults to the anon key. */
    client(key = status.anon_key, options = {}) {
      return createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false }, realtime, ...options });
    },
    /** A client acting as the service role. */
    admin() { return b.client(status.service_role_key); },
    /** Sign an HS256 JWT with the project secret. */
    sign(payload) { return signJwt(status.jwt_secret, payload); },
    /** A client whose requests carry a user JWT for `sub` (no auth service needed). */
    userClient(sub, extra = {}) {
      const now = Math.floor(Date.now() / 1000);
      const token = b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600, ...extra });
      // accessToken too: supabase-js 2.119 asks it for realtime's token after connecting and on
      // heartbeats, and would otherwise replace the token given to setAuth by the anon key.
      const c = createClient(url, status.anon_key, {
        auth: { persistSession: false, autoRefreshToken: false },
        global: { headers: { Authorization: `Bearer ${token}` } },
        accessToken: async () => token,
        realtime,
      });
      c.realtime.setAuth(token);
      return c;
    },
    /** Run SQL as the superuser through psql; returns rows as arrays of strings. */
    sql(query) {
      const text = execFileSync('psql', [status.db_url, '-X', '-v', 'ON_ERROR_STOP=1', '-Atq', '-F', '\t', '-c', query], { encoding: 'utf8' });
      return text.split('\n').filter((l) => l.length).map((l) => l.split('\t'));
    },
    async stop() {
      if (child.exitCode === null) {
        const done = new Promise((res) => child.on('exit', res));
        child.kill('SIGTERM');
        await done;
      }
      if (!process.env.BASALT_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };
  return b;
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

/** HS256 JWT. */
export function signJwt(secret, payload) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = b64url(createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

/** Insert a user into auth.users directly (for tests that do not exercise the auth API). */
export function createUserRow(b, id, email) {
  b.sql(`insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
         values ('${id}', 'authenticated', 'authenticated', '${email}', '{}', '{}', now(), now())`);
}
