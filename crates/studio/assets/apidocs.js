// API docs: per table, view and function, the supabase-js calls that read and write it, written
// from the OpenAPI document /rest/v1/ serves (fetched through /api/rest/, so it lists what the
// service role sees): columns with their types, then select / insert / update / delete
// snippets using the project's URL and anon key.
import { api, h, clear, loading, empty, errorState, toast } from './ui.js';

const PK = '<pk/>';

function sample(prop = {}) {
  const f = prop.format ?? '';
  if (prop.type === 'integer') return 1;
  if (prop.type === 'number') return 1.5;
  if (prop.type === 'boolean') return true;
  if (prop.type === 'array') return [];
  if (f === 'json' || f === 'jsonb' || prop.type === 'object') return {};
  if (f.startsWith('timestamp')) return new Date(0).toISOString();
  if (f === 'date') return '2024-01-01';
  if (f === 'uuid') return '00000000-0000-0000-0000-000000000000';
  if (prop.enum?.length) return prop.enum[0];
  return 'value';
}

const str = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const key = (k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : str(k));
/** A JavaScript literal as one would write it: single quotes, bare keys. */
function js(v) {
  if (typeof v === 'string') return str(v);
  if (Array.isArray(v)) return `[${v.map(js).join(', ')}]`;
  if (v && typeof v === 'object') {
    const e = Object.entries(v);
    return e.length ? `{ ${e.map(([k, x]) => `${key(k)}: ${js(x)}`).join(', ')} }` : '{}';
  }
  return String(v);
}

/** The snippets of one table or view: [[title, code]]. */
export function tableSnippets(name, def, methods) {
  const props = def?.properties ?? {};
  const cols = Object.keys(props);
  const pk = cols.find((c) => (props[c].description ?? '').includes(PK)) ?? cols[0];
  const required = new Set(def?.required ?? []);
  // What an insert must give: NOT NULL columns without a default; else every non-key column.
  let give = cols.filter((c) => required.has(c) && props[c].default === undefined && c !== pk);
  if (!give.length) give = cols.filter((c) => c !== pk).slice(0, 3);
  const row = Object.fromEntries(give.map((c) => [c, sample(props[c])]));
  const change = give[0] ?? cols.find((c) => c !== pk);
  const from = `supabase\n  .from(${str(name)})`;
  const eq = pk ? `\n  .eq(${str(pk)}, ${js(sample(props[pk]))})` : '';
  const out = [];
  if (methods.has('get')) {
    out.push(['Read all rows', `const { data, error } = await ${from}\n  .select('*')`]);
    if (cols.length) out.push(['Read some columns', `const { data, error } = await ${from}\n  .select(${str(cols.slice(0, 3).join(', '))})`]);
    if (pk) out.push(['Filter', `const { data, error } = await ${from}\n  .select('*')${eq}`]);
    out.push(['Paginate', `const { data, error } = await ${from}\n  .select('*')\n  .range(0, 9)`]);
  }
  if (methods.has('post')) out.push(['Insert a row', `const { data, error } = await ${from}\n  .insert([${js(row)}])\n  .select()`]);
  if (methods.has('patch') && change) {
    out.push(['Update matching rows', `const { data, error } = await ${from}\n  .update(${js({ [change]: sample(props[change]) })})${eq}\n  .select()`]);
  }
  if (methods.has('post') && pk) out.push(['Upsert', `const { data, error } = await ${from}\n  .upsert(${js({ [pk]: sample(props[pk]), ...row })})\n  .select()`]);
  if (methods.has('delete')) out.push(['Delete matching rows', `const { error } = await ${from}\n  .delete()${eq}`]);
  if (methods.has('get')) {
    out.push(['Subscribe to changes', `const channel = supabase\n  .channel('${name}-changes')\n  .on('postgres_changes', { event: '*', schema: 'public', table: ${str(name)} },\n    (payload) => console.log(payload))\n  .subscribe()`]);
  }
  return out;
}

