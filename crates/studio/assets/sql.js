// SQL editor: statements run as the database role basalt connects as; a result per statement,
// errors with their position, history and saved snippets (in this browser), EXPLAIN, cancel.
import { api, h, clear, field, empty, errorState, toast, dialog, table, randomId } from './ui.js';

const HISTORY = 'studio.sql.history';
const SNIPPETS = 'studio.sql.snippets';
const load = (k) => { try { return JSON.parse(localStorage.getItem(k) ?? '[]'); } catch { return []; } };
const save = (k, v) => localStorage.setItem(k, JSON.stringify(v));

let text = 'select now();';
let running = null;

export async function render(main) {
  const editor = h('textarea.editor', { id: 'sql-input', spellcheck: 'false', 'aria-describedby': 'sql-help', rows: 12 });
  editor.value = text;
  const out = h('section', { id: 'sql-results', 'aria-label': 'Results', 'aria-live': 'polite' });
  const runBtn = h('button.btn.primary', { type: 'button', id: 'run-sql' }, 'Run');
  const explainBtn = h('button.btn', { type: 'button' }, 'Explain');
  const analyzeBtn = h('button.btn', { type: 'button' }, 'Explain analyze');
  const cancelBtn = h('button.btn.danger', { type: 'button', disabled: true }, 'Cancel');
  const saveBtn = h('button.btn', { type: 'button' }, 'Save snippet');
  const side = h('div');
  const status = h('span.muted', { role: 'status' });

  const selection = () => {
    const { selectionStart: a, selectionEnd: b, value } = editor;
    return a !== b ? value.slice(a, b) : value;
  };
  const run = async (prefix = '') => {
    if (running) return;
    text = editor.value;
    const sql = selection();
    if (!sql.trim()) return;
    const id = randomId();
    running = id;
    runBtn.disabled = explainBtn.disabled = analyzeBtn.disabled = true;
    cancelBtn.disabled = false;
    status.replaceChildren(h('span.spinner', { 'aria-hidden': 'true' }), ' Running…');
    const body = prefix ? `${prefix} ${sql.trim().replace(/;\s*$/, '')}` : sql;
    try {
      const res = await api.sql(body, id);
      show(out, res, body, prefix);
      status.textContent = res.error ? `Failed after ${res.ms} ms` : `${res.results.length} statement${res.results.length === 1 ? '' : 's'} in ${res.ms} ms`;
      if (!prefix) {
        const hist = [{ sql, at: new Date().toISOString(), ok: !res.error }, ...load(HISTORY).filter((x) => x.sql !== sql)].slice(0, 50);
        save(HISTORY, hist);
        renderSide(side, editor);
      }
    } catch (e) {
      clear(out, errorState(e));
      status.textContent = '';
    } finally {
      running = null;
      runBtn.disabled = explainBtn.disabled = analyzeBtn.disabled = false;
      cancelBtn.disabled = true;
    }
  };
  runBtn.addEventListener('click', () => run());
  explainBtn.addEventListener('click', () => run('explain (format text)'));
  analyzeBtn.addEventListener('click', () => run('explain (analyze, buffers, format text)'));
  cancelBtn.addEventListener('click', async () => {
    if (!running) return;
    try {
      const { data } = await api.call('POST', '/api/sql/cancel', { body: { id: running } });
      toast(data.cancelled ? 'Cancel sent' : 'Nothing to cancel');
    } catch (e) { toast(e.message, 'error'); }
  });
  saveBtn.addEventListener('click', () => {
    const name = h('input', { type: 'text', required: true, value: editor.value.split('\n')[0].slice(0, 40) });
    dialog('Save snippet', field('Name', name), [{ label: 'Save', kind: 'primary', submit: true, onclick: (close) => {
      if (!name.value.trim()) throw new Error('Give it a name.');
      save(SNIPPETS, [{ name: name.value.trim(), sql: editor.value }, ...load(SNIPPETS).filter((s) => s.name !== name.value.trim())]);
      close(); toast('Snippet saved'); renderSide(side, editor);
    } }]);
  });
  editor.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); run(); }
    if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey) {
      // Indent with Tab; Escape then Tab leaves the editor.
      if (editor.dataset.escaped === '1') { editor.dataset.escaped = ''; return; }
      e.preventDefault();
      editor.setRangeText('  ', editor.selectionStart, editor.selectionEnd, 'end');
    }
    if (e.key === 'Escape') editor.dataset.escaped = '1';
  });
  editor.addEventListener('input', () => { text = editor.value; });
  clear(main,
    h('header.page-head', h('h1', 'SQL editor'), h('span.spacer'), status),
    h('div.split',
      h('nav.pane', { 'aria-label': 'Snippets and history' }, side),
      h('div.pane-main',
        h('label.visually-hidden', { for: 'sql-input' }, 'SQL'),
        editor,
        h('p.help.muted', { id: 'sql-help' }, 'Ctrl+Enter runs (the selection, if any). Tab indents; Escape then Tab leaves the editor. Statements run as the database owner role.'),
        h('div.toolbar', runBtn, explainBtn, analyzeBtn, cancelBtn, h('span.spacer'), saveBtn),
        out)));
  renderSide(side, editor);
  clear(out, empty('Run a query to see its results here.'));
}

