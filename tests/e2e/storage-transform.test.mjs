// Image transformations through the real supabase-js against `basalt start` with
// `[storage.image_transformation] enabled = true`: download(path, {transform}),
// getPublicUrl(path, {transform}) and createSignedUrl(path, exp, {transform}) on PNGs this test
// encodes itself; every output is decoded here (PNG pixels, WebP headers) and measured.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { startBasalt } from './lib/basalt.mjs';

const storageSql = readFileSync(
  fileURLToPath(new URL('../../crates/storage/tests/fixtures/saas_storage.sql', import.meta.url)),
  'utf8',
);
const ALICE = '11111111-1111-4111-8111-111111111111';
const BOB = '22222222-2222-4222-8222-222222222222';

// ---- PNG encoding and decoding (8-bit RGB), by hand with node's zlib ----

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A PNG of `w`×`h` whose pixel (x, y) is `color(x, y)` = [r, g, b]; `bitDepth` 1 = greyscale. */
function encodePng(w, h, color, { bitDepth = 8, raw } = {}) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = bitDepth === 8 ? 2 : 0;
  let rows = raw;
  if (!rows) {
    rows = Buffer.alloc((w * 3 + 1) * h);
    for (let y = 0; y < h; y++) {
      const o = y * (w * 3 + 1);
      for (let x = 0; x < w; x++) rows.set(color(x, y), o + 1 + x * 3);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
/** Decodes an 8-bit RGB or RGBA PNG: { width, height, pixel(x, y) → [r, g, b] }. */
function decodePng(buf) {
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG', 'not a PNG');
  let off = 8;
  let width, height, channels;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.subarray(off + 4, off + 8).toString('latin1');
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth');
      channels = { 2: 3, 6: 4 }[data[9]];
      assert.ok(channels, `colour type ${data[9]}`);
    }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i];
      const a = i >= channels ? out[y * stride + i - channels] : 0;
      const b = y > 0 ? out[(y - 1) * stride + i] : 0;
      const c = i >= channels && y > 0 ? out[(y - 1) * stride + i - channels] : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][filter];
      out[y * stride + i] = (v + pred) & 0xff;
    }
  }
  return {
    width,
    height,
    pixel: (x, y) => [...out.subarray(y * stride + x * channels, y * stride + x * channels + 3)],
  };
}
/** Width and height from a WebP's header (lossy VP8, lossless VP8L or extended VP8X). */
function webpSize(buf) {
  assert.equal(buf.subarray(0, 4).toString('latin1'), 'RIFF', 'not RIFF');
  assert.equal(buf.subarray(8, 12).toString('latin1'), 'WEBP', 'not WebP');
  const kind = buf.subarray(12, 16).toString('latin1');
  if (kind === 'VP8 ') {
    assert.deepEqual([...buf.subarray(23, 26)], [0x9d, 0x01, 0x2a], 'VP8 start code');
    return { kind, width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff };
  }
  if (kind === 'VP8L') {
    const bits = buf.readUInt32LE(21);
    return { kind, width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  assert.equal(kind, 'VP8X');
  return { kind, width: buf.readUIntLE(24, 3) + 1, height: buf.readUIntLE(27, 3) + 1 };
}

const bytes = async (blob) => Buffer.from(await blob.arrayBuffer());
// A landscape picture: left half red, right half green; and a portrait one, all blue.
const RED = [220, 20, 20], GREEN = [20, 200, 20], BLUE = [20, 20, 220];
const landscape = encodePng(400, 300, (x) => (x < 200 ? RED : GREEN));
const portrait = encodePng(300, 600, () => BLUE);
// A noisy one, so that lossy quality makes a difference.
const noisy = encodePng(320, 240, (x, y) => [(x * 7 + y * 3) & 0xff, (x * y) & 0xff, (x ^ y) & 0xff]);
const near = (a, b) => a.every((v, i) => Math.abs(v - b[i]) <= 12);

let b;
before(async () => {
  b = await startBasalt({
    migrations: { '0003_storage.sql': storageSql },
    config: '[storage.image_transformation]\nenabled = true\n[storage.buckets.pics]\npublic = true\n',
  });
  const pics = b.admin().storage.from('pics');
  for (const [name, data] of [['land.png', landscape], ['noisy.png', noisy]]) {
    const r = await pics.upload(name, new Blob([data], { type: 'image/png' }), { upsert: true });
    assert.equal(r.error, null, JSON.stringify(r.error));
  }
});
after(async () => { await b?.stop(); });

async function download(client, bucket, path, transform) {
  const r = await client.storage.from(bucket).download(path, { transform });
  assert.equal(r.error, null, JSON.stringify(r.error));
  return { type: r.data.type, body: await bytes(r.data) };
}

test('width, height and each resize mode, decoded', async () => {
  const admin = b.admin();
  const cases = [
    [{ width: 200 }, 200, 150],
    [{ height: 100 }, 133, 100],
    [{ width: 100, height: 100 }, 100, 100], // cover is the default
    [{ width: 100, height: 100, resize: 'cover' }, 100, 100],
    [{ width: 100, height: 100, resize: 'contain' }, 100, 75],
    [{ width: 100, height: 40, resize: 'fill' }, 100, 40],
  ];
  for (const [transform, w, h] of cases) {
    const { type, body } = await download(admin, 'pics', 'land.png', transform);
    assert.equal(type, 'image/png', JSON.stringify(transform));
    const png = decodePng(body);
    assert.deepEqual([png.width, png.height], [w, h], JSON.stringify(transform));
    // Left edge red, right edge green, whatever the mode.
    assert.ok(near(png.pixel(1, h >> 1), RED), `${JSON.stringify(transform)} ${png.pixel(1, h >> 1)}`);
    assert.ok(near(png.pixel(w - 2, h >> 1), GREEN), JSON.stringify(transform));
  }
  // cover crops the sides: a 100×300 portrait crop of the middle meets both colours at the centre.
  const cover = decodePng((await download(admin, 'pics', 'land.png', { width: 50, height: 150 })).body);
  assert.deepEqual([cover.width, cover.height], [50, 150]);
  assert.ok(near(cover.pixel(5, 75), RED) && near(cover.pixel(45, 75), GREEN));
});

test('quality changes lossy output; format origin vs WebP by Accept', async () => {
  const pub = (transform) => b.admin().storage.from('pics').getPublicUrl('noisy.png', { transform }).data.publicUrl;
  const url = pub({ width: 300, quality: 95 });
  assert.match(url, /\/storage\/v1\/render\/image\/public\/pics\/noisy\.png\?width=300&quality=95$/);
  const fetchAs = async (u, accept) => {
    const r = await fetch(u, { headers: accept ? { accept } : {} });
    assert.equal(r.status, 200, await r.clone().text());
    return { type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) };
  };
  // Accept with image/webp: WebP; without: the source's format; format=origin: PNG regardless.
  const browser = 'image/avif,image/webp,image/apng,*/*;q=0.8';
  const hi = await fetchAs(url, browser);
  const lo = await fetchAs(pub({ width: 300, quality: 20 }), browser);
  assert.equal(hi.type, 'image/webp');
  assert.deepEqual(webpSize(hi.body), { kind: 'VP8 ', width: 300, height: 225 });
  assert.deepEqual(webpSize(lo.body), { kind: 'VP8 ', width: 300, height: 225 });
  assert.ok(lo.body.length * 2 < hi.body.length, `${lo.body.length} vs ${hi.body.length}`);
  const plain = await fetchAs(url);
  assert.equal(plain.type, 'image/png');
  assert.equal(decodePng(plain.body).width, 300);
  const origin = await fetchAs(pub({ width: 300, format: 'origin' }), browser);
  assert.equal(origin.type, 'image/png');
  assert.deepEqual([decodePng(origin.body).width, decodePng(origin.body).height], [300, 225]);

  // Through download(): the client's Accept header decides the same way.
  const webpClient = b.client(b.serviceKey, { global: { headers: { Accept: 'image/webp' } } });
  const viaDownload = await download(webpClient, 'pics', 'noisy.png', { width: 64 });
  assert.equal(viaDownload.type, 'image/webp');
  assert.deepEqual(webpSize(viaDownload.body), { kind: 'VP8 ', width: 64, height: 48 });
  const kept = await download(webpClient, 'pics', 'noisy.png', { width: 64, format: 'origin' });
  assert.equal(kept.type, 'image/png');
});

test('RLS of a private bucket applies to renders; signed URLs carry the transform', async () => {
  const alice = b.userClient(ALICE).storage.from('user-files');
  const path = `${ALICE}/avatar.png`;
  let r = await alice.upload(path, new Blob([landscape], { type: 'image/png' }));
  assert.equal(r.error, null, JSON.stringify(r.error));

  const own = decodePng((await download(b.userClient(ALICE), 'user-files', path, { width: 80 })).body);
  assert.deepEqual([own.width, own.height], [80, 60]);
  for (const [who, client] of [['anon', b.client()], ['bob', b.userClient(BOB)]]) {
    r = await client.storage.from('user-files').download(path, { transform: { width: 80 } });
    assert.ok(r.error, `${who} rendered Alice's image`);
    assert.equal(r.data, null);
  }
  // Not through the public route either.
  const pub = b.client().storage.from('user-files').getPublicUrl(path, { transform: { width: 80 } }).data.publicUrl;
  const denied = await fetch(pub);
  assert.equal(denied.status, 400);
  assert.equal((await denied.json()).statusCode, '404');

  r = await alice.createSignedUrl(path, 60, { transform: { width: 90, height: 90, resize: 'contain' } });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.match(r.data.signedUrl, /\/storage\/v1\/render\/image\/sign\/user-files\//);
  const signed = await fetch(r.data.signedUrl);
  assert.equal(signed.status, 200);
  const img = decodePng(Buffer.from(await signed.arrayBuffer()));
  assert.deepEqual([img.width, img.height], [90, 68]);
  // Bob cannot sign it.
  r = await b.userClient(BOB).storage.from('user-files').createSignedUrl(path, 60, { transform: { width: 90 } });
  assert.ok(r.error);
});

test('the second render comes from the cache; an overwrite renders the new content', async () => {
  const pics = b.admin().storage.from('pics');
  let r = await pics.upload('cached.png', new Blob([landscape], { type: 'image/png' }), { upsert: true });
  assert.equal(r.error, null);
  const url = pics.getPublicUrl('cached.png', { transform: { width: 120, height: 120, resize: 'contain' } }).data.publicUrl;
  const get = async () => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    return { cache: res.headers.get('x-basalt-render-cache'), img: decodePng(Buffer.from(await res.arrayBuffer())) };
  };
  const first = await get();
  assert.equal(first.cache, 'miss');
  assert.deepEqual([first.img.width, first.img.height], [120, 90]);
  const second = await get();
  assert.equal(second.cache, 'hit');
  assert.deepEqual([second.img.width, second.img.height], [120, 90]);

  r = await pics.update('cached.png', new Blob([portrait], { type: 'image/png' }));
  assert.equal(r.error, null, JSON.stringify(r.error));
  const third = await get();
  assert.equal(third.cache, 'miss');
  assert.deepEqual([third.img.width, third.img.height], [60, 120]);
  assert.ok(near(third.img.pixel(30, 60), BLUE), `${third.img.pixel(30, 60)}`);
  assert.equal((await get()).cache, 'hit');
});

test('limits: dimensions outside 1–2500 and a 20000×20000 PNG bomb are refused', async () => {
  const pics = b.admin().storage.from('pics');
  for (const transform of [{ width: 2501 }, { height: 3000 }, { width: -5 }]) {
    const r = await pics.download('land.png', { transform });
    assert.ok(r.error, JSON.stringify(transform));
    const res = await fetch(pics.getPublicUrl('land.png', { transform }).data.publicUrl);
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.statusCode, '400');
    assert.equal(body.code, 'InvalidRequest');
    assert.match(body.message, /must be between 1 and 2500/);
  }

  // 20000×20000 1-bit greyscale: 400 megapixels from a ~50 KB file.
  const row = 20000 / 8 + 1;
  const bomb = encodePng(20000, 20000, null, { bitDepth: 1, raw: Buffer.alloc(row * 20000) });
  assert.ok(bomb.length < 200_000, `${bomb.length}`);
  const up = await pics.upload('bomb.png', new Blob([bomb], { type: 'image/png' }), { upsert: true });
  assert.equal(up.error, null);
  const started = Date.now();
  const res = await fetch(pics.getPublicUrl('bomb.png', { transform: { width: 100 } }).data.publicUrl);
  const took = Date.now() - started;
  assert.equal(res.status, 400);
  assert.equal((await res.json()).message, 'The source image resolution is too large to process');
  assert.ok(took < 2000, `${took} ms`);
  // Still rendering afterwards.
  const ok = await download(b.admin(), 'pics', 'land.png', { width: 10 });
  assert.equal(decodePng(ok.body).width, 10);
});
