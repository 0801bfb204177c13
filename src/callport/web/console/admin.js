// Admin: users, roles, PIN reset, queue membership, API tokens; menus and routing read-only.
import { h, api, card } from './dom.js';

const ROLES = ['admin', 'agent', 'user'];

export async function adminView(main) {
  const msg = h('p', { role: 'status', id: 'admin-msg' });
  const say = (t) => { msg.textContent = t; };
  async function load() {
    const [{ users }, cfg] = await Promise.all([api('/api/console/users'), api('/api/console/config')]);
    const rows = users.map(u => {
      const pin = h('input', { id: `pin-${u.name}`, inputmode: 'numeric', autocomplete: 'off', size: 8 });
      const queues = h('input', { id: `q-${u.name}`, value: u.queues.join(', '), size: 14 });
      const roleBoxes = Object.fromEntries(ROLES.map(r => [r, h('input', { type: 'checkbox', id: `r-${r}-${u.name}`, checked: u.roles.includes(r) })]));
      return h('tr', {},
        h('td', { 'data-label': 'User' }, u.name, u.display_name ? ` (${u.display_name})` : ''),
        h('td', { 'data-label': 'Roles' }, h('fieldset', { class: 'roles', 'aria-label': `Roles of ${u.name}` },
          ROLES.map(r => h('label', { for: `r-${r}-${u.name}` }, roleBoxes[r], ` ${r}`))),
          h('button', { class: 'cp-btn', type: 'button', 'data-action': 'roles', onclick: async () => { const roles = ROLES.filter(r => roleBoxes[r].checked); try { await api(`/api/console/users/${u.name}/roles`, { roles }); say(`Roles of ${u.name}: ${roles.join(', ') || 'user'}.`); load(); } catch (e) { say(e.message); } } }, 'Save roles')),
        h('td', { 'data-label': 'PIN' }, h('label', { class: 'sr-only', for: `pin-${u.name}` }, `New PIN for ${u.name}`), pin,
          h('button', { class: 'cp-btn', type: 'button', onclick: async () => { try { await api(`/api/console/users/${u.name}/pin`, { pin: pin.value || null }); say(`PIN of ${u.name} ${pin.value ? 'reset' : 'removed'}.`); pin.value = ''; } catch (e) { say(e.message); } } }, 'Reset PIN')),
        h('td', { 'data-label': 'Queues' }, h('label', { class: 'sr-only', for: `q-${u.name}` }, `Queues of ${u.name}`), queues,
          h('button', { class: 'cp-btn', type: 'button', onclick: async () => { try { await api(`/api/console/users/${u.name}/queues`, { queues: queues.value.split(',').map(x => x.trim()).filter(Boolean) }); say(`Queues of ${u.name} saved.`); } catch (e) { say(e.message); } } }, 'Save')),
        h('td', { 'data-label': 'API tokens' },
          h('ul', {}, u.tokens.map(t => h('li', {}, `${t.id}${t.label ? ` (${t.label})` : ''} ${t.revoked ? 'revoked' : ''}`,
            t.revoked ? null : h('button', { class: 'cp-btn ghost', type: 'button', onclick: async () => { await api(`/api/console/tokens/${t.id}/revoke`, {}); say(`Token ${t.id} revoked.`); load(); } }, 'Revoke')))),
          h('button', { class: 'cp-btn', type: 'button', onclick: async () => { const r = await api(`/api/console/users/${u.name}/tokens`, { label: 'console' }); say(''); msg.append(`New token for ${u.name} (shown once): `, h('span', { class: 'secret' }, r.secret)); } }, 'New token')));
    });
    const name = h('input', { id: 'new-name', required: true, autocomplete: 'off' });
    const pw = h('input', { id: 'new-password', type: 'password', autocomplete: 'new-password' });
    const role = h('select', { id: 'new-role' }, ['user', 'agent', 'admin'].map(r => h('option', { value: r }, r)));
    const form = h('form', { class: 'filters', 'aria-label': 'Add a user' },
      h('label', { class: 'cp-field', for: 'new-name' }, 'Name', name), h('label', { class: 'cp-field', for: 'new-password' }, 'Password', pw),
      h('label', { class: 'cp-field', for: 'new-role' }, 'Role', role), h('button', { class: 'cp-btn primary', type: 'submit' }, 'Add user'));
    form.addEventListener('submit', async (e) => { e.preventDefault(); try { await api('/api/console/users', { name: name.value, password: pw.value || null, roles: [role.value] }); say(`User ${name.value} added.`); load(); } catch (err) { say(err.message); } });
    const menus = cfg.ivr ? Object.values(cfg.ivr.menus).map(m => h('li', {}, h('strong', {}, m.name), `: ${m.prompt}`,
      h('ul', {}, (m.options || []).map(o => h('li', {}, `${o.choice.name} → ${describe(o.action)}`))))) : [h('li', { class: 'empty' }, 'No IVR menus loaded (server.ivr).')];
    const carriers = cfg.routing.carriers.length ? cfg.routing.carriers.map(c => h('li', {}, `${c.name}`)) : [h('li', { class: 'empty' }, 'No carriers routed ([routing]).')];
    main.replaceChildren(h('h1', {}, 'Admin'), msg,
      card('Users', h('table', { class: 'cp-table', id: 'users' }, h('thead', {}, h('tr', {}, ['User', 'Roles', 'PIN', 'Queues', 'API tokens'].map(t => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)), h('h2', {}, 'Add a user'), form),
      h('div', { class: 'cp-grid' }, card('IVR menus (read-only)', h('ul', { id: 'menus' }, menus)),
        card('Routing (read-only)', h('ul', {}, carriers), h('p', {}, `Pins: ${cfg.routing.routes.join(', ') || '–'} · max attempts ${cfg.routing.max_attempts}`)),
        card('Queues (read-only)', h('ul', {}, cfg.queues.named.map(q => h('li', {}, `${q.name}: ${q.strategy}`))))));
  }
  function describe(a) { if (!a) return '–'; const { kind, ...rest } = a; return `${kind.replace(/Action$/, '')} ${Object.values(rest).join(' ')}`.trim(); }
  await load();
  return null;
}