function rpcSnippet(name, op) {
  const body = op?.parameters?.find((p) => p.in === 'body')?.schema?.properties ?? {};
  const args = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, sample(v)]));
  return [['Call the function', `const { data, error } = await supabase\n  .rpc(${str(name)}${Object.keys(args).length ? `, ${js(args)}` : ''})`]];
}

function snippetBlock(title, code) {
  const copy = h('button.btn.ghost.small', { type: 'button', 'aria-label': `Copy: ${title}` }, 'Copy');
  copy.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(code); toast('Copied'); } catch { toast('The browser refused the clipboard.', 'error'); }
  });
  return h('section.card.snippet', h('div.row', h('h3', title), h('span.spacer'), copy), h('pre.sql-preview', h('code', code)));
}

export async function render(main, [wanted] = []) {
  const body = h('div.page-body', loading('Reading the OpenAPI document…'));
  clear(main, h('header.page-head', h('h1', 'API docs')), body);
  let doc;
  try { doc = (await api.rest('GET', '')).data; } catch (e) { clear(body, errorState(e)); return; }
  const paths = doc?.paths ?? {};
  const tables = Object.keys(paths).filter((p) => /^\/[^/]+$/.test(p) && p !== '/').map((p) => p.slice(1)).sort();
  const rpcs = Object.keys(paths).filter((p) => p.startsWith('/rpc/')).map((p) => p.slice(5)).sort();
  if (!tables.length && !rpcs.length) { clear(body, empty('The API serves no tables, views or functions yet.')); return; }
  const current = wanted && (tables.includes(wanted) || rpcs.includes(wanted)) ? wanted : (tables[0] ?? rpcs[0]);
  const link = (name) => h('li', h('a', { href: `#/apidocs/${encodeURIComponent(name)}`, 'aria-current': name === current ? 'true' : null }, name));
  const nav = h('nav.pane', { 'aria-label': 'Tables and functions' },
    h('h2.section-title', 'Tables and views'), h('ul.list', tables.map(link)),
    rpcs.length ? [h('h2.section-title.mt', 'Functions'), h('ul.list', rpcs.map(link))] : null);

  const meta = api.meta ?? {};
  const setup = `import { createClient } from '@supabase/supabase-js'\n\nconst supabase = createClient(${str(meta.api_url ?? location.origin)}, ${str(meta.anon_key ?? 'ANON_KEY')})`;
  const isTable = tables.includes(current);
  const item = paths[isTable ? `/${current}` : `/rpc/${current}`] ?? {};
  const def = doc.definitions?.[current];
  const methods = new Set(Object.keys(item));
  const snippets = isTable ? tableSnippets(current, def, methods) : rpcSnippet(current, item.post);
  const props = Object.entries(def?.properties ?? {});
  const required = new Set(def?.required ?? []);
  const columns = isTable && props.length
    ? h('div.grid-wrap', h('table.grid', h('caption.visually-hidden', `Columns of ${current}`),
      h('thead', h('tr', ['Column', 'Type', 'Format', 'Required', 'Description'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', props.map(([c, p]) => h('tr',
        h('td.mono', c), h('td', p.type ?? ''), h('td.mono', p.format ?? ''), h('td', required.has(c) ? 'yes' : 'no'),
        h('td', (p.description ?? '').replace(PK, '').replace(/\s+/g, ' ').trim()))))))
    : null;
  clear(body, h('div.split.docs-split', nav,
    h('div.pane-main',
      h('h2', { id: 'doc-title' }, isTable ? current : `${current}()`),
      h('p.muted', (isTable ? def?.description : item.post?.summary) ?? (isTable ? `Served at /rest/v1/${current}.` : `Served at /rest/v1/rpc/${current}.`)),
      columns,
      h('h2.section-title.mt', 'supabase-js'),
      snippetBlock('Create a client', setup),
      snippets.map(([t, c]) => snippetBlock(t, c)))));
}
