// Database: policies (with a form that shows the SQL it runs), functions, triggers, indexes,
// extensions and roles, read from the catalog.
import { api, h, clear, field, loading, empty, errorState, toast, dialog, confirm, ident, lit, qname, table } from './ui.js';

const ROLES = ['public', 'anon', 'authenticated', 'service_role'];

export function policySql(p) {
  const roles = p.roles.length ? p.roles.map((r) => (r === 'public' ? 'public' : ident(r))).join(', ') : 'public';
  let s = `create policy ${ident(p.name || '…')}\n  on ${qname(p.schema, p.table || '…')}\n  as ${p.permissive ? 'permissive' : 'restrictive'}\n  for ${p.command}\n  to ${roles}`;
  if (p.using && p.command !== 'insert') s += `\n  using (${p.using})`;
  if (p.check && p.command !== 'select' && p.command !== 'delete') s += `\n  with check (${p.check})`;
  return s + ';';
}

/** The policy form: every choice updates the SQL shown under it, which is what runs. */
export async function policyDialog(schema, tableName, done) {
  let tables = [];
  if (!tableName) {
    tables = (await api.json(`select json_agg(json_build_object('schema', schemaname, 'name', tablename) order by schemaname <> 'public', schemaname, tablename) from pg_tables where schemaname !~ '^pg_' and schemaname <> 'information_schema'`)) ?? [];
  }
  const tableSelect = tableName ? null : h('select', {}, tables.map((t) => h('option', { value: `${t.schema}.${t.name}` }, `${t.schema}.${t.name}`)));
  const name = h('input', { type: 'text', required: true, autocomplete: 'off', placeholder: 'Enable read access for everyone' });
  const command = h('select', {}, ['all', 'select', 'insert', 'update', 'delete'].map((c) => h('option', { value: c, selected: c === 'select' }, c.toUpperCase())));
  const permissive = h('select', {}, h('option', { value: 'permissive' }, 'Permissive'), h('option', { value: 'restrictive' }, 'Restrictive'));
  const roleBoxes = ROLES.map((r) => ({ r, box: h('input', { type: 'checkbox', checked: r === 'public' }) }));
  const using = h('textarea', { rows: 2, placeholder: 'true' });
  const check = h('textarea', { rows: 2, placeholder: 'auth.uid() = user_id' });
  const preview = h('pre.sql-preview', { 'aria-live': 'polite' });
  const spec = () => {
    const [s, t] = tableName ? [schema, tableName] : (tableSelect.value || '.').split(/\.(.*)/s);
    return { schema: s, table: t, name: name.value.trim(), command: command.value, permissive: permissive.value === 'permissive',
      roles: roleBoxes.filter((x) => x.box.checked).map((x) => x.r), using: using.value.trim(), check: check.value.trim() };
  };
  const update = () => {
    const c = command.value;
    using.disabled = c === 'insert';
    check.disabled = c === 'select' || c === 'delete';
    preview.textContent = policySql(spec());
  };
  const body = h('div', { oninput: update, onchange: update },
    tableSelect ? field('Table', tableSelect) : h('p', 'On ', h('code', `${schema}.${tableName}`)),
    field('Policy name', name),
    h('div.row', h('div.field.spacer', field('Command', command)), h('div.field.spacer', field('Behaviour', permissive))),
    h('fieldset.field', h('legend', 'Roles'), h('div.row', roleBoxes.map(({ r, box }) => h('label.check', box, r)))),
    field('USING expression (which existing rows it applies to)', using, 'SQL boolean expression, e.g. true or auth.uid() = user_id'),
    field('WITH CHECK expression (which new rows are allowed)', check),
    h('h3', 'SQL that will run'), preview);
  update();
  dialog('Create a policy', body, [{ label: 'Create policy', kind: 'primary', submit: true, onclick: async (close) => {
    const p = spec();
    if (!p.name) throw new Error('Give the policy a name.');
    if (!p.table) throw new Error('Pick a table.');
    await api.exec(policySql(p));
    close();
    toast(`Policy ${p.name} created`);
    done?.();
  } }], { wide: true });
}

