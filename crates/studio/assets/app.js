// basalt Studio: sign-in, theme, and the hash router that mounts one page at a time.
import { api, clear, h, errorState } from './ui.js';

const pages = {
  tables: () => import('./tables.js'),
  sql: () => import('./sql.js'),
  users: () => import('./users.js'),
  storage: () => import('./storage.js'),
  database: () => import('./database.js'),
  backups: () => import('./backups.js'),
  realtime: () => import('./realtime.js'),
  advisors: () => import('./advisors.js'),
  logs: () => import('./logs.js'),
  apidocs: () => import('./apidocs.js'),
};
const titles = { tables: 'Table editor', sql: 'SQL editor', users: 'Auth users', storage: 'Storage', database: 'Database', backups: 'Backups', realtime: 'Realtime inspector', advisors: 'Advisors', logs: 'Logs', apidocs: 'API docs' };

const $ = (id) => document.getElementById(id);

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const other = theme === 'dark' ? 'light' : 'dark';
  const b = $('theme');
  b.textContent = other === 'light' ? 'Light theme' : 'Dark theme';
  b.setAttribute('aria-label', `Switch to ${other} theme`);
}

function initialTheme() {
  const saved = localStorage.getItem('studio.theme');
  if (saved) return saved;
  return matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

function showLogin() {
  $('shell').hidden = true;
  $('login').hidden = false;
  $('password').focus();
}

let current = null;
async function route() {
  const [name, ...rest] = (location.hash.replace(/^#\/?/, '') || 'tables').split('/');
  const page = pages[name] ? name : 'tables';
  document.title = `${titles[page]} · basalt Studio`;
  for (const a of document.querySelectorAll('.nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = $('main');
  const token = {};
  current = token;
  try {
    const mod = await pages[page]();
    if (current !== token) return;
    clear(main);
    await mod.render(main, rest.map(decodeURIComponent));
  } catch (e) {
    if (current === token) clear(main, h('div.page-body', errorState(e)));
  }
}

async function showApp() {
  $('login').hidden = true;
  $('shell').hidden = false;
  try { api.meta = (await api.call('GET', '/api/meta')).data; } catch { api.meta = {}; }
  await route();
}

async function start() {
  applyTheme(initialTheme());
  $('theme').addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem('studio.theme', next);
    applyTheme(next);
  });
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = $('login-error');
    err.textContent = '';
    const button = e.target.querySelector('button');
    button.disabled = true;
    try {
      const { data } = await api.call('POST', '/api/login', { body: { password: $('password').value } });
      api.csrf = data.csrf;
      $('password').value = '';
      await showApp();
    } catch (x) {
      err.textContent = x.status === 401 ? 'Wrong password.' : x.message;
      $('password').focus();
    } finally { button.disabled = false; }
  });
  $('logout').addEventListener('click', async () => {
    await api.call('POST', '/api/logout').catch(() => {});
    api.csrf = null;
    showLogin();
  });
  window.addEventListener('studio:signed-out', showLogin);
  window.addEventListener('hashchange', () => { if (api.csrf) route(); });
  const { data } = await api.call('GET', '/api/session');
  if (data?.csrf) { api.csrf = data.csrf; await showApp(); } else showLogin();
}

start();
