// History: every call record, filtered; a call's page with transcript, waterfall and player.
import { h, api, secs, card } from './dom.js';
import { waterfall, STAGE_NAMES, COLORS } from './charts.js';

export async function historyView(main) {
  const q = new URLSearchParams(location.search);
  const field = (name, label, type = 'text') => h('label', { class: 'cp-field' }, label, h('input', { name, type, value: q.get(name) || '' }));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter calls' },
    field('since', 'From', 'date'), field('until', 'To', 'date'), field('channel', 'Channel'),
    field('user', 'User'), field('number', 'Number'), field('disposition', 'Disposition'),
    h('button', { class: 'cp-btn primary', type: 'submit' }, 'Search'));
  const body = h('tbody');
  const count = h('p', { class: 'empty', role: 'status' });
  const table = h('table', { class: 'cp-table', id: 'history' }, h('caption', { class: 'sr-only' }, 'Call history'),
    h('thead', {}, h('tr', {}, ['Started', 'Channel', 'Caller', 'Callee', 'User', 'Outcome', 'Duration', 'Cost'].map(t => h('th', { scope: 'col' }, t)))), body);
  main.replaceChildren(h('h1', {}, 'Call history'), card('Filters', form), count, table);
  async function load() {
    const params = new URLSearchParams();
    for (const el of form.querySelectorAll('input')) if (el.value) params.set(el.name, el.value);
    history.replaceState(null, '', `/console/history${params.size ? '?' + params : ''}`);
    const data = await api(`/api/console/calls?${params}`);
    count.textContent = `${data.total} calls`;
    body.replaceChildren(...data.calls.map(c => h('tr', {},
      h('td', { 'data-label': 'Started' }, h('a', { href: `/console/calls/${encodeURIComponent(c.call_id)}` }, new Date(c.started_at).toLocaleString())),
      h('td', { 'data-label': 'Channel' }, c.channel), h('td', { 'data-label': 'Caller' }, c.caller),
      h('td', { 'data-label': 'Callee' }, c.callee), h('td', { 'data-label': 'User' }, c.user || '–'),
      h('td', { 'data-label': 'Outcome' }, c.outcome), h('td', { 'data-label': 'Duration' }, secs(c.duration_s)),
      h('td', { 'data-label': 'Cost' }, c.cost == null ? '–' : `${c.cost} ${c.currency}`))));
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  await load();
  return null;
}

function consent(detail) {
  try {
    const c = JSON.parse(detail);
    return `${c.outcome} (${c.mode}, ${c.rule}${c.record ? ', recorded' : ', not recorded'})${c.words ? `: “${c.words}”` : ''}${c.answer ? ` answer “${c.answer}”` : ''}`;
  } catch { return detail; }
}
const dl = (pairs) => h('dl', { class: 'meta-list' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '–')]));

export async function callView(main, id) {
  const d = await api(`/api/console/calls/${encodeURIComponent(id)}`);
  const c = d.call;
  const turns = d.turns;
  const transcript = h('ol', { class: 'transcript', id: 'call-transcript' }, turns.flatMap(t => [
    h('li', { class: 'caller' }, h('strong', {}, 'Caller: '), t.transcript || (t.digits ? `pressed ${t.digits}` : '…')),
    t.reply ? h('li', { class: 'agent' }, h('strong', {}, 'Agent: '), t.heard && t.interrupted ? `${t.heard} (interrupted)` : t.reply) : null]));
  const legend = h('div', { class: 'legend' }, STAGE_NAMES.map(([, name], i) => h('span', { style: `--c:${COLORS[i]}` }, name)), h('span', { style: '--c:#fff' }, 'First audio'));
  const rec = d.recording;
  const player = rec
    ? h('div', {}, h('audio', { controls: true, preload: 'metadata', src: rec.audio, id: 'player', 'aria-label': 'Call recording (caller left, agent right)' }),
      h('p', { class: 'empty' }, `Stereo: caller left, agent right. ${rec.paused_s ? `Paused for ${rec.paused_s} s (sensitive input not recorded).` : 'Never paused.'} Consent: ${rec.consent ?? '–'}`))
    : h('p', { class: 'empty', id: 'no-recording' }, 'No recording you may hear.');
  main.replaceChildren(
    h('p', {}, h('a', { href: '/console/history' }, '← History')),
    h('h1', {}, `Call ${c.caller || c.call_id}`),
    h('div', { class: 'cp-grid' },
      card('Call', dl([['Channel', c.channel], ['Direction', c.direction], ['Caller', c.caller], ['Callee', c.callee], ['User', c.user || '–'],
        ['Started', new Date(c.started_at).toLocaleString()], ['Duration', secs(c.duration_s)], ['Outcome', c.outcome], ['Hang-up cause', c.hangup_cause || '–'],
        ['Carrier', c.carrier || '–'], ['Cost', c.cost == null ? '–' : `${c.cost} ${c.currency} (${c.billable_s} s billed)`]])),
      card('Path', dl([['IVR path', d.ivr_path.join(' → ') || '–'], ['Queue', d.queue.join('; ') || '–'], ['Transfers', d.transfers.join('; ') || '–'],
        ['Consent', d.consent.map(consent).join('; ') || '–']]),
        h('h2', {}, 'Carrier attempts'),
        c.attempts.length ? h('ol', { id: 'attempts' }, c.attempts.map(a => h('li', {}, `${a.carrier}: ${a.outcome}${a.cause ? ` (${a.cause})` : ''}`))) : h('p', { class: 'empty' }, 'None (not a routed call).'))),
    card('Recording', player),
    card('Transcript', turns.length ? transcript : h('p', { class: 'empty' }, 'No turns kept.')),
    card('Latency per turn', turns.length ? [legend, waterfall(turns)] : h('p', { class: 'empty' }, 'No turns.')),
    card('Events', h('ol', {}, d.events.map(e => h('li', {}, `${new Date(e.at).toLocaleTimeString()} ${e.kind} ${e.detail}`)))));
  return null;
}
