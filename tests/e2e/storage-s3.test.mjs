// The S3 protocol endpoint (/storage/v1/s3) through the real AWS SDK (@aws-sdk/client-s3,
// path style, region local) against `basalt start`: every operation, a 100 MB multipart upload,
// Supabase's session-token mode under the SaaS foundation's per-user folder policies, and objects
// shared with the Storage API (supabase-js) both ways.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import {
  S3Client, ListBucketsCommand, CreateBucketCommand, DeleteBucketCommand, HeadBucketCommand,
  HeadObjectCommand, GetObjectCommand, PutObjectCommand, DeleteObjectCommand, DeleteObjectsCommand,
  CopyObjectCommand, ListObjectsV2Command, CreateMultipartUploadCommand, UploadPartCommand,
  CompleteMultipartUploadCommand, AbortMultipartUploadCommand, ListPartsCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startBasalt } from './lib/basalt.mjs';

const storageSql = readFileSync(
  fileURLToPath(new URL('../../crates/storage/tests/fixtures/saas_storage.sql', import.meta.url)),
  'utf8',
);
const ALICE = '11111111-1111-4111-8111-111111111111';
const BOB = '22222222-2222-4222-8222-222222222222';

let b;
let status;
let s3;
before(async () => {
  b = await startBasalt({
    migrations: { '0003_storage.sql': storageSql },
    config: '[storage]\nfile_size_limit = "200MiB"\n',
  });
  status = JSON.parse(readFileSync(join(b.dir, '.basalt', 'status.json'), 'utf8'));
  s3 = client({ accessKeyId: status.s3.access_key, secretAccessKey: status.s3.secret_key });
});
after(async () => { await b?.stop(); });

function client(credentials) {
  return new S3Client({
    forcePathStyle: true,
    endpoint: `${b.url}/storage/v1/s3`,
    region: 'local',
    credentials,
  });
}

/** Session-token mode: access key id = project ref, secret = anon key, token = a user's JWT. */
function userS3(sub) {
  const now = Math.floor(Date.now() / 1000);
  const token = b.sign({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + 3600 });
  return client({ accessKeyId: 'e2e', secretAccessKey: b.anonKey, sessionToken: token });
}

const bytes = async (body) => Buffer.from(await body.transformToByteArray());

/** The S3 error a command fails with. */
async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the request to be refused');
}

test('basalt start prints the S3 endpoint, keys and region as supabase start does', () => {
  const out = b.output();
  assert.match(out, new RegExp(`S3 Storage URL: ${b.url}/storage/v1/s3\\n`));
  assert.match(out, new RegExp(`S3 Access Key: ${status.s3.access_key}\\n`));
  assert.match(out, new RegExp(`S3 Secret Key: ${status.s3.secret_key}\\n`));
  assert.match(out, /S3 Region: local\n/);
  // A project on the CLI's local JWT secret gets the CLI's local S3 keys.
  assert.equal(status.s3.access_key, '625729a08b95bf1b7ff351a663f3a23c');
});

test('buckets: create, head, list, delete; a non-empty bucket is refused', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 's3-buckets' }));
  await s3.send(new HeadBucketCommand({ Bucket: 's3-buckets' }));
  const list = await s3.send(new ListBucketsCommand({}));
  const names = list.Buckets.map((x) => x.Name);
  assert.ok(names.includes('s3-buckets') && names.includes('user-files'), names.join());
  assert.equal(b.sql("select public from storage.buckets where id = 's3-buckets'")[0][0], 'f');

  const dup = await refusal(s3.send(new CreateBucketCommand({ Bucket: 's3-buckets' })));
  assert.equal(dup.$metadata.httpStatusCode, 409);
  assert.equal(dup.name, 'BucketAlreadyExists');

  await s3.send(new PutObjectCommand({ Bucket: 's3-buckets', Key: 'x.txt', Body: 'x' }));
  const full = await refusal(s3.send(new DeleteBucketCommand({ Bucket: 's3-buckets' })));
  assert.equal(full.name, 'BucketNotEmpty');
  assert.equal(full.$metadata.httpStatusCode, 409);
  await s3.send(new DeleteObjectCommand({ Bucket: 's3-buckets', Key: 'x.txt' }));
  await s3.send(new DeleteBucketCommand({ Bucket: 's3-buckets' }));
  const gone = await refusal(s3.send(new HeadBucketCommand({ Bucket: 's3-buckets' })));
  assert.equal(gone.$metadata.httpStatusCode, 404);
  const missing = await refusal(s3.send(new ListObjectsV2Command({ Bucket: 's3-buckets' })));
  assert.equal(missing.name, 'NoSuchBucket');
});

