// The supabase-js that tests/e2e's files get when run from here is this package's pinned release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createClient } from '@supabase/supabase-js';

test('tests/e2e files resolve the supabase-js pinned here', async () => {
  const pinned = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).dependencies['@supabase/supabase-js'];
  const lib = new URL('../e2e/lib/basalt.mjs', import.meta.url).href;
  const resolved = fileURLToPath(import.meta.resolve('@supabase/supabase-js', lib));
  assert.match(resolved, /e2e-latest\/node_modules\/@supabase\/supabase-js\//);
  const c = createClient('http://127.0.0.1:1', 'key', { auth: { persistSession: false }, realtime: { transport: class {} } });
  assert.match(c.headers['X-Client-Info'], new RegExp(`/${pinned.replace(/\./g, '\\.')}(;|$)`));
});
