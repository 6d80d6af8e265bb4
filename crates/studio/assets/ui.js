// Small DOM helpers shared by every page: element building, dialogs, toasts, states, and the
// client of the Studio backend (session, CSRF token, SQL, basalt's APIs).

/** h('button.btn.primary', {onclick}, 'Save') → element. Strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs === null || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) { el.replaceChildren(); append(el, children); return el; }

let uid = 0;
/** A unique id for label/input pairs. */
export const nextId = (p = 'f') => `${p}-${++uid}`;

/** A labelled field; `input` is an element (its id is set). */
export function field(label, input, help) {
  const id = input.id || nextId();
  input.id = id;
  return h('div.field', h('label', { for: id }, label), input, help ? h('p.help', help) : null);
}

export function loading(text = 'Loading…') {
  return h('div.state', { role: 'status' }, h('span.spinner', { 'aria-hidden': 'true' }), ' ', text);
}
export function empty(text, action) { return h('div.state', h('p', text), action ?? null); }
export function errorState(err) {
  return h('div.state.error', { role: 'alert' }, h('strong', 'Something went wrong. '), String(err?.message ?? err));
}

export function toast(text, kind = 'info') {
  const t = h(`div.toast${kind === 'error' ? '.error' : ''}`, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/**
 * A modal dialog. `body` is an element; `actions` a list of {label, kind, onclick(close)}.
 * Escape closes it and focus returns where it was.
 */
export function dialog(title, body, actions = [], { wide = false } = {}) {
  const back = document.activeElement;
  const titleId = nextId('dlg');
  const d = h(`dialog${wide ? '.wide' : ''}`, { 'aria-labelledby': titleId });
  const close = () => { d.close(); d.remove(); back?.focus?.(); };
  const err = h('p.form-error', { role: 'alert' });
  const buttons = actions.map((a) => h(`button.btn${a.kind ? '.' + a.kind : ''}`, {
    type: a.submit ? 'submit' : 'button',
    onclick: async (e) => {
      if (a.submit) e.preventDefault();
      err.textContent = '';
      const b = e.currentTarget;
      b.disabled = true;
      try { await a.onclick?.(close); } catch (x) { err.textContent = x.message ?? String(x); } finally { b.disabled = false; }
    },
  }, a.label));
  const form = h('form', { method: 'dialog' },
    h('div.dlg-head', h('h2', { id: titleId }, title), h('span.spacer'),
      h('button.btn.ghost.small', { type: 'button', 'aria-label': 'Close', onclick: close }, '✕')),
    h('div.dlg-body', body, err),
    h('div.dlg-foot', h('button.btn', { type: 'button', onclick: close }, 'Cancel'), buttons));
  d.append(form);
  d.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  document.body.append(d);
  d.showModal();
  const first = d.querySelector('.dlg-body input, .dlg-body select, .dlg-body textarea');
  (first ?? buttons.at(-1))?.focus();
  return { el: d, close, error: err };
}

export function confirm(title, text, label = 'Delete') {
  return new Promise((resolve) => {
    const dlg = dialog(title, h('p', text), [{ label, kind: 'danger', onclick: (close) => { close(); resolve(true); } }]);
    dlg.el.addEventListener('close', () => resolve(false));
  });
}

/** A table of rows (arrays or objects) with `columns` [{key,label,render}]. */
export function table(columns, rows, { caption, rowActions } = {}) {
  const head = h('tr', columns.map((c) => h('th', { scope: 'col' }, c.label ?? c.key)), rowActions ? h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')) : null);
  const body = rows.map((r, i) => h('tr', columns.map((c) => {
    const v = c.render ? c.render(r, i) : r[c.key];
    if (v === null || v === undefined) return h('td.null', 'NULL');
    return h('td', v instanceof Node ? v : String(v));
  }), rowActions ? h('td.actions', h('div.row', rowActions(r, i))) : null));
  return h('div.grid-wrap', h('table.grid', caption ? h('caption.visually-hidden', caption) : null, h('thead', head), h('tbody', body)));
}

/** SQL quoting. */
export const ident = (s) => '"' + String(s).replace(/"/g, '""') + '"';
export const lit = (s) => (s === null || s === undefined) ? 'null' : "'" + String(s).replace(/'/g, "''") + "'";
export const qname = (schema, name) => `${ident(schema)}.${ident(name)}`;

export function randomId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** The Studio backend. */
export const api = {
  csrf: null,
  meta: null,
  async call(method, path, { body, headers = {}, raw = false } = {}) {
    const h2 = { ...headers };
    if (method !== 'GET' && method !== 'HEAD') h2['x-csrf-token'] = api.csrf ?? '';
    let payload = body;
    if (body !== undefined && !(body instanceof Blob) && !(body instanceof FormData) && typeof body !== 'string') {
      payload = JSON.stringify(body);
      h2['content-type'] ??= 'application/json';
    }
    const r = await fetch(path, { method, headers: h2, body: payload, credentials: 'same-origin' });
    if (r.status === 401 && path !== '/api/login') { window.dispatchEvent(new Event('studio:signed-out')); }
    if (raw) return r;
    const text = await r.text();
    let data = text;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!r.ok) {
      const msg = data?.message ?? data?.msg ?? data?.error_description ?? data?.error ?? (typeof data === 'string' && data) ?? r.statusText;
      const e = new Error(`${msg}`);
      e.status = r.status; e.data = data;
      throw e;
    }
    return { data, headers: r.headers, status: r.status };
  },
  /** Run SQL; returns {results, error, ms}. */
  async sql(sql, id) {
    const { data } = await api.call('POST', '/api/sql', { body: { sql, id } });
    return data;
  },
  /** Run SQL that must succeed; returns the results. */
  async exec(sql) {
    const out = await api.sql(sql);
    if (out.error) {
      const e = new Error(out.error.message + (out.error.detail ? ` (${out.error.detail})` : ''));
      e.sqlError = out.error;
      throw e;
    }
    return out.results;
  },
  /** The first column of the first row of the last result, parsed as JSON (catalog queries). */
  async json(sql) {
    const results = await api.exec(sql);
    const last = results.at(-1);
    const v = last?.rows?.[0]?.[0];
    return v ? JSON.parse(v) : null;
  },
  rest(method, path, opts) { return api.call(method, `/api/rest/${path}`, opts); },
  auth(method, path, opts) { return api.call(method, `/api/auth/${path}`, opts); },
  storage(method, path, opts) { return api.call(method, `/api/storage/${path}`, opts); },
};
