// Table editor: schemas and tables, a paged grid with sort and filter, row insert/edit/delete
// through /rest/v1 (with the service key, via the Studio backend), table and column creation and
// row level security through SQL.
import { api, h, clear, field, loading, empty, errorState, toast, dialog, confirm, ident, lit, qname, nextId } from './ui.js';
import { policyDialog, policySql } from './database.js';

const PAGE = 50;
const TYPES = ['bigint', 'integer', 'smallint', 'text', 'varchar', 'boolean', 'numeric', 'double precision', 'real', 'uuid',
  'jsonb', 'json', 'timestamptz', 'timestamp', 'date', 'time', 'text[]', 'integer[]', 'bytea'];
const OPS = [['eq', '='], ['neq', '≠'], ['gt', '>'], ['gte', '≥'], ['lt', '<'], ['lte', '≤'], ['like', 'like'], ['ilike', 'ilike'], ['is', 'is']];

const state = { schema: 'public', table: null, page: 0, sort: null, filter: null, tables: [] };

/** The catalog of one schema: tables with columns (types, enums, keys) and policies. */
export async function catalog(schema) {
  return (await api.json(`
select coalesce(json_agg(t order by t.name), '[]') from (
  select c.relname as name, c.relkind as kind, c.relrowsecurity as rls,
    (select coalesce(json_agg(json_build_object(
        'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'udt', ty.typname,
        'category', ty.typcategory, 'nullable', not a.attnotnull,
        'default', pg_get_expr(d.adbin, d.adrelid), 'identity', a.attidentity <> '', 'generated', a.attgenerated <> '',
        'pk', coalesce(a.attnum = any(pk.conkey), false),
        'enum', (select json_agg(e.enumlabel order by e.enumsortorder) from pg_enum e where e.enumtypid = a.atttypid),
        'fk', (select json_build_object('schema', fn.nspname, 'table', fc.relname, 'column', fa.attname)
               from pg_constraint f join pg_class fc on fc.oid = f.confrelid join pg_namespace fn on fn.oid = fc.relnamespace
               join pg_attribute fa on fa.attrelid = f.confrelid and fa.attnum = f.confkey[1]
               where f.conrelid = c.oid and f.contype = 'f' and cardinality(f.conkey) = 1 and f.conkey[1] = a.attnum limit 1)
      ) order by a.attnum), '[]')
      from pg_attribute a join pg_type ty on ty.oid = a.atttypid
      left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
    (select coalesce(json_agg(json_build_object('name', p.polname, 'command', p.polcmd, 'permissive', p.polpermissive,
        'roles', (select json_agg(coalesce(r.rolname, 'public')) from unnest(p.polroles) x left join pg_roles r on r.oid = x),
        'using', pg_get_expr(p.polqual, p.polrelid), 'check', pg_get_expr(p.polwithcheck, p.polrelid)) order by p.polname), '[]')
      from pg_policy p where p.polrelid = c.oid) as policies
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  left join pg_constraint pk on pk.conrelid = c.oid and pk.contype = 'p'
  where n.nspname = ${lit(schema)} and c.relkind in ('r', 'p', 'v', 'm', 'f')
) t`)) ?? [];
}

const exposed = (schema) => (api.meta?.schemas ?? ['public']).includes(schema);

export async function render(main, [schema, table]) {
  if (schema) state.schema = schema;
  state.table = table ?? null;
  state.page = 0; state.sort = null; state.filter = null;
  const schemaSelect = h('select', { id: 'schema-select', onchange: (e) => { location.hash = `#/tables/${encodeURIComponent(e.target.value)}`; } });
  const list = h('ul.list', { 'aria-label': 'Tables' });
  const content = h('div.pane-main', { id: 'table-content' });
  clear(main,
    h('header.page-head', h('h1', 'Table editor'), h('span.spacer'),
      h('button.btn.primary', { type: 'button', onclick: () => createTableDialog() }, '+ New table')),
    h('div.split',
      h('nav.pane', { 'aria-label': 'Schemas and tables' },
        field('Schema', schemaSelect),
        h('h2.section-title', 'Tables'), list),
      content));
  list.append(h('li', loading()));
  try {
    const [schemas, tables] = await Promise.all([
      api.json(`select json_agg(nspname order by nspname <> 'public', nspname) from pg_namespace where nspname !~ '^pg_' and nspname not in ('information_schema')`),
      catalog(state.schema),
    ]);
    for (const s of schemas ?? []) schemaSelect.append(h('option', { value: s, selected: s === state.schema }, s));
    state.tables = tables;
    clear(list, tables.length ? tables.map((t) => h('li', h('a', {
      href: `#/tables/${encodeURIComponent(state.schema)}/${encodeURIComponent(t.name)}`,
      'aria-current': t.name === state.table ? 'true' : null,
    }, h('span', { 'aria-hidden': 'true' }, t.kind === 'v' || t.kind === 'm' ? '◫' : '▦'), t.name))) : h('li.muted', 'No tables yet.'));
  } catch (e) { clear(list, h('li', errorState(e))); }
  const t = state.tables.find((x) => x.name === state.table);
  if (!t) {
    clear(content, state.table ? errorState(`No table ${state.schema}.${state.table}`) : empty(state.tables.length ? 'Pick a table on the left.' : `The schema ${state.schema} has no tables.`,
      h('button.btn.primary', { type: 'button', onclick: () => createTableDialog() }, 'Create a table')));
    return;
  }
  renderTable(content, t);
}