test('objects: put, head, get with Range, copy, list, delete', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 's3-objects' }));
  const put = await s3.send(new PutObjectCommand({
    Bucket: 's3-objects', Key: 'docs/hello.txt', Body: 'hello, S3 world',
    ContentType: 'text/plain', CacheControl: 'max-age=60', Metadata: { author: 'alice' },
  }));
  assert.ok(put.ETag);
  // A key outside storage's character set is refused with Supabase Storage's code.
  const badKey = await refusal(s3.send(new PutObjectCommand({ Bucket: 's3-objects', Key: 'caf\u00e9.txt', Body: 'x' })));
  assert.equal(badKey.name, 'InvalidKey');
  assert.equal(badKey.$metadata.httpStatusCode, 400);

  const head = await s3.send(new HeadObjectCommand({ Bucket: 's3-objects', Key: 'docs/hello.txt' }));
  assert.equal(head.ContentLength, 15);
  assert.equal(head.ContentType, 'text/plain');
  assert.equal(head.CacheControl, 'max-age=60');
  assert.equal(head.ETag, put.ETag);
  assert.deepEqual(head.Metadata, { author: 'alice' });

  const got = await s3.send(new GetObjectCommand({ Bucket: 's3-objects', Key: 'docs/hello.txt' }));
  assert.equal((await bytes(got.Body)).toString(), 'hello, S3 world');
  const part = await s3.send(new GetObjectCommand({ Bucket: 's3-objects', Key: 'docs/hello.txt', Range: 'bytes=7-8' }));
  assert.equal(part.$metadata.httpStatusCode, 206);
  assert.equal(part.ContentRange, 'bytes 7-8/15');
  assert.equal((await bytes(part.Body)).toString(), 'S3');
  const bad = await refusal(s3.send(new GetObjectCommand({ Bucket: 's3-objects', Key: 'docs/hello.txt', Range: 'bytes=100-' })));
  assert.equal(bad.$metadata.httpStatusCode, 416);

  const copy = await s3.send(new CopyObjectCommand({
    Bucket: 's3-objects', Key: 'docs/copy.txt', CopySource: 's3-objects/docs/hello.txt',
  }));
  assert.ok(copy.CopyObjectResult.ETag);
  const copied = await s3.send(new GetObjectCommand({ Bucket: 's3-objects', Key: 'docs/copy.txt' }));
  assert.equal((await bytes(copied.Body)).toString(), 'hello, S3 world');
  // COPY (the default) keeps the source's metadata; REPLACE takes the request's.
  assert.equal(copied.ContentType, 'text/plain');
  assert.deepEqual(copied.Metadata, { author: 'alice' });
  await s3.send(new CopyObjectCommand({
    Bucket: 's3-objects', Key: 'docs/replaced.json', CopySource: 's3-objects/docs/hello.txt',
    MetadataDirective: 'REPLACE', ContentType: 'application/json', CacheControl: 'max-age=5',
    Metadata: { reviewed: 'yes' },
  }));
  const replaced = await s3.send(new HeadObjectCommand({ Bucket: 's3-objects', Key: 'docs/replaced.json' }));
  assert.equal(replaced.ContentType, 'application/json');
  assert.equal(replaced.CacheControl, 'max-age=5');
  assert.deepEqual(replaced.Metadata, { reviewed: 'yes' });
  assert.equal(replaced.ContentLength, 15);
  await s3.send(new DeleteObjectCommand({ Bucket: 's3-objects', Key: 'docs/replaced.json' }));

  for (const k of ['a.txt', 'b/one.txt', 'b/two.txt', 'c/d/three.txt']) {
    await s3.send(new PutObjectCommand({ Bucket: 's3-objects', Key: k, Body: k }));
  }
  const top = await s3.send(new ListObjectsV2Command({ Bucket: 's3-objects', Delimiter: '/' }));
  assert.deepEqual(top.Contents.map((o) => o.Key), ['a.txt']);
  assert.equal(top.Contents[0].Size, 5);
  assert.deepEqual(top.CommonPrefixes.map((p) => p.Prefix), ['b/', 'c/', 'docs/']);
  const under = await s3.send(new ListObjectsV2Command({ Bucket: 's3-objects', Prefix: 'b/' }));
  assert.deepEqual(under.Contents.map((o) => o.Key), ['b/one.txt', 'b/two.txt']);

  // Pages of two, continued by token, visit every key once in byte order.
  const seen = [];
  let token;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: 's3-objects', MaxKeys: 2, ContinuationToken: token }));
    seen.push(...page.Contents.map((o) => o.Key));
    assert.equal(page.KeyCount, page.Contents.length);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  assert.deepEqual(seen, ['a.txt', 'b/one.txt', 'b/two.txt', 'c/d/three.txt', 'docs/copy.txt', 'docs/hello.txt']);

  await s3.send(new DeleteObjectCommand({ Bucket: 's3-objects', Key: 'a.txt' }));
  const nokey = await refusal(s3.send(new GetObjectCommand({ Bucket: 's3-objects', Key: 'a.txt' })));
  assert.equal(nokey.name, 'NoSuchKey');
  assert.equal(nokey.$metadata.httpStatusCode, 404);
  const del = await s3.send(new DeleteObjectsCommand({
    Bucket: 's3-objects',
    Delete: { Objects: [{ Key: 'b/one.txt' }, { Key: 'b/two.txt' }, { Key: 'never-was.txt' }] },
  }));
  assert.deepEqual(del.Deleted.map((d) => d.Key).sort(), ['b/one.txt', 'b/two.txt', 'never-was.txt']);
  const left = await s3.send(new ListObjectsV2Command({ Bucket: 's3-objects' }));
  assert.deepEqual(left.Contents.map((o) => o.Key), ['c/d/three.txt', 'docs/copy.txt', 'docs/hello.txt']);
  assert.equal(Number(b.sql("select count(*) from storage.objects where bucket_id = 's3-objects'")[0][0]), 3);
});

