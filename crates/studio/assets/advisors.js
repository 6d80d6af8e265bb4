// Advisors and migrations: the findings `basalt db advisors` prints (from /api/advisors, run by
// the Studio backend with basalt's own lints), each linked to its table or function, and the
// migrations history in supabase_migrations.schema_migrations.
import { api, h, clear, loading, empty, errorState, table } from './ui.js';

const LEVELS = { ERROR: 'danger', WARN: 'warn', INFO: '' };

function objectLink(a) {
  const m = a.metadata ?? {};
  const label = `${m.schema}.${m.name}`;
  const path = [m.schema, m.name].map(encodeURIComponent).join('/');
  if (['table', 'view', 'materialized view', 'foreign table'].includes(m.type)) {
    return h('a', { href: `#/tables/${path}` }, label);
  }
  if (m.type === 'function') return h('a', { href: '#/database/functions' }, label);
  if (m.type === 'extension') return h('a', { href: '#/database/extensions' }, label);
  return h('span.mono', label);
}

export async function render(main) {
  const kind = h('select', { id: 'advisor-type' },
    h('option', { value: 'all' }, 'All advisors'), h('option', { value: 'security' }, 'Security'), h('option', { value: 'performance' }, 'Performance'));
  const refresh = h('button.btn', { type: 'button' }, 'Refresh');
  const findings = h('div', { id: 'advisors-area' });
  const migrations = h('div', { id: 'migrations-area' });
  const count = h('span.muted');
  clear(main,
    h('header.page-head', h('h1', 'Advisors'), h('span.spacer'),
      h('label.visually-hidden', { for: 'advisor-type' }, 'Advisor type'), kind, refresh),
    h('div.page-body',
      h('p.muted', 'Security and performance findings on the live database, the lints ', h('code', 'basalt db advisors'), ' runs.'),
      h('section', { 'aria-labelledby': 'advisors-title' }, h('div.row', h('h2.section-title', { id: 'advisors-title' }, 'Findings'), count), findings),
      h('section.mt', { 'aria-labelledby': 'migrations-title' }, h('h2.section-title', { id: 'migrations-title' }, 'Migrations history'), migrations)));
  const load = () => Promise.all([loadFindings(findings, count, kind.value), loadMigrations(migrations)]);
  kind.addEventListener('change', () => loadFindings(findings, count, kind.value));
  refresh.addEventListener('click', load);
  await load();
}

async function loadFindings(area, count, type) {
  clear(area, loading('Running the advisors…'));
  count.textContent = '';
  let found;
  try { found = (await api.call('GET', `/api/advisors?type=${encodeURIComponent(type)}`)).data.advisories; } catch (e) { clear(area, errorState(e)); return; }
  count.textContent = `${found.length} finding${found.length === 1 ? '' : 's'}`;
  if (!found.length) { clear(area, empty('No findings: the advisors have nothing to say.')); return; }
  clear(area, table([
    { key: 'level', label: 'Level', render: (a) => h(`span.badge${LEVELS[a.level] ? '.' + LEVELS[a.level] : ''}`, a.level) },
    { key: 'title', label: 'Advisor', render: (a) => h('span', { title: a.description }, a.title) },
    { key: 'object', label: 'Object', render: objectLink },
    { key: 'categories', label: 'Category', render: (a) => a.categories.join(', ').toLowerCase() },
    { key: 'detail', label: 'Detail', render: (a) => h('span', { title: a.remediation }, a.detail) },
  ], found, { caption: 'Advisor findings' }));
}

async function loadMigrations(area) {
  clear(area, loading('Loading migrations…'));
  let rows;
  try {
    rows = await api.json(`select case when to_regclass('supabase_migrations.schema_migrations') is null then '[]'::json
      else (select coalesce(json_agg(json_build_object('version', version, 'name', name, 'statements', coalesce(array_length(statements, 1), 0), 'sql', array_to_string(statements, E';\\n')) order by version desc), '[]'::json)
        from supabase_migrations.schema_migrations) end`);
  } catch (e) { clear(area, errorState(e)); return; }
  if (!rows?.length) { clear(area, empty('No migrations applied: basalt applies supabase/migrations/*.sql on start and with basalt db push.')); return; }
  clear(area, table([
    { key: 'version', label: 'Version', render: (m) => h('span.mono', m.version) },
    { key: 'name', label: 'Name' },
    { key: 'statements', label: 'Statements' },
    { key: 'sql', label: 'SQL', render: (m) => h('details', h('summary', 'Show SQL'), h('pre.mono.sql-preview', m.sql)) },
  ], rows, { caption: 'Migrations history' }));
}
