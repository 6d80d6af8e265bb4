// examples/socialsync-ai needs pgvector. Debian's Postgres has none; the example's README shows
// how to assemble a Postgres 16 with pgvector (scripts/install-pg16-vector.sh). Its test files
// run when BASALT_PG_BIN, /opt/basalt-pg16-vector/bin or the default Postgres has pgvector.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const DEFAULT_PG16_VECTOR = '/opt/basalt-pg16-vector/bin';

/** Whether the Postgres binaries in `bin` (a directory with initdb and postgres) have pgvector. */
function hasPgvector(bin) {
  if (!existsSync(join(bin, 'postgres')) || !existsSync(join(bin, 'initdb'))) return false;
  const shares = [join(dirname(bin), 'share/postgresql'), join(dirname(bin), 'share')];
  try {
    shares.unshift(execFileSync(join(bin, 'pg_config'), ['--sharedir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch { /* no pg_config next to the server */ }
  return shares.some((s) => existsSync(join(s, 'extension/vector.control')));
}

/** Where basalt finds a Postgres with pgvector ({ bin }, null for the default), or why it cannot ({ reason }). */
export function locatePgvector() {
  if (process.env.BASALT_PG_BIN) {
    return hasPgvector(process.env.BASALT_PG_BIN)
      ? { bin: process.env.BASALT_PG_BIN }
      : { reason: `BASALT_PG_BIN=${process.env.BASALT_PG_BIN} has no pgvector (extension/vector.control)` };
  }
  try {
    const share = execFileSync('pg_config', ['--sharedir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (existsSync(join(share, 'extension/vector.control'))) return { bin: null };
  } catch { /* no pg_config on PATH */ }
  if (hasPgvector(DEFAULT_PG16_VECTOR)) return { bin: DEFAULT_PG16_VECTOR };
  return {
    reason: 'pgvector binaries not available: the default Postgres has no vector extension, BASALT_PG_BIN is unset and '
      + `${DEFAULT_PG16_VECTOR} is absent (run examples/socialsync-ai/scripts/install-pg16-vector.sh)`,
  };
}

/**
 * Finds pgvector for the file `what`: prints why the file is skipped and returns the reason, or
 * points BASALT_PG_BIN (inherited by startBasalt and `basalt db reset`) at it and returns false.
 */
export function requirePgvector(what) {
  const pg = locatePgvector();
  if (pg.reason) {
    console.log(`# ${what} skipped: ${pg.reason}`);
    return pg.reason;
  }
  if (pg.bin) process.env.BASALT_PG_BIN = pg.bin;
  return false;
}