test('multipart: create, upload parts, list parts, complete; abort removes the upload', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 's3-multipart' }));
  const Key = 'big/file.bin';
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 's3-multipart', Key, ContentType: 'application/x-test' }));
  assert.ok(UploadId);
  const p1 = randomBytes(5 * 1024 * 1024);
  const p2 = randomBytes(1234);
  const r1 = await s3.send(new UploadPartCommand({ Bucket: 's3-multipart', Key, UploadId, PartNumber: 1, Body: p1 }));
  const r2 = await s3.send(new UploadPartCommand({ Bucket: 's3-multipart', Key, UploadId, PartNumber: 2, Body: p2 }));
  const parts = await s3.send(new ListPartsCommand({ Bucket: 's3-multipart', Key, UploadId }));
  assert.deepEqual(parts.Parts.map((p) => [p.PartNumber, p.Size, p.ETag]), [[1, p1.length, r1.ETag], [2, p2.length, r2.ETag]]);
  // The upload lives in the database, where every node sees it.
  assert.equal(b.sql(`select count(*) from storage.s3_multipart_uploads_parts where upload_id = '${UploadId}'`)[0][0], '2');

  const wrong = await refusal(s3.send(new CompleteMultipartUploadCommand({
    Bucket: 's3-multipart', Key, UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r2.ETag }] },
  })));
  assert.equal(wrong.name, 'InvalidPart');

  const done = await s3.send(new CompleteMultipartUploadCommand({
    Bucket: 's3-multipart', Key, UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r1.ETag }, { PartNumber: 2, ETag: r2.ETag }] },
  }));
  assert.ok(done.ETag);
  const got = await s3.send(new GetObjectCommand({ Bucket: 's3-multipart', Key }));
  assert.equal(got.ContentType, 'application/x-test');
  assert.ok((await bytes(got.Body)).equals(Buffer.concat([p1, p2])));
  assert.equal(b.sql(`select count(*) from storage.s3_multipart_uploads where id = '${UploadId}'`)[0][0], '0');

  const other = await s3.send(new CreateMultipartUploadCommand({ Bucket: 's3-multipart', Key: 'aborted.bin' }));
  await s3.send(new UploadPartCommand({ Bucket: 's3-multipart', Key: 'aborted.bin', UploadId: other.UploadId, PartNumber: 1, Body: 'abc' }));
  await s3.send(new AbortMultipartUploadCommand({ Bucket: 's3-multipart', Key: 'aborted.bin', UploadId: other.UploadId }));
  const gone = await refusal(s3.send(new ListPartsCommand({ Bucket: 's3-multipart', Key: 'aborted.bin', UploadId: other.UploadId })));
  assert.equal(gone.name, 'NoSuchUpload');
  const absent = await refusal(s3.send(new HeadObjectCommand({ Bucket: 's3-multipart', Key: 'aborted.bin' })));
  assert.equal(absent.$metadata.httpStatusCode, 404);
});

