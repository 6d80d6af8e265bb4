// Assertions on supabase-js results shared by the product tests.
import assert from 'node:assert/strict';

/** The call succeeded; its data. */
export const ok = (r, what = '') => {
  assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`);
  return r.data;
};

/** A SQL string literal. */
export const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

/** The request was refused: a permission error, or (for RLS-filtered updates/deletes) no row touched. */
export function assertRefused(r, what) {
  if (r.error) {
    assert.equal(r.error.code, '42501', `${what}: expected 42501, got ${JSON.stringify(r.error)}`);
  } else {
    assert.deepEqual(r.data, [], `${what}: expected no rows affected, got ${JSON.stringify(r.data)}`);
  }
}

/** An insert was refused by row level security or privileges. */
export function assertInsertRefused(r, what) {
  assert.ok(r.error, `${what}: insert was accepted: ${JSON.stringify(r.data)}`);
  assert.equal(r.error.code, '42501', `${what}: ${JSON.stringify(r.error)}`);
}

/** Polls `check` (sync or async) every 300 ms until it returns something truthy, which it returns; fails after `ms`. */
export async function until(what, check, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