function renderSide(side, editor) {
  const snippets = load(SNIPPETS);
  const history = load(HISTORY);
  const put = (sql) => { editor.value = sql; text = sql; editor.focus(); };
  clear(side,
    h('h2.section-title', 'Saved snippets'),
    snippets.length ? h('ul.list', snippets.map((s) => h('li.row',
      h('button.spacer', { type: 'button', title: s.sql, onclick: () => put(s.sql) }, s.name),
      h('button.btn.ghost.small', { type: 'button', 'aria-label': `Delete snippet ${s.name}`, onclick: () => { save(SNIPPETS, load(SNIPPETS).filter((x) => x.name !== s.name)); renderSide(side, editor); } }, '✕'))))
      : h('p.muted', 'None yet.'),
    h('h2.section-title', 'History'),
    history.length ? h('ul.list', history.map((x) => h('li', h('button', { type: 'button', title: x.sql, onclick: () => put(x.sql) },
      h('span', { 'aria-label': x.ok ? 'succeeded' : 'failed' }, x.ok ? '✓' : '✗'), x.sql.replace(/\s+/g, ' ').slice(0, 60)))))
      : h('p.muted', 'Queries you run appear here.'));
}

function show(out, res, sql, prefix) {
  const parts = res.results.map((r, i) => {
    const title = h('div.result-title', h('h2', `Statement ${i + 1}`),
      h('span.badge', r.columns.length ? `${r.row_count} row${r.row_count === 1 ? '' : 's'}` : `${r.row_count} affected`),
      r.truncated ? h('span.badge.warn', 'first 5000 rows shown') : null);
    if (!r.columns.length) return h('div.card', title, h('p.muted', 'Done.'));
    if (prefix) return h('div.card', title, h('pre.sql-preview', r.rows.map((x) => x[0]).join('\n')));
    const cols = r.columns.map((c, j) => ({ key: j, label: c, render: (row) => row[j] }));
    return h('div.card', title, r.rows.length ? table(cols, r.rows, { caption: `Statement ${i + 1}` }) : h('p.muted', 'No rows.'));
  });
  if (res.error) parts.push(errorCard(res.error, sql));
  clear(out, parts.length ? parts : empty('No statements.'));
}

function errorCard(e, sql) {
  let excerpt = null;
  if (e.line) {
    const line = sql.split('\n')[e.line - 1] ?? '';
    excerpt = h('pre.err-pos', { 'aria-label': `Error at line ${e.line}, column ${e.column}` },
      `${String(e.line).padStart(4)} | ${line}\n`, '       ', ' '.repeat(Math.max(0, e.column - 1)), h('span.err-caret', '^'));
  }
  return h('div.state.error', { role: 'alert', id: 'sql-error' },
    h('strong', `ERROR ${e.code}: ${e.message}`),
    e.line ? h('p', { id: 'sql-error-position' }, `at line ${e.line}, column ${e.column} (character ${e.position})${e.completed ? `, after ${e.completed} statement${e.completed === 1 ? '' : 's'} ran` : ''}`) : null,
    excerpt,
    e.detail ? h('p', `Detail: ${e.detail}`) : null,
    e.hint ? h('p', `Hint: ${e.hint}`) : null);
}
