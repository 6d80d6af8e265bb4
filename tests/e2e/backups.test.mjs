// Backups, point-in-time restore and branches of the embedded database, through the `basalt`
// command line and supabase-js: continuous WAL archiving with pgBackRest (`[basalt.backup]`),
// `basalt db backup|backups|restore`, storage objects restored with the rows that name them,
// and `basalt db branch` copies served by `basalt start --branch`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, cpSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import ws from 'ws';
import { basaltBin, freePort, repoRoot } from './lib/basalt.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `basalt <args>` to completion; returns stdout (`{ stdout: true }`) or stdout and stderr. */
function basalt(args, { stdout = false } = {}) {
  const r = spawnSync(basaltBin(), args, { encoding: 'utf8', env: { ...process.env, BASALT_LOG: 'warn' } });
  if (r.status !== 0) throw new Error(`basalt ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return stdout ? r.stdout : `${r.stdout}${r.stderr}`;
}

/** `basalt start` on `dir` (kept between runs); resolves once it serves. */
async function start(dir, extra = []) {
  const port = await freePort();
  const dbPort = await freePort();
  const child = spawn(basaltBin(), ['start', '--project', dir, '--port', String(port), '--db-port', String(dbPort), ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BASALT_LOG: 'warn' },
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`basalt did not start:\n${out}`)), 90_000);
    child.stdout.on('data', () => { if (out.includes('service_role key:')) { clearTimeout(timer); res(); } });
    child.on('exit', (code) => { clearTimeout(timer); rej(new Error(`basalt exited with ${code}:\n${out}`)); });
  });
  const field = (name) => out.split('\n').find((l) => l.trim().startsWith(`${name}:`))?.split(': ').slice(1).join(': ').trim();
  const url = field('API URL');
  const serviceKey = field('service_role key');
  const dbUrl = field('DB URL');
  return {
    child,
    url,
    dbUrl,
    admin: () => createClient(url, serviceKey, { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws } }),
    sql: (q) => execFileSync('psql', [dbUrl, '-X', '-v', 'ON_ERROR_STOP=1', '-Atq', '-c', q], { encoding: 'utf8' }).trim(),
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise((r) => child.on('exit', r));
      child.kill(signal);
      await done;
    },
  };
}

function project(config = '') {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-backup-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'supabase/migrations'), { recursive: true });
  writeFileSync(join(dir, 'supabase/config.toml'), `project_id = "backups"\n${config}`);
  writeFileSync(join(dir, 'supabase/migrations/0001_items.sql'), `
create table public.items (id int primary key, note text);
grant select, insert, update, delete on public.items to service_role;
insert into storage.buckets (id, name, public) values ('docs', 'docs', false);
`);
  return dir;
}

const BACKUPS = `
[basalt.backup]
enabled = true
interval = "0s"
archive_timeout = "1s"
cipher_pass = "a passphrase for the test repository"
`;

async function upload(b, name, text) {
  const { error } = await b.admin().storage.from('docs').upload(name, new Blob([text]), { contentType: 'text/plain' });
  assert.equal(error, null, JSON.stringify(error));
}

async function download(b, name) {
  const { data, error } = await b.admin().storage.from('docs').download(name);
  return error ? null : await data.text();
}

test('restore to a time between two writes brings back the first rows, objects and the dropped table, not the later ones', async () => {
  const dir = project(BACKUPS);
  let b = await start(dir);
  try {
    const db = b.admin();
    assert.equal((await db.from('items').insert([1, 2, 3].map((id) => ({ id, note: 'before' })))).error, null);
    await upload(b, 'a.txt', 'first object');

    const taken = basalt(['db', 'backup', '--project', dir]);
    assert.match(taken, /Backup \d{8}-\d{6}F \(full\)/);
    const listed = JSON.parse(basalt(['db', 'backups', '--project', dir, '--json'], { stdout: true }));
    assert.equal(listed.length, 1);
    assert.equal(listed[0].kind, 'full');
    assert.ok(listed[0].size > 0 && listed[0].wal_start.length === 24, JSON.stringify(listed[0]));
    // The repository is encrypted: no table name in clear in its files.
    const conf = readFileSync(join(dir, '.basalt/backup/pgbackrest.conf'), 'utf8');
    assert.match(conf, /repo1-cipher-type=aes-256-cbc/);

    await sleep(1500);
    const between = b.sql('select now()');
    await sleep(1500);
    assert.equal((await db.from('items').insert([4, 5, 6].map((id) => ({ id, note: 'after' })))).error, null);
    await upload(b, 'b.txt', 'second object');
    b.sql('drop table public.items');
    await sleep(3000); // archive_timeout: the segment with the drop is archived
    await b.stop();

    const restored = basalt(['db', 'restore', '--project', dir, '--time', between]);
    assert.match(restored, /Restored the database \(to /);
    assert.match(restored, /kept in .*pg\.before-restore-/);

    b = await start(dir);
    const { data, error } = await b.admin().from('items').select('id, note').order('id');
    assert.equal(error, null, JSON.stringify(error));
    assert.deepEqual(data, [1, 2, 3].map((id) => ({ id, note: 'before' })));
    assert.equal(await download(b, 'a.txt'), 'first object');
    assert.equal(await download(b, 'b.txt'), null);

    // A crash: acknowledged writes, then basalt and its Postgres killed; restore to the latest
    // point loses none of them.
    assert.equal((await b.admin().from('items').insert([7, 8, 9].map((id) => ({ id, note: 'acked' })))).error, null);
    const pid = Number(readFileSync(join(dir, '.basalt/pg/postmaster.pid'), 'utf8').split('\n')[0]);
    await b.stop('SIGKILL');
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100; i += 1) {
      try { process.kill(pid, 0); } catch { break; }
      await sleep(100);
    }
    basalt(['db', 'restore', '--project', dir, '--latest']);
    b = await start(dir);
    const after = await b.admin().from('items').select('id').order('id');
    assert.deepEqual(after.data.map((r) => r.id), [1, 2, 3, 7, 8, 9]);
  } finally {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a branch of the saas-foundation example is a copy whose writes never reach the main database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-branch-'));
  chmodSync(dir, 0o755);
  cpSync(join(repoRoot, 'examples/saas-foundation'), dir, { recursive: true, filter: (s) => !s.includes('/.basalt') });
  let main = await start(dir);
  let branch;
  try {
    const before = main.sql('select count(*) from auth.users');
    // Made while the main database is served (pg_basebackup) ...
    const made = basalt(['db', 'branch', 'create', 'preview', '--project', dir]);
    const ms = Number(made.match(/in (\d+) ms/)[1]);
    console.log(`# branch of a running saas-foundation: ${ms} ms`);
    await main.stop();
    // ... and while it is stopped (a file copy).
    const copied = basalt(['db', 'branch', 'create', 'cold', '--project', dir]);
    const coldMs = Number(copied.match(/in (\d+) ms/)[1]);
    console.log(`# branch of a stopped saas-foundation: ${coldMs} ms`);
    assert.ok(coldMs < 1000, `a stopped project's branch takes ${coldMs} ms`);
    assert.match(basalt(['db', 'branch', 'list', '--project', dir]), /cold\s+.*stopped\n.*preview/s);

    branch = await start(dir, ['--branch', 'preview']);
    assert.equal(branch.sql('select count(*) from auth.users'), before);
    branch.sql("insert into auth.users (id, email, aud, role) values (gen_random_uuid(), 'only-on-branch@example.com', 'authenticated', 'authenticated')");
    assert.ok(existsSync(join(dir, '.basalt/branches/preview/status.json')));
    main = await start(dir); // beside the branch, on other ports
    assert.equal(main.sql("select count(*) from auth.users where email = 'only-on-branch@example.com'"), '0');
    assert.equal(branch.sql("select count(*) from auth.users where email = 'only-on-branch@example.com'"), '1');
    await branch.stop();

    basalt(['db', 'branch', 'reset', 'preview', '--project', dir]);
    branch = await start(dir, ['--branch', 'preview']);
    assert.equal(branch.sql("select count(*) from auth.users where email = 'only-on-branch@example.com'"), '0');
    await branch.stop();
    basalt(['db', 'branch', 'delete', 'preview', '--project', dir]);
    assert.doesNotMatch(basalt(['db', 'branch', 'list', '--project', dir]), /preview/);
  } finally {
    await branch?.stop();
    await main.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('db dump and restore --from-dump move a project schema between databases', async () => {
  const dir = project();
  const b = await start(dir);
  const file = join(dir, 'schema.sql');
  try {
    b.sql('create table public.extra (id int primary key, body text)');
    basalt(['db', 'dump', '--project', dir, '-f', file]);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /CREATE TABLE "public"\."extra"/);
    assert.doesNotMatch(text, /CREATE TABLE "(auth|storage|basalt)"\./);
    b.sql('drop table public.extra; drop table public.items');
    basalt(['db', 'restore', '--project', dir, '--from-dump', file, '--db-url', b.dbUrl]);
    assert.equal(b.sql("select count(*) from information_schema.tables where table_name in ('extra', 'items')"), '2');
  } finally {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A backup every second, two kept. */
const SCHEDULED = `
[basalt.backup]
enabled = true
interval = "1s"
retention_full = 2
archive_timeout = "1s"
`;

test('scheduled full backups run on their interval and retention keeps the newest ones', async () => {
  const dir = project(SCHEDULED);
  const b = await start(dir);
  try {
    const seen = new Set();
    const deadline = Date.now() + 120_000;
    while (seen.size < 3 && Date.now() < deadline) {
      const list = JSON.parse(basalt(['db', 'backups', '--project', dir, '--json'], { stdout: true }));
      // pgBackRest lists a new backup a moment before it expires the oldest: three at most.
      assert.ok(list.length <= 3, `retention_full = 2 keeps two (a third while expiring): ${list.map((x) => x.label)}`);
      for (const x of list) {
        assert.equal(x.kind, 'full');
        seen.add(x.label);
      }
      await sleep(1000);
    }
    assert.ok(seen.size >= 3, `three scheduled backups seen: ${[...seen]}`);
    const sorted = [...seen].sort();
    let newest = [];
    for (let i = 0; i < 60; i += 1) {
      newest = JSON.parse(basalt(['db', 'backups', '--project', dir, '--json'], { stdout: true }));
      if (newest.length <= 2 && !newest.some((x) => x.label === sorted[0])) break;
      await sleep(500);
    }
    assert.ok(newest.length <= 2, `two kept: ${newest.map((x) => x.label)}`);
    assert.ok(!newest.some((x) => x.label === sorted[0]), 'the oldest was expired');
  } finally {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});


/** The HTTPS S3 server of crates/backup/examples/s3_tls_server.rs over `root`; resolves to
 * `{ endpoint, stop }` once it listens. */
async function s3Server(root) {
  const bin = process.env.BASALT_S3_TEST_SERVER ?? join(repoRoot, 'target/debug/examples/s3_tls_server');
  if (!existsSync(bin)) throw new Error(`${bin} not found: cargo build -p basalt-backup --examples`);
  const child = spawn(bin, [root, S3_KEY, S3_SECRET], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoint = await new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; const m = out.match(/listening (\S+)/); if (m) res(m[1]); });
    child.on('exit', (code) => rej(new Error(`s3_tls_server exited with ${code}`)));
  });
  return { endpoint, stop: () => child.kill('SIGTERM') };
}
const S3_KEY = 'basalt-backup-test';
const S3_SECRET = 'basalt-backup-test-secret';

/** Files under `dir`, recursively (none when it is gone). */
function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
}

/** The samples of a Prometheus text: name (with labels) → value. */
async function metrics(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

test('scheduled backups into an S3 bucket over HTTPS: retention deletes the oldest from the bucket, /metrics reports them, and a restore comes from the bucket', async () => {
  const root = mkdtempSync(join(tmpdir(), 'basalt-s3-'));
  const bucket = join(root, 'basalt-backups');
  mkdirSync(bucket);
  const s3 = await s3Server(root);
  const dir = project(`${SCHEDULED}cipher_pass = "a passphrase for the bucket"

[basalt.backup.s3]
bucket = "basalt-backups"
endpoint = "${s3.endpoint}"
region = "us-east-1"
access_key_id = "${S3_KEY}"
secret_access_key = "${S3_SECRET}"
uri_style = "path"
verify_tls = false   # the test server's certificate is self-signed
`);
  let b = await start(dir);
  try {
    const seen = new Set();
    const backupDir = (label) => join(bucket, 'basalt/backup/basalt', label);
    const list = () => JSON.parse(basalt(['db', 'backups', '--project', dir, '--json'], { stdout: true }));
    let deadline = Date.now() + 180_000;
    while (seen.size < 3 && Date.now() < deadline) {
      const now = list();
      // A backup is listed as soon as it ends; the expiry of the oldest follows in the same
      // pgBackRest run, so a third one can be seen for that moment, never a fourth.
      assert.ok(now.length <= 3, `retention_full = 2: ${now.map((x) => x.label)}`);
      for (const x of now) seen.add(x.label);
      await sleep(1000);
    }
    assert.ok(seen.size >= 3, `three scheduled backups seen: ${[...seen]}`);
    const oldest = [...seen].sort()[0];
    // Once expired, the oldest is neither listed nor in the bucket, and at most two are kept.
    let kept;
    deadline = Date.now() + 60_000;
    do {
      kept = list();
      if (kept.length <= 2 && !kept.some((x) => x.label === oldest) && filesUnder(backupDir(oldest)).length === 0) break;
      await sleep(500);
    } while (Date.now() < deadline);
    assert.ok(kept.length <= 2, `kept ${kept.map((x) => x.label)}`);
    assert.ok(!kept.some((x) => x.label === oldest), `${oldest} expired`);
    assert.equal(filesUnder(backupDir(oldest)).length, 0, `${oldest} removed from the bucket`);
    // pgBackRest wrote the backups into the bucket, nothing on local disk.
    assert.ok(!existsSync(join(dir, '.basalt/backups')), 'no local repository');
    assert.ok(filesUnder(backupDir(kept.at(-1).label)).length > 0, 'the newest backup is in the bucket');
    assert.ok(filesUnder(join(bucket, 'basalt/archive/basalt')).length > 0, 'WAL archived into the bucket');
    console.log(`# S3 repository: ${seen.size} scheduled backups seen, ${kept.length} kept, ${filesUnder(bucket).length} files in the bucket`);

    // /metrics: the newest backup, failures, and the WAL archiver.
    await sleep(2500); // pg_stat_archiver is sampled every 2 s
    const m = await metrics(b.url);
    const now = Date.now() / 1000;
    assert.equal(m.basalt_backup_enabled, 1);
    assert.ok(m.basalt_backup_count >= 1 && m.basalt_backup_count <= 2, JSON.stringify(m));
    assert.ok(now - m.basalt_backup_last_success_timestamp_seconds < 60, `last backup ${m.basalt_backup_last_success_timestamp_seconds}`);
    assert.ok(m.basalt_backup_last_size_bytes > 1e6, `size ${m.basalt_backup_last_size_bytes}`);
    assert.ok(m.basalt_backup_last_repository_bytes > 0);
    assert.equal(m.basalt_backup_failures_total, 0);
    assert.ok(m.basalt_wal_archived_total >= 3, `archived ${m.basalt_wal_archived_total}`);
    assert.equal(m.basalt_wal_archive_failures_total, 0);
    assert.ok(m.basalt_wal_last_archived_age_seconds < 30, `age ${m.basalt_wal_last_archived_age_seconds}`);

    // A restore from the bucket: rows written after the last backup come back from its WAL.
    assert.equal((await b.admin().from('items').insert([1, 2].map((id) => ({ id, note: 'in s3' })))).error, null);
    b.sql('select pg_switch_wal()');
    await sleep(3000);
    await b.stop();
    rmSync(join(dir, '.basalt/pg/pg_wal'), { recursive: true, force: true }); // only the bucket's WAL
    mkdirSync(join(dir, '.basalt/pg/pg_wal'));
    const restored = basalt(['db', 'restore', '--project', dir, '--latest']);
    assert.match(restored, /Restored the database \(to the end of the archive\)/);
    b = await start(dir);
    const { data, error } = await b.admin().from('items').select('id, note').order('id');
    assert.equal(error, null, JSON.stringify(error));
    assert.deepEqual(data, [1, 2].map((id) => ({ id, note: 'in s3' })));
  } finally {
    await b.stop();
    s3.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

test('/metrics reports backups as off without [basalt.backup]', async () => {
  const dir = project();
  const b = await start(dir);
  try {
    const m = await metrics(b.url);
    assert.equal(m.basalt_backup_enabled, 0);
    assert.equal(m.basalt_backup_count, undefined);
  } finally {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
