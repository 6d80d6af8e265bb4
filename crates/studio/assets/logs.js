// Logs: the API requests this basalt node answered lately (status, latency, method, path,
// request id), from /api/logs, an in-memory ring buffer per node. Filter by text, status class
// and method; "Follow" polls for newer requests every two seconds.
import { api, h, clear, field, empty, errorState } from './ui.js';

const POLL_MS = 2000;
let timer = null;
window.addEventListener('hashchange', () => { clearInterval(timer); timer = null; });

const statusClass = (s) => (s >= 500 ? 'danger' : s >= 400 ? 'warn' : 'on');

export async function render(main) {
  clearInterval(timer);
  const text = h('input', { type: 'search', placeholder: 'path or request id', autocomplete: 'off' });
  const status = h('select', {}, [['', 'Any status'], ['2', '2xx'], ['3', '3xx'], ['4', '4xx'], ['5', '5xx'], ['err', '4xx and 5xx']].map(([v, l]) => h('option', { value: v }, l)));
  const method = h('select', {}, ['', 'GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'].map((m) => h('option', { value: m }, m || 'Any method')));
  const follow = h('input', { type: 'checkbox', id: 'logs-follow', checked: true });
  const refresh = h('button.btn', { type: 'button' }, 'Refresh');
  const count = h('span.muted', { role: 'status' });
  const area = h('div');
  const entries = [];
  let last = 0;
  let enabled = true;

  const matches = (e) => {
    const t = text.value.trim().toLowerCase();
    if (t && !e.path.toLowerCase().includes(t) && !e.request_id.toLowerCase().includes(t)) return false;
    if (status.value === 'err' && e.status < 400) return false;
    if (status.value && status.value !== 'err' && String(e.status)[0] !== status.value) return false;
    if (method.value && e.method !== method.value) return false;
    return true;
  };
  const draw = () => {
    if (!enabled) { clear(area, empty('Requests are not recorded on this node.')); return; }
    const shown = entries.filter(matches).reverse();
    count.textContent = `${shown.length} of ${entries.length} requests`;
    if (!shown.length) { clear(area, empty(entries.length ? 'No request matches the filter.' : 'No API requests yet.')); return; }
    const rows = shown.slice(0, 500).map((e) => h('tr',
      h('td', h('time', { datetime: new Date(e.time).toISOString() }, new Date(e.time).toLocaleTimeString())),
      h('td', h(`span.badge.${statusClass(e.status)}`, String(e.status))),
      h('td.mono', e.method),
      h('td.mono', { title: e.path }, e.path),
      h('td', `${e.ms.toFixed(1)} ms`),
      h('td.mono', e.request_id || '—')));
    clear(area, h('div.grid-wrap', h('table.grid', h('caption.visually-hidden', 'API requests'),
      h('thead', h('tr', ['Time', 'Status', 'Method', 'Path', 'Latency', 'Request id'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', rows))));
  };
  const poll = async () => {
    try {
      const { data } = await api.call('GET', `/api/logs?after=${last}`);
      enabled = data.enabled;
      for (const e of data.entries) { entries.push(e); last = e.seq; }
      if (entries.length > 2000) entries.splice(0, entries.length - 2000);
      draw();
    } catch (e) { clear(area, errorState(e)); }
  };
  const setFollow = () => {
    clearInterval(timer);
    timer = follow.checked ? setInterval(poll, POLL_MS) : null;
  };

  for (const el of [text, status, method]) el.addEventListener('input', draw);
  follow.addEventListener('change', setFollow);
  refresh.addEventListener('click', poll);
  clear(main,
    h('header.page-head', h('h1', 'Logs'), h('span.spacer'), count),
    h('div.page-body',
      h('p.muted', 'API requests this basalt node answered lately (the last 2000, kept in memory: each node has its own, and a restart empties it). Latency is the time to the response\'s headers.'),
      h('form.toolbar', { 'aria-label': 'Filter requests', onsubmit: (e) => e.preventDefault() },
        field('Search', text), field('Status', status), field('Method', method),
        h('label.check', follow, 'Follow'), refresh),
      area));
  await poll();
  setFollow();
}