function reload() { window.dispatchEvent(new HashChangeEvent('hashchange')); }

function renderTable(content, t) {
  const editable = exposed(state.schema) && (t.kind === 'r' || t.kind === 'p') && t.columns.some((c) => c.pk);
  const gridArea = h('div', { id: 'grid-area' });
  const colSelect = h('select', { 'aria-label': 'Filter column' }, t.columns.map((c) => h('option', { value: c.name }, c.name)));
  const opSelect = h('select', { 'aria-label': 'Filter operator' }, OPS.map(([v, l]) => h('option', { value: v }, l)));
  const valInput = h('input', { type: 'text', 'aria-label': 'Filter value', placeholder: 'value' });
  const filterForm = h('form.row', { role: 'search', 'aria-label': 'Filter rows', onsubmit: (e) => {
    e.preventDefault();
    state.filter = valInput.value === '' && opSelect.value !== 'is' ? null : { col: colSelect.value, op: opSelect.value, value: valInput.value };
    state.page = 0;
    loadGrid(gridArea, t, editable);
  } }, colSelect, opSelect, valInput, h('button.btn.small', { type: 'submit' }, 'Filter'),
  h('button.btn.ghost.small', { type: 'button', onclick: () => { state.filter = null; valInput.value = ''; loadGrid(gridArea, t, editable); } }, 'Clear'));
  clear(content,
    h('div.row', h('h2', { id: 'table-title' }, `${state.schema}.${t.name}`),
      h('span.badge' + (t.rls ? '.on' : '.warn'), t.rls ? 'RLS enabled' : 'RLS disabled'),
      !exposed(state.schema) ? h('span.badge', 'not exposed by the API: read only') : null,
      h('span.spacer'),
      editable ? h('button.btn.primary.small', { type: 'button', onclick: () => rowDialog(t, null) }, '+ Insert row') : null,
      t.kind === 'r' || t.kind === 'p' ? h('button.btn.small', { type: 'button', onclick: () => addColumnDialog(t) }, '+ Column') : null,
      t.kind === 'r' || t.kind === 'p' ? h('button.btn.small', { type: 'button', onclick: () => toggleRls(t) }, t.rls ? 'Disable RLS' : 'Enable RLS') : null),
    h('div.toolbar', filterForm),
    !editable && exposed(state.schema) && (t.kind === 'r' || t.kind === 'p') ? h('p.muted', 'This table has no primary key, so rows can be read but not edited here.') : null,
    gridArea,
    policiesCard(t));
  loadGrid(gridArea, t, editable);
}

