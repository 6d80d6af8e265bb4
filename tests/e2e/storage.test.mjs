// Storage through the real supabase-js against `basalt start`, with the SaaS foundation's
// storage SQL (bucket `user-files`, per-user folder policies) applied as a migration.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ws from 'ws';
import { createClient } from '@supabase/supabase-js';
import { startBasalt } from './lib/basalt.mjs';

const storageSql = readFileSync(
  fileURLToPath(new URL('../../crates/storage/tests/fixtures/saas_storage.sql', import.meta.url)),
  'utf8',
);
const ALICE = '11111111-1111-4111-8111-111111111111';
const BOB = '22222222-2222-4222-8222-222222222222';

let b;
before(async () => {
  b = await startBasalt({ migrations: { '0003_storage.sql': storageSql } });
});
after(async () => { await b?.stop(); });

// Clients with an explicit WebSocket transport (Node 20 has none built in).
const options = (headers = {}) => ({
  auth: { persistSession: false, autoRefreshToken: false },
  realtime: { transport: ws },
  global: { headers },
});
const anonClient = () => createClient(b.url, b.anonKey, options());
const adminClient = () => createClient(b.url, b.serviceKey, options());
function userClient(sub) {
  const now = Math.floor(Date.now() / 1000);
  const token = b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 });
  return createClient(b.url, b.anonKey, options({ Authorization: `Bearer ${token}` }));
}

const count = (where = 'true') => Number(b.sql(`select count(*) from storage.objects where ${where}`)[0][0]);
const text = async (blob) => Buffer.from(await blob.arrayBuffer()).toString('utf8');

test('a user uploads, lists, downloads, moves and deletes in their own folder', async () => {
  const files = userClient(ALICE).storage.from('user-files');
  const blob = new Blob(['hello from alice'], { type: 'text/plain' });
  let r = await files.upload(`${ALICE}/notes/a.txt`, blob);
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.path, `${ALICE}/notes/a.txt`);
  assert.equal(r.data.fullPath, `user-files/${ALICE}/notes/a.txt`);

  r = await files.upload(`${ALICE}/b.txt`, 'raw string body', { contentType: 'text/plain', upsert: true });
  assert.equal(r.error, null, JSON.stringify(r.error));

  r = await files.list(ALICE);
  assert.equal(r.error, null);
  assert.deepEqual(r.data.map((f) => f.name), ['b.txt', 'notes']);
  assert.equal(r.data[0].metadata.mimetype, 'text/plain');
  assert.equal(r.data[1].id, null);

  r = await files.download(`${ALICE}/notes/a.txt`);
  assert.equal(r.error, null);
  assert.equal(await text(r.data), 'hello from alice');

  assert.equal((await files.exists(`${ALICE}/notes/a.txt`)).data, true);
  assert.equal((await files.exists(`${ALICE}/missing.txt`)).data, false);
  const info = await files.info(`${ALICE}/notes/a.txt`);
  assert.equal(info.error, null);
  assert.equal(info.data.size, 16);

  r = await files.move(`${ALICE}/notes/a.txt`, `${ALICE}/notes/moved.txt`);
  assert.equal(r.error, null, JSON.stringify(r.error));
  r = await files.copy(`${ALICE}/notes/moved.txt`, `${ALICE}/notes/copy.txt`);
  assert.equal(r.error, null, JSON.stringify(r.error));
  r = await files.download(`${ALICE}/notes/copy.txt`);
  assert.equal(await text(r.data), 'hello from alice');

  r = await files.remove([`${ALICE}/notes/moved.txt`, `${ALICE}/notes/copy.txt`, `${ALICE}/b.txt`]);
  assert.equal(r.error, null);
  assert.equal(r.data.length, 3);
  assert.equal(count(), 0);
});

test("the same calls in another user's folder are refused and change nothing", async () => {
  const alice = userClient(ALICE).storage.from('user-files');
  const bob = userClient(BOB).storage.from('user-files');
  const path = `${ALICE}/private.txt`;
  assert.equal((await alice.upload(path, 'secret', { contentType: 'text/plain' })).error, null);

  let r = await bob.upload(`${ALICE}/intruder.txt`, 'x', { contentType: 'text/plain' });
  assert.equal(r.error.statusCode, '403');
  assert.equal(r.error.message, 'new row violates row-level security policy');
  r = await bob.upload(path, 'overwrite', { contentType: 'text/plain', upsert: true });
  assert.ok(r.error);
  r = await bob.download(path);
  assert.equal(r.error.statusCode, '404');
  r = await bob.list(ALICE);
  assert.deepEqual(r.data, []);
  r = await bob.move(path, `${BOB}/stolen.txt`);
  assert.ok(r.error);
  r = await bob.copy(path, `${BOB}/copied.txt`);
  assert.ok(r.error);
  r = await bob.remove([path]);
  assert.deepEqual(r.data, []);
  r = await bob.createSignedUrl(path, 60);
  assert.ok(r.error);

  assert.equal(count(), 1);
  r = await alice.download(path);
  assert.equal(await text(r.data), 'secret');
  assert.equal((await alice.remove([path])).data.length, 1);
});