test('a 100 MB multipart upload (lib-storage) downloads back with the same SHA-256', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 's3-large' }));
  const size = 100 * 1024 * 1024;
  const chunk = 1024 * 1024;
  const sent = createHash('sha256');
  let made = 0;
  // Generated as it is sent, never held whole.
  const source = Readable.from((function* () {
    while (made < size) {
      const c = randomBytes(Math.min(chunk, size - made));
      made += c.length;
      sent.update(c);
      yield c;
    }
  })());
  const upload = new Upload({
    client: s3,
    params: { Bucket: 's3-large', Key: 'hundred.bin', Body: source, ContentType: 'application/octet-stream' },
    partSize: 8 * 1024 * 1024,
    queueSize: 4,
  });
  await upload.done();
  const head = await s3.send(new HeadObjectCommand({ Bucket: 's3-large', Key: 'hundred.bin' }));
  assert.equal(head.ContentLength, size);
  const got = await s3.send(new GetObjectCommand({ Bucket: 's3-large', Key: 'hundred.bin' }));
  const received = createHash('sha256');
  let n = 0;
  for await (const c of got.Body) { received.update(c); n += c.length; }
  assert.equal(n, size);
  assert.equal(received.digest('hex'), sent.digest('hex'));
  assert.equal(b.sql('select count(*) from storage.s3_multipart_uploads')[0][0], '0');
});

test('session-token mode: a user JWT is allowed by one policy and refused by another', async () => {
  const alice = userS3(ALICE);
  await alice.send(new PutObjectCommand({ Bucket: 'user-files', Key: `${ALICE}/s3.txt`, Body: 'mine', ContentType: 'text/plain' }));
  const own = await alice.send(new GetObjectCommand({ Bucket: 'user-files', Key: `${ALICE}/s3.txt` }));
  assert.equal((await bytes(own.Body)).toString(), 'mine');
  assert.equal(b.sql(`select owner_id from storage.objects where name = '${ALICE}/s3.txt'`)[0][0], ALICE);

  // Into another user's folder: the insert policy refuses.
  const write = await refusal(alice.send(new PutObjectCommand({ Bucket: 'user-files', Key: `${BOB}/s3.txt`, Body: 'not mine', ContentType: 'text/plain' })));
  assert.equal(write.name, 'AccessDenied');
  assert.equal(write.$metadata.httpStatusCode, 403);
  assert.equal(b.sql(`select count(*) from storage.objects where name = '${BOB}/s3.txt'`)[0][0], '0');
  // Multipart uploads ask the same policy before any part is stored.
  const mp = await refusal(alice.send(new CreateMultipartUploadCommand({ Bucket: 'user-files', Key: `${BOB}/big.txt`, ContentType: 'text/plain' })));
  assert.equal(mp.name, 'AccessDenied');

  // Bob's file (written by the service key) is invisible to Alice, readable by Bob.
  await s3.send(new PutObjectCommand({ Bucket: 'user-files', Key: `${BOB}/secret.txt`, Body: 'bob only', ContentType: 'text/plain' }));
  const read = await refusal(alice.send(new GetObjectCommand({ Bucket: 'user-files', Key: `${BOB}/secret.txt` })));
  assert.equal(read.name, 'NoSuchKey');
  const listed = await alice.send(new ListObjectsV2Command({ Bucket: 'user-files' }));
  assert.deepEqual((listed.Contents ?? []).map((o) => o.Key), [`${ALICE}/s3.txt`]);
  const bob = await userS3(BOB).send(new GetObjectCommand({ Bucket: 'user-files', Key: `${BOB}/secret.txt` }));
  assert.equal((await bytes(bob.Body)).toString(), 'bob only');

  // A token not signed with the project's keys, or no token at all, is refused.
  const forged = client({ accessKeyId: 'e2e', secretAccessKey: b.anonKey, sessionToken: 'x.y.z' });
  const f = await refusal(forged.send(new ListBucketsCommand({})));
  assert.equal(f.$metadata.httpStatusCode, 403);
  const none = client({ accessKeyId: 'e2e', secretAccessKey: b.anonKey });
  assert.equal((await refusal(none.send(new ListBucketsCommand({})))).$metadata.httpStatusCode, 403);
  const wrongKey = client({ accessKeyId: status.s3.access_key, secretAccessKey: 'not-the-secret' });
  const w = await refusal(wrongKey.send(new ListBucketsCommand({})));
  assert.equal(w.name, 'SignatureDoesNotMatch');
});

