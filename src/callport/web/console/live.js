// Live: calls in progress, pushed over Server-Sent Events (/api/console/events).
import { h, api, config, secs, card } from './dom.js';
import { listen, listening, setWhisper, stopListening } from './listen.js';

const STATES = { listening: 'agent: listening', thinking: 'agent: thinking', speaking: 'agent: speaking', agent: 'agent', queue: 'in queue', bridged: 'bridged to a person', hold: 'on hold', ivr: 'IVR menu' };

export async function liveView(main) {
  const calls = new Map();  // call_id -> {info, lines: [{who, text, partial}], el}
  const list = h('div', { class: 'cp-grid', id: 'live-calls' });
  const status = h('span', { class: 'cp-pill warn', id: 'live-status', role: 'status' }, 'connecting');
  const empty = h('p', { class: 'empty', id: 'live-empty' }, 'No calls in progress.');
  main.replaceChildren(h('div', { class: 'actions' }, h('h1', {}, 'Live calls'), status), empty, list);
  const started = new Map();

  function render(c) {
    const info = c.info;
    const dur = h('span', { class: 'dur' }, secs((Date.now() - started.get(info.call_id)) / 1000));
    const tr = h('ol', { class: 'transcript', 'aria-label': 'Live transcript', 'aria-live': 'polite' },
      c.lines.map(l => h('li', { class: `${l.who}${l.partial ? ' partial' : ''}` }, l.text)));
    const acts = [];
    if (config.admin) {
      const target = h('input', { id: `t-${info.call_id}`, placeholder: '+15551234567 or sip:…', autocomplete: 'off' });
      const msg = h('span', { class: 'msg', role: 'status' });
      acts.push(h('div', { class: 'actions' },
        h('button', { class: 'cp-btn danger', type: 'button', 'data-action': 'hangup', onclick: async () => {
          try { await api(`/api/console/calls/${encodeURIComponent(info.call_id)}/hangup`, {}); msg.textContent = 'hanging up…'; } catch (e) { msg.textContent = e.message; }
        } }, 'Hang up'),
        h('label', { class: 'cp-field', for: `t-${info.call_id}` }, 'Transfer to', target),
        h('button', { class: 'cp-btn', type: 'button', onclick: async () => {
          try { await api(`/api/console/calls/${encodeURIComponent(info.call_id)}/transfer`, { target: target.value }); msg.textContent = 'transferred'; } catch (e) { msg.textContent = e.message; }
        } }, 'Transfer'), msg));
      if (config.listen && (info.state === 'bridged' || listening(info.call_id))) acts.push(supervise(c, msg));
    }
    const el = h('article', { class: 'cp-card live-call', 'data-call': info.call_id, 'aria-label': `Call from ${info.caller || 'unknown'}` },
      h('div', { class: 'actions' }, h('strong', {}, info.caller || info.call_id), h('span', { class: 'cp-pill ok state' }, STATES[info.state] || info.state), dur),
      h('div', { class: 'meta' }, h('span', {}, `channel ${info.channel}`), h('span', {}, `user ${info.user || '–'}`),
        info.agent ? h('span', {}, `agent ${info.agent}`) : null, info.detail ? h('span', {}, info.detail) : null,
        info.node ? h('span', { class: 'node' }, `node ${info.node}`) : null,
        h('a', { href: `/console/calls/${encodeURIComponent(info.call_id)}` }, 'details')),
      tr, acts);
    if (c.el) c.el.replaceWith(el); else list.append(el);
    c.el = el; tr.scrollTop = tr.scrollHeight;
    empty.hidden = calls.size > 0;
  }
  function supervise(c, msg) {
    const id = c.info.call_id;
    const on = listening(id);
    const listenBtn = h('button', { class: 'cp-btn', type: 'button', 'data-action': 'listen', 'aria-pressed': on ? 'true' : 'false', onclick: async () => {
      try {
        if (listening(id)) await stopListening(id);
        else { msg.textContent = 'connecting…'; await listen(id, () => render(c)); msg.textContent = 'listening'; }
      } catch (e) { msg.textContent = e.message; }
      render(c);
    } }, on ? 'Stop listening' : 'Listen');
    const whisperBtn = h('button', { class: 'cp-btn', type: 'button', 'data-action': 'whisper', disabled: !on, 'aria-pressed': on?.whisper ? 'true' : 'false',
      title: 'Speak to the agent only; the caller does not hear you', onclick: async () => {
        try { await setWhisper(id, !listening(id)?.whisper); msg.textContent = listening(id)?.whisper ? 'whispering to the agent' : 'listening'; } catch (e) { msg.textContent = e.message; }
        render(c);
      } }, on?.whisper ? 'Stop whisper' : 'Whisper');
    return h('div', { class: 'actions', 'aria-label': 'Supervise' }, listenBtn, whisperBtn);
  }
  function snapshot(data) {
    const ids = new Set(data.calls.map(c => c.call_id));
    for (const [id, c] of calls) if (!ids.has(id)) { c.el?.remove(); calls.delete(id); }
    for (const info of data.calls) {
      if (!started.has(info.call_id)) started.set(info.call_id, Date.now() - (info.duration_s || 0) * 1000);
      let c = calls.get(info.call_id);
      if (!c) {
        c = { info, lines: [] };
        for (const t of info.transcript) { c.lines.push({ who: 'caller', text: t.text }); if (t.reply) c.lines.push({ who: 'agent', text: t.reply }); }
        calls.set(info.call_id, c);
      }
      c.info = info; render(c);
    }
    empty.hidden = calls.size > 0;
  }
  function event(ev) {
    const c = calls.get(ev.call_id);
    if (ev.type === 'CallEnded') { if (c) { c.el?.remove(); calls.delete(ev.call_id); } empty.hidden = calls.size > 0; return; }
    if (!c) return;
    if (ev.type === 'TurnHeard') {
      const last = c.lines[c.lines.length - 1];
      if (last && last.partial) c.lines.pop();
      c.lines.push({ who: 'caller', text: ev.text, partial: ev.partial });
    } else if (ev.type === 'TurnSaid') c.lines.push({ who: 'agent', text: ev.text });
    else if (ev.type === 'StateChanged') {  // the agent's own state; queue/IVR/hold come in snapshots
      if (['agent', 'listening', 'thinking', 'speaking'].includes(c.info.state)) c.info.state = ev.state;
      if (ev.user) c.info.user = ev.user;
    }
    else return;
    render(c);
  }
  const source = new EventSource('/api/console/events');
  source.addEventListener('open', () => { status.textContent = 'live'; status.className = 'cp-pill ok'; });
  source.addEventListener('error', () => { status.textContent = 'reconnecting'; status.className = 'cp-pill warn'; });
  source.addEventListener('snapshot', (e) => snapshot(JSON.parse(e.data)));
  source.addEventListener('call', (e) => event(JSON.parse(e.data)));
  const tick = setInterval(() => { for (const c of calls.values()) { const d = c.el?.querySelector('.dur'); if (d) d.textContent = secs((Date.now() - started.get(c.info.call_id)) / 1000); } }, 1000);
  return () => { source.close(); clearInterval(tick); };
}