test('the service role can do everything', async () => {
  const admin = adminClient().storage;
  let r = await admin.createBucket('reports', { public: false, fileSizeLimit: '1MB', allowedMimeTypes: ['text/*'] });
  assert.equal(r.error, null, JSON.stringify(r.error));
  r = await admin.getBucket('reports');
  assert.equal(r.data.file_size_limit, 1000000);
  r = await admin.listBuckets();
  assert.deepEqual(r.data.map((x) => x.id).sort(), ['reports', 'user-files']);
  r = await admin.updateBucket('reports', { public: false, fileSizeLimit: 10 });
  assert.equal(r.error, null);

  const files = admin.from('reports');
  r = await files.upload('q1.txt', 'too large for ten bytes', { contentType: 'text/plain' });
  assert.equal(r.error.statusCode, '413');
  r = await files.upload('q1.png', 'png', { contentType: 'image/png' });
  assert.equal(r.error.statusCode, '415');
  r = await files.upload('q1.txt', 'tiny', { contentType: 'text/plain' });
  assert.equal(r.error, null);

  r = await admin.from('user-files').upload(`${BOB}/by-admin.txt`, 'hi', { contentType: 'text/plain' });
  assert.equal(r.error, null);
  r = await admin.from('user-files').download(`${BOB}/by-admin.txt`);
  assert.equal(await text(r.data), 'hi');
  r = await admin.from('user-files').remove([`${BOB}/by-admin.txt`]);
  assert.equal(r.data.length, 1);

  r = await admin.deleteBucket('reports');
  assert.equal(r.error.statusCode, '409');
  r = await admin.emptyBucket('reports');
  assert.equal(r.error, null);
  r = await admin.deleteBucket('reports');
  assert.equal(r.error, null);
  assert.equal(count(), 0);
});

test('a public bucket serves without a token', async () => {
  const admin = adminClient().storage;
  assert.equal((await admin.createBucket('public-assets', { public: true })).error, null);
  const files = admin.from('public-assets');
  assert.equal((await files.upload('img/logo one.txt', 'logo', { contentType: 'text/plain' })).error, null);
  const { data } = files.getPublicUrl('img/logo one.txt');
  const res = await fetch(data.publicUrl);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'logo');
  const dl = await fetch(files.getPublicUrl('img/logo one.txt', { download: true }).data.publicUrl);
  assert.match(dl.headers.get('content-disposition') ?? '', /^attachment/);
  // The private bucket does not.
  const priv = await fetch(adminClient().storage.from('user-files').getPublicUrl(`${ALICE}/x.txt`).data.publicUrl);
  assert.equal(priv.status, 400);
});

test('signed URLs work until they expire', async () => {
  const alice = userClient(ALICE).storage.from('user-files');
  const path = `${ALICE}/signed file.txt`;
  assert.equal((await alice.upload(path, 'signed bytes', { contentType: 'text/plain' })).error, null);
  let r = await alice.createSignedUrl(path, 2);
  assert.equal(r.error, null, JSON.stringify(r.error));
  let res = await fetch(r.data.signedUrl);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'signed bytes');

  r = await alice.createSignedUrls([path, `${ALICE}/nope.txt`], 60);
  assert.equal(r.data[0].error, null);
  assert.equal((await fetch(r.data[0].signedUrl)).status, 200);
  assert.ok(r.data[1].error);

  r = await alice.createSignedUrl(path, 1);
  await new Promise((ok) => setTimeout(ok, 2100));
  res = await fetch(r.data.signedUrl);
  assert.equal(res.status, 400);
  const expired = await res.json();
  assert.equal(expired.code, 'InvalidJWT');
  assert.equal(expired.message, '"exp" claim timestamp check failed');

  // Signed upload URLs: created by the user, used without a session.
  r = await alice.createSignedUploadUrl(`${ALICE}/uploaded.txt`);
  assert.equal(r.error, null, JSON.stringify(r.error));
  const anon = anonClient().storage.from('user-files');
  const up = await anon.uploadToSignedUrl(`${ALICE}/uploaded.txt`, r.data.token, new Blob(['via token'], { type: 'text/plain' }));
  assert.equal(up.error, null, JSON.stringify(up.error));
  r = await alice.download(`${ALICE}/uploaded.txt`);
  assert.equal(await text(r.data), 'via token');
  assert.deepEqual(b.sql(`select owner from storage.objects where name = '${ALICE}/uploaded.txt'`), [[ALICE]]);
});

