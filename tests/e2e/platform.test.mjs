// The platform a Supabase project expects beyond the APIs: pg_stat_statements in `extensions`,
// preloaded (what `supabase inspect db` reads).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBasalt } from './lib/basalt.mjs';

let b;
before(async () => { b = await startBasalt(); });
after(async () => { await b?.stop(); });

test('pg_stat_statements is created in extensions and collects statements', async () => {
  const [[schema]] = b.sql("select extnamespace::regnamespace::text from pg_extension where extname = 'pg_stat_statements'");
  assert.equal(schema, 'extensions');
  // Preloaded: the view answers (it refuses to without the library loaded) and has seen the
  // statements basalt ran.
  const [[calls]] = b.sql('select count(*) from extensions.pg_stat_statements');
  assert.ok(Number(calls) > 0, `statements recorded: ${calls}`);
});

test('a project asking for another Postgres major version is told which one serves it', async () => {
  // No Postgres 9 is ever installed: the running one always differs.
  const other = await startBasalt({ config: '[db]\nmajor_version = 9\n' });
  try {
    const [[major]] = other.sql("select current_setting('server_version_num')::int / 10000");
    assert.match(other.output(), new RegExp(`Postgres ${major} serves this project; config.toml asks for \\[db\\] major_version = 9`));
  } finally {
    await other.stop();
  }
});
