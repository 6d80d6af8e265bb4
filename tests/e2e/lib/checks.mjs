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