test('objects are shared with the Storage API (supabase-js) both ways', async () => {
  const files = b.userClient(ALICE).storage.from('user-files');
  await userS3(ALICE).send(new PutObjectCommand({ Bucket: 'user-files', Key: `${ALICE}/shared/from-s3.txt`, Body: 'written by s3', ContentType: 'text/plain' }));
  const listed = await files.list(`${ALICE}/shared`);
  assert.equal(listed.error, null);
  assert.deepEqual(listed.data.map((f) => f.name), ['from-s3.txt']);
  assert.equal(listed.data[0].metadata.mimetype, 'text/plain');
  const dl = await files.download(`${ALICE}/shared/from-s3.txt`);
  assert.equal(dl.error, null);
  assert.equal(await dl.data.text(), 'written by s3');

  const up = await files.upload(`${ALICE}/shared/from-js.txt`, 'written by supabase-js', { contentType: 'text/plain' });
  assert.equal(up.error, null, JSON.stringify(up.error));
  const got = await userS3(ALICE).send(new GetObjectCommand({ Bucket: 'user-files', Key: `${ALICE}/shared/from-js.txt` }));
  assert.equal(got.ContentType, 'text/plain');
  assert.equal((await bytes(got.Body)).toString(), 'written by supabase-js');
  const page = await s3.send(new ListObjectsV2Command({ Bucket: 'user-files', Prefix: `${ALICE}/shared/` }));
  assert.deepEqual(page.Contents.map((o) => o.Key), [`${ALICE}/shared/from-js.txt`, `${ALICE}/shared/from-s3.txt`]);

  // Deleted through S3, gone from the Storage API.
  await s3.send(new DeleteObjectCommand({ Bucket: 'user-files', Key: `${ALICE}/shared/from-js.txt` }));
  const after = await files.download(`${ALICE}/shared/from-js.txt`);
  assert.ok(after.error);
});

test('[storage.s3_protocol] enabled = false switches the endpoint off', async () => {
  const off = await startBasalt({ config: '[storage.s3_protocol]\nenabled = false\n' });
  try {
    assert.doesNotMatch(off.output(), /S3 Access Key/);
    const st = JSON.parse(readFileSync(join(off.dir, '.basalt', 'status.json'), 'utf8'));
    assert.equal(st.s3, undefined);
    const c = new S3Client({
      forcePathStyle: true, endpoint: `${off.url}/storage/v1/s3`, region: 'local',
      credentials: { accessKeyId: status.s3.access_key, secretAccessKey: status.s3.secret_key },
    });
    await refusal(c.send(new ListBucketsCommand({})));
  } finally {
    await off.stop();
  }
});
