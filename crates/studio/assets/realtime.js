// Realtime inspector: joins a channel on basalt's realtime WebSocket (Phoenix protocol, vsn
// 1.0.0, as supabase-js speaks it) through the Studio's /api/realtime/websocket, which hands the
// upgrade to /realtime/v1/websocket in-process with the service key (the page never holds it).
// Shows broadcasts, presence and postgres_changes on the chosen table as they arrive, and sends
// broadcasts and presence.
import { api, h, clear, field, loading, errorState, toast, qname } from './ui.js';

const MAX = 200;
const HEARTBEAT_MS = 25000;

/** A Phoenix channel client, just what the inspector needs. */
class Socket {
  constructor(onMessage, onState) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.ref = 0;
    this.joinRef = null;
    this.topic = null;
    this.replies = new Map();
  }

  open() {
    const url = new URL('/api/realtime/websocket?vsn=1.0.0', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = new WebSocket(url);
    this.onState('connecting');
    return new Promise((resolve, reject) => {
      this.ws.onopen = () => {
        this.onState('connected');
        this.beat = setInterval(() => this.push('phoenix', 'heartbeat', {}), HEARTBEAT_MS);
        resolve();
      };
      this.ws.onerror = () => reject(new Error('the realtime WebSocket did not open'));
      this.ws.onclose = () => { clearInterval(this.beat); this.onState('closed'); };
      this.ws.onmessage = (e) => {
        let m;
        try { m = JSON.parse(e.data); } catch { return; }
        if (m.event === 'phx_reply' && this.replies.has(m.ref)) {
          this.replies.get(m.ref)(m.payload);
          this.replies.delete(m.ref);
        }
        // Replies (join, broadcast acks) answer the page's own pushes; the page shows them itself.
        if (m.topic === 'phoenix' || m.event === 'phx_reply') return;
        this.onMessage(m);
      };
    });
  }

  push(topic, event, payload, joinRef = this.joinRef) {
    const ref = String(++this.ref);
    this.ws?.readyState === WebSocket.OPEN && this.ws.send(JSON.stringify({ topic, event, payload, ref, join_ref: joinRef }));
    return new Promise((resolve) => this.replies.set(ref, resolve));
  }

  async join(channel, config) {
    this.topic = `realtime:${channel}`;
    this.joinRef = String(this.ref + 1);
    const reply = await this.push(this.topic, 'phx_join', { config }, this.joinRef);
    if (reply?.status !== 'ok') throw new Error(`join refused: ${JSON.stringify(reply?.response ?? reply)}`);
    return reply.response;
  }

  send(event, payload) {
    return this.push(this.topic, 'broadcast', { type: 'broadcast', event, payload });
  }

  track(payload) {
    return this.push(this.topic, 'presence', { type: 'presence', event: 'track', payload });
  }

  close() {
    clearInterval(this.beat);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      if (this.topic) this.push(this.topic, 'phx_leave', {});
      this.ws.close();
    }
  }
}

let live = null;
window.addEventListener('hashchange', () => { live?.close(); live = null; });

async function tables() {
  return (await api.json(`select json_agg(json_build_object('schema', n.nspname, 'name', c.relname,
      'published', exists (select 1 from pg_publication_tables p where p.pubname = 'supabase_realtime' and p.schemaname = n.nspname and p.tablename = c.relname))
      order by n.nspname <> 'public', n.nspname, c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname !~ '^pg_' and n.nspname not in ('information_schema', 'realtime', 'supabase_migrations', 'vault', 'net', 'cron', 'extensions', 'pgbouncer', 'supabase_functions', 'graphql', 'pgsodium')`)) ?? [];
}

function kindOf(m) {
  if (m.event === 'postgres_changes') return 'database';
  if (m.event === 'broadcast') return 'broadcast';
  if (m.event === 'presence_state' || m.event === 'presence_diff') return 'presence';
  if (m.event === 'system') return 'system';
  if (m.event === 'phx_reply' || m.event === 'phx_close' || m.event === 'phx_error') return 'channel';
  return m.event;
}

