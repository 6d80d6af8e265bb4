// Storage: buckets (create, public or private, delete), a folder browser, upload, download and
// delete, through /storage/v1 with the service key.
import { api, h, clear, field, loading, empty, errorState, toast, dialog, confirm } from './ui.js';

const st = { bucket: null, prefix: '' };
const enc = (path) => path.split('/').map(encodeURIComponent).join('/');
const size = (n) => (n == null ? '' : n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);

export async function render(main, [bucket, ...path]) {
  st.bucket = bucket ?? null;
  st.prefix = path.length ? path.join('/') + '/' : '';
  const list = h('ul.list', { 'aria-label': 'Buckets' });
  const content = h('div.pane-main', { id: 'storage-content' });
  clear(main,
    h('header.page-head', h('h1', 'Storage'), h('span.spacer'),
      h('button.btn.primary', { type: 'button', onclick: () => bucketDialog() }, '+ New bucket')),
    h('div.split', h('nav.pane', { 'aria-label': 'Buckets' }, h('h2.section-title', 'Buckets'), list), content));
  clear(list, h('li', loading()));
  let buckets;
  try { buckets = (await api.storage('GET', 'bucket')).data; } catch (e) { clear(list, h('li', errorState(e))); return; }
  clear(list, buckets.length ? buckets.map((b) => h('li', h('a', { href: `#/storage/${encodeURIComponent(b.id)}`, 'aria-current': b.id === st.bucket ? 'true' : null },
    h('span', { 'aria-hidden': 'true' }, '▤'), b.name, b.public ? h('span.badge.on', 'public') : null))) : h('li.muted', 'No buckets yet.'));
  const b = buckets.find((x) => x.id === st.bucket);
  if (!b) { clear(content, empty(buckets.length ? 'Pick a bucket on the left.' : 'Create a bucket to store files.', h('button.btn.primary', { type: 'button', onclick: () => bucketDialog() }, 'Create a bucket'))); return; }
  await browse(content, b);
}

function go(path) { location.hash = `#/storage/${encodeURIComponent(st.bucket)}${path ? '/' + path.replace(/\/$/, '').split('/').map(encodeURIComponent).join('/') : ''}`; }