function policiesCard(t) {
  const cmd = { r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE', '*': 'ALL' };
  return h('section.card', { 'aria-labelledby': 'policies-title' },
    h('div.row', h('h2', { id: 'policies-title' }, 'Policies'), h('span.spacer'),
      h('button.btn.small', { type: 'button', onclick: () => policyDialog(state.schema, t.name, reload) }, '+ New policy')),
    !t.rls ? h('p.muted', 'Row level security is off: policies do not apply and every role with a grant sees every row.') : null,
    t.policies.length ? h('ul.plain', t.policies.map((p) => h('li.card',
      h('div.row', h('strong', p.name), h('span.badge', cmd[p.command] ?? p.command), h('span.badge', (p.roles ?? ['public']).join(', ')),
        !p.permissive ? h('span.badge.warn', 'restrictive') : null, h('span.spacer'),
        h('button.btn.danger.small', { type: 'button', onclick: async () => {
          if (!await confirm('Delete policy', `Drop policy ${p.name} on ${state.schema}.${t.name}?`, 'Drop policy')) return;
          try { await api.exec(`drop policy ${ident(p.name)} on ${qname(state.schema, t.name)}`); toast('Policy dropped'); reload(); } catch (e) { toast(e.message, 'error'); }
        } }, 'Delete')),
      p.using ? h('div.mono', 'using (', p.using, ')') : null,
      p.check ? h('div.mono', 'with check (', p.check, ')') : null))) : h('p.muted', 'No policies.'));
}

async function toggleRls(t) {
  const sql = `alter table ${qname(state.schema, t.name)} ${t.rls ? 'disable' : 'enable'} row level security;`;
  try { await api.exec(sql); toast(t.rls ? 'Row level security disabled' : 'Row level security enabled'); reload(); } catch (e) { toast(e.message, 'error'); }
}

/** Rows of the grid: through /rest/v1 for schemas the API serves, else through SQL. */
async function fetchRows(t) {
  const offset = state.page * PAGE;
  if (exposed(state.schema)) {
    const p = new URLSearchParams({ select: '*', limit: String(PAGE), offset: String(offset) });
    if (state.sort) p.set('order', `${state.sort.col}.${state.sort.asc ? 'asc' : 'desc'}.nullslast`);
    else { const pk = t.columns.find((c) => c.pk); if (pk) p.set('order', `${pk.name}.asc`); }
    if (state.filter) {
      const { col, op, value } = state.filter;
      p.append(col, `${op}.${op === 'like' || op === 'ilike' ? value.replace(/%/g, '*') : value}`);
    }
    const r = await withReload(() => api.rest('GET', `${encodeURIComponent(t.name)}?${p}`, { headers: { 'accept-profile': state.schema, prefer: 'count=exact' } }));
    const total = Number((r.headers.get('content-range') ?? '').split('/')[1]);
    return { rows: r.data, total: Number.isFinite(total) ? total : null };
  }
  const ops = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=', like: 'like', ilike: 'ilike' };
  let where = '';
  if (state.filter) {
    const { col, op, value } = state.filter;
    where = op === 'is' ? ` where ${ident(col)} is ${value === 'null' || value === '' ? 'null' : value === 'true' ? 'true' : value === 'false' ? 'false' : 'not null'}`
      : ` where ${ident(col)}${op.endsWith('like') ? '::text' : ''} ${ops[op]} ${lit(value)}`;
  }
  const order = state.sort ? ` order by ${ident(state.sort.col)} ${state.sort.asc ? 'asc' : 'desc'} nulls last` : '';
  const from = `${qname(state.schema, t.name)} t${where}`;
  const data = await api.json(`select json_build_object('rows', coalesce((select json_agg(x) from (select * from ${from}${order} limit ${PAGE} offset ${offset}) x), '[]'), 'total', (select count(*) from ${from}))`);
  return data;
}

/** A table created a moment ago may not be in the REST schema cache yet: retry briefly. */
async function withReload(fn) {
  for (let i = 0; ; i++) {
    try { return await fn(); } catch (e) {
      if (i >= 10 || !(e.status === 404 || e.data?.code === 'PGRST205' || e.data?.code === '42P01')) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function display(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

async function loadGrid(area, t, editable) {
  clear(area, loading('Loading rows…'));
  let data;
  try { data = await fetchRows(t); } catch (e) { clear(area, errorState(e)); return; }
  const { rows, total } = data;
  const head = h('tr', t.columns.map((c) => {
    const sorted = state.sort?.col === c.name;
    return h('th', { scope: 'col', 'aria-sort': sorted ? (state.sort.asc ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', title: `Sort by ${c.name}`, onclick: () => {
        state.sort = sorted && state.sort.asc ? { col: c.name, asc: false } : sorted ? null : { col: c.name, asc: true };
        loadGrid(area, t, editable);
      } }, c.pk ? h('abbr.pk', { title: 'primary key' }, 'PK') : null, c.name, ' ', h('span.type', c.type), sorted ? (state.sort.asc ? ' ▲' : ' ▼') : ''));
  }), editable ? h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')) : null);
  const body = rows.map((r) => h('tr', t.columns.map((c) => {
    const v = display(r[c.name]);
    return v === null ? h('td.null', 'NULL') : h('td', { title: v.length > 40 ? v : null }, v);
  }), editable ? h('td.actions', h('div.row',
    h('button.btn.small', { type: 'button', onclick: () => rowDialog(t, r), 'aria-label': `Edit row ${keyText(t, r)}` }, 'Edit'),
    h('button.btn.danger.small', { type: 'button', onclick: () => deleteRow(t, r), 'aria-label': `Delete row ${keyText(t, r)}` }, 'Delete'))) : null));
  const from = total === 0 ? 0 : state.page * PAGE + 1;
  const to = state.page * PAGE + rows.length;
  clear(area,
    rows.length ? h('div.grid-wrap', h('table.grid', { 'aria-labelledby': 'table-title' }, h('thead', head), h('tbody', body)))
      : empty(state.filter ? 'No rows match the filter.' : 'This table has no rows yet.', editable && !state.filter ? h('button.btn.primary', { type: 'button', onclick: () => rowDialog(t, null) }, 'Insert a row') : null),
    h('nav.pager', { 'aria-label': 'Pages' },
      h('span', { 'aria-live': 'polite' }, `Rows ${from}–${to}${total !== null ? ` of ${total}` : ''}`), h('span.spacer'),
      h('button.btn.small', { type: 'button', disabled: state.page === 0, onclick: () => { state.page--; loadGrid(area, t, editable); } }, '← Previous'),
      h('button.btn.small', { type: 'button', disabled: total !== null ? to >= total : rows.length < PAGE, onclick: () => { state.page++; loadGrid(area, t, editable); } }, 'Next →')));
}

function keyText(t, r) { return t.columns.filter((c) => c.pk).map((c) => r[c.name]).join(', '); }

function keyFilter(t, r) {
  const p = new URLSearchParams();
  for (const c of t.columns.filter((c) => c.pk)) p.append(c.name, `eq.${r[c.name]}`);
  return p.toString();
}

async function deleteRow(t, r) {
  if (!await confirm('Delete row', `Delete the row ${keyText(t, r)} from ${state.schema}.${t.name}?`, 'Delete row')) return;
  try {
    await api.rest('DELETE', `${encodeURIComponent(t.name)}?${keyFilter(t, r)}`, { headers: { 'content-profile': state.schema } });
    toast('Row deleted');
    reload();
  } catch (e) { toast(e.message, 'error'); }
}

const isNumber = (c) => c.category === 'N';
const localDateTime = (v, tz) => {
  if (!v) return '';
  if (!tz) return String(v).replace(' ', 'T').slice(0, 19);
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
};

/** An input for column `c` holding `v`; returns {el, read()} where read() gives the JSON value or undefined (unset). */
async function inputFor(c, v, isNew) {
  const id = nextId('col');
  const has = v !== undefined && v !== null;
  const placeholder = isNew && c.default ? `default: ${c.default}` : c.nullable ? 'NULL' : '';
  if (c.udt === 'bool') {
    const el = h('select', { id }, h('option', { value: '' }, isNew && c.default ? `default (${c.default})` : 'NULL'),
      h('option', { value: 'true', selected: v === true }, 'true'), h('option', { value: 'false', selected: v === false }, 'false'));
    return { el, read: () => (el.value === '' ? (isNew ? undefined : null) : el.value === 'true') };
  }
  if (c.enum) {
    const el = h('select', { id }, h('option', { value: '' }, isNew && c.default ? `default (${c.default})` : 'NULL'),
      c.enum.map((e) => h('option', { value: e, selected: v === e }, e)));
    return { el, read: () => (el.value === '' ? (isNew ? undefined : null) : el.value) };
  }
  if (c.fk && exposed(c.fk.schema)) {
    try {
      const r = await api.rest('GET', `${encodeURIComponent(c.fk.table)}?select=*&limit=200`, { headers: { 'accept-profile': c.fk.schema } });
      const label = (row) => {
        const other = Object.entries(row).find(([k, x]) => k !== c.fk.column && typeof x === 'string');
        return other ? `${row[c.fk.column]} · ${other[1]}` : String(row[c.fk.column]);
      };
      const el = h('select', { id }, h('option', { value: '' }, isNew && c.default ? 'default' : 'NULL'),
        r.data.map((row) => h('option', { value: String(row[c.fk.column]), selected: has && String(v) === String(row[c.fk.column]) }, label(row))));
      return { el, read: () => (el.value === '' ? (isNew ? undefined : null) : el.value), help: `references ${c.fk.schema}.${c.fk.table}(${c.fk.column})` };
    } catch { /* fall through to a text input */ }
  }
  if (c.udt === 'json' || c.udt === 'jsonb' || c.category === 'A') {
    const el = h('textarea', { id, rows: 3, placeholder: c.category === 'A' ? '["a", "b"]' : '{"key": "value"}' });
    el.value = has ? JSON.stringify(v, null, 2) : '';
    return { el, help: c.category === 'A' ? 'A JSON array' : 'JSON', read: () => {
      if (el.value.trim() === '') return isNew ? undefined : null;
      let x;
      try { x = JSON.parse(el.value); } catch { throw new Error(`${c.name}: not valid JSON`); }
      if (c.category === 'A' && !Array.isArray(x)) throw new Error(`${c.name}: expected a JSON array`);
      return x;
    } };
  }
  if (c.udt === 'timestamptz' || c.udt === 'timestamp') {
    const tz = c.udt === 'timestamptz';
    const el = h('input', { id, type: 'datetime-local', step: '1', value: localDateTime(v, tz) });
    return { el, help: tz ? 'Local time; stored with its time zone' : null, read: () => {
      if (!el.value) return isNew ? undefined : null;
      return tz ? new Date(el.value).toISOString() : el.value;
    } };
  }
  const type = c.udt === 'date' ? 'date' : isNumber(c) ? 'number' : 'text';
  const el = h('input', { id, type, step: type === 'number' ? 'any' : null, placeholder, value: has ? String(v) : '' });
  return { el, read: () => {
    if (el.value === '') return isNew ? undefined : null;
    if (type === 'number' && c.udt !== 'numeric') return Number(el.value);
    return el.value;
  } };
}

async function rowDialog(t, row) {
  const isNew = row === null;
  const inputs = [];
  const body = h('div');
  for (const c of t.columns) {
    if (c.generated) continue;
    const inp = await inputFor(c, row?.[c.name], isNew);
    inputs.push([c, inp]);
    body.append(field(`${c.name} (${c.type}${c.nullable ? '' : ', required'})`, inp.el, inp.help));
  }
  dialog(isNew ? `Insert a row into ${t.name}` : `Edit row ${keyText(t, row)}`, body, [{
    label: isNew ? 'Insert' : 'Save', kind: 'primary', submit: true,
    onclick: async (close) => {
      const values = {};
      for (const [c, inp] of inputs) {
        const v = inp.read();
        if (v === undefined) continue;
        if (!isNew && JSON.stringify(v) === JSON.stringify(row[c.name] ?? null)) continue;
        values[c.name] = v;
      }
      const headers = { 'content-profile': state.schema, prefer: 'return=representation' };
      if (isNew) await api.rest('POST', encodeURIComponent(t.name), { body: values, headers });
      else if (Object.keys(values).length) await api.rest('PATCH', `${encodeURIComponent(t.name)}?${keyFilter(t, row)}`, { body: values, headers });
      close();
      toast(isNew ? 'Row inserted' : 'Row saved');
      reload();
    },
  }]);
}

function typeInput(value = 'text') {
  const listId = 'pg-types';
  if (!document.getElementById(listId)) document.body.append(h('datalist', { id: listId }, TYPES.map((x) => h('option', { value: x }))));
  return h('input', { type: 'text', list: listId, value, 'aria-label': 'Type', required: true });
}

export function columnSql(c) {
  let s = `${ident(c.name)} ${c.type}`;
  if (c.identity) s += ' generated by default as identity';
  if (c.default) s += ` default ${c.default}`;
  if (!c.nullable && !c.pk) s += ' not null';
  if (c.unique) s += ' unique';
  return s;
}

export function createTableSql(schema, name, cols, rls) {
  const pks = cols.filter((c) => c.pk);
  const lines = cols.map((c) => columnSql(c) + (pks.length === 1 && c.pk ? ' primary key' : ''));
  if (pks.length > 1) lines.push(`primary key (${pks.map((c) => ident(c.name)).join(', ')})`);
  let sql = `create table ${qname(schema, name)} (\n  ${lines.join(',\n  ')}\n);`;
  if (rls) sql += `\nalter table ${qname(schema, name)} enable row level security;`;
  return sql;
}

function createTableDialog() {
  const name = h('input', { type: 'text', placeholder: 'notes', required: true, autocomplete: 'off' });
  const rls = h('input', { type: 'checkbox', checked: true });
  const rows = h('tbody');
  const preview = h('pre.sql-preview', { 'aria-live': 'polite' });
  const cols = [];
  const update = () => {
    const spec = cols.map((c) => ({ name: c.name.value.trim(), type: c.type.value.trim(), default: c.def.value.trim(), nullable: c.nullable.checked, pk: c.pk.checked, identity: c.identity }));
    preview.textContent = createTableSql(state.schema, name.value.trim() || '…', spec.filter((c) => c.name), rls.checked);
    return spec;
  };
  const addRow = (init = {}) => {
    const n = cols.length + 1;
    const c = {
      name: h('input', { type: 'text', value: init.name ?? '', 'aria-label': `Column ${n} name`, placeholder: 'name' }),
      type: typeInput(init.type ?? 'text'),
      def: h('input', { type: 'text', value: init.default ?? '', 'aria-label': `Column ${n} default`, placeholder: 'none' }),
      nullable: h('input', { type: 'checkbox', checked: init.nullable ?? true, 'aria-label': `Column ${n} nullable` }),
      pk: h('input', { type: 'checkbox', checked: init.pk ?? false, 'aria-label': `Column ${n} primary key` }),
      identity: init.identity ?? false,
    };
    c.type.setAttribute('aria-label', `Column ${n} type`);
    cols.push(c);
    const tr = h('tr', h('td', c.name), h('td', c.type), h('td', c.def), h('td', c.nullable), h('td', c.pk),
      h('td', h('button.btn.ghost.small', { type: 'button', 'aria-label': `Remove column ${n}`, onclick: () => { cols.splice(cols.indexOf(c), 1); tr.remove(); update(); } }, '✕')));
    rows.append(tr);
    update();
  };
  const body = h('div', { oninput: update, onchange: update },
    field('Name', name),
    h('div.field', h('label.check', rls, 'Enable row level security (recommended: no rows are visible to anon and authenticated until a policy allows them)')),
    h('h3', 'Columns'),
    h('table.cols-table', h('thead', h('tr', ['Name', 'Type', 'Default', 'Nullable', 'Primary', ''].map((x) => h('th', { scope: 'col' }, x)))), rows),
    h('button.btn.small', { type: 'button', onclick: () => addRow() }, '+ Add column'),
    h('h3', { class: 'mt' }, 'SQL that will run'), preview);
  addRow({ name: 'id', type: 'bigint', pk: true, nullable: false, identity: true });
  addRow({ name: 'created_at', type: 'timestamptz', default: 'now()', nullable: false });
  dialog('Create a table', body, [{
    label: 'Create table', kind: 'primary', submit: true,
    onclick: async (close) => {
      const tname = name.value.trim();
      if (!tname) throw new Error('Give the table a name.');
      const spec = update().filter((c) => c.name);
      if (!spec.length) throw new Error('Add at least one column.');
      await api.exec(createTableSql(state.schema, tname, spec, rls.checked));
      close();
      toast(`Table ${tname} created`);
      location.hash = `#/tables/${encodeURIComponent(state.schema)}/${encodeURIComponent(tname)}`;
    },
  }], { wide: true });
}

function addColumnDialog(t) {
  const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
  const type = typeInput('text');
  const def = h('input', { type: 'text', placeholder: 'none' });
  const nullable = h('input', { type: 'checkbox', checked: true });
  const unique = h('input', { type: 'checkbox' });
  const preview = h('pre.sql-preview');
  const sql = () => `alter table ${qname(state.schema, t.name)} add column ${columnSql({ name: name.value.trim() || '…', type: type.value.trim(), default: def.value.trim(), nullable: nullable.checked, unique: unique.checked })};`;
  const update = () => { preview.textContent = sql(); };
  const body = h('div', { oninput: update, onchange: update }, field('Name', name), field('Type', type), field('Default value (SQL expression)', def),
    h('div.field', h('label.check', nullable, 'Nullable')), h('div.field', h('label.check', unique, 'Unique')), h('h3', 'SQL that will run'), preview);
  update();
  dialog(`Add a column to ${t.name}`, body, [{ label: 'Add column', kind: 'primary', submit: true, onclick: async (close) => {
    if (!name.value.trim()) throw new Error('Give the column a name.');
    await api.exec(sql());
    close(); toast('Column added'); reload();
  } }]);
}

export { policySql };
