// The Supabase CLI (npm `supabase` 2.117.0, installed by .ci/setup through tools/package.json)
// against `basalt start`, as a user points it at the printed DB URL: an unmodified `supabase init`
// project, then the CLI's commands that need no Docker, each checked by its outcome (the database,
// the API, the files it writes), not only its exit code.
//
// The CLI takes `127.0.0.1:<db port>` for its own Docker stack; with `localhost` it treats the
// database as remote and requires TLS, which basalt's embedded Postgres serves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBasalt, repoRoot, basaltBin } from './lib/basalt.mjs';

const CLI = join(repoRoot, 'tools/node_modules/.bin/supabase');
// The anon key every `supabase start` prints: the CLI's local JWT secret, role anon.
const CLI_ANON_KEY = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0';

let b; // the running basalt
let project; // the project directory basalt serves (a copy of the `supabase init` one)
let dbUrl; // the DB URL with `localhost`, as the CLI sees a remote database

/**
 * Run the CLI in the project; resolves to { code, out, stdout } (out: stdout and stderr). Run
 * without blocking the event loop: a blocked loop keeps fetch's idle keep-alive sockets past
 * their timers, and the next fetch would take one the server has closed meanwhile.
 */
function cli(args, { cwd = project } = {}) {
  return new Promise((resolve) => {
    const child = execFile(CLI, [...args], {
      cwd,
      encoding: 'utf8',
      timeout: 180_000,
      maxBuffer: 64 << 20,
      env: { ...process.env, SUPABASE_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', NO_COLOR: '1' },
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout ?? ''}${stderr ?? ''}`, stdout: stdout ?? '' });
    });
    // `migration new` reads the migration from a piped stdin: give it an empty one.
    child.stdin.end();
  });
}

/** The CLI command must succeed; resolves to its output (only stdout with `{ stdout: true }`). */
async function ok(args, opts = {}) {
  const r = await cli(args, opts);
  assert.equal(r.code, 0, `supabase ${args.join(' ')} failed:\n${r.out}`);
  return opts.stdout ? r.stdout : r.out;
}

function restGet(path, key = b.serviceKey) {
  return fetch(`${b.url}/rest/v1/${path}`, { headers: { apikey: key, Authorization: `Bearer ${key}` } });
}

/** Wait until a REST read answers 200 (the schema cache reloads after DDL). */
async function restRows(path, key) {
  let last;
  for (let i = 0; i < 50; i += 1) {
    const res = await restGet(path, key);
    last = `${res.status} ${await res.text()}`;
    if (res.status === 200) return JSON.parse(last.slice(4));
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`GET ${path}: ${last}`);
}

before(async () => {
  const init = mkdtempSync(join(tmpdir(), 'basalt-cli-init-'));
  await ok(['init'], { cwd: init });
  mkdirSync(join(init, 'supabase/migrations'), { recursive: true });
  writeFileSync(join(init, 'supabase/migrations/20250101000000_todos.sql'), `
create table public.todos (
  id bigint generated always as identity primary key,
  title text not null,
  owner uuid references auth.users default auth.uid()
);
alter table public.todos enable row level security;
create policy "own todos" on public.todos for all to authenticated using (owner = (select auth.uid()));
create policy "seeded todos are public" on public.todos for select to anon using (owner is null);
`);
  writeFileSync(join(init, 'supabase/seed.sql'), "insert into public.todos (title) values ('seeded');\n");
  b = await startBasalt({ projectDir: init });
  rmSync(init, { recursive: true, force: true });
  project = b.dir;
  chmodSync(project, 0o755);
  dbUrl = b.dbUrl.replace('127.0.0.1', 'localhost');
  assert.match(dbUrl, /^postgresql:\/\/postgres:[^@]+@localhost:\d+\/postgres$/);
});

after(async () => { await b?.stop(); });

test('an unmodified supabase init project answers the CLI standard local anon key', async () => {
  assert.equal(b.anonKey, CLI_ANON_KEY);
  const rows = await restRows('todos?select=title', CLI_ANON_KEY);
  assert.deepEqual(rows, [{ title: 'seeded' }]);
});

test('migration list shows the applied migration on both sides', async () => {
  const out = await ok(['migration', 'list', '--db-url', dbUrl]);
  const row = out.split('\n').find((l) => l.includes('20250101000000'));
  assert.ok(row, out);
  assert.equal(row.match(/20250101000000/g).length, 2, `local and remote: ${row}`);
});

test('migration new + db push applies it; push again has nothing to do', async () => {
  await ok(['migration', 'new', 'notes']);
  const file = readdirSync(join(project, 'supabase/migrations')).find((f) => f.endsWith('_notes.sql'));
  assert.ok(file, 'migration new wrote a file');
  writeFileSync(join(project, 'supabase/migrations', file),
    'create table public.notes (id int primary key, body text);\ngrant select on public.notes to anon;\n');
  const out = await ok(['db', 'push', '--db-url', dbUrl, '--yes']);
  assert.match(out, new RegExp(file.replace('.', '\\.')));
  assert.deepEqual(b.sql("select count(*) from information_schema.tables where table_name = 'notes'"), [['1']]);
  assert.deepEqual(await restRows('notes'), []);
  const again = await ok(['db', 'push', '--db-url', dbUrl, '--yes']);
  assert.match(again, /up to date/i);
});

test('db push --include-seed does not run the seed basalt already ran', async () => {
  await ok(['db', 'push', '--db-url', dbUrl, '--include-seed', '--yes']);
  assert.deepEqual(b.sql("select count(*) from public.todos where title = 'seeded'"), [['1']]);
  assert.deepEqual(b.sql('select path from supabase_migrations.seed_files'), [['supabase/seed.sql']]);
});

test('migration repair marks a version reverted and applied again; fetch writes the history', async () => {
  await ok(['migration', 'repair', '20250101000000', '--status', 'reverted', '--db-url', dbUrl, '--yes']);
  assert.deepEqual(b.sql("select count(*) from supabase_migrations.schema_migrations where version = '20250101000000'"), [['0']]);
  const listed = await ok(['migration', 'list', '--db-url', dbUrl]);
  const row = listed.split('\n').find((l) => l.includes('20250101000000'));
  assert.equal(row.match(/20250101000000/g).length, 1, `only local now: ${row}`);
  await ok(['migration', 'repair', '20250101000000', '--status', 'applied', '--db-url', dbUrl, '--yes']);
  assert.deepEqual(b.sql("select count(*) from supabase_migrations.schema_migrations where version = '20250101000000'"), [['1']]);

  const fetched = mkdtempSync(join(tmpdir(), 'basalt-cli-fetch-'));
  try {
    await ok(['init'], { cwd: fetched });
    await ok(['migration', 'fetch', '--db-url', dbUrl, '--yes'], { cwd: fetched });
    const files = readdirSync(join(fetched, 'supabase/migrations'));
    const todos = files.find((f) => f.startsWith('20250101000000'));
    assert.ok(todos, `fetched: ${files}`);
    assert.match(readFileSync(join(fetched, 'supabase/migrations', todos), 'utf8'), /create table public\.todos/);
  } finally {
    rmSync(fetched, { recursive: true, force: true });
  }
});

test('db lint reports a function that reads a missing table, and nothing of the platform', async () => {
  const clean = await ok(['db', 'lint', '--db-url', dbUrl, '--schema', 'public']);
  assert.match(clean, /No schema errors found/);
  b.sql(`create function public.broken() returns bigint language plpgsql as $$
    begin return (select count(*) from public.no_such_table); end $$`);
  try {
    const r = await cli(['db', 'lint', '--db-url', dbUrl, '--schema', 'public']);
    assert.match(r.out, /no_such_table/);
    assert.match(r.out, /broken/);
  } finally {
    b.sql('drop function public.broken()');
  }
});

/** The advisors' findings (every level) as JSON. */
async function advisors() {
  return JSON.parse(await ok(['db', 'advisors', '--db-url', dbUrl, '--level', 'info'], { stdout: true }));
}

test('db advisors on the fresh project report nothing of basalt\'s platform', async () => {
  const json = await advisors();
  // Only the project's schema; nothing anywhere names basalt's own objects.
  const elsewhere = json.filter((a) => a.metadata?.schema !== 'public');
  assert.deepEqual(elsewhere, [], 'no finding outside the project\'s schema');
  assert.doesNotMatch(JSON.stringify(json), /basalt|_delivery|_cron_tick|_key_file|auth\.mail|rate_limits/);
});

test('db advisors flags the project\'s own issues, not basalt\'s platform', async () => {
  b.sql('create table public.wide_open (id int primary key)');
  try {
    const json = await advisors();
    const names = json.map((a) => `${a.name}:${a.metadata?.schema}.${a.metadata?.name}`);
    assert.ok(names.includes('rls_disabled_in_public:public.wide_open'), names.join('\n'));
    const platform = json.filter((a) => ['basalt', 'auth', 'storage', 'realtime', 'net', 'vault', 'extensions', 'cron'].includes(a.metadata?.schema));
    assert.deepEqual(platform, [], 'no finding in the platform schemas');
  } finally {
    b.sql('drop table public.wide_open');
  }
});

test('inspect db: every subcommand reads basalt\'s statistics', async () => {
  const expect = {
    'db-stats': /postgres/,
    'replication-slots': /basalt_realtime_/,
    locks: /pid/,
    blocking: /blocked pid/,
    outliers: /todos|select/i,
    calls: /todos|select/i,
    'index-stats': /todos_pkey/,
    'long-running-queries': /Duration/,
    bloat: /Waste/,
    'role-stats': /authenticator/,
    'vacuum-stats': /public\.todos/,
    'table-stats': /public\.todos/,
    'traffic-profile': /todos/,
  };
  for (const [sub, re] of Object.entries(expect)) {
    const out = await ok(['inspect', 'db', sub, '--db-url', dbUrl]);
    assert.match(out, re, `inspect db ${sub}:\n${out}`);
  }
});

test('db dump --dry-run prints a pg_dump script that runs with the host pg_dump', async () => {
  const script = await ok(['db', 'dump', '--dry-run', '--db-url', dbUrl], { stdout: true });
  const start = script.indexOf('#!/usr/bin/env bash');
  assert.ok(start >= 0, script);
  const sql = execFileSync('bash', ['-c', script.slice(start)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.match(sql, /CREATE TABLE IF NOT EXISTS "public"\."todos"/);
  assert.match(sql, /CREATE POLICY "own todos"/);
  assert.doesNotMatch(sql, /CREATE TABLE IF NOT EXISTS "(auth|storage|realtime)"\./, 'the platform\'s tables are not dumped');
  assertNoPlatformInternals(sql);
  // The database has them: the dump leaves them out, they are not missing. (`db dump` without
  // --dry-run runs this same script in a Docker container.)
  assert.deepEqual(b.sql("select count(*) from pg_class where oid in ('auth.mail'::regclass, 'net._delivery'::regclass, 'vault._key_file'::regclass, 'extensions.basalt_platform_version'::regclass)"), [['4']]);
  assert.deepEqual(b.sql("select count(*) from pg_namespace where nspname = 'basalt'"), [['0']]);
});

/**
 * A dump holds none of basalt's own objects: no schema basalt, none of the tables and functions
 * basalt keeps in the platform's schemas, no event trigger of basalt's.
 */
function assertNoPlatformInternals(sql) {
  assert.doesNotMatch(sql, /basalt/, 'no schema basalt, nothing named after basalt');
  for (const name of ['mail', 'rate_limits', 'refresh_grant', '_delivery', '_notify_channel', '_cron_tick',
    '_cron_seconds', '_cron_install', '_key_file', '_key', 'basalt_rest_notify', 'basalt_platform_version']) {
    assert.doesNotMatch(sql, new RegExp(`"${name}"`), `${name} is basalt's, not the project's`);
  }
  assert.doesNotMatch(sql, /EVENT TRIGGER/, 'no event trigger of the platform');
}

test('db reset --db-url drops the project and keeps the platform: the API works after it', async () => {
  b.sql("insert into public.todos (title) values ('added after start')");
  const out = await ok(['db', 'reset', '--db-url', dbUrl, '--yes']);
  assert.match(out, /Applying migration 20250101000000/);
  assert.match(out, /Seeding data/);
  // The project is back to its migrations and seed...
  assert.deepEqual(b.sql('select title from public.todos order by id'), [['seeded']]);
  // ...and the platform is still there: schemas, the realtime publications, auth and REST.
  const schemas = b.sql("select nspname from pg_namespace where nspname in ('auth','storage','realtime','net','vault','extensions','basalt') order by 1");
  assert.deepEqual(schemas.flat(), ['auth', 'extensions', 'net', 'realtime', 'storage', 'vault']);
  // basalt's own tables are still there (the reset empties auth's tables, it drops none).
  assert.deepEqual(b.sql("select count(*) from pg_class where oid in ('auth.mail'::regclass, 'auth.rate_limits'::regclass, 'net._delivery'::regclass, 'net._cron_tick'::regclass, 'vault._key_file'::regclass, 'extensions.basalt_platform_version'::regclass)"), [['6']]);
  // Vault still finds its key.
  b.sql("select vault.create_secret('kept across reset', 'cli_reset_secret')");
  assert.deepEqual(b.sql("select decrypted_secret from vault.decrypted_secrets where name = 'cli_reset_secret'"), [['kept across reset']]);
  assert.equal(b.sql("select count(*) from pg_publication where pubname like 'supabase_realtime%'")[0][0], '2');
  assert.deepEqual(await restRows('todos?select=title', CLI_ANON_KEY), [{ title: 'seeded' }]);
  const signup = await b.client().auth.signUp({ email: `cli-${Date.now()}@example.com`, password: 'a long password 1' });
  assert.equal(signup.error, null, JSON.stringify(signup.error));
  const user = b.client(CLI_ANON_KEY, { global: { headers: { Authorization: `Bearer ${signup.data.session.access_token}` } } });
  const mine = await user.from('todos').insert({ title: 'mine' }).select('title, owner');
  assert.equal(mine.error, null, JSON.stringify(mine.error));
  assert.equal(mine.data[0].owner, signup.data.user.id);
});

test('basalt db reset --db-url on the database a running basalt serves (its replication slot included)', async () => {
  const r = spawnSync(basaltBin(), ['db', 'reset', '--project', project, '--db-url', b.dbUrl], { encoding: 'utf8', env: { ...process.env, BASALT_LOG: 'error' } });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /Finished basalt db reset/);
  assert.deepEqual(await restRows('todos?select=title'), [{ title: 'seeded' }]);
  // The serving basalt made its realtime slot again.
  for (let i = 0; i < 50 && b.sql("select count(*) from pg_replication_slots where slot_name like 'basalt_realtime_%'")[0][0] === '0'; i += 1) {
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(b.sql("select count(*) from pg_replication_slots where slot_name like 'basalt_realtime_%'")[0][0], '1');
});

test('basalt db reset --db-url on the database a running basalt serves (its replication slot included)', async () => {
  const r = spawnSync(basaltBin(), ['db', 'reset', '--project', project, '--db-url', b.dbUrl], { encoding: 'utf8', env: { ...process.env, BASALT_LOG: 'error' } });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /Finished basalt db reset/);
  assert.deepEqual(await restRows('todos?select=title'), [{ title: 'seeded' }]);
  // The serving basalt made its realtime slot again.
  for (let i = 0; i < 50 && b.sql("select count(*) from pg_replication_slots where slot_name like 'basalt_realtime_%'")[0][0] === '0'; i += 1) {
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(b.sql("select count(*) from pg_replication_slots where slot_name like 'basalt_realtime_%'")[0][0], '1');
});
