// Test harness: runs `basalt start` on a throw-away Supabase project directory and hands the
// test what supabase-js needs (URL, anon and service keys), plus helpers to mint JWTs and run SQL.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, cpSync, existsSync, statSync, readdirSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
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
 * BASALT_E2E_TLS=1: every `startBasalt` runs `basalt start --db-url` against a Postgres of its
 * own that accepts TLS only (ssl=on, `hostssl` in pg_hba.conf, plain TCP rejected), its
 * certificate issued for `localhost` by a certificate authority made here, basalt connecting
 * with `sslmode=verify-full` and that CA as `sslrootcert`.
 */
export const tlsMode = process.env.BASALT_E2E_TLS === '1';

/** Directory of the Postgres server binaries: BASALT_PG_BIN, else the newest installed. */
function pgBin(env = process.env) {
  if (env.BASALT_PG_BIN) return env.BASALT_PG_BIN;
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a) : [];
  const found = majors.map((v) => join(base, v, 'bin')).find((d) => existsSync(join(d, 'initdb')));
  if (!found) throw new Error('BASALT_E2E_TLS: no Postgres server binaries (set BASALT_PG_BIN)');
  return found;
}

/** Runs a Postgres tool, as the `postgres` user when this process is root (initdb refuses root). */
function asPostgres(cmd, args) {
  const root = process.getuid?.() === 0;
  return execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const tlsServers = new Set();
process.on('exit', () => { for (const s of tlsServers) s.stopSync(); });

/**
 * A Postgres that accepts TLS only, with a private CA (see `tlsMode`), configured as basalt's
 * embedded cluster is (logical decoding, pg_cron and pg_stat_statements preloaded when installed).
 * Returns { url, ca, vaultKey (a key file the server reads, for BASALT_VAULT_KEY_FILE), stopSync }.
 */
export async function startTlsPostgres(env = process.env) {
  const root = mkdtempSync(join(tmpdir(), 'basalt-e2e-tls-'));
  const bin = pgBin(env);
  const certs = join(root, 'certs');
  mkdirSync(certs);
  const ssl = (args) => execFileSync('openssl', args, { cwd: certs, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=basalt e2e CA', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  ssl(['req', '-new', ...ec, '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr']);
  writeFileSync(join(certs, 'server.ext'),
    'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'server.ext', '-out', 'server.crt']);
  chmodSync(join(certs, 'server.key'), 0o600);
  writeFileSync(join(root, 'pw'), 'postgres\n');
  // The vault's key, on the server's side as with a database basalt does not own.
  const vaultKey = join(root, 'vault.key');
  writeFileSync(vaultKey, randomBytes(32), { mode: 0o600 });
  execFileSync('chmod', ['755', root, certs]);
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres', root]);
  const data = join(root, 'pg');
  asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--encoding=UTF8', '--locale=C.UTF-8',
    '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${join(root, 'pw')}`]);
  writeFileSync(join(data, 'pg_hba.conf'), [
    'local all all trust',
    'hostssl all all 127.0.0.1/32 scram-sha-256',
    'hostssl all all ::1/128 scram-sha-256',
    'host all all 0.0.0.0/0 reject',
    'host all all ::/0 reject',
    '',
  ].join('\n'));
  // Where this Postgres keeps extensions (as basalt looks for them).
  const shares = [join(dirname(bin), 'share/postgresql'), join(dirname(bin), 'share')];
  try {
    shares.unshift(execFileSync(join(bin, 'pg_config'), ['--sharedir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch { /* no pg_config next to the server */ }
  const preload = ['pg_stat_statements', 'pg_cron']
    .filter((e) => shares.some((d) => existsSync(join(d, 'extension', `${e}.control`))));
  const port = await freePort();
  const settings = {
    port, unix_socket_directories: root, listen_addresses: 'localhost',
    ssl: 'on', ssl_cert_file: join(certs, 'server.crt'), ssl_key_file: join(certs, 'server.key'),
    wal_level: 'logical', max_wal_senders: 10, max_replication_slots: 10, max_connections: 200,
    ...(preload.length ? { shared_preload_libraries: preload.join(',') } : {}),
    ...(preload.includes('pg_cron') ? { 'cron.database_name': 'postgres' } : {}),
  };
  const opts = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' ');
  asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', join(root, 'pg.log'), '-w', '-o', opts, 'start']);
  const ca = join(certs, 'ca.crt');
  const server = {
    url: `postgresql://postgres:postgres@localhost:${port}/postgres?sslmode=verify-full&sslrootcert=${ca}`,
    ca,
    vaultKey,
    stopSync() {
      if (!tlsServers.delete(server)) return;
      try { asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']); } catch { /* already down */ }
      if (!process.env.BASALT_E2E_KEEP) rmSync(root, { recursive: true, force: true });
    },
  };
  tlsServers.add(server);
  return server;
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
 * Under BASALT_E2E_TLS=1 the database is a TLS-only Postgres of its own (see `tlsMode`).
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
  const tlsDb = tlsMode ? await startTlsPostgres({ ...process.env, ...(opts.env ?? {}) }) : null;
  const dbArgs = tlsDb ? ['--db-url', tlsDb.url] : ['--db-port', String(dbPort)];
  const child = spawn(basaltBin(), ['start', '--project', dir, '--port', String(apiPort), ...dbArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      BASALT_LOG: process.env.BASALT_LOG ?? 'warn',
      ...(tlsDb ? { BASALT_VAULT_KEY_FILE: tlsDb.vaultKey } : {}),
      ...(opts.env ?? {}),
    },
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
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!out.includes('service_role key:')) tlsDb?.stopSync();
      rej(new Error(`basalt exited with ${code}:\n${out}`));
    });
  });
  const status = JSON.parse(readFileSync(join(dir, '.basalt', 'status.json'), 'utf8'));
  if (tlsDb) {
    // Every session basalt opened (pools, listeners, the replication stream) is encrypted.
    const [plain, encrypted] = execFileSync('psql', [tlsDb.url, '-XAtq', '-F', ' ', '-c',
      `select count(*) filter (where not s.ssl), count(*) filter (where s.ssl and a.pid <> pg_backend_pid())
       from pg_stat_activity a join pg_stat_ssl s using (pid) where a.client_addr is not null`], { encoding: 'utf8' })
      .trim().split(' ').map(Number);
    if (plain !== 0 || encrypted === 0) throw new Error(`BASALT_E2E_TLS: ${plain} plain and ${encrypted} TLS sessions`);
  }
  const url = `http://127.0.0.1:${apiPort}`;
  const b = {
    dir,
    url,
    anonKey: status.anon_key,
    serviceKey: status.service_role_key,
    jwtSecret: status.jwt_secret,
    dbUrl: status.db_url,
    /** Under BASALT_E2E_TLS: the CA that issued the database's certificate (else undefined). */
    dbCa: tlsDb?.ca,
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
      tlsDb?.stopSync();
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