function summary(m) {
  const p = m.payload ?? {};
  if (m.event === 'postgres_changes') {
    const d = p.data ?? {};
    return `${d.type ?? d.eventType ?? ''} ${d.schema}.${d.table}`;
  }
  if (m.event === 'broadcast') return `event "${p.event}"`;
  if (m.event === 'presence_state') return `${Object.keys(p).length} present`;
  if (m.event === 'presence_diff') return `${Object.keys(p.joins ?? {}).length} joined, ${Object.keys(p.leaves ?? {}).length} left`;
  if (m.event === 'system') return p.message ?? p.status ?? '';
  if (m.event === 'phx_reply') return p.status ?? '';
  return '';
}

export async function render(main, [schema, name] = []) {
  live?.close();
  live = null;
  const body = h('div.page-body', loading('Loading tables…'));
  clear(main, h('header.page-head', h('h1', 'Realtime inspector')), body);
  let list;
  try { list = await tables(); } catch (e) { clear(body, errorState(e)); return; }

  const picked = list.find((t) => t.schema === schema && t.name === name) ?? (schema ? { schema, name, published: false } : list[0]);
  const tableSelect = h('select', { id: 'rt-table' }, h('option', { value: '' }, '(none: broadcast and presence only)'),
    list.map((t) => h('option', { value: `${t.schema}.${t.name}`, selected: picked && t.schema === picked.schema && t.name === picked.name }, `${t.schema}.${t.name}`)));
  if (!picked) tableSelect.value = '';
  const channel = h('input', { type: 'text', id: 'rt-channel', value: 'studio-inspector', autocomplete: 'off', required: true });
  const events = h('select', { id: 'rt-events' }, ['*', 'INSERT', 'UPDATE', 'DELETE'].map((e) => h('option', { value: e }, e === '*' ? 'All changes' : e)));
  const status = h('span.badge', { id: 'rt-status', role: 'status' }, 'not joined');
  const join = h('button.btn.primary', { type: 'submit' }, 'Join channel');
  const leave = h('button.btn', { type: 'button', disabled: true }, 'Leave');
  const notice = h('div');
  const log = h('ol.rt-log.plain', { 'aria-label': 'Messages received' });
  const count = h('span.muted', '0 messages');
  const presence = h('ul.plain.rt-presence', { 'aria-label': 'Present' });
  let received = 0;
  const present = new Map();

  const showNotice = () => {
    const v = tableSelect.value;
    const t = list.find((x) => `${x.schema}.${x.name}` === v);
    if (!t || t.published) { clear(notice); return; }
    const add = h('button.btn.small', { type: 'button' }, 'Add it to the publication');
    add.addEventListener('click', async () => {
      try {
        await api.exec(`alter publication supabase_realtime add table ${qname(t.schema, t.name)}`);
        t.published = true;
        toast(`${t.schema}.${t.name} publishes its changes`);
        showNotice();
      } catch (e) { toast(e.message, 'error'); }
    });
    clear(notice, h('p.state', { role: 'note' }, h('code', `${t.schema}.${t.name}`), ' is not in the ', h('code', 'supabase_realtime'), ' publication: its changes do not reach realtime. ', add));
  };
  tableSelect.addEventListener('change', () => {
    showNotice();
    const v = tableSelect.value;
    history.replaceState(null, '', v ? `#/realtime/${v.split('.').map(encodeURIComponent).join('/')}` : '#/realtime');
  });
  showNotice();

  const renderPresence = () => {
    clear(presence, present.size ? [...present].map(([key, metas]) => h('li', h('code', key), ' ', h('span.muted', JSON.stringify(metas.map(({ phx_ref, ...m }) => m))))) : h('li.muted', 'Nobody present.'));
  };
  renderPresence();

  const onMessage = (m) => {
    received += 1;
    count.textContent = `${received} message${received === 1 ? '' : 's'}`;
    const kind = kindOf(m);
    if (m.event === 'presence_state') { present.clear(); for (const [k, v] of Object.entries(m.payload ?? {})) present.set(k, v.metas ?? []); renderPresence(); }
    if (m.event === 'presence_diff') {
      for (const k of Object.keys(m.payload?.leaves ?? {})) present.delete(k);
      for (const [k, v] of Object.entries(m.payload?.joins ?? {})) present.set(k, v.metas ?? []);
      renderPresence();
    }
    const shown = m.event === 'postgres_changes' ? m.payload?.data : m.payload;
    log.prepend(h('li.card.rt-msg', { 'data-kind': kind },
      h('div.row', h(`span.badge${kind === 'database' ? '.on' : ''}`, kind), h('strong', summary(m)), h('span.spacer'), h('time.muted', new Date().toLocaleTimeString())),
      h('pre.mono', JSON.stringify(shown, null, 2))));
    while (log.children.length > MAX) log.lastChild.remove();
  };
  const setState = (s) => {
    status.textContent = s;
    status.className = `badge${s === 'joined' ? ' on' : s === 'closed' ? ' warn' : ''}`;
    if (s === 'closed') { join.disabled = false; leave.disabled = true; }
  };

  const joinForm = h('form.toolbar', { 'aria-label': 'Channel' },
    field('Channel', channel), field('Table', tableSelect), field('Changes', events),
    h('div.row', join, leave, status));
  joinForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    live?.close();
    join.disabled = true;
    const sock = new Socket(onMessage, setState);
    live = sock;
    try {
      await sock.open();
      const config = { broadcast: { self: true, ack: true }, presence: { key: 'studio' }, private: false, postgres_changes: [] };
      if (tableSelect.value) {
        const [s, t] = tableSelect.value.split(/\.(.*)/s);
        config.postgres_changes.push({ event: events.value, schema: s, table: t });
      }
      await sock.join(channel.value.trim() || 'studio-inspector', config);
      setState('joined');
      leave.disabled = false;
    } catch (x) {
      sock.close();
      setState('closed');
      toast(x.message, 'error');
    }
  });
  leave.addEventListener('click', () => { live?.close(); live = null; setState('closed'); });

  const bEvent = h('input', { type: 'text', value: 'message', autocomplete: 'off' });
  const bPayload = h('textarea', { rows: 3 }, '{"text": "hello"}');
  const sendForm = h('form', { 'aria-label': 'Send a broadcast' }, field('Event', bEvent), field('Payload (JSON)', bPayload),
    h('button.btn', { type: 'submit' }, 'Send broadcast'));
  sendForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (status.textContent !== 'joined') { toast('Join a channel first.', 'error'); return; }
    let payload;
    try { payload = JSON.parse(bPayload.value || '{}'); } catch { toast('The payload is not JSON.', 'error'); return; }
    const r = await live.send(bEvent.value.trim() || 'message', payload);
    if (r?.status === 'ok') toast('Broadcast sent'); else toast(`Broadcast refused: ${JSON.stringify(r)}`, 'error');
  });
  const pState = h('input', { type: 'text', value: '{"user": "studio"}', autocomplete: 'off' });
  const trackForm = h('form', { 'aria-label': 'Track presence' }, field('Presence state (JSON)', pState), h('button.btn', { type: 'submit' }, 'Track presence'));
  trackForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (status.textContent !== 'joined') { toast('Join a channel first.', 'error'); return; }
    let state;
    try { state = JSON.parse(pState.value || '{}'); } catch { toast('The state is not JSON.', 'error'); return; }
    await live.track(state);
  });
  const clearLog = h('button.btn.ghost.small', { type: 'button', onclick: () => { clear(log); received = 0; count.textContent = '0 messages'; } }, 'Clear');

  clear(body,
    h('p.muted', 'The page joins the channel on basalt\'s realtime WebSocket through the Studio (acting with the service key, so row level security does not filter what it sees).'),
    joinForm, notice,
    h('div.split.rt-split',
      h('section.pane-main', { 'aria-labelledby': 'rt-log-title' },
        h('div.row', h('h2.section-title', { id: 'rt-log-title' }, 'Messages'), count, h('span.spacer'), clearLog), log),
      h('aside.pane', { 'aria-label': 'Send' },
        h('h2.section-title', 'Broadcast'), sendForm,
        h('h2.section-title', 'Presence'), trackForm, presence)));
}
