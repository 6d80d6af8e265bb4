// Backups: the pgBackRest repository's backups (label, type, size, times) and the project's
// branches, from /api/backups; "Take backup now" runs a full backup through the same API.
import { api, h, clear, loading, empty, errorState, toast, table } from './ui.js';

const when = (unix) => (unix ? new Date(unix * 1000).toLocaleString() : '—');
function size(bytes) {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}
const seconds = (b) => `${Math.max(0, b.stopped - b.started)} s`;

export async function render(main) {
  const area = h('div', { id: 'backups-area' });
  const take = h('button.btn.primary', { type: 'button', id: 'take-backup' }, 'Take backup now');
  take.addEventListener('click', async () => {
    take.disabled = true;
    take.textContent = 'Taking backup…';
    try {
      const { data } = await api.call('POST', '/api/backups');
      toast(`Backup ${data.label} taken`);
      await load(area, take);
    } catch (e) { toast(e.message, 'error'); } finally {
      take.textContent = 'Take backup now';
      take.disabled = !area.dataset.enabled;
    }
  });
  clear(main,
    h('header.page-head', h('h1', 'Backups'), h('span.spacer'), take),
    h('div.page-body', area));
  await load(area, take);
}

async function load(area, take) {
  clear(area, loading('Loading backups…'));
  let d;
  try { d = (await api.call('GET', '/api/backups')).data; } catch (e) { clear(area, errorState(e)); return; }
  take.disabled = !d.enabled;
  if (d.enabled) area.dataset.enabled = '1'; else delete area.dataset.enabled;
  const intro = d.enabled
    ? h('p.muted', 'Full backups and continuous WAL archiving with pgBackRest into ', h('code', d.repository), '. Restore with ', h('code', 'basalt db restore'), ' while basalt is stopped.')
    : h('p.muted', d.available
      ? ['Backups are off: set ', h('code', '[basalt.backup] enabled = true'), ' in supabase/config.toml and restart basalt.']
      : 'Backups are served by basalt start on its embedded database only.');
  const backups = d.backups.length
    ? table([
      { key: 'label', label: 'Label', render: (b) => h('span.mono', b.label) },
      { key: 'kind', label: 'Type' },
      { key: 'size', label: 'Database size', render: (b) => size(b.size) },
      { key: 'repo_size', label: 'In repository', render: (b) => size(b.repo_size) },
      { key: 'started', label: 'Started', render: (b) => when(b.started) },
      { key: 'stopped', label: 'Finished', render: (b) => when(b.stopped) },
      { key: 'took', label: 'Took', render: seconds },
      { key: 'wal', label: 'WAL', render: (b) => h('span.mono', `${b.wal_start} … ${b.wal_stop}`) },
    ], d.backups, { caption: 'Backups' })
    : empty(d.enabled ? 'No backups yet.' : 'No backups.');
  const branches = d.branches.length
    ? table([
      { key: 'name', label: 'Branch', render: (b) => h('span.mono', b.name) },
      { key: 'size', label: 'Size', render: (b) => size(b.size) },
      { key: 'running', label: 'State', render: (b) => (b.running ? h('span.badge.on', 'served') : h('span.badge', 'stopped')) },
    ], d.branches, { caption: 'Branches' })
    : empty('No branches: basalt db branch create NAME makes one.');
  clear(area, intro,
    h('section', { 'aria-labelledby': 'backups-title' }, h('h2.section-title', { id: 'backups-title' }, `Backups (${d.backups.length})`), backups),
    h('section', { 'aria-labelledby': 'branches-title' }, h('h2.section-title', { id: 'branches-title' }, `Branches (${d.branches.length})`), branches));
}