const SECTIONS = {
  policies: {
    label: 'Policies',
    sql: `select json_agg(json_build_object('schema', schemaname, 'table', tablename, 'name', policyname, 'command', cmd, 'roles', array_to_string(roles, ', '), 'using', qual, 'check', with_check) order by schemaname, tablename, policyname) from pg_policies where schemaname !~ '^pg_'`,
    columns: ['schema', 'table', 'name', 'command', 'roles', 'using', 'check'],
  },
  functions: {
    label: 'Functions',
    sql: `select json_agg(json_build_object('schema', n.nspname, 'name', p.proname, 'arguments', pg_get_function_arguments(p.oid), 'returns', pg_get_function_result(p.oid), 'language', l.lanname, 'security', case when p.prosecdef then 'definer' else 'invoker' end) order by n.nspname <> 'public', n.nspname, p.proname) from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_' and p.prokind in ('f', 'p')`,
    columns: ['schema', 'name', 'arguments', 'returns', 'language', 'security'],
  },
  triggers: {
    label: 'Triggers',
    sql: `select json_agg(json_build_object('schema', n.nspname, 'table', c.relname, 'name', t.tgname, 'definition', pg_get_triggerdef(t.oid), 'enabled', t.tgenabled <> 'D') order by n.nspname, c.relname, t.tgname) from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where not t.tgisinternal`,
    columns: ['schema', 'table', 'name', 'enabled', 'definition'],
  },
  indexes: {
    label: 'Indexes',
    sql: `select json_agg(json_build_object('schema', schemaname, 'table', tablename, 'name', indexname, 'definition', indexdef) order by schemaname <> 'public', schemaname, tablename, indexname) from pg_indexes where schemaname !~ '^pg_' and schemaname <> 'information_schema'`,
    columns: ['schema', 'table', 'name', 'definition'],
  },
  extensions: {
    label: 'Extensions',
    sql: `select json_agg(json_build_object('name', a.name, 'installed', e.extversion, 'schema', n.nspname, 'available', a.default_version, 'comment', a.comment) order by e.extname is null, a.name) from pg_available_extensions a left join pg_extension e on e.extname = a.name left join pg_namespace n on n.oid = e.extnamespace`,
    columns: ['name', 'installed', 'schema', 'available', 'comment'],
  },
  roles: {
    label: 'Roles',
    sql: `select json_agg(json_build_object('name', rolname, 'login', rolcanlogin, 'superuser', rolsuper, 'bypass_rls', rolbypassrls, 'create_role', rolcreaterole, 'connection_limit', rolconnlimit) order by rolname) from pg_roles where rolname !~ '^pg_'`,
    columns: ['name', 'login', 'superuser', 'bypass_rls', 'create_role', 'connection_limit'],
  },
};

export async function render(main, [section]) {
  const key = SECTIONS[section] ? section : 'policies';
  const area = h('div', { id: 'db-area', role: 'tabpanel', 'aria-labelledby': `tab-${key}` });
  const tabs = h('div.tabs', { role: 'tablist', 'aria-label': 'Database objects' }, Object.entries(SECTIONS).map(([k, s]) =>
    h('button', { type: 'button', role: 'tab', id: `tab-${k}`, 'aria-selected': k === key ? 'true' : 'false', tabindex: k === key ? null : '-1',
      onclick: () => { location.hash = `#/database/${k}`; },
      onkeydown: (e) => {
        const keys = Object.keys(SECTIONS);
        const i = keys.indexOf(k);
        const next = e.key === 'ArrowRight' ? keys[(i + 1) % keys.length] : e.key === 'ArrowLeft' ? keys[(i + keys.length - 1) % keys.length] : null;
        if (next) { location.hash = `#/database/${next}`; }
      } }, s.label)));
  clear(main,
    h('header.page-head', h('h1', 'Database'), h('span.spacer'),
      key === 'policies' ? h('button.btn.primary', { type: 'button', onclick: () => policyDialog(null, null, () => render(main, [key])) }, '+ New policy') : null),
    h('div.page-body', tabs, area));
  if (document.activeElement === document.body || document.activeElement?.role === 'tab') document.getElementById(`tab-${key}`)?.focus();
  clear(area, loading());
  try {
    const rows = (await api.json(SECTIONS[key].sql)) ?? [];
    if (!rows.length) { clear(area, empty(`No ${SECTIONS[key].label.toLowerCase()}.`)); return; }
    const actions = key === 'policies' ? (r) => [h('button.btn.danger.small', { type: 'button', 'aria-label': `Delete policy ${r.name}`, onclick: async () => {
      if (!await confirm('Delete policy', `Drop policy ${r.name} on ${r.schema}.${r.table}?`, 'Drop policy')) return;
      try { await api.exec(`drop policy ${ident(r.name)} on ${qname(r.schema, r.table)}`); toast('Policy dropped'); render(main, [key]); } catch (e) { toast(e.message, 'error'); }
    } }, 'Delete')] : key === 'extensions' ? (r) => [r.installed
      ? h('button.btn.small', { type: 'button', 'aria-label': `Disable ${r.name}`, onclick: () => ext(main, `drop extension ${ident(r.name)}`) }, 'Disable')
      : h('button.btn.small', { type: 'button', 'aria-label': `Enable ${r.name}`, onclick: () => ext(main, `create extension ${ident(r.name)} schema extensions`) }, 'Enable')] : null;
    clear(area, h('p.muted', `${rows.length} ${SECTIONS[key].label.toLowerCase()}`),
      table(SECTIONS[key].columns.map((c) => ({ key: c, label: c.replace('_', ' ') })), rows, { caption: SECTIONS[key].label, rowActions: actions }));
  } catch (e) { clear(area, errorState(e)); }
}

async function ext(main, sql) {
  try { await api.exec(sql); toast('Done'); render(main, ['extensions']); } catch (e) { toast(e.message, 'error'); }
}

export { lit };
