// `basalt gen types typescript` against the generator the Supabase CLI pins for
// `supabase gen types typescript` (postgres-meta 0.99.0, installed from npm by .ci/setup through
// tools/package.json). For each example project, basalt starts it, both generators read the same
// database, and the outputs must be equal byte for byte: postgres-meta run exactly as the CLI
// runs it (one-to-one detection on, `public`), its stdout written as the CLI writes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBasalt, repoRoot, basaltBin } from './lib/basalt.mjs';

const META = join(repoRoot, 'tools/node_modules/@supabase/postgres-meta/dist/server/server.js');

function metaTypes(dbUrl, ca) {
  assert.ok(existsSync(META), `postgres-meta 0.99.0 is not installed at ${META}: run .ci/setup`);
  return execFileSync('node', [META], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PG_META_DB_URL: dbUrl,
      // Under BASALT_E2E_TLS the database's certificate comes from a private CA.
      ...(ca ? { NODE_EXTRA_CA_CERTS: ca } : {}),
      PG_META_GENERATE_TYPES: 'typescript',
      PG_META_GENERATE_TYPES_INCLUDED_SCHEMAS: 'public',
      PG_META_GENERATE_TYPES_SWIFT_ACCESS_CONTROL: 'internal',
      PG_META_GENERATE_TYPES_DETECT_ONE_TO_ONE_RELATIONSHIPS: 'true',
      PG_CONN_TIMEOUT_SECS: '60',
      PG_QUERY_TIMEOUT_SECS: '60',
    },
  });
}

function basaltTypes(dbUrl) {
  return execFileSync(basaltBin(), ['gen', 'types', '--lang', 'typescript', '--db-url', dbUrl, '-s', 'public'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, BASALT_LOG: 'error' },
  });
}

/** Where socialsync-ai's Postgres with pgvector is (as its own e2e test finds it), or null. */
function pgvectorBin() {
  if (process.env.BASALT_PG_BIN) return process.env.BASALT_PG_BIN;
  const bin = '/opt/basalt-pg16-vector/bin';
  return existsSync(join(bin, 'postgres')) ? bin : null;
}

const examples = [
  { name: 'quickstart' },
  { name: 'trip-os' },
  { name: 'saas-foundation' },
  { name: 'trvl-social' },
  { name: 'whatsapp-saas' },
  { name: 'socialsync-ai', pgBin: pgvectorBin(), needs: 'a Postgres with pgvector (.ci/setup assembles one)' },
];

for (const ex of examples) {
  const skip = ex.needs && !ex.pgBin ? `needs ${ex.needs}` : false;
  test(`gen types typescript equals postgres-meta 0.99.0 on ${ex.name}`, { skip }, async () => {
    const b = await startBasalt({
      projectDir: join(repoRoot, 'examples', ex.name),
      env: ex.pgBin ? { BASALT_PG_BIN: ex.pgBin } : {},
    });
    try {
      const ours = basaltTypes(b.dbUrl);
      const theirs = metaTypes(b.dbUrl, b.dbCa);
      if (ours !== theirs) {
        // Both outputs, to diff by hand.
        const out = join(repoRoot, 'target/gen-types-meta');
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, `${ex.name}.basalt.ts`), ours);
        writeFileSync(join(out, `${ex.name}.meta.ts`), theirs);
      }
      assert.ok(theirs.includes('export type Database = {'), theirs.slice(0, 300));
      assert.equal(ours, theirs, `${ex.name}: outputs differ (both written under target/gen-types-meta)`);
    } finally {
      await b.stop();
    }
  });
}