test('resumable uploads (TUS) through /storage/v1/upload/resumable', async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = b.sign({ sub: ALICE, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 });
  const b64 = (s) => Buffer.from(s).toString('base64');
  const headers = { authorization: `Bearer ${token}`, apikey: b.anonKey, 'tus-resumable': '1.0.0' };
  const create = await fetch(`${b.url}/storage/v1/upload/resumable`, {
    method: 'POST',
    headers: {
      ...headers,
      'upload-length': '10',
      'upload-metadata': `bucketName ${b64('user-files')},objectName ${b64(`${ALICE}/tus.txt`)},contentType ${b64('text/plain')}`,
    },
  });
  assert.equal(create.status, 201);
  const location = create.headers.get('location');
  assert.match(location, /^\/storage\/v1\/upload\/resumable\/[0-9a-f-]{36}$/);
  const url = new URL(location, b.url).toString();
  for (const [offset, chunk] of [[0, 'hello'], [5, 'world']]) {
    const r = await fetch(url, {
      method: 'PATCH',
      headers: { ...headers, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
      body: chunk,
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('upload-offset'), String(offset + 5));
  }
  const r = await userClient(ALICE).storage.from('user-files').download(`${ALICE}/tus.txt`);
  assert.equal(await text(r.data), 'helloworld');
});

test('download, exists and info: public buckets for any caller, missing buckets named', async () => {
  const admin = adminClient().storage;
  assert.equal((await admin.createBucket('open-reads', { public: true })).error, null);
  assert.equal((await admin.from('open-reads').upload('a.txt', 'public bytes', { contentType: 'text/plain' })).error, null);
  // The anon key and another user have no select policy on storage.objects, yet a public
  // bucket's objects download, exist and describe themselves.
  for (const client of [anonClient(), userClient(BOB)]) {
    const files = client.storage.from('open-reads');
    const r = await files.download('a.txt');
    assert.equal(r.error, null, JSON.stringify(r.error));
    assert.equal(await text(r.data), 'public bytes');
    assert.equal((await files.exists('a.txt')).data, true);
    const info = await files.info('a.txt');
    assert.equal(info.error, null, JSON.stringify(info.error));
    assert.equal(info.data.size, 12);
    assert.equal(info.data.bucketId, 'open-reads');
  }
  // A bucket that does not exist is named as such.
  const r = await adminClient().storage.from('no-such-bucket').download('a.txt');
  assert.equal(r.error.message, 'Bucket not found');
  assert.equal(r.error.statusCode, '404');
  assert.equal(r.error.status, 400);
  const info = await adminClient().storage.from('no-such-bucket').info('a.txt');
  assert.equal(info.error.message, 'Bucket not found');
  // exists(): storage-js up to 2.11x answers false for any 404; the newest answers false only
  // for NoSuchKey and throws the error otherwise, as it does against Supabase Storage.
  let exists;
  try {
    exists = (await adminClient().storage.from('no-such-bucket').exists('a.txt')).data;
  } catch (e) {
    exists = e.code;
  }
  assert.ok(exists === false || exists === 'NoSuchBucket', String(exists));
});

test('list sorts names case-insensitively; listV2 pages every sort with folders', async () => {
  const admin = adminClient().storage;
  assert.equal((await admin.createBucket('sorted', { public: false })).error, null);
  const files = admin.from('sorted');
  for (const p of ['b.txt', 'Cats/1.txt', 'a.txt', 'Zed.txt', 'dir/x.txt', 'dir.txt']) {
    assert.equal((await files.upload(p, p, { contentType: 'text/plain' })).error, null);
    await new Promise((r) => setTimeout(r, 5));
  }
  let r = await files.list('');
  assert.equal(r.error, null);
  assert.deepEqual(r.data.map((f) => f.name), ['a.txt', 'b.txt', 'Cats', 'dir.txt', 'dir', 'Zed.txt']);
  assert.deepEqual(r.data.map((f) => f.id === null), [false, false, true, false, true, false]);

  r = await files.listV2({ with_delimiter: true, limit: 4 });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.hasNext, true);
  assert.deepEqual(r.data.folders, [{ id: null, name: 'Cats/' }]);
  assert.deepEqual(r.data.objects.map((o) => o.name), ['Zed.txt', 'a.txt', 'b.txt']);
  r = await files.listV2({ with_delimiter: true, limit: 4, cursor: r.data.nextCursor });
  assert.equal(r.data.hasNext, false);
  assert.deepEqual(r.data.folders.map((f) => f.name), ['dir/']);
  assert.deepEqual(r.data.objects.map((o) => o.name), ['dir.txt']);

  r = await files.listV2({ with_delimiter: true, sortBy: { column: 'created_at', order: 'desc' } });
  assert.deepEqual(r.data.objects.map((o) => o.name), ['dir.txt', 'Zed.txt', 'a.txt', 'b.txt']);
  assert.deepEqual(r.data.folders.map((f) => f.name), ['dir/', 'Cats/']);
});

test('update() of a missing file creates it, where the policies allow the insert', async () => {
  const alice = userClient(ALICE).storage.from('user-files');
  let r = await alice.update(`${ALICE}/made-by-update.txt`, 'fresh', { contentType: 'text/plain' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.path, `${ALICE}/made-by-update.txt`);
  assert.equal(await text((await alice.download(`${ALICE}/made-by-update.txt`)).data), 'fresh');
  r = await userClient(BOB).storage.from('user-files').update(`${ALICE}/bob-was-here.txt`, 'no', { contentType: 'text/plain' });
  assert.equal(r.error.statusCode, '403');
  assert.equal(r.error.message, 'new row violates row-level security policy');
  assert.equal((await alice.remove([`${ALICE}/made-by-update.txt`])).error, null);
});