async function browse(content, b) {
  const fileInput = h('input', { type: 'file', id: 'upload-input', multiple: true, class: 'visually-hidden', onchange: (e) => upload(content, b, e.target.files) });
  const crumbs = [h('button', { type: 'button', onclick: () => go('') }, b.name)];
  let acc = '';
  for (const part of st.prefix.split('/').filter(Boolean)) {
    acc += part + '/';
    const to = acc;
    crumbs.push(h('span', { 'aria-hidden': 'true' }, '/'), h('button', { type: 'button', onclick: () => go(to) }, part));
  }
  const area = h('div');
  clear(content,
    h('div.row', h('nav.crumbs', { 'aria-label': 'Folder' }, crumbs),
      h('span.badge' + (b.public ? '.on' : ''), b.public ? 'public bucket' : 'private bucket'), h('span.spacer'),
      h('button.btn.small', { type: 'button', onclick: () => folderDialog() }, '+ Folder'),
      h('label.btn.primary.small', { for: 'upload-input' }, 'Upload files'), fileInput,
      h('button.btn.small', { type: 'button', onclick: () => togglePublic(b) }, b.public ? 'Make private' : 'Make public'),
      h('button.btn.danger.small', { type: 'button', onclick: () => deleteBucket(b) }, 'Delete bucket')),
    h('div.mt', area));
  clear(area, loading('Loading files…'));
  let items;
  try {
    items = (await api.storage('POST', `object/list/${encodeURIComponent(b.id)}`, { body: { prefix: st.prefix, limit: 1000, offset: 0, sortBy: { column: 'name', order: 'asc' } } })).data;
  } catch (e) { clear(area, errorState(e)); return; }
  items = items.filter((i) => i.name !== '.emptyFolderPlaceholder');
  if (!items.length) { clear(area, empty('This folder is empty. Upload a file to start.')); return; }
  const rows = items.map((i) => {
    const folder = i.id === null;
    const path = st.prefix + i.name;
    return h('tr',
      h('td', folder ? h('button.btn.ghost.small', { type: 'button', onclick: () => go(path + '/') }, `📁 ${i.name}`) : i.name),
      h('td', folder ? 'folder' : i.metadata?.mimetype ?? ''),
      h('td', folder ? '' : size(i.metadata?.size)),
      h('td', i.updated_at ? new Date(i.updated_at).toLocaleString() : ''),
      h('td.actions', folder ? '' : h('div.row',
        h('a.btn.small', { href: `/api/storage/object/${encodeURIComponent(b.id)}/${enc(path)}`, download: i.name, 'aria-label': `Download ${i.name}` }, 'Download'),
        h('button.btn.danger.small', { type: 'button', 'aria-label': `Delete ${i.name}`, onclick: async () => {
          if (!await confirm('Delete file', `Delete ${path}?`, 'Delete file')) return;
          try { await api.storage('DELETE', `object/${encodeURIComponent(b.id)}`, { body: { prefixes: [path] } }); toast('File deleted'); go(st.prefix); window.dispatchEvent(new HashChangeEvent('hashchange')); } catch (e) { toast(e.message, 'error'); }
        } }, 'Delete'))));
  });
  clear(area, h('div.grid-wrap', h('table.grid', h('caption.visually-hidden', 'Files'),
    h('thead', h('tr', ['Name', 'Type', 'Size', 'Updated'].map((x) => h('th', { scope: 'col' }, x)), h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')))),
    h('tbody', rows))));
}

function refresh() { window.dispatchEvent(new HashChangeEvent('hashchange')); }

async function upload(content, b, files) {
  for (const f of files) {
    try {
      await api.storage('POST', `object/${encodeURIComponent(b.id)}/${enc(st.prefix + f.name)}`, { body: f, headers: { 'content-type': f.type || 'application/octet-stream', 'x-upsert': 'true' } });
      toast(`Uploaded ${f.name}`);
    } catch (e) { toast(`${f.name}: ${e.message}`, 'error'); }
  }
  refresh();
}

function folderDialog() {
  const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
  dialog('New folder', field('Folder name', name), [{ label: 'Create folder', kind: 'primary', submit: true, onclick: async (close) => {
    const n = name.value.trim().replace(/\//g, '');
    if (!n) throw new Error('Give the folder a name.');
    await api.storage('POST', `object/${encodeURIComponent(st.bucket)}/${enc(st.prefix + n + '/.emptyFolderPlaceholder')}`, { body: new Blob([]), headers: { 'content-type': 'application/octet-stream' } });
    close(); go(st.prefix + n + '/');
  } }]);
}

function bucketDialog() {
  const name = h('input', { type: 'text', required: true, autocomplete: 'off', pattern: '[a-z0-9._-]+' });
  const pub = h('input', { type: 'checkbox' });
  dialog('Create a bucket', h('div', field('Name', name, 'Lower-case letters, digits, dots, dashes and underscores'),
    h('div.field', h('label.check', pub, 'Public bucket (anyone can read its files by URL)'))), [{
    label: 'Create bucket', kind: 'primary', submit: true, onclick: async (close) => {
      const n = name.value.trim();
      await api.storage('POST', 'bucket', { body: { id: n, name: n, public: pub.checked } });
      close(); toast(`Bucket ${n} created`); location.hash = `#/storage/${encodeURIComponent(n)}`;
    } }]);
}

async function togglePublic(b) {
  try { await api.storage('PUT', `bucket/${encodeURIComponent(b.id)}`, { body: { public: !b.public } }); toast(b.public ? 'Bucket is private' : 'Bucket is public'); refresh(); } catch (e) { toast(e.message, 'error'); }
}

async function deleteBucket(b) {
  if (!await confirm('Delete bucket', `Delete the bucket ${b.name} and every file in it?`, 'Delete bucket')) return;
  try {
    await api.storage('POST', `bucket/${encodeURIComponent(b.id)}/empty`);
    await api.storage('DELETE', `bucket/${encodeURIComponent(b.id)}`);
    toast('Bucket deleted');
    location.hash = '#/storage';
  } catch (e) { toast(e.message, 'error'); }
}
