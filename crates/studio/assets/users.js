// Auth users: list with search and paging, create, invite, ban and delete, through
// /auth/v1/admin with the service key.
import { api, h, clear, field, loading, empty, errorState, toast, dialog, confirm } from './ui.js';

const PER_PAGE = 25;
const st = { page: 1, filter: '' };

const fmt = (t) => (t ? new Date(t).toLocaleString() : '—');
const banned = (u) => u.banned_until && new Date(u.banned_until) > new Date();

export async function render(main) {
  const area = h('div', { id: 'users-area' });
  const search = h('input', { type: 'search', id: 'user-search', placeholder: 'Search by email', value: st.filter });
  clear(main,
    h('header.page-head', h('h1', 'Auth users'), h('span.spacer'),
      h('button.btn', { type: 'button', onclick: () => inviteDialog(area) }, 'Invite user'),
      h('button.btn.primary', { type: 'button', onclick: () => createDialog(area) }, '+ Create user')),
    h('div.page-body',
      h('form.toolbar', { role: 'search', onsubmit: (e) => { e.preventDefault(); st.filter = search.value.trim(); st.page = 1; load(area); } },
        h('label.visually-hidden', { for: 'user-search' }, 'Search users'), search, h('button.btn', { type: 'submit' }, 'Search')),
      area));
  await load(area);
}

async function load(area) {
  clear(area, loading('Loading users…'));
  let users, total;
  try {
    const q = new URLSearchParams({ page: String(st.page), per_page: String(PER_PAGE) });
    if (st.filter) q.set('filter', st.filter);
    const r = await api.auth('GET', `admin/users?${q}`);
    users = r.data.users;
    total = Number(r.headers.get('x-total-count') ?? users.length);
  } catch (e) { clear(area, errorState(e)); return; }
  if (!users.length) {
    clear(area, empty(st.filter ? `No user matches “${st.filter}”.` : 'No users yet.', st.filter ? null : h('button.btn.primary', { type: 'button', onclick: () => createDialog(area) }, 'Create a user')));
    return;
  }
  const rows = users.map((u) => h('tr',
    h('td', u.email ?? u.phone ?? '—'),
    h('td.mono', u.id),
    h('td', (u.app_metadata?.providers ?? [u.app_metadata?.provider ?? 'email']).join(', ')),
    h('td', fmt(u.created_at)),
    h('td', fmt(u.last_sign_in_at)),
    h('td', banned(u) ? h('span.badge.danger', 'banned') : u.email_confirmed_at || u.phone_confirmed_at ? h('span.badge.on', 'confirmed') : h('span.badge.warn', 'waiting for confirmation')),
    h('td.actions', h('div.row',
      h('button.btn.small', { type: 'button', 'aria-label': `${banned(u) ? 'Unban' : 'Ban'} ${u.email}`, onclick: () => ban(area, u) }, banned(u) ? 'Unban' : 'Ban'),
      h('button.btn.danger.small', { type: 'button', 'aria-label': `Delete ${u.email}`, onclick: async () => {
        if (!await confirm('Delete user', `Delete ${u.email ?? u.id}? Their sessions end and the account is removed.`, 'Delete user')) return;
        try { await api.auth('DELETE', `admin/users/${u.id}`); toast('User deleted'); load(area); } catch (e) { toast(e.message, 'error'); }
      } }, 'Delete')))));
  const pages = Math.max(1, Math.ceil(total / PER_PAGE));
  clear(area,
    h('div.grid-wrap', h('table.grid', h('caption.visually-hidden', 'Users'),
      h('thead', h('tr', ['Email', 'ID', 'Providers', 'Created', 'Last sign in', 'Status'].map((x) => h('th', { scope: 'col' }, x)), h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')))),
      h('tbody', rows))),
    h('nav.pager', { 'aria-label': 'Pages' }, h('span', `${total} user${total === 1 ? '' : 's'} · page ${st.page} of ${pages}`), h('span.spacer'),
      h('button.btn.small', { type: 'button', disabled: st.page <= 1, onclick: () => { st.page--; load(area); } }, '← Previous'),
      h('button.btn.small', { type: 'button', disabled: st.page >= pages, onclick: () => { st.page++; load(area); } }, 'Next →')));
}

async function ban(area, u) {
  try {
    await api.auth('PUT', `admin/users/${u.id}`, { body: { ban_duration: banned(u) ? 'none' : '876000h' } });
    toast(banned(u) ? 'User unbanned' : 'User banned');
    load(area);
  } catch (e) { toast(e.message, 'error'); }
}

function createDialog(area) {
  const email = h('input', { type: 'email', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', required: true, autocomplete: 'new-password' });
  const confirmBox = h('input', { type: 'checkbox', checked: true });
  dialog('Create a user', h('div', field('Email', email), field('Password', password, 'At least 6 characters'),
    h('div.field', h('label.check', confirmBox, 'Auto-confirm the email address'))), [{
    label: 'Create user', kind: 'primary', submit: true, onclick: async (close) => {
      await api.auth('POST', 'admin/users', { body: { email: email.value.trim(), password: password.value, email_confirm: confirmBox.checked } });
      close(); toast(`User ${email.value.trim()} created`); load(area);
    } }]);
}

function inviteDialog(area) {
  const email = h('input', { type: 'email', required: true, autocomplete: 'off' });
  dialog('Invite a user', h('div', field('Email', email, 'They get an email with a link to set their password.')), [{
    label: 'Send invite', kind: 'primary', submit: true, onclick: async (close) => {
      await api.auth('POST', 'invite', { body: { email: email.value.trim() } });
      close(); toast(`Invite sent to ${email.value.trim()}`); load(area);
    } }]);
}
