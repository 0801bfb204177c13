// The operator console: one page, five views, no build step (ES modules, SVG charts).
import { h, api, config, secs, card } from './dom.js';
import { liveView } from './live.js';
import { historyView, callView } from './history.js';
import { queuesView, qualityView } from './stats.js';
import { adminView } from './admin.js';

const main = document.getElementById('main');
document.getElementById('who').textContent = `${config.user.display_name} (${config.user.roles.join(', ')})`;
document.getElementById('logout').addEventListener('click', async () => {
  await fetch(config.logout, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  location.href = '/login';
});
for (const a of document.querySelectorAll('[data-admin]')) if (!config.admin) a.remove();

let stop = null;
async function route() {
  if (stop) { stop(); stop = null; }
  const path = location.pathname.replace(/\/+$/, '');
  const view = path.startsWith('/console/calls/') ? 'history' : (path.split('/')[2] || 'live');
  for (const a of document.querySelectorAll('.cp-nav a')) a.toggleAttribute('aria-current', a.dataset.view === view) || a.removeAttribute('aria-current');
  document.querySelector(`.cp-nav a[data-view="${view}"]`)?.setAttribute('aria-current', 'page');
  main.replaceChildren(h('p', { class: 'empty' }, 'Loading…'));
  try {
    if (path.startsWith('/console/calls/')) stop = await callView(main, decodeURIComponent(path.split('/')[3]));
    else if (view === 'history') stop = await historyView(main);
    else if (view === 'queues') stop = await queuesView(main);
    else if (view === 'quality') stop = await qualityView(main);
    else if (view === 'admin') stop = await adminView(main);
    else stop = await liveView(main);
  } catch (e) {
    main.replaceChildren(card('Error', h('p', { class: 'error', role: 'alert' }, e.message)));
  }
  document.title = `${view[0].toUpperCase()}${view.slice(1)} · Console`;
}
export function go(href) { history.pushState(null, '', href); route(); }
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href^="/console"]');
  if (!a || e.metaKey || e.ctrlKey) return;
  e.preventDefault(); go(a.getAttribute('href'));
});
window.addEventListener('popstate', route);
route();
